//! `--find-max`, sans-IO: the search for the highest open-loop rate whose steady state meets a
//! latency SLO, on one set of connections that stays open.
//!
//! The run is a sequence of steps. Each step sets a rate, lets it settle for its own warm-up
//! (whole seconds, the second the rate changed in included), then measures whole seconds.
//! [`FindMax`] is told each completed second of the run, judges each step from the seconds it
//! measured, and says what to do next ([`Action`]); which rate comes next is the [`Search`]
//! policy's call. The main thread does the I/O (tells the workers).
//!
//! A step is **steady** when it had answers, the achieved rate is at least
//! [`RATE_REACHED`] of the scheduled one, and latency is not still climbing: the median of the
//! second half of the measured seconds is at most [`CLIMB_FACTOR`] times that of the first half
//! plus a slack (with one measured second: that second against the second before it). The
//! slack is a quarter of the tightest latency bound of the SLO, at least [`CLIMB_SLACK_US`]:
//! a rise small against the SLO is noise (a busy machine moves medians by milliseconds), not
//! a trend that matters for it. A step that met the SLO but was not steady is measured once more (extended); a step
//! that is still not steady, or not steady and over the SLO, is rejected (counts as not met).
//! Only steady steps are trusted to meet the SLO.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::profile::RATE_REACHED;
use super::series::{new_histogram, Counts, Hists, Second, Summary};

/// `--max-steps` by default.
pub const DEFAULT_MAX_STEPS: u32 = 12;

/// The first rate tried when `--rate` is not given, in messages per second.
pub const DEFAULT_START_RATE: f64 = 1000.0;

/// While no rate has failed, each step tries this many times the last rate (and while none
/// has met the SLO, the last rate divided by it).
pub const GROWTH: f64 = 2.0;

/// The search ends once the first failing rate is within this share above the best rate met.
pub const PRECISION: f64 = 0.05;

/// No rate below this is tried (messages per second).
pub const MIN_RATE: f64 = 1.0;

/// No rate above this is tried (messages per second).
pub const MAX_RATE: f64 = 100_000_000.0;

/// Latency is climbing when the later median exceeds the earlier one by this factor...
pub const CLIMB_FACTOR: f64 = 1.5;

/// ...plus at least this many microseconds (one schedule step: finer changes are not trends).
pub const CLIMB_SLACK_US: f64 = 1000.0;

/// ...or this share of the tightest latency bound, if more.
pub const CLIMB_SLACK_OF_SLO: f64 = 0.25;

/// A latency percentile an SLO can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    /// The median.
    P50,
    /// The 90th percentile.
    P90,
    /// The 99th percentile.
    P99,
    /// The 99.9th percentile.
    P99_9,
}

impl Quantile {
    /// Its name on the command line: `p99.9`.
    pub fn name(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P90 => "p90",
            Quantile::P99 => "p99",
            Quantile::P99_9 => "p99.9",
        }
    }

    /// Its key in the JSON report: `p99_9_us`.
    fn key(self) -> &'static str {
        match self {
            Quantile::P50 => "p50_us",
            Quantile::P90 => "p90_us",
            Quantile::P99 => "p99_us",
            Quantile::P99_9 => "p99_9_us",
        }
    }

    /// Its value in `summary`.
    fn of(self, summary: &Summary) -> u64 {
        match self {
            Quantile::P50 => summary.p50,
            Quantile::P90 => summary.p90,
            Quantile::P99 => summary.p99,
            Quantile::P99_9 => summary.p99_9,
        }
    }

    const ALL: [Quantile; 4] = [Quantile::P50, Quantile::P90, Quantile::P99, Quantile::P99_9];
}

/// One latency bound of an SLO: `p99=1ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SloBound {
    /// Which percentile.
    pub quantile: Quantile,
    /// Its highest value, in microseconds.
    pub limit_us: u64,
}

impl SloBound {
    /// Parses `pNN=LATENCY` (`p50`, `p90`, `p99`, `p99.9`; a latency such as `500us`, `1ms`).
    pub fn parse(s: &str) -> Result<SloBound, String> {
        let (name, latency) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not pNN=LATENCY, such as p99=1ms"))?;
        let quantile = Quantile::ALL
            .into_iter()
            .find(|q| q.name() == name.trim())
            .ok_or_else(|| format!("'{name}' is not one of p50, p90, p99, p99.9"))?;
        let limit = shout_common::cli::parse_duration(latency)?;
        let limit_us = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX);
        if limit_us == 0 {
            return Err(format!("'{latency}' is under a microsecond"));
        }
        Ok(SloBound { quantile, limit_us })
    }
}

/// What a step must meet: latency bounds and an error rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Latency bounds (all must hold).
    pub bounds: Vec<SloBound>,
    /// The highest share of errors.
    pub max_error_rate: f64,
}

impl Slo {
    /// Whether `latency` is within every bound.
    pub fn latency_met(&self, latency: &Summary) -> bool {
        self.bounds
            .iter()
            .all(|b| b.quantile.of(latency) <= b.limit_us)
    }

    /// How much a median may rise across a step and still count as steady, in µs.
    pub fn climb_slack_us(&self) -> f64 {
        let tightest = self.bounds.iter().map(|b| b.limit_us).min().unwrap_or(0);
        (tightest as f64 * CLIMB_SLACK_OF_SLO).max(CLIMB_SLACK_US)
    }

    /// The tightest bound on `quantile`, if any.
    fn limit(&self, quantile: Quantile) -> Option<u64> {
        self.bounds
            .iter()
            .filter(|b| b.quantile == quantile)
            .map(|b| b.limit_us)
            .min()
    }

    /// As the report says it: `p99 <= 1000 µs, error rate <= 0`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Quantile::ALL
            .into_iter()
            .filter_map(|q| self.limit(q).map(|l| format!("{} <= {l} µs", q.name())))
            .collect();
        parts.push(format!("error rate <= {}", self.max_error_rate));
        parts.join(", ")
    }

    /// The JSON report's `find_max.slo`.
    pub fn json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for q in Quantile::ALL {
            map.insert(q.key().to_owned(), json!(self.limit(q)));
        }
        map.insert("max_error_rate".to_owned(), json!(self.max_error_rate));
        Value::Object(map)
    }
}

/// What the search says after a step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Try this rate.
    Try(f64),
    /// The search is over: the highest rate that met the SLO, if any did.
    Done(Option<f64>),
}

/// The search policy: grow the rate by [`GROWTH`] while every step meets the SLO (shrink it
/// while none does), then bisect between the best rate met and the lowest that failed until
/// they are within [`PRECISION`]; at most `max_steps` steps.
#[derive(Debug, Clone)]
pub struct Search {
    max_steps: u32,
    tried: u32,
    /// The highest rate that met the SLO.
    good: Option<f64>,
    /// The lowest rate that did not.
    bad: Option<f64>,
}

impl Search {
    /// A search of at most `max_steps` steps.
    pub fn new(max_steps: u32) -> Search {
        Search {
            max_steps,
            tried: 0,
            good: None,
            bad: None,
        }
    }

    /// The step at `rate` met the SLO or not: what next.
    pub fn record(&mut self, rate: f64, met: bool) -> Next {
        self.tried += 1;
        if met {
            self.good = Some(self.good.map_or(rate, |g| g.max(rate)));
        } else {
            self.bad = Some(self.bad.map_or(rate, |b| b.min(rate)));
        }
        if self.tried >= self.max_steps {
            return Next::Done(self.good);
        }
        match (self.good, self.bad) {
            (Some(good), None) if good * GROWTH <= MAX_RATE => Next::Try(good * GROWTH),
            (None, Some(bad)) if bad / GROWTH >= MIN_RATE => Next::Try(bad / GROWTH),
            (Some(good), Some(bad)) if bad > good * (1.0 + PRECISION) => {
                Next::Try((good + bad) / 2.0)
            }
            _ => Next::Done(self.good),
        }
    }
}

/// What the main thread must do for the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Set the rate (messages per second, all workers together) from now on.
    SetRate(f64),
    /// The search is over: end the run.
    Stop,
}

/// The step under way, as a live view shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepNow {
    /// Its rate (messages per second).
    pub rate: f64,
    /// The second of the run it began in.
    pub start_s: u64,
    /// The first second measured (the ones before are its warm-up).
    pub measured_from_s: u64,
    /// Measured a second time: it was not steady the first time.
    pub extended: bool,
}

/// How one step went.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// The rate set (messages per second).
    pub target: f64,
    /// Answers per second over the measured seconds.
    pub achieved: f64,
    /// Corrected latencies of the measured seconds.
    pub latency: Summary,
    /// Errors and unsent messages over the measured seconds.
    pub errors: u64,
    /// `errors` over answers and errors.
    pub error_rate: f64,
    /// It reached a steady state.
    pub steady: bool,
    /// Steady and within the SLO.
    pub met: bool,
    /// It was measured a second time (the first time it was not steady).
    pub extended: bool,
    /// The second of the run in which it began.
    pub start_s: u64,
    /// Its seconds, warm-up included.
    pub duration_s: u64,
}

impl StepResult {
    /// One entry of the JSON report's `find_max.steps`.
    pub fn json(&self) -> Value {
        json!({
            "target_msgs_per_s": self.target,
            "achieved_msgs_per_s": self.achieved,
            "p50_us": self.latency.p50,
            "p99_us": self.latency.p99,
            "p99_9_us": self.latency.p99_9,
            "max_us": self.latency.max,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "steady": self.steady,
            "met": self.met,
            "extended": self.extended,
            "duration_s": self.duration_s,
            "start_s": self.start_s,
        })
    }
}

/// The step under way.
#[derive(Debug)]
struct Step {
    rate: f64,
    /// The second its rate was set in.
    start: u64,
    /// The first second measured.
    window_start: u64,
    extended: bool,
    counts: Counts,
    hist: Histogram<u64>,
    first_half: Histogram<u64>,
    second_half: Histogram<u64>,
    /// The median of the second before the measured ones.
    before_p50: u64,
}

impl Step {
    fn new(rate: f64, start: u64, window_start: u64) -> Step {
        Step {
            rate,
            start,
            window_start,
            extended: false,
            counts: Counts::default(),
            hist: new_histogram(),
            first_half: new_histogram(),
            second_half: new_histogram(),
            before_p50: 0,
        }
    }

    /// Measures again from `window_start`.
    fn extend(&mut self, window_start: u64) {
        *self = Step {
            extended: true,
            ..Step::new(self.rate, self.start, window_start)
        };
    }
}

/// The search as it runs: told each completed second, it judges steps and says what to do.
#[derive(Debug)]
pub struct FindMax {
    slo: Slo,
    warmup_s: u64,
    measure_s: u64,
    reconnect: bool,
    search: Search,
    step: Option<Step>,
    steps: Vec<StepResult>,
    /// The measured seconds, as (first, count).
    windows: Vec<(u64, u64)>,
    /// `Some` once the search is over: its answer.
    answer: Option<Option<f64>>,
    /// The median of the last completed second.
    last_p50: u64,
}

impl FindMax {
    /// A search for `slo` from `start_rate`, whose first step begins at second 0; each step
    /// warms up `warmup` and is measured `measure` (whole seconds, at least one each); at most
    /// `max_steps` steps. `reconnect`: connection errors are not errors (`--reconnect`).
    pub fn new(
        slo: Slo,
        start_rate: f64,
        warmup: Duration,
        measure: Duration,
        max_steps: u32,
        reconnect: bool,
    ) -> FindMax {
        let warmup_s = warmup.as_secs().max(1);
        FindMax {
            slo,
            warmup_s,
            measure_s: measure.as_secs().max(1),
            reconnect,
            search: Search::new(max_steps),
            step: Some(Step::new(start_rate, 0, warmup_s)),
            steps: Vec::new(),
            windows: Vec::new(),
            answer: None,
            last_p50: 0,
        }
    }

    /// Second `index` of the run is complete, `now` after the start: judges the step it ends,
    /// if it does, and says what to do next (at once: a new rate starts in the second under
    /// way, or in the next one if less than half of this one is left, so that its warm-up is
    /// never shorter than asked).
    pub fn on_second(
        &mut self,
        index: usize,
        second: &Second,
        hists: &Hists,
        now: Duration,
    ) -> Option<Action> {
        let index = index as u64;
        let last_p50 = std::mem::replace(&mut self.last_p50, second.latency.p50);
        let step = self.step.as_mut()?;
        if index < step.window_start {
            return None;
        }
        if index == step.window_start {
            step.before_p50 = last_p50;
        }
        let pos = index - step.window_start;
        step.counts.add(&second.counts);
        let _ = step.hist.add(&hists.corrected);
        let half = if pos < self.measure_s / 2 {
            &mut step.first_half
        } else {
            &mut step.second_half
        };
        let _ = half.add(&hists.corrected);
        if pos + 1 < self.measure_s {
            return None;
        }
        self.windows.push((step.window_start, self.measure_s));
        let result = self.judge(index);
        let step = self.step.as_mut().expect("a step is under way");
        if !result.steady
            && !step.extended
            && self.slo.latency_met(&result.latency)
            && result.error_rate <= self.slo.max_error_rate
        {
            step.extend(index + 1);
            return None;
        }
        let rate = step.rate;
        self.steps.push(result.clone());
        match self.search.record(rate, result.met) {
            Next::Try(next) => {
                let late_in_second = now.subsec_millis() >= 500;
                let start = (index + 1).max(now.as_secs() + u64::from(late_in_second));
                self.step = Some(Step::new(next, start, start + self.warmup_s));
                Some(Action::SetRate(next))
            }
            Next::Done(answer) => {
                self.step = None;
                self.answer = Some(answer);
                Some(Action::Stop)
            }
        }
    }

    /// The result of the step under way, whose last measured second is `index`.
    fn judge(&self, index: u64) -> StepResult {
        let step = self.step.as_ref().expect("a step is under way");
        let m = self.measure_s as f64;
        let c = &step.counts;
        let target = c.scheduled as f64 / m;
        let achieved = c.completed as f64 / m;
        let errors = c.errors(self.reconnect) + c.unsent;
        let error_rate = match c.completed + errors {
            0 => 0.0,
            all => errors as f64 / all as f64,
        };
        let latency = Summary::of(&step.hist);
        let (before, after) = if self.measure_s >= 2 {
            (
                step.first_half.value_at_quantile(0.5),
                step.second_half.value_at_quantile(0.5),
            )
        } else {
            (step.before_p50, latency.p50)
        };
        let climbing = after as f64 > CLIMB_FACTOR * before as f64 + self.slo.climb_slack_us();
        let steady = c.completed > 0 && achieved >= RATE_REACHED * target && !climbing;
        let met = steady && self.slo.latency_met(&latency) && error_rate <= self.slo.max_error_rate;
        StepResult {
            target: step.rate,
            achieved,
            latency,
            errors,
            error_rate,
            steady,
            met,
            extended: step.extended,
            start_s: step.start,
            duration_s: index + 1 - step.start,
        }
    }

    /// The step under way, if the search goes on (for a live view).
    pub fn step_now(&self) -> Option<StepNow> {
        self.step.as_ref().map(|s| StepNow {
            rate: s.rate,
            start_s: s.start,
            measured_from_s: s.window_start,
            extended: s.extended,
        })
    }

    /// The search so far (complete once it said [`Action::Stop`]).
    pub fn result(&self) -> FindMaxResult {
        FindMaxResult {
            slo: self.slo.clone(),
            finished: self.answer.is_some(),
            answer: self.answer.flatten(),
            steps: self.steps.clone(),
            windows: self.windows.clone(),
            warmup_s: self.warmup_s,
            measure_s: self.measure_s,
            max_steps: self.search.max_steps,
        }
    }
}

/// How a `--find-max` run went.
#[derive(Debug, Clone, PartialEq)]
pub struct FindMaxResult {
    /// The target.
    pub slo: Slo,
    /// The search came to its end (it did not stop because the run did).
    pub finished: bool,
    /// The highest rate whose steady state met the SLO.
    pub answer: Option<f64>,
    /// Every step judged, in order.
    pub steps: Vec<StepResult>,
    /// The measured seconds, as (first, count); the others were warm-up.
    pub windows: Vec<(u64, u64)>,
    /// Each step's warm-up, in seconds.
    pub warmup_s: u64,
    /// Each step's measurement, in seconds.
    pub measure_s: u64,
    /// The most steps.
    pub max_steps: u32,
}

impl FindMaxResult {
    /// A rate meeting the SLO was found.
    pub fn found(&self) -> bool {
        self.finished && self.answer.is_some()
    }

    /// Whether second `i` was measured by a step.
    pub fn measured(&self, i: u64) -> bool {
        self.windows
            .iter()
            .any(|&(first, n)| (first..first + n).contains(&i))
    }

    /// The JSON report's `find_max`.
    pub fn json(&self) -> Value {
        json!({
            "slo": self.slo.json(),
            "found": self.found(),
            "answer_msgs_per_s": self.answer.filter(|_| self.finished),
            "step_warmup_s": self.warmup_s,
            "step_measure_s": self.measure_s,
            "max_steps": self.max_steps,
            "steps": self.steps.iter().map(StepResult::json).collect::<Vec<Value>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::series::Summary;

    /// Runs the search against a server that meets the SLO up to `capacity`; returns the
    /// rates tried and the answer.
    fn search(start: f64, capacity: f64, max_steps: u32) -> (Vec<f64>, Option<f64>) {
        let mut s = Search::new(max_steps);
        let mut rate = start;
        let mut tried = Vec::new();
        loop {
            tried.push(rate);
            match s.record(rate, rate <= capacity) {
                Next::Try(r) => rate = r,
                Next::Done(answer) => return (tried, answer),
            }
        }
    }

    /// Grows while the SLO is met, then bisects to within the precision.
    #[test]
    fn grows_then_bisects() {
        let (tried, answer) = search(1000.0, 5000.0, 20);
        assert_eq!(tried[..4], [1000.0, 2000.0, 4000.0, 8000.0]);
        assert_eq!(tried[4], 6000.0);
        let answer = answer.expect("found");
        assert!(
            (5000.0 / 1.05..=5000.0).contains(&answer),
            "{answer} {tried:?}"
        );
        assert!(tried.len() <= 10, "{tried:?}");
    }

    /// Shrinks while nothing meets the SLO; gives up below the lowest rate.
    #[test]
    fn shrinks_then_gives_up() {
        let (tried, answer) = search(1000.0, 300.0, 20);
        assert_eq!(tried[..3], [1000.0, 500.0, 250.0]);
        assert!((300.0 / 1.05..=300.0).contains(&answer.expect("found")));
        let (tried, answer) = search(4.0, 0.5, 20);
        assert_eq!(tried, [4.0, 2.0, 1.0]);
        assert_eq!(answer, None);
    }

    /// Never more steps than allowed; the answer is the best met so far.
    #[test]
    fn bounded_steps() {
        let (tried, answer) = search(1000.0, 1e9, 3);
        assert_eq!(tried, [1000.0, 2000.0, 4000.0]);
        assert_eq!(answer, Some(4000.0));
        let (tried, answer) = search(1000.0, 1.0, 1);
        assert_eq!((tried.len(), answer), (1, None));
    }

    /// SLO bounds parse and are judged; the tightest of two on one percentile counts.
    #[test]
    fn slo_bounds() {
        assert_eq!(
            SloBound::parse("p99=1ms"),
            Ok(SloBound {
                quantile: Quantile::P99,
                limit_us: 1000
            })
        );
        assert_eq!(SloBound::parse("p99.9=250us").map(|b| b.limit_us), Ok(250));
        for bad in ["p99", "p98=1ms", "p99=fast", "p50=0", "=1ms", "p99=100ns"] {
            assert!(SloBound::parse(bad).is_err(), "{bad}");
        }
        let slo = Slo {
            bounds: vec![
                SloBound::parse("p99=2ms").expect("valid"),
                SloBound::parse("p99=1ms").expect("valid"),
                SloBound::parse("p50=300us").expect("valid"),
            ],
            max_error_rate: 0.0,
        };
        let fine = Summary {
            p50: 300,
            p99: 1000,
            ..Summary::default()
        };
        assert!(slo.latency_met(&fine));
        assert!(!slo.latency_met(&Summary { p99: 1001, ..fine }));
        assert!(!slo.latency_met(&Summary { p50: 301, ..fine }));
        assert_eq!(slo.json()["p99_us"], 1000);
        assert!(slo.json()["p90_us"].is_null());
        assert_eq!(
            slo.describe(),
            "p50 <= 300 µs, p99 <= 1000 µs, error rate <= 0"
        );
    }

    /// A second as the series completes it: `scheduled` due, `completed` answered, every
    /// answer at `latency_us`.
    fn second(scheduled: u64, completed: u64, latency_us: u64) -> (Second, Hists) {
        let mut hists = Hists::new();
        if completed > 0 {
            hists
                .corrected
                .record_n(latency_us, completed)
                .expect("in range");
        }
        let second = Second {
            counts: Counts {
                scheduled,
                completed,
                ..Counts::default()
            },
            open_connections: 1,
            latency: Summary::of(&hists.corrected),
            latency_uncorrected: Summary::of(&hists.corrected),
            hist: String::new(),
            hist_uncorrected: String::new(),
        };
        (second, hists)
    }

    fn slo_p99(us: u64) -> Slo {
        Slo {
            bounds: vec![SloBound {
                quantile: Quantile::P99,
                limit_us: us,
            }],
            max_error_rate: 0.0,
        }
    }

    /// Feeds seconds to `f` from `index`; returns the actions it took.
    fn feed(f: &mut FindMax, index: &mut usize, seconds: &[(u64, u64, u64)]) -> Vec<Action> {
        let mut actions = Vec::new();
        for &(s, c, l) in seconds {
            let (second, hists) = second(s, c, l);
            let now = Duration::from_secs(*index as u64 + 1) + Duration::from_millis(3);
            actions.extend(f.on_second(*index, &second, &hists, now));
            *index += 1;
        }
        actions
    }

    /// Steps warm up, are measured, met steps grow the rate; a step over the SLO ends the
    /// growth and a bisection follows; the warm-up seconds are not judged.
    #[test]
    fn steps_are_judged_on_their_measured_seconds() {
        let secs = |n| Duration::from_secs(n);
        let mut f = FindMax::new(slo_p99(1000), 100.0, secs(1), secs(2), 3, false);
        let mut i = 0;
        // Step 1 at 100/s: second 0 warms up (terrible latency, not judged), 1-2 measured.
        assert_eq!(feed(&mut f, &mut i, &[(100, 100, 90_000)]), []);
        let actions = feed(&mut f, &mut i, &[(100, 100, 200), (100, 100, 210)]);
        assert_eq!(actions, [Action::SetRate(200.0)]);
        // Step 2 at 200/s: met.
        let actions = feed(
            &mut f,
            &mut i,
            &[(200, 200, 500), (200, 200, 300), (200, 200, 300)],
        );
        assert_eq!(actions, [Action::SetRate(400.0)]);
        // Step 3 at 400/s: steady but over the SLO; the third step ends the search.
        let actions = feed(
            &mut f,
            &mut i,
            &[(400, 400, 1), (400, 400, 5000), (400, 400, 5000)],
        );
        assert_eq!(actions, [Action::Stop]);
        let r = f.result();
        assert!(r.found());
        assert_eq!(r.answer, Some(200.0));
        let met: Vec<(bool, bool)> = r.steps.iter().map(|s| (s.steady, s.met)).collect();
        assert_eq!(met, [(true, true), (true, true), (true, false)]);
        assert_eq!(r.steps[1].start_s, 3);
        assert_eq!(r.steps[1].duration_s, 3);
        assert_eq!(r.windows, [(1, 2), (4, 2), (7, 2)]);
        assert!(!r.measured(3) && r.measured(4));
        assert!(r.steps[2].latency.p99 >= 5000, "{:?}", r.steps[2]);
        assert_eq!(r.json()["steps"][2]["p99_us"], r.steps[2].latency.p99);
        assert_eq!(r.json()["answer_msgs_per_s"], 200.0);
    }

    /// A step whose achieved rate falls short of the schedule is not steady: rejected at once
    /// when over the SLO, never trusted.
    #[test]
    fn falling_short_is_not_steady() {
        let secs = |n| Duration::from_secs(n);
        let mut f = FindMax::new(slo_p99(1000), 100.0, secs(1), secs(1), 1, false);
        let mut i = 0;
        let actions = feed(&mut f, &mut i, &[(100, 100, 200), (100, 80, 2000)]);
        assert_eq!(actions, [Action::Stop]);
        let r = f.result();
        assert!(!r.steps[0].steady && !r.steps[0].met && !r.steps[0].extended);
        assert!(!r.found());
    }

    /// Latency climbing through a step that met the SLO extends it once; still climbing, it
    /// is rejected.
    #[test]
    fn climbing_latency_extends_then_rejects() {
        let secs = |n| Duration::from_secs(n);
        let mut f = FindMax::new(slo_p99(100_000), 100.0, secs(1), secs(2), 1, false);
        let mut i = 0;
        let actions = feed(
            &mut f,
            &mut i,
            &[(100, 100, 100), (100, 100, 20_000), (100, 100, 90_000)],
        );
        assert_eq!(actions, [], "extended, not judged");
        let actions = feed(&mut f, &mut i, &[(100, 100, 200_000), (100, 100, 600_000)]);
        assert_eq!(actions, [Action::Stop]);
        let r = f.result();
        assert_eq!(r.steps.len(), 1);
        let step = &r.steps[0];
        assert!(step.extended && !step.steady && !step.met, "{step:?}");
        assert_eq!(step.duration_s, 5);
        assert!(!r.found());
        // A step that settles in its extension is trusted.
        let mut f = FindMax::new(slo_p99(100_000), 100.0, secs(1), secs(2), 1, false);
        let mut i = 0;
        feed(
            &mut f,
            &mut i,
            &[(100, 100, 100), (100, 100, 20_000), (100, 100, 90_000)],
        );
        feed(&mut f, &mut i, &[(100, 100, 90_000), (100, 100, 90_000)]);
        assert!(f.result().found(), "{:?}", f.result().steps);
    }

    /// A decision made late in a second starts the next step in the second after, so its
    /// warm-up is whole.
    #[test]
    fn a_late_decision_starts_in_the_next_second() {
        let secs = |n| Duration::from_secs(n);
        let mut f = FindMax::new(slo_p99(1000), 100.0, secs(1), secs(1), 3, false);
        let (s0, h0) = second(100, 100, 200);
        assert_eq!(f.on_second(0, &s0, &h0, secs(1)), None);
        let late = Duration::from_millis(2700);
        assert_eq!(f.on_second(1, &s0, &h0, late), Some(Action::SetRate(200.0)));
        // The step starts in second 3: seconds 2 and 3 are not measured, 4 is.
        assert_eq!(f.on_second(2, &s0, &h0, secs(3)), None);
        assert_eq!(f.on_second(3, &s0, &h0, secs(4)), None);
        assert_eq!(
            f.on_second(4, &s0, &h0, secs(5)),
            Some(Action::SetRate(400.0))
        );
        assert_eq!(f.result().steps[1].start_s, 3);
        assert_eq!(f.result().windows, [(1, 1), (4, 1)]);
    }
}
