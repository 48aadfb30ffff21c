//! What every chart shares: the [`Chart`] it becomes, the palette, and the [`Plot`] (lines and
//! shaded cells on two [`Axis`]) drawn with `plotters` into SVG, with the embedded font; and
//! the helpers that turn a run's seconds into points.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::axis::{Axis, Ticked};
use crate::report::run::{Run, Second};

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 900;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 380;

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
static FONT: &[u8] = include_bytes!("../DejaVuSans.ttf");

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
    /// The chart of `svg`, or the reason it could not be drawn in its place.
    pub(super) fn drawn(id: &str, title: &str, svg: Result<String, String>, note: String) -> Chart {
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

    /// No chart, and `why`.
    pub(super) fn missing(id: &str, title: &str, why: String) -> Chart {
        Chart {
            id: id.to_owned(),
            title: title.to_owned(),
            svg: None,
            note: why,
        }
    }
}

/// How a line is drawn.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Stroke {
    /// A solid line this many pixels wide.
    Solid(u32),
    /// A dashed line this many pixels wide.
    Dashed(u32),
}

/// One line of a chart, with markers at its points if `markers` is set (filled where true).
pub(super) struct Line {
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) stroke: Stroke,
    pub(super) points: Vec<(f64, f64)>,
    pub(super) markers: Option<Vec<bool>>,
}

impl Line {
    /// A line without markers.
    pub(super) fn new(
        label: String,
        color: RGBColor,
        stroke: Stroke,
        points: Vec<(f64, f64)>,
    ) -> Line {
        Line {
            label,
            color,
            stroke,
            points,
            markers: None,
        }
    }
}

/// A rectangle of a heatmap: x0, x1, y0, y1 and its colour.
pub(super) type Cell = (f64, f64, f64, f64, RGBColor);

/// Everything one chart draws.
pub(super) struct Plot {
    title: String,
    x_desc: String,
    y_desc: String,
    pub(super) x: (f64, f64, Axis),
    pub(super) y: (f64, f64, Axis),
    pub(super) lines: Vec<Line>,
    pub(super) cells: Vec<Cell>,
}

/// The chart area a [`Plot`] draws in: both axes [`Ticked`].
type Frame<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

impl Plot {
    /// An empty plot with its title and axis titles.
    pub(super) fn new(title: &str, x_desc: &str, y_desc: &str) -> Plot {
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
    pub(super) fn fit(&mut self, x: Axis, y: Axis) {
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
    pub(super) fn shade_warmup(&mut self, runs: &[Run]) {
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
    pub(super) fn draw(&self) -> Result<String, String> {
        register_font();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| e.to_string())?;
            let mut chart = self.frame(&root)?;
            chart
                .draw_series(
                    self.cells.iter().map(|&(x0, x1, y0, y1, c)| {
                        Rectangle::new([(x0, y0), (x1, y1)], c.filled())
                    }),
                )
                .map_err(|e| e.to_string())?;
            for line in &self.lines {
                draw_line(&mut chart, line)?;
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

    /// The chart's frame on `root`: its caption, both axes with their ticks and titles, the
    /// grid.
    fn frame<'a, 'b>(
        &self,
        root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    ) -> Result<Frame<'a, 'b>, String> {
        let mut chart = ChartBuilder::on(root)
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
        Ok(chart)
    }
}

/// Draws `line` on `chart`: the line, its legend entry if it has a label, and its markers (or
/// a dot, for a line of one point).
fn draw_line(chart: &mut Frame<'_, '_>, line: &Line) -> Result<(), String> {
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
            anno.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style));
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
    Ok(())
}

/// The seconds of `run` in groups of `step`, each with the second it starts at.
pub(super) fn groups(run: &Run, step: usize) -> impl Iterator<Item = (f64, &[Second])> {
    run.seconds
        .chunks(step)
        .map(|c| (c.first().map_or(0.0, |s| s.second as f64), c))
}

/// The sum of `f` over a group, per second.
pub(super) fn per_second(group: &[Second], f: impl Fn(&Second) -> u64) -> f64 {
    // As floats: counts from a file may be anything up to u64::MAX, and must not overflow.
    group.iter().map(|s| f(s) as f64).sum::<f64>() / group.len().max(1) as f64
}

/// The name a run's line goes by: the run's name, with `what` if the chart draws several
/// lines per run.
pub(super) fn line_label(run: &Run, what: &str) -> String {
    if what.is_empty() {
        run.name.clone()
    } else {
        format!("{} {what}", run.name)
    }
}

/// Whether `run` was open loop (so an uncorrected latency differs from the corrected one).
pub(super) fn open_loop(run: &Run) -> bool {
    !run.doc["open_loop"].is_null()
        || !run.doc["rate_profile"].is_null()
        || run.target_rate().is_some()
}
