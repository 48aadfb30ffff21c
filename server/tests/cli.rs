//! The `shoutd` command line (this test also makes `cargo test --workspace` build the binary
//! that the end-to-end tests in `tests/` run).

use std::process::Command;

/// Every option of `shoutd --help`, read from the clap definition, shows its environment
/// variable and its default; only `-v` and `-q` have no variable.
#[test]
fn help_lists_every_option_with_env_and_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_shoutd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let command = <shout_server::cli::Args as clap::CommandFactory>::command();
    let checked = check_help(&command, &help, &["verbose", "quiet"]);
    assert!(checked >= 14, "only {checked} options in the definition");
}

/// Checks that each argument of `command` has an entry in `help` (clap's output) that shows
/// its environment variable and its default, and that every argument but those in `no_env`
/// has a variable; returns how many arguments were checked.
fn check_help(command: &clap::Command, help: &str, no_env: &[&str]) -> usize {
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !["help", "version"].contains(&a.get_id().as_str()))
        .collect();
    for arg in &args {
        let id = arg.get_id().as_str();
        let entry = help_entry(help, arg).unwrap_or_else(|| panic!("{id}: not in --help:\n{help}"));
        match arg.get_env() {
            Some(env) => {
                let shown = format!("[env: {}=", env.to_string_lossy());
                assert!(entry.contains(&shown), "{id}: no {shown} in:\n{entry}");
            }
            None => assert!(no_env.contains(&id), "{id}: no environment variable"),
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() {
            let shown = format!("[default: {}]", defaults.join(" "));
            assert!(entry.contains(&shown), "{id}: no {shown} in:\n{entry}");
        }
    }
    args.len()
}

/// The entry of `arg` in clap's help: its heading line (`  -l, --listen <ADDR>`, `  [ADDR]`)
/// and the lines indented under it.
fn help_entry(help: &str, arg: &clap::Arg) -> Option<String> {
    let heading = |line: &str| {
        let text = line.trim_start();
        let text = text.split_once(", ").map_or(text, |(short, rest)| {
            if short.len() == 2 && short.starts_with('-') {
                rest
            } else {
                text
            }
        });
        match arg.get_long() {
            Some(long) => text
                .strip_prefix(&format!("--{long}"))
                .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '-')),
            None => {
                let name = arg
                    .get_value_names()
                    .and_then(|n| n.first())
                    .map(|n| n.to_string());
                let name = name.unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
                text.starts_with(&format!("[{name}]")) || text.starts_with(&format!("<{name}>"))
            }
        }
    };
    let lines: Vec<&str> = help.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.len() - line.trim_start().len() <= 6 && heading(line))?;
    let under = lines[at + 1..]
        .iter()
        .take_while(|line| line.trim().is_empty() || line.starts_with("          "))
        .count();
    Some(lines[at..=at + under].join("\n"))
}

/// A port already taken is one clear error line and exit code 1.
#[test]
fn address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_shoutd"))
        .args(["--listen", &addr, "-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with(&format!("shoutd: cannot listen on {addr}: ")),
        "{err}"
    );
}

/// Out-of-range numbers are usage errors (exit 2) that name the option, not failures later.
#[test]
fn out_of_range_numbers_are_usage_errors() {
    for (args, names) in [
        (&["--backlog=-5"][..], "--backlog"),
        (&["--backlog", "0"][..], "--backlog"),
        (&["--workers", "100000"][..], "--workers"),
        (
            &["--max-connections-per-ip", "0"][..],
            "--max-connections-per-ip",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_shoutd"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(names), "{args:?}: {err}");
    }
}

/// Listening on every interface without a per-address cap warns that one client could take
/// every slot (checked without exposing anything: the port is taken, so binding fails after
/// the warning).
#[test]
fn listening_everywhere_without_per_ip_cap_warns() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_shoutd"))
            .args(["--listen", &format!("0.0.0.0:{port}")])
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "the port should be taken");
        String::from_utf8(out.stderr).unwrap()
    };
    let warned = run(&[]);
    assert!(
        warned.contains("without --max-connections-per-ip"),
        "{warned}"
    );
    let capped = run(&["--max-connections-per-ip", "100"]);
    assert!(
        !capped.contains("without --max-connections-per-ip"),
        "{capped}"
    );
}
