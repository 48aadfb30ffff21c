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

/// The memory the uppercase tables take (read-only, shared by every transform), in bytes.
pub const fn table_bytes() -> usize {
    std::mem::size_of_val(&tables::BLOCK_OF)
        + std::mem::size_of_val(&tables::ENTRIES)
        + std::mem::size_of_val(&tables::SPECIAL)
        + std::mem::size_of_val(&tables::TWO_BYTES)
}

/// The uppercase tables generated by `build.rs` from `char::to_uppercase`.
mod tables {
    include!(concat!(env!("OUT_DIR"), "/upper_tables.rs"));
}

/// Inputs up to this long are answered byte by byte ([`Transform::step`]): less work than
/// setting up the bulk paths.
const SHORT_INPUT: usize = 16;

/// The first window of a body, and the next window after one that listed [`RESIZED_MAX`]
/// characters that change length (the rest of that one is done again).
const MIN_WINDOW: usize = 64;
/// The largest window: small enough to stay in the L1 cache while it is scanned, and to bound
/// the work done again after a window that listed [`RESIZED_MAX`] characters.
const MAX_WINDOW: usize = 4096;

/// Appends `bytes` with ASCII letters uppercased: other bytes (>= 0x80) are unchanged.
fn push_ascii_upper(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend(bytes.iter().map(u8::to_ascii_uppercase));
}

/// Appends `body` (which does not end inside a valid character) uppercased.
fn upper_body(body: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    let mut window = MIN_WINDOW;
    let mut resized = Resized::default();
    while start < body.len() {
        // End the window where no character can cross: before a byte that is not a
        // continuation byte, or after 3 continuation bytes (a character has at most 3).
        let mut end = (start + window).min(body.len());
        for _ in 0..MAX_CARRY {
            if body.get(end).is_some_and(|&b| is_continuation(b)) {
                end += 1;
            }
        }
        let len = end - start;
        let base = out.len();
        push_ascii_upper(&body[start..end], out);
        // Zeros after the window (a zero byte starts and continues nothing), so that the scan
        // reads whole blocks.
        out.extend_from_slice(&[0; BLOCK_READ]);
        let done = patch(&mut out[base..], len, &mut resized);
        out.truncate(base + len);
        let chars = resized.chars.get(..resized.count).unwrap_or_default();
        if let [(first, ..), ..] = *chars {
            // Characters whose uppercase has another length: put their uppercase in.
            out.truncate(base + done);
            let mut ahead = 0isize;
            let never_ahead = chars.iter().all(|&(_, len, upper)| {
                ahead += upper.len() as isize - len as isize;
                ahead <= 0
            });
            if never_ahead {
                // The answer is never longer than the input so far (ı -> I, ﬁ -> FI, ...):
                // write it in place, left to right, over bytes already read.
                let mut to = base + first;
                let mut from = base + first;
                for &(at, len, upper) in chars {
                    move_down(out, from..base + at, to);
                    to += base + at - from;
                    for (slot, &b) in out[to..].iter_mut().zip(upper) {
                        *slot = b; // A loop: `memcpy` costs more for these few bytes.
                    }
                    to += upper.len();
                    from = base + at + len;
                }
                move_down(out, from..base + done, to);
                out.truncate(to + (base + done - from));
            } else {
                // After the window, the answer from the first of them on; then move it down
                // over the rest of the window.
                let mut from = base + first;
                for &(at, len, upper) in chars {
                    out.extend_from_within(from..base + at);
                    out.extend_from_slice(upper);
                    from = base + at + len;
                }
                out.extend_from_within(from..base + done);
                out.drain(base + first..base + done);
            }
        }
        window = if resized.count == RESIZED_MAX {
            MIN_WINDOW
        } else {
            (window * 2).min(MAX_WINDOW)
        };
        resized.count = 0;
        start += done;
    }
}

/// Copies `bytes[from]` to `to` (<= `from.start`), which may overlap: a byte loop for the
/// short runs between characters that change length, where a call to `memmove` would cost
/// more.
fn move_down(bytes: &mut [u8], from: std::ops::Range<usize>, to: usize) {
    if from.len() <= 16 {
        for (i, j) in from.zip(to..) {
            bytes[j] = bytes[i];
        }
    } else {
        bytes.copy_within(from, to);
    }
}

/// The most characters that change length taken in one window.
const RESIZED_MAX: usize = 64;

/// Characters of a window whose uppercase has another length: (position, length, uppercase).
struct Resized {
    chars: [(usize, usize, &'static [u8]); RESIZED_MAX],
    count: usize,
}

impl Default for Resized {
    fn default() -> Self {
        Resized {
            chars: [(0, 0, &[]); RESIZED_MAX],
            count: 0,
        }
    }
}

/// Bytes the scan reads for each block of 64: the block and what a character starting in it
/// may take after it.
const BLOCK_READ: usize = 64 + 3;

/// Uppercases in place the multi-byte characters of `window[..len]` (bytes whose ASCII
/// letters are already uppercased; after them, [`BLOCK_READ`] zeros) whose uppercase
/// differs and has the same length, and lists in `resized` those whose uppercase has another
/// length.
///
/// Returns how much of the window is done: all of it, or up to the end of the character that
/// filled `resized`.
fn patch(window: &mut [u8], len: usize, resized: &mut Resized) -> usize {
    for at in (0..len).step_by(64) {
        let Some(block) = window
            .get_mut(at..)
            .and_then(<[u8]>::first_chunk_mut::<BLOCK_READ>)
        else {
            break; // Never: the zeros after the window complete the last block.
        };
        let mut starts = starts_mask(block);
        while starts != 0 {
            let i = (starts.trailing_zeros() & 63) as usize;
            starts &= starts - 1;
            let lead = block[i];
            if lead < 0xE0 {
                // The common case, by itself for speed: two bytes. The mask saw a continuation
                // byte after the lead, so this is a valid character or an overlong form (lead
                // C0 or C1), which `TWO_BYTES` leaves unchanged.
                let e = two_bytes(lead, block[i + 1]);
                if e[0] != 0 {
                    block[i] = e[0];
                    block[i + 1] = e[1];
                    continue;
                }
            } else if tables::LEADS >> (lead - 0xC0) & 1 == 0 {
                continue;
            } else if lead < 0xF0 {
                // Three bytes, by itself too.
                let (b1, b2) = (block[i + 1], block[i + 2]);
                if !(second_ok(lead, b1) && is_continuation(b2)) {
                    continue;
                }
                let low = |b: u8| u32::from(b & 0x3F);
                let e = entry(u32::from(lead & 0x0F) << 12 | low(b1) << 6 | low(b2));
                match e[0] {
                    0 => continue,
                    0xC0..=0xFF => {
                        block[i..i + 3].copy_from_slice(&e[..3]);
                        continue;
                    }
                    _ => {}
                }
            }
            let Some((cp, n)) = decode_at(&block[i..]) else {
                continue;
            };
            let Some(upper) = replacement(cp, n) else {
                continue;
            };
            // Fixed-size copies: a call to `memcpy` per character would cost more than the rest.
            match (n, upper) {
                (2, &[a, b]) => block[i..i + 2].copy_from_slice(&[a, b]),
                (3, &[a, b, c]) => block[i..i + 3].copy_from_slice(&[a, b, c]),
                (4, &[a, b, c, d]) => block[i..i + 4].copy_from_slice(&[a, b, c, d]),
                _ => {
                    resized.chars[resized.count] = (at + i, n, upper);
                    resized.count += 1;
                    if resized.count == RESIZED_MAX {
                        return at + i + n;
                    }
                }
            }
        }
    }
    len
}

/// Which of the first 64 of `bytes` may start a multi-byte character: bit `i` is set when
/// byte `i` is >= 0xC0 and byte `i + 1` is a continuation byte (0x80..=0xBF).
fn starts_mask(bytes: &[u8; BLOCK_READ]) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| {
        let bytes = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>);
        u64::from_le_bytes(bytes.copied().unwrap_or_default())
    };
    let mut mask = 0;
    for k in 0..8 {
        let this = word(8 * k);
        let next = word(8 * k + 1);
        // `x << 1` moves each byte's bit 6 to its bit 7: `x & x << 1` has bit 7 set for bytes
        // 0b11xx_xxxx, `x & !(x << 1)` for bytes 0b10xx_xxxx.
        let starts = this & (this << 1) & next & !(next << 1) & HIGH;
        // Gather the 8 flags (bit 0 of each byte after the shift) into the top byte.
        let packed = (starts >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= packed << (8 * k);
    }
    mask
}

/// What to write for the two-byte sequence `b0 b1` (a valid character, or an overlong form):
/// `[0, 0]` when its uppercase has another length or is more than one character.
fn two_bytes(b0: u8, b1: u8) -> [u8; 2] {
    *two_bytes_entry(b0, b1)
}

/// [`two_bytes`], as a reference into the table.
fn two_bytes_entry(b0: u8, b1: u8) -> &'static [u8; 2] {
    &tables::TWO_BYTES[usize::from(b0 & 0x1F) << 6 | usize::from(b1 & 0x3F)]
}

/// The uppercase of `ch`, a valid multi-byte character, when it differs from `ch`.
fn upper_char(ch: &[u8]) -> Option<&'static [u8]> {
    let lead = *ch.first()?;
    if tables::LEADS >> (lead.wrapping_sub(0xC0) & 63) & 1 == 0 {
        return None;
    }
    if let [b0, b1] = *ch {
        let e = two_bytes_entry(b0, b1);
        if e[0] != 0 {
            return Some(e);
        }
    }
    decode_at(ch).and_then(|(cp, len)| replacement(cp, len))
}

/// The uppercase of the valid `len`-byte character `cp`: `None` if it is the character
/// itself (in a block where nothing changes; elsewhere it may be `Some` of the character's own
/// bytes).
fn replacement(cp: u32, len: usize) -> Option<&'static [u8]> {
    let e = entry(cp);
    match e[0] {
        0 => None,
        0xC0..=0xFF => e.get(..len),
        _ => Some(special(e)),
    }
}

/// The table entry of scalar value `cp` (see build.rs): `[0, ..]` if nothing in its block of
/// 64 changes; its uppercase's bytes if that is one character of the same length, itself
/// included (first byte >= 0xC0); else where its uppercase is in `SPECIAL` (see
/// [`special`]).
fn entry(cp: u32) -> &'static [u8; 4] {
    const UNCHANGED: &[u8; 4] = &[0; 4];
    if cp >= tables::LIMIT {
        return UNCHANGED;
    }
    let block = usize::from(
        tables::BLOCK_OF
            .get((cp >> 6) as usize)
            .copied()
            .unwrap_or(0),
    );
    tables::ENTRIES
        .get(block << 6 | (cp & 63) as usize)
        .unwrap_or(UNCHANGED)
}

/// The uppercase of a character whose [`entry`] is `e`, a special entry (first byte below
/// 0xC0, the length; then the offset in `SPECIAL`).
fn special(e: &'static [u8; 4]) -> &'static [u8] {
    let offset = usize::from(u16::from_le_bytes([e[1], e[2]]));
    tables::SPECIAL
        .get(offset..offset + usize::from(e[0]))
        .unwrap_or_default()
}

/// If `bytes` starts with a valid multi-byte character: its scalar value and length.
fn decode_at(bytes: &[u8]) -> Option<(u32, usize)> {
    let low = |b: u8| u32::from(b & 0x3F);
    match *bytes {
        [b0 @ 0xC2..=0xDF, b1, ..] if is_continuation(b1) => {
            Some((u32::from(b0 & 0x1F) << 6 | low(b1), 2))
        }
        [b0 @ 0xE0..=0xEF, b1, b2, ..] if second_ok(b0, b1) && is_continuation(b2) => {
            Some((u32::from(b0 & 0x0F) << 12 | low(b1) << 6 | low(b2), 3))
        }
        [b0 @ 0xF0..=0xF4, b1, b2, b3, ..]
            if second_ok(b0, b1) && is_continuation(b2) && is_continuation(b3) =>
        {
            Some((
                u32::from(b0 & 0x07) << 18 | low(b1) << 12 | low(b2) << 6 | low(b3),
                4,
            ))
        }
        _ => None,
    }
}

/// The length of the character that `lead` starts: 2 to 4, or 0 if it starts no multi-byte
/// character (ASCII, a continuation byte, or a byte that never appears in UTF-8).
fn sequence_len(lead: u8) -> usize {
    /// [`sequence_len`] of every byte.
    static LEN: [u8; 256] = {
        let mut len = [0; 256];
        let mut b = 0xC2;
        while b <= 0xF4 {
            len[b] = if b < 0xE0 {
                2
            } else if b < 0xF0 {
                3
            } else {
                4
            };
            b += 1;
        }
        len
    };
    usize::from(LEN[usize::from(lead)])
}

/// Whether `b` can be the second byte of a character starting with `lead`: a continuation
/// byte, narrower after E0, ED, F0 and F4 (no overlong forms, surrogates, or values past
/// U+10FFFF).
fn second_ok(lead: u8, b: u8) -> bool {
    match lead {
        0xE0 => (0xA0..=0xBF).contains(&b),
        0xED => (0x80..=0x9F).contains(&b),
        0xF0 => (0x90..=0xBF).contains(&b),
        0xF4 => (0x80..=0x8F).contains(&b),
        _ => is_continuation(b),
    }
}

/// Whether `b` is a continuation byte (0b10xx_xxxx), which never starts a character.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Whether `byte` can follow `prefix`, a valid prefix of a multi-byte character.
fn continues(prefix: &[u8], byte: u8) -> bool {
    match prefix {
        [lead] => second_ok(*lead, byte),
        _ => is_continuation(byte),
    }
}

/// How many bytes at the end of `input` are the start of a valid character whose remaining
/// bytes have not arrived (0 to [`MAX_CARRY`]), to be held rather than answered as invalid.
fn cut_len(input: &[u8]) -> usize {
    for back in 1..=MAX_CARRY.min(input.len()) {
        let tail = &input[input.len() - back..];
        if is_continuation(tail[0]) {
            continue;
        }
        let len = sequence_len(tail[0]);
        let valid = len > back
            && tail
                .windows(2)
                .enumerate()
                .all(|(i, w)| continues(&tail[..=i], w[1]));
        return if valid { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
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
