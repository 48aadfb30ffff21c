//! The `shoutd` command line (this test also makes `cargo test --workspace` build the binary
//! that the end-to-end tests in `tests/` run).

use std::process::Command;

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
