//! The `shout` command line and its exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shout_common::cli::parse_duration;
use shout_common::DEFAULT_ADDR;

use crate::bench::BenchArgs;
use crate::connect::{ConnectError, ConnectOptions};
use crate::{connect, interactive, pipe};

/// Exit code: everything was sent and answered.
pub const EXIT_OK: u8 = 0;
/// Exit code: the connection failed after it was made (reset, closed early, I/O error).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage error, or the server could not be reached at all.
pub const EXIT_USAGE_OR_CONNECT: u8 = 2;

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
    #[arg(long, value_name = "DURATION", env = "SHOUT_CONNECT_TIMEOUT", default_value = "5s",
          value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Connection attempts after the first fails, with backoff from 100ms doubling to 2s.
    #[arg(long, value_name = "N", env = "SHOUT_RETRIES", default_value_t = 0)]
    pub retries: u32,

    /// Prompt only: how long to wait for an answer without any progress (sending or receiving).
    #[arg(long, value_name = "DURATION", env = "SHOUT_REPLY_TIMEOUT", default_value = "10s",
          value_parser = parse_duration)]
    pub reply_timeout: Duration,
}

/// Subcommands of `shout`.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Load-test shoutd with many connections, checking every answer byte.
    Bench(BenchArgs),
    /// Shell completions and the man page.
    #[command(flatten)]
    Tool(shout_common::cli::Tool),
}

impl Args {
    fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            timeout: self.connect_timeout,
            retries: self.retries,
        }
    }
}

/// Runs `shout` with parsed arguments and returns its exit code; errors are printed as one
/// line on stderr.
pub fn run(args: &Args) -> ExitCode {
    match &args.command {
        Some(Command::Bench(bench)) => return crate::bench::run(bench),
        Some(Command::Tool(tool)) => {
            return match shout_common::cli::print_tool(
                tool,
                <Args as clap::CommandFactory>::command(),
            ) {
                Ok(()) => ExitCode::from(EXIT_OK),
                Err(e) => {
                    eprintln!("shout: {e}");
                    ExitCode::from(EXIT_FAILED)
                }
            };
        }
        None => {}
    }
    let opts = args.connect_options();
    if args.connect_timeout.is_zero() || args.reply_timeout.is_zero() {
        eprintln!("shout: timeouts must be greater than zero");
        return ExitCode::from(EXIT_USAGE_OR_CONNECT);
    }
    let result = if std::io::stdin().is_terminal() {
        interactive::run(&args.addr, &opts, args.reply_timeout)
    } else {
        connect::connect(&args.addr, &opts)
            .map_err(anyhow::Error::from)
            .and_then(|stream| pipe::run(stream, std::io::stdin(), std::io::stdout().lock()))
            .map(drop)
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("shout: {e:#}");
            if e.downcast_ref::<ConnectError>().is_some() {
                ExitCode::from(EXIT_USAGE_OR_CONNECT)
            } else {
                ExitCode::from(EXIT_FAILED)
            }
        }
    }
}
