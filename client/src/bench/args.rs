//! The options of `shout bench`, their defaults and limits, and how they are checked. Below
//! everything else in the bench: the report quotes them, `execute` plans the run from them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use shout_common::cli::parse_duration;
use shout_common::{Mode, DEFAULT_ADDR};

use super::payload;

/// The run length when neither `--duration` nor `--messages` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The largest `--size`: a message is held whole in memory with its answer, once per
/// connection and message in flight.
pub const MAX_SIZE: u64 = 16 << 20;

/// The largest `--pipeline`: far beyond what any server answers faster with, small enough
/// that a connection's expected answers stay in memory.
pub const MAX_PIPELINE: u64 = 65_536;

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
          value_parser = clap::value_parser!(u64).range(payload::MIN_SIZE as u64..=MAX_SIZE))]
    pub size: u64,

    /// Messages in flight per connection.
    #[arg(short, long, value_name = "K", env = "SHOUT_BENCH_PIPELINE", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIPELINE))]
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

    /// Write an HTML report (summary and charts, one self-contained file) to this file.
    #[arg(long, value_name = "FILE.html", env = "SHOUT_BENCH_REPORT")]
    pub report: Option<PathBuf>,

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

    /// The run length, as the report names it: the message count, else the duration.
    pub fn length(&self) -> Length {
        match (self.duration, self.messages) {
            (_, Some(m)) => Length::Messages(m),
            (Some(d), None) => Length::Duration(d),
            (None, None) => Length::Duration(DEFAULT_DURATION),
        }
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
}
