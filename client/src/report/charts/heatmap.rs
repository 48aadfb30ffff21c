//! The latency heatmap of one run: time by latency band, each cell coloured by the messages
//! answered in it, from the per-second histograms (version 2) digested into columns.

use plotters::style::RGBColor;

use super::plot::{Cell, Chart, Plot};
use crate::report::axis::Axis;
use crate::report::run::Run;
use crate::report::units;

/// Latency rows of a heatmap.
pub const HEATMAP_ROWS: usize = 28;
/// Colours of a heatmap, from few messages to most.
pub const HEAT_LEVELS: usize = 12;

/// The colour of a heatmap cell whose count is `t` (0 to 1, log-scaled) of the largest.
fn heat(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (253, 231, 37),
        (94, 201, 98),
        (33, 145, 140),
        (59, 82, 139),
        (68, 1, 84),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Counts per heatmap cell: the digest's columns, `HEATMAP_ROWS` rows of log10(µs) from `lo`
/// to `hi`.
fn heat_counts(run: &Run, lo: f64, hi: f64) -> Vec<Vec<u64>> {
    let span = (hi - lo).max(1e-9);
    run.digest
        .heat
        .iter()
        .map(|values| {
            let mut column = vec![0u64; HEATMAP_ROWS];
            for &(value, count) in values {
                let y = (value.max(1) as f64).log10();
                let row = (((y - lo) / span) * HEATMAP_ROWS as f64).floor();
                let row = (row.max(0.0) as usize).min(HEATMAP_ROWS - 1);
                column[row] = column[row].saturating_add(count);
            }
            column
        })
        .collect()
}

/// The coloured rectangles of the heatmap of `run`, whose cells hold `counts` (at most `top`)
/// on rows from `lo` to `hi`.
fn heat_cells(run: &Run, counts: &[Vec<u64>], (lo, hi): (f64, f64), top: u64) -> Vec<Cell> {
    let step = run.digest.heat_step;
    let row_h = (hi - lo) / HEATMAP_ROWS as f64;
    let mut cells = Vec::new();
    for (c, column) in counts.iter().enumerate() {
        let x0 = run.seconds[c * step].second as f64;
        let x1 = x0 + step as f64;
        // Colours in HEAT_LEVELS steps; cells of a column with the same colour one above the
        // other are drawn as one rectangle (a bound on the page's size).
        let level = |n: u64| -> usize {
            if n == 0 {
                0
            } else {
                let t = (n as f64).ln_1p() / (top as f64).ln_1p();
                ((t * HEAT_LEVELS as f64).ceil() as usize).clamp(1, HEAT_LEVELS)
            }
        };
        let mut r = 0;
        while r < column.len() {
            let l = level(column[r]);
            let mut end = r + 1;
            while end < column.len() && level(column[end]) == l {
                end += 1;
            }
            if l > 0 {
                let y0 = lo + r as f64 * row_h;
                let y1 = lo + end as f64 * row_h;
                cells.push((x0, x1, y0, y1, heat(l as f64 / HEAT_LEVELS as f64)));
            }
            r = end;
        }
    }
    cells
}

/// A heatmap of one run's latencies: time x latency bucket, colour = messages.
pub fn heatmap(run: &Run, index: usize, several: bool) -> Chart {
    let id = format!("heatmap-{index}");
    let title = if several {
        format!("Latency heatmap: {}", run.name)
    } else {
        "Latency heatmap".to_owned()
    };
    if !run.has_second_hists() {
        return Chart::missing(
            &id,
            &title,
            format!(
                "{}: no per-second histograms in this report (version-1 JSON), so no heatmap; \
                 version-2 reports (`shout bench --json` with per-second `hist`) carry them.",
                run.name
            ),
        );
    }
    let Some((min, max)) = run.digest.range else {
        return Chart::missing(
            &id,
            &title,
            format!("{}: no latency was measured", run.name),
        );
    };
    let (lo, hi) = ((min.max(1) as f64).log10(), (max.max(1) as f64).log10());
    let lo = (((lo - 0.05) * 10.0).floor() / 10.0).max(0.0);
    let hi = (hi + 0.05).max(lo + 0.7);
    let step = run.digest.heat_step;
    let counts = heat_counts(run, lo, hi);
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let end = run.seconds.last().map_or(1.0, |s| s.second as f64 + 1.0);
    let mut plot = Plot::new(&title, "time since start (s)", "latency (log scale)");
    plot.cells = heat_cells(run, &counts, (lo, hi), top);
    plot.x = (0.0, end, Axis::Linear);
    plot.y = (lo, hi, Axis::LogMicros);
    let note = format!(
        "Messages answered per {step}-second column and latency band, colour on a log scale: \
         light yellow = few, dark purple = most ({} in the fullest cell).",
        units::thousands(top as f64)
    );
    Chart::drawn(&id, &title, plot.draw(), note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_runs_light_to_dark() {
        let light = heat(0.0);
        let dark = heat(1.0);
        let sum = |c: RGBColor| c.0 as u32 + c.1 as u32 + c.2 as u32;
        assert!(sum(light) > sum(dark));
        assert_eq!(heat(0.5), RGBColor(33, 145, 140));
    }
}
