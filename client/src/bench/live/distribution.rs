//! The latency distribution panel: the percentiles of the measured window so far beside a
//! histogram of the latencies, one bar per doubling (log scale, as the latency chart), its
//! heights on a log scale too (the tail's few counts show beside the mode's many).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Paragraph};
use ratatui::Frame;

use super::model::{latency_label, State};

/// Columns of the percentile table.
const TABLE_COLS: u16 = 16;

/// Draws the panel into `area`.
pub fn distribution(frame: &mut Frame, area: Rect, state: &State) {
    let s = &state.last.latency;
    let hist = &state.last.histogram;
    let range = match (hist.first(), hist.last()) {
        (Some(lo), Some(hi)) => format!(
            " {}..{} ",
            latency_label((lo.0 / 2) as f64),
            latency_label(hi.0 as f64)
        ),
        _ => String::new(),
    };
    let block = Block::bordered()
        .title(" latency distribution (log counts) ")
        .title_bottom(Line::from(range).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table, right] =
        Layout::horizontal([Constraint::Length(TABLE_COLS), Constraint::Fill(1)]).areas(inner);
    let rows: Vec<Line> = [
        ("p50", s.p50),
        ("p90", s.p90),
        ("p99", s.p99),
        ("p99.9", s.p99_9),
        ("p99.99", s.p99_99),
        ("max", s.max),
    ]
    .into_iter()
    .map(|(name, us)| Line::from(format!("{name:<7}{:>8}", latency_label(us as f64))))
    .collect();
    frame.render_widget(Paragraph::new(rows), table);
    let bars: Vec<Bar> = hist
        .iter()
        // Heights on a log scale, so the tail's few counts still show beside the mode's many.
        .map(|&(_, n)| {
            Bar::default()
                .value(log_height(n))
                .text_value(String::new())
        })
        .collect();
    let chart = BarChart::default()
        .data(BarGroup::default().bars(&bars))
        .bar_width(1)
        .bar_gap(0)
        .bar_style(Style::default().fg(Color::Yellow));
    frame.render_widget(chart, bars_area(bars.len(), right));
}

/// A bar's height for `n` values: log10(n + 1), in hundredths.
fn log_height(n: u64) -> u64 {
    ((n as f64 + 1.0).log10() * 100.0).round() as u64
}

/// The bars' area, no wider than the bars.
fn bars_area(bars: usize, area: Rect) -> Rect {
    Rect {
        width: area.width.min(u16::try_from(bars).unwrap_or(u16::MAX)),
        ..area
    }
}
