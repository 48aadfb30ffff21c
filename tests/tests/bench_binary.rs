//! The real `shout bench` binary: exit code 2 for usage errors (a message that explains
//! `--json=FILE`) and for a server nobody listens on, and the table or JSON of a passing run on
//! stdout with exit code 0.

use std::mem::MaybeUninit;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use serde_json::Value;
use shout_tests::bench::{shared_cores, TempDir};
use shout_tests::*;

/// Runs the real `shout` with `args`, no input; returns (exit code, stdout, stderr).
fn shout(args: &[&str]) -> (Option<i32>, String, String) {
    run_text("shout", args)
}

/// The real binary: exit code 2 for a usage error (`--size 3`).
#[test]
fn binary_usage_error_exits_2() {
    let (code, out, err) = shout(&["bench", "--size", "3", "-n", "10", "127.0.0.1:1"]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("--size"), "{err}");
}

/// The real binary: exit code 2 when nothing listens on the address (no connection can be set
/// up).
#[test]
fn binary_nothing_listening_exits_2() {
    let addr = free_port_addr();
    let (code, out, err) = shout(&[
        "bench",
        "-c",
        "3",
        "-n",
        "30",
        "--timeout",
        "2s",
        &addr.to_string(),
    ]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("connections could not be set up"), "{out}");
    assert!(out.contains("why failed    connection refused 3"), "{out}");
    assert!(out.contains("is shoutd running?"), "{out}");
}

/// The real binary: `--duration 0` is a usage error (exit code 2), not a passing run of no
/// messages.
#[test]
fn binary_zero_duration_is_a_usage_error() {
    let server = TestServer::default_config();
    let (code, out, err) = shout(&["bench", "-d", "0", &server.addr.to_string()]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("--duration"), "{err}");
    assert!(!out.contains("OK"), "{out}");
    assert_eq!(server.stop().accepted, 0);
}

/// The real binary: `--json report.json` (a space) says the file needs `--json=report.json`,
/// exit code 2, and runs nothing.
#[test]
fn binary_json_with_a_space_explains_the_equals() {
    let server = TestServer::default_config();
    let (code, out, err) = shout(&[
        "bench",
        "-n",
        "10",
        "--json",
        "report.json",
        &server.addr.to_string(),
    ]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("--json=report.json"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(!std::path::Path::new("report.json").exists());
    assert_eq!(server.stop().accepted, 0);
}

/// The real binary: an output file that cannot be written (`--json=FILE`, `--report`,
/// `--hdr-log` in a missing directory) is a usage error before the run (exit 2, one line
/// naming it, no connection made), not a run whose figures are lost at its end.
#[test]
fn binary_unwritable_outputs_are_refused_before_the_run() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    for (option, what) in [
        ("--json=/nonexistent/shout/r.json", "the JSON report"),
        ("--report=/nonexistent/shout/r.html", "the HTML report"),
        ("--hdr-log=/nonexistent/shout/r.hlog", "the histogram log"),
    ] {
        let (code, out, err) = shout(&["bench", "-d", "30s", option, &addr]);
        assert_eq!(code, Some(2), "{option}\nstdout: {out}\nstderr: {err}");
        assert!(
            err.contains(&format!("cannot write {what} /nonexistent/shout/")),
            "{err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    assert_eq!(server.stop().accepted, 0);
}

/// The real binary: a passing run exits 0 and prints the table with its result line.
#[test]
fn binary_passing_run_prints_table() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let (code, out, err) = shout(&["bench", "-c", "4", "-n", "2000", &server.addr.to_string()]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let result = out
        .lines()
        .find(|l| l.trim_start().starts_with("result"))
        .unwrap_or_else(|| panic!("no result line in:\n{out}"));
    assert!(result.contains("OK"), "{result}");
    assert!(out.contains("latency (µs)"), "{out}");
    assert!(out.contains("sent 2000  answered 2000"), "{out}");
    // stderr is a pipe here: no progress line.
    assert!(!err.contains("msgs/s"), "progress on a pipe: {err}");
}

/// The real binary: `--json` alone prints one JSON document on stdout instead of the table.
#[test]
fn binary_json_to_stdout() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let (code, out, err) = shout(&[
        "bench",
        "--json",
        "-c",
        "2",
        "-n",
        "1000",
        &server.addr.to_string(),
    ]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let json: Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(json["ok"], true);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["messages"]["answered"], 1000);
    assert_eq!(json["config"]["connections"], 2);
}

/// `--hdr-log`, `--json=FILE` and `--report` are each created when the outputs are checked,
/// before the run, and written through that opening, not created again to be written:
/// nothing can come between the two and be truncated, and a named pipe's reader sees one
/// writer from the first byte to the end. Counted by inotify: each file is opened exactly once
/// (openings and closings watched, so two openings are two events, not one merged).
#[test]
fn binary_outputs_are_opened_once() {
    let server = TestServer::default_config();
    let dir = TempDir::new("outputs-once");
    let watch = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).expect("inotify");
    inotify::add_watch(
        &watch,
        dir.0.as_path(),
        WatchFlags::OPEN | WatchFlags::CLOSE_WRITE,
    )
    .expect("watch");
    let (log, json, html) = (dir.file("r.hlog"), dir.file("r.json"), dir.file("r.html"));
    let (code, out, err) = shout(&[
        "bench",
        "-c",
        "2",
        "-n",
        "400",
        &format!("--hdr-log={log}"),
        &format!("--json={json}"),
        &format!("--report={html}"),
        &server.addr.to_string(),
    ]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let mut buf = [MaybeUninit::uninit(); 4096];
    let mut events = inotify::Reader::new(&watch, &mut buf);
    let mut opened = std::collections::BTreeMap::new();
    loop {
        match events.next() {
            Ok(e) => {
                if let (Some(name), true) = (e.file_name(), e.events().contains(ReadFlags::OPEN)) {
                    *opened
                        .entry(name.to_string_lossy().into_owned())
                        .or_insert(0) += 1;
                }
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("reading inotify events: {e}"),
        }
    }
    for name in ["r.hlog", "r.json", "r.html"] {
        assert_eq!(opened.get(name), Some(&1), "{name} openings: {opened:?}");
    }
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(text.starts_with("#shout bench latency log"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON")).expect("JSON");
    assert_eq!(report["messages"]["answered"], 400, "{report}");
    let page = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(
        page.starts_with("<!DOCTYPE html>"),
        "{}",
        &page[..page.len().min(200)]
    );
}
