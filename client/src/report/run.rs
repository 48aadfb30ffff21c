//! One bench run as the report draws it, read from its JSON document (version 1: figures and
//! per-second counts; version 2 adds histograms, uncorrected latency, schedule lag, per-second
//! error kinds and connections, the rate profile and the find-max curve). Whatever a version-1
//! document lacks is `None` here, and the charts say so instead of drawing it.
//!
//! Reading is bounded for any file: at most [`MAX_REPORT_BYTES`] are read ([`super::input`]),
//! each histogram is checked before it is decoded ([`histcodec::decode`]), and the per-second
//! histograms are decoded one second at a time into what the charts need ([`Digest`]), never
//! all at once.

use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::Value;

use super::digest::{Builder, Digest};
use super::input::{read_json, LoadError, MAX_REPORT_BYTES};
use crate::histcodec;

/// The most seconds a run's `series` may have: a million (11 days). Each takes a [`Second`]
/// in memory, however little its JSON holds.
pub const MAX_SECONDS: usize = 1_000_000;

/// Latency figures (µs) as the JSON's `latency_us` object has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// 50th percentile.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// 99.99th percentile.
    pub p99_99: f64,
    /// Largest.
    pub max: f64,
}

impl Figures {
    /// The figures of a JSON object with these fields (absent ones are 0).
    fn of(v: &Value) -> Option<Figures> {
        if !v.is_object() {
            return None;
        }
        let n = |k: &str| num(&v[k]).unwrap_or(0.0);
        Some(Figures {
            count: num(&v["count"]).unwrap_or(0.0) as u64,
            min: n("min"),
            mean: n("mean"),
            p50: n("p50"),
            p90: n("p90"),
            p99: n("p99"),
            p99_9: n("p99_9"),
            p99_99: n("p99_99"),
            max: n("max"),
        })
    }

    /// The figures of a histogram, as the bench computes them.
    pub fn of_hist(h: &Histogram<u64>) -> Figures {
        let q = |q: f64| h.value_at_quantile(q) as f64;
        Figures {
            count: h.len(),
            min: if h.is_empty() { 0.0 } else { h.min() as f64 },
            mean: h.mean(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: h.max() as f64,
        }
    }

    /// (percentile as a fraction, value) of the named percentiles, for a spectrum drawn
    /// without a histogram.
    pub fn points(&self) -> Vec<(f64, f64)> {
        vec![
            (0.0, self.min),
            (0.5, self.p50),
            (0.9, self.p90),
            (0.99, self.p99),
            (0.999, self.p99_9),
            (0.9999, self.p99_99),
            (1.0, self.max),
        ]
    }
}

/// One second of a run's `series`.
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Seconds since the start.
    pub second: u64,
    /// Part of the warm-up.
    pub warmup: bool,
    /// Messages sent.
    pub sent: u64,
    /// Messages answered.
    pub answered: u64,
    /// Answers measured (after the warm-up).
    pub measured: u64,
    /// Errors of every kind the bench counts as errors.
    pub errors: u64,
    /// Latency figures of the second (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Largest (µs).
    pub max_us: f64,
    /// The scheduled rate (version 2, open loop).
    pub target_msgs_per_s: Option<f64>,
    /// Errors by kind (version 2): timeouts, mismatches, short answers, connection errors,
    /// connect failures.
    pub kinds: Option<ErrorKinds>,
    /// Connections (version 2).
    pub connections: Option<Connections>,
    /// Whether the second has its latency histogram (version 2): the run's [`Digest`] holds
    /// what the charts need of it (a run read to be drawn), [`Run::second_hists`] decodes it
    /// (a merge).
    pub has_hist: bool,
}

/// A second's errors by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorKinds {
    /// Answers later than the timeout.
    pub timeouts: u64,
    /// Wrong answers.
    pub mismatches: u64,
    /// Answers cut short.
    pub short_answers: u64,
    /// Connections lost.
    pub connection_errors: u64,
    /// Connections that could not be opened.
    pub connect_failures: u64,
}

impl ErrorKinds {
    /// The kinds with their names, in the order the charts draw them.
    pub fn named(&self) -> [(&'static str, u64); 5] {
        [
            ("timeouts", self.timeouts),
            ("mismatches", self.mismatches),
            ("short answers", self.short_answers),
            ("connection errors", self.connection_errors),
            ("connect failures", self.connect_failures),
        ]
    }
}

/// A second's connection counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    /// Opened during the second.
    pub opened: u64,
    /// Reopened during the second.
    pub reopened: u64,
    /// Open at its end.
    pub open: u64,
}

/// One step of a find-max search.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Step {
    /// The rate asked for.
    pub target: f64,
    /// The rate achieved.
    pub achieved: f64,
    /// Median latency (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Errors.
    pub errors: u64,
    /// Whether the step met the SLO.
    pub met: bool,
    /// Whether it reached a steady state.
    pub steady: bool,
}

/// A find-max search: its answer and curve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindMax {
    /// The SLO as text (`p99 <= 1000 µs, error rate <= 0`).
    pub slo: String,
    /// The highest rate that met it, if one did.
    pub answer: Option<f64>,
    /// The steps, in the order run.
    pub steps: Vec<Step>,
}

/// One bench run, from its JSON report.
#[derive(Debug, Clone)]
pub struct Run {
    /// What the charts call it: the `label` given at bench time, else the file name.
    pub name: String,
    /// The file it was read from, if it came from one: messages name it, since two files may
    /// carry the same label.
    pub file: Option<String>,
    /// The JSON's `schema` (1 when absent).
    pub schema: u64,
    /// The whole document.
    pub doc: Value,
    /// Measured messages per second.
    pub msgs_per_s: f64,
    /// Corrected latency figures (µs).
    pub latency: Figures,
    /// Uncorrected latency figures (version 2).
    pub latency_uncorrected: Option<Figures>,
    /// The run's corrected latency histogram (version 2).
    pub hist: Option<Histogram<u64>>,
    /// The run's uncorrected latency histogram (version 2).
    pub hist_uncorrected: Option<Histogram<u64>>,
    /// How far sends fell behind the schedule (version 2, open loop).
    pub hist_lag: Option<Histogram<u64>>,
    /// One entry per second.
    pub seconds: Vec<Second>,
    /// What the charts need of the per-second histograms.
    pub digest: Digest,
    /// The find-max search (version 2, when run with `--find-max`).
    pub find_max: Option<FindMax>,
    /// Wall-clock start (Unix seconds; version 2).
    pub started_at_unix_s: Option<f64>,
}

/// A JSON number as f64.
pub(crate) fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A JSON number as u64 (0 when absent).
pub(crate) fn count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

/// A second's corrected and uncorrected histograms, each if it has one.
pub type SecondHists = (Option<Histogram<u64>>, Option<Histogram<u64>>);

/// What a run is read for, which decides whether its per-second histograms are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Drawn: each second's latency histogram is decoded into the run's [`Digest`] (its
    /// uncorrected one is never drawn, so never decoded).
    Draw,
    /// Merged, or shown as a table row: no second's histogram is decoded, the digest is
    /// empty (a merge decodes each second itself, once).
    Merge,
}

/// The histogram in field `v` (a base64 string) if there is one.
fn hist_field(v: &Value, what: &str) -> Result<Option<Histogram<u64>>, LoadError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => histcodec::decode(s)
            .map(Some)
            .map_err(|e| LoadError(format!("{what}: {e}"))),
        _ => Err(LoadError(format!("{what} is not a string"))),
    }
}

impl Run {
    /// Reads the JSON report at `path` to draw it; the name is its `label`, else the file name.
    pub fn load(path: &Path) -> Result<Run, LoadError> {
        Self::load_for(path, Purpose::Draw)
    }

    /// Reads the JSON report at `path` for `purpose`; the name is its `label`, else the file
    /// name.
    pub fn load_for(path: &Path, purpose: Purpose) -> Result<Run, LoadError> {
        let doc = read_json(path, MAX_REPORT_BYTES)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let mut run = Run::from_json_for(doc, &name, purpose)
            .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        run.file = Some(path.display().to_string());
        Ok(run)
    }

    /// The run as messages name it: its name, and its file where that says more.
    pub fn who(&self) -> String {
        match &self.file {
            Some(file) if !file.ends_with(&self.name) => format!("{} ({file})", self.name),
            Some(file) => file.clone(),
            None => self.name.clone(),
        }
    }

    /// The run of JSON report `doc`, to draw it; `fallback_name` names it when it has no
    /// `label`.
    pub fn from_json(doc: Value, fallback_name: &str) -> Result<Run, LoadError> {
        Self::from_json_for(doc, fallback_name, Purpose::Draw)
    }

    /// The run of JSON report `doc`, for `purpose`; `fallback_name` names it when it has no
    /// `label`. The run keeps the whole document (a merge decodes the per-second histograms
    /// from it).
    pub fn from_json_for(
        mut doc: Value,
        fallback_name: &str,
        purpose: Purpose,
    ) -> Result<Run, LoadError> {
        Self::check(&doc)?;
        let series = doc["series"].take();
        let mut run = Self::read(doc, &series, fallback_name, purpose)?;
        run.doc["series"] = series;
        Ok(run)
    }

    /// The run of JSON report `doc`, borrowed: the run keeps a copy of the document without
    /// its per-second series (all that drawing it needs), so the series is not copied.
    pub fn from_json_ref(doc: &Value, fallback_name: &str) -> Result<Run, LoadError> {
        Self::check(doc)?;
        let mut light = serde_json::Map::new();
        for (k, v) in doc.as_object().into_iter().flatten() {
            if k != "series" {
                light.insert(k.clone(), v.clone());
            }
        }
        light.insert("series".into(), Value::Array(Vec::new()));
        Self::read(
            Value::Object(light),
            &doc["series"],
            fallback_name,
            Purpose::Draw,
        )
    }

    /// Checks that `doc` looks like a report at all.
    fn check(doc: &Value) -> Result<(), LoadError> {
        if !doc.is_object() || !doc["latency_us"].is_object() || !doc["series"].is_array() {
            return Err(LoadError(
                "not a shout bench report (no `latency_us` object or `series` array)".into(),
            ));
        }
        let seconds = doc["series"].as_array().map_or(0, Vec::len);
        if seconds > MAX_SECONDS {
            return Err(LoadError(format!(
                "`series` has {seconds} seconds, more than the {MAX_SECONDS} (11 days) shout \
                 report reads: refused"
            )));
        }
        Ok(())
    }

    /// The run of `doc` (without its series) and `series`, its per-second entries, read for
    /// `purpose`.
    fn read(
        doc: Value,
        series: &Value,
        fallback_name: &str,
        purpose: Purpose,
    ) -> Result<Run, LoadError> {
        let schema = doc["schema"].as_u64().unwrap_or(1);
        if schema > 2 {
            return Err(LoadError(format!(
                "report schema {schema} is newer than this shout reads (1 and 2)"
            )));
        }
        let name = match doc["label"].as_str() {
            Some(l) if !l.is_empty() => l.to_owned(),
            _ => fallback_name.to_owned(),
        };
        let hists = &doc["histograms"];
        if hists.is_object() {
            match hists["encoding"].as_str() {
                Some(histcodec::ENCODING) => {}
                other => {
                    return Err(LoadError(format!(
                        "histograms in encoding {other:?}, not {:?}",
                        histcodec::ENCODING
                    )))
                }
            }
        }
        let entries = series.as_array().map_or(&[][..], Vec::as_slice);
        let mut seconds = Vec::with_capacity(entries.len());
        let mut digest = (purpose == Purpose::Draw).then(|| Builder::new(entries.len()));
        for (i, s) in entries.iter().enumerate() {
            let (second, hist) =
                Self::second(s, purpose).map_err(|e| LoadError(format!("series[{i}]: {e}")))?;
            if let Some(digest) = &mut digest {
                digest.add((second.p50_us, second.p99_us, second.max_us), hist.as_ref());
            }
            seconds.push(second);
        }
        Ok(Run {
            file: None,
            name,
            schema,
            msgs_per_s: num(&doc["throughput"]["msgs_per_s"]).unwrap_or(0.0),
            latency: Figures::of(&doc["latency_us"]).unwrap_or_default(),
            latency_uncorrected: Figures::of(&doc["latency_uncorrected_us"]),
            hist: hist_field(&hists["latency_us"], "histograms.latency_us")?,
            hist_uncorrected: hist_field(
                &hists["latency_uncorrected_us"],
                "histograms.latency_uncorrected_us",
            )?,
            hist_lag: hist_field(&hists["schedule_lag_us"], "histograms.schedule_lag_us")?,
            seconds,
            digest: digest.map_or_else(Digest::default, Builder::finish),
            find_max: Self::find_max(&doc["find_max"]),
            started_at_unix_s: num(&doc["started_at_unix_s"]),
            doc,
        })
    }

    /// The second of series entry `s`, with its histogram when it is read to be drawn
    /// (decoded to be digested, then dropped); its uncorrected histogram is not decoded.
    fn second(s: &Value, purpose: Purpose) -> Result<(Second, Option<Histogram<u64>>), LoadError> {
        let has = |k: &str| !s[k].is_null();
        let kinds = has("timeouts").then(|| ErrorKinds {
            timeouts: count(&s["timeouts"]),
            mismatches: count(&s["mismatches"]),
            short_answers: count(&s["short_answers"]),
            connection_errors: count(&s["connection_errors"]),
            connect_failures: count(&s["connect_failures"]),
        });
        let connections = (has("opened") || has("open_connections")).then(|| Connections {
            opened: count(&s["opened"]),
            reopened: count(&s["reopened"]),
            open: count(&s["open_connections"]),
        });
        let has_hist = !s["hist"].is_null();
        let hist = match purpose {
            Purpose::Draw => hist_field(&s["hist"], "hist")?,
            Purpose::Merge => None,
        };
        let second = Second {
            second: count(&s["second"]),
            warmup: s["warmup"].as_bool().unwrap_or(false),
            sent: count(&s["sent"]),
            answered: count(&s["answered"]),
            measured: count(&s["measured"]),
            errors: count(&s["errors"]),
            p50_us: num(&s["p50_us"]).unwrap_or(0.0),
            p99_us: num(&s["p99_us"]).unwrap_or(0.0),
            max_us: num(&s["max_us"]).unwrap_or(0.0),
            target_msgs_per_s: num(&s["target_msgs_per_s"]),
            kinds,
            connections,
            has_hist,
        };
        Ok((second, hist))
    }

    /// The corrected and uncorrected histograms of second `k`, decoded from the document
    /// (for a merge, one second at a time).
    pub fn second_hists(&self, k: usize) -> Result<SecondHists, LoadError> {
        let s = &self.doc["series"][k];
        let what = |e: LoadError| LoadError(format!("series[{k}]: {e}"));
        Ok((
            hist_field(&s["hist"], "hist").map_err(what)?,
            hist_field(&s["hist_uncorrected"], "hist_uncorrected").map_err(what)?,
        ))
    }

    fn find_max(v: &Value) -> Option<FindMax> {
        if !v.is_object() {
            return None;
        }
        let slo = &v["slo"];
        let mut parts: Vec<String> = [
            ("p50_us", "p50"),
            ("p90_us", "p90"),
            ("p99_us", "p99"),
            ("p99_9_us", "p99.9"),
        ]
        .iter()
        .filter_map(|(k, name)| num(&slo[*k]).map(|x| format!("{name} ≤ {x} µs")))
        .collect();
        if let Some(e) = num(&slo["max_error_rate"]) {
            parts.push(format!("error rate ≤ {e}"));
        }
        let steps = v["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Step {
                target: num(&s["target_msgs_per_s"]).unwrap_or(0.0),
                achieved: num(&s["achieved_msgs_per_s"]).unwrap_or(0.0),
                p50_us: num(&s["p50_us"]).unwrap_or(0.0),
                p99_us: num(&s["p99_us"]).unwrap_or(0.0),
                errors: count(&s["errors"]),
                met: s["met"].as_bool().unwrap_or(false),
                steady: s["steady"].as_bool().unwrap_or(false),
            })
            .collect();
        Some(FindMax {
            slo: parts.join(", "),
            answer: num(&v["answer_msgs_per_s"]),
            steps,
        })
    }

    /// Errors of every kind over the run: mismatches, short answers, timeouts, connection
    /// errors and connect failures.
    pub fn errors(&self) -> u64 {
        let e = &self.doc["errors"];
        [
            "mismatches",
            "short_answers",
            "timeouts",
            "connection_errors",
            "connect_failures",
        ]
        .iter()
        .map(|k| count(&e[*k]))
        .fold(0, u64::saturating_add)
    }

    /// The open-loop target rate of the run (`config.rate`), if any.
    pub fn target_rate(&self) -> Option<f64> {
        num(&self.doc["config"]["rate"])
    }

    /// Whether second `s` reaches past the end of the run (the last, partial second: its
    /// count is not a rate).
    pub fn is_partial(&self, s: &Second) -> bool {
        let warmup = num(&self.doc["config"]["warmup_s"]).unwrap_or(0.0);
        match num(&self.doc["elapsed_s"]) {
            Some(elapsed) => s.second as f64 + 1.0 > warmup + elapsed + 0.01,
            None => false,
        }
    }

    /// Whether the per-second series carries histograms (version 2).
    pub fn has_second_hists(&self) -> bool {
        self.digest.any_hist
    }

    /// The verdict line: OK, or FAILED and why.
    pub fn verdict(&self) -> String {
        let d = &self.doc;
        // The bench's own words, when the report has them (a run stopped early says so).
        if let Some(verdict) = d["verdict"].as_str() {
            return verdict.to_owned();
        }
        let ok = d["ok"].as_bool().unwrap_or(false);
        let exit = d["exit_code"].as_i64().unwrap_or(if ok { 0 } else { 1 });
        let mut why = Vec::new();
        if exit == 2 {
            why.push("connections could not be set up".to_owned());
        } else if !ok {
            why.push("some answers were wrong or missing".to_owned());
        }
        for (k, name) in [
            ("mismatches", "mismatches"),
            ("short_answers", "short answers"),
            ("timeouts", "timeouts"),
            ("connection_errors", "connection errors"),
            ("connect_failures", "connect failures"),
        ] {
            let n = count(&d["errors"][k]);
            if n > 0 {
                why.push(format!("{n} {name}"));
            }
        }
        if d["open_loop"]["reached"].as_bool() == Some(false) {
            why.push("target rate NOT reached".to_owned());
        }
        if ok && exit == 0 {
            let mut s = "OK: every message got its exact answer".to_owned();
            if !why.is_empty() {
                s += &format!(" ({})", why.join(", "));
            }
            s
        } else {
            format!("FAILED: {}", why.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v1() -> Value {
        json!({
            "config": {"rate": null, "connections": 4},
            "throughput": {"msgs_per_s": 1000.0},
            "latency_us": {"count": 10, "min": 5, "mean": 20.0, "p50": 10, "p90": 30,
                           "p99": 50, "p99_9": 60, "p99_99": 70, "max": 80},
            "errors": {"mismatches": 1, "short_answers": 0, "timeouts": 2,
                       "connection_errors": 0, "connect_failures": 0},
            "ok": false, "exit_code": 1,
            "series": [{"second": 0, "warmup": false, "sent": 5, "answered": 5, "measured": 5,
                        "errors": 3, "p50_us": 10, "p99_us": 50, "max_us": 80}],
        })
    }

    #[test]
    fn version_1_reads_with_what_it_has() {
        let run = Run::from_json(v1(), "a.json").unwrap();
        assert_eq!(run.schema, 1);
        assert_eq!(run.name, "a.json");
        assert_eq!(run.latency.p99, 50.0);
        assert!(run.hist.is_none() && run.latency_uncorrected.is_none());
        assert_eq!(run.seconds.len(), 1);
        assert!(run.seconds[0].kinds.is_none() && !run.has_second_hists());
        assert_eq!(run.errors(), 3);
        let verdict = run.verdict();
        assert!(verdict.starts_with("FAILED"), "{verdict}");
        assert!(verdict.contains("2 timeouts"), "{verdict}");
    }

    /// A run read from a borrowed document (`shout bench --report`) has the same seconds and
    /// figures without keeping a copy of the series.
    #[test]
    fn a_borrowed_document_is_not_copied() {
        let doc = v1();
        let owned = Run::from_json(doc.clone(), "a").unwrap();
        let borrowed = Run::from_json_ref(&doc, "a").unwrap();
        assert_eq!(owned.seconds.len(), borrowed.seconds.len());
        assert_eq!(owned.digest.latency, borrowed.digest.latency);
        assert_eq!(owned.doc["series"], doc["series"]);
        assert_eq!(borrowed.doc["series"], json!([]));
    }

    #[test]
    fn label_names_the_run_and_bad_documents_are_errors() {
        let mut doc = v1();
        doc["label"] = json!("tuned");
        assert_eq!(Run::from_json(doc, "a.json").unwrap().name, "tuned");
        assert!(Run::from_json(json!({"x": 1}), "x").is_err());
        let mut doc = v1();
        doc["schema"] = json!(3);
        assert!(Run::from_json(doc, "x").unwrap_err().0.contains("schema 3"));
        let mut doc = v1();
        doc["series"] = json!(vec![json!({}); MAX_SECONDS + 1]);
        let e = Run::from_json(doc, "x").unwrap_err().0;
        assert!(e.contains("1000001 seconds, more than the 1000000"), "{e}");
        let mut doc = v1();
        doc["series"][0]["hist"] = json!("not base64!");
        assert!(Run::from_json(doc, "x")
            .unwrap_err()
            .0
            .contains("series[0]"));
    }
}
