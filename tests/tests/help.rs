//! `--help` of both binaries shows, for every option in their clap definitions, its
//! environment variable and its default.

use shout_tests::help::check_help;
use shout_tests::run_text;

/// The help of `binary` with `args`.
fn help(binary: &str, args: &[&str]) -> String {
    let (code, out, err) = run_text(binary, args);
    assert_eq!(code, Some(0), "{binary} {args:?}: {err}");
    out
}

/// Every option of `shoutd --help` shows its environment variable and its default; only `-v`
/// and `-q` have no variable.
#[test]
fn shoutd_help_lists_every_option_with_env_and_default() {
    let command = <shout_server::cli::Args as clap::CommandFactory>::command();
    let checked = check_help(
        &command,
        &help("shoutd", &["--help"]),
        &["verbose", "quiet"],
    );
    assert!(checked >= 14, "only {checked} options in the definition");
}

/// Every option of `shout --help` and of `shout bench --help` shows its environment variable
/// and its default; only the bench's server list has no variable.
#[test]
fn shout_help_lists_every_option_with_env_and_default() {
    let command = <shout_client::cli::Args as clap::CommandFactory>::command();
    let checked = check_help(&command, &help("shout", &["--help"]), &[]);
    assert!(checked >= 4, "only {checked} options in the definition");
    let bench = command
        .find_subcommand("bench")
        .expect("a bench subcommand");
    let checked = check_help(bench, &help("shout", &["bench", "--help"]), &["addrs"]);
    assert!(
        checked >= 16,
        "only {checked} bench options in the definition"
    );
}
