//! Writes a synthetic but realistic `shout bench --json` report, to measure what `shout report`
//! needs for long runs without running the bench for hours: every second has real histograms
//! (the bench's bounds, encoded by `histcodec` as the bench does) of `RATE` latencies drawn
//! from a log-normal body (median 150 µs) with a 0.5 % tail up to 100 ms.
//!
//! `cargo run --release -p shout-client --example synth_report -- OUT.json SECONDS [RATE]
//! [LABEL] [START_UNIX_S]`

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use shout_client::histcodec::{encode, ENCODING};

/// A small xorshift generator: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A latency in µs.
    fn latency(&mut self, wave: f64) -> u64 {
        if self.next() < 0.005 {
            return 10f64.powf(3.0 + 2.0 * self.next()) as u64;
        }
        let (u1, u2) = (self.next().max(1e-12), self.next());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (150.0 * wave * (0.5 * normal).exp()).max(1.0) as u64
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("the bench's bounds are valid")
}

fn figures(h: &Histogram<u64>) -> Value {
    json!({"count": h.len(), "min": h.min(), "mean": h.mean(),
           "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
           "p99": h.value_at_quantile(0.99), "p99_9": h.value_at_quantile(0.999),
           "p99_99": h.value_at_quantile(0.9999), "max": h.max()})
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: synth_report OUT.json SECONDS [RATE] [LABEL] [START_UNIX_S]");
        std::process::exit(2);
    }
    let out = &args[1];
    let seconds: usize = args[2].parse().expect("SECONDS is a number");
    let rate: u64 = args
        .get(3)
        .map_or(5000, |r| r.parse().expect("RATE is a number"));
    let label = args.get(4).cloned().unwrap_or_else(|| "synthetic".into());
    let start: f64 = args
        .get(5)
        .map_or(1_700_000_000.0, |s| s.parse().expect("START is a number"));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ label.len() as u64);
    let (mut total, mut total_unc, mut lag) = (new_hist(), new_hist(), new_hist());
    let mut series = Vec::with_capacity(seconds);
    for i in 0..seconds {
        let (mut h, mut hu) = (new_hist(), new_hist());
        let wave = 1.0 + 0.3 * (i as f64 / 60.0).sin();
        for _ in 0..rate {
            let v = rng.latency(wave);
            h.saturating_record(v);
            hu.saturating_record((v * 9 / 10).max(1));
            lag.saturating_record((v / 20).max(1));
        }
        let _ = total.add(&h);
        let _ = total_unc.add(&hu);
        series.push(json!({
            "second": i, "warmup": false,
            "sent": rate, "answered": rate, "measured": rate, "errors": 0,
            "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99),
            "max_us": h.max(), "target_msgs_per_s": rate as f64,
            "timeouts": 0, "mismatches": 0, "short_answers": 0, "connection_errors": 0,
            "connect_failures": 0, "unsent": 0, "opened": if i == 0 { 50 } else { 0 },
            "reopened": 0, "handshakes": 0, "open_connections": 50,
            "hist": encode(&h), "hist_uncorrected": encode(&hu),
        }));
    }
    let n = total.len();
    let doc = json!({
        "schema": 2, "label": label, "started_at_unix_s": start,
        "config": {"addrs": ["127.0.0.1:9999"], "connections": 50, "rate": rate as f64,
                   "warmup_s": 0.0, "duration_s": seconds as f64, "threads": 2,
                   "open_loop_tick_s": 0.001},
        "elapsed_s": seconds as f64,
        "throughput": {"msgs_per_s": rate as f64, "mib_per_s_out": 1.0, "mib_per_s_in": 1.0},
        "open_loop": {"target_msgs_per_s": rate as f64, "achieved_msgs_per_s": rate as f64,
                      "reached": true, "scheduled": n},
        "rate_profile": {"kind": "constant", "rate": rate as f64},
        "latency_us": figures(&total),
        "latency_uncorrected_us": figures(&total_unc),
        "schedule_lag_us": {"count": lag.len(), "late": 0, "mean": lag.mean(),
                            "p50": lag.value_at_quantile(0.5), "p99": lag.value_at_quantile(0.99),
                            "max": lag.max()},
        "histograms": {"encoding": ENCODING, "latency_us": encode(&total),
                       "latency_uncorrected_us": encode(&total_unc),
                       "schedule_lag_us": encode(&lag)},
        "messages": {"sent": n, "answered": n, "measured": n, "late": 0, "resent": 0, "unsent": 0},
        "errors": {"mismatches": 0, "short_answers": 0, "timeouts": 0, "connection_errors": 0,
                   "connect_failures": 0, "connect_failure_reasons": {},
                   "connection_error_reasons": {}, "hints": []},
        "connections": {"opened": 50, "failed": 0, "reopened": 0},
        "cpu": {"client_s": 1.0, "client_s_per_million_msgs": 1.0},
        "find_max": null, "ok": true, "exit_code": 0,
        "series": series,
    });
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value encodes");
    std::fs::write(out, text + "\n").expect("write the report");
}
