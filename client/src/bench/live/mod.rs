//! What `shout bench` shows while it runs: a full-screen [`dashboard`] when stdout is a
//! terminal (not with `--no-tui` or `TERM=dumb`), else the one-line [`progress`] on stderr
//! when that is a terminal, else nothing. Both are fed by the main thread from the series it
//! gathers, once a second; neither is on the workers' message path.
//!
//! [`progress`]: super::progress

pub mod dashboard;
pub mod distribution;
pub mod model;
pub mod search;
pub mod terminal;
pub mod view;

use std::io::IsTerminal;
use std::time::Instant;

use super::args::BenchArgs;
use super::findmax::FindMax;
use super::profile::RateProfile;
use super::progress::Progress;
use super::series::Series;
use super::stop::StopHandle;
use dashboard::Dashboard;
use model::Info;

/// The live view of a run.
pub enum Live {
    /// The progress line on stderr.
    Line(Progress),
    /// The full-screen dashboard.
    Dashboard(Dashboard),
}

/// Whether to show the dashboard: stdout is a terminal that can draw one, and `--no-tui` was
/// not given.
pub fn wants_dashboard(no_tui: bool, stdout_is_terminal: bool, term: Option<&str>) -> bool {
    !no_tui && stdout_is_terminal && term.is_some_and(|t| !t.is_empty() && t != "dumb")
}

impl Live {
    /// The view for a run with `args` and its rate `profile`, which started at `start` and
    /// which `stop` stops early; `None` when nothing is shown.
    pub fn start(
        args: &BenchArgs,
        profile: Option<&RateProfile>,
        start: Instant,
        stop: &StopHandle,
    ) -> Option<Live> {
        let term = std::env::var("TERM").ok();
        if wants_dashboard(
            args.no_tui,
            std::io::stdout().is_terminal(),
            term.as_deref(),
        ) {
            match Dashboard::start(Info::new(args, profile), start, stop.clone()) {
                Ok(d) => return Some(Live::Dashboard(d)),
                Err(e) => eprintln!("shout bench: no dashboard ({e}); showing progress instead"),
            }
        }
        std::io::stderr()
            .is_terminal()
            .then(|| Live::Line(Progress::start()))
    }

    /// Shows the figures of `series` (connection errors left out of the errors with
    /// `--reconnect`) and, on the dashboard, of the `--find-max` search.
    pub fn update(&mut self, series: &Series, reconnect: bool, find_max: Option<&FindMax>) {
        match self {
            Live::Line(p) => p.update(series, reconnect),
            Live::Dashboard(d) => d.update(series, find_max),
        }
    }

    /// Removes the view; the terminal is as it was before.
    pub fn finish(self) {
        match self {
            Live::Line(p) => p.finish(),
            Live::Dashboard(d) => d.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard only on a terminal that can draw it, and not with `--no-tui`.
    #[test]
    fn dashboard_when_it_can_be_drawn() {
        assert!(wants_dashboard(false, true, Some("xterm-256color")));
        assert!(!wants_dashboard(true, true, Some("xterm")));
        assert!(!wants_dashboard(false, false, Some("xterm")));
        assert!(!wants_dashboard(false, true, Some("dumb")));
        assert!(!wants_dashboard(false, true, Some("")));
        assert!(!wants_dashboard(false, true, None));
    }
}
