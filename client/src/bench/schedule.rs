//! The open-loop timetable, sans-IO: messages fall due at the worker's share of `--rate` (a
//! [`Curve`]: one rate, a ramp, steps, or the rates `--find-max` sets as it goes), counted in
//! steps of [`STEP`] from the start, and wait in a backlog until a connection with room takes
//! them. Each keeps its scheduled time, from which its latency counts, so a server that falls
//! behind shows in the latencies instead of slowing the load.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::profile::Curve;

/// The schedule's resolution: messages due within one step leave together (the worker wakes
/// on a periodic timer of this period).
pub const STEP: Duration = Duration::from_millis(1);

/// The most due-but-unsent messages a worker keeps; beyond it they count as unsent (the
/// client cannot keep up, and holding more would only grow memory).
pub const MAX_BACKLOG: u64 = 1_000_000;

/// One worker's open-loop timetable and the messages due but not yet taken.
#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    /// This worker's messages per second, over time.
    curve: Curve,
    /// Messages in all, if the run has a count.
    messages: Option<u64>,
    /// No message falls due from this time, if the run has a length.
    end: Option<Instant>,
    /// Steps released so far.
    steps: u64,
    /// Messages that fell due so far (backlogged, taken or dropped as unsent).
    scheduled: u64,
    /// Due messages not yet taken, as (scheduled time, count), oldest first.
    backlog: VecDeque<(Instant, u64)>,
    /// Messages in the backlog.
    backlog_len: u64,
}

impl Schedule {
    /// Messages at the rates of `curve` from `start`, `messages` in all or until `end`.
    pub fn new(start: Instant, curve: Curve, messages: Option<u64>, end: Option<Instant>) -> Self {
        Schedule {
            start,
            curve,
            messages,
            end,
            steps: 0,
            scheduled: 0,
            backlog: VecDeque::new(),
            backlog_len: 0,
        }
    }

    /// Moves the messages due by `now` (never past the end) into the backlog, telling `due`
    /// each step's scheduled time and count; returns how many fell due with the backlog full,
    /// which are never sent.
    pub fn release(&mut self, now: Instant, mut due: impl FnMut(Instant, u64)) -> u64 {
        let limit = self.end.map_or(now, |end| now.min(end));
        let steps = steps_until(self.start, limit);
        let mut dropped = 0;
        while self.steps < steps {
            self.steps += 1;
            let count = self.due_by(self.steps).saturating_sub(self.scheduled);
            if count == 0 {
                continue;
            }
            self.scheduled += count;
            let at = self.start + STEP * u32::try_from(self.steps).unwrap_or(u32::MAX);
            due(at, count);
            if self.backlog_len + count > MAX_BACKLOG {
                dropped += count;
                continue;
            }
            self.backlog.push_back((at, count));
            self.backlog_len += count;
        }
        dropped
    }

    /// Takes the oldest due message; returns its scheduled time.
    pub fn take(&mut self) -> Option<Instant> {
        let (at, count) = self.backlog.front_mut()?;
        let at = *at;
        *count -= 1;
        if *count == 0 {
            self.backlog.pop_front();
        }
        self.backlog_len -= 1;
        Some(at)
    }

    /// Messages due and not yet taken.
    pub fn backlog(&self) -> u64 {
        self.backlog_len
    }

    /// Messages that fell due so far.
    pub fn scheduled(&self) -> u64 {
        self.scheduled
    }

    /// From `at` on (not before the steps already released), `rate` messages a second.
    pub fn set_rate(&mut self, at: Instant, rate: f64) {
        let released = STEP * u32::try_from(self.steps).unwrap_or(u32::MAX);
        let at = at.saturating_duration_since(self.start).max(released);
        self.curve.set_rate(at, rate);
    }

    /// No message falls due from `end` on.
    pub fn set_end(&mut self, end: Instant) {
        self.end = Some(end);
    }

    /// Drops the backlog (the run is ending); returns how many messages it held.
    pub fn clear(&mut self) -> u64 {
        self.backlog.clear();
        std::mem::take(&mut self.backlog_len)
    }

    /// Messages of the whole timetable that have not fallen due yet.
    pub fn not_yet_due(&mut self) -> u64 {
        let planned = match self.end {
            Some(end) => self.due_by(steps_until(self.start, end)),
            // Without an end the run has a message count.
            None => self.messages.unwrap_or(0),
        };
        planned.saturating_sub(self.scheduled)
    }

    /// The messages due by the end of step `steps`, in all.
    fn due_by(&mut self, steps: u64) -> u64 {
        let t = STEP * u32::try_from(steps).unwrap_or(u32::MAX);
        // A hair over, so that 2.9999999999999996 due (rounding) counts as 3.
        let due = (self.curve.due_by(t) + 1e-6) as u64;
        self.messages.map_or(due, |m| due.min(m))
    }
}

/// The time from `now` to the next step of a schedule that began at `start` (the first step
/// if it has not come yet): where a periodic timer must first expire to tick on the grid.
pub fn until_next_step(start: Instant, now: Instant) -> Duration {
    let next = steps_until(start, now) + 1;
    let at = start + STEP * u32::try_from(next).unwrap_or(u32::MAX);
    at.saturating_duration_since(now)
}

/// Whole steps from `start` to `t`.
fn steps_until(start: Instant, t: Instant) -> u64 {
    (t.saturating_duration_since(start).as_nanos() / STEP.as_nanos()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Takes every due message; returns their scheduled times, in ms from `start`.
    fn take_all(schedule: &mut Schedule, start: Instant) -> Vec<u128> {
        std::iter::from_fn(|| schedule.take())
            .map(|at| (at - start).as_millis())
            .collect()
    }

    /// At 500 msgs/s a message falls due every other step, stamped with its step's time.
    #[test]
    fn messages_fall_due_on_the_grid() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(t0, Curve::constant(500.0), None, None);
        assert_eq!(schedule.release(t0 + ms(7) + ms(1) / 2, |_, _| ()), 0);
        assert_eq!(schedule.backlog(), 3);
        assert_eq!(take_all(&mut schedule, t0), [2, 4, 6]);
        assert_eq!(schedule.backlog(), 0);
        schedule.release(t0 + ms(10), |_, _| ());
        assert_eq!(take_all(&mut schedule, t0), [8, 10]);
        assert_eq!(schedule.scheduled(), 5);
    }

    /// Several messages due in one step leave together, with the same scheduled time.
    #[test]
    fn a_step_can_hold_many() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(t0, Curve::constant(3000.0), None, None);
        schedule.release(t0 + ms(2), |_, _| ());
        assert_eq!(take_all(&mut schedule, t0), [1, 1, 1, 2, 2, 2]);
    }

    /// Nothing falls due past the end or beyond the message count; what is left of the
    /// timetable is known.
    #[test]
    fn stops_at_the_end_or_the_count() {
        let t0 = Instant::now();
        let mut by_time = Schedule::new(t0, Curve::constant(1000.0), None, Some(t0 + ms(5)));
        assert_eq!(by_time.not_yet_due(), 5);
        by_time.release(t0 + ms(3), |_, _| ());
        assert_eq!(by_time.not_yet_due(), 2);
        by_time.release(t0 + ms(100), |_, _| ());
        assert_eq!(by_time.scheduled(), 5);
        assert_eq!(by_time.not_yet_due(), 0);

        let mut by_count = Schedule::new(t0, Curve::constant(1000.0), Some(4), None);
        by_count.release(t0 + ms(100), |_, _| ());
        assert_eq!(by_count.scheduled(), 4);
        assert_eq!(by_count.clear(), 4);
        assert_eq!(by_count.take(), None);
    }

    /// Messages that fall due with the backlog full are dropped and counted, not kept.
    #[test]
    fn a_full_backlog_drops() {
        let t0 = Instant::now();
        let per_step = MAX_BACKLOG;
        let rate = per_step as f64 / STEP.as_secs_f64();
        let mut schedule = Schedule::new(t0, Curve::constant(rate), None, None);
        assert_eq!(schedule.release(t0 + ms(1), |_, _| ()), 0);
        assert_eq!(schedule.release(t0 + ms(2), |_, _| ()), per_step);
        assert_eq!(schedule.backlog(), MAX_BACKLOG);
        assert_eq!(schedule.scheduled(), 2 * per_step);
    }

    /// A timer started late still ticks on the grid: its first expiry is the next step.
    #[test]
    fn the_timer_keeps_to_the_grid() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        assert_eq!(until_next_step(t0, t0), ms(1));
        assert_eq!(until_next_step(t0, t0 + us(300)), us(700));
        assert_eq!(until_next_step(t0, t0 + us(2300)), us(700));
        assert_eq!(until_next_step(t0, t0 + ms(3)), ms(1));
    }

    /// A new rate applies from its time on; each released step is told with its count.
    #[test]
    fn set_rate_and_due_steps() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(t0, Curve::constant(1000.0), None, None);
        let mut seen = Vec::new();
        schedule.release(t0 + ms(2), |at, n| seen.push(((at - t0).as_millis(), n)));
        assert_eq!(seen, [(1, 1), (2, 1)]);
        schedule.set_rate(t0 + ms(2), 3000.0);
        schedule.release(t0 + ms(4), |at, n| seen.push(((at - t0).as_millis(), n)));
        assert_eq!(seen[2..], [(3, 3), (4, 3)]);
        schedule.set_end(t0 + ms(5));
        assert_eq!(schedule.not_yet_due(), 3);
    }
}
