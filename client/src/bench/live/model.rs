//! What the dashboard knows, sans-IO: the run's plan ([`Info`]), the [`Snapshot`] the main
//! thread makes from the series once a second (cheap: figures, no histograms), and the
//! [`State`] the dashboard thread keeps from them (a bounded history of seconds), with the
//! run's [`Phase`] at a given time.

use std::collections::VecDeque;
use std::time::Duration;

use super::super::args::{BenchArgs, Length};
use super::super::findmax::{FindMax, Quantile, StepNow, StepResult};
use super::super::profile::RateProfile;
use super::super::series::{Counts, Series, Summary};

/// Seconds of history the dashboard keeps (the oldest go first): an hour.
pub const MAX_POINTS: usize = 3600;

/// One second of the run, as drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    /// Which second since the start.
    pub second: u64,
    /// Messages answered exactly during it.
    pub completed: u64,
    /// Open loop: messages that fell due during it (what the rate asked for).
    pub scheduled: u64,
    /// Corrected latencies (µs) of the measured messages answered during it.
    pub latency: Summary,
    /// Uncorrected latencies, likewise (closed loop: the corrected ones).
    pub uncorrected: Summary,
}

/// What the main thread hands the dashboard after each second the workers reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The seconds completed since the last snapshot.
    pub points: Vec<Point>,
    /// The counts of the whole run so far.
    pub total: Counts,
    /// Connections open at the end of the last complete second.
    pub open: u64,
    /// Corrected latencies of every measured message so far.
    pub latency: Summary,
    /// Connection attempts that failed, by reason (label, count), most frequent first.
    pub connect_failures: Vec<(String, u64)>,
    /// Connections that died in use, by reason, likewise.
    pub closed: Vec<(String, u64)>,
    /// The corrected latencies so far as a histogram: (upper bound in µs, count) per doubling,
    /// from the lowest bucket with a count to the highest.
    pub histogram: Vec<(u64, u64)>,
    /// `--find-max`: the search so far.
    pub find_max: Option<SearchView>,
}

/// `--find-max` as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchView {
    /// The steps judged, in order.
    pub steps: Vec<StepResult>,
    /// The step under way, unless the search is over.
    pub step: Option<StepNow>,
    /// The highest rate of a step that met the SLO so far.
    pub best: Option<f64>,
    /// The SLO, as the report says it.
    pub slo: String,
    /// Its p99 bound (µs), if it has one: the line the curve must stay under.
    pub p99_limit: Option<u64>,
}

impl SearchView {
    /// The view of the search `f`.
    pub fn of(f: &FindMax) -> SearchView {
        let result = f.result();
        let best = result
            .steps
            .iter()
            .filter(|s| s.met)
            .map(|s| s.target)
            .fold(None, |best: Option<f64>, r| {
                Some(best.map_or(r, |b| b.max(r)))
            });
        SearchView {
            p99_limit: result
                .slo
                .bounds
                .iter()
                .filter(|b| b.quantile == Quantile::P99)
                .map(|b| b.limit_us)
                .min(),
            slo: result.slo.describe(),
            step: f.step_now(),
            best,
            steps: result.steps,
        }
    }
}

impl Snapshot {
    /// The snapshot of `series`, with the seconds from `from` on (those not handed over yet),
    /// and of the `--find-max` search, if there is one.
    pub fn of(series: &Series, from: usize, find_max: Option<&FindMax>) -> Snapshot {
        let points = series
            .seconds
            .iter()
            .enumerate()
            .skip(from)
            .map(|(i, s)| Point {
                second: i as u64,
                completed: s.counts.completed,
                scheduled: s.counts.scheduled,
                latency: s.latency,
                uncorrected: s.latency_uncorrected,
            })
            .collect();
        let labelled = |t: &super::super::failure::Tally| {
            t.by_count()
                .into_iter()
                .map(|(r, n)| (r.label(), n))
                .collect()
        };
        Snapshot {
            points,
            total: series.total,
            open: series.seconds.last().map_or(0, |s| s.open_connections),
            latency: Summary::of(&series.hists.corrected),
            connect_failures: labelled(&series.failures.connect),
            closed: labelled(&series.failures.closed),
            histogram: doublings(&series.hists.corrected),
            find_max: find_max.map(SearchView::of),
        }
    }
}

/// The counts of `hist` per doubling of the value (1, 2, 4 ... µs), without the empty
/// buckets below the lowest value.
pub fn doublings(hist: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    if hist.is_empty() {
        return Vec::new();
    }
    hist.iter_log(1, 2.0)
        .map(|v| (v.value_iterated_to(), v.count_since_last_iteration()))
        .skip_while(|&(_, n)| n == 0)
        .collect()
}

/// The run as planned: what the gauge and the target line need.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// Connections asked for.
    pub connections: u64,
    /// How long the run is, or how many messages.
    pub length: Length,
    /// The warm-up before the figures count.
    pub warmup: Duration,
    /// Open loop (`--rate`): latencies are corrected and uncorrected.
    pub open_loop: bool,
    /// `--reconnect`: connection errors are healed, not counted as errors.
    pub reconnect: bool,
    /// `--find-max`: the search's panel takes the latency chart's place.
    pub find_max: bool,
    /// The planned rate, second by second from the start (empty: none planned, as in closed
    /// loop or with `--find-max`, which sets its rates as it goes).
    pub target: Vec<f64>,
}

impl Info {
    /// The plan of a run with `args` and its rate `profile`.
    pub fn new(args: &BenchArgs, profile: Option<&RateProfile>) -> Info {
        let length = args.length();
        let target = match (profile, length, args.find_max) {
            (Some(p), Length::Duration(d), false) => {
                let mut curve = p.curve(args.warmup);
                let secs = (args.warmup + d).as_secs().min(MAX_POINTS as u64);
                (0..=secs)
                    .map(|s| {
                        let t = |s| Duration::from_secs(s);
                        curve.due_by(t(s + 1)) - curve.due_by(t(s))
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        Info {
            connections: args.connections,
            length,
            warmup: args.warmup,
            open_loop: profile.is_some(),
            reconnect: args.reconnect,
            find_max: args.find_max,
            target,
        }
    }

    /// The run's whole length in time (warm-up included), if it is set by time.
    pub fn total_time(&self) -> Option<Duration> {
        match self.length {
            Length::Duration(d) => Some(self.warmup + d),
            Length::Messages(_) => None,
        }
    }
}

/// Where the run is, as the gauge says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not every connection is open yet: this many of that many.
    Connecting(u64, u64),
    /// Before the figures count.
    WarmUp,
    /// The figures count.
    Measuring,
    /// The time is up or the messages are sent: awaiting the last answers, closing.
    Closing,
    /// Stopped early (a key, a signal): awaiting the answers in flight, then the reports.
    Stopping,
}

impl Phase {
    /// Its name on the gauge.
    pub fn label(self) -> String {
        match self {
            Phase::Connecting(open, of) => format!("connecting {open}/{of}"),
            Phase::WarmUp => "warm-up".into(),
            Phase::Measuring => "measuring".into(),
            Phase::Closing => "closing".into(),
            Phase::Stopping => "stopping early".into(),
        }
    }
}

/// What the dashboard thread keeps: the plan, the last snapshot's figures and a bounded
/// history of seconds.
#[derive(Debug, Clone)]
pub struct State {
    /// The run as planned.
    pub info: Info,
    /// The last snapshot (its points moved to `points`).
    pub last: Snapshot,
    /// The seconds so far, the last [`MAX_POINTS`] of them.
    pub points: VecDeque<Point>,
    /// Whether the run was stopped early.
    pub stopped: bool,
}

impl State {
    /// Nothing seen yet of a run planned as `info`.
    pub fn new(info: Info) -> State {
        State {
            info,
            last: Snapshot::default(),
            points: VecDeque::new(),
            stopped: false,
        }
    }

    /// Takes in a snapshot.
    pub fn apply(&mut self, mut snapshot: Snapshot) {
        for point in snapshot.points.drain(..) {
            if self.points.len() == MAX_POINTS {
                self.points.pop_front();
            }
            self.points.push_back(point);
        }
        self.last = snapshot;
    }

    /// Where the run is `elapsed` after its start.
    pub fn phase(&self, elapsed: Duration) -> Phase {
        let total = &self.last.total;
        let done = match self.info.length {
            Length::Duration(d) => elapsed >= self.info.warmup + d,
            Length::Messages(n) => total.completed >= n,
        };
        if self.stopped {
            Phase::Stopping
        } else if done {
            Phase::Closing
        } else if total.opened < self.info.connections {
            Phase::Connecting(self.last.open.max(total.opened), self.info.connections)
        } else if elapsed < self.info.warmup {
            Phase::WarmUp
        } else {
            Phase::Measuring
        }
    }

    /// How far the run is, from 0 to 1, `elapsed` after its start.
    pub fn ratio(&self, elapsed: Duration) -> f64 {
        let r = match self.info.length {
            Length::Duration(_) => {
                let total = self.info.total_time().unwrap_or_default();
                elapsed.as_secs_f64() / total.as_secs_f64().max(1e-9)
            }
            Length::Messages(n) => self.last.total.completed as f64 / n.max(1) as f64,
        };
        r.clamp(0.0, 1.0)
    }

    /// What is left, as the gauge says it: time, or messages with the time they should take
    /// at the last second's rate (`None` while the rate is unknown).
    pub fn remaining(&self, elapsed: Duration) -> (String, Option<Duration>) {
        match self.info.length {
            Length::Duration(_) => {
                let total = self.info.total_time().unwrap_or_default();
                let left = total.saturating_sub(elapsed);
                (format!("{} left", secs(left)), Some(left))
            }
            Length::Messages(n) => {
                let left = n.saturating_sub(self.last.total.completed);
                let rate = self.points.back().map_or(0, |p| p.completed);
                let eta = (rate > 0).then(|| Duration::from_secs(left.div_ceil(rate)));
                (format!("{left} msgs left"), eta)
            }
        }
    }

    /// Errors of any kind so far (connection trouble healed by `--reconnect` aside).
    pub fn errors(&self) -> u64 {
        self.last.total.errors(self.info.reconnect)
    }
}

/// `950`, `12.3k`, `1.50M`.
pub fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `850µs`, `1.2ms`, `3.40s`.
pub fn latency_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2}s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1}ms", us / 1e3)
    } else {
        format!("{us:.0}µs")
    }
}

/// `1h02m03s`, `2m05s`, `42s`.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(opts: &[&str]) -> BenchArgs {
        BenchArgs::try_parse_from(opts).expect("valid options")
    }

    fn state(opts: &[&str]) -> State {
        let a = args(opts);
        let profile = a.rate_profile().expect("a valid profile");
        State::new(Info::new(&a, profile.as_ref()))
    }

    fn point(second: u64, completed: u64) -> Point {
        Point {
            second,
            completed,
            ..Point::default()
        }
    }

    /// A ramp's target line climbs second by second from the end of the warm-up.
    #[test]
    fn target_follows_the_profile() {
        let s = state(&[
            "-d",
            "10s",
            "--warmup",
            "2s",
            "--rate",
            "100..1100",
            "--ramp",
            "10s",
        ]);
        let t = &s.info.target;
        assert_eq!(t.len(), 13);
        assert!((t[0] - 100.0).abs() < 1e-6, "{t:?}");
        assert!((t[1] - 100.0).abs() < 1e-6, "{t:?}");
        assert!((t[2] - 150.0).abs() < 1e-6, "{t:?}");
        assert!((t[11] - 1050.0).abs() < 1e-6, "{t:?}");
        assert!(state(&["-d", "5s"]).info.target.is_empty());
        assert!(state(&["--find-max", "-d", "5s"]).info.target.is_empty());
    }

    /// Phases: connecting until every connection opened, then warm-up, measuring, closing at
    /// the end of the time, stopping once stopped.
    #[test]
    fn phases() {
        let mut s = state(&["-c", "4", "-d", "10s", "--warmup", "2s"]);
        let at = Duration::from_secs;
        assert_eq!(s.phase(at(0)), Phase::Connecting(0, 4));
        s.apply(Snapshot {
            open: 3,
            total: Counts {
                opened: 3,
                ..Counts::default()
            },
            ..Snapshot::default()
        });
        assert_eq!(s.phase(at(1)).label(), "connecting 3/4");
        s.last.total.opened = 4;
        assert_eq!(s.phase(at(1)), Phase::WarmUp);
        assert_eq!(s.phase(at(5)), Phase::Measuring);
        assert_eq!(s.phase(at(12)), Phase::Closing);
        s.stopped = true;
        assert_eq!(s.phase(at(5)), Phase::Stopping);
    }

    /// Time left and the ratio for a timed run; messages left and their ETA at the last
    /// second's rate for `-n`.
    #[test]
    fn remaining_and_ratio() {
        let s = state(&["-d", "1m", "--warmup", "20s"]);
        let (text, eta) = s.remaining(Duration::from_secs(30));
        assert_eq!(text, "50s left");
        assert_eq!(eta, Some(Duration::from_secs(50)));
        assert!((s.ratio(Duration::from_secs(40)) - 0.5).abs() < 1e-9);
        let mut s = state(&["-n", "1000"]);
        assert_eq!(s.remaining(Duration::ZERO).1, None);
        s.apply(Snapshot {
            points: vec![point(0, 100)],
            total: Counts {
                completed: 400,
                ..Counts::default()
            },
            ..Snapshot::default()
        });
        assert_eq!(
            s.remaining(Duration::ZERO),
            ("600 msgs left".to_string(), Some(Duration::from_secs(6)))
        );
        assert!((s.ratio(Duration::ZERO) - 0.4).abs() < 1e-9);
        assert_eq!(secs(Duration::from_secs(3723)), "1h02m03s");
        assert_eq!(secs(Duration::from_secs(125)), "2m05s");
    }

    /// The histogram counts per doubling, from the lowest value's bucket.
    #[test]
    fn histogram_by_doublings() {
        let mut h = crate::bench::series::new_histogram();
        for v in [100, 110, 120, 1000, 1000] {
            h.record(v).expect("in range");
        }
        let d = doublings(&h);
        let total: u64 = d.iter().map(|b| b.1).sum();
        assert_eq!(total, 5, "{d:?}");
        assert_eq!(d[0].1, 3, "{d:?}");
        assert!(d[0].0 >= 120 && d[0].0 < 256, "{d:?}");
        assert_eq!(d.last().map(|b| b.1), Some(2), "{d:?}");
        assert!(doublings(&crate::bench::series::new_histogram()).is_empty());
    }

    /// Figures in short form.
    #[test]
    fn short_figures() {
        assert_eq!(count(950.0), "950");
        assert_eq!(count(12_345.0), "12.3k");
        assert_eq!(count(1_500_000.0), "1.50M");
        assert_eq!(latency_label(850.0), "850µs");
        assert_eq!(latency_label(1234.0), "1.2ms");
        assert_eq!(latency_label(3_400_000.0), "3.40s");
    }

    /// The history is bounded: the oldest seconds go first.
    #[test]
    fn history_is_bounded() {
        let mut s = state(&["-d", "2h"]);
        for i in 0..MAX_POINTS as u64 + 10 {
            s.apply(Snapshot {
                points: vec![point(i, i)],
                ..Snapshot::default()
            });
        }
        assert_eq!(s.points.len(), MAX_POINTS);
        assert_eq!(s.points.front().map(|p| p.second), Some(10));
    }
}
