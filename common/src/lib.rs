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

/// `1 connection`, `2 connections`: counts in messages people read.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
