//! The streaming transform: bytes in, answer bytes out, independent of how the input was split.
//!
//! # How upper mode runs at memory speed in every script
//!
//! The rules are simple: every valid character becomes `char::to_uppercase` of it, every
//! other byte passes unchanged, and a character cut by the end of a read is held (at most
//! [`MAX_CARRY`] bytes) until the rest arrives. The work is arranged so that bytes that do not
//! change cost as little as a copy:
//!
//! - Pure-ASCII input (`is_ascii`) is uppercased in one vectorised pass.
//! - Other input is cut into windows (64 bytes, doubling to 4 KiB) that no character crosses.
//!   Each window is first copied to the output with [`u8::to_ascii_uppercase`] on every byte,
//!   one vectorised pass that is already the whole answer for ASCII, for invalid bytes and
//!   for every character that does not change (CJK, digits, symbols, capitals, emoji...):
//!   `to_ascii_uppercase` leaves bytes >= 0x80 alone.
//! - Then only characters that may change are looked at. Per block of 64 bytes, a bit trick on
//!   64-bit words marks the lead bytes (>= 0xC0) followed by a continuation byte, and the loop
//!   visits just those: a two-byte character is looked up directly in a 2,048-entry table
//!   (which holds the bytes to write, its uppercase or itself); a longer one is skipped
//!   without decoding when nothing that starts with its lead byte changes (every CJK
//!   ideograph, Hangul syllable, emoji), else validated, decoded and looked up in a two-level
//!   table. An uppercase of the same length overwrites the character in place (most of Latin,
//!   Greek, Cyrillic, Armenian, Georgian, Cherokee, Deseret...). The others (ß -> SS, ﬁ -> FI,
//!   ı -> I, ΐ -> Ϊ́) are listed and spliced in once the window is scanned: in place when the
//!   answer never runs ahead of the input (ı -> I), else through a copy.
//! - No separate UTF-8 validation pass: invalid bytes are already answered by the copy, and a
//!   character is validated (lead, range of its second byte, continuation bytes) only when it
//!   is about to be overwritten. Skipping a lead byte without validating what follows is
//!   sound: whatever follows is answered unchanged either way, and a continuation byte never
//!   starts a character.
//! - Inputs of at most 16 bytes, and a held character, go byte by byte through a small state
//!   machine ([`Transform::push`] of one byte costs a few nanoseconds).
//!
//! The tables are generated at build time by `build.rs`, by asking `char::to_uppercase` (of
//! the compiler's own standard library) about every scalar value, so they cannot disagree with
//! it; a test checks the transform against it for all 1,112,064 scalar values. They take
//! [`table_bytes`] bytes (about 22 KiB), read-only and shared by every connection: the two-byte
//! table (4 KiB), the two-level table (one byte per block of 64 scalar values up to the last
//! that changes, U+1E943 in Unicode 17: 2 KiB; 4 bytes per value of the 63 blocks where
//! something changes, plus an all-zero block: 16 KiB) and the uppercase of the characters whose
//! uppercase has another length (under 0.5 KiB).
//!
//! This file holds the streaming state machine ([`Transform`]); the bulk paths (windows, the
//! block scan, the splicing) are in `bulk`, the tables and their lookups in `tables`, and the
//! UTF-8 rules both follow in `utf8`.

mod bulk;
mod tables;
mod utf8;

use std::fmt;
use std::str::FromStr;

use bulk::{push_ascii_upper, upper_body};
pub use tables::table_bytes;
use tables::{two_bytes, upper_char};
pub use utf8::MAX_CARRY;
use utf8::{continues, cut_len, is_continuation, sequence_len};

/// The most output bytes one input byte can produce in [`Mode::Upper`].
///
/// Uppercasing can lengthen text (`ß` -> `SS`, `ΐ` -> `Ϊ́`, 2 bytes -> 6 bytes); a test walks
/// every `char` to prove that no character grows by more than this factor. Buffers sized with
/// it never need to grow.
pub const MAX_EXPANSION: usize = 3;

/// What the server does to the bytes it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Mode {
    /// Uppercase valid UTF-8 with full Unicode rules; other bytes pass unchanged.
    #[default]
    Upper,
    /// Send every byte back unchanged.
    Echo,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Upper => "upper",
            Mode::Echo => "echo",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "upper" => Ok(Mode::Upper),
            "echo" => Ok(Mode::Echo),
            other => Err(format!("unknown mode '{other}' (expected upper or echo)")),
        }
    }
}

/// A streaming transform of one byte stream (one connection, one direction).
///
/// Feed it reads with [`push`](Transform::push) and call [`finish`](Transform::finish) when the
/// stream ends. For any input and any way of splitting it, the concatenated output equals
/// [`transform_all`] of the whole input.
#[derive(Debug, Clone)]
pub struct Transform {
    mode: Mode,
    /// The start of a character cut by the end of the previous read: a valid prefix of a
    /// multi-byte character, `carry_len` <= 3 bytes between calls.
    carry: [u8; 4],
    carry_len: usize,
}

impl Transform {
    /// A transform at the start of a stream.
    pub fn new(mode: Mode) -> Self {
        Transform {
            mode,
            carry: [0; 4],
            carry_len: 0,
        }
    }

    /// The mode this transform applies.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How many bytes are held back waiting for the rest of a character (0 to [`MAX_CARRY`]).
    pub fn held(&self) -> usize {
        self.carry_len
    }

    /// The bytes held back (the start of a character cut by the end of the last input): with
    /// the mode, all the state a stream's transform carries, so it can be handed on and
    /// resumed elsewhere by a new transform that is [`push`](Transform::push)ed these bytes.
    pub fn carried(&self) -> &[u8] {
        &self.carry[..self.carry_len]
    }

    /// The most bytes that [`push`](Transform::push) of `input_len` bytes (plus what is held)
    /// or [`finish`](Transform::finish) can append.
    pub const fn max_output(input_len: usize) -> usize {
        (input_len + MAX_CARRY) * MAX_EXPANSION
    }

    /// Transforms `input`, the next bytes of the stream, appending the answer to `out`.
    ///
    /// Everything is answered except the start of a character cut off at the end of `input`,
    /// which is held until the next call.
    #[inline]
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match *input {
            _ if self.mode == Mode::Echo => out.extend_from_slice(input),
            // ASCII, or a byte that cannot start a character (unchanged), with nothing held:
            // the most common single byte, answered here.
            [byte] if self.carry_len == 0 && sequence_len(byte) == 0 => {
                out.push(byte.to_ascii_uppercase())
            }
            [byte] => self.step(byte, out),
            _ => self.push_many(input, out),
        }
    }

    /// Ends the stream: bytes still held (an incomplete character) go out unchanged.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.carry[..self.carry_len]);
        self.carry_len = 0;
    }

    /// Takes one byte: the streaming rules, one byte at a time. Used for short inputs, where
    /// it costs least, and to resolve a held character before the bulk path takes over.
    #[inline(never)]
    fn step(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.carry_len == 0 {
            self.start(byte, out);
        } else if let ([lead @ 0xC2..=0xDF], true) =
            (&self.carry[..self.carry_len], is_continuation(byte))
        {
            // The end of a two-byte character, the common case, by itself for speed.
            match two_bytes(*lead, byte) {
                [0, _] => {
                    self.carry[1] = byte;
                    self.carry_len = 2;
                    self.release_char(out);
                }
                e => {
                    out.extend_from_slice(&e);
                    self.carry_len = 0;
                }
            }
        } else if continues(&self.carry[..self.carry_len], byte) {
            // `carry_len` < 4 here (a character is at most 4 bytes); `& 3` says so.
            self.carry[self.carry_len & 3] = byte;
            self.carry_len += 1;
            if self.carry_len == sequence_len(self.carry[0]) {
                self.release_char(out);
            }
        } else {
            self.break_carry(byte, out);
        }
    }

    /// [`step`](Transform::step) when `byte` cannot continue the held prefix: the prefix is
    /// invalid and passes unchanged, and `byte` is looked at afresh, exactly as a whole-input
    /// decoder resumes after an invalid sequence.
    #[cold]
    #[inline(never)]
    fn break_carry(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.finish(out);
        self.start(byte, out);
    }

    /// [`step`](Transform::step) when nothing is held.
    #[inline]
    fn start(&mut self, byte: u8, out: &mut Vec<u8>) {
        if sequence_len(byte) == 0 {
            // ASCII, or a byte that cannot start a character (unchanged).
            out.push(byte.to_ascii_uppercase());
        } else {
            self.carry[0] = byte;
            self.carry_len = 1;
        }
    }

    /// Appends the uppercase of the held bytes, a complete character, and holds nothing.
    #[inline(never)]
    fn release_char(&mut self, out: &mut Vec<u8>) {
        let ch = &self.carry[..self.carry_len];
        // Fixed-size copies: a call to `memcpy` would cost more than the rest.
        match *upper_char(ch).unwrap_or(ch) {
            [a, b] => out.extend_from_slice(&[a, b]),
            [a, b, c] => out.extend_from_slice(&[a, b, c]),
            [a, b, c, d] => out.extend_from_slice(&[a, b, c, d]),
            ref bytes => out.extend_from_slice(bytes),
        }
        self.carry_len = 0;
    }

    /// [`push`](Transform::push) of anything but one byte.
    #[inline(never)]
    fn push_many(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.len() <= SHORT_INPUT {
            for &byte in input {
                self.step(byte, out);
            }
        } else {
            self.push_long(input, out);
        }
    }

    /// Transforms an input longer than [`SHORT_INPUT`] with the bulk paths.
    fn push_long(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        // First resolve a held character: a few bytes (more only if the input starts with a
        // run of lead bytes, each breaking the previous one).
        while self.carry_len > 0 {
            let Some((&byte, rest)) = input.split_first() else {
                return;
            };
            self.step(byte, out);
            input = rest;
        }
        if input.is_ascii() {
            push_ascii_upper(input, out);
            return;
        }
        let (body, cut) = input.split_at(input.len() - cut_len(input));
        upper_body(body, out);
        self.carry[..cut.len()].copy_from_slice(cut);
        self.carry_len = cut.len();
    }
}

/// The answer to a whole stream at once: what a [`Transform`] produces for any split of it.
pub fn transform_all(mode: Mode, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut t = Transform::new(mode);
    t.push(input, &mut out);
    t.finish(&mut out);
    out
}

/// Inputs up to this long are answered byte by byte ([`Transform::step`]): less work than
/// setting up the bulk paths.
const SHORT_INPUT: usize = 16;

#[cfg(test)]
mod tests {
    use super::bulk::RESIZED_MAX;
    use super::*;
    use proptest::prelude::*;

    fn upper(s: &[u8]) -> Vec<u8> {
        transform_all(Mode::Upper, s)
    }

    /// The rules, stated plainly (the transform before the fast paths): each valid character
    /// through `char::to_uppercase`, each invalid sequence unchanged.
    fn reference(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in input.utf8_chunks() {
            out.extend(
                chunk
                    .valid()
                    .chars()
                    .flat_map(char::to_uppercase)
                    .collect::<String>()
                    .bytes(),
            );
            out.extend_from_slice(chunk.invalid());
        }
        out
    }

    /// Feeds `input` split at the given cut points and returns the streamed output.
    fn streamed(mode: Mode, input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut t = Transform::new(mode);
        let mut out = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            t.push(&input[start..cut], &mut out);
            assert!(t.held() <= MAX_CARRY);
            start = cut;
        }
        t.finish(&mut out);
        out
    }

    /// Full Unicode uppercasing, including characters that grow.
    #[test]
    fn unicode_rules() {
        assert_eq!(upper(b"hello"), b"HELLO");
        assert_eq!(upper("straße".as_bytes()), "STRASSE".as_bytes());
        assert_eq!(upper("ǆ".as_bytes()), "Ǆ".as_bytes());
        assert_eq!(upper("ﬁ".as_bytes()), "FI".as_bytes());
        assert_eq!(
            upper("héllo wörld ß".as_bytes()),
            "HÉLLO WÖRLD SS".as_bytes()
        );
        assert_eq!(
            upper("\u{390}".as_bytes()),
            "\u{399}\u{308}\u{301}".as_bytes()
        );
        assert_eq!(upper("日本 😀 x".as_bytes()), "日本 😀 X".as_bytes());
    }

    /// Invalid UTF-8 passes through unchanged, never replaced or dropped.
    #[test]
    fn invalid_bytes_pass_unchanged() {
        assert_eq!(upper(b"a\xffb"), b"A\xffB");
        assert_eq!(upper(b"\x80abc\xc3"), b"\x80ABC\xc3");
        assert_eq!(upper(b"\xf0\x9f\x41"), b"\xf0\x9fA");
        assert_eq!(upper(b"\xed\xa0\x80z"), b"\xed\xa0\x80Z"); // a surrogate: invalid
        assert_eq!(
            upper(b"\xc3\xa9\xc3"),
            "É".bytes().chain([0xc3]).collect::<Vec<_>>()
        );
    }

    /// Echo mode answers every byte unchanged.
    #[test]
    fn echo_is_identity() {
        let input = b"mixed \xff bytes \xc3\xa9";
        assert_eq!(transform_all(Mode::Echo, input), input);
        assert_eq!(streamed(Mode::Echo, input, &[3, 14]), input);
    }

    /// A character fed one byte at a time is held (never more than 3 bytes) and answered whole.
    #[test]
    fn character_one_byte_at_a_time() {
        let mut t = Transform::new(Mode::Upper);
        let mut out = Vec::new();
        for (i, b) in "ß😀".bytes().enumerate() {
            t.push(&[b], &mut out);
            if i == 0 || (2..5).contains(&i) {
                assert!(t.held() > 0, "byte {i} should be held");
            }
        }
        assert_eq!(t.held(), 0);
        assert_eq!(out, "SS😀".as_bytes());
    }

    /// Bytes still held when the stream ends go out unchanged.
    #[test]
    fn finish_releases_held_bytes() {
        let mut t = Transform::new(Mode::Upper);
        let mut out = Vec::new();
        t.push(b"ab\xe2\x82", &mut out);
        assert_eq!(out, b"AB");
        assert_eq!(t.held(), 2);
        t.finish(&mut out);
        assert_eq!(out, b"AB\xe2\x82");
    }

    /// No character grows by more than MAX_EXPANSION when uppercased.
    #[test]
    fn expansion_bound_holds_for_every_char() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let grown: usize = c.to_uppercase().map(char::len_utf8).sum();
            assert!(
                grown <= c.len_utf8() * MAX_EXPANSION,
                "{c:?} grows to {grown}"
            );
        }
        assert!(Transform::max_output(1) >= MAX_EXPANSION * (1 + MAX_CARRY));
    }

    /// Mode names round-trip.
    #[test]
    fn mode_parses() {
        assert_eq!("upper".parse::<Mode>(), Ok(Mode::Upper));
        assert_eq!("echo".parse::<Mode>(), Ok(Mode::Echo));
        assert!("shout".parse::<Mode>().is_err());
        assert_eq!(Mode::Echo.to_string(), "echo");
    }

    /// Every Unicode scalar value, alone, fed one byte at a time, and all of them in a row
    /// (fed whole and in chunks of 1 to 7 bytes), is answered exactly as `char::to_uppercase`.
    #[test]
    fn every_scalar_value_matches_std() {
        let chars: Vec<char> = (0..=0x10_FFFF).filter_map(char::from_u32).collect();
        assert_eq!(chars.len(), 1_112_064);
        let mut all = Vec::new();
        let mut expected = Vec::new();
        let mut t = Transform::new(Mode::Upper);
        let mut out = Vec::new();
        let mut buf = [0u8; 4];
        for &c in &chars {
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            let want: String = c.to_uppercase().collect();
            out.clear();
            t.push(bytes, &mut out);
            assert_eq!(t.held(), 0);
            assert_eq!(out, want.as_bytes(), "{c:?} (U+{:04X})", c as u32);
            out.clear();
            for b in bytes {
                t.push(std::slice::from_ref(b), &mut out);
            }
            assert_eq!(
                out,
                want.as_bytes(),
                "{c:?} (U+{:04X}) byte by byte",
                c as u32
            );
            all.extend_from_slice(bytes);
            expected.extend_from_slice(want.as_bytes());
        }
        assert_eq!(upper(&all), expected);
        out.clear();
        for (i, chunk) in all.chunks(7).enumerate() {
            // 7-byte chunks, each cut once more at its (i % 7)th byte.
            let (a, b) = chunk.split_at((i % 7).min(chunk.len()));
            t.push(a, &mut out);
            t.push(b, &mut out);
        }
        t.finish(&mut out);
        assert!(out == expected, "all scalar values in a row, chunked");
    }

    /// Bytes that start a character whose uppercase is in the tables are exactly `LEADS`, and
    /// no byte that never starts a valid character (C0, C1, F5..FF) is among them: the two-byte
    /// fast path relies on it.
    #[test]
    fn leads_are_exact() {
        let mut leads = 0u64;
        for c in (0x80..=0x10_FFFF).filter_map(char::from_u32) {
            if c.to_uppercase().ne([c]) {
                leads |= 1 << (c.to_string().as_bytes()[0] - 0xC0);
            }
        }
        assert_eq!(leads, tables::LEADS);
        assert_eq!(tables::LEADS & 0b11, 0);
        assert_eq!(tables::LEADS >> (0xF5 - 0xC0), 0);
        assert!(table_bytes() < 32 * 1024, "{} bytes", table_bytes());
    }

    /// Characters at every offset from the start of a stream, across the 64-byte blocks of
    /// the scan and the windows (64 bytes doubling to 4 KiB, back to 64 after a character that
    /// changes length), whole and cut at every byte near them.
    #[test]
    fn characters_at_every_offset() {
        let pieces: [&[u8]; 14] = [
            "é".as_bytes(),
            "я".as_bytes(),
            "ß".as_bytes(),
            "ΐ".as_bytes(),
            "ﬁ".as_bytes(),
            "ı".as_bytes(),
            "ⓐ".as_bytes(),
            "𐐨".as_bytes(),
            "日".as_bytes(),
            "\u{ffff}".as_bytes(),
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\xed\xa0\x80",
            b"\xc3\xff",
        ];
        // Window ends are at 64, 192, 448, 960, 1984, 4032, 8128, 12224... bytes.
        let mut offsets: Vec<usize> = (0..200).collect();
        for end in [448, 960, 1984, 4032, 8128, 12224] {
            offsets.extend(end - 5..end + 5);
        }
        for piece in pieces {
            for &k in &offsets {
                let mut input = vec![b'a'; k];
                input.extend_from_slice(piece);
                input.extend_from_slice(b"z");
                input.extend_from_slice(piece);
                let want = reference(&input);
                assert_eq!(upper(&input), want, "{piece:?} after {k} bytes");
                for cut in k.saturating_sub(1)..(k + 2 * piece.len() + 2).min(input.len()) {
                    assert_eq!(
                        streamed(Mode::Upper, &input, &[cut]),
                        want,
                        "{piece:?} after {k} cut at {cut}"
                    );
                }
            }
        }
    }

    /// Runs of characters whose uppercase has another length, more than a window takes at
    /// once, after every short prefix and cut anywhere.
    #[test]
    fn many_characters_that_change_length() {
        let unit = "ıﬁaßſé ΐ".as_bytes();
        for k in 0..70 {
            let mut input = vec![b'a'; k];
            for _ in 0..(3 * RESIZED_MAX) {
                input.extend_from_slice(unit);
            }
            let want = reference(&input);
            assert_eq!(upper(&input), want, "after {k} bytes");
            let cuts: Vec<usize> = (0..input.len()).step_by(97 + k).collect();
            assert_eq!(
                streamed(Mode::Upper, &input, &cuts),
                want,
                "after {k} bytes, cut"
            );
        }
    }

    /// Bytes that are mostly multi-byte characters and invalid sequences, where cuts matter.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            any::<char>().prop_map(|c| c.to_string().into_bytes()),
            prop::sample::select(vec!["ß", "ǆ", "ﬁ", "ΐ", "😀", "é", "a", "\n"])
                .prop_map(|s| s.as_bytes().to_vec()),
            // Starts of characters and stray continuation bytes.
            prop::sample::select(vec![0xc3u8, 0xe2, 0xf0, 0x80, 0xbf, 0xff, 0xed, 0x9f])
                .prop_map(|b| vec![b]),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    /// Bytes that stress the fast paths' edges: ASCII runs of lengths that end near the scan's
    /// 64-byte blocks and the windows, characters at the edges of the table's blocks of 64
    /// scalar values and of the table itself, characters whose uppercase changes length, and
    /// broken sequences.
    fn edge_bytes() -> impl Strategy<Value = Vec<u8>> {
        let edge_char = prop_oneof![
            // The first and last values of table blocks, in every encoded length.
            (0x2u32..0x800, prop::bool::ANY)
                .prop_map(|(block, last)| block * 64 + if last { 63 } else { 0 }),
            (tables::LIMIT - 70..tables::LIMIT + 70),
            prop::sample::select(vec![
                0xDF, 0x130, 0x131, 0x149, 0x17F, 0x1F0, 0x345, 0x390, 0x1E96, 0xFB00, 0xFB06,
                0x1F80, 0x2C65
            ]),
        ]
        .prop_filter_map("a scalar value", char::from_u32)
        .prop_map(|c| c.to_string().into_bytes());
        let piece = prop_oneof![
            edge_char,
            (0usize..140).prop_map(|n| vec![b'q'; n]),
            prop::sample::select(vec![
                60usize, 63, 64, 65, 127, 128, 191, 192, 193, 447, 448, 4031, 4032, 4095, 4096,
                4097
            ])
            .prop_map(|n| vec![b'x'; n]),
            prop::sample::select(vec![
                &b"\xe2\x82"[..],
                b"\xf0\x9f",
                b"\xf0\x9f\x98",
                b"\xc3",
                b"\x80",
                b"\xff",
                b"\xed\xa0\x80",
                b"\xf4\x90\x80\x80",
                b"\xc0\xaf"
            ])
            .prop_map(<[u8]>::to_vec),
        ];
        prop::collection::vec(piece, 0..30).prop_map(|v| v.concat())
    }

    proptest! {
        /// For any input and any chunking, streaming output equals whole-input output.
        #[test]
        fn chunking_never_changes_the_answer(
            input in prop_oneof![tricky_bytes(), prop::collection::vec(any::<u8>(), 0..200)],
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let whole = upper(&input);
            prop_assert_eq!(streamed(Mode::Upper, &input, &cuts), whole.clone());
            prop_assert!(whole.len() <= Transform::max_output(input.len()));
        }

        /// At the fast paths' edges too, any chunking gives the rules' answer.
        #[test]
        fn edges_match_the_rules(
            input in edge_bytes(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let want = reference(&input);
            prop_assert_eq!(upper(&input), want.clone());
            prop_assert_eq!(streamed(Mode::Upper, &input, &cuts), want);
        }

        /// Any bytes, whole, are answered as the rules say.
        #[test]
        fn any_bytes_match_the_rules(input in prop::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(upper(&input), reference(&input));
        }

        /// Valid UTF-8 is answered exactly as Rust's own `to_uppercase`.
        #[test]
        fn valid_text_matches_std(s in any::<String>(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
            prop_assert_eq!(streamed(Mode::Upper, s.as_bytes(), &cuts), s.to_uppercase().into_bytes());
        }

        /// Invalid bytes are never lost: every byte that is not part of a valid character comes
        /// out unchanged, in order.
        #[test]
        fn invalid_bytes_survive(input in prop::collection::vec(any::<u8>(), 0..200)) {
            let out = upper(&input);
            let invalid_in: Vec<u8> = input.utf8_chunks().flat_map(|c| c.invalid().to_vec()).collect();
            let invalid_out: Vec<u8> = out.utf8_chunks().flat_map(|c| c.invalid().to_vec()).collect();
            prop_assert_eq!(invalid_in, invalid_out);
        }
    }
}
