//! The verdict of a bench run, sans-IO: from the run's final counts, how it ended (an
//! [`Outcome`], the exit code) and the one line that says so. A run is OK only if it did what
//! was asked: every message got its exact answer, at least one was sent, none that fell due
//! was left unsent, and it was not stopped early.

use std::time::Duration;

use shout_common::plural;

use super::stop::StopCause;
use crate::outcome::Outcome;

/// A run stopped before its end (a signal, or a later dashboard's stop key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// When, since the start of the run.
    pub at: Duration,
    /// By what.
    pub cause: StopCause,
}

impl Stopped {
    /// `at 3.2 s (SIGINT)`.
    pub fn describe(&self) -> String {
        format!("at {:.1} s ({})", self.at.as_secs_f64(), self.cause.name())
    }
}

/// What the verdict is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Connections failed on their first attempt (refused, unreachable, a failed handshake).
    pub setup_failed: bool,
    /// Every worker sent its final report.
    pub complete: bool,
    /// Wrong or missing answers (mismatches, short answers, timeouts, connection errors
    /// that count).
    pub errors: u64,
    /// Messages written, re-sent ones included.
    pub sent: u64,
    /// Open loop: messages that fell due (`None`: closed loop).
    pub scheduled: Option<u64>,
    /// Messages that fell due (open loop) or were owed (`-n`, or waiting to be sent again
    /// with `--reconnect`) but were never sent.
    pub unsent: u64,
    /// Stopped early, if it was.
    pub stopped: Option<Stopped>,
}

/// How the run ended, and the result line that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The exit code's meaning.
    pub outcome: Outcome,
    /// `OK: ...`, `FAILED: ...` or `STOPPED: ...`.
    pub text: String,
}

impl Verdict {
    /// The verdict of a run (not `--find-max`, which has its own rule). What failed outranks a
    /// stop: set-up failures (exit 2), then wrong or missing answers, nothing sent, messages
    /// left unsent (exit 1); a run stopped early otherwise exits 128 + its signal.
    pub fn of(f: &Facts) -> Verdict {
        let stop_note = f.stopped.map_or(String::new(), |s| {
            format!(" (stopped early {})", s.describe())
        });
        let failed = |text: String| Verdict {
            outcome: Outcome::Failed,
            text: format!("FAILED: {text}{stop_note}"),
        };
        if f.setup_failed {
            return Verdict {
                outcome: Outcome::UsageOrConnect,
                text: format!("FAILED: connections could not be set up{stop_note}"),
            };
        }
        if f.errors > 0 || !f.complete {
            return failed("some answers were wrong or missing".to_owned());
        }
        if f.sent == 0 {
            return failed("no message was sent".to_owned());
        }
        if f.unsent > 0 {
            return failed(match f.scheduled {
                // Part of what fell due (what was owed beyond the timetable, when every
                // connection had failed, is more than that: the count alone says it).
                Some(due) if due >= f.unsent => format!(
                    "{} of {} due ({}) never sent",
                    f.unsent,
                    plural(due, "message"),
                    percent(f.unsent, due)
                ),
                _ => format!("{} owed, never sent", plural(f.unsent, "message")),
            });
        }
        match f.stopped {
            Some(s) => Verdict {
                outcome: Outcome::Stopped(s.cause.signal()),
                text: format!(
                    "STOPPED early {}: every message sent got its exact answer, over the \
                     time measured",
                    s.describe()
                ),
            },
            None => Verdict {
                outcome: Outcome::Success,
                text: "OK: every message got its exact answer".to_owned(),
            },
        }
    }
}

/// `part` of `whole` as a percentage, never rounded to 0% or 100% when it is not.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 || part >= whole {
        return "100%".to_owned();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p < 0.1 {
        "under 0.1%".to_owned()
    } else if p > 99.9 {
        "over 99.9%".to_owned()
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Facts {
        Facts {
            setup_failed: false,
            complete: true,
            errors: 0,
            sent: 100,
            scheduled: Some(100),
            unsent: 0,
            stopped: None,
        }
    }

    /// Only a run that sent, got every answer and left nothing unsent is OK.
    #[test]
    fn ok_only_when_everything_asked_was_done() {
        let ok = Verdict::of(&clean());
        assert_eq!(ok.outcome, Outcome::Success);
        assert!(ok.text.starts_with("OK"), "{}", ok.text);

        let nothing = Verdict::of(&Facts { sent: 0, ..clean() });
        assert_eq!(nothing.outcome, Outcome::Failed);
        assert_eq!(nothing.text, "FAILED: no message was sent");

        let dropped = Verdict::of(&Facts {
            sent: 0,
            scheduled: Some(20_000),
            unsent: 20_000,
            ..clean()
        });
        assert_eq!(dropped.outcome, Outcome::Failed);
        assert_eq!(
            dropped.text, "FAILED: no message was sent",
            "nothing sent says so first"
        );

        let some = Verdict::of(&Facts {
            sent: 990,
            scheduled: Some(1000),
            unsent: 15,
            ..clean()
        });
        assert_eq!(some.outcome, Outcome::Failed);
        assert_eq!(
            some.text,
            "FAILED: 15 of 1000 messages due (1.5%) never sent"
        );
        let closed_loop = Verdict::of(&Facts {
            scheduled: None,
            unsent: 5,
            ..clean()
        });
        assert_eq!(closed_loop.text, "FAILED: 5 messages owed, never sent");
        let one = Verdict::of(&Facts {
            scheduled: Some(1),
            sent: 0,
            unsent: 1,
            ..clean()
        });
        assert_eq!(one.text, "FAILED: no message was sent");
        let one = Verdict::of(&Facts {
            scheduled: None,
            unsent: 1,
            ..clean()
        });
        assert_eq!(one.text, "FAILED: 1 message owed, never sent");
        let one = Verdict::of(&Facts {
            sent: 100_000,
            scheduled: Some(100_000),
            unsent: 1,
            ..clean()
        });
        assert!(one.text.contains("(under 0.1%)"), "{}", one.text);
    }

    /// Set-up failures outrank wrong answers, which outrank a stop; a clean stopped run says
    /// when and why, and exits 128 + the signal.
    #[test]
    fn failures_outrank_a_stop() {
        let stopped = Some(Stopped {
            at: Duration::from_millis(3200),
            cause: StopCause::Signal(2),
        });
        let s = Verdict::of(&Facts { stopped, ..clean() });
        assert_eq!(s.outcome, Outcome::Stopped(2));
        assert_eq!(s.outcome.exit_code(), 130);
        assert!(
            s.text.starts_with("STOPPED early at 3.2 s (SIGINT)"),
            "{}",
            s.text
        );
        let wrong = Verdict::of(&Facts {
            errors: 1,
            stopped,
            ..clean()
        });
        assert_eq!(wrong.outcome, Outcome::Failed);
        assert!(
            wrong.text.ends_with("(stopped early at 3.2 s (SIGINT))"),
            "{}",
            wrong.text
        );
        let setup = Verdict::of(&Facts {
            setup_failed: true,
            errors: 1,
            ..clean()
        });
        assert_eq!(setup.outcome, Outcome::UsageOrConnect);
    }
}
