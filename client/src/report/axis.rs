//! The charts' axes: what each shows and how its ticks are labelled, and where the ticks go
//! (round values, decades, percentiles), for any range a file can give: ends made finite, a
//! span that is never lost in rounding and a bounded number of ticks.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

use super::units;

/// What an axis shows.
#[derive(Clone, Copy, Debug)]
pub enum Axis {
    /// Plain numbers.
    Linear,
    /// Latency in µs on a log scale: values are log10(µs).
    LogMicros,
    /// Latency on a linear scale (in µs or ms, as the axis title says).
    Micros,
    /// Percentiles as log10(1/(1-p)).
    Percentile,
}

impl Axis {
    /// The text of tick `v`.
    pub fn label(self, v: f64) -> String {
        match self {
            Axis::Linear => {
                if v.abs() >= 10_000.0 {
                    format!("{}k", units::short(v / 1000.0))
                } else {
                    units::short(v)
                }
            }
            Axis::LogMicros => units::us(10f64.powf(v)),
            Axis::Micros => units::short(v),
            Axis::Percentile => units::percentile_label(v),
        }
    }
}

/// A step of 1, 2 or 5 times a power of ten, near `span / 8`.
fn nice_step(span: f64) -> f64 {
    let raw = (span / 8.0).max(f64::MIN_POSITIVE);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= raw * 0.999)
        .unwrap_or(10.0 * power)
}

/// The largest magnitude an axis reaches; only hostile files go beyond, and are cut there.
pub const AXIS_LIMIT: f64 = 1e300;

/// The most ticks an axis has, whatever its range.
pub const MAX_TICKS: usize = 64;

/// The range `lo..hi` made drawable: ends finite (NaN as 0) and within ±[`AXIS_LIMIT`], in
/// order, and a span not lost in the rounding of its ends (at least a millionth of their
/// size, and of 1), so that ticks step from one end to the other.
pub fn drawable(lo: f64, hi: f64) -> (f64, f64) {
    let clamp = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(-AXIS_LIMIT, AXIS_LIMIT)
        }
    };
    let (lo, hi) = (clamp(lo), clamp(hi));
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let least = lo.abs().max(hi.abs()).max(1.0) * 1e-6;
    (lo, if hi - lo >= least { hi } else { lo + least })
}

/// Where an axis from `lo` to `hi` has its ticks and grid lines: round numbers on a linear
/// axis; 1, 2 and 5 of each decade on a log axis (only 1 when it spans many decades, and only
/// some decades when they are more than [`MAX_TICKS`]); each whole number (0%, 90%, 99%...)
/// on the percentile axis. Never more than [`MAX_TICKS`], for any range.
pub fn keys(lo: f64, hi: f64, axis: Axis) -> Vec<f64> {
    let (lo, hi) = drawable(lo, hi);
    let mut out = Vec::new();
    match axis {
        Axis::Percentile => {
            let first = lo.ceil();
            out.extend(
                (0..MAX_TICKS)
                    .map(|i| first + i as f64)
                    .take_while(|&k| k <= hi + 1e-9),
            );
        }
        Axis::LogMicros => {
            let marks: &[f64] = if hi - lo > 4.0 {
                &[1.0]
            } else {
                &[1.0, 2.0, 5.0]
            };
            let (first, last) = (lo.floor(), hi.ceil());
            let every = ((last - first) / MAX_TICKS as f64).ceil().max(1.0);
            for i in 0..=MAX_TICKS {
                let decade = first + i as f64 * every;
                if decade > last {
                    break;
                }
                for m in marks {
                    let v = decade + m.log10();
                    if v >= lo - 1e-9 && v <= hi + 1e-9 {
                        out.push(v);
                    }
                }
            }
        }
        Axis::Linear | Axis::Micros => {
            let step = nice_step(hi - lo);
            let first = (lo / step).ceil();
            out.extend(
                (0..MAX_TICKS)
                    .map(|i| (first + i as f64) * step)
                    .take_while(|&v| v <= hi + step * 1e-9),
            );
        }
    }
    out.truncate(MAX_TICKS);
    out
}

/// A linear axis from `lo` to `hi` with its ticks where [`keys`] puts them (plotters'
/// own ticks are evenly spaced, which on a log axis gives values such as 316 µs).
pub struct Ticked {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ticked {
    /// The axis from `lo` to `hi` (made [`drawable`]).
    pub fn new(lo: f64, hi: f64, axis: Axis) -> Ticked {
        let (lo, hi) = drawable(lo, hi);
        Ticked {
            lo,
            hi,
            keys: keys(lo, hi, axis),
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        if span <= 0.0 {
            return (limit.0 + limit.1) / 2;
        }
        let share = (value - self.lo) / span;
        limit.0 + (share * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_values() {
        assert_eq!(
            keys(0.0, 100.0, Axis::Linear),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(keys(0.0, 4.0, Axis::Percentile), [0.0, 1.0, 2.0, 3.0, 4.0]);
        let log: Vec<String> = keys(2.0, 3.5, Axis::LogMicros)
            .iter()
            .map(|&v| Axis::LogMicros.label(v))
            .collect();
        assert_eq!(log, ["100 µs", "200 µs", "500 µs", "1 ms", "2 ms"]);
    }

    /// Any range, hostile ones included, gives a drawable axis (finite ends, a span its ticks
    /// can step over) and at most `MAX_TICKS` ticks, all finite: a find-max target of -1e16
    /// once made a span of zero and an endless tick loop.
    #[test]
    fn axes_are_bounded_for_any_range() {
        let ranges = [
            (-1e16, -1e16),
            (-1e16, -1e16 + 1.0),
            (0.0, 0.0),
            (f64::NAN, 1.0),
            (f64::NAN, f64::NAN),
            (0.0, f64::INFINITY),
            (f64::NEG_INFINITY, f64::INFINITY),
            (1e308, 1.7e308),
            (5.0, -5.0),
            (0.0, 1e300),
            (3.0, 3.0 + 1e-12),
        ];
        let axes = [
            Axis::Linear,
            Axis::LogMicros,
            Axis::Micros,
            Axis::Percentile,
        ];
        let all = crate::report::within(move || {
            let mut out = Vec::new();
            for (lo, hi) in ranges {
                for axis in axes {
                    out.push((lo, hi, drawable(lo, hi), keys(lo, hi, axis)));
                }
            }
            out
        });
        for (lo, hi, (a, b), ticks) in all {
            assert!(
                a.is_finite() && b.is_finite() && b > a,
                "{lo}..{hi}: {a}..{b}"
            );
            assert!(
                ticks.len() <= MAX_TICKS,
                "{lo}..{hi}: {} ticks",
                ticks.len()
            );
            assert!(ticks.iter().all(|t| t.is_finite()), "{lo}..{hi}: {ticks:?}");
        }
        // A single point far from zero still gets ticks around it.
        assert!(keys(-1e16, -1e16, Axis::Linear).len() >= 2);
    }
}
