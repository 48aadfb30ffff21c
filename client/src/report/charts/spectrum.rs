//! The latency percentile spectrum, as HdrHistogram plots it: corrected latency and, in open
//! loop, uncorrected; from the histogram, or from the named percentiles of a version-1 report.

use hdrhistogram::Histogram;

use super::plot::{color, line_label, open_loop, Chart, Line, Plot, Stroke};
use crate::report::axis::Axis;
use crate::report::run::{Figures, Run};

/// The percentile spectrum of histogram `h`: (log10(1/(1-p)), µs) from 0% to the largest
/// value, which sits at 1 - 1/count as HdrHistogram draws it.
pub fn spectrum_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let end = (h.len() as f64).log10().max(0.5);
    let steps = 240;
    let mut points: Vec<(f64, f64)> = (0..steps)
        .map(|i| {
            let x = end * i as f64 / steps as f64;
            (x, h.value_at_quantile(1.0 - 10f64.powf(-x)) as f64)
        })
        .collect();
    points.push((end, h.max() as f64));
    points
}

/// The spectrum of a run without a histogram (version 1): its named percentiles.
fn figure_points(f: &Figures) -> Vec<(f64, f64)> {
    if f.count == 0 {
        return Vec::new();
    }
    let end = (f.count.max(10) as f64).log10();
    let mut points: Vec<(f64, f64)> = f
        .points()
        .into_iter()
        .filter(|&(p, _)| p < 1.0)
        .map(|(p, v)| (-(1.0 - p).log10(), v))
        .filter(|&(x, _)| x < end)
        .collect();
    points.push((end, f.max));
    points
}

/// The spectrum's lines, in µs: each run's corrected latency and, in open loop, uncorrected;
/// and whether some run had no histogram (drawn from its named percentiles).
fn spectrum_lines(runs: &[Run]) -> (Vec<Line>, bool) {
    let mut lines = Vec::new();
    let mut from_figures = false;
    let single = runs.len() == 1;
    for (i, run) in runs.iter().enumerate() {
        let corrected = match &run.hist {
            Some(h) => spectrum_points(h),
            None => {
                from_figures = true;
                figure_points(&run.latency)
            }
        };
        let both =
            open_loop(run) && (run.hist_uncorrected.is_some() || run.latency_uncorrected.is_some());
        let c = if single { color(0) } else { color(i) };
        let what = if both { "corrected" } else { "" };
        lines.push(Line::new(
            line_label(run, what),
            c,
            Stroke::Solid(2),
            corrected,
        ));
        if both {
            let points = match (&run.hist_uncorrected, &run.latency_uncorrected) {
                (Some(h), _) => spectrum_points(h),
                (None, Some(f)) => figure_points(f),
                _ => Vec::new(),
            };
            let c = if single { color(1) } else { color(i) };
            lines.push(Line::new(
                line_label(run, "uncorrected"),
                c,
                Stroke::Dashed(2),
                points,
            ));
        }
    }
    (lines, from_figures)
}

/// The latency percentile spectrum, corrected and (open loop) uncorrected.
pub fn spectrum(runs: &[Run]) -> Chart {
    let title = "Latency by percentile";
    let (mut lines, from_figures) = spectrum_lines(runs);
    if lines.iter().all(|l| l.points.is_empty()) {
        return Chart::missing("spectrum", title, "no latency was measured".into());
    }
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (div, unit) = if max >= 10_000.0 {
        (1000.0, "ms")
    } else {
        (1.0, "µs")
    };
    for l in &mut lines {
        for p in &mut l.points {
            p.1 /= div;
        }
    }
    let mut plot = Plot::new(title, "percentile", &format!("latency ({unit})"));
    plot.lines = lines;
    plot.fit(Axis::Percentile, Axis::Micros);
    let mut note = "x: percentile on a log scale of 1/(1-p), as HdrHistogram plots it; the \
                    line ends at the largest value."
        .to_owned();
    if runs.iter().any(open_loop) {
        note += " Corrected latency counts from each message's scheduled send time, \
                 uncorrected from its actual send."
    }
    if from_figures {
        note += " Runs without histograms (version-1 JSON) are drawn from their named \
                 percentiles only.";
    }
    Chart::drawn("spectrum", title, plot.draw(), note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectrum_ends_at_the_largest_value() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let points = spectrum_points(&h);
        assert_eq!(points.first().unwrap(), &(0.0, 1.0));
        let last = points.last().unwrap();
        assert!((last.0 - 3.0).abs() < 1e-9, "{last:?}");
        assert_eq!(last.1, h.max() as f64);
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
