//! The UTF-8 rules the transform follows, byte by byte: which bytes start a character and how
//! long it is, which may follow, decoding a character, and how much of an input's end is the
//! start of a character still to come (and is held).

/// The most bytes a [`Transform`](super::Transform) holds back between calls: the start of a UTF-8 character
/// whose remaining bytes have not arrived yet (a character is at most 4 bytes).
pub const MAX_CARRY: usize = 3;

/// If `bytes` starts with a valid multi-byte character: its scalar value and length.
pub(super) fn decode_at(bytes: &[u8]) -> Option<(u32, usize)> {
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
pub(super) fn sequence_len(lead: u8) -> usize {
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
pub(super) fn second_ok(lead: u8, b: u8) -> bool {
    match lead {
        0xE0 => (0xA0..=0xBF).contains(&b),
        0xED => (0x80..=0x9F).contains(&b),
        0xF0 => (0x90..=0xBF).contains(&b),
        0xF4 => (0x80..=0x8F).contains(&b),
        _ => is_continuation(b),
    }
}

/// Whether `b` is a continuation byte (0b10xx_xxxx), which never starts a character.
pub(super) fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// Whether `byte` can follow `prefix`, a valid prefix of a multi-byte character.
pub(super) fn continues(prefix: &[u8], byte: u8) -> bool {
    match prefix {
        [lead] => second_ok(*lead, byte),
        _ => is_continuation(byte),
    }
}

/// How many bytes at the end of `input` are the start of a valid character whose remaining
/// bytes have not arrived (0 to [`MAX_CARRY`]), to be held rather than answered as invalid.
pub(super) fn cut_len(input: &[u8]) -> usize {
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
