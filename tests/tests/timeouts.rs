//! Idle and write timeouts: each closes only the connection concerned.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use shout_server::{CloseReason, Config, Model};
use shout_tests::*;

fn server(model: Model, idle: Option<Duration>, write: Option<Duration>) -> TestServer {
    TestServer::start(Config {
        model,
        idle_timeout: idle,
        write_timeout: write,
        ..Config::default()
    })
}

model_tests! {
/// A connection that sends nothing for the idle timeout is closed; one that keeps talking is not.
fn idle_connection_is_closed(model) {
    let server = server(model, Some(Duration::from_millis(400)), None);
    let mut idle = server.connect();
    let mut busy = server.connect();
    idle.write_all(b"a").unwrap();
    assert_eq!(read_n(&mut idle, 1), b"A");
    // `busy` talks every 100 ms for 1.2 s, three idle timeouts.
    for _ in 0..12 {
        busy.write_all(b"b").unwrap();
        assert_eq!(read_n(&mut busy, 1), b"B");
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        closed_within(&mut idle, TIMEOUT),
        "idle connection not closed"
    );
    busy.write_all(b"c").unwrap();
    assert_eq!(read_n(&mut busy, 1), b"C");
    let s = server.wait_for("the idle close", |s| s.closed(CloseReason::Idle) == 1);
    assert_eq!(s.active, 1);
}

/// With the idle timeout off, a silent connection stays open.
fn idle_timeout_zero_means_never(model) {
    let server = server(model, None, None);
    let mut stream = server.connect();
    assert!(!closed_within(&mut stream, Duration::from_millis(800)));
}

/// A peer that stops reading stalls only itself, and is closed at the write timeout.
fn peer_that_does_not_read_is_closed_at_write_timeout(model) {
    let server = server(model, None, Some(Duration::from_millis(500)));
    // Send far more than the socket buffers hold, never reading an answer.
    let flood = Flood::start(server.addr);
    // Meanwhile another client is served normally.
    let mut other = server.connect();
    for _ in 0..20 {
        other.write_all(b"fine").unwrap();
        assert_eq!(read_n(&mut other, 4), b"FINE");
    }
    server.wait_for("the write-timeout close", |s| {
        s.closed(CloseReason::WriteTimeout) == 1
    });
    wait_until("the flood to be cut off", || {
        flood.is_finished().then_some(())
    });
    assert!(flood.finish(), "the flood was never cut off");
    other.write_all(b"after").unwrap();
    assert_eq!(read_n(&mut other, 5), b"AFTER");
}

/// The write timeout is measured from the last byte the peer accepted, not restarted by a
/// partial send: a non-reading peer is closed within the timeout plus a margin (before the
/// fix, the thread model took up to twice the timeout).
fn write_timeout_is_not_stretched(model) {
    let timeout = Duration::from_secs(3);
    let server = server(model, None, Some(timeout));
    let flood = Flood::start(server.addr);
    // The server stopped making progress at least 300 ms before this returns.
    flood.wait_stalled();
    let stalled = Instant::now();
    server.wait_for("the write-timeout close", |s| {
        s.closed(CloseReason::WriteTimeout) == 1
    });
    let took = stalled.elapsed();
    // Twice the timeout would be 6 s after the stall; the margin covers a loaded machine.
    assert!(
        took < timeout + Duration::from_millis(1500),
        "closed {took:?} after the stall with a {timeout:?} write timeout"
    );
    flood.finish();
}

/// A peer that does not read stalls only its connection, and the server waits for
/// writability instead of spinning: it uses almost no CPU while stalled.
fn stalled_writer_does_not_spin(model) {
    let shoutd = Shoutd::start(&[&model_args(model)[..], &["--write-timeout", "0"]].concat());
    let flood = Flood::start(shoutd.addr);
    flood.wait_stalled();
    let pid = shoutd.child.id();
    assert_not_spinning(pid, "with a stalled peer");
    assert_eq!(round_trip(shoutd.addr, b"other"), b"OTHER");
    flood.finish();
}
}
