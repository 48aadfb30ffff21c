//! `shout bench`: a load generator that checks every answer.
//!
//! The main thread plans the run, starts a small fixed set of worker threads (each an event
//! loop over many connections, see [`engine`]), gathers their per-second reports, shows
//! progress on a terminal, and writes the final report ([`report`]).

pub mod checker;
pub mod engine;
pub mod failure;
pub mod payload;
pub mod report;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use shout_common::cli::parse_duration;
use shout_common::fdlimit::RESERVED_FDS;
use shout_common::{Mode, DEFAULT_ADDR};

use crate::cli::{EXIT_FAILED, EXIT_OK, EXIT_USAGE_OR_CONNECT};
use engine::{Plan, Tick};
use report::{Collector, Report};

/// The run length when neither `--duration` nor `--messages` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl BenchArgs {
    /// Parses `shout bench` options from `args` (without the program and subcommand names).
    pub fn try_parse_from<I, T>(args: I) -> Result<BenchArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let full = ["shout".into(), "bench".into()]
            .into_iter()
            .chain(args.into_iter().map(Into::into));
        match crate::cli::Args::try_parse_from(full)?.command {
            Some(crate::cli::Command::Bench(bench)) => Ok(bench),
            _ => unreachable!("the bench subcommand was given"),
        }
    }
}

/// Options of `shout bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Servers to load; connections are spread over them round robin.
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub addrs: Vec<String>,

    /// Connections to open.
    #[arg(short, long, value_name = "N", env = "SHOUT_BENCH_CONNECTIONS", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: u64,

    /// How long to run after the warm-up [default: 10s unless --messages is given].
    #[arg(short, long, value_name = "DURATION", env = "SHOUT_BENCH_DURATION",
          value_parser = positive_duration, conflicts_with = "messages")]
    pub duration: Option<Duration>,

    /// Messages to send in all (instead of a duration).
    #[arg(short = 'n', long, value_name = "M", env = "SHOUT_BENCH_MESSAGES",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,

    /// Bytes per message, newline included (at least 8).
    #[arg(short, long, value_name = "BYTES", env = "SHOUT_BENCH_SIZE", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(payload::MIN_SIZE as u64..=16 << 20))]
    pub size: u64,

    /// Messages in flight per connection.
    #[arg(short, long, value_name = "K", env = "SHOUT_BENCH_PIPELINE", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub pipeline: u64,

    /// Open loop: total messages per second, sent on schedule whatever the answers; latency
    /// counts from each message's scheduled time. Without it: closed loop.
    #[arg(short, long, value_name = "R", env = "SHOUT_BENCH_RATE", value_parser = positive)]
    pub rate: Option<f64>,

    /// Run this long first, left out of the figures.
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_WARMUP", default_value = "0",
          value_parser = parse_duration)]
    pub warmup: Duration,

    /// Connections opened per second (ramp-up) [default: all at once].
    #[arg(long, value_name = "C", env = "SHOUT_BENCH_CONNECT_RATE", value_parser = positive)]
    pub connect_rate: Option<f64>,

    /// The answer to expect.
    #[arg(long, value_enum, env = "SHOUT_BENCH_MODE", default_value_t = Mode::Upper)]
    pub mode: Mode,

    /// Reopen connections the server closes (counted) and send their unanswered messages
    /// again, so load continues through a server restart.
    #[arg(long, env = "SHOUT_BENCH_RECONNECT")]
    pub reconnect: bool,

    /// Write the report as JSON: `--json` to stdout (instead of the table), `--json=FILE` to a file.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true,
          default_missing_value = "-", env = "SHOUT_BENCH_JSON")]
    pub json: Option<String>,

    /// Write the full latency histogram, one interval a second, as an HdrHistogram log.
    #[arg(long, value_name = "FILE", env = "SHOUT_BENCH_HDR_LOG")]
    pub hdr_log: Option<PathBuf>,

    /// An answer later than this counts as a timeout, and is still checked if it comes (also
    /// bounds connecting and closing).
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_TIMEOUT", default_value = "5s",
          value_parser = positive_duration)]
    pub timeout: Duration,

    /// Worker threads [default: closed loop one per core; open loop one per 50,000 msgs/s and
    /// per 5,000 connections, at most one per core].
    #[arg(long, value_name = "T", env = "SHOUT_BENCH_THREADS",
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,

    /// Seed of the random payloads.
    #[arg(
        long,
        value_name = "SEED",
        env = "SHOUT_BENCH_SEED",
        default_value_t = 1
    )]
    pub seed: u64,
}

/// A duration greater than zero (a zero-length run or timeout is a usage error).
fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("'{s}' is zero; give a duration greater than 0")),
        d => Ok(d),
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

/// Runs the bench and returns the exit code: 0 when every message got its exact answer, 1
/// when any answer was wrong or missing, 2 for usage errors or connections that could not be
/// set up. Problems are printed as one line on stderr.
pub fn run(args: &BenchArgs) -> ExitCode {
    match execute(args) {
        Ok(report) => ExitCode::from(report.exit_code()),
        Err(e) => {
            eprintln!("shout bench: {e:#}");
            ExitCode::from(EXIT_USAGE_OR_CONNECT)
        }
    }
}

/// Runs the bench, writes its outputs (table, JSON, histogram log) and returns the report.
/// An error means the run could not start (exit code 2).
pub fn execute(args: &BenchArgs) -> anyhow::Result<Report> {
    if args.timeout.is_zero() {
        bail!("--timeout must be greater than zero");
    }
    check_json_path_not_taken_for_an_address(args)?;
    let addrs = resolve_all(&args.addrs)?;
    check_fd_limit(args.connections)?;
    let threads = worker_count(args);
    let cpu_start = process_cpu_time();
    let started_at = SystemTime::now();
    let start = Instant::now();
    let warmup_end = start + args.warmup;
    let end = match (args.duration, args.messages) {
        (Some(d), _) => Some(warmup_end + d),
        (None, Some(_)) => None,
        (None, None) => Some(warmup_end + DEFAULT_DURATION),
    };

    let (tx, rx) = mpsc::channel::<Tick>();
    let mut workers = Vec::with_capacity(threads as usize);
    for w in 0..threads {
        let ids: Vec<u64> = (w..args.connections).step_by(threads as usize).collect();
        let share = ids.len() as f64 / args.connections as f64;
        let plan = Plan {
            addrs: addrs.clone(),
            mode: args.mode,
            size: args.size as usize,
            pipeline: args.pipeline as usize,
            rate: args.rate.map(|r| r * share),
            messages: args.messages.map(|m| split(m, args.connections, &ids)),
            start,
            warmup_end,
            end,
            connect_interval: args.connect_rate.map(|c| Duration::from_secs_f64(1.0 / c)),
            reconnect: args.reconnect,
            timeout: args.timeout,
            seed: args.seed,
        };
        let tx = tx.clone();
        let worker = thread::Builder::new()
            .name(format!("bench-{w}"))
            .spawn(move || engine::run_worker(Arc::new(plan), ids, tx))
            .context("cannot start a worker thread")?;
        workers.push(worker);
    }
    drop(tx);

    let mut collector = Collector::new(threads as usize, args, start, warmup_end);
    let progress = std::io::stderr().is_terminal().then(report::Progress::new);
    for tick in rx {
        collector.add(tick);
        if let Some(p) = &progress {
            p.update(&collector);
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e).context("a worker's event loop failed"),
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    let cpu = process_cpu_time().saturating_sub(cpu_start);
    let report = collector.finish(cpu, threads);
    report.write_outputs(args, started_at)?;
    Ok(report)
}

/// This worker's share of `total` messages: proportional to its connections, remainders to
/// the lowest connection numbers.
fn split(total: u64, connections: u64, ids: &[u64]) -> u64 {
    let base = total / connections;
    let extra = total % connections;
    ids.iter().map(|&id| base + u64::from(id < extra)).sum()
}

/// Worker threads: `--threads`, else one per core in closed loop; in open loop only as many as
/// the schedule needs (one per 50,000 msgs/s, and one per 5,000 connections), at most one per
/// core. Fewer threads batch more messages per wake-up, which is what keeps the generator
/// cheaper than the server it drives (measured: `bench/generator-cost.sh`).
fn worker_count(args: &BenchArgs) -> u64 {
    let cores = thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let wanted = match (args.threads, args.rate) {
        (Some(t), _) => t,
        (None, Some(rate)) => ((rate / OPEN_LOOP_RATE_PER_THREAD).ceil() as u64)
            .max(args.connections.div_ceil(CONNECTIONS_PER_THREAD))
            .min(cores),
        (None, None) => cores,
    };
    wanted.clamp(1, args.connections)
}

/// Open loop: messages per second one worker thread schedules by default (one thread keeps
/// 80,000 msgs/s on schedule on the development machine).
const OPEN_LOOP_RATE_PER_THREAD: f64 = 50_000.0;

/// Open loop: connections per worker thread by default.
const CONNECTIONS_PER_THREAD: u64 = 5_000;

/// `--json report.json` (a space, not `=`) means `--json` to stdout and `report.json` as a server
/// address: say what was meant instead of failing to resolve it.
fn check_json_path_not_taken_for_an_address(args: &BenchArgs) -> anyhow::Result<()> {
    if args.json.as_deref() != Some("-") {
        return Ok(());
    }
    if let Some(path) = args.addrs.iter().find(|a| looks_like_a_path(a)) {
        bail!(
            "'{path}' looks like a file, not a server address: the report file needs \
             --json={path} (with '='); --json alone writes the report to stdout"
        );
    }
    Ok(())
}

/// Whether a word given as a server address looks like a file path instead: it has a slash,
/// a file extension used for reports, or names an existing file (and has no port).
fn looks_like_a_path(word: &str) -> bool {
    const REPORT_EXTENSIONS: [&str; 4] = [".json", ".jsonl", ".txt", ".log"];
    if word.contains('/') {
        return true;
    }
    if word.contains(':') {
        return false; // HOST:PORT or an IPv6 address
    }
    let lower = word.to_ascii_lowercase();
    REPORT_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) || Path::new(word).is_file()
}

fn resolve_all(specs: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::new();
    for spec in specs {
        let resolved =
            crate::connect::resolve(spec).with_context(|| format!("cannot resolve '{spec}'"))?;
        addrs.push(resolved[0]);
    }
    Ok(addrs)
}

/// Raises the open-file limit and says clearly when `connections` cannot fit.
fn check_fd_limit(connections: u64) -> anyhow::Result<()> {
    let limit =
        shout_common::fdlimit::raise_nofile_limit().context("cannot read the open-file limit")?;
    if connections + RESERVED_FDS > limit {
        bail!(
            "cannot open {connections} connections: the open-file limit is {limit} \
             ({RESERVED_FDS} are kept for other uses); raise it (ulimit -n) or use fewer connections"
        );
    }
    Ok(())
}

/// CPU time used by this process so far (all threads).
fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Exit codes of `shout bench`.
pub fn exit_code(answers_ok: bool, setup_failed: bool) -> u8 {
    if setup_failed {
        EXIT_USAGE_OR_CONNECT
    } else if answers_ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message budgets split exactly, remainders to the first connections.
    #[test]
    fn splits_messages_exactly() {
        let ids_a = [0, 2, 4];
        let ids_b = [1, 3];
        assert_eq!(split(11, 5, &ids_a) + split(11, 5, &ids_b), 11);
        assert_eq!(split(11, 5, &ids_a), 7); // 2+1, 2, 2
    }

    /// Paths are told from addresses: a report file given after `--json` with a space is
    /// caught, a host name or address is not.
    #[test]
    fn paths_are_not_addresses() {
        for path in [
            "report.json",
            "out/report.json",
            "./r",
            "/tmp/x",
            "REPORT.JSON",
        ] {
            assert!(looks_like_a_path(path), "{path}");
        }
        for addr in [
            "127.0.0.1",
            "127.0.0.1:9999",
            "localhost",
            "example.com",
            "[::1]:9999",
            "::1",
        ] {
            assert!(!looks_like_a_path(addr), "{addr}");
        }
    }
}
