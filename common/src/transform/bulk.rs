//! The bulk paths of the transform, for inputs longer than a few bytes: an all-ASCII input
//! in one pass; any other cut into windows that no character crosses, each copied with its
//! ASCII letters uppercased, then scanned 64 bytes at a time for the characters that may
//! change, which are overwritten in place or, when their uppercase has another length, listed
//! and spliced in once the window is scanned.

use super::tables::{self, entry, replacement, two_bytes};
use super::utf8::{decode_at, is_continuation, second_ok, MAX_CARRY};

/// The first window of a body, and the next window after one that listed [`RESIZED_MAX`]
/// characters that change length (the rest of that one is done again).
const MIN_WINDOW: usize = 64;
/// The largest window: small enough to stay in the L1 cache while it is scanned, and to bound
/// the work done again after a window that listed [`RESIZED_MAX`] characters.
const MAX_WINDOW: usize = 4096;

/// Appends `bytes` with ASCII letters uppercased: other bytes (>= 0x80) are unchanged.
pub(super) fn push_ascii_upper(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend(bytes.iter().map(u8::to_ascii_uppercase));
}

/// Appends `body` (which does not end inside a valid character) uppercased.
pub(super) fn upper_body(body: &[u8], out: &mut Vec<u8>) {
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
        splice(out, base, done, chars);
        window = if resized.count == RESIZED_MAX {
            MIN_WINDOW
        } else {
            (window * 2).min(MAX_WINDOW)
        };
        resized.count = 0;
        start += done;
    }
}

/// Puts in the uppercase of `chars`, the characters of the window at `base` in `out` whose
/// uppercase has another length ((position in the window, length, uppercase), in order); the
/// window is answered up to `done`, and what follows is dropped.
fn splice(out: &mut Vec<u8>, base: usize, done: usize, chars: &[(usize, usize, &'static [u8])]) {
    let [(first, ..), ..] = *chars else {
        return;
    };
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
pub(super) const RESIZED_MAX: usize = 64;

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
