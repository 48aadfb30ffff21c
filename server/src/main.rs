//! `shoutd`: parse options, set up logging, run the server library, map errors to exit codes
//! (0: clean shutdown, 1: error, 2: usage error, 128+N: second signal N).

use std::process::ExitCode;

use clap::Parser;
use shout_server::cli::{self, Args};
use shout_server::logging;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(tool) = &args.command {
        return match shout_common::cli::print_tool(tool, <Args as clap::CommandFactory>::command())
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                logging::last_words(&format!("shoutd: {e}"));
                ExitCode::FAILURE
            }
        };
    }
    logging::init(args.log_format, args.log_level());
    let code = match cli::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<cli::UsageError>() => {
            logging::last_words(&format!("shoutd: {e:#}"));
            ExitCode::from(2)
        }
        Err(e) => {
            logging::last_words(&format!("shoutd: {e:#}"));
            ExitCode::FAILURE
        }
    };
    logging::flush();
    code
}
