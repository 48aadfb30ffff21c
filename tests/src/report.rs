//! Bench reports for the `shout report` tests (`tests/tests/report*.rs`): version-2 JSON
//! documents made with real histograms (hdrhistogram and `histcodec`), version-1 ones as
//! `shout bench --json` wrote them before, and the charts of an HTML page picked out by id.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use shout_client::histcodec::encode;
use shout_client::report::Run;

/// A histogram with the bench's bounds.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// `dir`, emptied or created: a fresh directory for one test's files.
pub fn fresh_dir(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

/// How a synthetic run looks.
#[derive(Clone)]
pub struct Synth {
    /// The run's label.
    pub label: &'static str,
    /// How many seconds it lasted.
    pub seconds: usize,
    /// About how many messages were answered each second.
    pub per_second: u64,
    /// Latencies are spread from this many µs up.
    pub base_us: u64,
    /// When it started, in Unix seconds.
    pub start: f64,
    /// Its target rate (open loop), or `None` (closed loop).
    pub rate: Option<f64>,
    /// Timeouts in this second.
    pub timeouts_at: Option<usize>,
    /// How many connections it opened.
    pub connections: u64,
}

impl Synth {
    /// A run of 20 s named `label`: 400 messages a second at a target of 400/s on 10
    /// connections, latencies from 100 µs, 5 timeouts in second 12.
    pub fn new(label: &'static str) -> Synth {
        Synth {
            label,
            seconds: 20,
            per_second: 400,
            base_us: 100,
            start: 1_700_000_000.2,
            rate: Some(400.0),
            timeouts_at: Some(12),
            connections: 10,
        }
    }
}

/// A version-2 JSON report with real histograms: `per_second` messages a second whose
/// latencies spread from `base_us` with a slow wave and a tail; uncorrected latencies a little
/// lower.
pub fn v2(s: &Synth) -> Value {
    let mut total = new_hist();
    let mut total_unc = new_hist();
    let mut lag = new_hist();
    let mut series = Vec::new();
    let mut timeouts_total = 0;
    for i in 0..s.seconds {
        let mut h = new_hist();
        let mut hu = new_hist();
        let wave = 1.0 + 0.5 * ((i as f64) / 5.0).sin();
        let count = (s.per_second as f64 * (0.8 + 0.2 * ((i as f64) / 3.0).cos())) as u64;
        for k in 0..count {
            let spread = (k * 7919) % 1000;
            let tail = if k % 97 == 0 { 20 * s.base_us } else { 0 };
            let v = ((s.base_us + spread * s.base_us / 200) as f64 * wave) as u64 + tail;
            h.record(v.max(1)).expect("within the bounds");
            hu.record((v * 9 / 10).max(1)).expect("within the bounds");
            lag.record((v / 10).max(1)).expect("within the bounds");
        }
        total.add(&h).expect("the same bounds");
        total_unc.add(&hu).expect("the same bounds");
        let timeouts = if s.timeouts_at == Some(i) { 5 } else { 0 };
        timeouts_total += timeouts;
        series.push(json!({
            "second": i, "warmup": false,
            "sent": count, "answered": count, "measured": count,
            "errors": timeouts,
            "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99),
            "max_us": h.max(),
            "target_msgs_per_s": s.rate,
            "timeouts": timeouts, "mismatches": 0, "short_answers": 0,
            "connection_errors": 0, "connect_failures": 0,
            "opened": if i == 0 { s.connections } else { 0 }, "reopened": 0,
            "open_connections": s.connections,
            "hist": encode(&h), "hist_uncorrected": encode(&hu),
        }));
    }
    let n = total.len();
    let figures = |h: &Histogram<u64>| {
        json!({"count": h.len(), "min": h.min(), "mean": h.mean(),
               "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
               "p99": h.value_at_quantile(0.99), "p99_9": h.value_at_quantile(0.999),
               "p99_99": h.value_at_quantile(0.9999), "max": h.max()})
    };
    json!({
        "schema": 2,
        "label": s.label,
        "started_at_unix_s": s.start,
        "config": {"addrs": [format!("{}:9999", s.label)],
                   "connections": s.connections, "rate": s.rate, "warmup_s": 0.0,
                   "duration_s": s.seconds as f64, "threads": 1, "open_loop_tick_s": 0.001},
        "elapsed_s": s.seconds as f64,
        "throughput": {"msgs_per_s": n as f64 / s.seconds as f64, "mib_per_s_out": 0.1,
                       "mib_per_s_in": 0.1},
        "open_loop": s.rate.map(|r| json!({"target_msgs_per_s": r,
            "achieved_msgs_per_s": n as f64 / s.seconds as f64, "reached": true})),
        "latency_us": figures(&total),
        "latency_uncorrected_us": figures(&total_unc),
        "schedule_lag_us": {"count": lag.len(), "late": 3, "mean": lag.mean(),
                            "p50": lag.value_at_quantile(0.5), "p99": lag.value_at_quantile(0.99),
                            "max": lag.max()},
        "histograms": {"encoding": "hdrhistogram-v2-deflate-base64",
                       "latency_us": encode(&total),
                       "latency_uncorrected_us": encode(&total_unc),
                       "schedule_lag_us": encode(&lag)},
        "rate_profile": s.rate.map(|r| json!({"kind": "constant", "rate": r})),
        "find_max": null,
        "messages": {"sent": n, "answered": n, "measured": n, "late": 0, "resent": 0,
                     "unsent": 0},
        "errors": {"mismatches": 0, "short_answers": 0, "timeouts": timeouts_total,
                   "connection_errors": 0, "connect_failures": 0,
                   "connect_failure_reasons": {}, "connection_error_reasons": {}, "hints": []},
        "connections": {"opened": s.connections, "failed": 0, "reopened": 0},
        "cpu": {"client_s": 0.5, "client_s_per_million_msgs": 1.0},
        "ok": timeouts_total == 0,
        "exit_code": if timeouts_total == 0 { 0 } else { 1 },
        "series": series,
    })
}

/// A version-1 report, as `shout bench --json` wrote it before schema 2.
pub fn v1(seconds: usize) -> Value {
    let series: Vec<Value> = (0..seconds)
        .map(|i| {
            json!({"second": i, "warmup": false, "sent": 1000 + i * 10, "answered": 1000 + i * 10,
                   "measured": 1000, "errors": (i % 7) * 3, "p50_us": 200 + i, "p99_us": 900 + 20 * i,
                   "max_us": 3000 + 100 * i})
        })
        .collect();
    let timeouts: usize = (0..seconds).map(|i| (i % 7) * 3).sum();
    json!({
        "config": {"addrs": ["127.0.0.1:9999"], "connections": 10, "rate": null,
                   "warmup_s": 0.0, "threads": 1},
        "elapsed_s": seconds as f64,
        "throughput": {"msgs_per_s": 1000.0, "mib_per_s_out": 0.1, "mib_per_s_in": 0.1},
        "open_loop": null,
        "latency_us": {"count": 1000 * seconds, "min": 50, "mean": 250.0, "p50": 210, "p90": 400,
                       "p99": 1000, "p99_9": 2000, "p99_99": 3000, "max": 5000},
        "messages": {"sent": 1000 * seconds, "answered": 1000 * seconds},
        "errors": {"mismatches": 0, "short_answers": 0, "timeouts": timeouts,
                   "connection_errors": 0, "connect_failures": 0},
        "connections": {"opened": 10, "failed": 0, "reopened": 0},
        "ok": timeouts == 0, "exit_code": if timeouts == 0 { 0 } else { 1 },
        "series": series,
    })
}

/// `doc` read as a run (it must be a valid report).
pub fn run_of(doc: Value) -> Run {
    Run::from_json(doc, "run.json").expect("a valid report")
}

/// Writes `doc` as `name` in `dir`.
pub fn write_json(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(doc).expect("a JSON value prints");
    std::fs::write(&path, text).expect("write the report");
    path
}

/// The SVG of each chart of `page`, by the id of its figure (without the `chart-` prefix);
/// `None` where the figure has no chart.
pub fn charts(page: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for part in page.split("<figure id=\"chart-").skip(1) {
        let id = part
            .split('"')
            .next()
            .expect("split has a first part")
            .to_owned();
        let figure = part
            .split("</figure>")
            .next()
            .expect("split has a first part");
        let svg = figure.find("<svg").map(|start| {
            let end = figure.find("</svg>").expect("a closed svg") + "</svg>".len();
            figure[start..end].to_owned()
        });
        out.push((id, svg));
    }
    out
}

/// The SVG of chart `id` of `page`.
pub fn chart(page: &str, id: &str) -> String {
    charts(page)
        .into_iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no figure {id}"))
        .1
        .unwrap_or_else(|| panic!("figure {id} has no chart"))
}

/// The text of `svg`'s text elements, trimmed.
pub fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}
