//! Open-loop rates that change over time, sans-IO: what `--rate` says ([`RateSpec`]: one rate,
//! a range for `--ramp`, a list for `--step`), the [`RateProfile`] it makes with those options,
//! and the [`Curve`] the schedule follows: a rate that is linear by pieces, and the number of
//! messages due by any time (its integral), which `--find-max` extends as it goes.

use std::time::Duration;

use serde_json::{json, Value};

/// Open loop: the share of the scheduled rate that counts as reaching it (runs vary by a few
/// percent from scheduling alone).
pub const RATE_REACHED: f64 = 0.95;

/// The lowest rate `--rate` takes: one message every 1,000 s. A lower one would leave the
/// schedule's millisecond grid (which reaches 49 days) before a few messages fell due.
pub const MIN_RATE: f64 = 0.001;

/// The highest rate `--rate` takes, in all: ten times what a large machine's generator sends
/// (about 50,000 msgs/s per thread, `bench/generator-cost.sh`), and small enough that one
/// tick's batch (10,000 messages) stays far within a worker's backlog
/// ([`MAX_BACKLOG`](super::schedule::MAX_BACKLOG)); beyond it every tick's batch would be
/// dropped unsent.
pub const MAX_RATE: f64 = 10_000_000.0;

/// What `--rate` says.
#[derive(Debug, Clone, PartialEq)]
pub enum RateSpec {
    /// `R`: one rate.
    Constant(f64),
    /// `A..B`: from A to B, over `--ramp`.
    Range(f64, f64),
    /// `A,B,C`: each rate for one `--step`.
    List(Vec<f64>),
}

impl RateSpec {
    /// Parses `R`, `A..B` or `A,B,...` (rates from [`MIN_RATE`] to [`MAX_RATE`]).
    pub fn parse(s: &str) -> Result<RateSpec, String> {
        let rate = |part: &str| match part.trim().parse::<f64>() {
            Ok(v) if (MIN_RATE..=MAX_RATE).contains(&v) => Ok(v),
            Ok(v) if v > 0.0 && v.is_finite() => Err(format!(
                "'{part}' in '{s}' is outside the rates the generator can schedule: from \
                 {MIN_RATE} to {} msgs/s",
                crate::report::units::thousands(MAX_RATE)
            )),
            _ => Err(format!(
                "'{part}' in '{s}' is not a positive number (give R, A..B with --ramp, or \
                 A,B,C with --step)"
            )),
        };
        if let Some((a, b)) = s.split_once("..") {
            return Ok(RateSpec::Range(rate(a)?, rate(b)?));
        }
        if s.contains(',') {
            let rates = s
                .split(',')
                .map(rate)
                .collect::<Result<Vec<f64>, String>>()?;
            return Ok(RateSpec::List(rates));
        }
        rate(s).map(RateSpec::Constant)
    }

    /// The rate at the start (the warm-up runs at it).
    pub fn first(&self) -> f64 {
        match self {
            RateSpec::Constant(r) | RateSpec::Range(r, _) => *r,
            RateSpec::List(rates) => rates[0],
        }
    }

    /// The highest rate it reaches.
    pub fn peak(&self) -> f64 {
        match self {
            RateSpec::Constant(r) => *r,
            RateSpec::Range(a, b) => a.max(*b),
            RateSpec::List(rates) => rates.iter().copied().fold(0.0, f64::max),
        }
    }
}

impl std::fmt::Display for RateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateSpec::Constant(r) => write!(f, "{r}"),
            RateSpec::Range(a, b) => write!(f, "{a}..{b}"),
            RateSpec::List(rates) => {
                let words: Vec<String> = rates.iter().map(ToString::to_string).collect();
                write!(f, "{}", words.join(","))
            }
        }
    }
}

/// How the open-loop rate changes over a run (after the warm-up, which runs at the first rate).
#[derive(Debug, Clone, PartialEq)]
pub enum RateProfile {
    /// One rate throughout.
    Constant(f64),
    /// Linear from `from` to `to` over `ramp`, then `to` for the rest.
    Ramp {
        /// The rate at the end of the warm-up.
        from: f64,
        /// The rate at the end of the ramp and after it.
        to: f64,
        /// How long the ramp takes.
        ramp: Duration,
    },
    /// Each rate for `step`, the last one for the rest.
    Steps {
        /// The rates, in order.
        rates: Vec<f64>,
        /// How long each rate lasts.
        step: Duration,
    },
}

impl RateProfile {
    /// The profile `--rate spec` makes with `--ramp` and `--step`; an error says which
    /// combination is wrong.
    pub fn new(
        spec: &RateSpec,
        ramp: Option<Duration>,
        step: Option<Duration>,
    ) -> Result<RateProfile, String> {
        match (spec, ramp, step) {
            (_, Some(_), Some(_)) => Err("--ramp and --step cannot be used together".into()),
            (RateSpec::Constant(r), None, None) => Ok(RateProfile::Constant(*r)),
            (RateSpec::Constant(_), Some(_), _) => {
                Err("--ramp needs a range of rates: --rate A..B".into())
            }
            (RateSpec::Constant(_), _, Some(_)) => {
                Err("--step needs a list of rates: --rate A,B,C".into())
            }
            (RateSpec::Range(from, to), Some(ramp), None) => Ok(RateProfile::Ramp {
                from: *from,
                to: *to,
                ramp,
            }),
            (RateSpec::Range(..), None, _) => {
                Err("--rate A..B needs --ramp DURATION (how long the ramp takes)".into())
            }
            (RateSpec::List(rates), None, Some(step)) => Ok(RateProfile::Steps {
                rates: rates.clone(),
                step,
            }),
            (RateSpec::List(_), _, None) => {
                Err("--rate A,B,C needs --step DURATION (how long each rate lasts)".into())
            }
        }
    }

    /// How long the profile takes to play out once (zero for a constant rate): the default
    /// run length.
    pub fn length(&self) -> Duration {
        match self {
            RateProfile::Constant(_) => Duration::ZERO,
            RateProfile::Ramp { ramp, .. } => *ramp,
            RateProfile::Steps { rates, step } => *step * rates.len() as u32,
        }
    }

    /// The rate at the start.
    pub fn first(&self) -> f64 {
        match self {
            RateProfile::Constant(r) | RateProfile::Ramp { from: r, .. } => *r,
            RateProfile::Steps { rates, .. } => rates[0],
        }
    }

    /// The same profile with every rate multiplied by `share` (a worker's part).
    pub fn scaled(&self, share: f64) -> RateProfile {
        match self {
            RateProfile::Constant(r) => RateProfile::Constant(r * share),
            RateProfile::Ramp { from, to, ramp } => RateProfile::Ramp {
                from: from * share,
                to: to * share,
                ramp: *ramp,
            },
            RateProfile::Steps { rates, step } => RateProfile::Steps {
                rates: rates.iter().map(|r| r * share).collect(),
                step: *step,
            },
        }
    }

    /// The rate curve from the start of the run, with the profile beginning at `offset` (the
    /// end of the warm-up) and its first rate before.
    pub fn curve(&self, offset: Duration) -> Curve {
        let mut curve = Curve::constant(self.first());
        match self {
            RateProfile::Constant(_) => {}
            RateProfile::Ramp { from, to, ramp } => {
                curve.push(offset, *from, *to, Some(*ramp));
                curve.push(offset + *ramp, *to, *to, None);
            }
            RateProfile::Steps { rates, step } => {
                for (i, &r) in rates.iter().enumerate() {
                    let last = i + 1 == rates.len();
                    curve.push(offset + *step * i as u32, r, r, (!last).then_some(*step));
                }
            }
        }
        curve
    }

    /// The JSON report's `rate_profile`.
    pub fn json(&self) -> Value {
        match self {
            RateProfile::Constant(r) => json!({"kind": "constant", "rate": r}),
            RateProfile::Ramp { from, to, ramp } => json!({
                "kind": "ramp", "from": from, "to": to, "ramp_s": ramp.as_secs_f64(),
            }),
            RateProfile::Steps { rates, step } => json!({
                "kind": "steps", "rates": rates, "step_s": step.as_secs_f64(),
            }),
        }
    }
}

/// One piece of a [`Curve`]: from `at` (since the start), the rate goes linearly from `from`
/// to `to` over `len`; the last piece has no length and keeps `to` for ever.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Piece {
    at: f64,
    from: f64,
    to: f64,
    len: Option<f64>,
    /// Messages due before `at`.
    before: f64,
}

impl Piece {
    /// Messages due within this piece by `t` seconds since the start (`t >= at`).
    fn due_within(&self, t: f64) -> f64 {
        let dt = match self.len {
            Some(len) => (t - self.at).min(len),
            None => t - self.at,
        };
        match self.len {
            Some(len) if len > 0.0 => {
                self.from * dt + (self.to - self.from) * dt * dt / (2.0 * len)
            }
            _ => self.to * dt,
        }
    }

    /// Where it ends, if it does.
    fn end(&self) -> Option<f64> {
        self.len.map(|len| self.at + len)
    }
}

/// A rate that is linear by pieces, from the start of a run, and the messages due by each time:
/// what an open-loop schedule follows. Pieces are added in time order; the last one lasts
/// until another is added (`--find-max` adds a piece at each new rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    pieces: Vec<Piece>,
    /// The piece the last question fell in (questions come in time order).
    cursor: usize,
}

impl Curve {
    /// `rate` from the start, for ever.
    pub fn constant(rate: f64) -> Curve {
        Curve {
            pieces: vec![Piece {
                at: 0.0,
                from: rate,
                to: rate,
                len: None,
                before: 0.0,
            }],
            cursor: 0,
        }
    }

    /// From `at` (since the start; not before the last piece's start), the rate goes from
    /// `from` to `to` over `len` (`None`: `to` for ever, until another piece).
    pub fn push(&mut self, at: Duration, from: f64, to: f64, len: Option<Duration>) {
        let last = self.pieces.last_mut().expect("a curve has a piece");
        let at = at.as_secs_f64().max(last.at);
        // The last piece ends where this one begins (it may be cut short).
        let end = last.end().map_or(at, |e| e.min(at));
        last.len = Some(end - last.at);
        let before = last.before + last.due_within(end);
        if end < at {
            // A gap between a piece that ended and this one keeps the last piece's end rate.
            let gap = Piece {
                at: end,
                from: last.to,
                to: last.to,
                len: Some(at - end),
                before,
            };
            let before = before + gap.due_within(at);
            self.pieces.push(gap);
            self.pieces.push(Piece {
                at,
                from,
                to,
                len: len.map(|d| d.as_secs_f64()),
                before,
            });
        } else {
            self.pieces.push(Piece {
                at,
                from,
                to,
                len: len.map(|d| d.as_secs_f64()),
                before,
            });
        }
    }

    /// From `at` on, `rate` for ever (what `--find-max` does at each step).
    pub fn set_rate(&mut self, at: Duration, rate: f64) {
        self.push(at, rate, rate, None);
    }

    /// Messages due by `t` since the start, in all (not rounded). Cheapest when asked in time
    /// order.
    pub fn due_by(&mut self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        if self.pieces[self.cursor].at > t {
            self.cursor = 0;
        }
        while self.cursor + 1 < self.pieces.len() && self.pieces[self.cursor + 1].at <= t {
            self.cursor += 1;
        }
        let piece = &self.pieces[self.cursor];
        let beyond_end = piece.end().is_some_and(|e| t > e) && self.cursor + 1 == self.pieces.len();
        let due = piece.before + piece.due_within(t.max(piece.at));
        if beyond_end {
            // The last piece ended and no other followed: its end rate goes on.
            let end = piece.end().unwrap_or(t);
            due + piece.to * (t - end)
        } else {
            due
        }
    }

    /// The rate at `t` since the start.
    pub fn rate_at(&mut self, t: Duration) -> f64 {
        let ts = t.as_secs_f64();
        let _ = self.due_by(t);
        let piece = &self.pieces[self.cursor];
        match piece.len {
            Some(len) if len > 0.0 && ts < piece.at + len => {
                piece.from + (piece.to - piece.from) * (ts - piece.at) / len
            }
            _ => piece.to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: f64) -> Duration {
        Duration::from_secs_f64(n)
    }

    /// The three forms of `--rate` parse; anything else is refused with a reason.
    #[test]
    fn parses_rate_specs() {
        assert_eq!(RateSpec::parse("2000"), Ok(RateSpec::Constant(2000.0)));
        assert_eq!(
            RateSpec::parse("1000..20000"),
            Ok(RateSpec::Range(1000.0, 20000.0))
        );
        assert_eq!(
            RateSpec::parse("1000,5000,10000"),
            Ok(RateSpec::List(vec![1000.0, 5000.0, 10000.0]))
        );
        for bad in [
            "", "0", "-5", "abc", "1000..", "..5", "1..2..3", "1,,2", "1,0", "nan", "inf", "1,",
        ] {
            let e = RateSpec::parse(bad).expect_err(bad);
            assert!(e.contains("not a positive number"), "{bad}: {e}");
        }
        // Rates whose ticks would all be dropped (beyond the backlog) or that would never
        // schedule a message are refused with the limits.
        for bad in ["1e10", "1000..2e7", "1,0.0001", "1e-300"] {
            let e = RateSpec::parse(bad).expect_err(bad);
            assert!(e.contains("from 0.001 to 10,000,000 msgs/s"), "{bad}: {e}");
        }
        assert!(RateSpec::parse("10000000").is_ok());
        assert!(RateSpec::parse("0.001").is_ok());
        assert_eq!(
            RateSpec::parse("1..2").map(|r| r.to_string()),
            Ok("1..2".into())
        );
        assert_eq!(
            RateSpec::parse("1,2.5").map(|r| r.to_string()),
            Ok("1,2.5".into())
        );
    }

    /// `--ramp` goes with a range and `--step` with a list, and each needs the other.
    #[test]
    fn profiles_need_their_options() {
        let range = RateSpec::Range(1.0, 2.0);
        let list = RateSpec::List(vec![1.0, 2.0]);
        let one = RateSpec::Constant(5.0);
        let d = Some(s(3.0));
        assert!(matches!(
            RateProfile::new(&range, d, None),
            Ok(RateProfile::Ramp { .. })
        ));
        assert!(matches!(
            RateProfile::new(&list, None, d),
            Ok(RateProfile::Steps { .. })
        ));
        assert_eq!(
            RateProfile::new(&one, None, None),
            Ok(RateProfile::Constant(5.0))
        );
        let errors = [
            (RateProfile::new(&range, None, None), "needs --ramp"),
            (RateProfile::new(&range, None, d), "needs --ramp"),
            (RateProfile::new(&list, None, None), "needs --step"),
            (RateProfile::new(&list, d, None), "needs --step"),
            (RateProfile::new(&one, d, None), "--ramp needs a range"),
            (RateProfile::new(&one, None, d), "--step needs a list"),
            (RateProfile::new(&range, d, d), "cannot be used together"),
        ];
        for (result, words) in errors {
            let e = result.expect_err(words);
            assert!(e.contains(words), "{e} (wanted {words})");
        }
    }

    /// A ramp: the first rate during the warm-up, the integral of the ramp, then the end rate.
    #[test]
    fn a_ramp_curve() {
        let profile = RateProfile::Ramp {
            from: 100.0,
            to: 300.0,
            ramp: s(2.0),
        };
        let mut curve = profile.curve(s(1.0));
        assert!((curve.due_by(s(1.0)) - 100.0).abs() < 1e-9);
        // Over the ramp: the mean of 100 and 300, for 2 s.
        assert!((curve.due_by(s(3.0)) - 500.0).abs() < 1e-9);
        assert!((curve.due_by(s(4.0)) - 800.0).abs() < 1e-9);
        assert!((curve.rate_at(s(2.0)) - 200.0).abs() < 1e-9);
        assert!((curve.rate_at(s(10.0)) - 300.0).abs() < 1e-9);
        assert!(
            (curve.due_by(s(0.5)) - 50.0).abs() < 1e-9,
            "asked back in time"
        );
        assert_eq!(profile.length(), s(2.0));
    }

    /// Steps: each rate for a step, the last one for the rest.
    #[test]
    fn a_steps_curve() {
        let profile = RateProfile::Steps {
            rates: vec![10.0, 20.0, 40.0],
            step: s(1.0),
        };
        let mut curve = profile.curve(Duration::ZERO);
        let due: Vec<f64> = [1.0, 2.0, 3.0, 4.0]
            .iter()
            .map(|&t| curve.due_by(s(t)))
            .collect();
        assert_eq!(due, [10.0, 30.0, 70.0, 110.0]);
        assert_eq!(curve.rate_at(s(1.5)), 20.0);
        assert_eq!(profile.length(), s(3.0));
        assert_eq!(profile.scaled(0.5).first(), 5.0);
    }

    /// A new rate from a time on (`--find-max`) cuts the open-ended last piece there.
    #[test]
    fn set_rate_extends_the_curve() {
        let mut curve = Curve::constant(100.0);
        assert_eq!(curve.due_by(s(2.0)), 200.0);
        curve.set_rate(s(2.0), 50.0);
        assert_eq!(curve.due_by(s(4.0)), 300.0);
        curve.set_rate(s(5.0), 0.0);
        assert_eq!(curve.due_by(s(9.0)), 350.0);
        assert_eq!(curve.rate_at(s(9.0)), 0.0);
    }
}
