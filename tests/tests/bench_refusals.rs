//! A server that refuses connections (its busy line at its connection limit) is counted as
//! refusing them, by reason, never as wrong answers; with `--reconnect` a refused connection
//! tries again after the backoff of a failed connect, not at once. (The TLS refusal, a client
//! certificate required, is in `bench_tls.rs`.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use shout_client::bench::failure::Reason;
use shout_common::{busy_line, Mode, Transform};
use shout_server::{Config, Model};
use shout_tests::bench::{run_bench, shared_cores};
use shout_tests::*;

/// shoutd at `--max-connections 2`, four bench connections: two are refused with the busy
/// line, counted as failed connection attempts (why: refused, busy) with a hint, exit code 2
/// (connections could not be set up). No answer is taken for a mismatch; it used to count
/// each busy line as a wrong answer.
#[test]
fn busy_lines_are_refusals_not_mismatches() {
    let _cores = shared_cores();
    let server = TestServer::start(Config {
        max_connections: 2,
        ..Config::default()
    });
    let report = run_bench(&[server.addr], &["-c", "4", "-d", "1s", "--timeout", "2s"]);
    let c = *report.counts();
    let table = report.table();
    assert_eq!(report.exit_code(), 2, "{c:?}\n{table}");
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!((c.connect_failures, c.setup_failures), (2, 2), "{c:?}");
    assert_eq!(
        c.opened, 2,
        "refused connections are not opened ones: {c:?}"
    );
    assert_eq!(report.failures().connect.get(&Reason::Busy), 2, "{table}");
    assert!(
        table.contains("why failed    refused by the server: busy (ERR server busy) 2"),
        "{table}"
    );
    assert!(table.contains("--max-connections"), "the hint: {table}");
    assert!(c.completed > 0, "the two accepted connections ran: {c:?}");
    let json = report.json();
    assert_eq!(
        json["errors"]["connect_failure_reasons"]["refused by the server: busy (ERR server busy)"],
        2
    );
}

/// The same over TLS: shoutd sends its busy line once the handshake is complete; it is a
/// refusal too, neither a failed handshake nor a completed one in the counts.
#[test]
fn busy_lines_over_tls_are_refusals() {
    let _cores = shared_cores();
    let certs = Certs::new();
    let server = tls_server(
        Model::default(),
        &certs,
        Config {
            max_connections: 2,
            ..Config::default()
        },
    );
    let ca = certs.ca_file.to_str().expect("a UTF-8 path");
    let report = run_bench(
        &[server.addr],
        &["--tls-ca", ca, "-c", "4", "-d", "1s", "--timeout", "2s"],
    );
    let c = *report.counts();
    let table = report.table();
    assert_eq!(report.exit_code(), 2, "{c:?}\n{table}");
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!(report.failures().connect.get(&Reason::Busy), 2, "{table}");
    assert_eq!(
        (c.opened, c.handshakes, c.handshake_failures),
        (2, 2, 0),
        "{c:?}"
    );
}

/// A server that serves the first connection for ten answers and then closes it, and refuses
/// every later one with its busy line.
struct RefusingServer {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RefusingServer {
    fn start() -> RefusingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (Arc::clone(&accepted), Arc::clone(&stop));
            thread::spawn(move || {
                let mut served = None;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let n = accepted.fetch_add(1, Ordering::SeqCst);
                    if n == 0 {
                        served = Some(thread::spawn(move || serve_ten_lines(stream)));
                    } else {
                        let _ = stream.write_all(busy_line(1).as_bytes());
                    }
                }
                if let Some(served) = served {
                    join_within(served, TIMEOUT);
                }
            })
        };
        RefusingServer {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept.
        let _ = TcpStream::connect_timeout(&self.addr, TIMEOUT);
        if let Some(thread) = self.thread.take() {
            join_within(thread, TIMEOUT);
        }
    }
}

/// Uppercases what comes until ten lines are answered, then closes.
fn serve_ten_lines(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut transform = Transform::new(Mode::Upper);
    let mut lines = 0;
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    while lines < 10 {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Only whole lines up to the tenth are answered.
        let mut take = n;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                lines += 1;
                if lines == 10 {
                    take = i + 1;
                    break;
                }
            }
        }
        out.clear();
        transform.push(&buf[..take], &mut out);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// `--reconnect` against a server that refuses every reconnection with its busy line: each
/// refusal is counted (why failed: busy), and the connection tries again after the backoff
/// of a failed connect (100 ms doubling to 2 s: a handful of attempts in the run), not at
/// once; it used to reopen at once, tens of thousands of connections in seconds, each busy
/// line a mismatch.
#[test]
fn refused_reconnections_back_off() {
    let _cores = shared_cores();
    let server = RefusingServer::start();
    let report = run_bench(
        &[server.addr],
        &["-c", "1", "-d", "2s", "--timeout", "1s", "--reconnect"],
    );
    let c = *report.counts();
    let table = report.table();
    let accepted = server.accepted();
    drop(server);
    assert_eq!(c.mismatches, 0, "{c:?}\n{table}");
    let refusals = report.failures().connect.get(&Reason::Busy);
    assert!(refusals >= 2, "{refusals} refusals\n{table}");
    assert_eq!(refusals, c.connect_failures, "{c:?}");
    assert_eq!(
        c.setup_failures, 0,
        "the first connection was accepted: {c:?}"
    );
    // About 3 s of run and finishing: 100 + 200 + 400 + 800 + 1600 ms of pauses.
    assert!(accepted <= 10, "{accepted} connections\n{table}");
    assert_eq!(c.completed, 10, "{c:?}");
    assert_ne!(
        report.exit_code(),
        0,
        "messages were left unsent: {c:?}\n{table}"
    );
}
