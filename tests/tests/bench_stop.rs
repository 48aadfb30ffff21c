//! Stopping `shout bench` early: the first SIGINT or SIGTERM ends the run and writes every
//! report (table, JSON, HTML, HDR log) for the time measured, each saying it was stopped and
//! when, exit code 128 + the signal; a second signal exits at once. The HDR log grows as the
//! run goes. In-process, the same stop comes from a [`StopHandle`] (a dashboard's stop key).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;
use shout_client::bench::{execute_with, StopCause, StopHandle};
use shout_tests::bench::{bench_args, shared_cores, TempDir};
use shout_tests::*;

/// Starts the real `shout` with `args`, stdout and stderr piped.
fn start_shout(args: &[&str]) -> Child {
    Command::new(bin("shout"))
        .args(args)
        .env_remove("SHOUT_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shout")
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_child(child);
    kill_process(pid, signal).expect("signal the child");
}

/// The lines of `child`'s stderr, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Sends `sig` to `child` and waits for it to exit; returns its exit status, its stdout and
/// the lines of its stderr (`errors`) so far.
fn stop_and_wait(
    child: &mut Child,
    sig: Signal,
    errors: &mpsc::Receiver<String>,
) -> (ExitStatus, String, Vec<String>) {
    signal(child, sig);
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    let status = wait_child(child);
    let out = join_within(reader, TIMEOUT);
    (status, out, errors.try_iter().collect())
}

/// The result line of a bench table.
fn result_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.trim_start().starts_with("result"))
        .unwrap_or_else(|| panic!("no result line:\n{out}"))
}

/// Intervals in an HDR log's text (lines that are not comments or the column header).
fn intervals(log: &str) -> usize {
    log.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('"') && !l.is_empty())
        .count()
}

/// SIGINT in mid-run: the HDR log already holds a line per second before it comes (it used to
/// be empty until the end); then the run ends, exit code 130, and the table, the JSON, the
/// HTML and the HDR log each say it was stopped early and when (they used to stay empty).
#[test]
fn sigint_writes_every_report_for_the_time_measured() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let dir = TempDir::new("sigint");
    let (json, html, hlog) = (dir.file("r.json"), dir.file("r.html"), dir.file("r.hlog"));
    let mut child = start_shout(&[
        "bench",
        "-c",
        "2",
        "--rate",
        "200",
        "-d",
        "60s",
        &format!("--json={json}"),
        &format!("--report={html}"),
        &format!("--hdr-log={hlog}"),
        &server.addr.to_string(),
    ]);
    let errors = stderr_lines(&mut child);
    // Two whole seconds on disk while the run goes on.
    wait_until("two intervals in the HDR log", || {
        let text = std::fs::read_to_string(&hlog).unwrap_or_default();
        (intervals(&text) >= 2).then_some(())
    });
    let (status, out, err) = stop_and_wait(&mut child, Signal::INT, &errors);
    assert_eq!(status.code(), Some(130), "stdout: {out}\nstderr: {err:?}");
    assert!(
        err.iter().any(|l| l.contains("SIGINT: stopping early")),
        "{err:?}"
    );

    let result = result_line(&out);
    assert!(result.contains("STOPPED early at "), "{result}");
    assert!(result.contains("(SIGINT)"), "{result}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written")).expect("JSON");
    assert_eq!(report["stopped"]["by"], "SIGINT", "{}", report["stopped"]);
    let at = report["stopped"]["at_s"].as_f64().expect("a time");
    assert!((2.0..60.0).contains(&at), "stopped at {at} s");
    assert_eq!(report["exit_code"], 130);
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"]["timeouts"], 0, "in-flight answers awaited");
    assert!(report["messages"]["answered"].as_u64() > Some(0));
    assert_eq!(
        report["messages"]["unsent"], 0,
        "nothing owed after the stop"
    );

    let page = std::fs::read_to_string(&html).expect("HTML written");
    assert!(page.contains("STOPPED early at"), "the HTML says it");

    let log = std::fs::read_to_string(&hlog).expect("HDR log");
    assert!(intervals(&log) >= 2, "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("#shout bench: stopped early at ") && l.contains("SIGINT")),
        "{log}"
    );
    assert_eq!(server.stop().accepted, 2);
}

/// A second signal exits at once, with 128 + its number: here the first SIGTERM waits for
/// answers a silent server never sends (up to a 60 s `--timeout`); the second ends it.
#[test]
fn a_second_signal_exits_at_once() {
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("address").to_string();
    let mut child = start_shout(&["bench", "-c", "1", "-d", "60s", "--timeout", "60s", &addr]);
    // The connection is made (the kernel accepts it; nothing will answer).
    let (_held, _) = silent.accept().expect("the bench connects");
    let errors = stderr_lines(&mut child);
    signal(&child, Signal::TERM);
    let first = errors
        .recv_timeout(TIMEOUT)
        .expect("the first signal is answered");
    assert!(first.contains("SIGTERM: stopping early"), "{first}");
    assert!(
        child.try_wait().expect("wait").is_none(),
        "still awaiting answers"
    );
    signal(&child, Signal::TERM);
    let status = wait_child(&mut child);
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
}

/// The stop handle a dashboard's key would use: the in-process run ends soon after it, its
/// report says it was stopped (asked, exit code 130 as for Ctrl-C) and covers the time run.
#[test]
fn a_stop_handle_ends_the_run() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let args = bench_args(&[server.addr], &["-c", "2", "--rate", "500", "-d", "60s"]);
    let stop = StopHandle::new();
    let run = {
        let stop = stop.clone();
        std::thread::spawn(move || execute_with(&args, &stop).map_err(|e| format!("{e:#}")))
    };
    server.wait_for("the bench's messages", |s| s.active == 2 && s.bytes_in > 0);
    assert!(stop.stop(StopCause::Asked));
    let report = join_within(run, TIMEOUT).expect("the run ends");
    let stopped = report.stopped().expect("stopped early");
    assert_eq!(stopped.cause, StopCause::Asked);
    assert!(stopped.at < Duration::from_secs(30), "{stopped:?}");
    assert_eq!(report.exit_code(), 130, "{}", report.table());
    let c = report.counts();
    assert!(c.sent > 0, "{c:?}");
    assert_eq!((c.timeouts, c.unsent, c.short), (0, 0, 0), "{c:?}");
    assert!(
        report.table().contains("STOPPED early at"),
        "{}",
        report.table()
    );
    assert_eq!(server.stop().accepted, 2);
}

/// A `--find-max` search stopped by SIGTERM (or SIGINT) before its end exits 128 + the
/// signal like any stopped run (it used to exit 1, as a search that found nothing), its
/// result line and JSON saying it was stopped and found no answer.
#[test]
fn a_stopped_find_max_exits_as_stopped() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let dir = TempDir::new("find-max-stop");
    let json = dir.file("r.json");
    for (sig, name, code) in [(Signal::TERM, "SIGTERM", 143), (Signal::INT, "SIGINT", 130)] {
        let before = server.wait_for("the server's figures", |_| true).bytes_in;
        let mut child = start_shout(&[
            "bench",
            "--find-max",
            "--slo",
            "p99=500ms",
            "--rate",
            "100",
            "-d",
            "30s",
            "--warmup",
            "1s",
            "-c",
            "2",
            &format!("--json={json}"),
            &server.addr.to_string(),
        ]);
        let errors = stderr_lines(&mut child);
        server.wait_for("the search's messages", |s| {
            s.active == 2 && s.bytes_in > before
        });
        let (status, out, err) = stop_and_wait(&mut child, sig, &errors);
        assert_eq!(status.code(), Some(code), "stdout: {out}\nstderr: {err:?}");
        let result = result_line(&out);
        assert!(result.contains("STOPPED early at "), "{result}");
        assert!(result.contains(&format!("({name})")), "{result}");
        assert!(result.contains("before the search did"), "{result}");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON")).expect("JSON");
        assert_eq!(report["exit_code"], code);
        assert_eq!(report["find_max"]["found"], false);
        assert_eq!(report["stopped"]["by"], name);
        server.wait_for("the bench's connections closed", |s| s.active == 0);
    }
}
