//! The shout protocol: what the server answers to a byte stream, with no sockets in sight.
//!
//! The server does no framing. It transforms a byte stream ([`Transform`]) and answers each read
//! at once. The answer never depends on how TCP split the stream: a UTF-8 character cut across
//! two reads is held back (at most 3 bytes) until the rest arrives. Server and client share this
//! code, so the load generator checks answers with exactly the logic the server runs.

#![forbid(unsafe_code)]

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "fdlimit")]
pub mod fdlimit;
pub mod tlsfiles;
mod transform;

pub use transform::{table_bytes, transform_all, Mode, Transform, MAX_CARRY, MAX_EXPANSION};

/// The port shoutd listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 9999;

/// The default address of shoutd: loopback, so nothing is exposed unless the user asks.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9999";

/// The line a server at its connection limit sends before closing, without its count.
///
/// The full line is `ERR server busy (N connections), try again later\n`; see [`busy_line`]
/// and [`busy_line_per_ip`].
pub const BUSY_PREFIX: &str = "ERR server busy";

/// The line sent to a connection refused because the server is at its connection limit.
pub fn busy_line(active: usize) -> String {
    format!(
        "{BUSY_PREFIX} ({}), try again later\n",
        plural(active as u64, "connection")
    )
}

/// The line sent to a connection refused because its address has `open` connections, the
/// per-address limit.
pub fn busy_line_per_ip(open: usize) -> String {
    format!(
        "{BUSY_PREFIX} ({} from your address), try again later\n",
        plural(open as u64, "connection")
    )
}

/// How many newlines (`\n`) `data` holds: the server's message count, and how the prompt
/// knows a line's answer is complete (uppercasing never adds or removes one).
///
/// Eight bytes at a time: this runs on every read of the server, and a byte-by-byte count was
/// a sixth of its CPU when data streams through it.
pub fn count_newlines(data: &[u8]) -> usize {
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    let mut words = data.chunks_exact(8);
    let mut n = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        // Zero exactly where a byte was a newline; then the high bit of each byte says
        // "this byte is zero", with no carry between bytes.
        let x = u64::from_ne_bytes(bytes) ^ NEWLINES;
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        n += zero.count_ones() as usize;
    }
    n + words.remainder().iter().filter(|&&b| b == b'\n').count()
}

/// `1 connection`, `2 connections`: counts in messages people read.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time count equals a byte-by-byte count, for every byte value next to
    /// newlines, at every alignment and length.
    #[test]
    fn counts_newlines_like_a_byte_count() {
        let mut data = Vec::new();
        for b in 0..=255u8 {
            data.extend_from_slice(&[b, b'\n', b, b, 0x8a, b'\n', 0xff]);
        }
        for start in 0..16 {
            for end in (start..data.len()).step_by(7).chain([data.len()]) {
                let slice = &data[start..end];
                let naive = slice.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(count_newlines(slice), naive, "{start}..{end}");
            }
        }
        assert_eq!(count_newlines(&[b'\n'; 64]), 64);
        assert_eq!(count_newlines(b""), 0);
    }
}
