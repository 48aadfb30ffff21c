//! The live progress line of `shout bench` on a terminal: elapsed time, the last full
//! second's rate, p99 so far and errors, from the series gathered so far.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::series::Series;

/// How often the spinner turns (the figures change once a second, with the reports).
const SPIN: Duration = Duration::from_millis(250);

/// The progress line, on stderr.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// Shows a spinner on stderr, counting time from now.
    pub fn start() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").expect("the template is valid"),
        );
        bar.enable_steady_tick(SPIN);
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// Shows elapsed time, the last full second's rate, p99 so far and errors (connection
    /// errors left out with `--reconnect`).
    pub fn update(&self, series: &Series, reconnect: bool) {
        // The last second every worker has reported.
        let rate = series.seconds.last().map_or(0, |s| s.counts.completed);
        let p99 = series.hists.corrected.value_at_quantile(0.99);
        self.bar.set_message(format!(
            "{:>4}s  {rate:>9} msgs/s  p99 {p99} µs  errors {}",
            self.started.elapsed().as_secs(),
            series.total.errors(reconnect)
        ));
    }

    /// Removes the line.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
