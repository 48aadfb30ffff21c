//! The charts of a `--find-max` search: the rate achieved, and p50 and p99 latency, at each
//! target rate tried, each step's marker filled where it met the SLO.

use plotters::style::RGBColor;

use super::plot::{color, line_label, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::run::Run;
use crate::report::units;

/// Find-max: the rate achieved at each target rate tried, filled where the step met the SLO.
pub fn find_max_rate(runs: &[Run]) -> Chart {
    let title = "Find max: achieved rate by target rate";
    let mut lines = Vec::new();
    let mut top: f64 = 0.0;
    for (i, run) in runs.iter().enumerate() {
        let Some(fm) = &run.find_max else { continue };
        let mut steps = fm.steps.clone();
        steps.sort_by(|a, b| a.target.total_cmp(&b.target));
        top = steps
            .iter()
            .fold(top, |m, s| m.max(s.target).max(s.achieved));
        let mut line = Line::new(
            line_label(run, "achieved"),
            color(i),
            Stroke::Solid(2),
            steps.iter().map(|s| (s.target, s.achieved)).collect(),
        );
        line.markers = Some(steps.iter().map(|s| s.met).collect());
        lines.push(line);
    }
    lines.push(Line::new(
        "achieved = target".into(),
        RGBColor(150, 150, 150),
        Stroke::Dashed(1),
        vec![(0.0, 0.0), (top, top)],
    ));
    let mut plot = Plot::new(title, "target rate (msgs/s)", "achieved rate (msgs/s)");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::Linear);
    Chart::drawn("find-max-rate", title, plot.draw(), find_max_note(runs))
}

/// Find-max: p50 and p99 latency at each target rate tried, filled where the step met the SLO.
pub fn find_max_latency(runs: &[Run]) -> Chart {
    let title = "Find max: latency by target rate";
    let single = runs.len() == 1;
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(fm) = &run.find_max else { continue };
        let mut steps = fm.steps.clone();
        steps.sort_by(|a, b| a.target.total_cmp(&b.target));
        let log = |v: f64| v.max(1.0).log10();
        let (c50, c99) = if single {
            (color(0), color(1))
        } else {
            (color(i), color(i))
        };
        lines.push(Line::new(
            line_label(run, "p50"),
            c50,
            Stroke::Dashed(1),
            steps.iter().map(|s| (s.target, log(s.p50_us))).collect(),
        ));
        let mut p99 = Line::new(
            line_label(run, "p99"),
            c99,
            Stroke::Solid(2),
            steps.iter().map(|s| (s.target, log(s.p99_us))).collect(),
        );
        p99.markers = Some(steps.iter().map(|s| s.met).collect());
        lines.push(p99);
    }
    let mut plot = Plot::new(title, "target rate (msgs/s)", "latency (log scale)");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::LogMicros);
    Chart::drawn("find-max-latency", title, plot.draw(), find_max_note(runs))
}

/// The note under both find-max charts: each run's SLO and answer.
fn find_max_note(runs: &[Run]) -> String {
    let mut parts = Vec::new();
    for run in runs {
        if let Some(fm) = &run.find_max {
            let answer = match fm.answer {
                Some(r) => format!("{} msgs/s", units::thousands(r)),
                None => "no rate met it".to_owned(),
            };
            parts.push(format!("{}: SLO {}; answer {answer}", run.name, fm.slo));
        }
    }
    format!(
        "{}. Filled circles: steps that met the SLO; hollow: steps that did not.",
        parts.join("; ")
    )
}
