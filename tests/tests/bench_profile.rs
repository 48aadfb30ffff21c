//! `shout bench` rate profiles: `--rate A..B --ramp D` climbs linearly to B and holds it,
//! `--rate A,B --step D` holds each rate in turn, both on one set of connections that stays
//! open; the JSON series follows the profile second by second; malformed profiles are usage
//! errors (exit code 2) before anything connects.

use serde_json::Value;
use shout_tests::bench::{assert_clean, exclusive_cores, run_bench};
use shout_tests::*;

/// The per-second series of a report.
fn series(json: &Value) -> Vec<(f64, f64)> {
    json["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            let target = s["target_msgs_per_s"]
                .as_f64()
                .expect("open loop has a target");
            let answered = s["answered"].as_f64().expect("a count");
            (target, answered)
        })
        .collect()
}

/// A ramp from 200 to 2,000 msgs/s over 2 s, then 2,000 for a third second: the scheduled
/// rate per second is the ramp's integral (650, 1,550, then 2,000), the last second reaches
/// the end rate and is answered at about that rate, on the connections opened at the start.
#[test]
fn a_ramp_reaches_its_end_rate() {
    let _cores = exclusive_cores();
    let server = TestServer::default_config();
    let report = run_bench(
        &[server.addr],
        &[
            "--rate",
            "200..2000",
            "--ramp",
            "2s",
            "-d",
            "3s",
            "-c",
            "20",
        ],
    );
    assert_clean(&report, 20);
    let c = report.counts();
    assert_eq!(c.scheduled, 650 + 1550 + 2000, "{c:?}");
    assert_eq!(c.sent, c.scheduled, "{c:?}");
    let json = report.json();
    let s = series(&json);
    let (first, middle, last) = (s[0], s[1], s[2]);
    assert!((600.0..=700.0).contains(&first.0), "{s:?}");
    assert!((1500.0..=1600.0).contains(&middle.0), "{s:?}");
    assert!((1950.0..=2050.0).contains(&last.0), "{s:?}");
    assert!(
        last.1 >= 0.8 * 2000.0,
        "answered {} in the last second: {s:?}",
        last.1
    );
    let profile = &json["rate_profile"];
    assert_eq!(profile["kind"], "ramp");
    assert_eq!(
        (profile["from"].as_f64(), profile["to"].as_f64()),
        (Some(200.0), Some(2000.0))
    );
    assert_eq!(profile["ramp_s"], 2.0);
    assert_eq!(json["config"]["rate"], "200..2000");
    assert_eq!(json["open_loop"]["target_msgs_per_s"], 4200.0 / 3.0);
    assert!(report
        .table()
        .contains("open loop ramping from 200 to 2000 msgs/s over 2s"));
    assert_eq!(server.stop().accepted, 20, "one set of connections");
}

/// Steps of 500 and 1,500 msgs/s, one second each (the default length: both steps): each
/// second is scheduled and answered at its step's rate.
#[test]
fn steps_hold_each_rate() {
    let _cores = exclusive_cores();
    let server = TestServer::default_config();
    let report = run_bench(
        &[server.addr],
        &["--rate", "500,1500", "--step", "1s", "-c", "10"],
    );
    assert_clean(&report, 10);
    assert_eq!(report.counts().sent, 2000);
    let json = report.json();
    let s = series(&json);
    assert_eq!((s[0].0, s[1].0), (500.0, 1500.0), "{s:?}");
    assert!(s[0].1 >= 400.0 && s[1].1 >= 1200.0, "{s:?}");
    assert_eq!(json["rate_profile"]["kind"], "steps");
    assert_eq!(
        json["rate_profile"]["rates"],
        serde_json::json!([500.0, 1500.0])
    );
    assert_eq!(json["rate_profile"]["step_s"], 1.0);
    assert_eq!(report.rate_reached(), Some(true), "{}", report.table());
    assert_eq!(server.stop().accepted, 10, "one set of connections");
}

/// Malformed or incomplete profiles are usage errors that say what is wrong, with exit code
/// 2, before any connection is made.
#[test]
fn malformed_profiles_are_usage_errors() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    for (args, words) in [
        (&["--rate", "1000..2000"][..], "--ramp"),
        (&["--rate", "1000,2000"][..], "--step"),
        (&["--ramp", "2s"][..], "--rate A..B"),
        (&["--rate", "1000", "--step", "2s"][..], "list of rates"),
        (
            &["--rate", "1000..x", "--ramp", "2s"][..],
            "not a positive number",
        ),
        (
            &["--rate", "1,0", "--step", "1s"][..],
            "not a positive number",
        ),
        (&["--rate", "1..2", "--ramp", "0"][..], "--ramp"),
        (
            &["--rate", "1..2", "--ramp", "1s", "--step", "1s"][..],
            "together",
        ),
    ] {
        let mut argv = vec!["bench", "-n", "10"];
        argv.extend_from_slice(args);
        argv.push(&addr);
        let (code, out, err) = run_text("shout", &argv);
        assert_eq!(code, Some(2), "{args:?}\nstdout: {out}\nstderr: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    assert_eq!(server.stop().accepted, 0);
}
