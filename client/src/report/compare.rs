//! The table of differences between runs: throughput, p50, p99, p99.9 and errors of each run,
//! and each one's change relative to the first run; as text (stdout) and as HTML.

use std::fmt::Write as _;

use super::run::Run;
use super::units::{self, escape};

/// One run's figures in the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The run's name.
    pub name: String,
    /// Measured messages per second.
    pub msgs_per_s: f64,
    /// Median latency (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// 99.9th percentile (µs).
    pub p99_9_us: f64,
    /// Errors of every kind.
    pub errors: u64,
}

/// The rows of `runs`, in order.
pub fn rows(runs: &[Run]) -> Vec<Row> {
    runs.iter()
        .map(|r| Row {
            name: r.name.clone(),
            msgs_per_s: r.msgs_per_s,
            p50_us: r.latency.p50,
            p99_us: r.latency.p99,
            p99_9_us: r.latency.p99_9,
            errors: r.errors(),
        })
        .collect()
}

/// The table's header.
const HEADER: [&str; 6] = ["run", "throughput", "p50", "p99", "p99.9", "errors"];

/// The cells of each row: the value, and from the second row on its change vs the first.
fn cells(rows: &[Row]) -> Vec<[String; 6]> {
    let Some(base) = rows.first() else {
        return Vec::new();
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let with = |text: String, b: f64, v: f64| {
                if i == 0 {
                    text
                } else {
                    format!("{text} ({})", units::change(b, v))
                }
            };
            [
                r.name.clone(),
                with(
                    format!("{} msgs/s", units::thousands(r.msgs_per_s)),
                    base.msgs_per_s,
                    r.msgs_per_s,
                ),
                with(units::us(r.p50_us), base.p50_us, r.p50_us),
                with(units::us(r.p99_us), base.p99_us, r.p99_us),
                with(units::us(r.p99_9_us), base.p99_9_us, r.p99_9_us),
                with(
                    units::thousands(r.errors as f64),
                    base.errors as f64,
                    r.errors as f64,
                ),
            ]
        })
        .collect()
}

/// The table as aligned text, with a line saying what the changes are relative to.
pub fn text(runs: &[Run]) -> String {
    let cells = cells(&rows(runs));
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String]| {
        let mut text = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = w - c.chars().count();
            if i == 0 {
                text.push_str(c);
                text.extend(std::iter::repeat_n(' ', pad));
            } else {
                text.extend(std::iter::repeat_n(' ', pad));
                text.push_str(c);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(&mut out, &HEADER.map(str::to_owned));
    for row in &cells {
        line(&mut out, row);
    }
    if let [first, _, ..] = runs {
        let _ = writeln!(out, "(changes relative to {})", first.name);
    }
    out
}

/// The table as HTML.
pub fn html(runs: &[Run]) -> String {
    let mut out = String::from("<table class=\"diff\"><tr>");
    for h in HEADER {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>\n");
    for row in cells(&rows(runs)) {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}>{}</{tag}>", escape(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if let [first, _, ..] = runs {
        let _ = writeln!(
            out,
            "<p class=\"note\">Changes relative to {}.</p>",
            escape(&first.name)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(name: &str, rate: f64, p99: u64, timeouts: u64) -> Run {
        let doc = json!({
            "label": name,
            "throughput": {"msgs_per_s": rate},
            "latency_us": {"count": 100, "p50": 100, "p99": p99, "p99_9": 2 * p99, "max": 3 * p99},
            "errors": {"timeouts": timeouts},
            "series": [],
        });
        Run::from_json(doc, "x").unwrap()
    }

    #[test]
    fn changes_are_relative_to_the_first_run() {
        let runs = [run("base", 1000.0, 500, 0), run("new", 1500.0, 250, 3)];
        let text = text(&runs);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("run"), "{text}");
        assert!(lines[1].starts_with("base"), "{text}");
        assert!(!lines[1].contains('%'), "{text}");
        assert!(lines[2].contains("1,500 msgs/s (+50.0%)"), "{text}");
        assert!(lines[2].contains("250 µs (-50.0%)"), "{text}");
        assert!(lines[2].contains("3 (-)"), "{text}");
        assert!(text.contains("relative to base"), "{text}");
        let one = super::text(&runs[..1]);
        assert!(!one.contains("relative"), "{one}");
        let html = html(&runs);
        assert!(html.contains("<td>1,500 msgs/s (+50.0%)</td>"), "{html}");
    }
}
