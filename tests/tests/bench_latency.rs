//! `shout bench` reports latency honestly: in open loop both the latency from the scheduled
//! send time (corrected) and from the actual send (uncorrected), never the first below the
//! second, and how far sending fell behind the schedule; in closed loop no lag and one latency.
//! The JSON report carries the histograms whole, per run and per second.

use serde_json::Value;
use shout_client::histcodec::decode;
use shout_tests::bench::{assert_clean, exclusive_cores, run_bench, shared_cores};
use shout_tests::*;

const PERCENTILES: [&str; 7] = ["min", "p50", "p90", "p99", "p99_9", "p99_99", "max"];

/// The count of an encoded histogram.
fn count(text: &Value) -> u64 {
    decode(text.as_str().expect("a histogram is text"))
        .expect("the histogram decodes")
        .len()
}

/// Asserts the corrected latency is at least the uncorrected one at every percentile, and
/// that the whole-run and per-second histograms hold every measured message.
fn assert_latencies(json: &Value) {
    let corrected = &json["latency_us"];
    let uncorrected = &json["latency_uncorrected_us"];
    for p in PERCENTILES {
        let (c, u) = (corrected[p].as_u64(), uncorrected[p].as_u64());
        assert!(c.is_some() && u.is_some(), "{p}: {corrected} {uncorrected}");
        assert!(c >= u, "{p}: corrected {c:?} < uncorrected {u:?}");
    }
    let measured = json["messages"]["measured"].as_u64().expect("a count");
    assert_eq!(corrected["count"], measured);
    assert_eq!(uncorrected["count"], measured);
    let h = &json["histograms"];
    assert_eq!(h["encoding"], "hdrhistogram-v2-deflate-base64");
    assert_eq!(count(&h["latency_us"]), measured);
    assert_eq!(count(&h["latency_uncorrected_us"]), measured);
    let series = json["series"].as_array().expect("series");
    let per_second: u64 = series.iter().map(|s| count(&s["hist"])).sum();
    let per_second_uncorrected: u64 = series.iter().map(|s| count(&s["hist_uncorrected"])).sum();
    assert_eq!(per_second, measured);
    assert_eq!(per_second_uncorrected, measured);
}

/// Open loop against a correct server: both latencies, corrected >= uncorrected at every
/// percentile, the lag of every send, and per second the scheduled rate, the connections and
/// the error kinds.
#[test]
fn open_loop_reports_both_latencies_and_the_lag() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let report = run_bench(
        &[server.addr],
        &["--rate", "1000", "-d", "2s", "-c", "5", "--label", "honest"],
    );
    assert_clean(&report, 5);
    let json = report.json();
    assert_eq!(json["schema"], 2);
    assert_eq!(json["label"], "honest");
    assert!(json["started_at_unix_s"]
        .as_f64()
        .is_some_and(|t| t > 1.6e9));
    assert_latencies(&json);
    let lag = &json["schedule_lag_us"];
    assert_eq!(lag["count"], 2000, "every send's lag: {lag}");
    for field in ["late", "mean", "p50", "p99", "max"] {
        assert!(lag[field].is_number(), "{field}: {lag}");
    }
    assert_eq!(count(&json["histograms"]["schedule_lag_us"]), 2000);
    assert_eq!(json["rate_profile"]["kind"], "constant");
    let first = &json["series"][0];
    assert_eq!(first["target_msgs_per_s"], 1000, "{first}");
    assert_eq!(first["open_connections"], 5, "{first}");
    assert_eq!(first["opened"], 5, "{first}");
    for field in [
        "timeouts",
        "mismatches",
        "short_answers",
        "connection_errors",
        "connect_failures",
        "reopened",
    ] {
        assert_eq!(first[field], 0, "{field}: {first}");
    }
    let table = report.table();
    assert!(table.contains("(from the scheduled send time)"), "{table}");
    assert!(table.contains("uncorrected"), "{table}");
    assert!(table.contains("schedule lag"), "{table}");
    assert!(table.contains("the schedule ticks every 1 ms"), "{table}");
}

/// Closed loop: one latency (the uncorrected one is the same), no lag, no target rate.
#[test]
fn closed_loop_has_no_lag() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let report = run_bench(&[server.addr], &["-n", "2000", "-c", "4"]);
    assert_clean(&report, 4);
    let json = report.json();
    assert_latencies(&json);
    assert_eq!(json["latency_uncorrected_us"], json["latency_us"]);
    assert!(json["schedule_lag_us"].is_null());
    assert!(json["histograms"]["schedule_lag_us"].is_null());
    assert!(json["rate_profile"].is_null());
    assert!(json["label"].is_null());
    assert!(json["series"][0]["target_msgs_per_s"].is_null());
    assert!(!report.table().contains("schedule lag"));
}

/// A server slower than the schedule: messages wait for a free connection, so they leave
/// late (the lag shows it) and the corrected latency, which counts that wait, is far above
/// the uncorrected one, which hides it.
#[test]
fn falling_behind_shows_in_the_lag_and_the_corrected_latency() {
    let _cores = exclusive_cores();
    let server = LimitedServer::start(200.0);
    let report = run_bench(
        &[server.addr],
        &["--rate", "1000", "-d", "2s", "-c", "2", "--timeout", "2s"],
    );
    let json = report.json();
    assert_latencies(&json);
    let lag = &json["schedule_lag_us"];
    let late = lag["late"].as_u64().expect("a count");
    assert!(late > 100, "sends fell behind: {lag}");
    assert!(lag["p99"].as_u64() > Some(100_000), "{lag}");
    let corrected = json["latency_us"]["p99"].as_u64().expect("p99");
    let uncorrected = json["latency_uncorrected_us"]["p99"].as_u64().expect("p99");
    assert!(
        corrected > 5 * uncorrected,
        "corrected p99 {corrected} µs, uncorrected {uncorrected} µs"
    );
    assert_eq!(report.rate_reached(), Some(false), "{}", report.table());
}
