//! The report's charts, drawn with `plotters` into SVG text. Each chart overlays every run
//! given (one colour per run, the legend naming it); a single run's chart draws each kind of
//! line in its own colour instead. Series are cut to at most [`MAX_POINTS`] points and the
//! heatmap to [`HEATMAP_COLUMNS`] x [`HEATMAP_ROWS`] cells, so an hour-long run stays small.
//!
//! Text is measured with `ab_glyph` on an embedded DejaVu Sans (Bitstream Vera licence, in
//! `DejaVuSans-LICENSE.txt`), so no system font library is needed; the SVG names the family
//! `sans-serif` and the viewer draws it.

use std::sync::Once;

use hdrhistogram::Histogram;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::axis::{Axis, Ticked};
pub use super::digest::{step_for, HEATMAP_COLUMNS, MAX_POINTS};
use super::run::{Run, Second};
use super::units;

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 900;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 380;
/// Latency rows of a heatmap.
pub const HEATMAP_ROWS: usize = 28;
/// Colours of a heatmap, from few messages to most.
pub const HEAT_LEVELS: usize = 12;

/// The colours of runs (or of the kinds of line in a single run), in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The embedded font text is measured with.
static FONT: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Registers the embedded font with plotters, once.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if the embedded file is not a font; every chart then reports the error.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The colour of run or line number `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One chart of the report: its SVG, or why it could not be drawn.
#[derive(Debug, Clone)]
pub struct Chart {
    /// A short name, the id of its figure in the HTML (`spectrum`, `throughput`, ...).
    pub id: String,
    /// The heading above it.
    pub title: String,
    /// The SVG document, when there was something to draw.
    pub svg: Option<String>,
    /// A line under the chart (what it shows), or why there is no chart.
    pub note: String,
}

impl Chart {
    fn drawn(id: &str, title: &str, svg: Result<String, String>, note: String) -> Chart {
        match svg {
            Ok(svg) => Chart {
                id: id.to_owned(),
                title: title.to_owned(),
                svg: Some(svg),
                note,
            },
            Err(e) => Chart::missing(id, title, format!("could not be drawn: {e}")),
        }
    }

    fn missing(id: &str, title: &str, why: String) -> Chart {
        Chart {
            id: id.to_owned(),
            title: title.to_owned(),
            svg: None,
            note: why,
        }
    }
}

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

/// How a line is drawn.
#[derive(Clone, Copy, PartialEq)]
enum Stroke {
    Solid(u32),
    Dashed(u32),
}

/// One line of a chart, with markers at its points if `markers` is set (filled where true).
struct Line {
    label: String,
    color: RGBColor,
    stroke: Stroke,
    points: Vec<(f64, f64)>,
    markers: Option<Vec<bool>>,
}

impl Line {
    fn new(label: String, color: RGBColor, stroke: Stroke, points: Vec<(f64, f64)>) -> Line {
        Line {
            label,
            color,
            stroke,
            points,
            markers: None,
        }
    }
}

/// A per-second count of a series entry.
type Count = fn(&Second) -> u64;

/// A rectangle of a heatmap: x0, x1, y0, y1 and its colour.
type Cell = (f64, f64, f64, f64, RGBColor);

/// Everything one chart draws.
struct Plot {
    title: String,
    x_desc: String,
    y_desc: String,
    x: (f64, f64, Axis),
    y: (f64, f64, Axis),
    lines: Vec<Line>,
    cells: Vec<Cell>,
}

impl Plot {
    fn new(title: &str, x_desc: &str, y_desc: &str) -> Plot {
        Plot {
            title: title.to_owned(),
            x_desc: x_desc.to_owned(),
            y_desc: y_desc.to_owned(),
            x: (0.0, 1.0, Axis::Linear),
            y: (0.0, 1.0, Axis::Linear),
            lines: Vec::new(),
            cells: Vec::new(),
        }
    }

    /// Ranges that hold every point, from zero on linear axes, with room above.
    fn fit(&mut self, x: Axis, y: Axis) {
        // Points that are not numbers (only in hostile files) are left out of the ranges.
        let points = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(px, py) in points {
            x0 = x0.min(px);
            x1 = x1.max(px);
            y0 = y0.min(py);
            y1 = y1.max(py);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let (x0, x1) = match x {
            Axis::Percentile => (0.0, x1.ceil().max(2.0)),
            _ => (x0.min(0.0), if x1 > x0.min(0.0) { x1 } else { x0 + 1.0 }),
        };
        let (y0, y1) = match y {
            Axis::LogMicros => {
                let lo = (((y0 - 0.05) * 10.0).floor() / 10.0).max(0.0);
                (lo, (y1 + 0.1).max(lo + 0.7))
            }
            _ => (0.0, if y1 > 0.0 { y1 * 1.1 } else { 1.0 }),
        };
        self.x = (x0, x1, x);
        self.y = (y0, y1, y);
    }

    /// Shades the warm-up (the longest of `runs`', from the start) in light grey, under the
    /// lines.
    fn shade_warmup(&mut self, runs: &[Run]) {
        let warmup = runs
            .iter()
            .filter_map(|r| r.doc["config"]["warmup_s"].as_f64())
            .fold(0.0, f64::max)
            .min(self.x.1);
        if warmup > 0.0 {
            let grey = RGBColor(236, 236, 236);
            self.cells
                .push((self.x.0, warmup, self.y.0, self.y.1, grey));
        }
    }

    /// The SVG of the chart.
    fn draw(&self) -> Result<String, String> {
        register_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 22))
                .margin(10)
                .margin_right(24)
                .x_label_area_size(50)
                .y_label_area_size(84)
                .build_cartesian_2d(
                    Ticked::new(self.x.0, self.x.1, self.x.2),
                    Ticked::new(self.y.0, self.y.1, self.y.2),
                )
                .map_err(|e| e.to_string())?;
            let (xa, ya) = (self.x.2, self.y.2);
            let x_fmt = move |v: &f64| xa.label(*v);
            let y_fmt = move |v: &f64| ya.label(*v);
            chart
                .configure_mesh()
                .x_desc(&self.x_desc)
                .y_desc(&self.y_desc)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .light_line_style(RGBColor(238, 238, 238))
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 16))
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    self.cells.iter().map(|&(x0, x1, y0, y1, c)| {
                        Rectangle::new([(x0, y0), (x1, y1)], c.filled())
                    }),
                )
                .map_err(|e| e.to_string())?;
            for line in &self.lines {
                let (width, dashed) = match line.stroke {
                    Stroke::Solid(w) => (w, false),
                    Stroke::Dashed(w) => (w, true),
                };
                let style = line.color.stroke_width(width);
                let points = line.points.clone();
                let anno = if dashed {
                    chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
                } else {
                    chart.draw_series(LineSeries::new(points, style))
                }
                .map_err(|e| e.to_string())?;
                if !line.label.is_empty() {
                    anno.label(line.label.clone());
                    if dashed {
                        anno.legend(move |(x, y)| {
                            DashedPathElement::new(vec![(x, y), (x + 22, y)], 5, 3, style)
                        });
                    } else {
                        anno.legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 22, y)], style)
                        });
                    }
                }
                if line.points.len() == 1 && line.markers.is_none() {
                    // One point draws no line: mark it.
                    chart
                        .draw_series(
                            line.points
                                .iter()
                                .map(|&p| Circle::new(p, 4, style.filled())),
                        )
                        .map_err(|e| e.to_string())?;
                }
                if let Some(filled) = &line.markers {
                    let color = line.color;
                    chart
                        .draw_series(line.points.iter().zip(filled).map(|(&p, &full)| {
                            let style = if full {
                                color.filled()
                            } else {
                                color.stroke_width(2)
                            };
                            Circle::new(p, 4, style)
                        }))
                        .map_err(|e| e.to_string())?;
                }
            }
            if self.lines.iter().any(|l| !l.label.is_empty()) {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(160, 160, 160))
                    .label_font(("sans-serif", 15))
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
            root.present().map_err(|e| e.to_string())?;
        }
        // Opacity 1 is SVG's default: plotters writes it on every element.
        Ok(svg.replace(" opacity=\"1\"", ""))
    }
}

/// The seconds of `run` in groups of `step`, each with the second it starts at.
fn groups(run: &Run, step: usize) -> impl Iterator<Item = (f64, &[Second])> {
    run.seconds
        .chunks(step)
        .map(|c| (c.first().map_or(0.0, |s| s.second as f64), c))
}

/// The sum of `f` over a group, per second.
fn per_second(group: &[Second], f: impl Fn(&Second) -> u64) -> f64 {
    // As floats: counts from a file may be anything up to u64::MAX, and must not overflow.
    group.iter().map(|s| f(s) as f64).sum::<f64>() / group.len().max(1) as f64
}

/// The name a run's line goes by: the run's name, with `what` if the chart draws several
/// lines per run.
fn line_label(run: &Run, what: &str) -> String {
    if what.is_empty() {
        run.name.clone()
    } else {
        format!("{} {what}", run.name)
    }
}

/// Whether `run` was open loop (so an uncorrected latency differs from the corrected one).
fn open_loop(run: &Run) -> bool {
    !run.doc["open_loop"].is_null()
        || !run.doc["rate_profile"].is_null()
        || run.target_rate().is_some()
}

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
fn figure_points(f: &super::run::Figures) -> Vec<(f64, f64)> {
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

/// The latency percentile spectrum, corrected and (open loop) uncorrected.
pub fn spectrum(runs: &[Run]) -> Chart {
    let title = "Latency by percentile";
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
        if let Some(targets) = targets(run) {
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
    let end = run.seconds.last().map_or(1.0, |s| s.second as f64 + 1.0);
    let mut plot = Plot::new(&title, "time since start (s)", "latency (log scale)");
    plot.cells = cells;
    plot.x = (0.0, end, Axis::Linear);
    plot.y = (lo, hi, Axis::LogMicros);
    let note = format!(
        "Messages answered per {step}-second column and latency band, colour on a log scale: \
         light yellow = few, dark purple = most ({} in the fullest cell).",
        units::thousands(top as f64)
    );
    Chart::drawn(&id, &title, plot.draw(), note)
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
            let series: [(&str, Count); 3] = [
                ("opened/s", |s| s.connections.map_or(0, |c| c.opened)),
                ("reopened/s", |s| s.connections.map_or(0, |c| c.reopened)),
                ("failed/s", |s| s.kinds.map_or(0, |k| k.connect_failures)),
            ];
            lines.push(Line::new("open".into(), color(0), Stroke::Solid(2), open));
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
        } else {
            lines.push(Line::new(
                line_label(run, "open"),
                color(i),
                Stroke::Solid(2),
                open,
            ));
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
            lines.push(Line::new(
                line_label(run, "(re)opened/s"),
                color(i),
                Stroke::Dashed(1),
                points,
            ));
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

    #[test]
    fn heat_runs_light_to_dark() {
        let light = heat(0.0);
        let dark = heat(1.0);
        let sum = |c: RGBColor| c.0 as u32 + c.1 as u32 + c.2 as u32;
        assert!(sum(light) > sum(dark));
        assert_eq!(heat(0.5), RGBColor(33, 145, 140));
    }
}
