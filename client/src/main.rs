//! `shout`: parse options and run the client library (exit codes in
//! [`shout_client::outcome`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    shout_client::cli::run(&shout_client::cli::Args::parse()).into()
}
