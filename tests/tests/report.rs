//! `shout report` and `shout bench --report`: the HTML report's charts are rendered to pixels
//! (resvg) and must show something; the page is self-contained and stays small for an
//! hour-long run; bad input exits 2. Comparing is in `report_compare.rs`, merging in
//! `report_merge.rs`, hostile and huge inputs in `report_limits.rs`; the reports they read are
//! made by `shout_tests::report`.

use std::path::{Path, PathBuf};

use resvg::{tiny_skia, usvg};
use serde_json::{json, Value};
use shout_client::report::charts::{HEIGHT, WIDTH};
use shout_client::report::html;
use shout_tests::bench::shared_cores;
use shout_tests::report::{chart, charts, fresh_dir, run_of, texts, v1, v2, write_json, Synth};
use shout_tests::*;

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    fresh_dir(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("report")
            .join(name),
    )
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
