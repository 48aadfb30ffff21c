//! Merging runs made at the same time (several bench processes or machines against one
//! service) into one version-2 report: histograms add exactly (percentiles are never
//! averaged), counts add, per-second series line up by `started_at_unix_s` rounded to the
//! second, and the configuration adds connections and rates and joins the addresses.
//!
//! The per-second histograms are decoded one merged second at a time (a second of each run),
//! added, encoded and dropped: merging hour-long runs holds a few histograms, not thousands.

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use super::digest::add_into;
use super::run::{Figures, Run, Second};
use crate::histcodec;

/// The sum of `hists`, exact (a histogram with the first one's bounds that grows to hold the
/// others' values); `None` when there is none.
pub fn add_hists<'a>(
    hists: impl IntoIterator<Item = &'a Histogram<u64>>,
) -> Option<Histogram<u64>> {
    let mut sum: Option<Histogram<u64>> = None;
    for h in hists {
        add_into(&mut sum, h);
    }
    sum
}

/// The JSON figures of a histogram, as the bench writes `latency_us`.
fn figures_json(h: &Histogram<u64>) -> Value {
    let f = Figures::of_hist(h);
    json!({
        "count": f.count,
        "min": f.min as u64,
        "mean": f.mean,
        "p50": f.p50 as u64,
        "p90": f.p90 as u64,
        "p99": f.p99 as u64,
        "p99_9": f.p99_9 as u64,
        "p99_99": f.p99_99 as u64,
        "max": f.max as u64,
    })
}

/// The sum of JSON values: numbers add (as integers when all are), objects add key by key,
/// arrays join without repeats, anything else is the first one that is not null.
fn sum_values(values: &[&Value]) -> Value {
    let present: Vec<&Value> = values.iter().copied().filter(|v| !v.is_null()).collect();
    let Some(first) = present.first() else {
        return Value::Null;
    };
    match first {
        Value::Number(_) => {
            if present.iter().all(|v| v.is_u64()) {
                json!(present
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .fold(0u64, u64::saturating_add))
            } else {
                json!(present.iter().filter_map(|v| v.as_f64()).sum::<f64>())
            }
        }
        Value::Object(_) => {
            let mut keys: Vec<&String> = Vec::new();
            for v in &present {
                for k in v.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
            }
            let mut out = Map::new();
            for k in keys {
                let parts: Vec<&Value> = present.iter().map(|v| &v[k.as_str()]).collect();
                out.insert(k.clone(), sum_values(&parts));
            }
            Value::Object(out)
        }
        Value::Array(_) => {
            let mut out: Vec<Value> = Vec::new();
            for item in present.iter().filter_map(|v| v.as_array()).flatten() {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        other => (*other).clone(),
    }
}

/// Why runs cannot be merged.
#[derive(Debug)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MergeError {}

/// Checks that `run` carries what an exact merge needs.
fn mergeable(run: &Run) -> Result<(), MergeError> {
    let v1 = |what: &str| {
        MergeError(format!(
            "{}: no {what} (a version-1 report?): merging needs the latency histograms that \
             `shout bench --json` writes in report schema 2; percentiles cannot be averaged",
            run.who()
        ))
    };
    if run.hist.is_none() {
        return Err(v1("`histograms`"));
    }
    if run.started_at_unix_s.is_none() {
        return Err(v1("`started_at_unix_s`"));
    }
    if run.seconds.iter().any(|s| !s.has_hist) {
        return Err(v1("per-second `hist` in `series`"));
    }
    Ok(())
}

/// Checks that `runs` were made at the same time: each started within the length of the
/// longest (so the merged series is no longer than that twice, whatever the start times say).
fn overlapping(runs: &[Run]) -> Result<(), MergeError> {
    let starts: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.started_at_unix_s.map(f64::round))
        .collect();
    let first = starts.iter().copied().fold(f64::INFINITY, f64::min);
    let longest = runs
        .iter()
        .map(|r| r.seconds.len())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    for (run, start) in runs.iter().zip(&starts) {
        let after = start - first;
        if after > longest {
            return Err(MergeError(format!(
                "{} started {after} s after the first run, which is longer than the longest \
                 run ({longest} s): --merge combines runs made at the same time",
                run.who()
            )));
        }
    }
    Ok(())
}

/// Rate profiles added: constant rates add; ramps and steps of the same shape add point by
/// point; anything else has no single profile (null).
fn sum_profiles(profiles: &[&Value]) -> Value {
    let kind = profiles[0]["kind"].as_str();
    if profiles.iter().any(|p| p["kind"].as_str() != kind) {
        return Value::Null;
    }
    let add = |key: &str| sum_values(&profiles.iter().map(|p| &p[key]).collect::<Vec<_>>());
    match kind {
        Some("constant") => json!({"kind": "constant", "rate": add("rate")}),
        Some("ramp")
            if profiles
                .iter()
                .all(|p| p["ramp_s"] == profiles[0]["ramp_s"]) =>
        {
            json!({"kind": "ramp", "from": add("from"), "to": add("to"), "ramp_s": profiles[0]["ramp_s"]})
        }
        Some("steps")
            if profiles.iter().all(|p| {
                p["step_s"] == profiles[0]["step_s"]
                    && p["rates"].as_array().map(Vec::len)
                        == profiles[0]["rates"].as_array().map(Vec::len)
            }) =>
        {
            let n = profiles[0]["rates"].as_array().map_or(0, Vec::len);
            let rates: Vec<f64> = (0..n)
                .map(|i| profiles.iter().filter_map(|p| p["rates"][i].as_f64()).sum())
                .collect();
            json!({"kind": "steps", "rates": rates, "step_s": profiles[0]["step_s"]})
        }
        _ => Value::Null,
    }
}

/// One merged second from the seconds of the runs that were running then, with the sums of
/// their histograms.
fn merged_second(
    index: u64,
    parts: &[&Second],
    hist: Option<Histogram<u64>>,
    hist_uncorrected: Option<Histogram<u64>>,
) -> Value {
    // Counts from files may be anything up to u64::MAX: sums saturate rather than overflow.
    let sum = |f: fn(&Second) -> u64| parts.iter().map(|s| f(s)).fold(0, u64::saturating_add);
    let targets: Vec<f64> = parts.iter().filter_map(|s| s.target_msgs_per_s).collect();
    let kinds = |f: fn(&super::run::ErrorKinds) -> u64| {
        parts
            .iter()
            .map(|s| s.kinds.map_or(0, |k| f(&k)))
            .fold(0, u64::saturating_add)
    };
    let conns = |f: fn(&super::run::Connections) -> u64| {
        parts
            .iter()
            .map(|s| s.connections.map_or(0, |c| f(&c)))
            .fold(0, u64::saturating_add)
    };
    let q = |q: f64| hist.as_ref().map_or(0, |h| h.value_at_quantile(q));
    json!({
        "second": index,
        "warmup": parts.iter().any(|s| s.warmup),
        "sent": sum(|s| s.sent),
        "answered": sum(|s| s.answered),
        "measured": sum(|s| s.measured),
        "errors": sum(|s| s.errors),
        "p50_us": q(0.5),
        "p99_us": q(0.99),
        "max_us": hist.as_ref().map_or(0, |h| h.max()),
        "target_msgs_per_s": if targets.is_empty() { Value::Null } else { json!(targets.iter().sum::<f64>()) },
        "timeouts": kinds(|k| k.timeouts),
        "mismatches": kinds(|k| k.mismatches),
        "short_answers": kinds(|k| k.short_answers),
        "connection_errors": kinds(|k| k.connection_errors),
        "connect_failures": kinds(|k| k.connect_failures),
        "opened": conns(|c| c.opened),
        "reopened": conns(|c| c.reopened),
        "open_connections": conns(|c| c.open),
        "hist": hist.as_ref().map(histcodec::encode),
        "hist_uncorrected": hist_uncorrected.as_ref().map(histcodec::encode),
    })
}

/// The merged series: run `i`'s second `k` lands on second `k + offsets[i]`, how many whole
/// seconds after the earliest run it started. Each merged second decodes the histograms of
/// its parts, adds them and drops them before the next.
fn merged_series(runs: &[Run], offsets: &[usize]) -> Result<Vec<Value>, MergeError> {
    let len = runs
        .iter()
        .zip(offsets)
        .map(|(r, o)| o + r.seconds.len())
        .max()
        .unwrap_or(0);
    let mut series = Vec::with_capacity(len);
    for j in 0..len {
        let mut parts: Vec<&Second> = Vec::new();
        let (mut hist, mut hist_uncorrected) = (None, None);
        for (run, &o) in runs.iter().zip(offsets) {
            let Some((k, second)) = j
                .checked_sub(o)
                .and_then(|k| run.seconds.get(k).map(|s| (k, s)))
            else {
                continue;
            };
            let (h, hu) = run
                .second_hists(k)
                .map_err(|e| MergeError(format!("{}: {e}", run.who())))?;
            if let Some(h) = &h {
                add_into(&mut hist, h);
            }
            if let Some(hu) = &hu {
                add_into(&mut hist_uncorrected, hu);
            }
            parts.push(second);
        }
        series.push(merged_second(j as u64, &parts, hist, hist_uncorrected));
    }
    Ok(series)
}

/// The `key` field of each document.
fn field<'a>(docs: &[&'a Value], key: &str) -> Vec<&'a Value> {
    docs.iter().map(|d| &d[key]).collect()
}

/// The sum of the `key` field of each document (see [`sum_values`]).
fn sum_of(docs: &[&Value], key: &str) -> Value {
    sum_values(&field(docs, key))
}

/// Checks that `runs` can be merged: there is at least one, each carries what an exact merge
/// needs, and they were made at the same time.
fn check_runs(runs: &[Run]) -> Result<(), MergeError> {
    if runs.is_empty() {
        return Err(MergeError("nothing to merge".into()));
    }
    for run in runs {
        mergeable(run)?;
    }
    overlapping(runs)
}

/// The merged schedule lag: the sum of the runs' lag histograms when every run has one, and
/// its JSON figures (`late` added from the documents), else `None` and null.
fn merged_lag(runs: &[Run], docs: &[&Value]) -> (Option<Histogram<u64>>, Value) {
    let lag = if runs.iter().all(|r| r.hist_lag.is_some()) {
        add_hists(runs.iter().filter_map(|r| r.hist_lag.as_ref()))
    } else {
        None
    };
    let lag_json = lag.as_ref().map_or(Value::Null, |h| {
        let late: u64 = docs
            .iter()
            .map(|d| d["schedule_lag_us"]["late"].as_u64().unwrap_or(0))
            .fold(0, u64::saturating_add);
        json!({
            "count": h.len(),
            "late": late,
            "mean": h.mean(),
            "p50": h.value_at_quantile(0.5),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
        })
    });
    (lag, lag_json)
}

/// The merged configuration: the first run's, with connections (and threads, rates) added and
/// every address named once.
fn merged_config(docs: &[&Value]) -> Value {
    let mut config = docs[0]["config"].clone();
    if config.is_object() {
        let configs = field(docs, "config");
        for key in ["connections", "threads", "rate"] {
            let parts: Vec<&Value> = configs.iter().map(|c| &c[key]).collect();
            config[key] = if parts.iter().any(|p| p.is_null()) {
                Value::Null
            } else {
                sum_values(&parts)
            };
        }
        config["addrs"] = sum_values(&configs.iter().map(|c| &c["addrs"]).collect::<Vec<_>>());
    }
    config
}

/// The merged `open_loop`: targets and achieved rates added, reached when every run reached
/// its rate; null unless every run was open loop.
fn merged_open_loop(docs: &[&Value]) -> Value {
    if !docs.iter().all(|d| d["open_loop"].is_object()) {
        return Value::Null;
    }
    let ol = field(docs, "open_loop");
    let add = |k: &str| sum_values(&ol.iter().map(|o| &o[k]).collect::<Vec<_>>());
    json!({
        "target_msgs_per_s": add("target_msgs_per_s"),
        "achieved_msgs_per_s": add("achieved_msgs_per_s"),
        "reached": ol.iter().all(|o| o["reached"].as_bool() == Some(true)),
    })
}

/// The merged `rate_profile` (see [`sum_profiles`]); null unless every run had one.
fn merged_rate_profile(docs: &[&Value]) -> Value {
    if docs.iter().all(|d| d["rate_profile"].is_object()) {
        sum_profiles(&field(docs, "rate_profile"))
    } else {
        Value::Null
    }
}

/// The merged `cpu`: the client's seconds added, and per million messages of all the runs.
fn merged_cpu(docs: &[&Value]) -> Value {
    let mut cpu = sum_of(docs, "cpu");
    let answered = sum_of(docs, "messages")["answered"].as_f64().unwrap_or(0.0);
    if let Some(s) = cpu["client_s"].as_f64() {
        cpu["client_s_per_million_msgs"] = json!(if answered > 0.0 {
            s * 1e6 / answered
        } else {
            0.0
        });
    }
    cpu
}

/// The earliest start of `runs` (Unix seconds), and how many whole seconds after it each run
/// started: where its series lands in the merged one.
fn start_offsets(runs: &[Run]) -> (f64, Vec<usize>) {
    let starts: Vec<f64> = runs.iter().filter_map(|r| r.started_at_unix_s).collect();
    // Whole seconds after the first start: small, as `overlapping` checked.
    let first = starts.iter().copied().fold(f64::INFINITY, f64::min).round();
    let whole: Vec<usize> = starts
        .iter()
        .map(|s| (s.round() - first) as usize)
        .collect();
    let started = starts.iter().copied().fold(f64::INFINITY, f64::min);
    (started, whole)
}

/// The merge of `runs` (made at the same time) as a version-2 JSON report.
pub fn merge(runs: &[Run]) -> Result<Value, MergeError> {
    check_runs(runs)?;
    let docs: Vec<&Value> = runs.iter().map(|r| &r.doc).collect();
    let hist = add_hists(runs.iter().filter_map(|r| r.hist.as_ref()));
    let uncorrected = add_hists(runs.iter().filter_map(|r| r.hist_uncorrected.as_ref()));
    let (lag, lag_json) = merged_lag(runs, &docs);
    let (started, whole) = start_offsets(runs);
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let elapsed = docs
        .iter()
        .filter_map(|d| d["elapsed_s"].as_f64())
        .fold(0.0, f64::max);
    let hist = hist.expect("every run has a histogram (checked)");
    let series = merged_series(runs, &whole)?;
    let uncorrected = uncorrected.unwrap_or_else(|| hist.clone());

    Ok(json!({
        "schema": 2,
        "label": format!("merged: {}", names.join("+")),
        "merged_from": names,
        "started_at_unix_s": started,
        "config": merged_config(&docs),
        "elapsed_s": elapsed,
        "throughput": sum_of(&docs, "throughput"),
        "open_loop": merged_open_loop(&docs),
        "latency_us": figures_json(&hist),
        "latency_uncorrected_us": figures_json(&uncorrected),
        "schedule_lag_us": lag_json,
        "histograms": {
            "encoding": histcodec::ENCODING,
            "latency_us": histcodec::encode(&hist),
            "latency_uncorrected_us": histcodec::encode(&uncorrected),
            "schedule_lag_us": lag.as_ref().map(histcodec::encode),
        },
        "rate_profile": merged_rate_profile(&docs),
        "find_max": Value::Null,
        "messages": sum_of(&docs, "messages"),
        "errors": sum_of(&docs, "errors"),
        "connections": sum_of(&docs, "connections"),
        "cpu": merged_cpu(&docs),
        "ok": docs.iter().all(|d| d["ok"].as_bool() == Some(true)),
        "exit_code": docs.iter().filter_map(|d| d["exit_code"].as_u64()).max().unwrap_or(0),
        "series": series,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_add_numbers_and_join_lists() {
        let a = json!({"n": 1, "f": 0.5, "reasons": {"x": 2}, "hints": ["h1"], "s": "a"});
        let b = json!({"n": 2, "f": 1.0, "reasons": {"x": 1, "y": 4}, "hints": ["h1", "h2"]});
        let s = sum_values(&[&a, &b]);
        assert_eq!(
            s,
            json!({"n": 3, "f": 1.5, "reasons": {"x": 3, "y": 4}, "hints": ["h1", "h2"], "s": "a"})
        );
    }

    #[test]
    fn profiles_add_when_alike() {
        let c1 = json!({"kind": "constant", "rate": 100.0});
        let c2 = json!({"kind": "constant", "rate": 50.0});
        assert_eq!(sum_profiles(&[&c1, &c2])["rate"], json!(150.0));
        let s1 = json!({"kind": "steps", "rates": [1.0, 2.0], "step_s": 10.0});
        let s2 = json!({"kind": "steps", "rates": [3.0, 4.0], "step_s": 10.0});
        assert_eq!(sum_profiles(&[&s1, &s2])["rates"], json!([4.0, 6.0]));
        assert!(sum_profiles(&[&c1, &s1]).is_null());
    }

    #[test]
    fn histograms_add_exactly() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        let mut b = a.clone();
        let mut both = a.clone();
        for v in 1..500u64 {
            a.record(v * 3).unwrap();
            both.record(v * 3).unwrap();
        }
        for v in 1..300u64 {
            b.record(v * 1000).unwrap();
            both.record(v * 1000).unwrap();
        }
        let sum = add_hists([&a, &b]).unwrap();
        assert_eq!(sum.len(), both.len());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(sum.value_at_quantile(q), both.value_at_quantile(q));
        }
    }
}
