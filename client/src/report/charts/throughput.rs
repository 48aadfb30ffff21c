//! Throughput over time: the messages answered each second and, in open loop, the target rate
//! the schedule followed, the warm-up shaded.

use super::plot::{color, groups, line_label, per_second, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::digest::{step_for, MAX_POINTS};
use crate::report::run::Run;

/// The target rate of each second of `run`: the series' `target_msgs_per_s`, else the
/// configured rate.
fn targets(run: &Run) -> Option<Vec<Option<f64>>> {
    if run.seconds.iter().any(|s| s.target_msgs_per_s.is_some()) {
        Some(run.seconds.iter().map(|s| s.target_msgs_per_s).collect())
    } else {
        run.target_rate()
            .map(|r| run.seconds.iter().map(|_| Some(r)).collect())
    }
}

/// The target rate of `run` in groups of `step` seconds (the mean of the group's seconds that
/// have one), if it had a target.
fn target_points(run: &Run, step: usize) -> Option<Vec<(f64, f64)>> {
    let targets = targets(run)?;
    // The last, partial second's target is not a rate either.
    let targets: Vec<Option<f64>> = targets
        .iter()
        .zip(&run.seconds)
        .map(|(t, s)| if run.is_partial(s) { None } else { *t })
        .collect();
    let points = targets
        .chunks(step)
        .enumerate()
        .filter_map(|(k, c)| {
            let v: Vec<f64> = c.iter().flatten().copied().collect();
            (!v.is_empty()).then(|| {
                let t = run.seconds[k * step].second as f64;
                (t, v.iter().sum::<f64>() / v.len() as f64)
            })
        })
        .collect();
    Some(points)
}

/// Answered messages per second, with the target rate in open loop.
pub fn throughput(runs: &[Run]) -> Chart {
    let title = "Throughput over time";
    let single = runs.len() == 1;
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let step = step_for(run.seconds.len(), MAX_POINTS);
        let mut points: Vec<(f64, f64)> = groups(run, step)
            .filter(|(_, g)| !g.iter().all(|s| run.is_partial(s)))
            .map(|(t, g)| (t, per_second(g, |s| s.answered)))
            .collect();
        if points.is_empty() {
            // A run shorter than a second: its one partial second is all there is.
            points = groups(run, step)
                .map(|(t, g)| (t, per_second(g, |s| s.answered)))
                .collect();
        }
        let c = color(i);
        lines.push(Line::new(
            line_label(run, if single { "answered/s" } else { "" }),
            c,
            Stroke::Solid(2),
            points,
        ));
        if let Some(points) = target_points(run, step) {
            let tc = if single { color(1) } else { c };
            lines.push(Line::new(
                line_label(run, "target"),
                tc,
                Stroke::Dashed(1),
                points,
            ));
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return Chart::missing(
            "throughput",
            title,
            "the report has no per-second series".into(),
        );
    }
    let mut plot = Plot::new(title, "time since start (s)", "answered messages/s");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::Linear);
    plot.shade_warmup(runs);
    let note = "Answers received each second, the warm-up (shaded grey) included; the dashed \
                line is the scheduled (target) rate in open loop."
        .to_owned();
    Chart::drawn("throughput", title, plot.draw(), note)
}
