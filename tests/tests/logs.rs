//! What shoutd logs: a start-up line as text or JSON, refusals at the connection limit once per
//! burst, and the periodic `--stats-interval` summary.

use std::io::Write;
use std::time::Instant;

use shout_tests::*;

/// `--log-format json` writes one JSON object per line.
#[test]
fn json_logs() {
    let shoutd = Shoutd::start(&["--log-format", "json"]);
    let line = shoutd.startup.last().unwrap();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains(r#""level":"INFO""#), "{line}");
    assert!(line.contains(r#""mode":"upper""#), "{line}");
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
        let active = log_field(&line, "active");
        let msgs = log_field(&line, "msgs_per_s");
        let bytes_in = log_field(&line, "bytes_in_per_s");
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
    log_field(&next, "active");
}

model_tests! {
/// Refusals at the connection limit are logged once per burst, not once per connection, and
/// the end of the burst says how many were refused.
fn busy_refusals_logged_once_per_burst(model) {
    // `-v` logs `closed` once a connection is closed and counted: the slot is free then.
    let shoutd = Shoutd::start(&[&model_args(model)[..], &["-v", "--max-connections", "1"]].concat());
    let mut held = connect(shoutd.addr);
    held.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut held, 1), b"X");
    for _ in 0..3 {
        let mut refused = connect(shoutd.addr);
        assert!(read_to_end(&mut refused).starts_with(b"ERR server busy (1 connection)"));
    }
    drop(held);
    let mut lines = shoutd.log_until("closed");
    assert_eq!(round_trip(shoutd.addr, b"y"), b"Y");
    lines.extend(shoutd.log_until("below the connection limit again"));
    let bursts = lines
        .iter()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert_eq!(bursts, 1, "{lines:#?}");
    assert!(lines.last().unwrap().contains("refused=3"), "{lines:#?}");
}
}
