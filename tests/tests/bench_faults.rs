//! `shout bench` against servers that are wrong or not there: it fails with exit code 1 and
//! the right counters when answers are wrong, bytes dropped or the connection closed early;
//! a late answer is a timeout, never a mismatch; refused connections say why, and messages due
//! without a connection are counted as unsent.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use shout_tests::bench::{run_bench, shared_cores};
use shout_tests::*;

/// How a deliberately wrong server answers.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Sends every byte back unchanged (no uppercasing).
    Echo,
    /// Uppercases, but drops every n-th byte it receives (counted per connection).
    DropEvery(u64),
    /// Uppercases correctly, but closes the connection once it has answered this many bytes.
    CloseAfter(usize),
    /// Uppercases correctly, but holds back the answer to line `line` (from 0, counted per
    /// connection) for `by` before sending it.
    Delay { line: u64, by: Duration },
}

/// A thread-per-connection TCP server on `127.0.0.1:0` that answers with a [`Fault`]. Each
/// connection is served until the client closes it (or the fault closes it); stopped on drop.
struct FaultyServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl FaultyServer {
    fn start(fault: Fault) -> FaultyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            thread::spawn(move || {
                let mut conns = Vec::new();
                let mut streams = Vec::new();
                loop {
                    match listener.accept() {
                        // `stop` connects once to wake this accept.
                        Ok(_) if stop.load(Ordering::SeqCst) => break,
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            streams.push(stream.try_clone().expect("clone the socket"));
                            conns.push(thread::spawn(move || serve_faulty(stream, fault)));
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => panic!("accept failed: {e}"),
                    }
                }
                // Ends every connection's blocked read.
                for stream in streams {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                }
                for conn in conns {
                    join_within(conn, TIMEOUT);
                }
            })
        };
        FaultyServer {
            addr,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// Stops accepting, ends every connection and returns how many were accepted.
    fn stop(mut self) -> u64 {
        self.shut_down(true);
        self.accepted.load(Ordering::SeqCst)
    }

    /// Tells the accepting thread to stop and wakes it with a connection; joins it if `join`.
    fn shut_down(&mut self, join: bool) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = TcpStream::connect_timeout(&self.addr, TIMEOUT);
            if join {
                join_within(thread, TIMEOUT * 2);
            }
        }
    }
}

impl Drop for FaultyServer {
    fn drop(&mut self) {
        // Joined only if no test failed: do not hide its panic behind another.
        self.shut_down(!thread::panicking());
    }
}

/// Serves one connection of a [`FaultyServer`] until end of stream, an error, or the fault's
/// close (stopping the server shuts the socket down), then closes it: shut down, as the
/// server keeps a clone of the socket until it stops.
fn serve_faulty(stream: TcpStream, fault: Fault) {
    answer_faulty(&stream, fault);
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Answers on `stream` with `fault` until end of stream, an error, or the fault's close.
fn answer_faulty(mut stream: &TcpStream, fault: Fault) {
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    let mut buf = vec![0u8; 64 * 1024];
    let mut answer = Vec::with_capacity(buf.len());
    let mut received: u64 = 0;
    let mut answered: usize = 0;
    let mut lines: u64 = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Reset, shut down, or silent for the whole test timeout.
            Err(_) => return,
        };
        answer.clear();
        match fault {
            Fault::Echo => answer.extend_from_slice(&buf[..n]),
            Fault::DropEvery(every) => {
                for &byte in &buf[..n] {
                    received += 1;
                    if !received.is_multiple_of(every) {
                        answer.push(byte.to_ascii_uppercase());
                    }
                }
            }
            Fault::CloseAfter(limit) => {
                let take = n.min(limit - answered);
                answer.extend(buf[..take].iter().map(u8::to_ascii_uppercase));
                answered += take;
            }
            Fault::Delay { line, by } => {
                let before = lines;
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                if (before..lines).contains(&line) {
                    // The point of this fault: an answer that comes after the bench's timeout.
                    thread::sleep(by);
                }
                answer.extend(buf[..n].iter().map(u8::to_ascii_uppercase));
            }
        }
        if stream.write_all(&answer).is_err() {
            return;
        }
        if matches!(fault, Fault::CloseAfter(limit) if answered >= limit) {
            return; // closes the connection
        }
    }
}

/// Closed loop with `--reconnect` against a server that closes each connection after ten
/// answers: the messages it left unanswered go out again on the reopened connection before
/// any new one (they used to wait until no new message could start, the end of the run, so
/// their latency counted the whole run), and the run passes.
#[test]
fn resends_go_before_new_messages() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::CloseAfter(640));
    let report = run_bench(
        &[server.addr],
        &[
            "-c",
            "1",
            "-p",
            "4",
            "-d",
            "3s",
            "--timeout",
            "2s",
            "--reconnect",
        ],
    );
    let c = *report.counts();
    assert_eq!(report.exit_code(), 0, "{c:?}\n{}", report.table());
    assert!(c.resent > 0, "{c:?}");
    assert_eq!(c.unsent, 0, "{c:?}");
    // A resend's latency counts from its first send: a reconnection's worth, not the run's.
    let max = report.latency_us(1.0);
    assert!(max < 1_500_000, "max latency {max} µs\n{}", report.table());
}

/// Options for the runs against wrong servers.
const FAULTY_OPTS: &[&str] = &["-c", "4", "-n", "400", "--timeout", "2s"];

/// A server that echoes without uppercasing: exit code 1, one mismatch per connection (each
/// connection ends at its first wrong answer), nothing completed.
#[test]
fn wrong_answers_fail() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::Echo);
    let report = run_bench(&[server.addr], FAULTY_OPTS);
    let c = *report.counts();
    assert_eq!(report.exit_code(), 1, "{c:?}");
    assert!(!report.answers_ok());
    assert_eq!(c.mismatches, 4, "{c:?}");
    assert_eq!(c.completed, 0, "{c:?}");
    assert_eq!(c.short, 0, "{c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.conn_errors, 0, "{c:?}");
    assert_eq!(c.opened, 4, "{c:?}");
    assert_eq!(c.sent + c.unsent, 400, "the rest was never sent: {c:?}");
    assert_eq!(server.stop(), 4);
}

/// A server that drops one byte in every 100 it receives: the second 64-byte message of each
/// connection comes back a byte short and shifted, a mismatch; exit code 1.
#[test]
fn dropped_bytes_fail() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::DropEvery(100));
    let report = run_bench(&[server.addr], FAULTY_OPTS);
    let c = *report.counts();
    assert_eq!(report.exit_code(), 1, "{c:?}");
    assert_eq!(c.mismatches, 4, "{c:?}");
    assert_eq!(c.completed, 4, "first message of each connection: {c:?}");
    assert_eq!(c.sent, 8, "{c:?}");
    assert_eq!(c.unsent, 392, "{c:?}");
    assert_eq!(c.short, 0, "{c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.conn_errors, 0, "{c:?}");
    assert_eq!(server.stop(), 4);
}

/// A server that closes each connection after answering three messages correctly: exit code 1,
/// every connection ends as a connection error, no mismatch. The fourth message of a
/// connection is sent (and then short) only if the bench did not see the close first.
#[test]
fn early_close_fails() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::CloseAfter(3 * 64));
    let report = run_bench(&[server.addr], FAULTY_OPTS);
    let c = *report.counts();
    assert_eq!(report.exit_code(), 1, "{c:?}");
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!(c.completed, 12, "three per connection: {c:?}");
    assert_eq!(c.conn_errors, 4, "{c:?}");
    assert!(c.short <= 4, "at most the fourth message of each: {c:?}");
    assert_eq!(c.sent, c.completed + c.short, "{c:?}");
    assert_eq!(c.sent + c.unsent, 400, "{c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.reopened, 0, "{c:?}");
    assert_eq!(server.stop(), 4);
}

/// A correct answer that comes after `--timeout` is a timeout, not a mismatch: the last
/// message's answer arrives while the bench is closing (it used to be taken for bytes nobody
/// asked for). Its bytes are still checked and it is counted as late; exit code 1.
#[test]
fn late_last_answer_is_a_timeout_not_a_mismatch() {
    let _cores = shared_cores();
    // The answer comes 1 s after the 2 s timeout and 1 s before the bench gives up closing.
    let server = FaultyServer::start(Fault::Delay {
        line: 1,
        by: Duration::from_secs(3),
    });
    let report = run_bench(&[server.addr], &["-c", "1", "-n", "2", "--timeout", "2s"]);
    let c = *report.counts();
    assert_eq!(c.timeouts, 1, "{c:?}\n{}", report.table());
    assert_eq!(c.mismatches, 0, "{c:?}\n{}", report.table());
    assert_eq!(c.late, 1, "the late answer was checked: {c:?}");
    assert_eq!(c.completed, 1, "{c:?}");
    assert_eq!(c.short, 0, "{c:?}");
    assert_eq!(c.conn_errors, 0, "{c:?}");
    assert_eq!(report.exit_code(), 1, "{c:?}");
    assert!(report
        .table()
        .contains("mismatches 0  short answers 0  timeouts 1"));
    assert_eq!(server.stop(), 1);
}

/// A late answer in mid-run does not end the connection: it is counted as a timeout, its bytes
/// are checked when it comes, and the connection goes on with the next message.
#[test]
fn late_answer_mid_run_is_checked_and_the_connection_goes_on() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::Delay {
        line: 1,
        by: Duration::from_secs(3),
    });
    let report = run_bench(&[server.addr], &["-c", "1", "-n", "4", "--timeout", "1s"]);
    let c = *report.counts();
    assert_eq!(c.timeouts, 1, "{c:?}\n{}", report.table());
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!(c.late, 1, "{c:?}");
    assert_eq!(c.completed, 3, "the others on time: {c:?}");
    assert_eq!(c.sent, 4, "{c:?}");
    assert_eq!(c.conn_errors, 0, "{c:?}");
    assert_eq!(c.opened, 1, "{c:?}");
    assert_eq!(report.exit_code(), 1, "{c:?}");
    assert_eq!(report.json()["messages"]["late"], 1);
    assert_eq!(server.stop(), 1);
}

/// With `--reconnect`, a connection whose answer timed out is taken for dead: it is closed and
/// reopened, the run goes on on the new one (the late answer is never awaited), and the
/// report says why the connection was given up.
#[test]
fn reconnect_gives_up_a_connection_whose_answer_timed_out() {
    let _cores = shared_cores();
    let server = FaultyServer::start(Fault::Delay {
        line: 1,
        by: Duration::from_secs(3),
    });
    let report = run_bench(
        &[server.addr],
        &["-c", "1", "-n", "3", "--timeout", "1s", "--reconnect"],
    );
    let c = *report.counts();
    assert_eq!(c.timeouts, 1, "{c:?}\n{}", report.table());
    assert_eq!((c.mismatches, c.late, c.short), (0, 0, 0), "{c:?}");
    assert_eq!((c.opened, c.reopened), (2, 1), "{c:?}");
    assert_eq!(c.completed, 2, "{c:?}");
    assert!(
        report.table().contains("no answer within --timeout"),
        "{}",
        report.table()
    );
    assert_eq!(server.stop(), 2);
}

/// Refused connections are counted by reason, in the report and its JSON.
#[test]
fn refused_connections_say_why() {
    let report = run_bench(
        &[free_port_addr()],
        &["-c", "5", "-n", "50", "--timeout", "2s"],
    );
    let c = *report.counts();
    assert_eq!(c.connect_failures, 5, "{c:?}");
    assert_eq!(report.exit_code(), 2, "{c:?}");
    let table = report.table();
    assert!(
        table.contains("why failed    connection refused 5"),
        "{table}"
    );
    let json = report.json();
    assert_eq!(
        json["errors"]["connect_failure_reasons"]["connection refused"], 5,
        "{json}"
    );
    assert!(
        json["errors"]["hints"][0]
            .as_str()
            .is_some_and(|h| h.contains("is shoutd running")),
        "{json}"
    );
}

/// Open loop with no connection to send on: every message of the schedule was due and is
/// counted as unsent (it used to be 0, as the run ended at once).
#[test]
fn messages_due_without_a_connection_are_unsent() {
    let report = run_bench(
        &[free_port_addr()],
        &["--rate", "1000", "-d", "1s", "-c", "2", "--timeout", "2s"],
    );
    let c = *report.counts();
    assert_eq!(c.sent, 0, "{c:?}");
    assert!((999..=1000).contains(&c.unsent), "{c:?}");
    assert_eq!(report.rate_reached(), Some(false));
}

/// Open loop where half the connections could not be made: the live ones carry every message,
/// but the report does not call the rate reached, and says why.
#[test]
fn rate_is_not_reached_when_connections_failed() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    // Connections 0 and 2 go to the server, 1 and 3 to nothing.
    let report = run_bench(
        &[server.addr, free_port_addr()],
        &["--rate", "200", "-d", "1s", "-c", "4", "--timeout", "2s"],
    );
    let c = *report.counts();
    assert_eq!(c.connect_failures, 2, "{c:?}");
    assert_eq!(c.opened, 2, "{c:?}");
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!(report.rate_reached(), Some(false), "{}", report.table());
    let table = report.table();
    assert!(
        table.contains("NOT reached (connections failed)"),
        "{table}"
    );
    assert!(
        table.contains("why failed    connection refused 2"),
        "{table}"
    );
    assert_eq!(server.stop().accepted, 2);
}
