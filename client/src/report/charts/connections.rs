//! Connections over time: open at the end of each second, and opened, reopened and failed per
//! second (version 2 only; a version-1 report has its totals in the summary table).

use super::plot::{color, groups, line_label, per_second, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::digest::{step_for, MAX_POINTS};
use crate::report::run::{Run, Second};

/// A per-second count of a series entry.
type Count = fn(&Second) -> u64;

/// The lines of a single run: `open`, and opened, reopened and failed per second, each in its
/// own colour.
fn single_run_lines(run: &Run, step: usize, open: Vec<(f64, f64)>) -> Vec<Line> {
    let series: [(&str, Count); 3] = [
        ("opened/s", |s| s.connections.map_or(0, |c| c.opened)),
        ("reopened/s", |s| s.connections.map_or(0, |c| c.reopened)),
        ("failed/s", |s| s.kinds.map_or(0, |k| k.connect_failures)),
    ];
    let mut lines = vec![Line::new("open".into(), color(0), Stroke::Solid(2), open)];
    for (k, (name, f)) in series.into_iter().enumerate() {
        let points = groups(run, step)
            .map(|(t, g)| (t, per_second(g, f)))
            .collect();
        lines.push(Line::new(
            name.into(),
            color(k + 1),
            Stroke::Dashed(1),
            points,
        ));
    }
    lines
}

/// The lines of run `i` of several: `open`, and (re)opened per second, in the run's colour.
fn compared_run_lines(run: &Run, i: usize, step: usize, open: Vec<(f64, f64)>) -> [Line; 2] {
    let points = groups(run, step)
        .map(|(t, g)| {
            (
                t,
                per_second(g, |s| {
                    s.connections
                        .map_or(0, |c| c.opened.saturating_add(c.reopened))
                }),
            )
        })
        .collect();
    [
        Line::new(line_label(run, "open"), color(i), Stroke::Solid(2), open),
        Line::new(
            line_label(run, "(re)opened/s"),
            color(i),
            Stroke::Dashed(1),
            points,
        ),
    ]
}

/// Connections opened, reopened and failed per second, and open at the end of each second.
pub fn connections(runs: &[Run]) -> Chart {
    let title = "Connections over time";
    if !runs
        .iter()
        .any(|r| r.seconds.iter().any(|s| s.connections.is_some()))
    {
        return Chart::missing(
            "connections",
            title,
            "no per-second connection counts in these reports (version-1 JSON); the summary \
             table has the run's totals."
                .into(),
        );
    }
    let single = runs.len() == 1;
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if !run.seconds.iter().any(|s| s.connections.is_some()) {
            continue;
        }
        let step = step_for(run.seconds.len(), MAX_POINTS);
        let open: Vec<(f64, f64)> = groups(run, step)
            .map(|(t, g)| {
                let last = g.last().and_then(|s| s.connections).map_or(0, |c| c.open);
                (t, last as f64)
            })
            .collect();
        if single {
            lines.extend(single_run_lines(run, step, open));
        } else {
            lines.extend(compared_run_lines(run, i, step, open));
        }
    }
    let mut plot = Plot::new(title, "time since start (s)", "connections");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::Linear);
    let note = "Open: connections open at the end of each second; the dashed lines count \
                connections opened, reopened (after the server closed them) and failed to open \
                per second."
        .to_owned();
    Chart::drawn("connections", title, plot.draw(), note)
}
