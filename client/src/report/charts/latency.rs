//! Latency over time: p50, p99 and max of each second (or group of seconds, for long runs),
//! from the run's digest, on a log scale, the warm-up shaded.

use super::plot::{color, groups, line_label, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::digest::MAX_POINTS;
use crate::report::run::Run;

/// p50, p99 and max latency per second, on a log scale.
pub fn latency_over_time(runs: &[Run]) -> Chart {
    let title = "Latency over time";
    let single = runs.len() == 1;
    let mut lines = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        // The digest has one latency per group of `step` seconds, in order.
        let step = run.digest.step;
        let mut kinds: [Vec<(f64, f64)>; 3] = Default::default();
        for ((t, _), latency) in groups(run, step).zip(&run.digest.latency) {
            if let Some((p50, p99, max)) = *latency {
                for (k, v) in [p50, p99, max].into_iter().enumerate() {
                    kinds[k].push((t, v.max(1.0).log10()));
                }
            }
        }
        for (k, (points, what)) in kinds.into_iter().zip(["p50", "p99", "max"]).enumerate() {
            let (c, stroke) = if single {
                (color(k), Stroke::Solid(2))
            } else {
                let stroke = [Stroke::Dashed(1), Stroke::Solid(2), Stroke::Solid(1)][k];
                (color(i), stroke)
            };
            lines.push(Line::new(line_label(run, what), c, stroke, points));
        }
    }
    if lines.iter().all(|l| l.points.is_empty()) {
        return Chart::missing("latency", title, "no latency was measured".into());
    }
    let mut plot = Plot::new(title, "time since start (s)", "latency (log scale)");
    plot.lines = lines;
    plot.fit(Axis::Linear, Axis::LogMicros);
    plot.shade_warmup(runs);
    let mut note = "Corrected latency of the messages answered each second (the warm-up shaded \
                    grey)."
        .to_owned();
    if runs.iter().any(|r| r.seconds.len() > MAX_POINTS) {
        note += &format!(
            " Long runs are drawn in steps of several seconds (at most {MAX_POINTS} points)."
        );
    }
    Chart::drawn("latency", title, plot.draw(), note)
}
