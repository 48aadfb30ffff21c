//! Stopping a run early: a [`StopHandle`] shared by whoever may stop the run (the signal
//! thread of `shout bench`, a dashboard's stop key) and the workers, which look at it on each
//! turn of their loops (at least every 100 ms) and end the run as if its time were up: no new
//! message starts, those in flight get their answers (up to `--timeout`), and every report is
//! written for the time measured. A second signal exits at once.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context;

/// What stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// A signal, by its number (`SIGINT` is 2, `SIGTERM` 15).
    Signal(i32),
    /// The user asked from inside the program (a dashboard's stop key): as Ctrl-C.
    Asked,
}

impl StopCause {
    /// The signal whose exit code a stopped run takes (128 + it): the signal itself, `SIGINT`
    /// when asked from inside.
    pub fn signal(self) -> i32 {
        match self {
            StopCause::Signal(n) => n,
            StopCause::Asked => signal_hook::consts::SIGINT,
        }
    }

    /// `SIGINT`, `SIGTERM`, or `asked to stop` for a stop from inside.
    pub fn name(self) -> String {
        match self {
            StopCause::Signal(n) => signal_hook::low_level::signal_name(n)
                .map_or_else(|| format!("signal {n}"), str::to_owned),
            StopCause::Asked => "asked to stop".to_owned(),
        }
    }
}

/// Stops a run early; cheap to clone and to look at (one atomic load).
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<OnceLock<(Instant, StopCause)>>);

impl StopHandle {
    /// A handle nothing has stopped yet.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Stops the run now, for `cause`; returns whether this was the first stop (a later one
    /// changes nothing).
    pub fn stop(&self, cause: StopCause) -> bool {
        self.0.set((Instant::now(), cause)).is_ok()
    }

    /// When and why the run was stopped, if it was.
    pub fn stopped(&self) -> Option<(Instant, StopCause)> {
        self.0.get().copied()
    }
}

/// `SIGINT` and `SIGTERM` for the rest of the process: the first one stops the run through
/// `stop` (said on stderr), a second one exits at once with 128 + its number.
pub fn watch_signals(stop: StopHandle) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let cause = StopCause::Signal(signal);
                if stop.stop(cause) {
                    eprintln!(
                        "shout bench: {}: stopping early; awaiting the answers in flight, then \
                         writing the reports (again to exit at once)",
                        cause.name()
                    );
                } else {
                    super::live::terminal::restore();
                    std::process::exit(128 + signal);
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first stop counts, later ones change nothing; clones share the state.
    #[test]
    fn first_stop_wins() {
        let stop = StopHandle::new();
        let seen = stop.clone();
        assert!(seen.stopped().is_none());
        assert!(stop.stop(StopCause::Signal(15)));
        assert!(!stop.stop(StopCause::Asked));
        let (_, cause) = seen.stopped().expect("stopped");
        assert_eq!(cause, StopCause::Signal(15));
        assert_eq!(cause.name(), "SIGTERM");
        assert_eq!(StopCause::Asked.signal(), 2);
    }
}
