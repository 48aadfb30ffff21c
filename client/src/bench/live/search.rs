//! The `--find-max` panel: the step being measured (its rate, how long it has run, whether it
//! is still warming up or measured again for not being steady), the best rate found so far,
//! and the curve so far: each step's p99 against its rate (log scale), with the SLO's p99
//! bound as a line.

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::model::{count, latency_label, secs, SearchView, State};

/// What the step under way is doing, `elapsed` after the run's start.
pub fn step_line(view: &SearchView, elapsed: Duration) -> String {
    let n = view.steps.len() + 1;
    match view.step {
        Some(step) => {
            let now = elapsed.as_secs();
            let state = if now < step.measured_from_s {
                "warming up"
            } else if step.extended {
                "measuring again (not steady the first time)"
            } else {
                "measuring"
            };
            format!(
                "step {n}: {} msgs/s, {} in, {state}",
                count(step.rate),
                secs(Duration::from_secs(now.saturating_sub(step.start_s)))
            )
        }
        None => format!("search over after {} steps", view.steps.len()),
    }
}

/// Draws the panel into `area` (an empty box before the first snapshot).
pub fn search(frame: &mut Frame, area: Rect, state: &State, elapsed: Duration) {
    let block = Block::bordered().title(" find-max ");
    let Some(view) = &state.last.find_max else {
        frame.render_widget(block, area);
        return;
    };
    let best = match view.best {
        Some(r) => Span::raw(format!(" best {} msgs/s ", count(r))).green(),
        None => Span::raw(" no rate met yet ").yellow(),
    };
    let block = block
        .title(best)
        .title_bottom(Line::from(format!(" SLO {} ", view.slo)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [line, plot] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(step_line(view, elapsed)), line);
    let point = |s: &super::super::findmax::StepResult| (s.target, log_us(s.latency.p99));
    let met: Vec<(f64, f64)> = view.steps.iter().filter(|s| s.met).map(point).collect();
    let missed: Vec<(f64, f64)> = view.steps.iter().filter(|s| !s.met).map(point).collect();
    let curve: Vec<(f64, f64)> = {
        let mut all: Vec<(f64, f64)> = view.steps.iter().map(point).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    };
    let x1 = view
        .steps
        .iter()
        .map(|s| s.target)
        .chain(view.step.map(|s| s.rate))
        .fold(1.0, f64::max)
        * 1.1;
    let limit = view.p99_limit.map(log_us);
    let slo: Vec<(f64, f64)> = limit.map_or_else(Vec::new, |l| vec![(0.0, l), (x1, l)]);
    let ys = curve.iter().map(|p| p.1).chain(limit);
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo > hi {
        (1.0, 4.0)
    } else {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    };
    let set = |data, color, graph| {
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(graph)
            .style(Style::default().fg(color))
            .data(data)
    };
    let sets = vec![
        set(&slo, Color::DarkGray, GraphType::Line),
        set(&curve, Color::Blue, GraphType::Line),
        set(&met, Color::Green, GraphType::Scatter),
        set(&missed, Color::Red, GraphType::Scatter),
    ];
    let labels: Vec<String> = (lo as i32..=hi as i32)
        .map(|k| latency_label(10f64.powi(k)))
        .collect();
    let chart = Chart::new(sets)
        .x_axis(
            Axis::default()
                .bounds([0.0, x1])
                .labels(["0".to_string(), format!("{} msgs/s", count(x1))]),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels(labels));
    frame.render_widget(chart, plot);
}

/// log10 of a latency in µs (at least 1 µs).
fn log_us(us: u64) -> f64 {
    (us.max(1) as f64).log10()
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::model::{Info, Snapshot};
    use super::*;
    use crate::bench::args::BenchArgs;
    use crate::bench::findmax::{StepNow, StepResult};
    use crate::bench::series::Summary;

    pub(in crate::bench::live) fn step(target: f64, p99: u64, met: bool) -> StepResult {
        StepResult {
            target,
            achieved: target,
            latency: Summary {
                count: 100,
                p99,
                ..Summary::default()
            },
            errors: 0,
            error_rate: 0.0,
            steady: true,
            met,
            extended: false,
            start_s: 0,
            duration_s: 5,
        }
    }

    pub(in crate::bench::live) fn searching(now: Option<StepNow>) -> State {
        let args = BenchArgs::try_parse_from(["--find-max", "--slo", "p99=1ms", "-d", "60s"])
            .expect("valid options");
        let profile = args.rate_profile().expect("a valid profile");
        let mut state = State::new(Info::new(&args, profile.as_ref()));
        state.apply(Snapshot {
            find_max: Some(SearchView {
                steps: vec![step(1000.0, 400, true), step(2000.0, 5000, false)],
                step: now,
                best: Some(1000.0),
                slo: "p99 <= 1000 µs, error rate <= 0".into(),
                p99_limit: Some(1000),
            }),
            ..Snapshot::default()
        });
        state
    }

    /// The step under way: warming up, measured, measured again; then the search's end.
    #[test]
    fn step_lines() {
        let now = |extended| StepNow {
            rate: 1500.0,
            start_s: 10,
            measured_from_s: 12,
            extended,
        };
        let view = |s: State| s.last.find_max.expect("a search");
        let at = Duration::from_secs;
        let v = view(searching(Some(now(false))));
        assert_eq!(
            step_line(&v, at(11)),
            "step 3: 1500 msgs/s, 1s in, warming up"
        );
        assert_eq!(
            step_line(&v, at(13)),
            "step 3: 1500 msgs/s, 3s in, measuring"
        );
        let v = view(searching(Some(now(true))));
        assert!(step_line(&v, at(14)).ends_with("measuring again (not steady the first time)"));
        let v = view(searching(None));
        assert_eq!(step_line(&v, at(14)), "search over after 2 steps");
    }
}
