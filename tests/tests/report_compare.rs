//! `shout report A B C`: comparing runs overlays every run in every chart, each in its own
//! colour and named in the legend, with one heatmap per run, and the differences table
//! compares each with the first.

use std::path::{Path, PathBuf};

use serde_json::Value;
use shout_client::report::charts::color;
use shout_tests::report::{chart, fresh_dir, texts, v1, v2, write_json, Synth};
use shout_tests::*;

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    fresh_dir(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("report")
            .join(name),
    )
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
