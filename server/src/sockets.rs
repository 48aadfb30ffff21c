//! What every socket loop in the server does alike: tell an accept error about one failed
//! connection from one about the listener, and close a connection without a reset by reading
//! and dropping what the peer still sends.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::Duration;

/// How long accepting pauses after an error such as `EMFILE` (HAProxy pauses up to 100 ms):
/// long enough not to spin on a full descriptor table, short enough to resume promptly. The
/// connection accept loop and the metrics endpoint both use it.
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Errors of `accept` that concern one connection that is already gone, not the listener:
/// accepting goes on at once.
pub(crate) fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::PermissionDenied // a firewall rule refused it
    ) || e.raw_os_error() == Some(EPROTO)
}

/// `EPROTO` ("protocol error"): Linux's `accept` reports it for a connection that failed during
/// the handshake. std has no `ErrorKind` for it.
const EPROTO: i32 = rustix::io::Errno::PROTO.raw_os_error();

/// How reading and dropping input ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discarded {
    /// End of stream, an error, or the read limit: nothing more to wait for.
    Ended,
    /// A non-blocking socket has nothing more for now: the peer may still send.
    WouldBlock,
}

/// Reads and drops input from `src` until end of stream, an error, `WouldBlock`, or
/// `max_reads` reads (`None`: no limit). Closing a socket with unread input sends a reset, which can destroy
/// answers the peer has not read yet: whoever closes first reads and drops what is left.
pub(crate) fn discard_input<R: Read + ?Sized>(
    src: &mut R,
    scratch: &mut [u8],
    max_reads: Option<usize>,
) -> Discarded {
    let mut reads = 0;
    while max_reads.is_none_or(|max| reads < max) {
        reads += 1;
        match src.read(scratch) {
            Ok(0) => return Discarded::Ended,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Discarded::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Discarded::Ended,
        }
    }
    Discarded::Ended
}

/// Input read and dropped at most before [`close_after_answer`] gives up: a refused or answered
/// peer sends a short request at most, and one that keeps sending must not hold a loop that
/// serves others (it gets the reset).
const FINAL_READS: usize = 16;

/// The buffer of each of those reads (16 reads of 1 KiB: enough for any request head).
const FINAL_READ_BYTES: usize = 1024;

/// Ends a non-blocking connection that has its whole answer queued (a busy line, an HTTP
/// answer): sends our end of stream, then reads and drops what the peer already sent, so the
/// close is a FIN and not a reset that could destroy the answer before the peer reads it.
pub(crate) fn close_after_answer<S: Read + AsFd>(stream: &mut S) {
    let _ = rustix::net::shutdown(&*stream, rustix::net::Shutdown::Write);
    discard_input(stream, &mut [0u8; FINAL_READ_BYTES], Some(FINAL_READS));
}
