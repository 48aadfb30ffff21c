//! The final report of `shout bench`, from the series the workers reported: its verdict
//! (an [`Outcome`], from [`Verdict`]), a table on stdout, JSON (`--json`, version 2: the
//! histograms travel whole, encoded, so runs can be merged) and the HTML report.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{json, Value};

use super::args::{BenchArgs, Length};
use super::failure::Failures;
use super::findmax::FindMaxResult;
use super::outputs::Prepared;
use super::profile::{RateProfile, RateSpec};
use super::schedule::STEP;
use super::series::{late_sends, Counts, Hists, Second, Series, Summary};
use super::verdict::{Facts, Stopped, Verdict};
use crate::histcodec;
use crate::outcome::Outcome;
use crate::sys::print_stdout;

pub use super::profile::RATE_REACHED;

mod table;

/// The version of the JSON report (version 1 had no `schema` field).
pub const SCHEMA: u64 = 2;

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    args: BenchArgs,
    threads: u64,
    warmup_seconds: Duration,
    /// From the end of the warm-up to the last measured answer.
    elapsed: Duration,
    /// Open loop: from the end of the warm-up to the last message that fell due.
    scheduled_window: Duration,
    total: Counts,
    /// Why connections failed, by reason.
    failures: Failures,
    hists: Hists,
    seconds: Vec<Second>,
    cpu: Duration,
    /// Every worker sent its final report.
    complete: bool,
    /// Wall-clock time of the start.
    started_at: SystemTime,
    /// Open loop: the rates (`--find-max`: the first one).
    profile: Option<RateProfile>,
    /// `--find-max`: how the search went.
    find_max: Option<FindMaxResult>,
    /// TLS: from the start of the first handshake to the end of the last one.
    handshake_window: Duration,
    /// Stopped early: when and by what.
    stopped: Option<Stopped>,
}

const MIB: f64 = (1u64 << 20) as f64;

impl Report {
    /// The report of a run of `args` that started at `start` (`started_at` on the wall
    /// clock), from what the workers reported; `cpu` is the process's CPU time over the run,
    /// on `threads` worker threads; `find_max`: how the search went, if it was one.
    pub fn new(
        args: &BenchArgs,
        series: Series,
        start: Instant,
        started_at: SystemTime,
        cpu: Duration,
        threads: u64,
        find_max: Option<FindMaxResult>,
    ) -> Report {
        let warmup = args.effective_warmup();
        let warmup_end = start + warmup;
        let elapsed = series
            .last_completion
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(warmup_end));
        let scheduled_window = match args.length() {
            Length::Duration(d) if !args.find_max => d,
            _ => series
                .last_due
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(warmup_end)),
        };
        let handshake_window = series
            .handshake_window
            .map_or(Duration::ZERO, |(first, last)| {
                last.saturating_duration_since(first)
            });
        Report {
            handshake_window,
            args: args.clone(),
            threads,
            warmup_seconds: warmup,
            elapsed,
            scheduled_window,
            complete: series.complete(),
            total: series.total,
            failures: series.failures,
            hists: series.hists,
            seconds: series.seconds,
            cpu,
            started_at,
            // Checked before the run started.
            profile: args.rate_profile().ok().flatten(),
            find_max,
            stopped: None,
        }
    }

    /// Whether every message got its exact answer.
    pub fn answers_ok(&self) -> bool {
        self.complete && self.total.errors(self.args.reconnect) == 0
    }

    /// The verdict: how the run ended and the line that says why (see [`Verdict::of`]).
    /// `--find-max`: a success when a rate meeting the SLO was found and no answer was wrong
    /// (timeouts are expected on the steps beyond the answer); a search stopped before its end
    /// exits 128 + the signal, as any stopped run, unless connections could not be set up or
    /// answers were wrong.
    pub fn verdict(&self) -> Verdict {
        let t = &self.total;
        let Some(f) = &self.find_max else {
            return Verdict::of(&Facts {
                setup_failed: t.setup_failures > 0,
                complete: self.complete,
                errors: t.errors(self.args.reconnect),
                sent: t.sent,
                scheduled: self.open_loop().then_some(t.scheduled),
                unsent: t.unsent,
                stopped: self.stopped,
            });
        };
        let wrong = t.mismatches + t.short;
        let answers_ok = wrong == 0 && self.complete;
        // A search stopped before its end exits as any stopped run does (128 + the signal),
        // unless connections could not be set up or answers were wrong.
        if let Some(s) = self.stopped.filter(|_| !f.finished) {
            if answers_ok && t.setup_failures == 0 {
                return Verdict {
                    outcome: Outcome::Stopped(s.cause.signal()),
                    text: format!(
                        "STOPPED early {}: the run ended before the search did",
                        s.describe()
                    ),
                };
            }
        }
        let outcome = Outcome::of_bench(f.found() && answers_ok, t.setup_failures > 0);
        let text = match outcome {
            Outcome::UsageOrConnect => "FAILED: connections could not be set up".to_owned(),
            Outcome::Success => format!(
                "OK: {:.0} msgs/s meets the SLO",
                f.answer.unwrap_or_default()
            ),
            _ if f.found() => "FAILED: some answers were wrong or missing".to_owned(),
            _ if !f.finished => "FAILED: the run ended before the search did".to_owned(),
            _ => "FAILED: no rate tried met the SLO".to_owned(),
        };
        let stop_note = self.stopped.map_or(String::new(), |s| {
            format!(" (stopped early {})", s.describe())
        });
        Verdict {
            outcome,
            text: text + &stop_note,
        }
    }

    /// How the run ended.
    pub fn outcome(&self) -> Outcome {
        self.verdict().outcome
    }

    /// When and why the run was stopped early, if it was.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }

    /// The same report, of a run stopped early as `stopped` says: its timetable ended then.
    pub fn with_stop(mut self, stopped: Option<Stopped>) -> Report {
        if let Some(s) = stopped {
            let ran = s.at.saturating_sub(self.warmup_seconds);
            self.scheduled_window = self.scheduled_window.min(ran);
        }
        self.stopped = stopped;
        self
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.outcome().exit_code()
    }

    /// The counters of the whole run.
    pub fn counts(&self) -> &Counts {
        &self.total
    }

    /// Why connections failed or died, by reason.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }

    /// The latency histograms of the whole run.
    pub fn hists(&self) -> &Hists {
        &self.hists
    }

    /// `--find-max`: how the search went.
    pub fn find_max(&self) -> Option<&FindMaxResult> {
        self.find_max.as_ref()
    }

    /// Whether the run was open loop.
    pub fn open_loop(&self) -> bool {
        self.profile.is_some()
    }

    /// Latency at quantile `q` (0 to 1), in microseconds, of measured messages (corrected).
    pub fn latency_us(&self, q: f64) -> u64 {
        self.hists.corrected.value_at_quantile(q)
    }

    fn per_second(&self, v: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            v as f64 / secs
        } else {
            0.0
        }
    }

    /// Achieved rate of measured messages.
    pub fn msgs_per_sec(&self) -> f64 {
        self.per_second(self.total.measured)
    }

    /// Open loop: the rate asked for after the warm-up: a constant rate as given, else the
    /// messages that fell due after the warm-up over the time they fell due in (a profile's
    /// mean rate; `--find-max`: of all its steps).
    pub fn target_rate(&self) -> Option<f64> {
        match self.profile.as_ref()? {
            RateProfile::Constant(r) if self.find_max.is_none() => Some(*r),
            _ => {
                let secs = self.scheduled_window.as_secs_f64();
                Some(if secs > 0.0 {
                    self.total.measured_scheduled as f64 / secs
                } else {
                    0.0
                })
            }
        }
    }

    /// Open loop: whether the achieved rate is within 5% of the target ([`RATE_REACHED`]; for
    /// a profile, of its mean rate: the messages scheduled), with every message due sent and
    /// no connection failed or lost (a rate held by fewer connections than asked for is not
    /// the load that was asked for). `None` in closed loop and for `--find-max` (whose steps
    /// each say whether they reached theirs).
    pub fn rate_reached(&self) -> Option<bool> {
        if self.find_max.is_some() {
            return None;
        }
        let t = &self.total;
        let connections_held = t.connect_failures == 0 && t.conn_errors == 0;
        self.target_rate().map(|r| {
            self.msgs_per_sec() >= RATE_REACHED * r
                && t.unsent == 0
                && connections_held
                && self.complete
        })
    }

    /// Whether the run spoke TLS.
    pub fn tls(&self) -> bool {
        self.args.tls.enabled()
    }

    /// TLS: handshakes completed per second, over the time from the start of the first to
    /// the end of the last (0 if none completed).
    pub fn handshakes_per_sec(&self) -> f64 {
        let secs = self.handshake_window.as_secs_f64();
        if secs > 0.0 {
            self.total.handshakes as f64 / secs
        } else {
            0.0
        }
    }

    /// The JSON report's `tls` (`null` without TLS).
    fn tls_json(&self) -> Value {
        if !self.tls() {
            return Value::Null;
        }
        let h = Summary::of(&self.hists.handshake);
        json!({
            "handshakes": self.total.handshakes,
            "failures": self.total.handshake_failures,
            "per_s": self.handshakes_per_sec(),
            "window_s": self.handshake_window.as_secs_f64(),
            "latency_us": {
                "count": h.count,
                "min": h.min,
                "mean": h.mean,
                "p50": h.p50,
                "p90": h.p90,
                "p99": h.p99,
                "max": h.max,
            },
            "latency_from": "connected",
            "histogram": histcodec::encode(&self.hists.handshake),
        })
    }

    fn cpu_per_million(&self) -> f64 {
        if self.total.completed == 0 {
            0.0
        } else {
            self.cpu.as_secs_f64() * 1e6 / self.total.completed as f64
        }
    }

    /// Writes the table (unless JSON goes to stdout), the JSON and the HTML report into the
    /// files `files` created before the run (the histogram log is written as the run goes). A
    /// closed stdout drops the table quietly; the files are written all the same.
    pub fn write_outputs(&self, args: &BenchArgs, files: Prepared) -> anyhow::Result<()> {
        let stdout = match args.json.as_deref() {
            Some("-") => serde_json::to_string_pretty(&self.json())? + "\n",
            _ => self.table(),
        };
        print_stdout(&stdout).context("cannot write the report to standard output")?;
        if let (Some(mut file), Some(path)) = (files.json, args.json.as_deref()) {
            let text = serde_json::to_string_pretty(&self.json())? + "\n";
            file.write_all(text.as_bytes())
                .with_context(|| format!("cannot write the JSON report to {path}"))?;
        }
        if let (Some(mut file), Some(path)) = (files.report, &args.report) {
            let page = crate::report::html_page(&self.json(), path)?;
            file.write_all(page.as_bytes())
                .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
        }
        Ok(())
    }

    /// The JSON report (fields documented in docs/bench.md, "JSON report").
    pub fn json(&self) -> Value {
        let t = &self.total;
        let secs = |d: Duration| d.as_secs_f64();
        json!({
            "schema": SCHEMA,
            "label": self.args.label,
            "started_at_unix_s": self
                .started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            "config": self.config_json(),
            "elapsed_s": secs(self.elapsed),
            "throughput": self.throughput_json(),
            "open_loop": self.open_loop_json(),
            "rate_profile": self.profile.as_ref().map(RateProfile::json),
            "latency_us": summary_json(&Summary::of(&self.hists.corrected)),
            "latency_uncorrected_us": summary_json(&Summary::of(
                self.hists.uncorrected_or_corrected(self.open_loop()),
            )),
            "schedule_lag_us": self.schedule_lag_json(),
            "histograms": self.histograms_json(),
            "messages": {
                "sent": t.sent,
                "answered": t.completed,
                "measured": t.measured,
                "late": t.late,
                "resent": t.resent,
                "unsent": t.unsent,
            },
            "errors": self.errors_json(),
            "connections": {
                "opened": t.opened,
                "failed": t.connect_failures,
                "reopened": t.reopened,
            },
            "tls": self.tls_json(),
            "cpu": {
                "client_s": secs(self.cpu),
                "client_s_per_million_msgs": self.cpu_per_million(),
            },
            "find_max": self.find_max.as_ref().map(FindMaxResult::json),
            "ok": self.outcome() == Outcome::Success,
            "exit_code": self.exit_code(),
            "verdict": self.verdict().text,
            "stopped": self.stopped.map(|s| json!({
                "at_s": s.at.as_secs_f64(),
                "by": s.cause.name(),
            })),
            "series": self.series_json(),
        })
    }

    /// The JSON report's `throughput`: of the measured messages, over the measured time.
    fn throughput_json(&self) -> Value {
        let t = &self.total;
        json!({
            "msgs_per_s": self.msgs_per_sec(),
            "mib_per_s_out": self.per_second(t.measured_bytes_out) / MIB,
            "mib_per_s_in": self.per_second(t.measured_bytes_in) / MIB,
        })
    }

    /// The JSON report's `open_loop`: the rate asked for and the one achieved (`null` in
    /// closed loop).
    fn open_loop_json(&self) -> Value {
        self.target_rate().map_or(Value::Null, |r| {
            json!({
                "target_msgs_per_s": r,
                "achieved_msgs_per_s": self.msgs_per_sec(),
                "reached": self.rate_reached(),
                "scheduled": self.total.measured_scheduled,
            })
        })
    }

    /// The JSON report's `schedule_lag_us`: how late messages left (`null` in closed loop).
    fn schedule_lag_json(&self) -> Value {
        if !self.open_loop() {
            return Value::Null;
        }
        let lag = Summary::of(&self.hists.lag);
        json!({
            "count": lag.count,
            "late": late_sends(&self.hists.lag),
            "mean": lag.mean,
            "p50": lag.p50,
            "p99": lag.p99,
            "max": lag.max,
        })
    }

    /// The JSON report's `histograms`: the whole run's, encoded, so runs can be merged.
    fn histograms_json(&self) -> Value {
        let open_loop = self.open_loop();
        json!({
            "encoding": histcodec::ENCODING,
            "latency_us": histcodec::encode(&self.hists.corrected),
            "latency_uncorrected_us": histcodec::encode(
                self.hists.uncorrected_or_corrected(open_loop),
            ),
            "schedule_lag_us": open_loop.then(|| histcodec::encode(&self.hists.lag)),
        })
    }

    /// The JSON report's `errors`: the counts by kind, why connections failed or closed, and
    /// the hints.
    fn errors_json(&self) -> Value {
        let t = &self.total;
        json!({
            "mismatches": t.mismatches,
            "short_answers": t.short,
            "timeouts": t.timeouts,
            "connection_errors": t.conn_errors,
            "connect_failures": t.connect_failures,
            "connect_failure_reasons": self.failures.connect.json(),
            "connection_error_reasons": self.failures.closed.json(),
            "hints": self.failures.hints(),
        })
    }

    /// The JSON report's `config`: the options of the run.
    fn config_json(&self) -> Value {
        let a = &self.args;
        let secs = |d: Duration| d.as_secs_f64();
        // A number for one rate (the first one of --find-max), the text of a profile.
        let rate = match (&a.rate, &self.profile) {
            (Some(RateSpec::Constant(r)), _) => json!(r),
            (Some(spec), _) => json!(spec.to_string()),
            (None, Some(p)) => json!(p.first()),
            (None, None) => Value::Null,
        };
        json!({
            "addrs": a.addrs,
            "connections": a.connections,
            "duration_s": a.duration.map(secs),
            "messages": a.messages,
            "size": a.size,
            "pipeline": a.pipeline,
            "rate": rate,
            "ramp_s": a.ramp.map(secs),
            "step_s": a.step.map(secs),
            "find_max": a.find_max,
            "warmup_s": secs(a.warmup),
            "connect_rate": a.connect_rate,
            "mode": a.mode.as_str(),
            "reconnect": a.reconnect,
            "timeout_s": secs(a.timeout),
            "threads": self.threads,
            "seed": a.seed,
            "open_loop_tick_s": secs(STEP),
            "tls": a.tls.enabled(),
        })
    }

    /// Whether second `i` is left out of the figures: the warm-up (`--find-max`: not
    /// measured by a step).
    fn warmup_second(&self, i: usize) -> bool {
        match &self.find_max {
            Some(f) => !f.measured(i as u64),
            None => Duration::from_secs(i as u64 + 1) <= self.warmup_seconds,
        }
    }

    /// The JSON report's `series`: one entry a second.
    fn series_json(&self) -> Vec<Value> {
        let reconnect = self.args.reconnect;
        let open_loop = self.open_loop();
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let c = &s.counts;
                json!({
                    "second": i,
                    "warmup": self.warmup_second(i),
                    "sent": c.sent,
                    "answered": c.completed,
                    "measured": c.measured,
                    "errors": c.errors(reconnect),
                    "p50_us": s.latency.p50,
                    "p99_us": s.latency.p99,
                    "max_us": s.latency.max,
                    "target_msgs_per_s": open_loop.then_some(c.scheduled),
                    "timeouts": c.timeouts,
                    "mismatches": c.mismatches,
                    "short_answers": c.short,
                    "connection_errors": c.conn_errors,
                    "connect_failures": c.connect_failures,
                    "unsent": c.unsent,
                    "opened": c.opened,
                    "reopened": c.reopened,
                    "handshakes": c.handshakes,
                    "open_connections": s.open_connections,
                    "hist": s.hist,
                    "hist_uncorrected": s.hist_uncorrected,
                })
            })
            .collect()
    }
}

/// A latency summary as the JSON report gives it.
fn summary_json(s: &Summary) -> Value {
    json!({
        "count": s.count,
        "min": s.min,
        "mean": s.mean,
        "p50": s.p50,
        "p90": s.p90,
        "p99": s.p99,
        "p99_9": s.p99_9,
        "p99_99": s.p99_99,
        "max": s.max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::failure::Reason;
    use crate::bench::series::{Hists, SecondReport};
    use crate::bench::stop::StopCause;
    use rustix::io::Errno;

    /// A report from one worker's final report with `counts`, `failures` and `hists`, its
    /// last answer a second after the start, the last message due `due` after it.
    fn report_with(
        opts: &[&str],
        counts: Counts,
        failures: Failures,
        hists: Hists,
        due: Duration,
    ) -> Report {
        let args = BenchArgs::try_parse_from(opts).expect("valid options");
        let start = Instant::now();
        let mut series = Series::new(1, args.rate.is_some());
        series.add(
            SecondReport {
                worker: 0,
                second: 0,
                counts,
                hists,
                open_connections: 1,
                last_completion: Some(start + Duration::from_secs(1)),
                last_due: Some(start + due),
                failures,
                handshake_window: None,
                last: true,
            },
            |_, _, _| (),
        );
        Report::new(
            &args,
            series,
            start,
            SystemTime::now(),
            Duration::ZERO,
            1,
            None,
        )
    }

    /// A report from one worker's final report with `counts` and `failures`.
    fn report(opts: &[&str], counts: Counts, failures: Failures) -> Report {
        let due = Duration::from_secs(1);
        report_with(opts, counts, failures, Hists::new(), due)
    }

    /// Open loop: the JSON carries both latencies, the lag, the histograms (which decode to
    /// what was recorded), the profile and the label; per second, the scheduled rate and the
    /// histograms.
    #[test]
    fn open_loop_json_has_both_latencies_and_the_lag() {
        let mut hists = Hists::new();
        hists.corrected.record_n(900, 10).expect("in range");
        hists.uncorrected.record_n(300, 10).expect("in range");
        hists.lag.record_n(20, 9).expect("in range");
        hists.lag.record(1500).expect("in range");
        let counts = Counts {
            sent: 10,
            completed: 10,
            measured: 10,
            scheduled: 10,
            measured_scheduled: 10,
            ..Counts::default()
        };
        let opts = ["-r", "10", "-d", "1s", "--label", "run A"];
        let r = report_with(
            &opts,
            counts,
            Failures::default(),
            hists,
            Duration::from_secs(1),
        );
        let json = r.json();
        assert_eq!(json["schema"], 2);
        assert_eq!(json["label"], "run A");
        assert!(json["started_at_unix_s"].as_f64().is_some_and(|t| t > 1e9));
        assert_eq!(json["latency_us"]["p50"], 900);
        assert_eq!(json["latency_uncorrected_us"]["p50"], 300);
        assert_eq!(json["schedule_lag_us"]["late"], 1);
        assert_eq!(json["schedule_lag_us"]["max"], 1500);
        assert_eq!(json["rate_profile"]["kind"], "constant");
        let h = &json["histograms"];
        assert_eq!(h["encoding"], histcodec::ENCODING);
        let lag = histcodec::decode(h["schedule_lag_us"].as_str().expect("text")).expect("decodes");
        assert_eq!((lag.len(), lag.max()), (10, 1500));
        let second = &json["series"][0];
        assert_eq!(second["target_msgs_per_s"], 10);
        assert_eq!(second["open_connections"], 1);
        let hist = histcodec::decode(second["hist_uncorrected"].as_str().expect("text"));
        assert_eq!(hist.expect("decodes").value_at_quantile(0.5), 300);
        let table = r.table();
        assert!(table.contains("uncorrected   min 300"), "{table}");
        assert!(
            table.contains("1 of 10 messages sent more than 1 ms behind"),
            "{table}"
        );
        assert!(table.contains("the schedule ticks every 1 ms"), "{table}");
    }

    /// Closed loop: no lag, and the uncorrected latency is the corrected one.
    #[test]
    fn closed_loop_json_has_no_lag() {
        let mut hists = Hists::new();
        hists.corrected.record_n(700, 4).expect("in range");
        let counts = Counts {
            completed: 4,
            measured: 4,
            ..Counts::default()
        };
        let r = report_with(
            &["-n", "4"],
            counts,
            Failures::default(),
            hists,
            Duration::ZERO,
        );
        let json = r.json();
        assert!(json["schedule_lag_us"].is_null());
        assert!(json["histograms"]["schedule_lag_us"].is_null());
        assert!(json["rate_profile"].is_null());
        assert!(json["label"].is_null());
        assert_eq!(json["latency_uncorrected_us"], json["latency_us"]);
        assert!(json["series"][0]["target_msgs_per_s"].is_null());
        assert!(!r.table().contains("uncorrected"));
    }

    /// A profile's rate is judged against the messages it scheduled: its mean rate.
    #[test]
    fn a_profile_is_judged_against_its_schedule() {
        let counts = |measured| Counts {
            sent: measured,
            completed: measured,
            measured,
            scheduled: 2000,
            measured_scheduled: 2000,
            ..Counts::default()
        };
        let opts = ["--rate", "1000..3000", "--ramp", "1s"];
        let held = report(&opts, counts(1990), Failures::default());
        assert_eq!(held.target_rate(), Some(2000.0));
        assert_eq!(held.rate_reached(), Some(true), "{}", held.table());
        assert!(held
            .table()
            .contains("target 2000 msgs/s (the profile's mean)"));
        assert_eq!(held.json()["config"]["rate"], "1000..3000");
        assert_eq!(held.json()["rate_profile"]["to"], 3000.0);
        let short = report(&opts, counts(1500), Failures::default());
        assert_eq!(short.rate_reached(), Some(false));
    }

    /// Address exhaustion is named, counted and explained, in the table and the JSON.
    #[test]
    fn address_exhaustion_is_explained() {
        let mut failures = Failures::default();
        for _ in 0..3000 {
            failures
                .connect
                .add(Reason::Os(Errno::ADDRNOTAVAIL.raw_os_error()));
        }
        let counts = Counts {
            connect_failures: 3000,
            setup_failures: 3000,
            ..Counts::default()
        };
        let report = report(&["-c", "10000", "-d", "1s"], counts, failures);
        let table = report.table();
        assert!(
            table.contains("why failed    no free local address or port (EADDRNOTAVAIL) 3000"),
            "{table}"
        );
        assert!(table.contains("TIME_WAIT"), "{table}");
        assert!(table.contains("net.ipv4.ip_local_port_range"), "{table}");
        let json = report.json();
        assert_eq!(
            json["errors"]["connect_failure_reasons"]
                ["no free local address or port (EADDRNOTAVAIL)"],
            3000
        );
        assert!(json["errors"]["hints"][0]
            .as_str()
            .is_some_and(|h| h.contains("ip_local_port_range")));
    }

    /// An open-loop run whose answers were all exact but that left messages due unsent is not
    /// OK (it used to be): the verdict names the share, in the table and the JSON.
    #[test]
    fn unsent_messages_fail_the_run() {
        let counts = Counts {
            sent: 990,
            completed: 990,
            measured: 990,
            scheduled: 1000,
            measured_scheduled: 1000,
            unsent: 10,
            ..Counts::default()
        };
        let r = report(&["-r", "1000", "-d", "1s"], counts, Failures::default());
        assert_eq!(r.exit_code(), 1, "{}", r.table());
        let verdict = "FAILED: 10 of 1000 messages due (1.0%) never sent";
        assert!(
            r.table().contains(&format!("result        {verdict}")),
            "{}",
            r.table()
        );
        let json = r.json();
        assert_eq!(
            (&json["ok"], &json["exit_code"]),
            (&json!(false), &json!(1))
        );
        assert_eq!(json["verdict"], verdict);
        assert!(json["stopped"].is_null());
        let sent_all = Counts {
            unsent: 0,
            sent: 1000,
            completed: 1000,
            measured: 1000,
            ..counts
        };
        assert_eq!(
            report(&["-r", "1000", "-d", "1s"], sent_all, Failures::default()).exit_code(),
            0
        );
    }

    /// A profile stopped early is judged against what it scheduled until the stop, and the
    /// report says it was stopped: exit code 128 + the signal, in the table and the JSON.
    #[test]
    fn a_stopped_profile_is_judged_until_the_stop() {
        let counts = Counts {
            sent: 1000,
            completed: 1000,
            measured: 1000,
            scheduled: 1000,
            measured_scheduled: 1000,
            ..Counts::default()
        };
        let opts = ["--rate", "1000..3000", "--ramp", "10s"];
        let stopped = Stopped {
            at: Duration::from_millis(500),
            cause: StopCause::Signal(15),
        };
        let r = report(&opts, counts, Failures::default()).with_stop(Some(stopped));
        assert_eq!(r.target_rate(), Some(2000.0), "{}", r.table());
        assert_eq!(r.exit_code(), 143);
        assert!(
            r.table()
                .contains("result        STOPPED early at 0.5 s (SIGTERM)"),
            "{}",
            r.table()
        );
        let json = r.json();
        assert_eq!(json["stopped"]["by"], "SIGTERM");
        assert_eq!(json["stopped"]["at_s"], 0.5);
        assert_eq!(json["exit_code"], 143);
    }

    /// An open-loop run that held its rate but lost connections does not say `reached`.
    #[test]
    fn rate_with_lost_connections_is_not_reached() {
        let counts = Counts {
            sent: 1000,
            completed: 1000,
            measured: 1000,
            conn_errors: 1,
            ..Counts::default()
        };
        let mut failures = Failures::default();
        failures.closed.add(Reason::ClosedByServer);
        let lost = report(&["-r", "1000", "-d", "1s"], counts, failures);
        assert_eq!(lost.rate_reached(), Some(false));
        let table = lost.table();
        assert!(
            table.contains("NOT reached (connections failed)"),
            "{table}"
        );
        assert!(
            table.contains("why closed    closed by the server 1"),
            "{table}"
        );

        let clean = Counts {
            conn_errors: 0,
            ..counts
        };
        let held = report(&["-r", "1000", "-d", "1s"], clean, Failures::default());
        assert_eq!(held.rate_reached(), Some(true), "{}", held.table());
    }

    /// With TLS the report gives the handshakes, their rate over the time they took and
    /// their latencies, apart from the messages'; without TLS its `tls` is null.
    #[test]
    fn tls_figures() {
        let start = Instant::now();
        let mut hists = Hists::new();
        for us in [100, 200, 300, 4000] {
            hists.handshake.record(us).expect("in range");
        }
        let counts = Counts {
            handshakes: 4,
            handshake_failures: 1,
            ..Counts::default()
        };
        let args = BenchArgs::try_parse_from(["--tls", "-n", "10"]).expect("valid options");
        let mut series = Series::new(1, false);
        series.add(
            SecondReport {
                worker: 0,
                second: 0,
                counts,
                hists,
                open_connections: 4,
                last_completion: None,
                last_due: None,
                failures: Failures::default(),
                handshake_window: Some((start, start + Duration::from_secs(2))),
                last: true,
            },
            |_, _, _| (),
        );
        let report = Report::new(
            &args,
            series,
            start,
            SystemTime::now(),
            Duration::ZERO,
            1,
            None,
        );
        assert_eq!(report.handshakes_per_sec(), 2.0);
        let json = report.json();
        let tls = &json["tls"];
        assert_eq!(
            (tls["handshakes"].as_u64(), tls["failures"].as_u64()),
            (Some(4), Some(1))
        );
        assert_eq!(tls["per_s"], 2.0);
        assert_eq!(tls["latency_us"]["p50"], 200);
        assert_eq!(tls["latency_us"]["max"], 4001, "{tls}"); // 3 significant digits
        assert_eq!(tls["latency_from"], "connected");
        assert_eq!(
            json["latency_us"]["count"], 0,
            "handshakes are not messages"
        );
        let table = report.table();
        assert!(
            table.contains("TLS           handshakes 4  failed 1  2/s"),
            "{table}"
        );

        let plain = report_with(
            &["-n", "10"],
            Counts::default(),
            Failures::default(),
            Hists::new(),
            Duration::ZERO,
        );
        assert!(plain.json()["tls"].is_null());
        assert!(!plain.table().contains("handshakes"));
    }
}
