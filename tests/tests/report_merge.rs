//! `shout report --merge`: runs made at the same time (synthetic ones, and two real
//! `shout bench` processes) merge into one whose counts and histograms are exactly their sums,
//! the per-second series lined up by start time; a merge error names the file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hdrhistogram::Histogram;
use serde_json::Value;
use shout_client::histcodec::decode;
use shout_tests::bench::shared_cores;
use shout_tests::report::{chart, fresh_dir, new_hist, v2, write_json, Synth};
use shout_tests::*;

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    fresh_dir(
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("report")
            .join(name),
    )
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
