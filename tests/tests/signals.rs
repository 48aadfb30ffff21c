//! Signals a daemon commonly receives each have a logged, documented behaviour; none kills
//! shoutd silently.

use rustix::process::Signal;
use shout_tests::*;

/// SIGUSR1 logs the counters and serving goes on (SIGUSR2, the upgrade, has `upgrade.rs`).
#[test]
fn sigusr1_logs_stats() {
    let mut shoutd = Shoutd::start(&[]);
    assert_eq!(round_trip(shoutd.addr, b"one"), b"ONE");
    shoutd.signal(Signal::USR1);
    let stats = shoutd.expect_log("stats:");
    assert!(stats.contains("SIGUSR1"), "{stats}");
    assert!(stats.contains("bytes_in="), "{stats}");
    assert_eq!(round_trip(shoutd.addr, b"two"), b"TWO");
    shoutd.signal(Signal::TERM);
    let summary = shoutd.expect_log("stopped:");
    assert!(summary.contains("2 connections served"), "{summary}");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// A second terminating signal of another kind (TERM, then INT) also exits at once; a HUP
/// (a reload) in between is logged and changes nothing.
#[test]
fn int_after_term_exits_at_once() {
    let mut shoutd = Shoutd::start(&["--drain-timeout", "1h", "--write-timeout", "0"]);
    let flood = Flood::start(shoutd.addr);
    flood.wait_stalled();
    shoutd.signal(Signal::TERM);
    shoutd.expect_log("shutting down");
    shoutd.signal(Signal::HUP);
    shoutd.expect_log("shutting down: nothing to reload");
    shoutd.signal(Signal::INT);
    shoutd.expect_log("second signal: exiting at once");
    assert_eq!(shoutd.wait_exit().code(), Some(128 + 2));
    flood.finish();
}
