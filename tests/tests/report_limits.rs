//! `shout report` on files that would take unbounded memory or time: histograms whose header
//! lies about their size, deflate bombs, bounds that take tens of MiB each, a find-max target of
//! -1e16, `/dev/zero` and files past the size limit, and long legitimate runs. Each run of the
//! binary has its address space limited, so a report that allocates what a file claims aborts
//! (and fails the test) instead of taking the machine, and is killed if it does not finish.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::Histogram;
use rustix::process::{prlimit, Pid, Resource, Rlimit};
use serde_json::{json, Value};
use shout_client::histcodec::{encode, ENCODING};
use shout_client::report::MAX_REPORT_BYTES;
use shout_tests::bench::shared_cores;
use shout_tests::bin;

const MIB: u64 = 1 << 20;

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-limits")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the test directory");
    d
}

/// Runs `shout` with `args`, its address space limited to `memory` bytes, killed after
/// `limit`; returns (exit code, stdout, stderr). An allocation past the limit aborts it (no
/// exit code).
fn shout_within(args: &[&str], memory: u64, limit: Duration) -> (Option<i32>, String, String) {
    let mut command = Command::new(bin("shout"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHOUT_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shout");
    let bound = Rlimit {
        current: Some(memory),
        maximum: Some(memory),
    };
    prlimit(Some(Pid::from_child(&child)), Resource::As, bound).expect("limit shout's memory");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for shout") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shout {args:?} did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let join = |t: thread::JoinHandle<String>| t.join().expect("the reader ends with shout");
    (status.code(), join(out), join(err))
}

/// A histogram with the bench's bounds and `n` latencies spread from 50 µs to 5 ms, encoded.
fn typical(n: u64) -> String {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
    for k in 0..n {
        h.record(50 + (k * 7919) % 4950).expect("in range");
    }
    encode(&h)
}

/// A version-2 report of `seconds` seconds whose histograms (of the run and of every second)
/// are all `hist`.
fn report(seconds: usize, label: &str, start: f64, hist: &str) -> Value {
    let series: Vec<Value> = (0..seconds)
        .map(|i| {
            json!({"second": i, "warmup": false, "sent": 1000, "answered": 1000,
                   "measured": 1000, "errors": 0, "p50_us": 200, "p99_us": 4000,
                   "max_us": 5000, "timeouts": 0, "mismatches": 0, "short_answers": 0,
                   "connection_errors": 0, "connect_failures": 0, "opened": 0, "reopened": 0,
                   "open_connections": 4, "hist": hist, "hist_uncorrected": hist})
        })
        .collect();
    let figures = json!({"count": 1000 * seconds, "min": 50, "mean": 2500.0, "p50": 2500,
                         "p90": 4500, "p99": 4950, "p99_9": 5000, "p99_99": 5000, "max": 5000});
    json!({
        "schema": 2, "label": label, "started_at_unix_s": start,
        "config": {"addrs": ["127.0.0.1:9999"], "connections": 4, "rate": null,
                   "warmup_s": 0.0, "threads": 1},
        "elapsed_s": seconds as f64,
        "throughput": {"msgs_per_s": 1000.0, "mib_per_s_out": 0.1, "mib_per_s_in": 0.1},
        "open_loop": null,
        "latency_us": figures, "latency_uncorrected_us": figures,
        "histograms": {"encoding": ENCODING, "latency_us": hist,
                       "latency_uncorrected_us": hist, "schedule_lag_us": null},
        "messages": {"sent": 1000 * seconds, "answered": 1000 * seconds},
        "errors": {"mismatches": 0, "short_answers": 0, "timeouts": 0,
                   "connection_errors": 0, "connect_failures": 0},
        "connections": {"opened": 4, "failed": 0, "reopened": 0},
        "ok": true, "exit_code": 0,
        "series": series,
    })
}

/// Writes `doc` as `name` in `dir`.
fn write(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(doc).expect("encodes")).expect("write");
    path
}

/// A V2 header (cookie 0x1c849313) claiming `payload` bytes of counts, with these bounds.
fn v2_header(payload: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
    let mut h = 0x1c84_9313u32.to_be_bytes().to_vec();
    h.extend_from_slice(&payload.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&digits.to_be_bytes());
    h.extend_from_slice(&low.to_be_bytes());
    h.extend_from_slice(&high.to_be_bytes());
    h.extend_from_slice(&1f64.to_be_bytes());
    h
}

/// `inner` deflated and framed as HdrHistogram's compressed V2 form, in base64.
fn compressed(inner: &[u8]) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(inner).expect("deflate");
    let deflated = z.finish().expect("deflate");
    let mut out = 0x1c84_9314u32.to_be_bytes().to_vec();
    out.extend_from_slice(&(deflated.len() as u32).to_be_bytes());
    out.extend_from_slice(&deflated);
    STANDARD.encode(out)
}

/// Asserts a refusal: exit 2, one line on stderr naming `file` and saying each of `says`.
fn assert_refused(got: (Option<i32>, String, String), file: &Path, says: &[&str]) {
    let (code, out, err) = got;
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    for s in says {
        assert!(err.contains(s), "no {s:?} in {err}");
    }
}

/// A per-second histogram whose header claims 0xFFFFFFFF bytes of counts is refused before
/// anything of that size is allocated (hdrhistogram would reserve 4 GiB).
#[test]
fn a_histogram_claiming_4_gib_is_refused() {
    let d = dir("claim");
    let mut doc = report(3, "claim", 1.7e9, &typical(100));
    doc["series"][1]["hist"] = json!(compressed(&v2_header(u32::MAX, 3, 1, 3_600_000_000)));
    let f = write(&d, "claim.json", &doc);
    let got = shout_within(
        &["report", f.to_str().unwrap()],
        1 << 30,
        Duration::from_secs(60),
    );
    assert_refused(got, &f, &["series[1]: hist", "claims 4294967295 bytes"]);
}

/// A deflate bomb (64 MiB of zeros in 64 KiB) is refused at the inflated-size cap.
#[test]
fn a_deflate_bomb_is_refused() {
    let d = dir("bomb");
    let mut inner = v2_header(64 << 20, 3, 1, 3_600_000_000);
    inner.resize(64 << 20, 0);
    let mut doc = report(3, "bomb", 1.7e9, &typical(100));
    doc["histograms"]["latency_us"] = json!(compressed(&inner));
    let f = write(&d, "bomb.json", &doc);
    let got = shout_within(
        &["report", f.to_str().unwrap()],
        1 << 30,
        Duration::from_secs(60),
    );
    assert_refused(
        got,
        &f,
        &[
            "histograms.latency_us",
            "inflates to more than 262144 bytes",
        ],
    );
}

/// 200 per-second histograms with 5 significant digits up to 2^64-1 (48 MiB each once made)
/// are refused from their header, with the accepted range named.
#[test]
fn absurd_bounds_are_refused() {
    let d = dir("bounds");
    let absurd = compressed(&v2_header(0, 5, 1, u64::MAX));
    let doc = report(200, "bounds", 1.7e9, &absurd);
    let f = write(&d, "bounds.json", &doc);
    let got = shout_within(
        &["report", f.to_str().unwrap()],
        1 << 30,
        Duration::from_secs(60),
    );
    assert_refused(
        got,
        &f,
        &[
            "5 significant digits",
            "1 to 3 significant digits",
            "highest value up to 8589934591",
        ],
    );
}

/// A find-max curve with targets of -1e16 and 1e300 is drawn, in bounded time and memory (a
/// target of -1e16 once made an axis span zero and its tick loop endless).
#[test]
fn huge_find_max_targets_are_drawn() {
    let d = dir("find-max");
    let mut doc = report(3, "fm", 1.7e9, &typical(100));
    let step = |target: f64, p99: f64| {
        json!({"target_msgs_per_s": target, "achieved_msgs_per_s": 0.0, "p50_us": 10.0,
               "p99_us": p99, "errors": 0, "met": false, "steady": true})
    };
    for steps in [
        vec![step(-1e16, 20.0)],
        vec![step(1e300, 1e300), step(-1e300, 1.7e308)],
    ] {
        doc["find_max"] = json!({"slo": {"p99_us": 1000.0}, "answer_msgs_per_s": null,
                                 "steps": steps});
        let f = write(&d, "fm.json", &doc);
        let html = d.join("fm.html");
        let (code, out, err) = shout_within(
            &["report", f.to_str().unwrap(), "-o", html.to_str().unwrap()],
            1 << 30,
            Duration::from_secs(60),
        );
        assert_eq!(code, Some(0), "{out}\n{err}");
        let page = std::fs::read_to_string(&html).expect("the page");
        for id in ["find-max-rate", "find-max-latency"] {
            let figure = page
                .split(&format!("<figure id=\"chart-{id}\">"))
                .nth(1)
                .unwrap_or_else(|| panic!("no {id} figure"));
            let figure = &figure[..figure.find("</figure>").expect("closed")];
            assert!(figure.contains("<svg"), "{id} not drawn: {figure}");
        }
    }
}

/// `/dev/zero` is refused at its first byte (not JSON), and a file past the size limit
/// without being read (a sparse file of the limit and one byte).
#[test]
fn dev_zero_and_oversized_files_are_refused() {
    let zero = Path::new("/dev/zero");
    let got = shout_within(&["report", "/dev/zero"], 256 * MIB, Duration::from_secs(30));
    assert_refused(got, zero, &["is not JSON"]);

    let d = dir("oversized");
    let big = d.join("big.json");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(MAX_REPORT_BYTES + 1).expect("a sparse file");
    drop(file);
    let got = shout_within(
        &["report", big.to_str().unwrap()],
        256 * MIB,
        Duration::from_secs(30),
    );
    assert_refused(got, &big, &["larger than 1024 MiB"]);
}

/// An hour-long report with a histogram per second (two per second, 190 KiB each decoded:
/// 1.3 GiB held at once before) is drawn within 512 MiB of address space, and so is the merge
/// of two half-hour runs.
#[test]
fn long_runs_are_drawn_in_bounded_memory() {
    let _cores = shared_cores();
    let d = dir("long");
    let hist = typical(3000);
    let hour = write(&d, "hour.json", &report(3600, "hour", 1.7e9, &hist));
    let html = d.join("hour.html");
    let limit = Duration::from_secs(300);
    let (code, out, err) = shout_within(
        &[
            "report",
            hour.to_str().unwrap(),
            "-o",
            html.to_str().unwrap(),
        ],
        512 * MIB,
        limit,
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let page = std::fs::read_to_string(&html).expect("the page");
    assert!(page.contains("<figure id=\"chart-heatmap-0\">") && page.contains("<rect"));

    let a = write(&d, "a.json", &report(1800, "a", 1.7e9, &hist));
    let b = write(&d, "b.json", &report(1800, "b", 1.7e9 + 0.3, &hist));
    let merged = d.join("merged.json");
    let (code, out, err) = shout_within(
        &[
            "report",
            "--merge",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            &format!("--json={}", merged.display()),
        ],
        512 * MIB,
        limit,
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("merged")).expect("JSON");
    assert_eq!(doc["series"].as_array().map(Vec::len), Some(1800));
    assert_eq!(doc["series"][1799]["answered"], 2000);
}

/// What `shout report --merge` writes, it reads: merging a bench run with one whose
/// histograms are the widest accepted (a header of 2^32, which HdrHistogram rounds up to hold
/// values up to 2^33 - 1, holding its largest value) gives a report that reads back and is
/// drawn. The sum used to grow to a header of 2^33 - 1, past the accepted cap: refused by
/// the merge's own reading back.
#[test]
fn a_merge_of_accepted_histograms_reads_back() {
    let d = dir("merge-widest");
    let mut widest = Histogram::<u64>::new_with_bounds(1, 1 << 32, 3).expect("valid bounds");
    let top = widest
        .iter_all()
        .last()
        .expect("counts")
        .value_iterated_to();
    widest.record(top).expect("in range");
    let a = write(&d, "a.json", &report(3, "a", 1.7e9, &typical(100)));
    let b = write(&d, "b.json", &report(3, "b", 1.7e9, &encode(&widest)));
    let merged = d.join("merged.json");
    let html = d.join("merged.html");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (code, out, err) = shout_within(
        &[
            "report",
            "--merge",
            a,
            b,
            &format!("--json={}", merged.display()),
            "-o",
            html.to_str().unwrap(),
        ],
        1 << 30,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (code, out, err) = shout_within(
        &["report", merged.to_str().unwrap()],
        1 << 30,
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).expect("merged")).expect("JSON");
    assert_eq!(doc["latency_us"]["max"], top, "{}", doc["latency_us"]);
}
