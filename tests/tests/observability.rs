//! Observability: the `/metrics` endpoint serves every documented metric in the OpenMetrics
//! text format and its numbers move live (while connections are still open), it answers 404/405
//! to other requests and a silent scraper does not hold up the others; `--stats-interval` logs a
//! periodic summary line and `--metrics-listen` is reported at start-up; and both binaries print
//! shell completions and a man page.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shout_server::{Config, Handle, Model, Server, Snapshot};
use shout_tests::*;

/// The server's own limit on how long a scrape may take to send its request (`SCRAPE_TIMEOUT`
/// in `server/src/metrics.rs`): a server that served scrapes one at a time would make the next
/// scraper wait this long behind a silent one.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// An in-process server on ephemeral loopback ports with the metrics endpoint on; stopped on
/// drop.
struct MetricsServer {
    addr: SocketAddr,
    metrics: SocketAddr,
    handle: Handle,
    thread: Option<JoinHandle<std::io::Result<Snapshot>>>,
}

impl MetricsServer {
    fn start(model: Model) -> MetricsServer {
        let server = Server::bind(Config {
            listen: vec!["127.0.0.1:0".parse().expect("valid address")],
            metrics_listen: Some("127.0.0.1:0".parse().expect("valid address")),
            model,
            ..Config::default()
        })
        .expect("bind ephemeral ports");
        let addr = server.local_addrs()[0];
        let metrics = server.metrics_addr().expect("metrics endpoint configured");
        let handle = server.handle();
        let thread = thread::spawn(move || server.run());
        MetricsServer {
            addr,
            metrics,
            handle,
            thread: Some(thread),
        }
    }

    /// `GET /metrics`, which must answer 200 with the OpenMetrics text.
    fn scrape(&self) -> Metrics {
        scrape(self.metrics)
    }

    /// Shuts down and waits for `run` to return cleanly.
    fn stop(mut self) {
        self.handle.shutdown();
        let thread = self.thread.take().expect("stopped once");
        join_within(thread, TIMEOUT * 3).expect("server run failed");
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            // Only on a failing test: do not hide its panic behind another.
            let _ = join_within(thread, TIMEOUT * 3);
        }
    }
}

/// An HTTP response: status code, head (status line and headers) and body.
struct Response {
    status: u16,
    head: String,
    body: String,
}

/// Sends `request` verbatim to `addr` and reads the answer until the server closes. Checks that
/// the answer is HTTP/1.1 and that its `Content-Length` matches the body.
fn http(addr: SocketAddr, request: &str) -> Response {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).expect("send request");
    let raw = String::from_utf8(read_to_end(&mut stream)).expect("UTF-8 response");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in response: {raw:?}"));
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {status_line:?}"));
    let length: usize = header(head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
    assert_eq!(length, body.len(), "Content-Length does not match the body");
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The value of header `name` (case-insensitive) in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// `GET` of `path` on `addr`.
fn get(addr: SocketAddr, path: &str) -> Response {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: shout\r\nConnection: close\r\n\r\n"),
    )
}

/// A scrape: the metrics text, read by exact series (name and labels).
struct Metrics(String);

impl Metrics {
    /// The value of the series written exactly as `series` (`name` or `name{labels}`).
    fn raw(&self, series: &str) -> &str {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then_some(value)
            })
            .unwrap_or_else(|| panic!("no series {series} in the scrape:\n{}", self.0))
    }

    /// A counter's value.
    fn counter(&self, series: &str) -> u64 {
        let v = self.raw(series);
        v.parse()
            .unwrap_or_else(|_| panic!("{series} is not a counter value: {v:?}"))
    }

    /// A gauge's value.
    fn gauge(&self, series: &str) -> i64 {
        let v = self.raw(series);
        v.parse()
            .unwrap_or_else(|_| panic!("{series} is not a gauge value: {v:?}"))
    }
}

/// Scrapes `addr`, checking the status, the content type and the final `# EOF`.
fn scrape(addr: SocketAddr) -> Metrics {
    let response = get(addr, "/metrics");
    assert_eq!(response.status, 200, "scrape failed: {}", response.body);
    let content_type = header(&response.head, "content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "unexpected content type {content_type:?}"
    );
    assert!(
        response.body.ends_with("# EOF\n"),
        "the scrape does not end with # EOF:\n{}",
        response.body
    );
    Metrics(response.body)
}

/// Runs binary `name` with `args` (stdin closed); returns (exit code, stdout, stderr).
fn run(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).expect("read stdout");
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).expect("read stderr");
        s
    });
    let status = wait_child(&mut child);
    (
        status.code(),
        join_within(out, TIMEOUT),
        join_within(err, TIMEOUT),
    )
}

/// The numeric value of field `name=` in a text log line.
fn field(line: &str, name: &str) -> u64 {
    let needle = format!("{name}=");
    line.split(' ')
        .find_map(|word| word.strip_prefix(needle.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric field {name} in log line: {line}"))
}

model_tests! {
/// Every documented metric is served, and the traffic counters move while a connection is still
/// open (by exactly the bytes exchanged), as do the active and closed counts when it ends.
fn metrics_are_served_and_move(model) {
    let server = MetricsServer::start(model);
    let before = server.scrape();
    for series in [
        "shout_connections_active",
        "shout_connections_accepted_total",
        "shout_connections_rejected_total{reason=\"max_connections\"}",
        "shout_connections_rejected_total{reason=\"max_connections_per_ip\"}",
        "shout_log_lines_dropped_total",
        "shout_connections_closed_total{reason=\"done\"}",
        "shout_received_bytes_total",
        "shout_sent_bytes_total",
        "shout_errors_total{kind=\"accept\"}",
        "shout_workers",
    ] {
        before.raw(series);
    }
    let info = before
        .0
        .lines()
        .find(|line| line.starts_with("shout_build_info{"))
        .unwrap_or_else(|| panic!("no shout_build_info in the scrape:\n{}", before.0));
    assert!(
        info.contains(&format!("model=\"{}\"", model.as_str())),
        "build info names the wrong model: {info}"
    );
    assert!(info.ends_with("} 1"), "build info is not 1: {info}");
    assert_eq!(before.gauge("shout_connections_active"), 0);
    assert_eq!(before.counter("shout_errors_total{kind=\"accept\"}"), 0);
    assert_eq!(before.counter("shout_connections_rejected_total{reason=\"max_connections\"}"), 0);
    match model {
        Model::Threads => assert_eq!(before.gauge("shout_workers"), 0),
        Model::Pool => assert!(before.gauge("shout_workers") >= 1),
    }

    // 1000 bytes each way on a connection that stays open.
    let mut stream = connect(server.addr);
    let input: Vec<u8> = b"hello, metrics!\n".iter().copied().cycle().take(1000).collect();
    stream.write_all(&input).expect("send");
    assert_eq!(read_n(&mut stream, input.len()), input.to_ascii_uppercase());
    let n = input.len() as u64;
    let base_in = before.counter("shout_received_bytes_total");
    let base_out = before.counter("shout_sent_bytes_total");
    // The pool adds traffic at the end of an event-loop round, which may come just after the
    // answer reached us: wait for the counters to catch up, then require exact values.
    let during = wait_until("the byte counters to count the open connection", || {
        let m = server.scrape();
        (m.counter("shout_received_bytes_total") >= base_in + n
            && m.counter("shout_sent_bytes_total") >= base_out + n)
            .then_some(m)
    });
    assert_eq!(during.counter("shout_received_bytes_total"), base_in + n);
    assert_eq!(during.counter("shout_sent_bytes_total"), base_out + n);
    assert_eq!(during.gauge("shout_connections_active"), 1);
    assert_eq!(
        during.counter("shout_connections_accepted_total"),
        before.counter("shout_connections_accepted_total") + 1
    );
    assert_eq!(
        during.counter("shout_connections_closed_total{reason=\"done\"}"),
        before.counter("shout_connections_closed_total{reason=\"done\"}"),
        "counted as closed while still open"
    );
    if model == Model::Threads {
        assert_eq!(during.gauge("shout_workers"), 1, "one thread per connection");
    }

    // End it cleanly: the close is counted as done and nothing is active any more.
    stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    assert!(read_to_end(&mut stream).is_empty(), "no more answers expected");
    drop(stream);
    let done = before.counter("shout_connections_closed_total{reason=\"done\"}") + 1;
    let after = wait_until("the close to be counted", || {
        let m = server.scrape();
        (m.counter("shout_connections_closed_total{reason=\"done\"}") >= done).then_some(m)
    });
    assert_eq!(after.counter("shout_connections_closed_total{reason=\"done\"}"), done);
    assert_eq!(after.gauge("shout_connections_active"), 0);
    assert_eq!(after.counter("shout_received_bytes_total"), base_in + n);
    assert_eq!(after.counter("shout_sent_bytes_total"), base_out + n);
    server.stop();
}

/// Other paths get 404 and other methods 405, and scrapers that send nothing (or half a
/// request) neither delay other scrapes nor the server's clients, and are cut off in bounded
/// time.
fn metrics_endpoint_rejects_and_survives_silent_scrapers(model) {
    let server = MetricsServer::start(model);
    let not_found = get(server.metrics, "/nope");
    assert_eq!(not_found.status, 404, "{}", not_found.body);
    let post = http(
        server.metrics,
        "POST /metrics HTTP/1.1\r\nHost: shout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.status, 405, "{}", post.body);

    let mut silent = connect(server.metrics);
    let mut partial = connect(server.metrics);
    partial.write_all(b"GET /metr").expect("send half a request");
    // Give the server time to have accepted both and be waiting on them.
    thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let metrics = server.scrape();
    let took = started.elapsed();
    assert!(
        took < SCRAPE_TIMEOUT,
        "a scrape behind silent scrapers took {took:?}"
    );
    assert_eq!(metrics.gauge("shout_connections_active"), 0);
    assert_eq!(round_trip(server.addr, b"still served\n"), b"STILL SERVED\n");
    // The server does not wait for them forever (read_to_end panics after TIMEOUT).
    let started = Instant::now();
    read_to_end(&mut silent);
    read_to_end(&mut partial);
    assert!(started.elapsed() < TIMEOUT, "silent scrapers were held too long");
    server.scrape();
    server.stop();
}
}

/// `--stats-interval` logs a periodic summary line with the active count and the rates, and
/// the rates reflect traffic.
#[test]
fn stats_interval_logs_summary_lines() {
    let shoutd = Shoutd::start(&["--stats-interval", "200ms"]);
    let input = b"one\ntwo\nthree\n";
    assert_eq!(round_trip(shoutd.addr, input), b"ONE\nTWO\nTHREE\n");
    // The lines logged since start-up include one whose interval saw the traffic.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let line = shoutd.expect_log("stats");
        let active = field(&line, "active");
        let msgs = field(&line, "msgs_per_s");
        let bytes_in = field(&line, "bytes_in_per_s");
        assert!(active <= 1, "more connections than were opened: {line}");
        if bytes_in > 0 {
            assert!(msgs > 0, "bytes but no messages counted: {line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stats line ever showed the traffic; last: {line}"
        );
    }
    // And the lines keep coming.
    let next = shoutd.expect_log("stats");
    field(&next, "active");
}

/// `--metrics-listen` on the real binary: the start-up line names the metrics address, and that
/// address serves the metrics.
#[test]
fn metrics_listen_is_reported_at_startup() {
    let shoutd = Shoutd::start(&["--metrics-listen", "127.0.0.1:0"]);
    let line = shoutd.startup.last().expect("a start-up line");
    let addr: SocketAddr = line
        .split("metrics=")
        .nth(1)
        .and_then(|rest| rest.trim_start_matches('"').split(['"', ' ']).next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in the start-up line: {line}"));
    assert_ne!(addr.port(), 0, "the real port is reported, not 0: {line}");
    let metrics = scrape(addr);
    assert_eq!(metrics.gauge("shout_connections_active"), 0);
    assert_eq!(round_trip(shoutd.addr, b"abc"), b"ABC");
    let metrics = wait_until("the connection to be counted", || {
        let m = scrape(addr);
        (m.counter("shout_connections_closed_total{reason=\"done\"}") == 1).then_some(m)
    });
    assert_eq!(metrics.counter("shout_received_bytes_total"), 3);
    assert_eq!(metrics.counter("shout_sent_bytes_total"), 3);
}

/// Both binaries print a bash completion script that names them, and exit 0.
#[test]
fn completions_are_printed() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run(name, &["completions", "bash"]);
        assert_eq!(code, Some(0), "{name} completions bash failed: {err}");
        assert!(
            out.contains(&format!("_{name}()")) && out.contains("complete "),
            "{name}: not a bash completion script:\n{out}"
        );
        assert!(out.contains(name), "{name} is not named in its completions");
    }
}

/// Both binaries print a roff man page with a `.TH` title line naming them, and exit 0.
#[test]
fn man_pages_are_printed() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run(name, &["man"]);
        assert_eq!(code, Some(0), "{name} man failed: {err}");
        let title = out
            .lines()
            .find(|line| line.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{name}: no .TH line in the man page:\n{out}"));
        assert!(
            title.starts_with(&format!(".TH {name} ")),
            "{name}: the man page is titled {title:?}"
        );
    }
}

/// An unknown shell is a usage error: exit code 2 and a message, nothing on stdout.
#[test]
fn completions_for_unknown_shell_is_usage_error() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run(name, &["completions", "nosuchshell"]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(out.is_empty(), "{name} printed to stdout: {out}");
        assert!(
            err.contains("nosuchshell"),
            "{name}: unhelpful error: {err}"
        );
    }
}
