//! The final report of `shout bench`, from the series the workers reported: its verdict
//! (an [`Outcome`]), a table on stdout, JSON (`--json`), and the HdrHistogram interval log
//! (`--hdr-log`).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use super::args::{BenchArgs, Length};
use super::failure::Failures;
use super::schedule::STEP;
use super::series::{Counts, Second, Series};
use crate::outcome::Outcome;

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    args: BenchArgs,
    threads: u64,
    warmup_seconds: Duration,
    /// From the end of the warm-up to the last measured answer.
    elapsed: Duration,
    total: Counts,
    /// Why connections failed, by reason.
    failures: Failures,
    hist: Histogram<u64>,
    seconds: Vec<Second>,
    cpu: Duration,
    /// Every worker sent its final report.
    complete: bool,
}

const MIB: f64 = (1u64 << 20) as f64;

/// Open loop: the share of the target rate that counts as reaching it (runs vary by a few
/// percent from scheduling alone).
pub const RATE_REACHED: f64 = 0.95;

impl Report {
    /// The report of a run of `args` that started at `start`, from what the workers reported;
    /// `cpu` is the process's CPU time over the run, on `threads` worker threads.
    pub fn new(
        args: &BenchArgs,
        series: Series,
        start: Instant,
        cpu: Duration,
        threads: u64,
    ) -> Report {
        let warmup_end = start + args.warmup;
        let elapsed = series
            .last_completion
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(warmup_end));
        Report {
            args: args.clone(),
            threads,
            warmup_seconds: args.warmup,
            elapsed,
            complete: series.complete(),
            total: series.total,
            failures: series.failures,
            hist: series.hist,
            seconds: series.seconds,
            cpu,
        }
    }

    /// Whether every message got its exact answer.
    pub fn answers_ok(&self) -> bool {
        self.complete && self.total.errors(self.args.reconnect) == 0
    }

    /// How the run ended.
    pub fn outcome(&self) -> Outcome {
        Outcome::of_bench(self.answers_ok(), self.total.setup_failures > 0)
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

    /// Latency at quantile `q` (0 to 1), in microseconds, of measured messages.
    pub fn latency_us(&self, q: f64) -> u64 {
        self.hist.value_at_quantile(q)
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

    /// Open loop: whether the achieved rate is within 5% of the target ([`RATE_REACHED`]), with
    /// every message due sent and no connection failed or lost (a rate held by fewer
    /// connections than asked for is not the load that was asked for).
    pub fn rate_reached(&self) -> Option<bool> {
        let t = &self.total;
        let connections_held = t.connect_failures == 0 && t.conn_errors == 0;
        self.args.rate.map(|r| {
            self.msgs_per_sec() >= RATE_REACHED * r
                && t.unsent == 0
                && connections_held
                && self.complete
        })
    }

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

    fn cpu_per_million(&self) -> f64 {
        if self.total.completed == 0 {
            0.0
        } else {
            self.cpu.as_secs_f64() * 1e6 / self.total.completed as f64
        }
    }

    /// Writes the table (unless JSON goes to stdout), the JSON and the histogram log.
    pub fn write_outputs(&self, args: &BenchArgs, started_at: SystemTime) -> anyhow::Result<()> {
        match args.json.as_deref() {
            Some("-") => println!("{}", serde_json::to_string_pretty(&self.json())?),
            Some(path) => {
                print!("{}", self.table());
                let text = serde_json::to_string_pretty(&self.json())?;
                std::fs::write(path, text + "\n")
                    .with_context(|| format!("cannot write the JSON report to {path}"))?;
            }
            None => print!("{}", self.table()),
        }
        if let Some(path) = &args.report {
            crate::report::write_html(&self.json(), path)
                .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
        }
        if let Some(path) = &args.hdr_log {
            self.write_hdr_log(path, started_at)
                .with_context(|| format!("cannot write the histogram log {}", path.display()))?;
        }
        Ok(())
    }

    /// The table's first line: what was run.
    fn title(&self) -> String {
        let a = &self.args;
        let loop_kind = match a.rate {
            Some(r) => format!("open loop at {r} msgs/s"),
            None => "closed loop".to_owned(),
        };
        let length = match a.length() {
            Length::Messages(m) => format!("{m} messages"),
            Length::Duration(d) => shout_common::cli::format_duration(d),
        };
        format!(
            "shout bench: {} connections to {}, {loop_kind}, pipeline {}, {}-byte messages, mode {}, {length}{}",
            a.connections,
            a.addrs.join(" "),
            a.pipeline,
            a.size,
            a.mode,
            if a.warmup.is_zero() {
                String::new()
            } else {
                format!(" after {} warm-up", shout_common::cli::format_duration(a.warmup))
            }
        )
    }

    /// The readable table.
    pub fn table(&self) -> String {
        let a = &self.args;
        let t = &self.total;
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title());
        let _ = writeln!(
            s,
            "  throughput    {:.0} msgs/s   {:.2} MiB/s out   {:.2} MiB/s in   (measured {} messages over {:.2} s)",
            self.msgs_per_sec(),
            self.per_second(t.measured_bytes_out) / MIB,
            self.per_second(t.measured_bytes_in) / MIB,
            t.measured,
            self.elapsed.as_secs_f64()
        );
        if let Some(reached) = self.rate_reached() {
            let _ = writeln!(
                s,
                "  rate          target {} msgs/s, achieved {:.0} msgs/s: {}{}",
                a.rate.unwrap_or_default(),
                self.msgs_per_sec(),
                if reached { "reached" } else { "NOT reached" },
                if reached { "" } else { self.rate_note() }
            );
        }
        let _ = writeln!(
            s,
            "  latency (µs)  min {}  p50 {}  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}",
            self.hist.min(),
            self.latency_us(0.5),
            self.latency_us(0.9),
            self.latency_us(0.99),
            self.latency_us(0.999),
            self.latency_us(0.9999),
            self.hist.max()
        );
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
        if !self.failures.connect.is_empty() {
            let _ = writeln!(s, "  why failed    {}", self.failures.connect.line());
        }
        if !self.failures.closed.is_empty() {
            let _ = writeln!(s, "  why closed    {}", self.failures.closed.line());
        }
        for hint in self.failures.hints() {
            let _ = writeln!(s, "  hint          {hint}");
        }
        let _ = writeln!(
            s,
            "  client CPU    {:.2} s on {} threads, {:.3} s per million messages",
            self.cpu.as_secs_f64(),
            self.threads,
            self.cpu_per_million()
        );
        let verdict = match self.outcome() {
            Outcome::Success => "OK: every message got its exact answer",
            Outcome::Failed => "FAILED: some answers were wrong or missing",
            Outcome::UsageOrConnect => "FAILED: connections could not be set up",
        };
        let _ = writeln!(s, "  result        {verdict}");
        s
    }

    /// The JSON report (fields documented in the README).
    pub fn json(&self) -> Value {
        let a = &self.args;
        let t = &self.total;
        let secs = |d: Duration| d.as_secs_f64();
        json!({
            "config": self.config_json(),
            "elapsed_s": secs(self.elapsed),
            "throughput": {
                "msgs_per_s": self.msgs_per_sec(),
                "mib_per_s_out": self.per_second(t.measured_bytes_out) / MIB,
                "mib_per_s_in": self.per_second(t.measured_bytes_in) / MIB,
            },
            "open_loop": a.rate.map(|r| json!({
                "target_msgs_per_s": r,
                "achieved_msgs_per_s": self.msgs_per_sec(),
                "reached": self.rate_reached(),
            })),
            "latency_us": {
                "count": self.hist.len(),
                "min": self.hist.min(),
                "mean": self.hist.mean(),
                "p50": self.latency_us(0.5),
                "p90": self.latency_us(0.9),
                "p99": self.latency_us(0.99),
                "p99_9": self.latency_us(0.999),
                "p99_99": self.latency_us(0.9999),
                "max": self.hist.max(),
            },
            "messages": {
                "sent": t.sent,
                "answered": t.completed,
                "measured": t.measured,
                "late": t.late,
                "resent": t.resent,
                "unsent": t.unsent,
            },
            "errors": {
                "mismatches": t.mismatches,
                "short_answers": t.short,
                "timeouts": t.timeouts,
                "connection_errors": t.conn_errors,
                "connect_failures": t.connect_failures,
                "connect_failure_reasons": self.failures.connect.json(),
                "connection_error_reasons": self.failures.closed.json(),
                "hints": self.failures.hints(),
            },
            "connections": {
                "opened": t.opened,
                "failed": t.connect_failures,
                "reopened": t.reopened,
            },
            "cpu": {
                "client_s": secs(self.cpu),
                "client_s_per_million_msgs": self.cpu_per_million(),
            },
            "ok": self.answers_ok(),
            "exit_code": self.exit_code(),
            "series": self.series_json(),
        })
    }

    /// The JSON report's `config`: the options of the run.
    fn config_json(&self) -> Value {
        let a = &self.args;
        let secs = |d: Duration| d.as_secs_f64();
        json!({
            "addrs": a.addrs,
            "connections": a.connections,
            "duration_s": a.duration.map(secs),
            "messages": a.messages,
            "size": a.size,
            "pipeline": a.pipeline,
            "rate": a.rate,
            "warmup_s": secs(a.warmup),
            "connect_rate": a.connect_rate,
            "mode": a.mode.as_str(),
            "reconnect": a.reconnect,
            "timeout_s": secs(a.timeout),
            "threads": self.threads,
            "seed": a.seed,
            "open_loop_tick_s": secs(STEP),
        })
    }

    /// The JSON report's `series`: one entry a second.
    fn series_json(&self) -> Vec<Value> {
        let reconnect = self.args.reconnect;
        self.seconds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "second": i,
                    "warmup": Duration::from_secs(i as u64 + 1) <= self.warmup_seconds,
                    "sent": s.counts.sent,
                    "answered": s.counts.completed,
                    "measured": s.counts.measured,
                    "errors": s.counts.errors(reconnect),
                    "p50_us": s.hist.value_at_quantile(0.5),
                    "p99_us": s.hist.value_at_quantile(0.99),
                    "max_us": s.hist.max(),
                })
            })
            .collect()
    }

    /// Writes one histogram per second in the HdrHistogram interval log format.
    fn write_hdr_log(&self, path: &std::path::Path, started_at: SystemTime) -> anyhow::Result<()> {
        use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
        use hdrhistogram::serialization::V2DeflateSerializer;
        let mut out = BufWriter::new(File::create(path)?);
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("shout bench latency log, values in microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1e6)
            .begin_log_with(&mut out, &mut serializer)?;
        for (i, second) in self.seconds.iter().enumerate() {
            log.write_histogram(
                &second.hist,
                Duration::from_secs(i as u64),
                Duration::from_secs(1),
                None,
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        drop(log);
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::failure::Reason;
    use crate::bench::series::{new_histogram, SecondReport};
    use rustix::io::Errno;

    /// A report from one worker's final report with `counts` and `failures`.
    fn report(opts: &[&str], counts: Counts, failures: Failures) -> Report {
        let args = BenchArgs::try_parse_from(opts).expect("valid options");
        let start = Instant::now();
        let mut series = Series::new(1);
        series.add(SecondReport {
            second: 0,
            counts,
            hist: new_histogram(),
            last_completion: Some(start + Duration::from_secs(1)),
            failures,
            last: true,
        });
        Report::new(&args, series, start, Duration::ZERO, 1)
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
}
