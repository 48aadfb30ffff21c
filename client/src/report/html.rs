//! The HTML page of a report: configuration, verdict and summary table above the charts, all
//! in one file (inline SVG and CSS; no script, font or any other file is fetched).

use std::fmt::Write as _;

use serde_json::Value;

use super::charts::{self, Chart};
use super::compare;
use super::run::{count, num, Run};
use super::units::{self, escape};

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:960px;color:#222}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th:first-child{text-align:left}tr th{background:#f4f4f4}\
.ok{color:#1a7f37;font-weight:bold}.failed{color:#c62828;font-weight:bold}\
.note{color:#555;font-size:13px;margin:4px 0 0}figure{margin:18px 0}\
figure svg{max-width:100%;height:auto;border:1px solid #eee}\
.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}";

/// The inline form of a chart's SVG: without the XML namespace URL (HTML does not need it, and
/// the page then names no URL at all).
fn inline_svg(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// A config value as text: strings bare, null as `-`, the rest as JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// A table with one column per run: `rows` are (heading, one cell per run).
fn table(runs: &[Run], rows: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("<table><tr><th></th>");
    for (i, run) in runs.iter().enumerate() {
        let c = charts::color(i);
        let _ = write!(
            out,
            "<th><span class=\"swatch\" style=\"background:rgb({},{},{})\"></span>{}</th>",
            c.0,
            c.1,
            c.2,
            escape(&run.name)
        );
    }
    out.push_str("</tr>\n");
    for (head, cells) in rows {
        let _ = write!(out, "<tr><th>{}</th>", escape(head));
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

/// The configuration of each run: every key of any run's `config`, plus label and start.
fn config_rows(runs: &[Run]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<String> = Vec::new();
    for run in runs {
        if let Some(obj) = run.doc["config"].as_object() {
            for k in obj.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let mut rows = Rows::new(runs);
    for k in &keys {
        rows.add(k, |r| value_text(&r.doc["config"][k]));
    }
    rows.add("rate profile", |r| rate_profile(&r.doc["rate_profile"]));
    rows.add("report schema", |r| r.schema.to_string());
    rows.add("started at (Unix s)", |r| {
        r.started_at_unix_s
            .map_or("-".to_owned(), |t| format!("{t:.3}"))
    });
    rows.rows
}

/// A rate profile as text.
fn rate_profile(p: &Value) -> String {
    let r = |v: &Value| num(v).map_or("?".to_owned(), units::thousands);
    match p["kind"].as_str() {
        Some("constant") => format!("constant {} msgs/s", r(&p["rate"])),
        Some("ramp") => format!(
            "ramp {} to {} msgs/s over {} s",
            r(&p["from"]),
            r(&p["to"]),
            value_text(&p["ramp_s"])
        ),
        Some("steps") => format!(
            "steps {} msgs/s, {} s each",
            p["rates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(r)
                .collect::<Vec<_>>()
                .join(", "),
            value_text(&p["step_s"])
        ),
        _ => "-".to_owned(),
    }
}

/// The rows of a table with one column per run, added by heading with a cell of each run.
struct Rows<'a> {
    runs: &'a [Run],
    rows: Vec<(String, Vec<String>)>,
}

impl<'a> Rows<'a> {
    /// No rows yet, for a table of `runs`.
    fn new(runs: &'a [Run]) -> Self {
        Rows {
            runs,
            rows: Vec::new(),
        }
    }

    /// Adds the row `head`, whose cell for each run is `f` of it.
    fn add(&mut self, head: &str, f: impl Fn(&Run) -> String) {
        self.rows
            .push((head.to_owned(), self.runs.iter().map(f).collect()));
    }
}

/// The number at `path` in the document of `r`.
fn number_at(r: &Run, path: &[&str]) -> Option<f64> {
    let mut v = &r.doc;
    for p in path {
        v = &v[*p];
    }
    num(v)
}

/// The count `a.b` of the document of `r`, with thousands separated.
fn counted(r: &Run, a: &str, b: &str) -> String {
    units::thousands(count(&r.doc[a][b]) as f64)
}

/// The summary figures of each run.
fn summary_rows(runs: &[Run]) -> Vec<(String, Vec<String>)> {
    let mut rows = Rows::new(runs);
    rate_rows(&mut rows);
    latency_rows(&mut rows);
    count_rows(&mut rows);
    rows.add("client CPU", |r| match number_at(r, &["cpu", "client_s"]) {
        Some(s) => format!(
            "{s:.2} s ({:.3} s per million msgs)",
            number_at(r, &["cpu", "client_s_per_million_msgs"]).unwrap_or(0.0)
        ),
        None => "-".to_owned(),
    });
    if runs.iter().any(|r| r.find_max.is_some()) {
        rows.add("find max: SLO", |r| {
            r.find_max
                .as_ref()
                .map_or("-".to_owned(), |f| f.slo.clone())
        });
        rows.add("find max: answer", |r| match &r.find_max {
            Some(f) => f.answer.map_or("no rate met the SLO".to_owned(), |a| {
                format!("{} msgs/s", units::thousands(a))
            }),
            None => "-".to_owned(),
        });
    }
    rows.rows
}

/// The summary's rates: throughput, MiB/s, how long, and the target rate in open loop.
fn rate_rows(rows: &mut Rows) {
    rows.add("throughput", |r| {
        format!("{} msgs/s", units::thousands(r.msgs_per_s))
    });
    rows.add("MiB/s out / in", |r| {
        let out = number_at(r, &["throughput", "mib_per_s_out"]).unwrap_or(0.0);
        let inn = number_at(r, &["throughput", "mib_per_s_in"]).unwrap_or(0.0);
        format!("{out:.2} / {inn:.2}")
    });
    rows.add("measured for", |r| {
        number_at(r, &["elapsed_s"]).map_or("-".to_owned(), |s| format!("{s:.2} s"))
    });
    if rows.runs.iter().any(|r| !r.doc["open_loop"].is_null()) {
        rows.add("target rate", |r| {
            match number_at(r, &["open_loop", "target_msgs_per_s"]) {
                Some(t) => {
                    let reached = match r.doc["open_loop"]["reached"].as_bool() {
                        Some(true) => "reached",
                        Some(false) => "NOT reached",
                        None => "",
                    };
                    format!("{} msgs/s {reached}", units::thousands(t))
                }
                None => "closed loop".to_owned(),
            }
        });
    }
}

/// The summary's latencies: the percentiles, uncorrected ones, the schedule's lag.
fn latency_rows(rows: &mut Rows) {
    for (head, get) in [
        ("latency min", (|r: &Run| r.latency.min) as fn(&Run) -> f64),
        ("latency p50", |r| r.latency.p50),
        ("latency p90", |r| r.latency.p90),
        ("latency p99", |r| r.latency.p99),
        ("latency p99.9", |r| r.latency.p99_9),
        ("latency p99.99", |r| r.latency.p99_99),
        ("latency max", |r| r.latency.max),
    ] {
        rows.add(head, |r| units::us(get(r)));
    }
    if rows.runs.iter().any(|r| r.latency_uncorrected.is_some()) {
        rows.add("uncorrected p50 / p99 / max", |r| {
            match r.latency_uncorrected {
                Some(u) => format!(
                    "{} / {} / {}",
                    units::us(u.p50),
                    units::us(u.p99),
                    units::us(u.max)
                ),
                None => "-".to_owned(),
            }
        });
    }
    if rows
        .runs
        .iter()
        .any(|r| r.doc["schedule_lag_us"].is_object())
    {
        rows.add("schedule lag p99 / max", |r| {
            let l = &r.doc["schedule_lag_us"];
            match (num(&l["p99"]), num(&l["max"])) {
                (Some(p), Some(m)) => format!("{} / {}", units::us(p), units::us(m)),
                _ => "-".to_owned(),
            }
        });
        rows.add("sent late (behind a tick)", |r| {
            units::thousands(count(&r.doc["schedule_lag_us"]["late"]) as f64)
        });
    }
}

/// The summary's counts: messages, errors by kind, connections.
fn count_rows(rows: &mut Rows) {
    rows.add("messages sent / answered", |r| {
        format!(
            "{} / {}",
            counted(r, "messages", "sent"),
            counted(r, "messages", "answered")
        )
    });
    rows.add("re-sent / unsent", |r| {
        format!(
            "{} / {}",
            counted(r, "messages", "resent"),
            counted(r, "messages", "unsent")
        )
    });
    for (key, head) in [
        ("mismatches", "mismatches"),
        ("short_answers", "short answers"),
        ("timeouts", "timeouts"),
        ("connection_errors", "connection errors"),
        ("connect_failures", "connect failures"),
    ] {
        rows.add(head, |r| counted(r, "errors", key));
    }
    rows.add("connections opened / failed / reopened", |r| {
        format!(
            "{} / {} / {}",
            counted(r, "connections", "opened"),
            counted(r, "connections", "failed"),
            counted(r, "connections", "reopened")
        )
    });
}

/// Notes that qualify the figures: the open-loop schedule's resolution, hints of the bench.
fn notes(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        if run.doc["open_loop"].is_null() && run.doc["rate_profile"].is_null() {
            continue;
        }
        if let Some(tick) = num(&run.doc["config"]["open_loop_tick_s"]) {
            let _ = writeln!(
                out,
                "<p class=\"note\">{}: sends are scheduled on a {} tick; in open loop a corrected \
                 latency includes up to that much of the schedule's own granularity, so \
                 figures below it are bounded by the tick, not measured finer.</p>",
                escape(&run.name),
                units::us(tick * 1e6)
            );
        }
    }
    for run in runs {
        for hint in run.doc["errors"]["hints"].as_array().into_iter().flatten() {
            if let Some(h) = hint.as_str() {
                let _ = writeln!(
                    out,
                    "<p class=\"note\">{}: hint: {}</p>",
                    escape(&run.name),
                    escape(h)
                );
            }
        }
    }
    out
}

/// One chart as a figure: heading, the SVG (or why there is none) and its note.
fn figure(chart: &Chart) -> String {
    let mut out = format!(
        "<figure id=\"chart-{}\">\n<h2>{}</h2>\n",
        escape(&chart.id),
        escape(&chart.title)
    );
    if let Some(svg) = &chart.svg {
        out.push_str(&inline_svg(svg));
    }
    let _ = write!(
        out,
        "\n<figcaption class=\"note\">{}</figcaption>\n</figure>\n",
        escape(&chart.note)
    );
    out
}

/// The HTML page of `runs`: one run's report, or several compared.
pub fn page(runs: &[Run]) -> String {
    let title = match runs {
        [one] => format!("shout bench: {}", one.name),
        _ => format!(
            "shout bench: {} runs compared",
            units::thousands(runs.len() as f64)
        ),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    out.push_str("<h2>Verdict</h2>\n");
    for run in runs {
        let verdict = run.verdict();
        let class = if verdict.starts_with("OK") {
            "ok"
        } else {
            "failed"
        };
        let _ = writeln!(
            out,
            "<p class=\"verdict\">{}: <span class=\"{class}\">{}</span></p>",
            escape(&run.name),
            escape(&verdict)
        );
    }
    if runs.len() > 1 {
        out.push_str("<h2>Differences</h2>\n");
        out.push_str(&compare::html(runs));
    }
    out.push_str("<h2>Summary</h2>\n");
    out.push_str(&table(runs, &summary_rows(runs)));
    out.push_str(&notes(runs));
    out.push_str("<h2>Configuration</h2>\n");
    out.push_str(&table(runs, &config_rows(runs)));
    for chart in charts::all(runs) {
        out.push_str(&figure(&chart));
    }
    out.push_str("<p class=\"note\">Made by shout report; every chart is inline SVG.</p>\n");
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_svg_names_no_url() {
        let svg = "<svg width=\"1\" xmlns=\"http://www.w3.org/2000/svg\"></svg>";
        assert_eq!(inline_svg(svg), "<svg width=\"1\"></svg>");
    }
}
