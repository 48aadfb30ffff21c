//! A connection thread's one way of waiting: `poll(2)` on its socket and, until shutdown, on
//! the server-wide eventfd that shutdown makes readable, bounded by a timeout.

use std::io;
use std::net::TcpStream;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// What waiting for the socket ended with.
pub(super) enum Wait {
    /// The socket is ready.
    Ready,
    /// Shutdown began.
    Stop,
    /// The timeout passed.
    Timeout,
}

/// Waits until `stream` is ready for `flags` (input or end of stream for `IN`, room to send
/// for `OUT`), shutdown begins (when `stop` is given), or `timeout` passes.
pub(super) fn wait_for(
    stream: &TcpStream,
    flags: PollFlags,
    stop: Option<&OwnedFd>,
    timeout: Option<Duration>,
) -> io::Result<Wait> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut just_stream = [PollFd::new(stream, flags)];
    let mut with_stop;
    let fds: &mut [PollFd<'_>] = match stop {
        Some(stop) => {
            with_stop = [PollFd::new(stream, flags), PollFd::new(stop, PollFlags::IN)];
            &mut with_stop
        }
        None => &mut just_stream,
    };
    loop {
        // Recomputed after an interruption, so a signal never extends the wait.
        let left = deadline.map(|d| timespec(d.saturating_duration_since(Instant::now())));
        match poll(fds, left.as_ref()) {
            Ok(0) => return Ok(Wait::Timeout),
            Ok(_) if fds.len() > 1 && !fds[1].revents().is_empty() => return Ok(Wait::Stop),
            Ok(_) => return Ok(Wait::Ready),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A poll(2) timeout.
fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}
