//! The few system-level helpers the prompt and the bench share: the error kinds their
//! non-blocking loops test for, by name, a `Duration` as the kernel's `Timespec`, the
//! periodic timer that paces the bench's open loop, and printing to a stdout that may have
//! been closed.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};

/// The socket has nothing to give or take now; an edge or a poll will say when it has.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A signal interrupted the call: make it again.
pub fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// Whoever read our output went away (`shout bench | head -2`): stop writing, quietly.
pub fn broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
}

/// Prints `text` to stdout. A stdout whose reader has gone is not an error (as in pipe mode:
/// the rest is dropped quietly, where `print!` would panic); any other failure is.
pub fn print_stdout(text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if broken_pipe(&e) => Ok(()),
        result => result,
    }
}

/// `d` as a `Timespec`, for `poll` and `timerfd`; a duration too long for it is as long as
/// it can be (it never ends in practice).
pub fn timespec(d: Duration) -> Timespec {
    Timespec::try_from(d).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    })
}

/// A non-blocking timer that expires after `first` and then every `period`, readable at each
/// expiry until [`read_expiries`] is called.
pub fn periodic_timer(first: Duration, period: Duration) -> io::Result<OwnedFd> {
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    // A zero first expiry would disarm the timer: at least a nanosecond.
    let spec = Itimerspec {
        it_interval: timespec(period),
        it_value: timespec(first.max(Duration::from_nanos(1))),
    };
    timerfd_settime(&fd, TimerfdTimerFlags::empty(), &spec)?;
    Ok(fd)
}

/// Takes a timer's expiry count, so the next expiry makes it readable again (an edge).
pub fn read_expiries(timer: impl AsFd) {
    let mut count = [0u8; 8];
    // Nothing to take (no expiry since the last read) is fine.
    let _ = rustix::io::read(timer, &mut count);
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

    /// A periodic timer fires, and again after its expiries are taken.
    #[test]
    fn periodic_timer_fires() {
        use rustix::event::{poll, PollFd, PollFlags};
        let timer = periodic_timer(Duration::ZERO, Duration::from_millis(1)).expect("a timer");
        let limit = timespec(Duration::from_secs(5));
        for _ in 0..2 {
            let mut fds = [PollFd::new(&timer, PollFlags::IN)];
            assert_eq!(poll(&mut fds, Some(&limit)).expect("poll"), 1);
            read_expiries(&timer);
        }
    }
}
