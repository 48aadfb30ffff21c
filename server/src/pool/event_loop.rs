//! One pool worker: a mio event loop over many connections, driving each one's sans-IO
//! [`Connection`] core from readiness events, with the deadline heap for timeouts and the
//! answer buffer pool described in [`super`]. It owns its connections; the accept loop reaches
//! it only through its [`Inbox`] and waker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tracing::{debug, error, warn};

use crate::conn::{Connection, READ_CHUNK};
use crate::shared::{isolate_panic, log_accepted, log_closed, Held, QuietDrain, Shared};
use crate::sockets::{discard_input, Discarded};
use crate::stats::{CloseReason, Traffic};
use crate::transport::{Setup, Transport};

use super::inbox::{Inbox, WAKE};

/// Readiness events taken per wait. A larger batch spreads one `epoll_wait` over more
/// connections under load; events beyond it stay queued for the next wait.
const EVENTS_PER_WAIT: usize = 1024;

/// Answer buffers a worker keeps for reuse; more are freed. 64 cover a burst of busy
/// connections; a buffer holds at most one read's answer (`conn::MAX_PENDING`).
const POOLED_BUFFERS: usize = 64;

/// Takes back an idle connection's answer buffer into the worker's pool (up to
/// [`POOLED_BUFFERS`]; more are freed).
fn recycle(buffers: &mut Vec<Vec<u8>>, conn: &mut Connection) {
    if let Some(buf) = conn.take_buffer() {
        if buffers.len() < POOLED_BUFFERS {
            buffers.push(buf);
        }
    }
}

// An upgrade's hand-over: a worker's connections to and from another process.
mod moved;
// A connection in a worker, and its exchange of bytes.
mod entry;

use entry::{Entry, Stopped};

/// A connection handed over by an upgrade's old process: its core, and when it last read and
/// wrote (its timeouts go on from there).
struct Resumed {
    conn: Connection,
    last_read: Instant,
    last_write: Instant,
}

/// The state of one worker thread's event loop.
pub(super) struct EventLoop {
    shared: Arc<Shared>,
    inbox: Arc<Inbox>,
    poll: Poll,
    /// Connections by token; `free` lists empty slots. Slot generations tell stale deadline
    /// entries from live ones after a slot is reused.
    slots: Vec<Option<Entry>>,
    generations: Vec<u64>,
    free: Vec<usize>,
    open: usize,
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    scratch: Vec<u8>,
    buffers: Vec<Vec<u8>>,
    /// Set once shutdown reaches this worker: the time by which everything must be closed.
    drain_deadline: Option<Instant>,
    /// Set when that shutdown is an upgrade's hand-over.
    quiet_drain: Option<QuietDrain>,
    /// Traffic of this event-loop round, added to the shared counters once per round.
    traffic: Traffic,
}

impl EventLoop {
    /// A worker's loop over `poll`, taking new connections from `inbox`.
    pub(super) fn new(shared: Arc<Shared>, inbox: Arc<Inbox>, poll: Poll) -> EventLoop {
        EventLoop {
            shared,
            inbox,
            poll,
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            open: 0,
            deadlines: BinaryHeap::new(),
            scratch: vec![0; READ_CHUNK],
            buffers: Vec::new(),
            drain_deadline: None,
            quiet_drain: None,
            traffic: Traffic::default(),
        }
    }

    /// Serves until shutdown has closed every connection (or the loop itself fails).
    pub(super) fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_WAIT);
        loop {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                error!(error = %e, "worker event loop failed; closing its connections");
                self.close_all(CloseReason::Error);
                return;
            }
            let now = Instant::now();
            for event in events.iter() {
                self.on_event(event, now);
            }
            self.expire(now);
            let done = self.drain_done(now);
            // Once per round (not per read or write): the counters are shared by every worker.
            self.flush_traffic();
            if done {
                return;
            }
        }
    }

    /// Takes new connections (the waker), or notes what a connection's event says and drives it.
    fn on_event(&mut self, event: &Event, now: Instant) {
        if event.token() == WAKE {
            self.take_new(now);
            return;
        }
        let i = event.token().0;
        if let Some(entry) = self.slots.get_mut(i).and_then(Option::as_mut) {
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                entry.readable = true;
            }
            if event.is_read_closed() || event.is_error() {
                entry.hup = true;
            }
            self.drive(i, now);
        }
    }

    /// Begins draining when shutdown reaches this worker; true once draining is over (every
    /// connection closed, by itself or at the drain timeout) and the loop can end.
    fn drain_done(&mut self, now: Instant) -> bool {
        if self.drain_deadline.is_none() && self.shared.stopping() {
            self.begin_drain(now);
        }
        let Some(deadline) = self.drain_deadline else {
            return false;
        };
        if self.open == 0 {
            return true;
        }
        if now >= deadline {
            warn!(
                remaining = self.open,
                "drain timeout: closing connections that are still open"
            );
            self.close_all(CloseReason::Drain);
            return true;
        }
        false
    }

    /// When the loop must wake by itself: the earliest timeout, or the drain timeout.
    fn next_deadline(&self) -> Option<Instant> {
        let timer = self.deadlines.peek().map(|Reverse((at, _, _))| *at);
        match (timer, self.drain_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Registers connections handed over by the accept loop.
    fn take_new(&mut self, now: Instant) {
        let new = self.inbox.take_new();
        for (stream, peer, id, held) in new {
            if let Err((e, held)) = self.add(stream, peer, id, held, now, None) {
                debug!(id, %peer, error = %e, "cannot register connection; closing it");
                self.shared.closed(&held, CloseReason::Error);
            }
        }
        let adopted = self.inbox.take_adopted();
        for (moved, id, held) in adopted {
            self.adopt(moved, id, held, now);
        }
    }

    /// Registers connection `id` and serves it: a new one, or one handed over by an upgrade
    /// (`resumed`: its core and when it last read and wrote; it is plaintext, set up).
    fn add(
        &mut self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
        held: Held,
        now: Instant,
        resumed: Option<Resumed>,
    ) -> Result<(), (io::Error, Held)> {
        let transport = match &resumed {
            Some(_) => Transport::new(false, None),
            None => self.shared.transport(),
        };
        let transport = match transport {
            Ok(transport) => transport,
            Err(e) => return Err((io::Error::other(format!("{e:?}")), held)),
        };
        if let Err(e) = stream
            .set_nodelay(true)
            .and_then(|()| stream.set_nonblocking(true))
        {
            return Err((e, held));
        }
        let mut stream = TcpStream::from_std(stream);
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(i);
            return Err((e, held));
        }
        let ready = resumed.is_some();
        let (conn, last_read, last_write) = match resumed {
            Some(r) => (r.conn, r.last_read, r.last_write),
            None => (Connection::new(self.shared.config.mode), now, now),
        };
        let entry = Entry {
            stream,
            conn,
            transport,
            held,
            id,
            peer,
            accepted: now,
            ready,
            // A connection may have sent data before it was registered: look once.
            readable: true,
            last_read,
            last_write,
            timer_at: None,
            lingering: false,
            hup: false,
            quiet: false,
        };
        self.slots[i] = Some(entry);
        self.open += 1;
        self.arm(i);
        self.drive(i, now);
        Ok(())
    }

    /// Runs the connection core as far as the socket allows. A panic (a bug) ends only this
    /// connection: it is closed and counted, and the worker goes on with the others.
    fn drive(&mut self, i: usize, now: Instant) {
        let Some(entry) = self.slots[i].as_ref() else {
            return;
        };
        let (id, peer) = (entry.id, entry.peer);
        if isolate_panic(id, peer, || self.step(i, now)).is_none() {
            self.close(i, CloseReason::Error);
        }
    }

    /// Moves connection `i`'s bytes as far as its socket allows, then closes it or waits.
    fn step(&mut self, i: usize, now: Instant) {
        let Some(entry) = self.slots[i].as_mut() else {
            return;
        };
        if entry.lingering {
            if entry.readable {
                self.linger(i);
            }
            return;
        }
        if !entry.ready {
            if !self.set_up(i) {
                return;
            }
            if self.drain_deadline.is_some() && self.set_up_while_handing_over(i, now) {
                return;
            }
        }
        let entry = self.slots[i].as_mut().expect("set-up keeps the connection");
        let before = entry.conn.traffic();
        let stopped = entry.exchange(&mut self.scratch, &mut self.buffers, now);
        self.traffic += entry.conn.traffic() - before;
        // An idle connection gives its buffer back.
        recycle(&mut self.buffers, &mut entry.conn);
        match stopped {
            Stopped::Blocked => {
                if entry.writing() {
                    // Blocked writing: make sure the write timeout is armed.
                    self.arm(i);
                }
            }
            Stopped::Answered => {
                // Every answer is written: end our side. After a shutdown-initiated stop the
                // peer may still be sending: linger until it closes.
                let _ = entry.stream.shutdown(Shutdown::Write);
                if entry.held.refusal.is_some() {
                    // A refused peer: drop what it already sent (so the close is no reset
                    // that could destroy the busy line), without waiting for more.
                    discard_input(&mut entry.stream, &mut self.scratch, Some(16));
                    self.close(i, CloseReason::Done);
                } else if entry.conn.peer_closed() {
                    self.close(i, CloseReason::Done);
                } else {
                    entry.lingering = true;
                    self.linger(i);
                }
            }
            Stopped::Failed(reason) => self.close(i, reason),
        }
    }

    /// Goes on with connection `i`'s set-up (PROXY header, TLS handshake); true once it is
    /// over and the core can be served, false if it must wait (or the connection was closed).
    fn set_up(&mut self, i: usize) -> bool {
        let shared = Arc::clone(&self.shared);
        let entry = self.slots[i]
            .as_mut()
            .expect("set_up is called on live slots");
        let was_handshaking = entry.transport.handshaking();
        loop {
            let entry = self.slots[i]
                .as_mut()
                .expect("set_up is called on live slots");
            match entry.transport.advance(&mut entry.stream) {
                Ok(Setup::Pending) => return false,
                Ok(Setup::Header(client)) => {
                    if !shared.header_read(&mut entry.held, &mut entry.peer, client) {
                        // Refused, and no slot for the busy line over TLS.
                        self.close(i, CloseReason::Setup);
                        return false;
                    }
                    // The handshake (if any) has its own deadline.
                    self.arm(i);
                }
                Ok(Setup::Ready) => break,
                Err(e) => {
                    shared.setup_failed(entry.id, entry.peer, &e);
                    self.close(i, CloseReason::Setup);
                    return false;
                }
            }
        }
        let entry = self.slots[i]
            .as_mut()
            .expect("set_up is called on live slots");
        if was_handshaking {
            shared.handshake(entry.peer, crate::tls::Handshake::Ok);
        }
        entry.ready = true;
        // Whatever arrived during set-up may hold the first bytes: look once.
        entry.readable = true;
        log_accepted(entry.id, entry.peer);
        if let Some(line) = &entry.held.refusal {
            entry.conn.refuse(line.as_bytes());
        } else if self.drain_deadline.is_some() && self.shared.hand_over_sink().is_none() {
            // (At an upgrade's hand-over, `set_up_while_handing_over` decides.)
            entry.conn.stop_reading();
        }
        // The idle timeout replaces the set-up deadline.
        self.arm(i);
        true
    }

    /// Reads and drops input until the peer closes (after our shutdown-initiated end of
    /// stream), so the close is never a reset that could destroy answers in flight.
    fn linger(&mut self, i: usize) {
        let Some(entry) = self.slots[i].as_mut() else {
            return;
        };
        if discard_input(&mut entry.stream, &mut self.scratch, None) == Discarded::WouldBlock {
            entry.readable = false;
            return;
        }
        self.close(i, CloseReason::Done);
    }

    /// Makes sure the connection's deadline heap entry is no later than its current deadline.
    fn arm(&mut self, i: usize) {
        let Some(deadline) = self.deadline_of(i) else {
            return;
        };
        let entry = self.slots[i].as_mut().expect("arm is called on live slots");
        if entry.timer_at.is_none_or(|t| deadline < t) {
            entry.timer_at = Some(deadline);
            self.deadlines
                .push(Reverse((deadline, i, self.generations[i])));
        }
    }

    /// The connection's current deadline: the write timeout while answers wait to be written,
    /// else the idle timeout. `None` if that timeout is off.
    fn deadline_of(&self, i: usize) -> Option<Instant> {
        let entry = self.slots[i].as_ref()?;
        let config = &self.shared.config;
        if entry.lingering {
            return None; // bounded by the drain deadline
        }
        if !entry.ready {
            return self.shared.setup_deadline(entry.accepted, &entry.transport);
        }
        let timeout = match entry.writing() {
            true => config
                .write_timeout
                .map(|t| entry.last_write.max(entry.last_read) + t),
            false => config.idle_timeout.map(|t| entry.last_read + t),
        };
        match self.quiet_until(i) {
            Some(quiet) => Some(timeout.map_or(quiet, |t| t.min(quiet))),
            None => timeout,
        }
    }

    /// When connection `i`, served until quiet at an upgrade, stops reading (`None`: it is not
    /// so served, or reads no more already).
    fn quiet_until(&self, i: usize) -> Option<Instant> {
        let entry = self.slots[i].as_ref()?;
        let drain = self
            .quiet_drain
            .filter(|_| entry.quiet && entry.conn.reading())?;
        Some(drain.stop_reading_at(entry.last_read))
    }

    /// Closes connections whose deadline has passed; re-arms those whose deadline moved.
    fn expire(&mut self, now: Instant) {
        while let Some(&Reverse((at, i, generation))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let live = self.generations.get(i) == Some(&generation)
                && self.slots[i]
                    .as_ref()
                    .is_some_and(|e| e.timer_at == Some(at));
            if !live {
                continue; // stale: the slot was reused or a newer entry exists
            }
            let entry = self.slots[i].as_mut().expect("checked live");
            entry.timer_at = None;
            if self.quiet_until(i).is_some_and(|at| at <= now) {
                // Quiet (or out of time) at an upgrade: answer what was read, then close.
                let entry = self.slots[i].as_mut().expect("checked live");
                entry.quiet = false;
                entry.conn.stop_reading();
                self.drive(i, now);
                self.arm(i);
                continue;
            }
            let entry = self.slots[i].as_mut().expect("checked live");
            let writing = entry.writing();
            let ready = entry.ready;
            match self.deadline_of(i) {
                Some(deadline) if deadline <= now && !ready => {
                    let entry = self.slots[i].as_ref().expect("checked live");
                    let error = Shared::setup_timeout(&entry.transport);
                    self.shared.setup_failed(entry.id, entry.peer, &error);
                    self.close(i, CloseReason::Setup);
                }
                Some(deadline) if deadline <= now => {
                    let reason = if writing {
                        CloseReason::WriteTimeout
                    } else {
                        CloseReason::Idle
                    };
                    self.close(i, reason);
                }
                Some(_) => self.arm(i),
                None => {}
            }
        }
    }

    /// Shutdown reached this worker: stop reading everywhere; answer what was read; close. At
    /// an upgrade, plaintext connections are handed over and the others served until quiet.
    fn begin_drain(&mut self, now: Instant) {
        let timeout = self.shared.config.drain_timeout;
        self.drain_deadline = Some(now + timeout);
        let sink = self.shared.hand_over_sink();
        if sink.is_some() {
            self.quiet_drain = Some(QuietDrain::new(now, timeout));
        }
        for i in 0..self.slots.len() {
            if let Some(entry) = self.slots[i].as_mut() {
                if !entry.ready {
                    // Still in set-up: nothing read to answer. At an upgrade's hand-over it
                    // finishes its set-up first (`set_up_while_handing_over`).
                    if sink.is_none() {
                        self.close(i, CloseReason::Setup);
                    }
                    continue;
                }
                if let Some(sink) = &sink {
                    if !self.hand_over(i, sink, now) {
                        self.serve_until_quiet(i, now);
                    }
                    continue;
                }
                let Some(entry) = self.slots[i].as_mut() else {
                    continue;
                };
                entry.conn.stop_reading();
                self.drive(i, now);
            }
        }
    }

    fn close_all(&mut self, reason: CloseReason) {
        for i in 0..self.slots.len() {
            if self.slots[i].is_some() {
                self.close(i, reason);
            }
        }
    }

    /// Adds the traffic gathered since the last flush to the server's counters.
    fn flush_traffic(&mut self) {
        self.shared.stats.traffic(std::mem::take(&mut self.traffic));
    }

    /// Closes connection `i`'s socket, then counts it and logs `closed`: whoever sees the
    /// count or the log line knows the socket is closed.
    fn close(&mut self, i: usize, reason: CloseReason) {
        let Some(Entry {
            mut stream,
            mut conn,
            mut transport,
            id,
            peer,
            held,
            ..
        }) = self.slots[i].take()
        else {
            return;
        };
        if reason == CloseReason::Idle && transport.begin_close() {
            // TLS: an idle close is a TLS close. Nothing else is waiting to be sent, so the
            // socket takes the alert at once; one non-blocking attempt, never a wait.
            let _ = transport.flush(&mut stream);
        }
        let _ = self.poll.registry().deregister(&mut stream);
        drop(stream);
        recycle(&mut self.buffers, &mut conn);
        // Its bytes are counted before its close, so whoever sees the close sees them too.
        self.flush_traffic();
        self.shared.closed(&held, reason);
        log_closed(id, peer, reason, &conn);
        self.generations[i] += 1;
        self.free.push(i);
        self.open -= 1;
    }
}
