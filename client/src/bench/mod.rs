//! `shout bench`: a load generator that checks every answer.
//!
//! The main thread checks the options and the output files ([`args`], [`outputs`]), plans the
//! run ([`plan`]), starts a small fixed set of worker threads (each an event loop over many
//! connections, see [`engine`]), gathers their per-second reports ([`series`]), writes the
//! HdrHistogram log as they come ([`hdrlog`]), shows progress on a terminal ([`progress`]),
//! and writes the final report ([`report`]) with its [`verdict`]. The engine drives sans-IO
//! parts that are tested on their own: the answer [`checker`], the open-loop [`schedule`] and
//! its rate [`profile`], the run's [`phase`]s and the figures. With `--find-max` the main
//! thread also runs the search ([`findmax`]) and tells the workers each new rate. A
//! [`StopHandle`] ends a run early (the signals of `shout bench`, see [`stop`]).

pub mod args;
pub mod checker;
pub mod engine;
pub mod failure;
pub mod findmax;
pub mod greeting;
pub mod hdrlog;
pub mod live;
pub mod outputs;
pub mod payload;
pub mod phase;
pub mod plan;
pub mod profile;
pub mod progress;
pub mod report;
pub mod schedule;
pub mod series;
pub mod slot;
pub mod stop;
pub mod verdict;

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use shout_common::fdlimit::RESERVED_FDS;

pub use args::BenchArgs;
use engine::Control;
use findmax::{Action, FindMax, Slo};
use hdrlog::HdrLog;
use plan::{worker_count, Plan};
use profile::RateProfile;
use report::Report;
use series::{SecondReport, Series};
pub use stop::{StopCause, StopHandle};
use verdict::Stopped;

use crate::tls::TlsClient;

/// Runs the bench, writes its outputs (table, JSON, HTML, histogram log) and returns the
/// report. An error means the run could not start, or its report could not be written.
pub fn execute(args: &BenchArgs) -> anyhow::Result<Report> {
    execute_with(args, &StopHandle::new())
}

/// [`execute`], stopped early when `stop` says so (a signal, a dashboard's stop key): the run
/// ends as if its time were up and every output is written for the time measured, saying it
/// was stopped.
pub fn execute_with(args: &BenchArgs, stop: &StopHandle) -> anyhow::Result<Report> {
    let mut setup = set_up(args)?;
    let threads = worker_count(args);
    let cpu_start = process_cpu_time();
    let started_at = SystemTime::now();
    let start = Instant::now();
    let mut hdr_log = LogWriter::start(setup.outputs.hdr_log.take(), args, started_at)?;
    let (tx, rx) = mpsc::channel::<SecondReport>();
    let workers = Workers::spawn(args, &setup, stop, threads, start, tx)?;
    let profile = setup.profile.as_ref();
    let mut find_max = args.find_max.then(|| find_max_search(args, profile));
    let mut series = Series::new(threads as usize, profile.is_some());
    let mut progress = live::Live::start(args, profile, start, stop);
    for second in rx {
        let mut actions = Vec::new();
        series.add(second, |i, second, hists| {
            hdr_log.second(i, hists);
            if let Some(f) = &mut find_max {
                actions.extend(f.on_second(i, second, hists, start.elapsed()));
            }
        });
        for action in actions {
            workers.order(action);
        }
        if let Some(p) = &mut progress {
            p.update(&series, args.reconnect, find_max.as_ref());
        }
    }
    series.flush(|i, _, hists| hdr_log.second(i, hists));
    if let Some(p) = progress {
        p.finish();
    }
    workers.join()?;
    // A stop counts if it came while the workers ran (one during the writing changes nothing).
    let stopped = stop.stopped().map(|(at, cause)| Stopped {
        at: at.saturating_duration_since(start),
        cause,
    });
    let cpu = process_cpu_time().saturating_sub(cpu_start);
    let find_max = find_max.map(|f| f.result());
    let report =
        Report::new(args, series, start, started_at, cpu, threads, find_max).with_stop(stopped);
    if let Some(s) = stopped {
        hdr_log.comment(&format!("shout bench: stopped early {}", s.describe()));
    }
    report.write_outputs(args, setup.outputs)?;
    hdr_log.finish(args)?;
    Ok(report)
}

/// What a run needs, found by the checks before it starts.
struct Setup {
    /// Open loop: the rates (`--find-max`: the first one).
    profile: Option<RateProfile>,
    /// The server addresses, resolved.
    addrs: Vec<SocketAddr>,
    /// TLS: the set-up for each address.
    tls: Option<Vec<TlsClient>>,
    /// The output files, created (the histogram log's is taken when the log starts).
    outputs: outputs::Prepared,
}

/// Checks the options and the system before a run, and creates the output files: an error
/// means the run cannot start, and says why.
fn set_up(args: &BenchArgs) -> anyhow::Result<Setup> {
    if args.timeout.is_zero() {
        bail!("--timeout must be greater than zero");
    }
    args.check().map_err(anyhow::Error::msg)?;
    let profile = args.rate_profile().map_err(anyhow::Error::msg)?;
    check_json_path_not_taken_for_an_address(args)?;
    let prepared = outputs::prepare(args)?;
    let addrs = resolve_all(&args.addrs)?;
    let tls = tls_clients(args)?;
    check_fd_limit(args.connections)?;
    Ok(Setup {
        profile,
        addrs,
        tls,
        outputs: prepared,
    })
}

/// The worker threads of a run, and for `--find-max` where to send each one its orders.
struct Workers {
    /// Each worker's thread; it ends when its event loop does.
    handles: Vec<JoinHandle<io::Result<()>>>,
    /// `--find-max`: each worker's share of the rate, and where to send it.
    controls: Vec<(f64, mpsc::Sender<Control>)>,
}

impl Workers {
    /// Starts `threads` workers that run `args` from `start` as `setup` says, stopped early
    /// by `stop`, each reporting its seconds on `tx`.
    fn spawn(
        args: &BenchArgs,
        setup: &Setup,
        stop: &StopHandle,
        threads: u64,
        start: Instant,
        tx: mpsc::Sender<SecondReport>,
    ) -> anyhow::Result<Workers> {
        let mut handles = Vec::with_capacity(threads as usize);
        let mut controls = Vec::new();
        for w in 0..threads {
            let mut plan = Plan::for_worker(
                args,
                setup.profile.as_ref(),
                &setup.addrs,
                w,
                threads,
                start,
            );
            plan.tls.clone_from(&setup.tls);
            plan.stop = stop.clone();
            let control = args.find_max.then(|| {
                let (control_tx, control_rx) = mpsc::channel();
                controls.push((plan.share, control_tx));
                control_rx
            });
            let tx = tx.clone();
            let worker = thread::Builder::new()
                .name(format!("bench-{w}"))
                .spawn(move || engine::run_worker(plan, tx, control))
                .context("cannot start a worker thread")?;
            handles.push(worker);
        }
        Ok(Workers { handles, controls })
    }

    /// Passes a `--find-max` order on to every worker (a rate as its share of it).
    fn order(&self, action: Action) {
        for (share, control) in &self.controls {
            let order = match action {
                Action::SetRate(rate) => Control::Rate(rate * share),
                Action::Stop => Control::Stop,
            };
            // A worker that has ended needs no orders.
            let _ = control.send(order);
        }
    }

    /// Waits for every worker to end: an error if one's event loop failed or it panicked.
    fn join(self) -> anyhow::Result<()> {
        for worker in self.handles {
            match worker.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e).context("a worker's event loop failed"),
                Err(_) => bail!("a worker thread panicked"),
            }
        }
        Ok(())
    }
}

/// The `--find-max` search of a run of `args` whose first rate is `profile`'s.
fn find_max_search(args: &BenchArgs, profile: Option<&RateProfile>) -> FindMax {
    FindMax::new(
        Slo {
            bounds: args.slo.clone(),
            max_error_rate: args.slo_error_rate,
        },
        profile.map_or(0.0, |p| p.first()),
        args.effective_warmup(),
        args.step_measure(),
        args.max_steps,
        args.reconnect,
    )
}

/// The `--hdr-log` as the run writes it: at the first error writing it the log is given up
/// and the error kept, while the run goes on; the error is the run's once its outputs are
/// written.
struct LogWriter {
    /// The log, while it can be written.
    log: Option<HdrLog>,
    /// The first error writing the log.
    error: Option<anyhow::Error>,
}

impl LogWriter {
    /// Starts the log in `file` (created for `--hdr-log`) for a run of `args` that started at
    /// `started_at`; no log without the option.
    fn start(
        file: Option<File>,
        args: &BenchArgs,
        started_at: SystemTime,
    ) -> anyhow::Result<LogWriter> {
        let log = match (file, &args.hdr_log) {
            (Some(file), Some(path)) => {
                Some(HdrLog::start(file, started_at).with_context(|| {
                    format!("cannot write the histogram log {}", path.display())
                })?)
            }
            _ => None,
        };
        Ok(LogWriter { log, error: None })
    }

    /// Writes second `i`'s corrected histogram; gives the log up at an error.
    fn second(&mut self, i: usize, hists: &series::Hists) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.interval(i, &hists.corrected) {
                self.error.get_or_insert(e);
                self.log = None;
            }
        }
    }

    /// Writes a comment line, keeping the first error.
    fn comment(&mut self, text: &str) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.comment(text) {
                self.error.get_or_insert(e);
            }
        }
    }

    /// The first error writing the log of a run of `args`, if there was one.
    fn finish(self, args: &BenchArgs) -> anyhow::Result<()> {
        if let (Some(e), Some(path)) = (self.error, &args.hdr_log) {
            return Err(e)
                .with_context(|| format!("cannot write the histogram log {}", path.display()));
        }
        Ok(())
    }
}

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

/// The TLS set-up for each server address (its name to verify comes from the address unless
/// `--tls-server-name` is given), or `None` without TLS.
fn tls_clients(args: &BenchArgs) -> anyhow::Result<Option<Vec<TlsClient>>> {
    if !args.tls.enabled() {
        return Ok(None);
    }
    let mut clients = Vec::with_capacity(args.addrs.len());
    for addr in &args.addrs {
        let client = TlsClient::from_args(&args.tls, addr)?;
        clients.extend(client);
    }
    Ok(Some(clients))
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
    // The clock starts at zero and only grows: never negative.
    Duration::try_from(t).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

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
