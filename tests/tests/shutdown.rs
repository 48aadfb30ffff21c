//! Graceful shutdown: stop accepting, answer what was read, close what remains at the drain
//! timeout; the real binary on SIGTERM, and at once on a second signal.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use shout_server::{CloseReason, Config};
use shout_tests::*;

model_tests! {
/// Connected clients get the answer to everything they sent, then end-of-stream; the summary
/// counts them; new connections are refused.
fn graceful_shutdown_with_connected_clients(model) {
    let server = server_with(model);
    let addr = server.addr;
    let mut a = server.connect();
    let mut b = server.connect();
    a.write_all(b"hello").unwrap();
    assert_eq!(read_n(&mut a, 5), b"HELLO");
    // b leaves a character cut in half: it is released unchanged at shutdown.
    b.write_all(b"abc\xc3").unwrap();
    assert_eq!(read_n(&mut b, 3), b"ABC");

    let stopping = thread::spawn(move || server.stop());
    assert_eq!(read_to_end(&mut a), b"");
    assert_eq!(read_to_end(&mut b), b"\xc3");
    // Clients close once they see the end: the server waits for that (no reset) until then.
    drop((a, b));
    let summary = join_within(stopping, TIMEOUT);
    assert_eq!(summary.accepted, 2);
    assert_eq!(summary.active, 0);
    assert_eq!(summary.bytes_in, 9);
    assert_eq!(summary.bytes_out, 9);
    assert_eq!(summary.closed(CloseReason::Done), 2);
    assert!(TcpStream::connect_timeout(&addr, TIMEOUT).is_err());
}

/// A connection that cannot finish (its peer reads nothing) is closed at the drain timeout.
fn drain_timeout_closes_what_remains(model) {
    let server = TestServer::start(Config {
        model,
        drain_timeout: Duration::from_millis(300),
        write_timeout: None,
        ..Config::default()
    });
    let flood = Flood::start(server.addr);
    flood.wait_stalled();
    let started = Instant::now();
    let summary = server.stop();
    assert!(started.elapsed() < TIMEOUT);
    assert_eq!(summary.closed(CloseReason::Drain), 1, "{summary}");
    assert!(flood.finish(), "the stalled connection was not closed");
}

/// The real shoutd on SIGTERM answers its connected client, logs a summary and exits 0.
fn binary_exits_cleanly_on_sigterm(model) {
    let mut shoutd = Shoutd::start(&model_args(model));
    let mut client = connect(shoutd.addr);
    client.write_all(b"bye").unwrap();
    assert_eq!(read_n(&mut client, 3), b"BYE");
    shoutd.signal(Signal::TERM);
    assert_eq!(read_to_end(&mut client), b"");
    drop(client);
    let summary = shoutd.expect_log("stopped:");
    assert!(summary.contains("1 connection served"), "{summary}");
    assert!(summary.contains("3 bytes in, 3 bytes out"), "{summary}");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// A second signal exits at once, without waiting for the drain timeout.
fn second_signal_exits_at_once(model) {
    let mut shoutd = Shoutd::start(&[&model_args(model)[..], &["--drain-timeout", "1h", "--write-timeout", "0"]].concat());
    // A client that never reads keeps the server busy writing, so draining cannot finish.
    let flood = Flood::start(shoutd.addr);
    flood.wait_stalled();
    shoutd.signal(Signal::TERM);
    shoutd.expect_log("shutting down");
    thread::sleep(Duration::from_millis(200));
    assert!(
        shoutd.child.try_wait().unwrap().is_none(),
        "exited before draining"
    );
    shoutd.signal(Signal::TERM);
    assert_eq!(shoutd.wait_exit().code(), Some(128 + 15));
    flood.finish();
}

/// A client still sending when shutdown begins gets answers that are exactly the transform of
/// a prefix of what it sent, then a clean end of stream, never a reset.
fn shutdown_mid_stream_ends_cleanly(model) {
    let server = server_with(model);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let batch = b"abc\n".repeat(1000);
        for _ in 0..100_000 {
            if writer.write_all(&batch).is_err() {
                break;
            }
        }
    });
    let mut answer = read_n(&mut stream, 40_000);
    let stopping = thread::spawn(move || server.stop());
    // read_to_end fails the test on a reset.
    answer.extend(read_to_end(&mut stream));
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    join_within(sender, TIMEOUT);
    let summary = join_within(stopping, TIMEOUT);
    let expected = b"ABC\n".repeat(answer.len() / 4 + 1);
    assert_eq!(answer, expected[..answer.len()]);
    assert_eq!(summary.bytes_out, answer.len() as u64);
}
}
