//! The figures of a run, second by second: what each worker counts ([`Counts`], latencies),
//! how it cuts them into one [`SecondReport`] a second ([`Meter`]), and how the main thread
//! adds the workers' reports up ([`Series`]). Sans-IO: reports leave through a callback.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::checker::Completion;
use super::failure::Failures;

/// The highest latency the histograms hold, in microseconds: an hour, beyond any timeout.
const HIST_MAX_US: u64 = 3_600_000_000;

/// Significant digits of the histograms: latencies to 0.1%.
const HIST_DIGITS: u8 = 3;

/// A new latency histogram: 1 µs to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_DIGITS).expect("static bounds are valid")
}

/// Declares the counters struct and its `add`, so a new counter cannot be left out of the sum.
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$doc:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl $name {
            /// Adds `other` to `self`, counter by counter.
            pub fn add(&mut self, other: &$name) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

counters! {
    /// Counters, per second or in total.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Counts {
        /// Messages written (re-sent ones included).
        sent,
        /// Messages answered exactly.
        completed,
        /// Completed messages outside the warm-up (the figures).
        measured,
        /// Bytes written, all messages.
        bytes_out,
        /// Bytes of answers read, all messages.
        bytes_in,
        /// Bytes written for measured messages.
        measured_bytes_out,
        /// Answer bytes of measured messages.
        measured_bytes_in,
        /// Answers that differed from the expected bytes (or bytes nobody asked for). A late
        /// answer is not a mismatch: only a wrong byte is.
        mismatches,
        /// Messages whose connection ended before their answer was complete.
        short,
        /// Messages not answered within the timeout (each counted once, whatever came later).
        timeouts,
        /// Timed-out messages whose answer came later and was exact (also in `timeouts`).
        late,
        /// Connections the server closed or reset while they were in use.
        conn_errors,
        /// Connection attempts that failed.
        connect_failures,
        /// Connections that failed on their very first attempt.
        setup_failures,
        /// Connections opened (reopened ones included).
        opened,
        /// Connections opened again after the server closed them (`--reconnect`).
        reopened,
        /// Messages sent again on a new connection after theirs was closed (`--reconnect`).
        resent,
        /// Open-loop messages that were due but never sent (the client could not keep up, or
        /// no connection could take them).
        unsent,
    }
}

impl Counts {
    /// Errors of any kind (connection trouble healed by `--reconnect` aside).
    pub fn errors(&self, reconnect: bool) -> u64 {
        let conn = if reconnect { 0 } else { self.conn_errors };
        self.mismatches + self.short + self.timeouts + conn
    }
}

/// A worker's report for one second of the run (the last one may be partial).
#[derive(Debug)]
pub struct SecondReport {
    /// Which second since the start.
    pub second: u64,
    /// Counts during that second.
    pub counts: Counts,
    /// Latencies (µs) of measured messages completed during that second.
    pub hist: Histogram<u64>,
    /// When the last measured message completed, if one did.
    pub last_completion: Option<Instant>,
    /// Why connections failed during that second.
    pub failures: Failures,
    /// This is the worker's final report.
    pub last: bool,
}

/// One worker's figures for the second under way, cut into a [`SecondReport`] at each
/// second since the start. A message counts in the figures (is measured) when its latency
/// base is past the warm-up.
#[derive(Debug)]
pub struct Meter {
    start: Instant,
    warmup_end: Instant,
    /// Bytes per message.
    size: u64,
    second: u64,
    /// The counts of the second under way.
    pub counts: Counts,
    /// Why connections failed during the second under way.
    pub failures: Failures,
    hist: Histogram<u64>,
    last_completion: Option<Instant>,
}

impl Meter {
    /// Figures of a run that started at `start`, of `size`-byte messages.
    pub fn new(start: Instant, warmup_end: Instant, size: usize) -> Meter {
        Meter {
            start,
            warmup_end,
            size: size as u64,
            second: 0,
            counts: Counts::default(),
            failures: Failures::default(),
            hist: new_histogram(),
            last_completion: None,
        }
    }

    /// A message whose latency counts from `base` was written.
    pub fn sent(&mut self, base: Instant) {
        self.counts.sent += 1;
        self.counts.bytes_out += self.size;
        if base >= self.warmup_end {
            self.counts.measured_bytes_out += self.size;
        }
    }

    /// The answer to a message whose latency counts from `base` was complete at `now`.
    pub fn answered(&mut self, base: Instant, completion: Completion, now: Instant) {
        if completion == Completion::Late {
            // Counted as a timeout when it became late; its bytes were right.
            self.counts.late += 1;
            return;
        }
        self.counts.completed += 1;
        if base >= self.warmup_end {
            self.counts.measured += 1;
            self.counts.measured_bytes_in += self.size;
            let micros = now.saturating_duration_since(base).as_micros();
            self.hist
                .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
            self.last_completion = Some(now);
        }
    }

    /// When the second under way ends.
    pub fn second_end(&self) -> Instant {
        self.start + Duration::from_secs(self.second + 1)
    }

    /// Hands `send` a report for every second that has ended by `now`; if `last`, then also
    /// the final one, of the second under way.
    pub fn cut(&mut self, now: Instant, last: bool, mut send: impl FnMut(SecondReport)) {
        loop {
            let ended = now >= self.second_end();
            if !ended && !last {
                return;
            }
            send(SecondReport {
                second: self.second,
                counts: std::mem::take(&mut self.counts),
                hist: std::mem::replace(&mut self.hist, new_histogram()),
                last_completion: self.last_completion,
                failures: std::mem::take(&mut self.failures),
                last: !ended,
            });
            self.second += 1;
            if !ended {
                return;
            }
        }
    }
}

/// One second of the run, all workers together.
#[derive(Debug)]
pub struct Second {
    /// Counts during the second.
    pub counts: Counts,
    /// Latencies (µs) of measured messages completed during the second.
    pub hist: Histogram<u64>,
}

/// The workers' reports added up, per second and in total.
#[derive(Debug)]
pub struct Series {
    workers_left: usize,
    /// Every second so far.
    pub seconds: Vec<Second>,
    /// The counts of the whole run so far.
    pub total: Counts,
    /// Why connections failed, the whole run so far.
    pub failures: Failures,
    /// Latencies (µs) of every measured message so far.
    pub hist: Histogram<u64>,
    /// When the last measured message completed, if one did.
    pub last_completion: Option<Instant>,
}

impl Series {
    /// Sums expecting a final report from each of `workers`.
    pub fn new(workers: usize) -> Series {
        Series {
            workers_left: workers,
            seconds: Vec::new(),
            total: Counts::default(),
            failures: Failures::default(),
            hist: new_histogram(),
            last_completion: None,
        }
    }

    /// Adds one worker's report.
    pub fn add(&mut self, report: SecondReport) {
        let i = report.second as usize;
        while self.seconds.len() <= i {
            self.seconds.push(Second {
                counts: Counts::default(),
                hist: new_histogram(),
            });
        }
        let second = &mut self.seconds[i];
        second.counts.add(&report.counts);
        // Same bounds everywhere, so adding cannot fail.
        let _ = second.hist.add(&report.hist);
        let _ = self.hist.add(&report.hist);
        self.total.add(&report.counts);
        self.failures.merge(&report.failures);
        self.last_completion = self.last_completion.max(report.last_completion);
        if report.last {
            self.workers_left -= 1;
        }
    }

    /// Every worker sent its final report.
    pub fn complete(&self) -> bool {
        self.workers_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Warm-up messages count as sent and answered, not in the figures; late answers count
    /// only as late.
    #[test]
    fn measures_after_the_warmup() {
        let start = Instant::now();
        let warmup_end = start + Duration::from_secs(1);
        let mut meter = Meter::new(start, warmup_end, 64);
        meter.sent(start);
        meter.answered(start, Completion::OnTime, start + Duration::from_millis(2));
        let base = warmup_end + Duration::from_millis(1);
        meter.sent(base);
        meter.answered(base, Completion::OnTime, base + Duration::from_micros(250));
        meter.answered(base, Completion::Late, base + Duration::from_secs(9));
        let c = meter.counts;
        assert_eq!((c.sent, c.completed, c.measured, c.late), (2, 2, 1, 1));
        assert_eq!((c.bytes_out, c.measured_bytes_out), (128, 64));
        assert_eq!(c.measured_bytes_in, 64);
        assert_eq!(meter.hist.len(), 1);
        assert_eq!(
            meter.last_completion,
            Some(base + Duration::from_micros(250))
        );
    }

    /// One report per second that has passed, then a final one for the partial second; the
    /// counts go to the second they happened in.
    #[test]
    fn cuts_one_report_a_second() {
        let start = Instant::now();
        let mut meter = Meter::new(start, start, 8);
        let mut reports = Vec::new();
        meter.cut(start + Duration::from_millis(999), false, |r| {
            reports.push(r)
        });
        assert!(reports.is_empty());
        meter.sent(start);
        meter.cut(start + Duration::from_millis(2500), false, |r| {
            reports.push(r)
        });
        meter.sent(start);
        meter.cut(start + Duration::from_millis(2600), true, |r| {
            reports.push(r)
        });
        let seen: Vec<(u64, u64, bool)> = reports
            .iter()
            .map(|r| (r.second, r.counts.sent, r.last))
            .collect();
        assert_eq!(seen, [(0, 1, false), (1, 0, false), (2, 1, true)]);
    }

    /// The series adds reports into their seconds and the total, and is complete once every
    /// worker sent its final report.
    #[test]
    fn series_adds_up_the_workers() {
        let report = |second, sent, last| SecondReport {
            second,
            counts: Counts {
                sent,
                ..Counts::default()
            },
            hist: new_histogram(),
            last_completion: None,
            failures: Failures::default(),
            last,
        };
        let mut series = Series::new(2);
        series.add(report(1, 5, true));
        assert!(!series.complete());
        series.add(report(0, 2, false));
        series.add(report(1, 3, true));
        assert!(series.complete());
        let per_second: Vec<u64> = series.seconds.iter().map(|s| s.counts.sent).collect();
        assert_eq!(per_second, [2, 8]);
        assert_eq!(series.total.sent, 10);
    }
}
