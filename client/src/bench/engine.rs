//! The bench engine: each worker thread runs one [`Driver`], a mio event loop over its share
//! of the connections (no thread per connection). The driver starts messages closed loop (as
//! answers come) or open loop (on the [`Schedule`]), hands them to connections ([`Slot`]s),
//! feeds what arrives to each connection's answer checker, moves the run through its
//! [`Phase`]s, and reports once a second to the main thread through a [`Meter`]. The
//! timetable, the phases, the answer checker and the figures are sans-IO and tested on their
//! own; this loop and the slots do the I/O.
//!
//! Open loop wakes on a periodic timerfd of one schedule [`STEP`], so a batch of due messages
//! leaves at its scheduled time. With `--find-max` the main thread steers the rate while the
//! run goes on ([`Control`]), on the same connections. A run stopped early (the plan's
//! [`StopHandle`](super::stop::StopHandle): a signal, a dashboard's key) ends as if its time
//! were up, seen on the loop's next turn (within 100 ms). How connections open, are
//! counted, refused, fail and end is in `lifecycle`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::checker::Msg;
use super::failure::Reason;
use super::greeting::Greeting;
use super::phase::{Change, Phase};
use super::plan::Plan;
use super::schedule::{until_next_step, Schedule, STEP};
use super::series::{Meter, SecondReport};
use super::slot::{End, Slot, State};
use crate::sys::{interrupted, periodic_timer, read_expiries};

mod lifecycle;

/// How often in-flight messages are checked against the answer timeout.
const TIMEOUT_CHECK: Duration = Duration::from_millis(100);

/// Events taken per wake-up: enough that a busy loop rarely needs a second `epoll_wait` for
/// what is already ready.
const EVENTS_PER_POLL: usize = 1024;

/// The read buffer shared by a worker's connections: many pipelined answers per read.
const READ_BUF: usize = 64 * 1024;

/// The open-loop step timer's token (connections use their slot index).
const STEP_TIMER: Token = Token(usize::MAX - 1);

/// What the main thread tells a worker while it runs (`--find-max`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// From now on, this many messages a second (this worker's share). Messages due but not
    /// yet sent are dropped (counted unsent), so a step starts from a clean slate instead of
    /// the previous step's queue.
    Rate(f64),
    /// Start no new message: the run ends.
    Stop,
}

/// Runs one worker until its plan is done; reports on `tx`, takes orders from `control`.
pub fn run_worker(
    plan: Plan,
    tx: Sender<SecondReport>,
    control: Option<Receiver<Control>>,
) -> io::Result<()> {
    let mut driver = Driver::new(plan)?;
    driver.control = control;
    driver.run(&tx)
}

/// One worker thread's event loop over its connections.
pub struct Driver {
    plan: Plan,
    poll: Poll,
    slots: Vec<Slot>,
    /// Open loop: the timetable, and its periodic step timer (kept alive while registered).
    schedule: Option<(Schedule, OwnedFd)>,
    /// Closed loop: new messages started so far.
    started: u64,
    /// Messages of closed connections, to send again (`--reconnect`).
    resend: VecDeque<Msg>,
    /// Slots that may take another message.
    ready: VecDeque<usize>,
    /// Slots waiting to (re)connect, by time (an entry is stale if the slot moved on).
    opens: BinaryHeap<Reverse<(Instant, usize)>>,
    phase: Phase,
    next_timeout_check: Instant,
    meter: Meter,
    /// Orders from the main thread, if it steers the run.
    control: Option<Receiver<Control>>,
    /// The run was stopped early (through `plan.stop`) and this worker has stopped sending.
    stopped: bool,
    buf: Vec<u8>,
    /// Room for the expected answer of a message being queued.
    scratch: Vec<u8>,
}

impl Driver {
    /// A driver for the plan's connections, none opened yet.
    pub fn new(plan: Plan) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let schedule = match &plan.rate {
            Some(curve) => {
                // Expire on the schedule's grid (start + k steps), so a batch leaves at its
                // scheduled time, even when the worker starts more than a step after the run.
                let first = until_next_step(plan.start, Instant::now());
                let timer = periodic_timer(first, STEP)?;
                poll.registry().register(
                    &mut SourceFd(&timer.as_raw_fd()),
                    STEP_TIMER,
                    Interest::READABLE,
                )?;
                let schedule = Schedule::new(plan.start, curve.clone(), plan.messages, plan.end);
                Some((schedule, timer))
            }
            None => None,
        };
        let slots: Vec<Slot> = plan
            .ids
            .iter()
            .map(|&id| {
                let delay = plan
                    .connect_interval
                    .map_or(Duration::ZERO, |d| d.mul_f64(id as f64));
                let server = id as usize % plan.addrs.len();
                let tls = plan.tls.as_ref().and_then(|t| t.get(server)).cloned();
                Slot::new(id, plan.addrs[server], tls, plan.start + delay)
            })
            .collect();
        let opens = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.state {
                State::Waiting { at } => Some(Reverse((at, i))),
                _ => None,
            })
            .collect();
        Ok(Driver {
            meter: Meter::new(
                plan.worker,
                plan.start,
                plan.warmup_end,
                plan.payload.size,
                plan.rate.is_some(),
            ),
            control: None,
            stopped: false,
            next_timeout_check: plan.start + TIMEOUT_CHECK,
            plan,
            poll,
            slots,
            schedule,
            started: 0,
            resend: VecDeque::new(),
            ready: VecDeque::new(),
            opens,
            phase: Phase::Running,
            buf: vec![0; READ_BUF],
            scratch: Vec::new(),
        })
    }

    /// Runs until every connection is done, then sends the final report.
    pub fn run(mut self, tx: &Sender<SecondReport>) -> io::Result<()> {
        // The main thread is gone only if it is ending; nothing left to report to then.
        let send = |report| drop(tx.send(report));
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let now = Instant::now();
            self.obey(now);
            self.open_due(now);
            self.advance_phase(now);
            if self.finished() {
                break;
            }
            self.release_due(now);
            self.assign(now);
            self.meter.cut(now, false, send);
            if now >= self.next_timeout_check {
                self.check_timeouts(now);
                self.next_timeout_check = now + TIMEOUT_CHECK;
            }
            let timeout = self.poll_timeout(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                self.on_event(event);
            }
        }
        self.meter.counts.unsent += self.never_sent();
        self.meter.cut(Instant::now(), true, send);
        Ok(())
    }

    /// Follows the main thread's orders, if any came, and stops sending once the run is
    /// stopped early.
    fn obey(&mut self, now: Instant) {
        if !self.stopped && self.plan.stop.stopped().is_some() {
            self.stopped = true;
            self.stop_sending(now);
        }
        let Some(control) = &self.control else {
            return;
        };
        let order = match control.try_recv() {
            Ok(order) => order,
            Err(TryRecvError::Empty) => return,
            // The main thread is gone: it is ending, so the run ends too.
            Err(TryRecvError::Disconnected) => Control::Stop,
        };
        match order {
            Control::Rate(rate) => {
                self.release_due(now);
                if let Some((schedule, _)) = &mut self.schedule {
                    self.meter.counts.unsent += schedule.clear();
                    schedule.set_rate(now, rate);
                }
            }
            Control::Stop => {
                self.control = None;
                self.stop_sending(now);
            }
        }
    }

    /// The run ends now, as if its time were up: no message falls due or starts from now on,
    /// and those not yet due or started are not owed (so not counted unsent).
    fn stop_sending(&mut self, now: Instant) {
        self.plan.end = Some(self.plan.end.map_or(now, |end| end.min(now)));
        if let Some((schedule, _)) = &mut self.schedule {
            schedule.set_end(now);
        } else if let Some(m) = &mut self.plan.messages {
            *m = (*m).min(self.started);
        }
    }

    /// Every connection is done.
    fn finished(&self) -> bool {
        self.slots.iter().all(|s| s.state == State::Done)
    }

    /// Whatever was owed when the last connection ended: closed loop, the messages not
    /// started; open loop, the rest of the timetable, due whether or not a connection was
    /// left to send it. Plus what waited in the backlog or to be sent again.
    fn never_sent(&mut self) -> u64 {
        let owed = match (&mut self.schedule, self.plan.messages) {
            (Some((schedule, _)), _) => schedule.backlog() + schedule.not_yet_due(),
            (None, Some(m)) => m.saturating_sub(self.started),
            (None, None) => 0,
        };
        owed + self.resend.len() as u64
    }

    /// When the loop must wake at the latest.
    fn poll_timeout(&self, now: Instant) -> Duration {
        let mut next = self.meter.second_end().min(self.next_timeout_check);
        if let Some(phase) = self.phase.wake_by(self.plan.end) {
            next = next.min(phase);
        }
        if let Some(Reverse((at, _))) = self.opens.peek() {
            next = next.min(*at);
        }
        next.saturating_duration_since(now)
    }

    fn on_event(&mut self, event: &Event) {
        if event.token() == STEP_TIMER {
            // Re-arm the edge; release_due does the work.
            if let Some((_, timer)) = &self.schedule {
                read_expiries(timer);
            }
            return;
        }
        let i = event.token().0;
        if self.slots[i].state == State::Connecting {
            self.finish_connect(i);
        }
        let writes = match self.slots[i].state {
            State::Open | State::Handshaking => true,
            // TLS: close_notify may still be on its way.
            State::Closing => self.slots[i].is_tls(),
            _ => false,
        };
        if event.is_writable() && writes {
            self.flush(i);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(i, event.is_read_closed() || event.is_error());
        }
    }

    /// Whether new messages may start at `now`.
    fn sending_allowed(&self, now: Instant) -> bool {
        self.phase.running() && self.plan.end.is_none_or(|end| now < end)
    }

    /// Whether the run's message count has been started (or scheduled).
    fn budget_done(&self) -> bool {
        let begun = match &self.schedule {
            Some((schedule, _)) => schedule.scheduled(),
            None => self.started,
        };
        self.plan.messages.is_some_and(|m| begun >= m)
    }

    /// Nothing is in flight or owed any more.
    fn idle(&self) -> bool {
        let backlog = self.schedule.as_ref().map_or(0, |(s, _)| s.backlog());
        backlog == 0 && self.resend.is_empty() && self.slots.iter().all(|s| s.checker.is_empty())
    }

    /// Moves the run through its phases (see [`Phase`]).
    fn advance_phase(&mut self, now: Instant) {
        if self.phase.running() {
            // Messages due up to the end are released before the schedule stops.
            self.release_due(now);
        }
        let stop = self.budget_done() || self.plan.end.is_some_and(|end| now >= end);
        let mut phase = self.phase;
        let change = phase.advance(now, self.plan.timeout, stop, || self.idle());
        self.phase = phase;
        match change {
            Some(Change::Close) => self.start_closing(),
            Some(Change::GiveUp) => {
                for i in 0..self.slots.len() {
                    if matches!(self.slots[i].state, State::Open | State::Closing) {
                        // Open and never refused: the server had accepted it.
                        self.confirm(i);
                    }
                    if self.slots[i].state != State::Done {
                        self.meter.counts.timeouts += self.slots[i].checker.expire_all() as u64;
                        self.retire(i);
                    }
                }
            }
            None => {}
        }
    }

    /// Drops what is still owed (counted unsent), half-closes the open connections and gives
    /// up those not open. Messages still unanswered are timeouts now, but their answers stay
    /// awaited while the server finishes: late bytes are still checked, never taken for bytes
    /// nobody asked for.
    fn start_closing(&mut self) {
        let backlog = self.schedule.as_mut().map_or(0, |(s, _)| s.clear());
        self.meter.counts.unsent += backlog + self.resend.len() as u64;
        self.resend.clear();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            match slot.state {
                State::Open => {
                    self.meter.counts.timeouts += slot.checker.expire_all() as u64;
                    slot.half_close();
                }
                State::Closing | State::Done => {}
                State::Waiting { .. } | State::Connecting | State::Handshaking => self.retire(i),
            }
        }
    }

    /// Starts connections whose time has come; once no new message may start, a connection
    /// not yet open is given up (unless messages wait to be re-sent).
    fn open_due(&mut self, now: Instant) {
        let give_up = !self.phase.running() && self.resend.is_empty();
        while let Some(&Reverse((at, i))) = self.opens.peek() {
            if at > now && !give_up {
                break;
            }
            self.opens.pop();
            if self.slots[i].state != (State::Waiting { at }) {
                continue; // stale entry
            }
            if give_up {
                self.retire(i);
            } else if let Err(e) = self.slots[i].connect(self.poll.registry(), Token(i), now) {
                self.connect_failed(i, now, Reason::of(&e));
            }
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let now = Instant::now();
        match self.slots[i].finish_connect(self.poll.registry(), now) {
            None => {}
            Some(Err(reason)) => self.connect_failed(i, now, reason),
            // TLS: open once the handshake is complete.
            Some(Ok(())) if self.slots[i].state == State::Handshaking => {}
            Some(Ok(())) => {
                self.opened(i, now);
                self.make_ready(i);
                self.fill(i, Instant::now());
            }
        }
    }

    /// Queues a connection that may take another message.
    fn make_ready(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if !slot.ready && slot.has_room(self.plan.pipeline) {
            slot.ready = true;
            self.ready.push_back(i);
        }
    }

    /// Open loop: turns elapsed steps into due messages.
    fn release_due(&mut self, now: Instant) {
        if !self.phase.running() {
            return;
        }
        if let Some((schedule, _)) = &mut self.schedule {
            let meter = &mut self.meter;
            meter.counts.unsent += schedule.release(now, |at, count| meter.due(at, count));
        }
    }

    /// Hands owed messages (re-sends first, then the open-loop backlog) to connections with
    /// room, round robin.
    fn assign(&mut self, now: Instant) {
        let owed = |d: &Driver| {
            !d.resend.is_empty() || d.schedule.as_ref().is_some_and(|(s, _)| s.backlog() > 0)
        };
        // Messages taken from the schedule, as (scheduled time, count) of the batch under way:
        // one lag record per batch, not per message.
        let mut batch: Option<(Instant, u64)> = None;
        while owed(self) {
            let Some(i) = self.ready.pop_front() else {
                break;
            };
            self.slots[i].ready = false;
            if self.slots[i].state != State::Open {
                continue;
            }
            while self.slots[i].has_room(self.plan.pipeline) {
                if self.resend_one(i, now) {
                    continue;
                } else if let Some(at) = self.schedule.as_mut().and_then(|(s, _)| s.take()) {
                    batch = match batch {
                        Some((t, n)) if t == at => Some((t, n + 1)),
                        Some((t, n)) => {
                            self.meter.lagged(t, now, n);
                            Some((at, 1))
                        }
                        None => Some((at, 1)),
                    };
                    let msg = self.slots[i].new_message(at, now);
                    self.enqueue(i, msg);
                } else {
                    break;
                }
            }
            self.flush(i);
            self.make_ready(i);
        }
        if let Some((t, n)) = batch {
            self.meter.lagged(t, now, n);
        }
    }

    /// Closed loop: keeps the connection's pipeline full: messages owed again first (so they
    /// are not starved by new ones until the run's end), then new messages.
    fn fill(&mut self, i: usize, now: Instant) {
        if self.schedule.is_some() {
            return;
        }
        while self.slots[i].has_room(self.plan.pipeline) {
            if self.resend_one(i, now) {
                continue;
            }
            if !self.sending_allowed(now) || self.plan.messages.is_some_and(|m| self.started >= m) {
                break;
            }
            self.started += 1;
            let msg = self.slots[i].new_message(now, now);
            self.enqueue(i, msg);
        }
        self.flush(i);
    }

    /// Queues on connection `i` the oldest message waiting to be sent again, if one is.
    fn resend_one(&mut self, i: usize, now: Instant) -> bool {
        let Some(mut msg) = self.resend.pop_front() else {
            return false;
        };
        self.meter.counts.resent += 1;
        msg.sent_at = now;
        self.enqueue(i, msg);
        true
    }

    /// Adds a message to a connection's output and its answer to those awaited.
    fn enqueue(&mut self, i: usize, msg: Msg) {
        self.slots[i].queue(&self.plan.payload, msg, &mut self.scratch);
        self.meter.sent(msg.base);
    }

    /// Writes what the connection has pending.
    fn flush(&mut self, i: usize) {
        if let Err(reason) = self.slots[i].flush() {
            self.end(i, End::Broken(reason));
        }
    }

    /// Reads and checks what arrived, then tops the connection up.
    fn on_readable(&mut self, i: usize, hup: bool) {
        let Driver {
            slots, buf, meter, ..
        } = self;
        let handshaking = slots[i].state == State::Handshaking;
        let received = slots[i].receive(buf, hup, |checker, data| {
            let now = Instant::now();
            meter.counts.bytes_in += data.len() as u64;
            checker.feed(data, |msg, completion| {
                meter.answered(msg.base, msg.sent_at, completion, now);
            })
        });
        if handshaking {
            let now = Instant::now();
            if self.slots[i].state == State::Open {
                self.opened(i, now);
                self.make_ready(i);
            } else if let Err(how) = received {
                // Still handshaking: a failed connection attempt, not a connection lost.
                let reason = match how {
                    End::Broken(reason) | End::Refused(reason) => reason,
                    End::Closed | End::Mismatch(_) => Reason::Tls(
                        "the server closed the connection during the TLS handshake".to_owned(),
                    ),
                };
                self.connect_failed(i, now, reason);
                return;
            }
        }
        if self.slots[i].greeting == Greeting::Shown {
            self.confirm(i);
        }
        if let Err(how) = received {
            self.end(i, how);
            return;
        }
        self.fill(i, Instant::now());
        self.make_ready(i);
    }
}
