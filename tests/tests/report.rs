//! `shout report` and `shout bench --report`: the HTML report's charts are rendered to pixels
//! (resvg) and must show something; the page is self-contained and stays small for an
//! hour-long run; comparing overlays every run; merging adds histograms and counts exactly;
//! bad input exits 2. Version-2 documents are built here with real histograms (hdrhistogram
//! and `histcodec`), version-1 ones as `shout bench --json` wrote them before.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hdrhistogram::Histogram;
use resvg::{tiny_skia, usvg};
use serde_json::{json, Value};
use shout_client::histcodec::{decode, encode};
use shout_client::report::charts::{color, HEIGHT, WIDTH};
use shout_client::report::{html, Run};
use shout_tests::bench::shared_cores;
use shout_tests::*;

/// A histogram with the bench's bounds.
fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the test directory");
    d
}

/// How a synthetic run looks.
#[derive(Clone)]
struct Synth {
    label: &'static str,
    seconds: usize,
    per_second: u64,
    /// Latencies are spread from this many µs up.
    base_us: u64,
    start: f64,
    rate: Option<f64>,
    /// Timeouts in this second.
    timeouts_at: Option<usize>,
    connections: u64,
}

impl Synth {
    fn new(label: &'static str) -> Synth {
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
fn v2(s: &Synth) -> Value {
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
            h.record(v.max(1)).unwrap();
            hu.record((v * 9 / 10).max(1)).unwrap();
            lag.record((v / 10).max(1)).unwrap();
        }
        total.add(&h).unwrap();
        total_unc.add(&hu).unwrap();
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
fn v1(seconds: usize) -> Value {
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

fn run_of(doc: Value) -> Run {
    Run::from_json(doc, "run.json").expect("a valid report")
}

/// Writes `doc` as `name` in `dir`.
fn write_json(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    path
}

/// The SVG of each chart of `page`, by the id of its figure (without the `chart-` prefix);
/// `None` where the figure has no chart.
fn charts(page: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for part in page.split("<figure id=\"chart-").skip(1) {
        let id = part.split('"').next().unwrap().to_owned();
        let figure = part.split("</figure>").next().unwrap();
        let svg = figure.find("<svg").map(|start| {
            let end = figure.find("</svg>").expect("a closed svg") + "</svg>".len();
            figure[start..end].to_owned()
        });
        out.push((id, svg));
    }
    out
}

/// The SVG of chart `id` of `page`.
fn chart(page: &str, id: &str) -> String {
    charts(page)
        .into_iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no figure {id}"))
        .1
        .unwrap_or_else(|| panic!("figure {id} has no chart"))
}

/// `svg` (as inlined in the page) drawn to pixels by resvg, with the embedded font.
fn render(svg: &str) -> tiny_skia::Pixmap {
    let svg = svg.replacen("<svg ", "<svg xmlns=\"http://www.w3.org/2000/svg\" ", 1);
    let mut options = usvg::Options::default();
    let font = Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/src/report/DejaVuSans.ttf");
    options
        .fontdb_mut()
        .load_font_data(std::fs::read(font).expect("the embedded font"));
    options.fontdb_mut().set_sans_serif_family("DejaVu Sans");
    let tree = usvg::Tree::from_str(&svg, &options).expect("the chart is valid SVG");
    let mut pixmap = tiny_skia::Pixmap::new(WIDTH, HEIGHT).expect("a pixmap");
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// Where the drawing has colour (data: the axes, grid and text are grey or black): the
/// number of coloured pixels, of distinct rows and of distinct columns holding one.
fn colour_extent(p: &tiny_skia::Pixmap) -> (usize, usize, usize) {
    let (w, h) = (p.width() as usize, p.height() as usize);
    let mut rows = vec![false; h];
    let mut cols = vec![false; w];
    let mut n = 0;
    for (i, px) in p.pixels().iter().enumerate() {
        let c = px.demultiply();
        let (r, g, b) = (c.red() as i32, c.green() as i32, c.blue() as i32);
        if c.alpha() > 128 && r.max(g).max(b) - r.min(g).min(b) > 60 {
            n += 1;
            rows[i / w] = true;
            cols[i % w] = true;
        }
    }
    let count = |v: &[bool]| v.iter().filter(|x| **x).count();
    (n, count(&rows), count(&cols))
}

/// `svg` without its text elements.
fn without_text(svg: &str) -> String {
    let mut out = String::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</text>").expect("closed text") + start + "</text>".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The text of `svg`'s text elements, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

/// Dark pixels (text, axes): the chart has titles and labels.
fn dark_pixels(p: &tiny_skia::Pixmap) -> usize {
    p.pixels()
        .iter()
        .filter(|px| {
            let c = px.demultiply();
            c.alpha() > 128 && (c.red() as u32 + c.green() as u32 + c.blue() as u32) < 200
        })
        .count()
}

/// Every chart of a version-2 run is drawn and shows data over much of its area: coloured
/// pixels over many rows and columns, and text.
#[test]
fn every_chart_of_a_v2_run_shows_data() {
    let page = html::page(&[run_of(v2(&Synth::new("v2")))]);
    let found = charts(&page);
    let ids: Vec<&str> = found.iter().map(|(i, _)| i.as_str()).collect();
    for id in [
        "spectrum",
        "throughput",
        "latency",
        "heatmap-0",
        "errors",
        "connections",
    ] {
        assert!(ids.contains(&id), "no chart {id} in {ids:?}");
    }
    for (id, svg) in &found {
        let svg = svg
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: no chart drawn"));
        let pixels = render(svg);
        let (n, rows, cols) = colour_extent(&pixels);
        assert!(
            n > 400 && rows > 25 && cols > 200,
            "{id}: too little drawn ({n} coloured pixels over {rows} rows, {cols} columns)"
        );
        // Text (titles, labels) is drawn: without it the chart has far fewer dark pixels.
        let dark = dark_pixels(&pixels);
        let bare = dark_pixels(&render(&without_text(svg)));
        assert!(
            dark > bare + 500,
            "{id}: {dark} dark pixels, {bare} without the text"
        );
    }
    // Titled axes with units.
    let spectrum = chart(&page, "spectrum");
    let words = texts(&spectrum);
    for text in [
        "percentile",
        "latency (µs)",
        "99.9%",
        "90%",
        "0%",
        "v2 corrected",
        "v2 uncorrected",
    ] {
        assert!(
            words.iter().any(|w| w == text),
            "spectrum lacks {text}: {words:?}"
        );
    }
    let words = texts(&chart(&page, "throughput"));
    for text in ["answered messages/s", "time since start (s)", "v2 target"] {
        assert!(
            words.iter().any(|w| w == text),
            "throughput lacks {text}: {words:?}"
        );
    }
}

/// A chart fed data differs from one fed none: a run without any answer draws (nearly) no
/// coloured rows where one with answers draws many.
#[test]
fn charts_fed_nothing_draw_nothing() {
    let mut quiet = Synth::new("quiet");
    quiet.per_second = 0;
    quiet.rate = None;
    quiet.timeouts_at = None;
    let doc = v2(&quiet);
    let empty = html::page(&[run_of(doc)]);
    let full = html::page(&[run_of(v2(&Synth::new("busy")))]);
    for id in ["throughput", "errors"] {
        let (_, rows_empty, _) = colour_extent(&render(&chart(&empty, id)));
        let (_, rows_full, _) = colour_extent(&render(&chart(&full, id)));
        assert!(
            rows_full > 3 * rows_empty.max(1) && rows_full > 25,
            "{id}: {rows_full} coloured rows with data, {rows_empty} without"
        );
    }
    // No latency at all: no spectrum, latency chart or heatmap, and the page says why.
    for (id, svg) in charts(&empty) {
        if ["spectrum", "latency", "heatmap-0"].contains(&id.as_str()) {
            assert!(svg.is_none(), "{id} drawn without data");
        }
    }
    assert!(empty.contains("no latency was measured"));
}

/// A version-1 report draws what it has and says what it lacks (no heatmap, no connection
/// series) instead of drawing nothing.
#[test]
fn version_1_degrades_with_a_note() {
    let page = html::page(&[run_of(v1(30))]);
    let found = charts(&page);
    for (id, svg) in &found {
        match id.as_str() {
            "heatmap-0" | "connections" => assert!(svg.is_none(), "{id}"),
            _ => {
                let (_, rows, _) = colour_extent(&render(svg.as_ref().unwrap()));
                assert!(rows > 10, "{id}: {rows} coloured rows");
            }
        }
    }
    assert!(page.contains("no per-second histograms in this report (version-1 JSON)"));
    assert!(page.contains("no per-second connection counts"));
    assert!(page.contains("drawn from their named percentiles"));
}

/// The page fetches nothing (no URL, script or external style) and stays a few hundred KiB
/// for an hour-long run with per-second histograms.
#[test]
fn an_hour_long_report_is_self_contained_and_small() {
    let mut hour = Synth::new("hour");
    hour.seconds = 3600;
    hour.per_second = 60;
    let page = html::page(&[run_of(v2(&hour))]);
    for banned in [
        "http://", "https://", "<script", "src=", "url(", "@import", "<link",
    ] {
        assert!(!page.contains(banned), "the page contains {banned}");
    }
    eprintln!("an hour-long report: {} KiB", page.len() / 1024);
    std::fs::write(dir("hour").join("hour.html"), &page).expect("keep the page to look at");
    assert!(
        page.len() < 300 * 1024,
        "an hour-long report is {} KiB",
        page.len() / 1024
    );
    // Downsampled, yet each chart still shows the whole hour.
    let (_, _, cols) = colour_extent(&render(&chart(&page, "latency")));
    assert!(cols > 500, "{cols} columns");
    let (_, rows, cols) = colour_extent(&render(&chart(&page, "heatmap-0")));
    assert!(
        rows > 25 && cols > 500,
        "heatmap: {rows} rows, {cols} columns"
    );
}

/// The find-max curve is drawn when the report has one.
#[test]
fn find_max_curve_is_drawn() {
    let mut doc = v2(&Synth::new("fm"));
    let steps: Vec<Value> = [1000.0f64, 2000.0, 4000.0, 8000.0]
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            json!({"target_msgs_per_s": t, "achieved_msgs_per_s": t.min(5000.0),
                   "p50_us": 100 * (i + 1), "p99_us": 400 * (i + 1) * (i + 1), "p99_9_us": 5000,
                   "max_us": 9000, "errors": 0, "error_rate": 0.0, "steady": true,
                   "met": i < 2, "duration_s": 10.0, "start_s": 10.0 * i as f64})
        })
        .collect();
    doc["find_max"] = json!({"slo": {"p99_us": 2000.0, "max_error_rate": 0.0}, "found": true,
                             "answer_msgs_per_s": 2000.0, "steps": steps});
    let page = html::page(&[run_of(doc)]);
    for id in ["find-max-rate", "find-max-latency"] {
        let (_, rows, cols) = colour_extent(&render(&chart(&page, id)));
        assert!(rows > 25 && cols > 200, "{id}: {rows} rows, {cols} columns");
    }
    assert!(page.contains("answer 2,000 msgs/s"), "the answer is named");
    assert!(page.contains("p99 ≤ 2000 µs"), "the SLO is named");
}

/// `rgb` as plotters writes a stroke colour in SVG.
fn stroke(i: usize) -> String {
    let c = color(i);
    format!("stroke=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2)
}

/// `shout report A B C -o cmp.html`: every chart draws each run in its own colour with its
/// label in the legend, one heatmap per run, and the differences table (HTML and stdout)
/// compares with the first run.
#[test]
fn compare_overlays_every_run() {
    let d = dir("compare");
    let base = Synth::new("base");
    let mut faster = Synth::new("faster");
    faster.per_second = 600;
    faster.rate = Some(600.0);
    faster.base_us = 50;
    let a = write_json(&d, "a.json", &v2(&base));
    let b = write_json(&d, "b.json", &v2(&faster));
    let mut old = v1(20);
    old["label"] = Value::Null;
    let c = write_json(&d, "old-v1.json", &old);
    let out = d.join("cmp.html");
    let (code, stdout, stderr) = run_text(
        "shout",
        &[
            "report",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            c.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("throughput") && lines[0].contains("p99.9"),
        "{stdout}"
    );
    assert!(lines[1].starts_with("base"), "{stdout}");
    assert!(
        lines[2].starts_with("faster") && lines[2].contains("msgs/s (+50."),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("old-v1.json"),
        "the file names an unlabelled run: {stdout}"
    );
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("<table class=\"diff\">") && page.contains("msgs/s (+50."));
    let names = ["base", "faster", "old-v1.json"];
    for id in ["spectrum", "throughput", "latency", "errors"] {
        let svg = chart(&page, id);
        for (i, name) in names.iter().enumerate() {
            assert!(
                svg.contains(&stroke(i)),
                "{id}: no line in the colour of {name}"
            );
            assert!(
                texts(&svg).iter().any(|t| t.starts_with(name)),
                "{id}: {name} not in the legend"
            );
        }
    }
    // Connections: the two version-2 runs; heatmaps: one per run, the version-1 one a note.
    let conns = chart(&page, "connections");
    assert!(conns.contains(&stroke(0)) && conns.contains(&stroke(1)));
    assert!(texts(&chart(&page, "heatmap-0")).contains(&"Latency heatmap: base".to_owned()));
    assert!(texts(&chart(&page, "heatmap-1")).contains(&"Latency heatmap: faster".to_owned()));
    assert!(page.contains("old-v1.json: no per-second histograms"));
}

/// The percentiles of a histogram, for comparing merges.
fn quantiles(h: &Histogram<u64>) -> Vec<u64> {
    [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0]
        .iter()
        .map(|&q| h.value_at_quantile(q))
        .collect()
}

/// The histogram of field `path` of a report, decoded.
fn hist_at(doc: &Value, path: &[&str]) -> Histogram<u64> {
    let mut v = doc;
    for p in path {
        v = &v[*p];
    }
    decode(
        v.as_str()
            .unwrap_or_else(|| panic!("no histogram at {path:?}")),
    )
    .unwrap()
}

/// Checks that `merged` is the exact sum of `a` and `b`: totals, histograms, percentiles, and
/// the per-second series aligned by start time.
fn assert_exact_merge(a: &Value, b: &Value, merged: &Value) {
    assert_eq!(merged["schema"], 2);
    for key in ["sent", "answered", "measured"] {
        let sum = a["messages"][key].as_u64().unwrap() + b["messages"][key].as_u64().unwrap();
        assert_eq!(
            merged["messages"][key].as_u64(),
            Some(sum),
            "messages.{key}"
        );
    }
    let mut sum = hist_at(a, &["histograms", "latency_us"]);
    sum.add(hist_at(b, &["histograms", "latency_us"])).unwrap();
    let m = hist_at(merged, &["histograms", "latency_us"]);
    assert_eq!(m.len(), sum.len());
    assert_eq!(quantiles(&m), quantiles(&sum));
    let l = &merged["latency_us"];
    let named: Vec<u64> = ["min", "p50", "p90", "p99", "p99_9", "p99_99", "max"]
        .iter()
        .map(|k| l[*k].as_u64().unwrap())
        .collect();
    assert_eq!(named, quantiles(&sum), "merged latency_us");
    assert_eq!(l["count"].as_u64(), Some(sum.len()));
    let mut unc = hist_at(a, &["histograms", "latency_uncorrected_us"]);
    unc.add(hist_at(b, &["histograms", "latency_uncorrected_us"]))
        .unwrap();
    assert_eq!(
        quantiles(&hist_at(merged, &["histograms", "latency_uncorrected_us"])),
        quantiles(&unc)
    );
    // The series line up by whole seconds of the start time, and add.
    let start = |d: &Value| d["started_at_unix_s"].as_f64().unwrap().round() as usize;
    let first = start(a).min(start(b));
    let series = merged["series"].as_array().unwrap();
    let mut answered = vec![0u64; series.len()];
    let mut hists: Vec<Histogram<u64>> = (0..series.len()).map(|_| new_hist()).collect();
    for d in [a, b] {
        let offset = start(d) - first;
        for (k, s) in d["series"].as_array().unwrap().iter().enumerate() {
            answered[k + offset] += s["answered"].as_u64().unwrap();
            hists[k + offset]
                .add(decode(s["hist"].as_str().unwrap()).unwrap())
                .unwrap();
        }
    }
    for (j, s) in series.iter().enumerate() {
        assert_eq!(s["second"].as_u64(), Some(j as u64));
        assert_eq!(s["answered"].as_u64(), Some(answered[j]), "second {j}");
        let h = decode(s["hist"].as_str().unwrap()).unwrap();
        assert_eq!(quantiles(&h), quantiles(&hists[j]), "second {j}");
        assert_eq!(s["p99_us"].as_u64(), Some(hists[j].value_at_quantile(0.99)));
    }
}

/// `shout report --merge` of two synthetic version-2 runs that started 1.2 s apart: counts
/// and histograms add exactly, the series are shifted by one second, connections and rates
/// add, and the merged JSON reads again (`shout report all.json`).
#[test]
fn merge_adds_synthetic_runs_exactly() {
    let d = dir("merge");
    let first = Synth::new("east");
    let mut second = Synth::new("west");
    second.start = first.start + 1.2;
    second.base_us = 300;
    second.seconds = 15;
    second.connections = 7;
    let (da, db) = (v2(&first), v2(&second));
    let a = write_json(&d, "a.json", &da);
    let b = write_json(&d, "b.json", &db);
    let all = d.join("all.json");
    let html_out = d.join("all.html");
    let json_arg = format!("--json={}", all.display());
    let (code, stdout, stderr) = run_text(
        "shout",
        &[
            "report",
            "--merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            &json_arg,
            "-o",
            html_out.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("merged: east+west"), "{stdout}");
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    assert_exact_merge(&da, &db, &merged);
    assert_eq!(merged["series"].as_array().unwrap().len(), 20);
    assert_eq!(merged["config"]["connections"], 17);
    assert_eq!(merged["config"]["rate"], 800.0);
    assert_eq!(merged["config"]["addrs"].as_array().unwrap().len(), 2);
    assert_eq!(merged["errors"]["timeouts"], 10);
    assert_eq!(
        merged["series"][12]["timeouts"], 5,
        "east's timeouts at its second 12"
    );
    assert_eq!(
        merged["series"][13]["timeouts"], 5,
        "west's at its 12, one second later"
    );
    assert_eq!(merged["series"][3]["open_connections"], 17);
    assert_eq!(merged["rate_profile"]["rate"], 800.0);
    // It reads again, as a report and as an input of another merge.
    let page = std::fs::read_to_string(&html_out).unwrap();
    assert!(chart(&page, "heatmap-0").contains("<rect"));
    let (code, stdout, stderr) = run_text("shout", &["report", all.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("merged: east+west"), "{stdout}");
}

/// Bad input exits 2 with a clear line: a version-1 report given to --merge, runs a day apart
/// given to --merge, a missing file, a file that is not JSON or not a bench report, and
/// --merge with nowhere to write.
#[test]
fn bad_input_exits_2() {
    let d = dir("bad");
    let new = write_json(&d, "new.json", &v2(&Synth::new("new")));
    let old = write_json(&d, "old.json", &v1(5));
    let garbage = d.join("garbage.json");
    std::fs::write(&garbage, "not json at all").unwrap();
    let other = write_json(&d, "other.json", &json!({"hello": "world"}));
    let mut later = Synth::new("later");
    later.start += 86_400.0;
    let later = write_json(&d, "later.json", &v2(&later));
    let out = format!("--json={}", d.join("m.json").display());
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "report",
                "--merge",
                new.to_str().unwrap(),
                old.to_str().unwrap(),
                &out,
            ],
            "version-1",
        ),
        (
            vec![
                "report",
                "--merge",
                new.to_str().unwrap(),
                later.to_str().unwrap(),
                &out,
            ],
            "runs made at the same time",
        ),
        (vec!["report", "/nonexistent/x.json"], "cannot read"),
        (vec!["report", garbage.to_str().unwrap()], "is not JSON"),
        (
            vec!["report", other.to_str().unwrap()],
            "not a shout bench report",
        ),
        (
            vec!["report", "--merge", new.to_str().unwrap()],
            "--json=FILE and/or -o",
        ),
    ];
    for (args, says) in cases {
        let (code, stdout, stderr) = run_text("shout", &args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}\n{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert!(
        !d.join("m.json").exists(),
        "a failed merge wrote its output"
    );
    // No file at all is a usage error too.
    let (code, _, _) = run_text("shout", &["report"]);
    assert_eq!(code, Some(2));
}

/// Two files whose runs carry the same label: a merge error names the file, not only the
/// label (which would not tell them apart).
#[test]
fn merge_errors_name_the_file() {
    let d = dir("same-label");
    let first = write_json(&d, "first.json", &v2(&Synth::new("same")));
    let mut later = Synth::new("same");
    later.start += 86_400.0;
    let second = write_json(&d, "second.json", &v2(&later));
    let out = format!("--json={}", d.join("m.json").display());
    let args = [
        "report",
        "--merge",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        &out,
    ];
    let (code, stdout, stderr) = run_text("shout", &args);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("same ({})", second.display())),
        "the file is not named: {stderr}"
    );
}

/// The real binary: `shout bench --json=FILE --report=FILE.html` writes both, and the page
/// has the summary, the verdict and the charts of the run.
#[test]
fn bench_writes_an_html_report() {
    let _cores = shared_cores();
    let d = dir("bench");
    let server = TestServer::default_config();
    let json_arg = format!("--json={}", d.join("run.json").display());
    let html_out = d.join("run.html");
    let (code, out, err) = run_text(
        "shout",
        &[
            "bench",
            "-c",
            "4",
            "-r",
            "2000",
            "-d",
            "2s",
            &json_arg,
            "--report",
            html_out.to_str().unwrap(),
            &server.addr.to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let page = std::fs::read_to_string(&html_out).expect("the report was written");
    assert!(page.contains("OK: every message got its exact answer"));
    assert!(page.contains("<h2>Summary</h2>") && page.contains("<h2>Configuration</h2>"));
    for id in ["spectrum", "throughput", "latency", "errors"] {
        let (_, rows, _) = colour_extent(&render(&chart(&page, id)));
        assert!(rows > 2, "{id}: {rows} coloured rows");
    }
    assert!(!page.contains("http://") && !page.contains("<script"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(d.join("run.json")).unwrap())
        .expect("the JSON report");
    assert_eq!(doc["messages"]["answered"], doc["messages"]["sent"]);
    let answered = doc["messages"]["answered"].as_u64().unwrap();
    assert!(answered >= 3000, "{answered} answered");
}

/// Runs the real `shout bench` with `args` as a child process; returns the child.
fn spawn_bench(args: &[String]) -> std::process::Child {
    let mut command = Command::new(bin("shout"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHOUT_") {
            command.env_remove(key);
        }
    }
    command
        .arg("bench")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shout bench")
}

/// Two real `shout bench` processes against one shoutd at the same time, merged: counts add up
/// and the merged percentiles are those of the two runs' histograms added.
#[test]
fn merge_of_two_real_bench_processes_is_exact() {
    let _cores = shared_cores();
    let d = dir("real-merge");
    let server = TestServer::default_config();
    let files = [d.join("one.json"), d.join("two.json")];
    let mut children: Vec<std::process::Child> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            spawn_bench(&[
                "-c".into(),
                "3".into(),
                "-r".into(),
                "500".into(),
                "-d".into(),
                "3s".into(),
                format!("--json={}", f.display()),
                format!("--label=p{i}"),
                server.addr.to_string(),
            ])
        })
        .collect();
    for child in &mut children {
        let status = wait_child(child);
        assert!(status.success(), "a bench failed: {status}");
    }
    let docs: Vec<Value> = files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    for (f, doc) in files.iter().zip(&docs) {
        assert!(
            doc["histograms"].is_object(),
            "{}: the bench JSON has no `histograms`: this test needs report schema 2",
            f.display()
        );
    }
    let all = d.join("all.json");
    let json_arg = format!("--json={}", all.display());
    let (code, out, err) = run_text(
        "shout",
        &[
            "report",
            "--merge",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
            &json_arg,
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    assert_exact_merge(&docs[0], &docs[1], &merged);
    assert_eq!(merged["label"], "merged: p0+p1");
    assert_eq!(merged["config"]["connections"], 6);
    let served = server.stop();
    assert_eq!(served.accepted, 6);
}
