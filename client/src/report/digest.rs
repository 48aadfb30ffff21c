//! What the charts need of a run's per-second histograms, gathered one second at a time while
//! the report is read: the latency of each drawn point (p50, p99 and max of the seconds it
//! stands for) and the heatmap's columns. A per-second histogram takes about 190 KiB decoded
//! and an hour-long run has 7,200 of them; kept whole they took 1.3 GiB, digested they take a
//! few MiB, and only a few are decoded at any time.

use hdrhistogram::Histogram;

/// Most points a time series is drawn with (longer runs are averaged into wider steps).
pub const MAX_POINTS: usize = 600;
/// Most time columns of a heatmap.
pub const HEATMAP_COLUMNS: usize = 120;

/// How many seconds each drawn point stands for, so `n` seconds make at most `max` points.
pub fn step_for(n: usize, max: usize) -> usize {
    n.div_ceil(max.max(1)).max(1)
}

/// Adds `h` to the sum in `acc` (started with `h`'s bounds, growing to hold the others'
/// values), exactly.
pub fn add_into(acc: &mut Option<Histogram<u64>>, h: &Histogram<u64>) {
    let sum = acc.get_or_insert_with(|| {
        let mut empty = Histogram::new_from(h);
        empty.auto(true);
        empty
    });
    // With auto-resize on, adding fails only on a count overflow (past u64), which latency
    // counts do not reach; such a sum is then short rather than wrong in shape.
    let _ = sum.add(h);
}

/// Latency figures of a drawn point, in µs: p50, p99 and max.
pub type Latency = (f64, f64, f64);

/// The figures of `h`, or `None` when it holds nothing.
fn latency_of(h: &Histogram<u64>) -> Option<Latency> {
    (!h.is_empty()).then(|| {
        (
            h.value_at_quantile(0.5) as f64,
            h.value_at_quantile(0.99) as f64,
            h.max() as f64,
        )
    })
}

/// The latency of seconds without histograms (version 1) from their own figures: the mean of
/// their medians and the largest p99 and max, of the seconds that measured any.
fn latency_of_figures(group: &[Latency]) -> Option<Latency> {
    let with: Vec<&Latency> = group.iter().filter(|f| f.2 > 0.0).collect();
    if with.is_empty() {
        return None;
    }
    let p50 = with.iter().map(|f| f.0).sum::<f64>() / with.len() as f64;
    let p99 = with.iter().map(|f| f.1).fold(0.0, f64::max);
    let max = with.iter().map(|f| f.2).fold(0.0, f64::max);
    Some((p50, p99, max))
}

/// The per-second histograms of a run, digested for the charts.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    /// Seconds per point of the time series ([`step_for`] of the run's length and
    /// [`MAX_POINTS`]).
    pub step: usize,
    /// The latency of each point: from the histograms of its seconds added when each has one,
    /// else from their per-second figures; `None` where nothing was measured.
    pub latency: Vec<Option<Latency>>,
    /// Seconds per heatmap column ([`step_for`] of the run's length and [`HEATMAP_COLUMNS`]).
    pub heat_step: usize,
    /// Each heatmap column's latencies: (value in µs, messages), from the histograms of its
    /// seconds added.
    pub heat: Vec<Vec<(u64, u64)>>,
    /// The smallest and largest latency (µs) of any second's histogram, if one holds any.
    pub range: Option<(u64, u64)>,
    /// Whether some second has a histogram.
    pub any_hist: bool,
}

/// Builds a [`Digest`] from the seconds of a run, in order.
#[derive(Debug)]
pub struct Builder {
    /// Seconds in the run, and added so far.
    seconds: usize,
    added: usize,
    digest: Digest,
    /// The histograms of the current point's seconds, added, whether each had one, and their
    /// own figures (at most a step of them).
    point: Option<Histogram<u64>>,
    point_complete: bool,
    point_figures: Vec<Latency>,
    /// The histograms of the current heatmap column's seconds, added.
    column: Option<Histogram<u64>>,
}

impl Builder {
    /// A digest of a run of `seconds` seconds.
    pub fn new(seconds: usize) -> Builder {
        Builder {
            seconds,
            digest: Digest {
                step: step_for(seconds, MAX_POINTS),
                heat_step: step_for(seconds, HEATMAP_COLUMNS),
                ..Digest::default()
            },
            added: 0,
            point: None,
            point_complete: true,
            point_figures: Vec::new(),
            column: None,
        }
    }

    /// Adds the next second: its own figures (p50, p99 and max from the JSON) and its
    /// histogram, if it has one.
    pub fn add(&mut self, figures: Latency, hist: Option<&Histogram<u64>>) {
        self.added += 1;
        let n = self.added;
        self.point_figures.push(figures);
        match hist {
            Some(h) => {
                self.digest.any_hist = true;
                if !h.is_empty() {
                    let (lo, hi) = self.digest.range.unwrap_or((u64::MAX, 0));
                    self.digest.range = Some((lo.min(h.min()), hi.max(h.max())));
                }
                add_into(&mut self.point, h);
                add_into(&mut self.column, h);
            }
            None => self.point_complete = false,
        }
        let step = self.digest.step;
        if n.is_multiple_of(step) || n == self.seconds {
            let latency = match self.point.take() {
                Some(h) if self.point_complete => latency_of(&h),
                _ => latency_of_figures(&self.point_figures),
            };
            self.digest.latency.push(latency);
            self.point_complete = true;
            self.point_figures.clear();
        }
        if n.is_multiple_of(self.digest.heat_step) || n == self.seconds {
            let column = self.column.take().map_or_else(Vec::new, |h| {
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect()
            });
            self.digest.heat.push(column);
        }
    }

    /// The digest of every second added.
    pub fn finish(self) -> Digest {
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(i: u64) -> Latency {
        (10.0, 20.0 + i as f64, 30.0 + i as f64)
    }

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// Each point's latency is that of its seconds' histograms added (not an average of
    /// percentiles), and the heatmap's columns hold every message once.
    #[test]
    fn points_and_columns_add_their_seconds() {
        let n = 2 * MAX_POINTS;
        let mut b = Builder::new(n);
        let mut all = hist([]);
        for i in 0..n as u64 {
            let h = hist((1..=100).map(|k| k * (i + 1)));
            all.add(&h).unwrap();
            b.add(figures(i), Some(&h));
        }
        let d = b.finish();
        assert_eq!((d.step, d.latency.len()), (2, MAX_POINTS));
        let pair = hist((1..=100).flat_map(|k| [k * 3, k * 4]));
        let (p50, p99, max) = d.latency[1].unwrap();
        assert_eq!(p50, pair.value_at_quantile(0.5) as f64);
        assert_eq!(p99, pair.value_at_quantile(0.99) as f64);
        assert_eq!(max, pair.max() as f64);
        assert_eq!(d.heat.len(), HEATMAP_COLUMNS);
        let total: u64 = d.heat.iter().flatten().map(|&(_, c)| c).sum();
        assert_eq!(total, all.len());
        assert_eq!(d.range, Some((1, all.max())));
        assert!(d.any_hist);
    }

    /// A point with a second lacking its histogram falls back to the per-second figures.
    #[test]
    fn points_without_histograms_use_the_figures() {
        let mut b = Builder::new(3);
        for i in 0..3 {
            b.add(figures(i), None);
        }
        let d = b.finish();
        assert_eq!(
            d.latency,
            [
                Some((10.0, 20.0, 30.0)),
                Some((10.0, 21.0, 31.0)),
                Some((10.0, 22.0, 32.0))
            ]
        );
        assert!(!d.any_hist && d.range.is_none());
    }
}
