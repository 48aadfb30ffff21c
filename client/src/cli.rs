//! The `shout` command line: its options, and running the command they name, with every
//! ending mapped into an [`Outcome`] (which owns the exit codes).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shout_common::cli::{format_duration, parse_duration};
use shout_common::DEFAULT_ADDR;

use crate::bench::{BenchArgs, StopHandle};
use crate::connect::{ConnectOptions, DEFAULT_RETRIES, DEFAULT_TIMEOUT};
use crate::interactive::{self, DEFAULT_REPLY_TIMEOUT};
use crate::outcome::Outcome;
use crate::pipe;
use crate::report::ReportArgs;
use crate::stream::Stream;
use crate::tls::{TlsArgs, TlsClient};

/// clap's text for a duration default, made once from the constant that holds it (clap wants
/// a `&'static str`, and `Duration` has no `Display` for `default_value_t`).
macro_rules! default_duration {
    ($d:expr) => {{
        static TEXT: OnceLock<String> = OnceLock::new();
        TEXT.get_or_init(|| format_duration($d)).as_str()
    }};
}

/// shout: talk to shoutd. From a terminal, an interactive prompt; from a pipe, streams stdin
/// through the server to stdout. `shout bench` load-tests it, checking every answer.
#[derive(Debug, Parser)]
#[command(name = "shout", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Args {
    /// A subcommand instead of chatting.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The server: HOST:PORT, or HOST for port 9999.
    #[arg(value_name = "ADDR", env = "SHOUT_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,

    /// How long one connection attempt may take.
    #[arg(long, value_name = "DURATION", env = "SHOUT_CONNECT_TIMEOUT",
          default_value = default_duration!(DEFAULT_TIMEOUT), value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Connection attempts after the first fails, with backoff from 100ms doubling to 2s.
    #[arg(long, value_name = "N", env = "SHOUT_RETRIES", default_value_t = DEFAULT_RETRIES)]
    pub retries: u32,

    /// Prompt only: how long to wait for an answer without any progress (sending or receiving).
    #[arg(long, value_name = "DURATION", env = "SHOUT_REPLY_TIMEOUT",
          default_value = default_duration!(DEFAULT_REPLY_TIMEOUT), value_parser = parse_duration)]
    pub reply_timeout: Duration,

    /// TLS.
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Subcommands of `shout`.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Load-test shoutd with many connections, checking every answer byte.
    Bench(BenchArgs),
    /// HTML report of bench runs from their JSON; compare runs, or merge runs made at the same
    /// time (exit code 0 ok, 2 usage error or unreadable input, 1 output not written).
    Report(ReportArgs),
    /// Shell completions and the man page.
    #[command(flatten)]
    Tool(shout_common::cli::Tool),
}

impl Args {
    /// How to connect, from the options.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            timeout: self.connect_timeout,
            retries: self.retries,
        }
    }
}

/// Runs `shout` with parsed arguments; problems are printed as one line on stderr.
pub fn run(args: &Args) -> Outcome {
    match &args.command {
        Some(Command::Bench(bench)) => run_bench(bench),
        Some(Command::Report(report)) => crate::report::execute(report),
        Some(Command::Tool(tool)) => run_tool(tool),
        None => chat(args),
    }
}

/// `shout bench`: the report says how the run went; an error means it could not start. The
/// first SIGINT or SIGTERM stops the run early (its reports written), a second exits at once.
fn run_bench(args: &BenchArgs) -> Outcome {
    let stop = StopHandle::new();
    if let Err(e) = crate::bench::stop::watch_signals(stop.clone()) {
        // Could not start, like any other set-up failure.
        eprintln!("shout bench: {e:#}");
        return Outcome::UsageOrConnect;
    }
    match crate::bench::execute_with(args, &stop) {
        Ok(report) => report.outcome(),
        Err(e) => {
            eprintln!("shout bench: {e:#}");
            Outcome::UsageOrConnect
        }
    }
}

/// Completions or the man page, generated from the clap definition.
fn run_tool(tool: &shout_common::cli::Tool) -> Outcome {
    match shout_common::cli::print_tool(tool, <Args as clap::CommandFactory>::command()) {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("shout: {e}");
            Outcome::Failed
        }
    }
}

/// The prompt on a terminal, else pipe mode.
fn chat(args: &Args) -> Outcome {
    if args.connect_timeout.is_zero() || args.reply_timeout.is_zero() {
        eprintln!("shout: timeouts must be greater than zero");
        return Outcome::UsageOrConnect;
    }
    let opts = args.connect_options();
    let result = TlsClient::from_args(&args.tls, &args.addr)
        .map_err(anyhow::Error::from)
        .and_then(|tls| {
            if std::io::stdin().is_terminal() {
                interactive::run(&args.addr, &opts, tls.as_ref(), args.reply_timeout)
            } else {
                Stream::open(&args.addr, &opts, tls.as_ref())
                    .map_err(anyhow::Error::from)
                    .and_then(|stream| {
                        pipe::run(stream, std::io::stdin(), std::io::stdout().lock())
                    })
                    .map(drop)
            }
        });
    match result {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("shout: {e:#}");
            Outcome::of_error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{FIRST_BACKOFF, MAX_BACKOFF};
    use clap::CommandFactory;

    /// With no arguments, the connect options are their `Default`: clap and the code read the
    /// same constants.
    #[test]
    fn no_arguments_give_the_default_connect_options() {
        let args = Args::try_parse_from(["shout"]).expect("no arguments are valid");
        assert_eq!(args.connect_options(), ConnectOptions::default());
        assert_eq!(args.reply_timeout, DEFAULT_REPLY_TIMEOUT);
        assert_eq!(args.addr, DEFAULT_ADDR);
    }

    /// The help of `--retries` names the backoff the code uses.
    #[test]
    fn retries_help_quotes_the_backoff() {
        let command = Args::command();
        let retries = command
            .get_arguments()
            .find(|a| a.get_id() == "retries")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        let says = format!(
            "from {} doubling to {}",
            format_duration(FIRST_BACKOFF),
            format_duration(MAX_BACKOFF)
        );
        assert!(retries.contains(&says), "{retries}");
    }
}
