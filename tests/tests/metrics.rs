//! The metrics endpoint (`--metrics-listen`): it serves every documented metric in the
//! OpenMetrics text format and its numbers move live (while connections are still open), it
//! answers 404/405 to other requests and ignores query strings; slow, idle or excess scrapers
//! never lock out a real scrape (excess ones get a `503`, every request has a deadline), and
//! accept errors on its listener are logged once and do not spin; the real binary reports its
//! addresses (host names too) at start-up.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shout_server::{Config, Model};
use shout_tests::http::{get, header, request, response, scrape, Metrics};
use shout_tests::*;

// The endpoint keeps these two private (`server/src/metrics/endpoint.rs`), so the tests hold a
// copy: if one changes there, the tests that lean on it fail and point here.

/// The metrics endpoint's whole-request deadline (`DEADLINE` in
/// `server/src/metrics/endpoint.rs`): a connection is closed this long after it was accepted.
const DEADLINE: Duration = Duration::from_secs(5);

/// The metrics endpoint's connections served at once (`SLOTS` in
/// `server/src/metrics/endpoint.rs`); beyond, the oldest unfinished request gets a `503`.
const SLOTS: usize = 16;

/// An in-process server of `model` with the metrics endpoint on an ephemeral loopback port too.
fn metrics_server(model: Model) -> TestServer {
    TestServer::start(Config {
        metrics_listen: vec!["127.0.0.1:0".parse().expect("valid address")],
        model,
        ..Config::default()
    })
}

model_tests! {
/// Every documented metric is served, and the traffic counters move while a connection is still
/// open (by exactly the bytes exchanged), as do the active and closed counts when it ends.
fn metrics_are_served_and_move(model) {
    let server = metrics_server(model);
    let before = scrape(server.metrics());
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
        let m = scrape(server.metrics());
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
        let m = scrape(server.metrics());
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
    let server = metrics_server(model);
    let not_found = get(server.metrics(), "/nope");
    assert_eq!(not_found.status, 404, "{}", not_found.body);
    let post = request(
        server.metrics(),
        "POST /metrics HTTP/1.1\r\nHost: shout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(post.status, 405, "{}", post.body);

    let mut silent = connect(server.metrics());
    let mut partial = connect(server.metrics());
    partial.write_all(b"GET /metr").expect("send half a request");
    // Accepted in order, so they are waiting on the server while it answers this.
    let metrics = scrape(server.metrics());
    assert!(
        !closed_within(&mut silent, Duration::from_millis(1)),
        "the silent scraper was closed before the scrape was answered"
    );
    assert_eq!(metrics.gauge("shout_connections_active"), 0);
    assert_eq!(round_trip(server.addr, b"still served\n"), b"STILL SERVED\n");
    // The server does not wait for them forever (read_to_end panics after TIMEOUT).
    let started = Instant::now();
    read_to_end(&mut silent);
    read_to_end(&mut partial);
    assert!(started.elapsed() < TIMEOUT, "silent scrapers were held too long");
    scrape(server.metrics());
    server.stop();
}
}

/// Whether `stream` is still open with nothing received: looks without waiting or consuming.
fn is_open(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).expect("blocking again");
    open
}

/// Everything received on `stream` until the server closed it, by a FIN or by a reset (which
/// follows the answer when the client sent more after it); panics on a timeout.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                panic!("not closed within {TIMEOUT:?}; received {out:?}")
            }
            Err(_) => return out,
        }
    }
}

/// Connections that each send the start of a request head, then one more byte of it every
/// 300 ms, and never finish it: the slow clients that used to lock the endpoint out. They stop
/// dribbling on drop.
struct Dribblers {
    streams: Vec<TcpStream>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Dribblers {
    /// Opens `n` of them to `addr`, one after the other (so they are accepted in this order).
    fn start(addr: SocketAddr, n: usize) -> Dribblers {
        let streams: Vec<TcpStream> = (0..n)
            .map(|_| {
                let mut stream = connect(addr);
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                    .expect("send the start of a request");
                stream
            })
            .collect();
        let mut writers: Vec<TcpStream> = streams
            .iter()
            .map(|s| s.try_clone().expect("clone socket"))
            .collect();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        // The wait paces the dribble; it synchronises nothing.
        let thread = thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(300))
            {
                for writer in &mut writers {
                    // Closed by the server (displaced or timed out): nothing to do.
                    let _ = writer.write(b"a");
                }
            }
        });
        Dribblers {
            streams,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Dribblers {
    fn drop(&mut self) {
        drop(self.stop.take());
        // On a failing test, do not hide its panic behind another: leave the thread be.
        if let Some(thread) = self.thread.take().filter(|_| !thread::panicking()) {
            join_within(thread, TIMEOUT);
        }
    }
}

/// Fifty connections dribbling request heads, over three times the endpoint's slots, do not
/// keep a real scrape out: it is answered while they are still open, and each one over the
/// limit got a `503` (the oldest unfinished first) rather than a silent close.
#[test]
fn slow_scrapers_do_not_lock_out_a_scrape() {
    let server = metrics_server(Model::default());
    let mut slow = Dribblers::start(server.metrics(), 50);
    let metrics = scrape(server.metrics());
    assert_eq!(metrics.gauge("shout_connections_active"), 0);
    // Accepted in order, each newcomer displaced the oldest unfinished connection: the last
    // SLOTS - 1 hold a slot (the scrape had the last one), the others were answered 503.
    let displaced = slow.streams.len() + 1 - SLOTS;
    for (i, stream) in slow.streams.iter().enumerate().skip(displaced) {
        assert!(
            is_open(stream),
            "slow connection {i} was closed before the scrape was answered"
        );
    }
    for (i, stream) in slow.streams.iter_mut().enumerate().take(displaced) {
        let answer = String::from_utf8_lossy(&read_until_closed(stream)).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 503 "),
            "slow connection {i} got {answer:?}"
        );
    }
    drop(slow);
    server.stop();
}

/// A connection over the endpoint's slots gets a quick `503` with `Retry-After` (given to the
/// oldest unfinished request, here a silent one), not a silent close; the others keep theirs.
#[test]
fn excess_scrapers_get_503() {
    let server = metrics_server(Model::default());
    let mut silent: Vec<TcpStream> = (0..=SLOTS).map(|_| connect(server.metrics())).collect();
    let busy = response(&mut silent[0]);
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(header(&busy.head, "retry-after"), Some("1"));
    for (i, stream) in silent.iter().enumerate().skip(1) {
        assert!(is_open(stream), "silent connection {i} was closed too");
    }
    drop(silent);
    scrape(server.metrics());
    server.stop();
}

/// A query string does not change the path (`/metrics?x=1` is `/metrics`), and `HEAD` gets a
/// scrape's headers without its body.
#[test]
fn metrics_path_ignores_query_string() {
    let server = metrics_server(Model::default());
    let answer = get(server.metrics(), "/metrics?x=1");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.ends_with("# EOF\n"), "{}", answer.body);
    assert_eq!(Metrics(answer.body).gauge("shout_connections_active"), 0);

    let mut stream = connect(server.metrics());
    stream
        .write_all(b"HEAD /metrics HTTP/1.1\r\nHost: shout\r\n\r\n")
        .expect("send");
    let head = String::from_utf8(read_to_end(&mut stream)).expect("UTF-8 response");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "HEAD got a body: {head}");
    server.stop();
}

/// A request that never completes is closed at the whole-request deadline although it keeps
/// sending (a byte every 250 ms, which no per-read timeout would catch): not before the
/// deadline, and not long after.
#[test]
fn deadline_closes_a_dribbler() {
    let server = metrics_server(Model::default());
    let started = Instant::now();
    let mut stream = connect(server.metrics());
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        .expect("send the start of a request");
    let limit = DEADLINE + Duration::from_secs(5);
    loop {
        assert!(
            started.elapsed() < limit,
            "a dribbling request is still open after {limit:?}"
        );
        // A failed write means the server has closed (and reset) the connection.
        if stream.write_all(b"a").is_err() || closed_within(&mut stream, Duration::from_millis(250))
        {
            break;
        }
    }
    let took = started.elapsed();
    assert!(
        took >= DEADLINE,
        "closed after {took:?}, before the deadline"
    );
    assert!(took < limit, "closed after {took:?}");
    scrape(server.metrics());
    server.stop();
}

/// The metrics addresses named in a real shoutd's start-up line (`metrics="a, b"`).
fn metrics_addrs(shoutd: &Shoutd) -> Vec<SocketAddr> {
    let line = shoutd.startup.last().expect("a start-up line");
    let field = line
        .split("metrics=")
        .nth(1)
        .unwrap_or_else(|| panic!("no metrics address in the start-up line: {line}"));
    let list = match field.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => field.split(' ').next().unwrap_or_default(),
    };
    list.split(", ")
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| panic!("bad metrics address {a:?} in: {line}"))
        })
        .collect()
}

/// `--metrics-listen localhost:0` resolves the host name as `--listen` does, and every address
/// it gave is served.
#[test]
fn metrics_listen_accepts_host_names() {
    let shoutd = Shoutd::start(&["--metrics-listen", "localhost:0"]);
    let addrs = metrics_addrs(&shoutd);
    assert!(!addrs.is_empty(), "{:?}", shoutd.startup);
    for addr in addrs {
        assert!(addr.ip().is_loopback(), "localhost gave {addr}");
        assert_ne!(addr.port(), 0, "the real port is reported, not 0");
        assert_eq!(scrape(addr).gauge("shout_connections_active"), 0);
    }
}

/// Out of descriptors, the metrics listener's accept error is logged once for the whole burst
/// however many scrapers keep arriving, accepting pauses instead of spinning, and once
/// descriptors are free the scrape that waited is answered (with no new arrival to wake the
/// endpoint) and the error is counted.
#[test]
fn metrics_accept_errors_are_logged_once_and_do_not_spin() {
    let shoutd = Shoutd::start(&["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics_addrs(&shoutd)[0];
    let pid = shoutd.child.id();
    // Leave shoutd room for only a few more sockets.
    leave_descriptors(&shoutd.child, 3);

    let mut silent: Vec<TcpStream> = (0..8).map(|_| connect(metrics)).collect();
    shoutd.expect_log("metrics accept failed");
    // More arrivals during the burst, and a scrape that must wait for a descriptor.
    silent.extend((0..8).map(|_| connect(metrics)));
    let mut waiting = connect(metrics);
    waiting
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: shout\r\n\r\n")
        .expect("send the request");

    // Paused, not spinning.
    assert_not_spinning(pid, "while out of descriptors");
    let again: Vec<String> = shoutd
        .log
        .try_iter()
        .filter(|line| line.contains("metrics accept failed"))
        .collect();
    assert!(
        again.is_empty(),
        "logged again in the same burst: {again:#?}"
    );

    // The silent ones close, freeing descriptors: the waiting scrape is answered.
    drop(silent);
    let answer = response(&mut waiting);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(Metrics(answer.body).counter("shout_errors_total{kind=\"accept\"}") >= 1);
}

/// `--metrics-listen` on the real binary: the start-up line names the metrics address, and that
/// address serves the metrics.
#[test]
fn metrics_listen_is_reported_at_startup() {
    let shoutd = Shoutd::start(&["--metrics-listen", "127.0.0.1:0"]);
    let addrs = metrics_addrs(&shoutd);
    assert_eq!(addrs.len(), 1, "{:?}", shoutd.startup);
    let addr = addrs[0];
    assert_ne!(addr.port(), 0, "the real port is reported, not 0");
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
