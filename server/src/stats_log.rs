//! The periodic one-line summary of `--stats-interval`: rates since the last line, computed
//! from two snapshots of the server's [`Stats`]. The accept loop calls it, as it already wakes
//! on a schedule.

use std::time::{Duration, Instant};

use tracing::info;

use crate::stats::{Snapshot, Stats};

/// When the next line is due, and the counters at the last one.
pub(crate) struct StatsLog {
    interval: Duration,
    next: Instant,
    last: Snapshot,
    last_at: Instant,
}

impl StatsLog {
    /// Starts the schedule: the first line comes `interval` after `now` was taken.
    pub(crate) fn new(interval: Duration, now: Snapshot) -> StatsLog {
        let at = Instant::now();
        StatsLog {
            interval,
            next: at + interval,
            last: now,
            last_at: at,
        }
    }

    /// When the next line is due.
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Logs a line if one is due.
    pub(crate) fn log_if_due(&mut self, stats: &Stats) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        let s = stats.snapshot();
        // Never divide by zero, however soon after the last line this one comes.
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let rate = |new: u64, old: u64| ((new.saturating_sub(old)) as f64 / secs).round() as u64;
        info!(
            active = s.active,
            accepted_per_s = rate(s.accepted, self.last.accepted),
            rejected_per_s = rate(s.rejected, self.last.rejected),
            msgs_per_s = rate(s.lines_in, self.last.lines_in),
            bytes_in_per_s = rate(s.bytes_in, self.last.bytes_in),
            bytes_out_per_s = rate(s.bytes_out, self.last.bytes_out),
            "stats"
        );
        self.last = s;
        self.last_at = now;
        self.next = now + self.interval;
    }
}
