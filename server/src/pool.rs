//! The event-driven model: a fixed pool of worker threads, each running its own mio event loop
//! over many connections ("one loop per thread", as muduo, netty and nginx). Each worker drives
//! the same sans-IO [`Connection`] core as the thread model.
//!
//! - **Hand-off.** The shared accept loop hands each accepted connection to the next worker,
//!   round robin, through the worker's inbox and a waker: one cross-thread wake-up per
//!   *connection*, none per message. Chosen over per-worker `SO_REUSEPORT` listeners by
//!   measurement (`bench/reuseport/run.sh`, which builds a prototype where each worker accepts
//!   on its own `SO_REUSEPORT` listener with the same accept code; 7 interleaved runs on 2
//!   cores): both open 10,000 connections and answer one message on each in the same time
//!   (median 0.48 s hand-off, 0.50 s `SO_REUSEPORT`) and CPU (0.33 s, 0.32 s), and cost the
//!   same per message at 100 connections (6.14 µs, 6.00 µs: noise), but the kernel's
//!   4-tuple hash spreads few connections unevenly: with 4 connections on 2 workers the busiest
//!   worker did all the work in 2 runs of 7 and about 60% in 4 more, where the hand-off split
//!   it 50/50 every time. The single accept loop also keeps the connection limit exact and the
//!   accept-error pause in one place, shared with the thread model.
//! - **System calls.** Sockets are registered once, edge-triggered, for reading and writing;
//!   no re-registration per message. A read shorter than the buffer means the socket is
//!   drained, so no extra read just to see `WouldBlock`; a write that takes everything needs no
//!   writability wait. A message costs one `read` and one `write`, plus a share of
//!   `epoll_wait`.
//! - **Memory.** An idle connection holds no buffer: reads go into one per-worker scratch
//!   buffer, and the answer buffer comes from a per-worker pool only while answer bytes wait
//!   to be written.
//! - **Timeouts.** No timer per connection: each worker keeps one deadline heap with at most
//!   one live entry per connection. Activity only updates a timestamp; when an entry expires
//!   the real deadline is recomputed and the entry pushed again if it moved.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, error, warn};

use crate::accept::Dispatch;
use crate::conn::{self, Connection, Want, READ_CHUNK};
use crate::server::Shared;
use crate::stats::{CloseReason, Traffic};

const WAKE: Token = Token(usize::MAX);

/// Answer buffers a worker keeps for reuse; more are freed. 64 cover a burst of busy
/// connections; a buffer holds at most one read's answer (`conn::MAX_PENDING`).
const POOLED_BUFFERS: usize = 64;

/// The model: worker threads and their inboxes.
pub(crate) struct Pool {
    workers: Vec<WorkerHandle>,
    next: usize,
}

struct WorkerHandle {
    inbox: Arc<Inbox>,
    thread: Option<JoinHandle<()>>,
}

/// New connections for a worker, and the waker that tells it.
struct Inbox {
    new: Mutex<Vec<(std::net::TcpStream, SocketAddr, u64)>>,
    waker: Waker,
}

impl Pool {
    /// Starts `workers` event-loop threads.
    pub(crate) fn start(shared: &Arc<Shared>, workers: usize) -> io::Result<Pool> {
        let mut handles = Vec::with_capacity(workers);
        let workers = workers.max(1);
        for index in 0..workers {
            // Each worker needs two descriptors and a thread: say which one failed and why.
            let context = |e: io::Error| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start pool worker {} of {workers} (--workers): {e}",
                        index + 1
                    ),
                )
            };
            let poll = Poll::new().map_err(context)?;
            let inbox = Arc::new(Inbox {
                new: Mutex::new(Vec::new()),
                waker: Waker::new(poll.registry(), WAKE).map_err(context)?,
            });
            let mut worker = Worker::new(Arc::clone(shared), Arc::clone(&inbox), poll);
            let thread = thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || worker.run())
                .map_err(context)?;
            handles.push(WorkerHandle {
                inbox,
                thread: Some(thread),
            });
        }
        Ok(Pool {
            workers: handles,
            next: 0,
        })
    }
}

impl Dispatch for Pool {
    /// Tells every worker to drain (shutdown has begun) and waits for them; each closes what
    /// remains at the drain timeout.
    fn drain(&mut self) {
        for worker in &self.workers {
            if let Err(e) = worker.inbox.waker.wake() {
                error!(error = %e, "cannot wake a worker to drain");
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                if thread.join().is_err() {
                    error!("a worker thread panicked");
                }
            }
        }
    }

    fn dispatch(&mut self, stream: std::net::TcpStream, peer: SocketAddr, id: u64) {
        let worker = &self.workers[self.next];
        self.next = (self.next + 1) % self.workers.len();
        lock(&worker.inbox.new).push((stream, peer, id));
        if let Err(e) = worker.inbox.waker.wake() {
            error!(error = %e, "cannot wake a worker for a new connection");
        }
    }
}

/// Takes back an idle connection's answer buffer into the worker's pool (up to
/// [`POOLED_BUFFERS`]; more are freed).
fn recycle(buffers: &mut Vec<Vec<u8>>, conn: &mut Connection) {
    if let Some(buf) = conn.take_buffer() {
        if buffers.len() < POOLED_BUFFERS {
            buffers.push(buf);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only plain pushes and swaps happen under this lock: a poisoned one is still consistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One connection in a worker.
struct Entry {
    stream: TcpStream,
    conn: Connection,
    id: u64,
    peer: SocketAddr,
    /// The socket may have input we have not read (an edge arrived, or the last read filled
    /// the buffer).
    readable: bool,
    /// Last time bytes were read / written (idle and write timeouts count from these).
    last_read: Instant,
    last_write: Instant,
    /// The time of this connection's live entry in the deadline heap, if any.
    timer_at: Option<Instant>,
    /// Shutdown: our end of stream is sent; we read and drop input until the peer closes.
    lingering: bool,
    /// The peer's end of stream (or an error) has been signalled.
    hup: bool,
}

struct Worker {
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
    /// Traffic of this event-loop round, added to the shared counters once per round.
    traffic: Traffic,
}

impl Worker {
    fn new(shared: Arc<Shared>, inbox: Arc<Inbox>, poll: Poll) -> Worker {
        Worker {
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
            traffic: Traffic::default(),
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
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
                if event.token() == WAKE {
                    self.take_new(now);
                    continue;
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
            self.shared.stats.traffic(std::mem::take(&mut self.traffic));
            self.expire(now);
            if self.drain_deadline.is_none() && self.shared.stopping() {
                self.begin_drain(now);
            }
            if let Some(deadline) = self.drain_deadline {
                if self.open == 0 {
                    return;
                }
                if now >= deadline {
                    warn!(
                        remaining = self.open,
                        "drain timeout: closing connections that are still open"
                    );
                    self.close_all(CloseReason::Drain);
                    return;
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let timer = self.deadlines.peek().map(|Reverse((at, _, _))| *at);
        match (timer, self.drain_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Registers connections handed over by the accept loop.
    fn take_new(&mut self, now: Instant) {
        let new = std::mem::take(&mut *lock(&self.inbox.new));
        for (stream, peer, id) in new {
            if let Err(e) = self.add(stream, peer, id, now) {
                debug!(id, %peer, error = %e, "cannot register connection; closing it");
                self.shared.closed(peer, CloseReason::Error);
            }
        }
    }

    fn add(
        &mut self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
        now: Instant,
    ) -> io::Result<()> {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
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
            return Err(e);
        }
        debug!(id, %peer, "accepted");
        let mut entry = Entry {
            stream,
            conn: Connection::new(self.shared.config.mode),
            id,
            peer,
            // A connection may have sent data before it was registered: look once.
            readable: true,
            last_read: now,
            last_write: now,
            timer_at: None,
            lingering: false,
            hup: false,
        };
        if self.drain_deadline.is_some() {
            entry.conn.stop_reading();
        }
        self.slots[i] = Some(entry);
        self.open += 1;
        self.arm(i);
        self.drive(i, now);
        Ok(())
    }

    /// Runs the connection core as far as the socket allows. A panic (a bug) ends only this
    /// connection: it is closed and counted, and the worker goes on with the others.
    fn drive(&mut self, i: usize, now: Instant) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step(i, now)));
        if result.is_err() {
            error!("connection handler panicked; closing this connection");
            self.close(i, CloseReason::Error);
        }
    }

    fn step(&mut self, i: usize, now: Instant) {
        let Some(entry) = self.slots[i].as_mut() else {
            return;
        };
        let before = entry.conn.traffic();
        if entry.lingering {
            if entry.readable {
                self.linger(i);
            }
            return;
        }
        let result = loop {
            match entry.conn.want() {
                Want::Write => match entry.conn.write_to(&mut entry.stream) {
                    Ok(_) => entry.last_write = now,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(false),
                    Err(e) => break Err(conn::reason_for(&e)),
                },
                Want::Read => {
                    if !entry.readable {
                        break Ok(false);
                    }
                    if !entry.conn.has_buffer() {
                        entry
                            .conn
                            .give_buffer(self.buffers.pop().unwrap_or_default());
                    }
                    match entry.conn.read_from(&mut entry.stream, &mut self.scratch) {
                        // A short read drained the socket: the next arrival raises a new edge.
                        // Not so once the peer's end of stream is signalled: it may have come
                        // with the data, so read on until the read returns 0.
                        Ok(n) => {
                            entry.last_read = now;
                            if n > 0 && n < self.scratch.len() && !entry.hup {
                                entry.readable = false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            entry.readable = false;
                        }
                        Err(e) => break Err(conn::reason_for(&e)),
                    }
                }
                Want::Close => break Ok(true),
            }
        };
        self.traffic += entry.conn.traffic() - before;
        // An idle connection gives its buffer back.
        recycle(&mut self.buffers, &mut entry.conn);
        match result {
            Ok(false) => {
                if entry.conn.want() == Want::Write {
                    // Blocked writing: make sure the write timeout is armed.
                    self.arm(i);
                }
            }
            Ok(true) => {
                // Every answer is written: end our side. After a shutdown-initiated stop the
                // peer may still be sending: linger until it closes.
                let _ = entry.stream.shutdown(Shutdown::Write);
                if entry.conn.peer_closed() {
                    self.close(i, CloseReason::Done);
                } else {
                    entry.lingering = true;
                    self.linger(i);
                }
            }
            Err(reason) => self.close(i, reason),
        }
    }

    /// Reads and drops input until the peer closes (after our shutdown-initiated end of
    /// stream), so the close is never a reset that could destroy answers in flight.
    fn linger(&mut self, i: usize) {
        let Some(entry) = self.slots[i].as_mut() else {
            return;
        };
        loop {
            match entry.stream.read(&mut self.scratch) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    entry.readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
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
        match entry.conn.want() {
            Want::Write => config
                .write_timeout
                .map(|t| entry.last_write.max(entry.last_read) + t),
            _ => config.idle_timeout.map(|t| entry.last_read + t),
        }
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
            let writing = entry.conn.want() == Want::Write;
            match self.deadline_of(i) {
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

    /// Shutdown reached this worker: stop reading everywhere; answer what was read; close.
    fn begin_drain(&mut self, now: Instant) {
        self.drain_deadline = Some(now + self.shared.config.drain_timeout);
        for i in 0..self.slots.len() {
            if let Some(entry) = self.slots[i].as_mut() {
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

    /// Closes connection `i`'s socket, then counts it and logs `closed`: whoever sees the
    /// count or the log line knows the socket is closed.
    fn close(&mut self, i: usize, reason: CloseReason) {
        let Some(Entry {
            mut stream,
            mut conn,
            id,
            peer,
            ..
        }) = self.slots[i].take()
        else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut stream);
        drop(stream);
        recycle(&mut self.buffers, &mut conn);
        self.shared.closed(peer, reason);
        debug!(
            id,
            %peer,
            reason = reason.as_str(),
            bytes_in = conn.bytes_in(),
            bytes_out = conn.bytes_out(),
            "closed"
        );
        self.generations[i] += 1;
        self.free.push(i);
        self.open -= 1;
    }
}
