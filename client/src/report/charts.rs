//! The report's charts, drawn with `plotters` into SVG text. Each chart overlays every run
//! given (one colour per run, the legend naming it); a single run's chart draws each kind of
//! line in its own colour instead. Series are cut to at most [`MAX_POINTS`] points and the
//! heatmap to [`HEATMAP_COLUMNS`] x [`HEATMAP_ROWS`] cells, so an hour-long run stays small.
//!
//! Text is measured with `ab_glyph` on an embedded DejaVu Sans (Bitstream Vera licence, in
//! `DejaVuSans-LICENSE.txt`), so no system font library is needed; the SVG names the family
//! `sans-serif` and the viewer draws it.
//!
//! One module per chart (`spectrum`, `throughput`, `latency`, `heatmap`, `errors`,
//! `connections`, `find_max`); what they share (the [`Chart`], the palette, the drawing of
//! lines and cells into SVG) in `plot`, the axes' ranges and ticks in [`super::axis`].

mod connections;
mod errors;
mod find_max;
mod heatmap;
mod latency;
mod plot;
mod spectrum;
mod throughput;

pub use connections::connections;
pub use errors::errors;
pub use find_max::{find_max_latency, find_max_rate};
pub use heatmap::{heatmap, HEATMAP_ROWS, HEAT_LEVELS};
pub use latency::latency_over_time;
pub use plot::{color, Chart, HEIGHT, PALETTE, WIDTH};
pub use spectrum::{spectrum, spectrum_points};
pub use throughput::throughput;

pub use super::digest::{step_for, HEATMAP_COLUMNS, MAX_POINTS};
use super::run::Run;

/// Every chart of the report of `runs`.
pub fn all(runs: &[Run]) -> Vec<Chart> {
    let mut charts = vec![spectrum(runs), throughput(runs), latency_over_time(runs)];
    for (i, run) in runs.iter().enumerate() {
        charts.push(heatmap(run, i, runs.len() > 1));
    }
    charts.push(errors(runs));
    charts.push(connections(runs));
    if runs.iter().any(|r| r.find_max.is_some()) {
        charts.push(find_max_rate(runs));
        charts.push(find_max_latency(runs));
    }
    charts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with hostile numbers (find-max targets of -1e16 and 1e300, seconds and counts
    /// at u64::MAX, latencies of 1.7e308) draws every chart, in bounded time and size.
    #[test]
    fn hostile_numbers_draw_every_chart() {
        let second = |i: u64| {
            serde_json::json!({"second": i, "sent": u64::MAX, "answered": u64::MAX,
                "errors": u64::MAX, "p50_us": 1.7e308, "p99_us": 1.7e308, "max_us": 1.7e308,
                "target_msgs_per_s": -1e16, "timeouts": u64::MAX, "opened": u64::MAX,
                "reopened": u64::MAX, "open_connections": u64::MAX})
        };
        let step = |target: f64, achieved: f64, p99: f64| {
            serde_json::json!({"target_msgs_per_s": target, "achieved_msgs_per_s": achieved,
                               "p50_us": p99, "p99_us": p99, "met": true})
        };
        let doc = serde_json::json!({
            "latency_us": {"count": u64::MAX, "p50": 1.7e308, "max": 1.7e308},
            "config": {"rate": 1e308, "warmup_s": 1e300},
            "elapsed_s": -1e16,
            "series": (0..1300).map(|i| second(if i == 5 { u64::MAX } else { i })).collect::<Vec<_>>(),
            "find_max": {"slo": {"p99_us": 1.0}, "steps": [
                step(-1e16, 0.0, 20.0), step(1e300, -1e300, 1.7e308), step(-1e16, 1e16, 0.0)]},
        });
        let run = Run::from_json(doc, "hostile").unwrap();
        let charts = crate::report::within(move || all(&[run]));
        for id in [
            "throughput",
            "latency",
            "errors",
            "connections",
            "find-max-rate",
            "find-max-latency",
        ] {
            let chart = charts.iter().find(|c| c.id == id).unwrap();
            let svg = chart
                .svg
                .as_ref()
                .unwrap_or_else(|| panic!("{id}: {}", chart.note));
            assert!(svg.len() < 1 << 20, "{id}: {} bytes", svg.len());
        }
    }

    #[test]
    fn steps_bound_the_points() {
        assert_eq!(step_for(10, 600), 1);
        assert_eq!(step_for(600, 600), 1);
        assert_eq!(step_for(601, 600), 2);
        assert_eq!(step_for(3600, 600), 6);
        assert_eq!(step_for(3600, HEATMAP_COLUMNS), 30);
    }
}
