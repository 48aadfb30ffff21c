//! Bench messages: every message differs (origin connection, sequence number, seeded random
//! printable ASCII), so a wrong, lost, duplicated or reordered answer cannot match by chance.
//! The expected answer is computed with the protocol's own [`Transform`], not a second copy.

use shout_common::{Mode, Transform};

/// The smallest message: room for a short header and the newline.
pub const MIN_SIZE: usize = 8;

/// The golden-ratio increment of SplitMix64, also used to spread connection numbers over the
/// seed.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// What every message of a run looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Seed of the random bytes.
    pub seed: u64,
    /// Bytes per message, newline included (at least [`MIN_SIZE`]).
    pub size: usize,
    /// The answer to expect.
    pub mode: Mode,
}

impl Payload {
    /// Appends message `seq` of connection `origin` to `out`, and puts the answer it must get
    /// in `answer` (emptied first).
    pub fn write(&self, out: &mut Vec<u8>, origin: u64, seq: u64, answer: &mut Vec<u8>) {
        let start = out.len();
        write_message(out, self.seed, origin, seq, self.size);
        answer.clear();
        expected_answer(self.mode, &out[start..], answer);
    }
}

/// Writes message `seq` of connection `origin` (exactly `size` bytes, ending in a newline) to
/// `out`. The same arguments always give the same bytes, so a message can be re-sent.
pub fn write_message(out: &mut Vec<u8>, seed: u64, origin: u64, seq: u64, size: usize) {
    debug_assert!(size >= MIN_SIZE);
    let start = out.len();
    // A header that makes the message unique, cut to fit small sizes.
    let body = size - 1;
    push_hex(out, origin);
    out.push(b':');
    push_hex(out, seq);
    out.push(b':');
    out.truncate(start + body.min(out.len() - start));
    let mut rng = SplitMix64(seed ^ origin.wrapping_mul(GOLDEN_GAMMA) ^ seq.rotate_left(32));
    while out.len() - start < body {
        let r = rng.next();
        for byte in r.to_le_bytes() {
            if out.len() - start == body {
                break;
            }
            // Printable ASCII, 0x20..=0x7e: lower case included, so the answer differs.
            out.push(0x20 + (byte % 95));
        }
    }
    out.push(b'\n');
}

/// Appends `v` in lower-case hexadecimal (no allocation: this runs for every message).
fn push_hex(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the answer the server must give to `message` in `mode`.
pub fn expected_answer(mode: Mode, message: &[u8], out: &mut Vec<u8>) {
    let mut transform = Transform::new(mode);
    transform.push(message, out);
    transform.finish(out);
}

/// A small, fast, seedable generator (SplitMix64, its published constants); statistical
/// quality is ample for payloads.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages have the exact size, end in a newline, are printable, and differ.
    #[test]
    fn messages_are_exact_and_distinct() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_message(&mut a, 1, 7, 41, 64);
        write_message(&mut b, 1, 7, 42, 64);
        assert_eq!(a.len(), 64);
        assert_eq!(a.last(), Some(&b'\n'));
        assert!(a[..63].iter().all(|c| (0x20..=0x7e).contains(c)));
        assert_ne!(a, b);
        let mut again = Vec::new();
        write_message(&mut again, 1, 7, 41, 64);
        assert_eq!(a, again);
        let mut small = Vec::new();
        write_message(&mut small, 1, 0xabcdef, 0x123456, MIN_SIZE);
        assert_eq!(small.len(), MIN_SIZE);
    }

    /// The expected answer is the protocol transform of the message.
    #[test]
    fn expected_answer_is_the_transform() {
        let mut msg = Vec::new();
        write_message(&mut msg, 3, 1, 2, 100);
        let mut want = Vec::new();
        expected_answer(Mode::Upper, &msg, &mut want);
        assert_eq!(want, shout_common::transform_all(Mode::Upper, &msg));
        assert_ne!(want, msg);
    }
}
