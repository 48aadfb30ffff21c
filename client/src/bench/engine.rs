//! The bench engine: each worker thread runs one mio event loop over its share of the
//! connections (no thread per connection), sends messages closed or open loop, checks every
//! answer byte (one [`Checker`] per connection), and reports once a second to the main thread.
//!
//! System calls per message are kept to one write and one read: sockets are registered once,
//! edge-triggered, for both directions; a read shorter than the buffer means the socket is
//! drained (the next arrival raises a new edge), and a write that takes everything needs no
//! writability wait. Open loop releases messages on a 1 ms periodic timerfd.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use shout_common::Mode;

use super::checker::{Checker, Completion, Mismatch, Msg};
use super::failure::{Failures, Reason};
use super::payload::{expected_answer, write_message};

/// The open-loop schedule's resolution: messages due within one tick leave together.
pub const TICK: Duration = Duration::from_millis(1);

/// The most due-but-unsent open-loop messages a worker keeps before it counts more as unsent.
const MAX_BACKLOG: u64 = 1_000_000;

/// The first and longest pauses between reconnection attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How often in-flight messages are checked against the answer timeout.
const TIMEOUT_CHECK: Duration = Duration::from_millis(100);

/// How often, once no new message starts, the worker checks whether all are answered.
const FINISH_CHECK: Duration = Duration::from_millis(5);

const TIMER: Token = Token(usize::MAX - 1);

/// What every worker is told to do (shared, read-only).
#[derive(Debug)]
pub struct Plan {
    /// Server addresses; connection `i` goes to `addrs[i % len]`.
    pub addrs: Vec<SocketAddr>,
    /// The answer to expect.
    pub mode: Mode,
    /// Bytes per message, newline included.
    pub size: usize,
    /// Messages in flight per connection at most.
    pub pipeline: usize,
    /// Open loop: this worker's messages per second. `None`: closed loop.
    pub rate: Option<f64>,
    /// Messages this worker starts in all (`None`: until `end`).
    pub messages: Option<u64>,
    /// When the run started; the schedule, ticks and latencies count from here.
    pub start: Instant,
    /// Messages scheduled before this are run but left out of the figures.
    pub warmup_end: Instant,
    /// No new message is started from this time (`None`: until the message count is reached).
    pub end: Option<Instant>,
    /// Pause between connection openings: connection `id` opens at `start + id * interval`
    /// (`None`: all at once).
    pub connect_interval: Option<Duration>,
    /// Reopen connections the server closes, and send their unanswered messages again.
    pub reconnect: bool,
    /// An answer later than this is a timeout; also the limit for connecting and closing.
    pub timeout: Duration,
    /// Seed of the payload generator.
    pub seed: u64,
}

/// Counters, per interval or in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Messages written (re-sent ones included).
    pub sent: u64,
    /// Messages answered exactly.
    pub completed: u64,
    /// Completed messages outside the warm-up (the figures).
    pub measured: u64,
    /// Bytes written, all messages.
    pub bytes_out: u64,
    /// Bytes of answers read, all messages.
    pub bytes_in: u64,
    /// Bytes written and read for measured messages.
    pub measured_bytes_out: u64,
    /// Answer bytes of measured messages.
    pub measured_bytes_in: u64,
    /// Answers that differed from the expected bytes (or bytes nobody asked for). A late
    /// answer is not a mismatch: only a wrong byte is.
    pub mismatches: u64,
    /// Messages whose connection ended before their answer was complete.
    pub short: u64,
    /// Messages not answered within the timeout (each counted once, whatever came later).
    pub timeouts: u64,
    /// Timed-out messages whose answer came later and was exact (also in `timeouts`).
    pub late: u64,
    /// Connections the server closed or reset while they were in use.
    pub conn_errors: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// Connections that failed on their very first attempt.
    pub setup_failures: u64,
    /// Connections opened (reopened ones included).
    pub opened: u64,
    /// Connections opened again after the server closed them (`--reconnect`).
    pub reopened: u64,
    /// Messages sent again on a new connection after theirs was closed (`--reconnect`).
    pub resent: u64,
    /// Open-loop messages that were due but never sent (the client could not keep up, or no
    /// connection could take them).
    pub unsent: u64,
}

impl Counts {
    /// Adds `other` to `self`.
    pub fn add(&mut self, o: &Counts) {
        self.sent += o.sent;
        self.completed += o.completed;
        self.measured += o.measured;
        self.bytes_out += o.bytes_out;
        self.bytes_in += o.bytes_in;
        self.measured_bytes_out += o.measured_bytes_out;
        self.measured_bytes_in += o.measured_bytes_in;
        self.mismatches += o.mismatches;
        self.short += o.short;
        self.timeouts += o.timeouts;
        self.late += o.late;
        self.conn_errors += o.conn_errors;
        self.connect_failures += o.connect_failures;
        self.setup_failures += o.setup_failures;
        self.opened += o.opened;
        self.reopened += o.reopened;
        self.resent += o.resent;
        self.unsent += o.unsent;
    }

    /// Errors of any kind (connection trouble healed by `--reconnect` aside).
    pub fn errors(&self, reconnect: bool) -> u64 {
        let conn = if reconnect { 0 } else { self.conn_errors };
        self.mismatches + self.short + self.timeouts + conn
    }
}

/// A worker's report for one second of the run (the last one may be partial).
#[derive(Debug)]
pub struct Tick {
    /// Which second since the start.
    pub second: u64,
    /// Counts during that second.
    pub counts: Counts,
    /// Latencies (µs) of measured messages completed during that second.
    pub hist: Histogram<u64>,
    /// When the last measured message completed, if one did.
    pub last_completion: Option<Instant>,
    /// Why connections failed during that second.
    pub failures: Failures,
    /// This is the worker's final report.
    pub last: bool,
}

/// A new latency histogram: 1 µs to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting to open (first time at `at`, or again after a failure).
    Waiting {
        at: Instant,
    },
    Connecting,
    Open,
    /// Half-closed by us at the end: waiting for the server to finish and close.
    Draining,
    /// Finished for good.
    Dead,
}

struct Slot {
    /// Global connection number (payload origin, address choice).
    id: u64,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    state: State,
    /// Bytes to write: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The messages in flight and the answers they must get.
    checker: Checker,
    next_seq: u64,
    ever_opened: bool,
    /// When the current connection attempt began.
    connect_started: Instant,
    backoff: Duration,
    /// Queued in the worker's ready list.
    ready: bool,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server closed it (end of stream).
    Closed,
    /// Reset or another I/O error.
    Broken(Reason),
    /// An answer byte was wrong, or bytes came that nobody asked for.
    Mismatch(Mismatch),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Starting new messages.
    Running,
    /// No new messages; waiting for what is in flight or owed.
    Finishing,
    /// Half-closed; waiting for the servers to close.
    Draining,
}

/// Runs one worker over the connections `ids` until the plan is done; reports on `tx`.
pub fn run_worker(plan: Arc<Plan>, ids: Vec<u64>, tx: Sender<Tick>) -> io::Result<()> {
    Worker::new(plan, ids, tx)?.run()
}

struct Worker {
    plan: Arc<Plan>,
    poll: Poll,
    slots: Vec<Slot>,
    /// Open loop: the periodic tick timer (kept alive while registered).
    timer: Option<OwnedFd>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
    /// Messages of closed connections, to send again (`--reconnect`).
    resend: VecDeque<Msg>,
    /// Open loop: messages due but not yet sent, as (scheduled tick, count).
    backlog: VecDeque<(Instant, u64)>,
    backlog_len: u64,
    /// Open loop: ticks released so far, and messages scheduled so far.
    ticks_done: u64,
    scheduled: u64,
    /// Closed loop: new messages started so far.
    started: u64,
    /// Slots that may take another message.
    ready: VecDeque<usize>,
    /// Slots waiting to (re)connect, by time (an entry is stale if the slot moved on).
    opens: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Slots not dead yet.
    alive: usize,
    phase: Phase,
    phase_deadline: Option<Instant>,
    next_finish_check: Instant,
    counts: Counts,
    failures: Failures,
    hist: Histogram<u64>,
    last_completion: Option<Instant>,
    second: u64,
    next_timeout_check: Instant,
    tx: Sender<Tick>,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

impl Worker {
    fn new(plan: Arc<Plan>, ids: Vec<u64>, tx: Sender<Tick>) -> io::Result<Worker> {
        let poll = Poll::new()?;
        let timer = match plan.rate {
            Some(_) => Some(tick_timer(&poll, plan.start)?),
            None => None,
        };
        let slots: Vec<Slot> = ids
            .iter()
            .map(|&id| {
                let at = plan.start
                    + plan
                        .connect_interval
                        .map_or(Duration::ZERO, |d| d.mul_f64(id as f64));
                Slot {
                    id,
                    addr: plan.addrs[id as usize % plan.addrs.len()],
                    stream: None,
                    state: State::Waiting { at },
                    out: Vec::new(),
                    out_pos: 0,
                    checker: Checker::new(),
                    next_seq: 0,
                    ever_opened: false,
                    connect_started: at,
                    backoff: FIRST_BACKOFF,
                    ready: false,
                }
            })
            .collect();
        let start = plan.start;
        let opens = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s): (usize, &Slot)| match s.state {
                State::Waiting { at } => Some(Reverse((at, i))),
                _ => None,
            })
            .collect();
        let alive = ids.len();
        Ok(Worker {
            plan,
            poll,
            slots,
            timer,
            buf: vec![0; 64 * 1024],
            scratch: Vec::new(),
            resend: VecDeque::new(),
            backlog: VecDeque::new(),
            backlog_len: 0,
            ticks_done: 0,
            scheduled: 0,
            started: 0,
            ready: VecDeque::new(),
            opens,
            alive,
            phase: Phase::Running,
            phase_deadline: None,
            next_finish_check: start,
            counts: Counts::default(),
            failures: Failures::default(),
            hist: new_histogram(),
            last_completion: None,
            second: 0,
            next_timeout_check: start + TIMEOUT_CHECK,
            tx,
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            self.open_due(now);
            self.advance_phase(now);
            if self.finished() {
                break;
            }
            self.release_due(now);
            self.assign(now);
            self.report_seconds(now, false);
            if now >= self.next_timeout_check {
                self.check_timeouts(now);
                self.next_timeout_check = now + TIMEOUT_CHECK;
            }
            let timeout = self.poll_timeout(Instant::now());
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                let token = event.token();
                if token == TIMER {
                    // Reset the expiry count so the next tick raises a new edge; release_due
                    // does the work.
                    if let Some(timer) = &self.timer {
                        let mut ticks = [0u8; 8];
                        let _ = rustix::io::read(timer, &mut ticks);
                    }
                    continue;
                }
                let i = token.0;
                if self.slots[i].state == State::Connecting {
                    self.finish_connect(i);
                }
                if event.is_writable() && self.slots[i].state == State::Open {
                    self.flush(i);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(i, event.is_read_closed() || event.is_error());
                }
            }
        }
        // Whatever was owed when the last connection ended was never sent: closed loop, the
        // messages not started; open loop, the rest of the schedule, due whether or not a
        // connection was left to send it.
        let never_started = match (self.plan.rate, self.plan.messages) {
            (None, Some(m)) => m.saturating_sub(self.started),
            (None, None) => 0,
            (Some(rate), _) => self.planned(rate).saturating_sub(self.scheduled),
        };
        self.counts.unsent += self.backlog_len + self.resend.len() as u64 + never_started;
        self.report_seconds(Instant::now(), true);
        Ok(())
    }

    /// When the loop must wake at the latest.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        let mut next = self.plan.start + Duration::from_secs(self.second + 1);
        next = next.min(self.next_timeout_check);
        if let Some(deadline) = self.phase_deadline {
            next = next.min(deadline);
        }
        if let (Phase::Running, Some(end)) = (self.phase, self.plan.end) {
            next = next.min(end);
        }
        if self.phase == Phase::Finishing {
            next = next.min(self.next_finish_check);
        }
        if let Some(Reverse((at, _))) = self.opens.peek() {
            next = next.min(*at);
        }
        Some(next.saturating_duration_since(now))
    }

    fn finished(&self) -> bool {
        self.alive == 0
    }

    /// Puts a slot in the waiting state until `at`.
    fn wait_until(&mut self, i: usize, at: Instant) {
        self.slots[i].state = State::Waiting { at };
        self.opens.push(Reverse((at, i)));
    }

    fn sending_allowed(&self, now: Instant) -> bool {
        self.phase == Phase::Running && self.plan.end.is_none_or(|end| now < end)
    }

    /// Moves to finishing when no new message may start, and to draining once nothing is in
    /// flight or owed (or the timeout for that passed).
    fn advance_phase(&mut self, now: Instant) {
        if self.phase == Phase::Running {
            // Messages due up to the end are released before the schedule stops.
            self.release_due(now);
            let budget_done = self.plan.messages.is_some_and(|m| match self.plan.rate {
                Some(_) => self.scheduled >= m,
                None => self.started >= m,
            });
            let time_up = self.plan.end.is_some_and(|end| now >= end);
            if budget_done || time_up {
                self.phase = Phase::Finishing;
                self.phase_deadline = Some(now + self.plan.timeout);
            }
        }
        if self.phase == Phase::Finishing && now >= self.next_finish_check {
            self.next_finish_check = now + FINISH_CHECK;
            let idle = self.backlog_len == 0
                && self.resend.is_empty()
                && self
                    .slots
                    .iter()
                    .all(|s| s.checker.is_empty() || s.state == State::Dead);
            let late = self.phase_deadline.is_some_and(|d| now >= d);
            if idle || late {
                self.counts.unsent += self.backlog_len + self.resend.len() as u64;
                self.backlog.clear();
                self.backlog_len = 0;
                self.resend.clear();
                self.phase = Phase::Draining;
                self.phase_deadline = Some(now + self.plan.timeout);
                for i in 0..self.slots.len() {
                    self.start_draining(i);
                }
            }
        } else if self.phase == Phase::Draining && self.phase_deadline.is_some_and(|d| now >= d) {
            for i in 0..self.slots.len() {
                if self.slots[i].state != State::Dead {
                    self.counts.timeouts += self.slots[i].checker.expire_all() as u64;
                    self.kill(i);
                }
            }
        }
    }

    /// Half-closes an open connection, or gives up a connection that is not open. Messages
    /// still unanswered are timeouts now, but their answers stay awaited while the server
    /// finishes: late bytes are still checked, never taken for bytes nobody asked for.
    fn start_draining(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        match slot.state {
            State::Open => {
                self.counts.timeouts += slot.checker.expire_all() as u64;
                if let Some(stream) = &slot.stream {
                    let _ = stream.shutdown(Shutdown::Write);
                }
                slot.state = State::Draining;
            }
            State::Draining | State::Dead => {}
            State::Waiting { .. } | State::Connecting => self.kill(i),
        }
    }

    fn kill(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.state != State::Dead {
            self.alive -= 1;
        }
        if let Some(mut stream) = slot.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        slot.state = State::Dead;
        slot.out.clear();
        slot.out_pos = 0;
        slot.checker = Checker::new();
    }

    /// Starts connections whose time has come; once no new message may start, a connection
    /// not yet open is given up (unless messages wait to be re-sent).
    fn open_due(&mut self, now: Instant) {
        let give_up = self.phase != Phase::Running && self.resend.is_empty();
        while let Some(&Reverse((at, i))) = self.opens.peek() {
            if at > now && !give_up {
                break;
            }
            self.opens.pop();
            if self.slots[i].state != (State::Waiting { at }) {
                continue; // stale entry
            }
            if give_up {
                self.kill(i);
            } else {
                self.connect(i, now);
            }
        }
    }

    fn connect(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        let result = TcpStream::connect(slot.addr).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match result {
            Ok(stream) => {
                slot.stream = Some(stream);
                slot.state = State::Connecting;
                slot.connect_started = now;
            }
            Err(e) => self.connect_failed(i, now, Reason::of(&e)),
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let Some(stream) = &slot.stream else { return };
        let failure = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(Reason::of(&e)),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => None,
                // Not connected yet: a spurious wake-up; wait for the next event.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Some(Reason::of(&e)),
            },
        };
        if let Some(reason) = failure {
            if let Some(mut stream) = slot.stream.take() {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            self.connect_failed(i, Instant::now(), reason);
            return;
        }
        let _ = stream.set_nodelay(true);
        slot.state = State::Open;
        slot.backoff = FIRST_BACKOFF;
        self.counts.opened += 1;
        if slot.ever_opened {
            self.counts.reopened += 1;
        }
        slot.ever_opened = true;
        self.make_ready(i);
        self.fill(i, Instant::now());
    }

    fn connect_failed(&mut self, i: usize, now: Instant, reason: Reason) {
        self.counts.connect_failures += 1;
        self.failures.connect.add(reason);
        let slot = &mut self.slots[i];
        if !slot.ever_opened {
            self.counts.setup_failures += 1;
        }
        if self.plan.reconnect && slot.ever_opened && self.phase < Phase::Draining {
            let at = now + slot.backoff;
            slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
            self.wait_until(i, at);
        } else {
            self.kill(i);
        }
    }

    fn make_ready(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if !slot.ready && slot.state == State::Open && slot.checker.len() < self.plan.pipeline {
            slot.ready = true;
            self.ready.push_back(i);
        }
    }

    /// Open loop: the messages due by the end of tick `ticks` since the start, in all.
    fn due_by(&self, rate: f64, ticks: u64) -> u64 {
        let due = (rate * (ticks as f64) * TICK.as_secs_f64()) as u64;
        self.plan.messages.map_or(due, |m| due.min(m))
    }

    /// Open loop: the whole schedule, in messages.
    fn planned(&self, rate: f64) -> u64 {
        match self.plan.end {
            Some(end) => self.due_by(rate, ticks_until(self.plan.start, end)),
            // Without an end the run has a message count (see `execute`).
            None => self.plan.messages.unwrap_or(0),
        }
    }

    /// Open loop: turns elapsed ticks into due messages.
    fn release_due(&mut self, now: Instant) {
        let Some(rate) = self.plan.rate else { return };
        if self.phase != Phase::Running {
            return;
        }
        let limit = self.plan.end.map_or(now, |end| now.min(end));
        let ticks = ticks_until(self.plan.start, limit);
        while self.ticks_done < ticks {
            self.ticks_done += 1;
            let due_total = self.due_by(rate, self.ticks_done);
            let count = due_total.saturating_sub(self.scheduled);
            if count == 0 {
                continue;
            }
            self.scheduled += count;
            let at = self.plan.start + TICK * u32::try_from(self.ticks_done).unwrap_or(u32::MAX);
            if self.backlog_len + count > MAX_BACKLOG {
                self.counts.unsent += count;
                continue;
            }
            self.backlog.push_back((at, count));
            self.backlog_len += count;
        }
    }

    /// Hands owed messages (re-sends first, then the open-loop backlog) to connections with
    /// room, round robin.
    fn assign(&mut self, now: Instant) {
        while !self.resend.is_empty() || self.backlog_len > 0 {
            let Some(i) = self.ready.pop_front() else {
                break;
            };
            self.slots[i].ready = false;
            if self.slots[i].state != State::Open {
                continue;
            }
            while self.slots[i].checker.len() < self.plan.pipeline {
                if let Some(msg) = self.resend.pop_front() {
                    self.counts.resent += 1;
                    self.enqueue(i, msg.origin, msg.seq, msg.base, now);
                } else if let Some((at, count)) = self.backlog.front_mut() {
                    let at = *at;
                    *count -= 1;
                    if *count == 0 {
                        self.backlog.pop_front();
                    }
                    self.backlog_len -= 1;
                    let seq = self.slots[i].next_seq;
                    self.slots[i].next_seq += 1;
                    let origin = self.slots[i].id;
                    self.enqueue(i, origin, seq, at, now);
                } else {
                    break;
                }
            }
            self.flush(i);
            self.make_ready(i);
        }
    }

    /// Closed loop: keeps the connection's pipeline full of new messages.
    fn fill(&mut self, i: usize, now: Instant) {
        if self.plan.rate.is_some() {
            return;
        }
        while self.slots[i].state == State::Open
            && self.slots[i].checker.len() < self.plan.pipeline
            && self.sending_allowed(now)
            && self.plan.messages.is_none_or(|m| self.started < m)
        {
            self.started += 1;
            let slot = &mut self.slots[i];
            let (origin, seq) = (slot.id, slot.next_seq);
            slot.next_seq += 1;
            self.enqueue(i, origin, seq, now, now);
        }
        self.flush(i);
    }

    /// Adds a message to a connection's output and its answer to the expected bytes.
    fn enqueue(&mut self, i: usize, origin: u64, seq: u64, base: Instant, now: Instant) {
        let plan = &self.plan;
        let slot = &mut self.slots[i];
        let start = slot.out.len();
        write_message(&mut slot.out, plan.seed, origin, seq, plan.size);
        self.scratch.clear();
        expected_answer(plan.mode, &slot.out[start..], &mut self.scratch);
        let msg = Msg {
            origin,
            seq,
            base,
            sent_at: now,
        };
        slot.checker.push(msg, &self.scratch);
        self.counts.sent += 1;
        self.counts.bytes_out += plan.size as u64;
        if base >= plan.warmup_end {
            self.counts.measured_bytes_out += plan.size as u64;
        }
    }

    /// Writes pending output until done or the socket is full (then a writable event resumes).
    fn flush(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let Some(stream) = slot.stream.as_mut() else {
            return;
        };
        while slot.out_pos < slot.out.len() {
            match stream.write(&slot.out[slot.out_pos..]) {
                Ok(n) => slot.out_pos += n,
                Err(e) if would_block(&e) => return,
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    self.end(i, End::Broken(Reason::of(&e)));
                    return;
                }
            }
        }
        slot.out.clear();
        slot.out_pos = 0;
    }

    /// Reads what arrived. `hup`: the peer's end of stream was signalled, so a short read
    /// does not mean drained (the end may have come with the data): read until it returns 0.
    fn on_readable(&mut self, i: usize, hup: bool) {
        loop {
            let slot = &mut self.slots[i];
            let Some(stream) = slot.stream.as_mut() else {
                return;
            };
            match stream.read(&mut self.buf) {
                Ok(0) => {
                    self.end(i, End::Closed);
                    return;
                }
                Ok(n) => {
                    if let Err(mismatch) = self.check(i, n) {
                        self.end(i, End::Mismatch(mismatch));
                        return;
                    }
                    if n < self.buf.len() && !hup {
                        break; // drained: the next arrival raises a new edge
                    }
                }
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => continue,
                Err(e) => {
                    self.end(i, End::Broken(Reason::of(&e)));
                    return;
                }
            }
        }
        let now = Instant::now();
        self.fill(i, now);
        self.make_ready(i);
    }

    /// Checks `n` received bytes (in `self.buf`) against the expected answers and counts the
    /// messages they complete.
    fn check(&mut self, i: usize, n: usize) -> Result<(), Mismatch> {
        let now = Instant::now();
        let Worker {
            plan,
            slots,
            buf,
            counts,
            hist,
            last_completion,
            ..
        } = self;
        counts.bytes_in += n as u64;
        slots[i].checker.feed(&buf[..n], |msg, completion| {
            if completion == Completion::Late {
                // Counted as a timeout when it became late; its bytes were right.
                counts.late += 1;
                return;
            }
            counts.completed += 1;
            if msg.base >= plan.warmup_end {
                counts.measured += 1;
                counts.measured_bytes_in += plan.size as u64;
                let micros = now.saturating_duration_since(msg.base).as_micros();
                hist.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                *last_completion = Some(now);
            }
        })
    }

    /// A connection ended: count what was lost, re-send or give up, reopen if asked.
    fn end(&mut self, i: usize, how: End) {
        let slot = &mut self.slots[i];
        let draining = slot.state == State::Draining;
        let awaited = !slot.checker.is_empty();
        // Timed-out messages were counted when they timed out; the rest are lost now.
        let mut lost = slot.checker.take_unanswered();
        let unexpected = !draining || awaited;
        match how {
            End::Mismatch(mismatch) => {
                self.counts.mismatches += 1;
                if let Mismatch::WrongByte { late: false, .. } = mismatch {
                    lost.pop_front(); // the wrong answer's message: a mismatch, not lost
                }
            }
            End::Closed | End::Broken(_) => {
                if unexpected && !(draining && how == End::Closed) {
                    self.counts.conn_errors += 1;
                    self.failures.closed.add(match how {
                        End::Broken(reason) => reason,
                        _ => Reason::ClosedByServer,
                    });
                }
            }
        }
        let retry = self.plan.reconnect && self.phase < Phase::Draining && !draining;
        if retry {
            // The server answered a prefix of what it was sent: the rest goes out again, with
            // its original latency base.
            self.resend.extend(lost);
        } else {
            self.counts.short += lost.len() as u64;
        }
        self.kill(i);
        if retry {
            self.alive += 1;
            self.wait_until(i, Instant::now());
        }
    }

    /// Counts the messages that have passed their timeout (once each); they stay awaited, so
    /// an answer that comes later is still checked. Gives up connections stuck connecting.
    fn check_timeouts(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let timeout = self.plan.timeout;
            let slot = &mut self.slots[i];
            self.counts.timeouts += slot.checker.expire(now, timeout) as u64;
            let stuck_connecting = slot.state == State::Connecting
                && now.saturating_duration_since(slot.connect_started) >= timeout;
            if stuck_connecting {
                if let Some(mut stream) = slot.stream.take() {
                    let _ = self.poll.registry().deregister(&mut stream);
                }
                self.connect_failed(i, now, Reason::ConnectTimeout);
            }
        }
    }
    /// Sends a report for every second boundary passed (and a final one if `last`).
    fn report_seconds(&mut self, now: Instant, last: bool) {
        loop {
            let boundary = self.plan.start + Duration::from_secs(self.second + 1);
            if !last && now < boundary {
                return;
            }
            let tick = Tick {
                second: self.second,
                counts: std::mem::take(&mut self.counts),
                hist: std::mem::replace(&mut self.hist, new_histogram()),
                last_completion: self.last_completion,
                failures: std::mem::take(&mut self.failures),
                last: last && now < boundary,
            };
            let is_last = tick.last;
            // The main thread is gone only if it is ending; nothing left to report to then.
            let _ = self.tx.send(tick);
            self.second += 1;
            if is_last {
                return;
            }
        }
    }
}

/// Whole schedule ticks from `start` to `t`.
fn ticks_until(start: Instant, t: Instant) -> u64 {
    (t.saturating_duration_since(start).as_nanos() / TICK.as_nanos()) as u64
}

/// A periodic 1 ms timer registered with `poll` (read on each event to re-arm the edge).
fn tick_timer(poll: &Poll, start: Instant) -> io::Result<OwnedFd> {
    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    let spec = |d: Duration| Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    };
    // Expire on the schedule's grid (start + k ticks), so a batch leaves at its scheduled time.
    let first = (start + TICK)
        .saturating_duration_since(Instant::now())
        .max(Duration::from_nanos(1));
    timerfd_settime(
        &fd,
        TimerfdTimerFlags::empty(),
        &Itimerspec {
            it_interval: spec(TICK),
            it_value: spec(first),
        },
    )?;
    poll.registry()
        .register(&mut SourceFd(&fd.as_raw_fd()), TIMER, Interest::READABLE)?;
    Ok(fd)
}
