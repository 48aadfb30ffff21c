//! The live dashboard of the real `shout bench`, through a pseudo-terminal: its panels with
//! the run's figures (the search's steps with `--find-max`), `q` and Ctrl-C stopping a run early (a second Ctrl-C exiting at once),
//! small terminals and resizes, SIGTERM, and the terminal given back on every way out (the alternate
//! screen left, echo and line mode on again, the report printed after). A piped run writes
//! no escape codes. Every wait is bounded and wakes on new output.

use std::net::TcpListener;
use std::time::Instant;

use rustix::process::{kill_process, Pid, Signal};
use rustix::termios::LocalModes;
use serde_json::Value;
use shout_tests::bench::TempDir;
use shout_tests::pty::{Terminal, ALT_SCREEN_OFF, ALT_SCREEN_ON};
use shout_tests::*;

/// Ctrl-C, as a terminal in raw mode sends it.
const CTRL_C: &str = "\x03";

/// The terminal's line mode and echo.
fn cooked() -> LocalModes {
    LocalModes::ICANON | LocalModes::ECHO
}

/// The figure of a panel's row `name` on `screen` (`│opened      4│` gives `4`).
fn row(screen: &str, name: &str) -> Option<String> {
    let start = format!("│{name} ");
    screen.lines().find_map(|l| {
        let after = &l[l.find(&start)? + start.len()..];
        Some(after.split('│').next()?.trim().to_string())
    })
}

/// Asserts that the dashboard gave the terminal back (once the test saw it leave the
/// alternate screen): it did not enter it again, and echo and line mode are on.
fn assert_restored(term: &Terminal) {
    let all = term.whole_screen();
    let left = all
        .rfind(ALT_SCREEN_OFF)
        .expect("the alternate screen was left");
    assert!(
        all.rfind(ALT_SCREEN_ON).is_some_and(|on| on < left),
        "{all:?}"
    );
    let modes = term.termios().local_modes;
    assert!(modes.contains(cooked()), "{modes:?}");
}

/// The dashboard takes the terminal (alternate screen, raw mode) and shows every panel with
/// the run's figures; at the normal end it gives the terminal back and the report is printed
/// on the normal screen, after it.
#[test]
fn panels_show_the_run_then_the_terminal_is_restored() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn(
        "dash-normal",
        &["bench", "-c", "4", "-d", "3s", "--rate", "200", &addr],
    );
    term.expect(ALT_SCREEN_ON);
    let screen = term.expect_screen("the panels with figures", |s| {
        row(s, "opened").as_deref() == Some("4")
            && s.contains("target 200")
            && s.contains("measuring")
    });
    for panel in [
        "latency (log)",
        "errors: 0",
        "connections",
        "q, Esc, Ctrl-C",
    ] {
        assert!(screen.contains(panel), "{panel} missing:\n{screen}");
    }
    let modes = term.termios().local_modes;
    assert!(
        !modes.intersects(cooked()),
        "raw mode while drawing: {modes:?}"
    );
    term.expect(ALT_SCREEN_OFF);
    term.expect("OK: every message got its exact answer");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
    assert_restored(&term);
}

/// `q` ends a 60 s run within a few seconds: exit code 130, the JSON written and saying the
/// run was stopped early, the terminal restored.
#[test]
fn q_stops_a_long_run_early() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let dir = TempDir::new("dash-q");
    let json = dir.file("run.json");
    let mut term = Terminal::spawn(
        "dash-q",
        &[
            "bench",
            "-c",
            "2",
            "--rate",
            "100",
            "-d",
            "60s",
            &format!("--json={json}"),
            &addr,
        ],
    );
    term.expect_screen("the run measuring", |s| s.contains("measuring"));
    let asked = Instant::now();
    term.send("q");
    term.expect(ALT_SCREEN_OFF);
    let status = term.wait_exit();
    assert!(asked.elapsed() < TIMEOUT, "{:?}", asked.elapsed());
    assert_eq!(status.code(), Some(130), "{status}");
    assert_restored(&term);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON was written"))
            .expect("valid JSON");
    assert_eq!(report["stopped"]["by"], "asked to stop", "{report:#}");
    assert!(
        report["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("STOPPED early")),
        "{report:#}"
    );
}

/// A 40x12 terminal shows the gauge and the throughput chart only; grown to 100x30 it redraws
/// with every panel; Esc then stops the run and the terminal is restored.
#[test]
fn small_terminal_and_resize() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn_sized(
        "dash-small",
        &["bench", "-c", "2", "--rate", "100", "-d", "60s", &addr],
        40,
        12,
    );
    let small = term.expect_screen("the small dashboard", |s| s.contains("throughput:"));
    assert!(!small.contains("connections"), "{small}");
    term.resize(100, 30);
    let big = term.expect_screen("every panel after the resize", |s| {
        s.contains("connections") && s.contains("latency (log)") && s.contains("errors:")
    });
    assert!(big.lines().all(|l| l.chars().count() == 100), "{big}");
    term.send("\x1b");
    term.expect(ALT_SCREEN_OFF);
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(130), "{status}");
    assert_restored(&term);
}

/// Ctrl-C stops the run (it waits for answers a silent server never sends, up to a 60 s
/// `--timeout`); a second Ctrl-C exits at once, the terminal restored.
#[test]
fn second_ctrl_c_exits_at_once() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("address").to_string();
    let mut term = Terminal::spawn(
        "dash-ctrl-c",
        &["bench", "-c", "1", "-d", "60s", "--timeout", "60s", &addr],
    );
    // The connection is made (the kernel accepts it; nothing will answer).
    let (_held, _) = silent.accept().expect("the bench connects");
    term.expect_screen("the dashboard", |s| s.contains("shout bench"));
    term.send(CTRL_C);
    term.expect_screen("the run stopping", |s| s.contains("stopping early"));
    assert!(!term.termios().local_modes.contains(LocalModes::ICANON));
    term.send(CTRL_C);
    term.expect(ALT_SCREEN_OFF);
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(130), "{status}");
    assert_restored(&term);
}

/// SIGTERM stops the run as `q` does: the terminal is restored, exit code 143.
#[test]
fn sigterm_restores_the_terminal() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn(
        "dash-term",
        &["bench", "-c", "2", "--rate", "100", "-d", "60s", &addr],
    );
    term.expect_screen("the run measuring", |s| s.contains("measuring"));
    kill_process(Pid::from_child(term.child()), Signal::TERM).expect("signal shout");
    term.expect(ALT_SCREEN_OFF);
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(143), "{status}");
    assert_restored(&term);
}

/// With `--find-max` the search's panel shows the step under way and, once a step is judged,
/// the best rate so far; `q` ends the search (exit code 130, as for Ctrl-C), the terminal
/// restored.
#[test]
fn find_max_shows_its_steps() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn_sized(
        "dash-find-max",
        &[
            "bench",
            "--find-max",
            "--slo",
            "p99=500ms",
            "--rate",
            "200",
            "-d",
            "1s",
            "--warmup",
            "1s",
            "--max-steps",
            "20",
            "-c",
            "4",
            &addr,
        ],
        120,
        40,
    );
    let screen = term.expect_screen("the second step and a best rate", |s| {
        s.contains("step 2: ") && s.contains(" best 200 msgs/s ")
    });
    assert!(screen.contains("SLO p99 <= 500000 µs"), "{screen}");
    term.send("q");
    term.expect(ALT_SCREEN_OFF);
    term.expect("STOPPED early at ");
    term.expect("(asked to stop): the run ended before the search did");
    let status = term.wait_exit();
    // A search stopped before its end exits as any stopped run: 130, as for Ctrl-C.
    assert_eq!(status.code(), Some(130), "{status}");
    assert_restored(&term);
}

/// A piped run (stdout and stderr not terminals) writes no escape codes: no dashboard, no
/// progress line, the report as text.
#[test]
fn piped_run_has_no_escape_codes() {
    let server = TestServer::default_config();
    let (code, out, err) = run_text(
        "shout",
        &["bench", "-c", "2", "-d", "1s", &server.addr.to_string()],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("OK: every message"), "{out}");
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "{out:?}{err:?}"
    );
}
