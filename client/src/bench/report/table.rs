//! The bench report as a table for the terminal: what was run, the throughput, the rate,
//! the latencies, the counts, why connections failed, the `--find-max` steps, and the result
//! line.

use std::fmt::Write as _;

use super::{Report, MIB};
use crate::bench::args::Length;
use crate::bench::findmax::FindMaxResult;
use crate::bench::profile::{RateProfile, RateSpec};
use crate::bench::schedule::STEP;
use crate::bench::series::{late_sends, Summary};

impl Report {
    /// Open loop, when the rate was not reached: why, if not (only) the rate.
    fn rate_note(&self) -> &'static str {
        let t = &self.total;
        if t.connect_failures > 0 || t.conn_errors > 0 {
            " (connections failed)"
        } else if t.unsent > 0 {
            " (messages unsent)"
        } else {
            ""
        }
    }

    /// The TLS line of the table.
    fn tls_line(&self) -> String {
        let h = Summary::of(&self.hists.handshake);
        format!(
            "  TLS           handshakes {}  failed {}  {:.0}/s   latency p50 {}  p90 {}  p99 {}  max {} µs   \
             (from the TCP connection established to the handshake complete)\n",
            self.total.handshakes,
            self.total.handshake_failures,
            self.handshakes_per_sec(),
            h.p50,
            h.p90,
            h.p99,
            h.max
        )
    }

    /// How the load was offered, for the title.
    fn loop_kind(&self) -> String {
        let d = shout_common::cli::format_duration;
        if self.find_max.is_some() {
            let first = self.profile.as_ref().map_or(0.0, RateProfile::first);
            return format!("open loop, searching for the highest rate from {first} msgs/s");
        }
        match &self.profile {
            None => "closed loop".to_owned(),
            Some(RateProfile::Constant(r)) => format!("open loop at {r} msgs/s"),
            Some(RateProfile::Ramp { from, to, ramp }) => {
                format!(
                    "open loop ramping from {from} to {to} msgs/s over {}",
                    d(*ramp)
                )
            }
            Some(RateProfile::Steps { rates, step }) => format!(
                "open loop in steps of {} msgs/s, {} each",
                RateSpec::List(rates.clone()),
                d(*step)
            ),
        }
    }

    /// The table's first line: what was run.
    fn title(&self) -> String {
        let a = &self.args;
        let d = shout_common::cli::format_duration;
        let length = match a.length() {
            _ if a.find_max => format!(
                "steps of {} warm-up + {} measured",
                d(a.effective_warmup()),
                d(a.step_measure())
            ),
            Length::Messages(m) => format!("{m} messages"),
            Length::Duration(duration) => d(duration),
        };
        let warmup = if a.warmup.is_zero() || a.find_max {
            String::new()
        } else {
            format!(" after {} warm-up", d(a.warmup))
        };
        let label = a
            .label
            .as_ref()
            .map_or(String::new(), |l| format!(" [{l}]"));
        format!(
            "shout bench{label}: {} connections to {}, {}, pipeline {}, {}-byte messages, mode {}, {length}{warmup}",
            a.connections,
            a.addrs.join(" "),
            self.loop_kind(),
            a.pipeline,
            a.size,
            a.mode,
        )
    }

    /// One latency line of the table.
    fn latency_line(name: &str, s: &Summary, note: &str) -> String {
        format!(
            "  {name:<14}min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}{note}\n",
            s.min, s.p50, s.p90, s.p99, s.p99_9, s.p99_99, s.max
        )
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title());
        s.push_str(&self.throughput_line());
        s.push_str(&self.rate_line());
        s.push_str(&self.latency_lines());
        s.push_str(&self.count_lines());
        if self.tls() {
            s.push_str(&self.tls_line());
        }
        s.push_str(&self.failure_lines());
        let _ = writeln!(
            s,
            "  client CPU    {:.2} s on {}, {:.3} s per million messages",
            self.cpu.as_secs_f64(),
            shout_common::plural(self.threads, "thread"),
            self.cpu_per_million()
        );
        if let Some(f) = &self.find_max {
            s.push_str(&find_max_table(f));
        }
        let verdict = self.verdict().text;
        let _ = writeln!(s, "  result        {verdict}");
        s
    }

    /// The throughput line of the table: of the measured messages, over the measured time.
    fn throughput_line(&self) -> String {
        let t = &self.total;
        format!(
            "  throughput    {:.0} msgs/s   {:.2} MiB/s out   {:.2} MiB/s in   (measured {} messages over {:.2} s)\n",
            self.msgs_per_sec(),
            self.per_second(t.measured_bytes_out) / MIB,
            self.per_second(t.measured_bytes_in) / MIB,
            t.measured,
            self.elapsed.as_secs_f64()
        )
    }

    /// Open loop: the rate line of the table, the target against the rate achieved (empty
    /// in closed loop and for `--find-max`).
    fn rate_line(&self) -> String {
        let Some(reached) = self.rate_reached() else {
            return String::new();
        };
        let mean = match self.profile {
            Some(RateProfile::Constant(_)) => "",
            _ => " (the profile's mean)",
        };
        format!(
            "  rate          target {:.0} msgs/s{mean}, achieved {:.0} msgs/s: {}{}\n",
            self.target_rate().unwrap_or_default(),
            self.msgs_per_sec(),
            if reached { "reached" } else { "NOT reached" },
            if reached { "" } else { self.rate_note() }
        )
    }

    /// The latency lines of the table: in open loop both latencies, the schedule's lag and
    /// its resolution; in closed loop the one latency.
    fn latency_lines(&self) -> String {
        let corrected = Summary::of(&self.hists.corrected);
        if !self.open_loop() {
            return Self::latency_line("latency (µs)", &corrected, "");
        }
        let mut s = Self::latency_line(
            "latency (µs)",
            &corrected,
            "   (from the scheduled send time)",
        );
        let uncorrected = Summary::of(&self.hists.uncorrected);
        s.push_str(&Self::latency_line(
            "uncorrected",
            &uncorrected,
            "   (from the actual send)",
        ));
        let lag = Summary::of(&self.hists.lag);
        let _ = writeln!(
            s,
            "  schedule lag  p50 {}  p99 {}  max {} µs; {} of {} messages sent more than {} ms behind the schedule",
            lag.p50,
            lag.p99,
            lag.max,
            late_sends(&self.hists.lag),
            lag.count,
            STEP.as_millis()
        );
        let _ = writeln!(
            s,
            "  resolution    the schedule ticks every {} ms: messages due within a tick leave together at its end, so \
             sub-millisecond latencies include the queueing of each tick's burst, and a lag under a tick is the timer's wake-up",
            STEP.as_millis()
        );
        s
    }

    /// The counts of the table: messages, errors by kind, connections.
    fn count_lines(&self) -> String {
        let t = &self.total;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  messages      sent {}  answered {}  late {}  re-sent {}  unsent {}",
            t.sent, t.completed, t.late, t.resent, t.unsent
        );
        let _ = writeln!(
            s,
            "  errors        mismatches {}  short answers {}  timeouts {}  connection errors {}  connect failures {}",
            t.mismatches, t.short, t.timeouts, t.conn_errors, t.connect_failures
        );
        let _ = writeln!(
            s,
            "  connections   opened {}  failed {}  reopened {}",
            t.opened, t.connect_failures, t.reopened
        );
        s
    }

    /// Why connections failed or closed, by reason, and the hints these give (no line when
    /// none did).
    fn failure_lines(&self) -> String {
        let mut s = String::new();
        if !self.failures.connect.is_empty() {
            let _ = writeln!(s, "  why failed    {}", self.failures.connect.line());
        }
        if !self.failures.closed.is_empty() {
            let _ = writeln!(s, "  why closed    {}", self.failures.closed.line());
        }
        for hint in self.failures.hints() {
            let _ = writeln!(s, "  hint          {hint}");
        }
        s
    }
}

/// The `--find-max` part of the table: the SLO, every step, the answer.
fn find_max_table(f: &FindMaxResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  find-max      SLO {}; each step {} s warm-up + {} s measured (once more if not steady), at most {} steps",
        f.slo.describe(),
        f.warmup_s,
        f.measure_s,
        f.max_steps
    );
    let _ = writeln!(
        s,
        "  {:>6} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>7}  {:<7} met",
        "start",
        "target/s",
        "achieved/s",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "errors",
        "steady"
    );
    let yes = |b: bool| if b { "yes" } else { "no" };
    for step in &f.steps {
        let _ = writeln!(
            s,
            "  {:>5}s {:>11.0} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>7}  {:<7} {}",
            step.start_s,
            step.target,
            step.achieved,
            step.latency.p50,
            step.latency.p99,
            step.latency.p99_9,
            step.latency.max,
            step.errors,
            format!(
                "{}{}",
                yes(step.steady),
                if step.extended { "+" } else { "" }
            ),
            yes(step.met)
        );
    }
    let answer = match (f.found(), f.finished) {
        (true, _) => format!(
            "{:.0} msgs/s: the highest rate tried whose steady state met the SLO",
            f.answer.unwrap_or_default()
        ),
        (false, true) => "none: no rate tried met the SLO".to_owned(),
        (false, false) => "none: the run ended before the search did".to_owned(),
    };
    let _ = writeln!(s, "  answer        {answer}");
    s
}
