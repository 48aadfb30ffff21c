//! Logging a burst of like events (refusals, failed handshakes) as one line now and then, with
//! how many there were: one client hammering the server must not flood the log.

use std::time::{Duration, Instant};

/// The least time between two log lines about one kind of event.
pub(crate) const BURST_LOG_EVERY: Duration = Duration::from_secs(10);

/// Events of one kind since the last log line about them.
#[derive(Debug, Default)]
pub(crate) struct Burst {
    last: Option<Instant>,
    /// Events not yet reported in a log line.
    unreported: u64,
}

impl Burst {
    /// Notes one event; `Some(n)` when a line is due now, reporting `n` events (this one
    /// included). The first event of a burst is always logged.
    pub(crate) fn note(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        if self
            .last
            .is_none_or(|at| now.duration_since(at) >= BURST_LOG_EVERY)
        {
            self.last = Some(now);
            return Some(std::mem::take(&mut self.unreported));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first event is logged, the next ones are counted until the interval passes.
    #[test]
    fn once_per_interval() {
        let mut burst = Burst::default();
        let t0 = Instant::now();
        assert_eq!(burst.note(t0), Some(1));
        assert_eq!(burst.note(t0), None);
        assert_eq!(burst.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(burst.note(t0 + BURST_LOG_EVERY), Some(3));
    }
}
