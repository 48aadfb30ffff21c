//! Signals a daemon commonly receives each have a logged, documented behaviour; none kills
//! shoutd silently.

use std::io::Write;

use rustix::process::Signal;
use shout_tests::*;

/// SIGHUP (its terminal closed) drains like SIGTERM: logged, the client is answered and sees
/// a clean end of stream, the summary is logged, exit 0.
#[test]
fn sighup_drains_gracefully() {
    let mut shoutd = Shoutd::start(&[]);
    let mut client = connect(shoutd.addr);
    client.write_all(b"hup").unwrap();
    assert_eq!(read_n(&mut client, 3), b"HUP");
    shoutd.signal(Signal::HUP);
    let line = shoutd.expect_log("signal received: shutting down gracefully");
    assert!(line.contains("SIGHUP"), "{line}");
    assert_eq!(read_to_end(&mut client), b"");
    drop(client);
    shoutd.expect_log("stopped:");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// SIGUSR1 logs the counters and serving goes on; SIGUSR2 is logged and ignored.
#[test]
fn sigusr1_logs_stats_and_sigusr2_is_ignored() {
    let mut shoutd = Shoutd::start(&[]);
    assert_eq!(round_trip(shoutd.addr, b"one"), b"ONE");
    shoutd.signal(Signal::USR1);
    let stats = shoutd.expect_log("stats:");
    assert!(stats.contains("SIGUSR1"), "{stats}");
    assert!(stats.contains("bytes_in="), "{stats}");
    shoutd.signal(Signal::USR2);
    let ignored = shoutd.expect_log("signal received and ignored");
    assert!(ignored.contains("SIGUSR2"), "{ignored}");
    assert_eq!(round_trip(shoutd.addr, b"two"), b"TWO");
    shoutd.signal(Signal::TERM);
    let summary = shoutd.expect_log("stopped:");
    assert!(summary.contains("2 connections served"), "{summary}");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// A second terminating signal of another kind (TERM, then HUP) also exits at once.
#[test]
fn hup_after_term_exits_at_once() {
    let mut shoutd = Shoutd::start(&["--drain-timeout", "1h", "--write-timeout", "0"]);
    let flood = Flood::start(shoutd.addr);
    flood.wait_stalled();
    shoutd.signal(Signal::TERM);
    shoutd.expect_log("shutting down");
    shoutd.signal(Signal::HUP);
    shoutd.expect_log("second signal: exiting at once");
    assert_eq!(shoutd.wait_exit().code(), Some(128 + 1));
    flood.finish();
}
