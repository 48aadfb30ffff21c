//! Drawing the dashboard from its [`State`]: which panels fit the terminal ([`layout`]), and
//! each panel (progress gauge, throughput against the target, latency on a log scale, errors,
//! connections). Small terminals drop panels, most dispensable first, rather than squeeze them.

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, Gauge, GraphType, Paragraph};
use ratatui::Frame;

use super::distribution::distribution;
use super::model::{count, latency_label, secs, Point, State};
use super::search::search;

/// Rows of the gauge, borders included.
const GAUGE_ROWS: u16 = 3;
/// Rows of the errors and connections panels, borders included.
const BOTTOM_ROWS: u16 = 8;
/// The fewest rows a chart is drawn in, borders included.
const CHART_ROWS: u16 = 6;
/// The narrowest the errors and connections panels side by side are drawn.
const BOTTOM_COLS: u16 = 40;
/// From this width on the two charts sit side by side.
const WIDE_COLS: u16 = 100;
/// Below this size only a line saying so is drawn.
const MIN_SIZE: (u16, u16) = (20, GAUGE_ROWS);

/// A panel of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Phase, elapsed, remaining, ETA.
    Gauge,
    /// Answered messages per second, with the target rate.
    Throughput,
    /// p50, p99 and max per second, log scale; with `--find-max`, the search instead (the
    /// step under way and the curve so far).
    Latency,
    /// Errors by kind and reason.
    Errors,
    /// Connections open, opened, reopened, failed.
    Connections,
    /// The percentiles and histogram of the latencies so far.
    Distribution,
    /// The terminal is too small for anything else.
    TooSmall,
}

/// The panels that fit in `area`, and where. Dropped first: the latency chart, then the
/// errors and connections, then the throughput chart; the gauge stays down to three rows.
pub fn layout(area: Rect) -> Vec<(Panel, Rect)> {
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        return vec![(Panel::TooSmall, area)];
    }
    let [gauge, rest] =
        Layout::vertical([Constraint::Length(GAUGE_ROWS), Constraint::Fill(1)]).areas(area);
    let mut panels = vec![(Panel::Gauge, gauge)];
    let bottom = rest.height >= BOTTOM_ROWS + CHART_ROWS && rest.width >= BOTTOM_COLS;
    let charts = if bottom {
        let [charts, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(BOTTOM_ROWS)]).areas(rest);
        if bottom.width >= WIDE_COLS {
            let [errors, conns, dist] = Layout::horizontal([
                Constraint::Percentage(38),
                Constraint::Percentage(24),
                Constraint::Percentage(38),
            ])
            .areas(bottom);
            panels.push((Panel::Errors, errors));
            panels.push((Panel::Connections, conns));
            panels.push((Panel::Distribution, dist));
        } else {
            let [errors, conns] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(bottom);
            panels.push((Panel::Errors, errors));
            panels.push((Panel::Connections, conns));
        }
        charts
    } else {
        rest
    };
    // The latency chart only once the errors have their place (or cannot have one).
    let latency = bottom || rest.width < BOTTOM_COLS;
    if latency && charts.height >= CHART_ROWS && charts.width >= WIDE_COLS {
        let [a, b] = Layout::horizontal([Constraint::Fill(1); 2]).areas(charts);
        panels.push((Panel::Throughput, a));
        panels.push((Panel::Latency, b));
    } else if latency && charts.height >= 2 * CHART_ROWS {
        let [a, b] = Layout::vertical([Constraint::Fill(1); 2]).areas(charts);
        panels.push((Panel::Throughput, a));
        panels.push((Panel::Latency, b));
    } else if charts.height >= CHART_ROWS {
        panels.push((Panel::Throughput, charts));
    }
    panels
}

/// Draws the whole dashboard for `state`, `elapsed` after the run's start.
pub fn draw(frame: &mut Frame, state: &State, elapsed: Duration) {
    for (panel, area) in layout(frame.area()) {
        match panel {
            Panel::Gauge => gauge(frame, area, state, elapsed),
            Panel::Throughput => throughput(frame, area, state, elapsed),
            Panel::Latency if state.info.find_max => search(frame, area, state, elapsed),
            Panel::Latency => latency(frame, area, state),
            Panel::Errors => errors(frame, area, state),
            Panel::Connections => connections(frame, area, state),
            Panel::Distribution => distribution(frame, area, state),
            Panel::TooSmall => frame.render_widget(
                Paragraph::new("shout bench: terminal too small (q stops)"),
                area,
            ),
        }
    }
}

fn gauge(frame: &mut Frame, area: Rect, state: &State, elapsed: Duration) {
    let (left, eta) = state.remaining(elapsed);
    let mut label = format!(
        "{}  {}  {left}",
        state.phase(elapsed).label(),
        secs(elapsed)
    );
    if let Some(eta) = eta {
        label += &format!("  ETA {}", secs(eta));
    }
    let title = Line::from(vec![
        Span::raw(" shout bench "),
        Span::raw(format!("errors {} ", state.errors())),
    ]);
    let g = Gauge::default()
        .block(
            Block::bordered()
                .title(title)
                .title_bottom(Line::from(" q, Esc, Ctrl-C: stop early ").right_aligned()),
        )
        .gauge_style(Style::default().fg(Color::Cyan).bg(Color::Black))
        .ratio(state.ratio(elapsed))
        .label(label);
    frame.render_widget(g, area);
}

fn throughput(frame: &mut Frame, area: Rect, state: &State, elapsed: Duration) {
    let done: Vec<(f64, f64)> = state
        .points
        .iter()
        .map(|p| (p.second as f64, p.completed as f64))
        .collect();
    let first = state.points.front().map_or(0, |p| p.second) as usize;
    let target: Vec<(f64, f64)> = state
        .info
        .target
        .iter()
        .enumerate()
        .skip(first)
        .map(|(s, &r)| (s as f64, r))
        .collect();
    let end = state
        .info
        .total_time()
        .unwrap_or(elapsed)
        .as_secs_f64()
        .max(elapsed.as_secs_f64())
        .max(1.0);
    let top = done.iter().chain(&target).map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let now = state.points.back().map_or(0, |p| p.completed);
    // The title is the legend: each figure in its line's colour.
    let mut title = vec![
        Span::raw(" throughput: "),
        Span::raw(format!("{} msgs/s", count(now as f64))).fg(Color::Green),
    ];
    let mut sets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::default().fg(Color::Green))
        .data(&done)];
    if !target.is_empty() {
        // The target of the last second drawn (the window may start after second 0).
        let last = state.points.back().map_or(0, |p| p.second) as usize;
        let rate = count(state.info.target[last.min(state.info.target.len() - 1)]);
        title.push(Span::raw(", "));
        title.push(Span::raw(format!("target {rate}")).fg(Color::DarkGray));
        sets.insert(
            0,
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(Color::DarkGray))
                .data(&target),
        );
    }
    let x0 = first as f64;
    let chart = Chart::new(sets)
        .block(Block::bordered().title(Line::from(title) + Span::raw(" ")))
        .x_axis(Axis::default().bounds([x0, end]).labels([
            secs(Duration::from_secs_f64(x0)),
            secs(Duration::from_secs_f64(end)),
        ]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), count(top)]),
        );
    frame.render_widget(chart, area);
}

/// The latency series drawn: name, colour and the figure of a second, µs.
type Series = (&'static str, Color, fn(&Point) -> u64);

fn latency(frame: &mut Frame, area: Rect, state: &State) {
    let mut series: Vec<Series> = vec![
        ("p50", Color::Green, |p| p.latency.p50),
        ("p99", Color::Yellow, |p| p.latency.p99),
        ("max", Color::Red, |p| p.latency.max),
    ];
    if state.info.open_loop {
        series.push(("p99 uncorrected", Color::Cyan, |p| p.uncorrected.p99));
    }
    let data: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, _, f)| {
            state
                .points
                .iter()
                .filter(|p| p.latency.count > 0)
                .map(|p| (p.second as f64, (f(p).max(1) as f64).log10()))
                .collect()
        })
        .collect();
    let (lo, hi) = data
        .iter()
        .flatten()
        .fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let (lo, hi) = if lo > hi {
        (1.0, 4.0)
    } else {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    };
    let x0 = state.points.front().map_or(0, |p| p.second) as f64;
    let x1 = state.points.back().map_or(1, |p| p.second).max(1) as f64;
    let sets = series
        .iter()
        .zip(&data)
        .map(|((_, color, _), d)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(*color))
                .data(d)
        })
        .collect();
    // The title is the legend: the run's figures so far in their lines' colours (the last
    // second's for the uncorrected p99).
    let s = &state.last.latency;
    let mut title = vec![Span::raw(" latency (log):")];
    for (i, &(name, color, f)) in series.iter().enumerate() {
        let us = match i {
            0 => s.p50,
            1 => s.p99,
            2 => s.max,
            _ => state.points.back().map_or(0, f),
        };
        title.push(Span::raw(format!(" {name} {}", latency_label(us as f64))).fg(color));
    }
    title.push(Span::raw(" "));
    let labels: Vec<String> = (lo as i32..=hi as i32)
        .map(|k| latency_label(10f64.powi(k)))
        .collect();
    let chart = Chart::new(sets)
        .block(Block::bordered().title(Line::from(title)))
        .x_axis(Axis::default().bounds([x0, x1]))
        .y_axis(Axis::default().bounds([lo, hi]).labels(labels));
    frame.render_widget(chart, area);
}

/// `name  value` lines, the value right-aligned.
fn rows(items: &[(String, u64)], width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.saturating_sub(2));
    items
        .iter()
        .map(|(name, n)| {
            let n = n.to_string();
            let pad = width.saturating_sub(name.chars().count() + n.len()).max(1);
            Line::from(format!("{name}{}{n}", " ".repeat(pad)))
        })
        .collect()
}

fn errors(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.last.total;
    let mut items = vec![
        ("mismatches".to_string(), t.mismatches),
        (format!("timeouts (late {})", t.late), t.timeouts),
        ("short answers".to_string(), t.short),
        (
            if state.info.reconnect {
                "closed in use (healed)".to_string()
            } else {
                "closed in use".to_string()
            },
            t.conn_errors,
        ),
    ];
    let reasons = state.last.closed.iter().chain(&state.last.connect_failures);
    items.extend(reasons.map(|(label, n)| (format!(" {label}"), *n)));
    let title = format!(" errors: {} ", state.errors());
    let style = if state.errors() > 0 {
        Style::default().red()
    } else {
        Style::default()
    };
    let p =
        Paragraph::new(rows(&items, area.width)).block(Block::bordered().title(title).style(style));
    frame.render_widget(p, area);
}

fn connections(frame: &mut Frame, area: Rect, state: &State) {
    let t = &state.last.total;
    let items = vec![
        (
            format!("open (of {})", state.info.connections),
            state.last.open,
        ),
        ("opened".to_string(), t.opened),
        ("reopened".to_string(), t.reopened),
        ("failed".to_string(), t.connect_failures),
    ];
    let p =
        Paragraph::new(rows(&items, area.width)).block(Block::bordered().title(" connections "));
    frame.render_widget(p, area);
}

/// The screen `state` draws on a `w` x `h` terminal `elapsed` into the run, as text: one
/// line per row.
#[cfg(test)]
pub(super) fn render_text(state: &State, w: u16, h: u16, elapsed: Duration) -> String {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
    terminal.draw(|f| draw(f, state, elapsed)).expect("drawn");
    let buf = terminal.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::model::{Info, Snapshot};
    use super::*;
    use crate::bench::args::BenchArgs;
    use crate::bench::series::{Counts, Summary};

    fn state(opts: &[&str]) -> State {
        let a = BenchArgs::try_parse_from(opts).expect("valid options");
        let profile = a.rate_profile().expect("a valid profile");
        State::new(Info::new(&a, profile.as_ref()))
    }

    /// Five seconds of a run at 1000 msgs/s with latencies, two timeouts and a refused
    /// connection.
    fn running() -> State {
        let mut s = state(&["-c", "10", "-d", "30s", "--rate", "1000"]);
        let lat = |us| Summary {
            count: 1000,
            p50: us,
            p99: us * 10,
            max: us * 100,
            ..Summary::default()
        };
        s.apply(Snapshot {
            points: (0..5)
                .map(|i| Point {
                    second: i,
                    completed: 1000,
                    scheduled: 1000,
                    latency: lat(100 + i),
                    uncorrected: lat(90),
                })
                .collect(),
            total: Counts {
                completed: 5000,
                opened: 10,
                timeouts: 2,
                connect_failures: 1,
                ..Counts::default()
            },
            open: 9,
            latency: lat(123),
            connect_failures: vec![("connection refused".into(), 1)],
            closed: Vec::new(),
            histogram: vec![
                (128, 10),
                (256, 400),
                (512, 4000),
                (1024, 500),
                (2048, 0),
                (4096, 90),
            ],
            find_max: None,
        });
        s
    }

    fn render(state: &State, w: u16, h: u16) -> String {
        render_text(state, w, h, Duration::from_secs(5))
    }

    fn names(panels: &[(Panel, Rect)]) -> Vec<Panel> {
        panels.iter().map(|p| p.0).collect()
    }

    /// Panels are dropped as the terminal shrinks, and none leaves the screen.
    #[test]
    fn panels_fit_the_terminal() {
        use Panel::*;
        let all = vec![Gauge, Errors, Connections, Throughput, Latency];
        let wide = vec![
            Gauge,
            Errors,
            Connections,
            Distribution,
            Throughput,
            Latency,
        ];
        for (w, h, want) in [
            (120, 40, wide.clone()),
            (100, 17, wide),
            (99, 17, vec![Gauge, Errors, Connections, Throughput]),
            (80, 24, all),
            (80, 22, vec![Gauge, Errors, Connections, Throughput]),
            (80, 16, vec![Gauge, Throughput]),
            (40, 12, vec![Gauge, Throughput]),
            (40, 6, vec![Gauge]),
            (10, 2, vec![TooSmall]),
        ] {
            let area = Rect::new(0, 0, w, h);
            let panels = layout(area);
            assert_eq!(names(&panels), want, "{w}x{h}");
            for (p, r) in &panels {
                assert!(
                    area.contains(r.as_position()) && r.right() <= w && r.bottom() <= h,
                    "{p:?} {r:?} in {w}x{h}"
                );
            }
        }
    }

    /// At 80x24 every panel is drawn with the snapshot's figures.
    #[test]
    fn full_dashboard_80x24() {
        let screen = render(&running(), 80, 24);
        for want in [
            "shout bench",
            "measuring",
            "25s left",
            "ETA 25s",
            "throughput: 1000 msgs/s, target 1000",
            "latency (log): p50 123µs p99 1.2ms max 12.3ms",
            "errors: 2",
            "timeouts (late 0)",
            "connection refused",
            "open (of 10)",
            "q, Esc, Ctrl-C: stop early",
        ] {
            assert!(screen.contains(want), "{want:?} missing from\n{screen}");
        }
        let row = |name: &str| {
            screen
                .lines()
                .find(|l| l.contains(name))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        assert!(row("open (of 10)").contains("open (of 10) 9"), "{screen}");
        assert!(
            row("connection refused").contains("connection refused 1"),
            "{screen}"
        );
    }

    /// At 40x12 the gauge and the throughput chart are drawn, whole.
    #[test]
    fn small_dashboard_40x12() {
        let screen = render(&running(), 40, 12);
        assert!(screen.contains("measuring"), "{screen}");
        assert!(screen.contains("throughput: 1000"), "{screen}");
        assert!(!screen.contains("errors:"), "{screen}");
        let tiny = render(&running(), 12, 2);
        assert!(tiny.starts_with("shout bench:"), "{tiny}");
    }

    /// The latency axis is logarithmic: one label per decade between the lowest and highest
    /// value drawn.
    #[test]
    fn latency_axis_in_decades() {
        let screen = render(&running(), 120, 40);
        for label in ["100µs", "1.0ms", "10.0ms", "100.0ms"] {
            assert!(screen.contains(label), "{label} missing from\n{screen}");
        }
    }

    /// At 120 columns the distribution panel shows the run's percentiles and one bar per
    /// doubling, the tallest where most latencies are.
    #[test]
    fn distribution_panel() {
        let screen = render(&running(), 120, 40);
        let find = |s: &str| screen.lines().find(|l| l.contains(s)).unwrap_or_default();
        for row in ["p50       123µs", "p99       1.2ms", "max      12.3ms"] {
            assert!(screen.contains(row), "{row} missing:\n{screen}");
        }
        assert!(find("latency distribution").contains("latency distribution"));
        assert!(screen.contains("64µs..4.1ms"), "{screen}");
        // The bars: the third (4000) reaches the top row of the panel, the others not; on a
        // log scale the 90 of the sixth show (two rows high of six: log 90 / log 4000 = 0.54).
        let top = screen
            .lines()
            .find(|l| l.contains("p50       123µs"))
            .expect("the p50 row");
        // One column between the table and the bars.
        let bars: String = top
            .split("123µs")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .skip(1)
            .take(6)
            .collect();
        assert_eq!(
            bars.trim_end().chars().filter(|c| *c != ' ').count(),
            1,
            "{bars:?}\n{screen}"
        );
        assert_eq!(bars.chars().nth(2), Some('█'), "{bars:?}\n{screen}");
        let bottom = screen
            .lines()
            .find(|l| l.contains("max      12.3ms"))
            .expect("the max row");
        let bars: Vec<char> = bottom
            .split("12.3ms")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .skip(1)
            .take(6)
            .collect();
        let drawn: Vec<bool> = bars.iter().map(|c| *c != ' ').collect();
        assert_eq!(
            drawn,
            [true, true, true, true, false, true],
            "{bars:?}\n{screen}"
        );
    }

    /// With `--find-max` the search takes the latency chart's place: the step, the best rate,
    /// the SLO, and a p99 axis spanning the steps and the SLO line.
    #[test]
    fn panel_in_place_of_latency() {
        let state = super::super::search::tests::searching(Some(crate::bench::findmax::StepNow {
            rate: 1500.0,
            start_s: 10,
            measured_from_s: 12,
            extended: false,
        }));
        let screen = render_text(&state, 120, 40, Duration::from_secs(11));
        for want in [
            "find-max",
            "best 1000 msgs/s",
            "step 3: 1500 msgs/s, 1s in, warming up",
            "SLO p99 <= 1000 µs",
            "100µs",
            "10.0ms",
            "2200 msgs/s",
        ] {
            assert!(screen.contains(want), "{want:?} missing:\n{screen}");
        }
        assert!(!screen.contains("latency (log)"), "{screen}");
    }
}
