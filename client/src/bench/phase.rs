//! The phases of a worker's run, sans-IO: running (new messages start), finishing (none
//! start; what is in flight or owed is awaited, up to the timeout), closing (connections are
//! half-closed; the servers get the timeout to close them). The engine asks where the run is
//! and is told when to close its connections or give up on them.

use std::time::{Duration, Instant};

/// How often, once no new message starts, to look whether everything is answered.
pub const FINISH_CHECK: Duration = Duration::from_millis(5);

/// Where a worker's run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting new messages.
    Running,
    /// No new messages; waiting until `deadline` for what is in flight or owed, looking every
    /// [`FINISH_CHECK`].
    Finishing {
        /// When to stop waiting.
        deadline: Instant,
        /// When to look again.
        next_check: Instant,
    },
    /// Half-closed; waiting until `deadline` for the servers to close.
    Closing {
        /// When to give up on the connections still open.
        deadline: Instant,
    },
}

/// What the engine must do as the phase moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Closing has begun: drop what is owed, half-close the open connections.
    Close,
    /// The servers had their time: give up every connection left.
    GiveUp,
}

impl Phase {
    /// Moves the phase on at `now`. `stop`: no new message may start (time is up or the
    /// count is reached). `idle`: nothing is in flight or owed (asked only when it matters).
    /// `timeout` bounds each of finishing and closing.
    pub fn advance(
        &mut self,
        now: Instant,
        timeout: Duration,
        stop: bool,
        idle: impl FnOnce() -> bool,
    ) -> Option<Change> {
        if *self == Phase::Running && stop {
            *self = Phase::Finishing {
                deadline: now + timeout,
                next_check: now,
            };
        }
        match *self {
            Phase::Finishing {
                deadline,
                next_check,
            } if now >= next_check => {
                if now >= deadline || idle() {
                    *self = Phase::Closing {
                        deadline: now + timeout,
                    };
                    Some(Change::Close)
                } else {
                    *self = Phase::Finishing {
                        deadline,
                        next_check: now + FINISH_CHECK,
                    };
                    None
                }
            }
            Phase::Closing { deadline } if now >= deadline => Some(Change::GiveUp),
            _ => None,
        }
    }

    /// When the phase needs a look at the latest (`end`: when running stops).
    pub fn wake_by(&self, end: Option<Instant>) -> Option<Instant> {
        match *self {
            Phase::Running => end,
            Phase::Finishing {
                deadline,
                next_check,
            } => Some(deadline.min(next_check)),
            Phase::Closing { deadline } => Some(deadline),
        }
    }

    /// New messages may start.
    pub fn running(&self) -> bool {
        *self == Phase::Running
    }

    /// Connections are being closed: nothing is reopened or sent again.
    pub fn closing(&self) -> bool {
        matches!(self, Phase::Closing { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// Running goes on until told to stop; then, once idle, closing begins at once.
    #[test]
    fn stops_then_closes_when_idle() {
        let t0 = Instant::now();
        let mut phase = Phase::Running;
        assert_eq!(phase.advance(t0, TIMEOUT, false, || true), None);
        assert!(phase.running());
        assert_eq!(
            phase.advance(t0, TIMEOUT, true, || true),
            Some(Change::Close)
        );
        assert!(phase.closing());
        assert_eq!(phase.wake_by(None), Some(t0 + TIMEOUT));
    }

    /// Finishing looks every FINISH_CHECK, and closes at its deadline even if not idle.
    #[test]
    fn finishing_looks_periodically_up_to_the_deadline() {
        let t0 = Instant::now();
        let mut phase = Phase::Running;
        assert_eq!(phase.advance(t0, TIMEOUT, true, || false), None);
        let mut asked = false;
        let soon = t0 + FINISH_CHECK / 2;
        assert_eq!(
            phase.advance(soon, TIMEOUT, true, || {
                asked = true;
                true
            }),
            None
        );
        assert!(!asked, "not asked before the next look");
        assert_eq!(phase.wake_by(None), Some(t0 + FINISH_CHECK));
        let later = t0 + FINISH_CHECK;
        assert_eq!(phase.advance(later, TIMEOUT, true, || false), None);
        assert_eq!(
            phase.advance(t0 + TIMEOUT, TIMEOUT, true, || false),
            Some(Change::Close)
        );
    }

    /// Closing gives up at its deadline, and says so each time it is asked after it.
    #[test]
    fn closing_gives_up_at_its_deadline() {
        let t0 = Instant::now();
        let mut phase = Phase::Closing {
            deadline: t0 + TIMEOUT,
        };
        assert_eq!(phase.advance(t0, TIMEOUT, true, || false), None);
        assert_eq!(
            phase.advance(t0 + TIMEOUT, TIMEOUT, true, || false),
            Some(Change::GiveUp)
        );
        assert_eq!(phase.wake_by(Some(t0)), Some(t0 + TIMEOUT));
    }

    /// While running, the end of the run is when to look.
    #[test]
    fn running_wakes_at_the_end() {
        let t0 = Instant::now();
        assert_eq!(Phase::Running.wake_by(Some(t0)), Some(t0));
        assert_eq!(Phase::Running.wake_by(None), None);
    }
}
