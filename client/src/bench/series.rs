//! The figures of a run, second by second: what each worker counts ([`Counts`], latencies),
//! how it cuts them into one [`SecondReport`] a second ([`Meter`]), and how the main thread
//! adds the workers' reports up ([`Series`]). Sans-IO: reports leave through a callback.
//!
//! Four histograms: the latency from the base (the scheduled time in open loop, the send in
//! closed loop: corrected for coordinated omission), the latency from the actual send
//! (uncorrected; open loop only, in closed loop it is the same), and how far each open-loop
//! send fell behind its scheduled time (the schedule lag); with TLS a fourth holds the
//! handshake latencies, apart from the messages'. A completed second keeps its
//! histograms encoded ([`histcodec`]), not whole: an hour-long run holds
//! a few MiB, not gigabytes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::checker::Completion;
use super::failure::Failures;
use super::schedule::STEP;
use crate::histcodec;

/// The highest latency the histograms hold, in microseconds: an hour, beyond any timeout.
const HIST_MAX_US: u64 = 3_600_000_000;

/// Significant digits of the histograms: latencies to 0.1%.
const HIST_DIGITS: u8 = 3;

/// A new latency histogram: 1 µs to an hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, HIST_DIGITS).expect("static bounds are valid")
}

/// Microseconds from `from` to `to` (zero if `to` is earlier).
fn micros(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
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
        /// Open-loop messages that fell due (by their scheduled time).
        scheduled,
        /// Open-loop messages that fell due after the warm-up.
        measured_scheduled,
        /// TLS handshakes completed (every one, the warm-up's too).
        handshakes,
        /// TLS handshakes that failed (also in `connect_failures`).
        handshake_failures,
    }
}

impl Counts {
    /// Errors of any kind (connection trouble healed by `--reconnect` aside).
    pub fn errors(&self, reconnect: bool) -> u64 {
        let conn = if reconnect { 0 } else { self.conn_errors };
        self.mismatches + self.short + self.timeouts + conn
    }
}

/// The latency histograms of a second or of a run (µs, measured messages only).
#[derive(Debug, Clone)]
pub struct Hists {
    /// From the base: the scheduled time in open loop, the send in closed loop.
    pub corrected: Histogram<u64>,
    /// Open loop: from the actual send (empty in closed loop, where it is `corrected`).
    pub uncorrected: Histogram<u64>,
    /// Open loop: how far each send fell behind its scheduled time.
    pub lag: Histogram<u64>,
    /// TLS: the handshake latencies, from the TCP connection being established to the
    /// handshake being complete (every handshake, the warm-up's too).
    pub handshake: Histogram<u64>,
}

impl Hists {
    /// Empty histograms.
    pub fn new() -> Hists {
        Hists {
            corrected: new_histogram(),
            uncorrected: new_histogram(),
            lag: new_histogram(),
            handshake: new_histogram(),
        }
    }

    /// Adds every count of `other`.
    pub fn add(&mut self, other: &Hists) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.uncorrected.add(&other.uncorrected);
        let _ = self.lag.add(&other.lag);
        let _ = self.handshake.add(&other.handshake);
    }

    /// The uncorrected latencies: in closed loop, the corrected ones (the same thing).
    pub fn uncorrected_or_corrected(&self, open_loop: bool) -> &Histogram<u64> {
        if open_loop {
            &self.uncorrected
        } else {
            &self.corrected
        }
    }
}

impl Default for Hists {
    fn default() -> Self {
        Hists::new()
    }
}

/// A worker's report for one second of the run (the last one may be partial).
#[derive(Debug)]
pub struct SecondReport {
    /// Which worker.
    pub worker: usize,
    /// Which second since the start.
    pub second: u64,
    /// Counts during that second.
    pub counts: Counts,
    /// Latencies (µs) of measured messages completed during that second, and the lag of
    /// measured messages sent during it.
    pub hists: Hists,
    /// Connections open at the end of that second.
    pub open_connections: u64,
    /// When the last measured message completed, if one did.
    pub last_completion: Option<Instant>,
    /// Open loop: the scheduled time of the last message that fell due, if one did.
    pub last_due: Option<Instant>,
    /// Why connections failed during that second.
    pub failures: Failures,
    /// TLS: when the first handshake of the worker's run began and the last one so far ended.
    pub handshake_window: Option<(Instant, Instant)>,
    /// This is the worker's final report.
    pub last: bool,
}

/// One worker's figures for the second under way, cut into a [`SecondReport`] at each
/// second since the start. A message counts in the figures (is measured) when its latency
/// base is past the warm-up.
#[derive(Debug)]
pub struct Meter {
    worker: usize,
    start: Instant,
    warmup_end: Instant,
    /// Open loop: the uncorrected latency is recorded too.
    open_loop: bool,
    /// Bytes per message.
    size: u64,
    second: u64,
    /// The counts of the second under way.
    pub counts: Counts,
    /// Why connections failed during the second under way.
    pub failures: Failures,
    /// Connections open now (a gauge, not reset each second).
    pub open_connections: u64,
    hists: Hists,
    last_completion: Option<Instant>,
    last_due: Option<Instant>,
    handshake_window: Option<(Instant, Instant)>,
    /// Messages that fell due in a second not begun yet (released ahead of the cut after a
    /// stall), as (second, scheduled, measured scheduled).
    ahead: Vec<(u64, u64, u64)>,
}

impl Meter {
    /// Figures of worker `worker`'s part of a run that started at `start`, of `size`-byte
    /// messages, open loop or not.
    pub fn new(
        worker: usize,
        start: Instant,
        warmup_end: Instant,
        size: usize,
        open_loop: bool,
    ) -> Meter {
        Meter {
            worker,
            start,
            warmup_end,
            open_loop,
            size: size as u64,
            second: 0,
            counts: Counts::default(),
            failures: Failures::default(),
            open_connections: 0,
            hists: Hists::new(),
            last_completion: None,
            last_due: None,
            handshake_window: None,
            ahead: Vec::new(),
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

    /// Open loop: `count` messages fell due at `at`. They count in the second they fell due
    /// in (a time on a whole second ends that second), even when a stalled worker releases
    /// them after that second has ended but before it is cut.
    pub fn due(&mut self, at: Instant, count: u64) {
        let measured = if at >= self.warmup_end { count } else { 0 };
        self.last_due = Some(at);
        let since = at.saturating_duration_since(self.start);
        let second = since.saturating_sub(Duration::from_nanos(1)).as_secs();
        if second > self.second {
            self.ahead.push((second, count, measured));
        } else {
            self.counts.scheduled += count;
            self.counts.measured_scheduled += measured;
        }
    }

    /// Open loop: `count` messages scheduled at `at` were sent at `now` (one record for a
    /// batch: they share their lag).
    pub fn lagged(&mut self, at: Instant, now: Instant, count: u64) {
        if at >= self.warmup_end {
            let _ = self.hists.lag.record_n(micros(at, now), count);
        }
    }

    /// The answer to a message whose latency counts from `base`, last sent at `sent_at`, was
    /// complete at `now`.
    pub fn answered(
        &mut self,
        base: Instant,
        sent_at: Instant,
        completion: Completion,
        now: Instant,
    ) {
        if completion == Completion::Late {
            // Counted as a timeout when it became late; its bytes were right.
            self.counts.late += 1;
            return;
        }
        self.counts.completed += 1;
        if base >= self.warmup_end {
            self.counts.measured += 1;
            self.counts.measured_bytes_in += self.size;
            self.hists
                .corrected
                .saturating_record(micros(base, now).max(1));
            if self.open_loop {
                self.hists
                    .uncorrected
                    .saturating_record(micros(sent_at, now).max(1));
            }
            self.last_completion = Some(now);
        }
    }

    /// A TLS handshake that began at `started` (the TCP connection established) completed at
    /// `now`.
    pub fn handshaked(&mut self, started: Instant, now: Instant) {
        self.counts.handshakes += 1;
        self.hists
            .handshake
            .saturating_record(micros(started, now).max(1));
        self.handshake_window = Some(match self.handshake_window {
            Some((first, last)) => (first.min(started), last.max(now)),
            None => (started, now),
        });
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
                worker: self.worker,
                second: self.second,
                counts: std::mem::take(&mut self.counts),
                hists: std::mem::take(&mut self.hists),
                open_connections: self.open_connections,
                last_completion: self.last_completion,
                last_due: self.last_due,
                failures: std::mem::take(&mut self.failures),
                handshake_window: self.handshake_window,
                last: !ended,
            });
            self.second += 1;
            let now_due = self.second;
            let counts = &mut self.counts;
            self.ahead.retain(|&(second, scheduled, measured)| {
                let due = second == now_due;
                if due {
                    counts.scheduled += scheduled;
                    counts.measured_scheduled += measured;
                }
                !due
            });
            if !ended {
                return;
            }
        }
    }
}

/// Percentiles of a histogram that the reports quote (µs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Smallest (0 if none).
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest.
    pub max: u64,
}

impl Summary {
    /// The summary of `hist`.
    pub fn of(hist: &Histogram<u64>) -> Summary {
        let q = |q| hist.value_at_quantile(q);
        Summary {
            count: hist.len(),
            min: hist.min(),
            mean: hist.mean(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: hist.max(),
        }
    }
}

/// Values of a lag histogram above one schedule step: sends that fell behind the schedule.
pub fn late_sends(lag: &Histogram<u64>) -> u64 {
    let step = STEP.as_micros() as u64;
    if lag.max() <= step {
        0
    } else {
        lag.count_between(step + 1, lag.max())
    }
}

/// One second of the run, all workers together, once every worker has reported it.
#[derive(Debug, Clone)]
pub struct Second {
    /// Counts during the second.
    pub counts: Counts,
    /// Connections open at the end of the second.
    pub open_connections: u64,
    /// Corrected latencies of measured messages completed during the second.
    pub latency: Summary,
    /// Uncorrected latencies, likewise (closed loop: the corrected ones).
    pub latency_uncorrected: Summary,
    /// The corrected latencies, encoded ([`histcodec`]).
    pub hist: String,
    /// The uncorrected latencies, encoded.
    pub hist_uncorrected: String,
}

/// A second not yet reported by every worker.
#[derive(Debug)]
struct Pending {
    second: u64,
    counts: Counts,
    open_connections: u64,
    hists: Hists,
}

/// The workers' reports added up, per second and in total.
#[derive(Debug)]
pub struct Series {
    open_loop: bool,
    /// The last second each worker reported (`None`: none yet); `u64::MAX` once it is done.
    reported: Vec<Option<u64>>,
    /// Seconds some worker has not reported yet, oldest first.
    pending: VecDeque<Pending>,
    /// Every second every worker has reported, in order.
    pub seconds: Vec<Second>,
    /// The counts of the whole run so far.
    pub total: Counts,
    /// Why connections failed, the whole run so far.
    pub failures: Failures,
    /// Latencies (µs) of every measured message so far, and the lag of every measured send.
    pub hists: Hists,
    /// When the last measured message completed, if one did.
    pub last_completion: Option<Instant>,
    /// Open loop: the scheduled time of the last message that fell due, if one did.
    pub last_due: Option<Instant>,
    /// TLS: when the first handshake began and the last one ended, all workers together.
    pub handshake_window: Option<(Instant, Instant)>,
}

impl Series {
    /// Sums expecting reports from each of `workers`.
    pub fn new(workers: usize, open_loop: bool) -> Series {
        Series {
            open_loop,
            reported: vec![None; workers],
            pending: VecDeque::new(),
            seconds: Vec::new(),
            total: Counts::default(),
            failures: Failures::default(),
            hists: Hists::new(),
            last_completion: None,
            last_due: None,
            handshake_window: None,
        }
    }

    /// Adds one worker's report. Each second that every worker has now reported is handed to
    /// `complete` with its index and histograms (before they are encoded and dropped), then kept.
    pub fn add(&mut self, report: SecondReport, mut complete: impl FnMut(usize, &Second, &Hists)) {
        let first = self.seconds.len() as u64;
        let i = report.second.saturating_sub(first) as usize;
        while self.pending.len() <= i {
            let second = first + self.pending.len() as u64;
            self.pending.push_back(Pending {
                second,
                counts: Counts::default(),
                open_connections: 0,
                hists: Hists::new(),
            });
        }
        let pending = &mut self.pending[i];
        pending.counts.add(&report.counts);
        pending.open_connections += report.open_connections;
        pending.hists.add(&report.hists);
        self.hists.add(&report.hists);
        self.total.add(&report.counts);
        self.failures.merge(&report.failures);
        self.last_completion = self.last_completion.max(report.last_completion);
        self.last_due = self.last_due.max(report.last_due);
        self.handshake_window = match (self.handshake_window, report.handshake_window) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (window, None) | (None, window) => window,
        };
        if let Some(reported) = self.reported.get_mut(report.worker) {
            *reported = Some(if report.last { u64::MAX } else { report.second });
        }
        self.close_complete(&mut complete);
    }

    /// Moves the seconds every worker has reported from `pending` to `seconds`.
    fn close_complete(&mut self, complete: &mut impl FnMut(usize, &Second, &Hists)) {
        while let Some(front) = self.pending.front() {
            let done = self
                .reported
                .iter()
                .all(|r| r.is_some_and(|r| r >= front.second));
            if !done {
                break;
            }
            let p = self.pending.pop_front().expect("the front exists");
            let uncorrected = p.hists.uncorrected_or_corrected(self.open_loop);
            let second = Second {
                counts: p.counts,
                open_connections: p.open_connections,
                latency: Summary::of(&p.hists.corrected),
                latency_uncorrected: Summary::of(uncorrected),
                hist: histcodec::encode(&p.hists.corrected),
                hist_uncorrected: histcodec::encode(uncorrected),
            };
            complete(self.seconds.len(), &second, &p.hists);
            self.seconds.push(second);
        }
    }

    /// Every worker sent its final report.
    pub fn complete(&self) -> bool {
        self.reported.iter().all(|r| *r == Some(u64::MAX))
    }

    /// Closes the seconds some worker has not reported yet as they are (the run ended
    /// without a worker's final report: its thread failed).
    pub fn flush(&mut self, mut complete: impl FnMut(usize, &Second, &Hists)) {
        let reported = std::mem::take(&mut self.reported);
        self.reported = vec![Some(u64::MAX); reported.len()];
        self.close_complete(&mut complete);
        self.reported = reported;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Warm-up messages count as sent and answered, not in the figures; late answers count
    /// only as late; open loop records both latencies.
    #[test]
    fn measures_after_the_warmup() {
        let start = Instant::now();
        let warmup_end = start + Duration::from_secs(1);
        let mut meter = Meter::new(0, start, warmup_end, 64, true);
        meter.sent(start);
        meter.answered(
            start,
            start,
            Completion::OnTime,
            start + Duration::from_millis(2),
        );
        let base = warmup_end + Duration::from_millis(1);
        let sent_at = base + Duration::from_micros(100);
        meter.sent(base);
        meter.answered(
            base,
            sent_at,
            Completion::OnTime,
            base + Duration::from_micros(250),
        );
        meter.answered(
            base,
            sent_at,
            Completion::Late,
            base + Duration::from_secs(9),
        );
        let c = meter.counts;
        assert_eq!((c.sent, c.completed, c.measured, c.late), (2, 2, 1, 1));
        assert_eq!((c.bytes_out, c.measured_bytes_out), (128, 64));
        assert_eq!(c.measured_bytes_in, 64);
        assert_eq!(meter.hists.corrected.len(), 1);
        assert_eq!(meter.hists.corrected.max(), 250);
        assert_eq!(meter.hists.uncorrected.max(), 150);
        assert_eq!(
            meter.last_completion,
            Some(base + Duration::from_micros(250))
        );
    }

    /// Closed loop records only the corrected latency (the uncorrected one is the same).
    #[test]
    fn closed_loop_records_once() {
        let start = Instant::now();
        let mut meter = Meter::new(0, start, start, 8, false);
        meter.answered(
            start,
            start,
            Completion::OnTime,
            start + Duration::from_micros(40),
        );
        assert_eq!(meter.hists.corrected.len(), 1);
        assert_eq!(meter.hists.uncorrected.len(), 0);
        assert_eq!(
            meter.hists.uncorrected_or_corrected(false).len(),
            1,
            "closed loop: uncorrected is corrected"
        );
    }

    /// Due messages and the lag of sends are counted after the warm-up only; sends more than
    /// a step behind are late.
    #[test]
    fn counts_due_and_lag() {
        let start = Instant::now();
        let warmup_end = start + Duration::from_secs(1);
        let mut meter = Meter::new(0, start, warmup_end, 8, true);
        meter.due(start, 5);
        meter.due(warmup_end, 3);
        meter.lagged(start, start + Duration::from_secs(3), 5);
        meter.lagged(warmup_end, warmup_end + Duration::from_micros(20), 2);
        meter.lagged(warmup_end, warmup_end + Duration::from_millis(4), 1);
        assert_eq!(
            (meter.counts.scheduled, meter.counts.measured_scheduled),
            (8, 3)
        );
        assert_eq!(meter.hists.lag.len(), 3);
        assert_eq!(late_sends(&meter.hists.lag), 1);
        assert_eq!(meter.last_due, Some(warmup_end));
    }

    /// Messages released after their second ended (a stalled worker) count in the second they
    /// fell due in, not in the one under way.
    #[test]
    fn due_messages_count_in_their_own_second() {
        let start = Instant::now();
        let mut meter = Meter::new(0, start, start, 8, true);
        let mut reports = Vec::new();
        meter.due(start + Duration::from_millis(1000), 3);
        meter.due(start + Duration::from_millis(1001), 5);
        meter.due(start + Duration::from_millis(2500), 7);
        meter.cut(start + Duration::from_millis(2600), true, |r| {
            reports.push(r)
        });
        let seen: Vec<u64> = reports.iter().map(|r| r.counts.scheduled).collect();
        assert_eq!(seen, [3, 5, 7]);
    }

    /// One report per second that has passed, then a final one for the partial second; the
    /// counts go to the second they happened in.
    #[test]
    fn cuts_one_report_a_second() {
        let start = Instant::now();
        let mut meter = Meter::new(0, start, start, 8, false);
        let mut reports = Vec::new();
        meter.cut(start + Duration::from_millis(999), false, |r| {
            reports.push(r)
        });
        assert!(reports.is_empty());
        meter.sent(start);
        meter.open_connections = 3;
        meter.cut(start + Duration::from_millis(2500), false, |r| {
            reports.push(r)
        });
        meter.sent(start);
        meter.cut(start + Duration::from_millis(2600), true, |r| {
            reports.push(r)
        });
        let seen: Vec<(u64, u64, bool, u64)> = reports
            .iter()
            .map(|r| (r.second, r.counts.sent, r.last, r.open_connections))
            .collect();
        assert_eq!(seen, [(0, 1, false, 3), (1, 0, false, 3), (2, 1, true, 3)]);
    }

    fn report(worker: usize, second: u64, sent: u64, last: bool) -> SecondReport {
        let mut hists = Hists::new();
        hists
            .corrected
            .record(100 * (second + 1))
            .expect("in range");
        SecondReport {
            worker,
            second,
            counts: Counts {
                sent,
                ..Counts::default()
            },
            hists,
            open_connections: 1,
            last_completion: None,
            last_due: None,
            failures: Failures::default(),
            handshake_window: Some((
                Instant::now(),
                Instant::now() + Duration::from_millis(second),
            )),
            last,
        }
    }

    /// The series adds reports into their seconds and the total; a second is complete (and
    /// encoded) once every worker reported it or ended; the run once every worker ended.
    #[test]
    fn series_adds_up_the_workers() {
        let mut series = Series::new(2, false);
        let mut completed = Vec::new();
        series.add(report(1, 0, 1, false), |_, s, _| {
            completed.push(s.counts.sent)
        });
        series.add(report(1, 1, 5, true), |_, s, _| {
            completed.push(s.counts.sent)
        });
        assert!(!series.complete());
        assert!(completed.is_empty(), "worker 0 has not reported");
        series.add(report(0, 0, 2, false), |_, s, _| {
            completed.push(s.counts.sent)
        });
        assert_eq!(completed, [3]);
        series.add(report(0, 1, 3, false), |_, s, _| {
            completed.push(s.counts.sent)
        });
        series.add(report(0, 2, 4, true), |_, s, _| {
            completed.push(s.counts.sent)
        });
        assert!(series.complete());
        assert_eq!(completed, [3, 8, 4]);
        let per_second: Vec<u64> = series.seconds.iter().map(|s| s.counts.sent).collect();
        assert_eq!(per_second, [3, 8, 4]);
        assert_eq!(series.total.sent, 15);
        assert_eq!(series.seconds[1].open_connections, 2);
        let back = histcodec::decode(&series.seconds[1].hist).expect("decodes");
        assert_eq!((back.len(), back.max()), (2, 200));
        assert_eq!(series.seconds[1].hist_uncorrected, series.seconds[1].hist);
        assert_eq!(series.hists.corrected.len(), 5);
    }

    /// Seconds left open when a worker never sent its final report are closed by `flush`.
    #[test]
    fn flush_closes_what_is_left() {
        let mut series = Series::new(2, true);
        series.add(report(0, 0, 1, false), |_, _, _| ());
        series.add(report(0, 1, 1, true), |_, _, _| ());
        assert!(series.seconds.is_empty());
        series.flush(|_, _, _| ());
        assert!(!series.complete(), "worker 1 never ended");
        assert_eq!(series.seconds.len(), 2);
    }

    /// Handshakes are counted and their latencies kept apart from the messages'; the window
    /// runs from the first start to the last end, over every worker.
    #[test]
    fn handshakes_and_their_window() {
        let start = Instant::now();
        let mut meter = Meter::new(0, start, start, 8, false);
        meter.handshaked(start, start + Duration::from_micros(500));
        meter.handshaked(
            start + Duration::from_millis(1),
            start + Duration::from_millis(3),
        );
        assert_eq!(meter.counts.handshakes, 2);
        assert_eq!(meter.hists.handshake.len(), 2);
        assert_eq!(meter.hists.corrected.len(), 0);
        assert_eq!(
            meter.handshake_window,
            Some((start, start + Duration::from_millis(3)))
        );
        let mut series = Series::new(2, false);
        let early = report(0, 0, 1, true);
        let late = report(1, 0, 1, true);
        let (first, _) = early.handshake_window.expect("set");
        let (_, last) = late.handshake_window.expect("set");
        series.add(early, |_, _, _| ());
        series.add(late, |_, _, _| ());
        assert_eq!(series.handshake_window.map(|w| w.0), Some(first));
        assert!(series.handshake_window.is_some_and(|w| w.1 >= last));
    }
}
