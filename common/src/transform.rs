//! The streaming transform: bytes in, answer bytes out, independent of how the input was split.

use std::fmt;
use std::str::FromStr;

/// The most bytes a [`Transform`] holds back between calls: the start of a UTF-8 character
/// whose remaining bytes have not arrived yet (a character is at most 4 bytes).
pub const MAX_CARRY: usize = 3;

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
    /// The start of a character cut by the end of the previous read (`carry_len` <= 3 between
    /// calls; the fourth slot takes the byte that completes or breaks it).
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

    /// The most bytes that [`push`](Transform::push) of `input_len` bytes (plus what is held)
    /// or [`finish`](Transform::finish) can append.
    pub const fn max_output(input_len: usize) -> usize {
        (input_len + MAX_CARRY) * MAX_EXPANSION
    }

    /// Transforms `input`, the next bytes of the stream, appending the answer to `out`.
    ///
    /// Everything is answered except the start of a character cut off at the end of `input`,
    /// which is held until the next call.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.mode == Mode::Echo {
            out.extend_from_slice(input);
            return;
        }
        // Complete (or break) a character held from the previous read, one byte at a time:
        // at most 3 bytes, so the cost does not matter.
        while self.carry_len > 0 {
            let Some((&byte, rest)) = input.split_first() else {
                return;
            };
            self.carry[self.carry_len] = byte;
            self.carry_len += 1;
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(ch) => {
                    upper_str(ch, out);
                    self.carry_len = 0;
                    input = rest;
                }
                // Still a valid prefix of a character: keep waiting.
                Err(e) if e.error_len().is_none() => input = rest,
                Err(_) => {
                    // `byte` cannot continue the held prefix: the prefix is invalid and passes
                    // unchanged, and `byte` is looked at afresh below, exactly as a whole-input
                    // decoder resumes after an invalid sequence.
                    out.extend_from_slice(&self.carry[..self.carry_len - 1]);
                    self.carry_len = 0;
                }
            }
        }
        if input.is_ascii() {
            push_ascii_upper(input, out);
            return;
        }
        let mut chunks = input.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            upper_str(chunk.valid(), out);
            let invalid = chunk.invalid();
            if chunks.peek().is_none() && is_cut_character(invalid) {
                self.carry[..invalid.len()].copy_from_slice(invalid);
                self.carry_len = invalid.len();
            } else {
                out.extend_from_slice(invalid);
            }
        }
    }

    /// Ends the stream: bytes still held (an incomplete character) go out unchanged.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.carry[..self.carry_len]);
        self.carry_len = 0;
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

/// Whether `bytes` (the end of a read) is the start of a valid character whose remaining bytes
/// have not arrived, rather than an invalid sequence.
fn is_cut_character(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_CARRY
        && std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none())
}

/// Appends `s` uppercased, copying runs of ASCII in bulk.
fn upper_str(s: &str, out: &mut Vec<u8>) {
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        push_ascii_upper(&rest.as_bytes()[..ascii], out);
        let mut chars = rest[ascii..].chars();
        if let Some(c) = chars.next() {
            let mut buf = [0u8; 4];
            for u in c.to_uppercase() {
                out.extend_from_slice(u.encode_utf8(&mut buf).as_bytes());
            }
        }
        rest = chars.as_str();
    }
}

fn push_ascii_upper(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend(bytes.iter().map(u8::to_ascii_uppercase));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn upper(s: &[u8]) -> Vec<u8> {
        transform_all(Mode::Upper, s)
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
