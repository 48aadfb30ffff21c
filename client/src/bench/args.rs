//! The options of `shout bench`, their defaults and limits, and how they are checked. Below
//! everything else in the bench: the report quotes them, `execute` plans the run from them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use shout_common::cli::parse_duration;
use shout_common::{Mode, DEFAULT_ADDR};

use super::findmax::{SloBound, DEFAULT_MAX_STEPS, DEFAULT_START_RATE};
use super::payload;
use super::profile::{RateProfile, RateSpec};
use crate::tls::TlsArgs;

/// The run length when neither `--duration` nor `--messages` is given (nor a rate profile).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// `--find-max`: how long each step is measured when `--duration` is not given.
pub const DEFAULT_STEP_MEASURE: Duration = Duration::from_secs(5);

/// The largest `--size`: a message is held whole in memory with its answer, once per
/// connection and message in flight.
pub const MAX_SIZE: u64 = 16 << 20;

/// The largest `--pipeline`: far beyond what any server answers faster with, small enough
/// that a connection's expected answers stay in memory.
pub const MAX_PIPELINE: u64 = 65_536;

/// The most message bytes in flight in one process: `--connections` × `--pipeline` ×
/// `--size`. Each message in flight is held with its expected answer until it is answered,
/// so the bench's memory for messages stays within about twice this; a larger product is a
/// usage error rather than a run that grows until it is killed.
pub const MAX_BYTES_IN_FLIGHT: u64 = 1 << 30;

/// The largest `--threads`: more than any machine this runs on has cores.
pub const MAX_THREADS: u64 = 1024;

/// Open loop: messages per second one worker thread schedules by default. One thread keeps
/// a good margin above this on schedule (measured with `bench/generator-cost.sh`), and fewer
/// threads batch more messages per wake-up.
pub const OPEN_LOOP_RATE_PER_THREAD: f64 = 50_000.0;

/// Open loop: connections per worker thread by default.
pub const CONNECTIONS_PER_THREAD: u64 = 5_000;

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

    /// How long to run after the warm-up [default: 10s unless --messages is given; a rate
    /// profile: its length; --find-max: each step is measured this long, default 5s].
    #[arg(short, long, value_name = "DURATION", env = "SHOUT_BENCH_DURATION",
          value_parser = positive_duration, conflicts_with = "messages")]
    pub duration: Option<Duration>,

    /// Messages to send in all (instead of a duration).
    #[arg(short = 'n', long, value_name = "M", env = "SHOUT_BENCH_MESSAGES",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub messages: Option<u64>,

    /// Bytes per message, newline included (at least 8).
    #[arg(short, long, value_name = "BYTES", env = "SHOUT_BENCH_SIZE", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(payload::MIN_SIZE as u64..=MAX_SIZE))]
    pub size: u64,

    /// Messages in flight per connection.
    #[arg(short, long, value_name = "K", env = "SHOUT_BENCH_PIPELINE", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIPELINE))]
    pub pipeline: u64,

    /// Open loop: total messages per second, sent on schedule whatever the answers; latency
    /// counts from each message's scheduled time. Without it: closed loop. `A..B` with
    /// --ramp: from A to B; `A,B,C` with --step: each rate in turn.
    #[arg(short, long, value_name = "R", env = "SHOUT_BENCH_RATE", value_parser = RateSpec::parse)]
    pub rate: Option<RateSpec>,

    /// With --rate A..B: the time the rate takes to go from A to B (then B for the rest).
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_RAMP", value_parser = positive_duration)]
    pub ramp: Option<Duration>,

    /// With --rate A,B,C: how long each rate lasts (the last one for the rest).
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_STEP", value_parser = positive_duration)]
    pub step: Option<Duration>,

    /// Search for the highest open-loop rate whose steady state meets the --slo, on one set of
    /// connections, starting from --rate [default: 1,000]; exit 0 when one was found.
    #[arg(long, env = "SHOUT_BENCH_FIND_MAX", conflicts_with = "messages")]
    pub find_max: bool,

    /// --find-max: a latency bound, such as p99=1ms (p50, p90, p99, p99.9; repeat, or separate
    /// with commas, for several).
    #[arg(long, value_name = "pNN=LATENCY", env = "SHOUT_BENCH_SLO", value_delimiter = ',',
          value_parser = SloBound::parse)]
    pub slo: Vec<SloBound>,

    /// --find-max: the highest share of errors (timeouts, wrong or short answers, connection
    /// errors, unsent messages) a step may have.
    #[arg(long, value_name = "FRACTION", env = "SHOUT_BENCH_SLO_ERROR_RATE",
          default_value_t = 0.0, value_parser = fraction)]
    pub slo_error_rate: f64,

    /// --find-max: the most steps (rates tried).
    #[arg(long, value_name = "N", env = "SHOUT_BENCH_MAX_STEPS", default_value_t = DEFAULT_MAX_STEPS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_steps: u32,

    /// A name for this run in reports (`shout report` labels runs with it).
    #[arg(long, value_name = "TEXT", env = "SHOUT_BENCH_LABEL")]
    pub label: Option<String>,

    /// Run this long first, left out of the figures (--find-max: before each step, at least 1s).
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_WARMUP", default_value = "0",
          value_parser = parse_duration)]
    pub warmup: Duration,

    /// Connections opened per second (ramp-up) [default: all at once].
    #[arg(long, value_name = "C", env = "SHOUT_BENCH_CONNECT_RATE", value_parser = positive)]
    pub connect_rate: Option<f64>,

    /// The answer to expect.
    #[arg(long, value_enum, env = "SHOUT_BENCH_MODE", default_value_t = Mode::Upper)]
    pub mode: Mode,

    /// TLS to the servers (`--tls`, `--tls-ca`, `--tls-server-name`, `--tls-cert`,
    /// `--tls-key`), as for the prompt and pipe mode.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// Reopen connections the server closes (counted) and send their unanswered messages
    /// again, so load continues through a server restart.
    #[arg(long, env = "SHOUT_BENCH_RECONNECT")]
    pub reconnect: bool,

    /// Write the report as JSON: `--json` to stdout (instead of the table), `--json=FILE` to a file.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true,
          default_missing_value = "-", env = "SHOUT_BENCH_JSON")]
    pub json: Option<String>,

    /// Write an HTML report (summary and charts, one self-contained file) to this file.
    #[arg(long, value_name = "FILE.html", env = "SHOUT_BENCH_REPORT")]
    pub report: Option<PathBuf>,

    /// Write the full latency histogram, one interval a second, as an HdrHistogram log.
    #[arg(long, value_name = "FILE", env = "SHOUT_BENCH_HDR_LOG")]
    pub hdr_log: Option<PathBuf>,

    /// No live dashboard on a terminal: the one-line progress on stderr instead.
    #[arg(long, env = "SHOUT_BENCH_NO_TUI")]
    pub no_tui: bool,

    /// An answer later than this counts as a timeout, and is still checked if it comes (also
    /// bounds connecting and closing).
    #[arg(long, value_name = "DURATION", env = "SHOUT_BENCH_TIMEOUT", default_value = "5s",
          value_parser = positive_duration)]
    pub timeout: Duration,

    /// Worker threads [default: closed loop one per core; open loop one per 50,000 msgs/s and
    /// per 5,000 connections, at most one per core].
    #[arg(long, value_name = "T", env = "SHOUT_BENCH_THREADS",
          value_parser = clap::value_parser!(u64).range(1..=MAX_THREADS))]
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

/// `shout bench` on its own, so its options parse without the rest of the command line.
#[derive(Parser)]
#[command(name = "shout bench")]
struct BenchCommand {
    #[command(flatten)]
    args: BenchArgs,
}

impl BenchArgs {
    /// Parses `shout bench` options from `args` (without the program and subcommand names).
    pub fn try_parse_from<I, T>(args: I) -> Result<BenchArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let full = std::iter::once("shout bench".into()).chain(args.into_iter().map(Into::into));
        BenchCommand::try_parse_from(full).map(|command| command.args)
    }

    /// The run length, as the report names it: the message count, else the duration (by
    /// default a rate profile's length).
    pub fn length(&self) -> Length {
        match (self.duration, self.messages) {
            (_, Some(m)) => Length::Messages(m),
            (Some(d), None) => Length::Duration(d),
            (None, None) => {
                let profile = self.rate_profile().ok().flatten();
                match profile.map(|p| p.length()) {
                    Some(d) if !d.is_zero() => Length::Duration(d),
                    _ => Length::Duration(DEFAULT_DURATION),
                }
            }
        }
    }

    /// The open-loop rate profile `--rate`, `--ramp` and `--step` make (`None`: closed loop;
    /// `--find-max`: its starting rate); an error says what is wrong with the combination.
    pub fn rate_profile(&self) -> Result<Option<RateProfile>, String> {
        if self.find_max {
            if self.ramp.is_some() || self.step.is_some() {
                return Err("--find-max sets the rates itself: no --ramp or --step".into());
            }
            return match &self.rate {
                None => Ok(Some(RateProfile::Constant(DEFAULT_START_RATE))),
                Some(RateSpec::Constant(r)) => Ok(Some(RateProfile::Constant(*r))),
                Some(_) => Err("--find-max starts from one rate: --rate R, not a profile".into()),
            };
        }
        match &self.rate {
            Some(spec) => RateProfile::new(spec, self.ramp, self.step).map(Some),
            None if self.ramp.is_some() => Err("--ramp needs --rate A..B".into()),
            None if self.step.is_some() => Err("--step needs --rate A,B,C".into()),
            None => Ok(None),
        }
    }

    /// Checks what clap cannot: the combinations of the rate, profile and `--find-max`
    /// options, the bytes in flight, and that an open-loop run schedules a message.
    pub fn check(&self) -> Result<(), String> {
        let profile = self.rate_profile()?;
        self.check_bytes_in_flight()?;
        if let Some(profile) = &profile {
            self.check_schedule(profile)?;
        }
        if self.find_max && self.slo.is_empty() {
            return Err("--find-max needs a target: --slo p99=1ms (or p50, p90, p99.9)".into());
        }
        if !self.find_max && !self.slo.is_empty() {
            return Err("--slo is for --find-max".into());
        }
        // Two bounds on one percentile: which is meant cannot be told.
        for (i, bound) in self.slo.iter().enumerate() {
            if self.slo[..i].iter().any(|b| b.quantile == bound.quantile) {
                let name = bound.quantile.name();
                return Err(format!(
                    "--slo gives {name} twice; give one bound per percentile"
                ));
            }
        }
        Ok(())
    }

    /// Refuses more than [`MAX_BYTES_IN_FLIGHT`] bytes of messages in flight.
    fn check_bytes_in_flight(&self) -> Result<(), String> {
        let bytes =
            u128::from(self.connections) * u128::from(self.pipeline) * u128::from(self.size);
        if bytes <= u128::from(MAX_BYTES_IN_FLIGHT) {
            return Ok(());
        }
        Err(format!(
            "--connections {} x --pipeline {} x --size {} puts {} MiB of messages in flight; \
             the most is {} MiB per process (each message is held with its expected answer \
             until answered): lower one of them, or spread the load over several processes",
            self.connections,
            self.pipeline,
            self.size,
            bytes >> 20,
            MAX_BYTES_IN_FLIGHT >> 20
        ))
    }

    /// An open-loop run with a duration must schedule at least one message after the
    /// warm-up (`--rate 0.001 -d 2s` would send nothing); `--find-max` sets its own rates.
    fn check_schedule(&self, profile: &RateProfile) -> Result<(), String> {
        let Length::Duration(d) = self.length() else {
            return Ok(());
        };
        if self.find_max {
            return Ok(());
        }
        let warmup = self.effective_warmup();
        let mut curve = profile.curve(warmup);
        let due = curve.due_by(warmup + d) - curve.due_by(warmup);
        // The schedule counts a hair over, as it does (see `Schedule::due_by`).
        if due + 1e-6 >= 1.0 {
            return Ok(());
        }
        let d_text = shout_common::cli::format_duration(d);
        Err(format!(
            "--rate {} over {d_text} schedules no message ({due:.3} due): give a rate of at \
             least {} msgs/s, or a longer --duration",
            self.rate
                .as_ref()
                .map_or_else(String::new, ToString::to_string),
            1.0 / d.as_secs_f64()
        ))
    }

    /// The warm-up: `--warmup`; with `--find-max` each step's, at least a second and in whole
    /// seconds (steps are measured by the second).
    pub fn effective_warmup(&self) -> Duration {
        if self.find_max {
            Duration::from_secs(self.warmup.as_secs_f64().ceil().max(1.0) as u64)
        } else {
            self.warmup
        }
    }

    /// `--find-max`: how long each step is measured, in whole seconds.
    pub fn step_measure(&self) -> Duration {
        let d = self.duration.unwrap_or(DEFAULT_STEP_MEASURE);
        Duration::from_secs(d.as_secs_f64().ceil().max(1.0) as u64)
    }
}

/// How long a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Until this many messages are started.
    Messages(u64),
    /// This long after the warm-up.
    Duration(Duration),
}

/// A duration greater than zero (a zero-length run or timeout is a usage error).
fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("'{s}' is zero; give a duration greater than 0")),
        d => Ok(d),
    }
}

/// A number from 0 to 1.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a fraction from 0 to 1")),
    }
}

/// A finite number greater than zero (a rate).
fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use shout_common::cli::format_duration;

    /// The help of option `id`.
    fn help(id: &str) -> String {
        let command = BenchCommand::command();
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == id)
            .unwrap_or_else(|| panic!("no option {id}"));
        arg.get_help().map(ToString::to_string).unwrap_or_default()
    }

    /// `50000` as the help writes it: `50,000`.
    fn thousands(n: u64) -> String {
        format!("{},{:03}", n / 1000, n % 1000)
    }

    /// The help texts that quote a constant agree with it.
    #[test]
    fn help_quotes_the_constants() {
        let duration = help("duration");
        assert!(
            duration.contains(&format_duration(DEFAULT_DURATION)),
            "{duration}"
        );
        let size = help("size");
        assert!(
            size.contains(&format!("at least {}", payload::MIN_SIZE)),
            "{size}"
        );
        let find_max = help("find_max");
        assert!(
            find_max.contains(&thousands(DEFAULT_START_RATE as u64)),
            "{find_max}"
        );
        let threads = help("threads");
        for n in [OPEN_LOOP_RATE_PER_THREAD as u64, CONNECTIONS_PER_THREAD] {
            assert!(threads.contains(&thousands(n)), "{threads}");
        }
    }

    /// Options parse on their own, and the run length follows from them.
    #[test]
    fn parses_and_names_the_length() {
        let args = BenchArgs::try_parse_from(["-c", "3"]).expect("valid");
        assert_eq!(args.connections, 3);
        assert_eq!(args.length(), Length::Duration(DEFAULT_DURATION));
        let args = BenchArgs::try_parse_from(["-n", "7"]).expect("valid");
        assert_eq!(args.length(), Length::Messages(7));
        assert!(BenchArgs::try_parse_from(["-n", "7", "-d", "1s"]).is_err());
    }

    /// Messages in flight are capped: connections x pipeline x size.
    #[test]
    fn bytes_in_flight_are_capped() {
        let parse = |a: &[&str]| BenchArgs::try_parse_from(a).expect("parses");
        let most = parse(&["-c", "64", "-s", "16777216"]);
        assert_eq!(most.check(), Ok(()), "64 x 16 MiB is the cap");
        let e = parse(&["-c", "65", "-s", "16777216"])
            .check()
            .expect_err("over");
        assert!(e.contains("the most is 1024 MiB per process"), "{e}");
        let e = parse(&["-c", "100", "-p", "65536", "-s", "16777216"])
            .check()
            .expect_err("over");
        assert!(e.contains("--pipeline 65536"), "{e}");
    }

    /// Rate profiles: their options go together, and a profile's length is the default run
    /// length; --find-max wants an SLO and one starting rate.
    #[test]
    fn rate_profiles_and_find_max_are_checked() {
        let parse = |a: &[&str]| BenchArgs::try_parse_from(a).expect("parses");
        let ramp = parse(&["--rate", "10..20", "--ramp", "3s"]);
        assert_eq!(ramp.check(), Ok(()));
        assert_eq!(ramp.length(), Length::Duration(Duration::from_secs(3)));
        let steps = parse(&["--rate", "1,2,3", "--step", "2s", "-d", "1s"]);
        assert_eq!(steps.length(), Length::Duration(Duration::from_secs(1)));
        let steps = parse(&["--rate", "1,2,3", "--step", "2s"]);
        assert_eq!(steps.length(), Length::Duration(Duration::from_secs(6)));
        for (bad, words) in [
            (&["--rate", "10..20"][..], "needs --ramp"),
            (&["--ramp", "3s"][..], "--ramp needs --rate"),
            (&["--step", "3s"][..], "--step needs --rate"),
            (&["--rate", "5", "--ramp", "3s"][..], "needs a range"),
            (&["--find-max"][..], "needs a target"),
            (&["--slo", "p99=1ms"][..], "is for --find-max"),
            (
                &[
                    "--find-max",
                    "--slo",
                    "p99=1ms",
                    "--rate",
                    "1,2",
                    "--step",
                    "1s",
                ][..],
                "no --ramp",
            ),
            (
                &["--find-max", "--slo", "p99=1ms", "--rate", "1..2"][..],
                "one rate",
            ),
            (
                &["--find-max", "--slo", "p99=1ms,p50=1ms", "--slo", "p99=2ms"][..],
                "--slo gives p99 twice",
            ),
        ] {
            let e = parse(bad).check().expect_err(words);
            assert!(e.contains(words), "{bad:?}: {e}");
        }
        assert!(BenchArgs::try_parse_from(["--rate", "1..x"]).is_err());
        // A run that would schedule no message is refused, with the rate it needs.
        let e = parse(&["--rate", "0.001", "-d", "2s"])
            .check()
            .expect_err("no message");
        assert!(e.contains("schedules no message"), "{e}");
        assert!(e.contains("at least 0.5 msgs/s"), "{e}");
        assert_eq!(parse(&["--rate", "0.5", "-d", "2s"]).check(), Ok(()));
        let warm = parse(&["--rate", "0.4", "-d", "2s", "--warmup", "10s"]);
        assert!(warm.check().is_err(), "none due after the warm-up");
        assert!(BenchArgs::try_parse_from(["--slo", "p42=1ms"]).is_err());
        assert!(BenchArgs::try_parse_from(["--slo-error-rate", "2"]).is_err());
        let fm = parse(&["--find-max", "--slo", "p99=1ms", "--warmup", "300ms"]);
        assert_eq!(fm.check(), Ok(()));
        assert_eq!(fm.effective_warmup(), Duration::from_secs(1));
        assert_eq!(fm.step_measure(), DEFAULT_STEP_MEASURE);
        assert_eq!(
            fm.rate_profile(),
            Ok(Some(RateProfile::Constant(DEFAULT_START_RATE)))
        );
    }
}
