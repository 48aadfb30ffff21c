//! The few system-level helpers the prompt and the bench share: the error kinds their
//! non-blocking loops test for, by name, and a `Duration` as the kernel's `Timespec`.

use std::io;
use std::time::Duration;

use rustix::time::Timespec;

/// The socket has nothing to give or take now; an edge or a poll will say when it has.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the call: make it again.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// `d` as a `Timespec`, for `poll` and `timerfd`; a duration too long for it is as long as
/// it can be (it never ends in practice).
pub fn timespec(d: Duration) -> Timespec {
    Timespec::try_from(d).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds and nanoseconds carry over; an endless duration saturates.
    #[test]
    fn timespec_of_durations() {
        let t = timespec(Duration::new(3, 5));
        assert_eq!((t.tv_sec, t.tv_nsec), (3, 5));
        assert_eq!(timespec(Duration::MAX).tv_sec, i64::MAX);
    }
}
