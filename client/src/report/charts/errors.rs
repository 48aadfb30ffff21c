//! Errors over time: per second, by kind for a single version-2 run (timeouts, mismatches,
//! short answers, connection errors, connect failures), else all errors, one line per run.

use super::plot::{color, groups, line_label, per_second, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::digest::{step_for, MAX_POINTS};
use crate::report::run::{Run, Second};

/// One line per kind of error that `run` had, in groups of `step` seconds.
fn kind_lines(run: &Run, step: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    for (k, name) in [
        "timeouts",
        "mismatches",
        "short answers",
        "connection errors",
        "connect failures",
    ]
    .iter()
    .enumerate()
    {
        let of = |s: &Second| s.kinds.map_or(0, |kinds| kinds.named()[k].1);
        if run.seconds.iter().all(|s| of(s) == 0) {
            continue;
        }
        let points = groups(run, step)
            .map(|(t, g)| (t, per_second(g, of)))
            .collect();
        lines.push(Line::new(
            (*name).to_owned(),
            color(k),
            Stroke::Solid(2),
            points,
        ));
    }
    lines
}

/// Errors per second, by kind (version 2) or in all (version 1; and one line per run when
/// comparing).
pub fn errors(runs: &[Run]) -> Chart {
    let title = "Errors over time";
    let single = runs.len() == 1;
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let step = step_for(run.seconds.len(), MAX_POINTS);
        let by_kind = single && run.seconds.iter().all(|s| s.kinds.is_some());
        if by_kind
            && run
                .seconds
                .iter()
                .any(|s| s.errors > 0 || s.kinds.is_some_and(|k| k.named().iter().any(|n| n.1 > 0)))
        {
            lines.extend(kind_lines(run, step));
        } else {
            let points = groups(run, step)
                .map(|(t, g)| (t, per_second(g, |s| s.errors)))
                .collect();
            lines.push(Line::new(
                line_label(run, if single { "errors" } else { "" }),
                color(i),
                Stroke::Solid(2),
                points,
            ));
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return Chart::missing(
            "errors",
            title,
            "the report has no per-second series".into(),
        );
    }
    let mut plot = Plot::new(title, "time since start (s)", "errors/s");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::Linear);
    let note = if runs.iter().any(|r| r.errors() > 0) {
        "Errors each second: wrong or short answers, timeouts, connections lost or not opened."
    } else {
        "No errors: every message got its exact answer (the line stays at zero)."
    };
    Chart::drawn("errors", title, plot.draw(), note.to_owned())
}
