//! `shout bench` never says OK for a run that did not do what was asked, and refuses what it
//! cannot do: rates the generator cannot schedule, more bytes in flight than its cap, two
//! outputs on one file (usage errors, exit code 2, before any connection); a run that sent no
//! message fails; a closed stdout (`| head`) is not a panic, in `shout bench` or `shout report`.

use std::process::{Command, Stdio};

use serde_json::Value;
use shout_client::bench::execute;
use shout_tests::bench::{bench_args, shared_cores, TempDir};
use shout_tests::*;

/// Runs the real `shout` with `args`, no input; returns (exit code, stdout, stderr).
fn shout(args: &[&str]) -> (Option<i32>, String, String) {
    run_text("shout", args)
}

/// Runs the real `shout` with `args` and a stdout whose reader is already gone (as under
/// `| head -0`); returns (exit code, stderr).
fn shout_into_a_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (read, write) = rustix::pipe::pipe().expect("a pipe");
    drop(read);
    let mut child = Command::new(bin("shout"))
        .args(args)
        .env_remove("SHOUT_ADDR")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let status = wait_child(&mut child);
    (status.code(), join_within(reader, TIMEOUT))
}

/// Rates the generator cannot schedule are usage errors that give the limits: `--rate 1e10`
/// (every tick's batch beyond the backlog, all dropped) and `--rate 0.001 -d 2s` (no message
/// due in the run), where both used to report "sent 0 ... OK" with exit code 0.
#[test]
fn unschedulable_rates_are_usage_errors() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    for (rate, says) in [
        ("1e10", "from 0.001 to 10,000,000 msgs/s"),
        ("1000..2e7", "from 0.001 to 10,000,000 msgs/s"),
        ("0.001", "schedules no message"),
    ] {
        let (code, out, err) = shout(&["bench", "--rate", rate, "-d", "2s", &addr]);
        assert_eq!(code, Some(2), "--rate {rate}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains(says), "--rate {rate}: {err}");
        assert!(!out.contains("OK"), "{out}");
    }
    assert_eq!(server.stop().accepted, 0);
}

/// A run that sends nothing is not OK: two workers share 0.6 msgs/s for 2 s, so neither's
/// schedule has a message due (the run's 1.2 in all passes the usage check); it used to say
/// "OK: every message got its exact answer".
#[test]
fn a_run_that_sent_nothing_fails() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let args = bench_args(
        &[server.addr],
        &["--threads", "2", "-c", "2", "--rate", "0.6", "-d", "2s"],
    );
    let report = join_within(std::thread::spawn(move || execute(&args)), TIMEOUT * 2)
        .expect("the run starts");
    let c = report.counts();
    assert_eq!(c.sent, 0, "{c:?}");
    assert_eq!(report.exit_code(), 1, "{}", report.table());
    assert!(
        report
            .table()
            .contains("result        FAILED: no message was sent"),
        "{}",
        report.table()
    );
    assert_eq!(report.json()["ok"], false);
}

/// `--pipeline 65536 --size 16777216 -c 100` (100 TiB in flight: it used to grow by 1.5 GB/s
/// until killed) is a usage error naming the cap, before any connection.
#[test]
fn bytes_in_flight_beyond_the_cap_are_a_usage_error() {
    let addr = free_port_addr().to_string();
    let (code, out, err) = shout(&[
        "bench",
        "--pipeline",
        "65536",
        "--size",
        "16777216",
        "-c",
        "100",
        "-d",
        "1s",
        &addr,
    ]);
    assert_eq!(code, Some(2), "stdout: {out}\nstderr: {err}");
    assert!(err.contains("MiB of messages in flight"), "{err}");
    assert!(err.contains("the most is 1024 MiB per process"), "{err}");
    assert!(out.is_empty(), "nothing ran: {out}");
}

/// Two outputs on one file (`--json=F --report=F`, `--hdr-log` on the same file spelt
/// differently) are a usage error naming both, with nothing created and no connection made;
/// they used to leave one of them silently.
#[test]
fn colliding_outputs_are_refused() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let dir = TempDir::new("collide");
    let same = dir.file("run.out");
    let dotted = format!("{}/./run.out", dir.0.display());
    for (a, b) in [
        (format!("--json={same}"), format!("--report={same}")),
        (format!("--json={same}"), format!("--hdr-log={dotted}")),
        (format!("--report={dotted}"), format!("--hdr-log={same}")),
    ] {
        let (code, out, err) = shout(&["bench", "-n", "10", &a, &b, &addr]);
        assert_eq!(code, Some(2), "{a} {b}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains("are the same file"), "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(!dir.0.join("run.out").exists(), "created before refusing");
    }
    // Different files are fine, and `--json` alone (stdout) collides with no file.
    let (code, out, err) = shout(&[
        "bench",
        "-n",
        "10",
        "-c",
        "1",
        "--json",
        &format!("--report={}", dir.file("r.html")),
        &format!("--hdr-log={}", dir.file("r.hlog")),
        &addr,
    ]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert_eq!(server.stop().accepted, 1);
}

/// A stdout whose reader has gone (`shout bench | head -0`) is not a panic (exit 101): the
/// run ends with its own exit code, the files are written, and nothing is said about the pipe.
#[test]
fn bench_into_a_closed_stdout() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let dir = TempDir::new("closed-stdout");
    let json = dir.file("run.json");
    let (code, err) = shout_into_a_closed_pipe(&[
        "bench",
        "-n",
        "200",
        "-c",
        "2",
        &format!("--json={json}"),
        &server.addr.to_string(),
    ]);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("JSON");
    assert_eq!(report["messages"]["answered"], 200);
}

/// `shout report` into a closed stdout: exit code 0, no panic.
#[test]
fn report_into_a_closed_stdout() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let dir = TempDir::new("closed-stdout-report");
    let json = dir.file("run.json");
    let (code, out, err) = shout(&[
        "bench",
        "-n",
        "100",
        "-c",
        "1",
        &format!("--json={json}"),
        &server.addr.to_string(),
    ]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    let (code, err) = shout_into_a_closed_pipe(&["report", &json]);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
}
