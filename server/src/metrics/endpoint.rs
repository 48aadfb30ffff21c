//! The HTTP side of `--metrics-listen`: one thread running one small mio event loop over the
//! metrics listeners and at most [`SLOTS`] scrape connections, so no number of slow or idle
//! connections can keep a real scrape out.
//!
//! - **No thread per scrape.** Request heads are read without blocking as bytes arrive; a slow
//!   connection costs a slot and a bounded buffer, never a thread that others wait behind.
//! - **A whole-request deadline.** Every connection is closed [`DEADLINE`] after it was
//!   accepted, whether or not it is still trickling bytes in or taking the answer out: a timeout
//!   per read would let a byte every second hold a slot forever.
//! - **Excess gets `503`, and it is the oldest unfinished request that gets it** (logged once
//!   per burst, with how many, as the server's other refusals are). When every
//!   slot is taken, a new connection displaces the connection that has waited longest without
//!   completing its request (it gets `503 Service Unavailable` and `Retry-After`). A real
//!   scrape sends its whole request at once, so it completes long before a flood of slow
//!   connections could displace it, while the slow ones displace each other; with a plain cap
//!   ("the newcomer gets 503"), [`SLOTS`] slow connections, reopened at each deadline, would
//!   lock every scrape out. Only when every slot is busy writing an answer does the newcomer get
//!   the `503`.
//! - **Accept errors** (`EMFILE`) are counted with the main listener's, logged once per burst,
//!   and pause accepting for [`ACCEPT_PAUSE`], after which the loop retries by itself: mio is
//!   edge-triggered, so the pending connection will not announce itself again (and retrying on
//!   every wake-up would spin).
//! - **Apart from serving.** The loop runs on its own thread with its own `Poll`, so a scrape,
//!   however slow or broken, never delays the accept loop or a connection; if the loop fails it
//!   logs and ends, and serving goes on.
//!
//! Why not a crate: tiny_http (and rouille on it) serve each connection from a thread with a
//! timeout per read, which is the lockout this module replaces; hyper has header-read
//! timeouts but brings an async runtime (tokio) into a server built on threads and mio, for
//! one `GET`. Answering one path with a bounded head over mio, which shoutd already uses, is a
//! few hundred lines that the tests in `http.rs` and `tests/tests/observability.rs` pin down.

use std::io;
use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use prometheus_client::registry::Registry;
use tracing::{debug, warn};

use super::http::{answer, busy, read_head, write_some};
use crate::burst::{Burst, BURST_LOG_EVERY};
use crate::shared::Shared;
use crate::sockets::{close_after_answer, is_per_connection, ACCEPT_PAUSE};

/// How long a connection may take from accept to the last byte of its answer. A scraper sends
/// its request in one packet and reads a few KiB, so even a slow link needs well under a
/// second; 5 s leave room for a loaded host while freeing a slot soon enough.
const DEADLINE: Duration = Duration::from_secs(5);

/// Connections served at once. Prometheus scrapes a target one request at a time, so 16
/// leave room for several Prometheus servers and a few people with curl; each costs one
/// descriptor (taken from the reserve that `--max-connections` leaves) and at most
/// [`MAX_HEAD`](super::http::MAX_HEAD) of buffer.
const SLOTS: usize = 16;

/// The listen backlog of the metrics listeners: a few times [`SLOTS`], so a burst of scrapers
/// waits in the kernel's queue for the loop rather than being refused by it.
pub(crate) const BACKLOG: i32 = 64;

/// Readiness events taken per wait: enough for every slot and a listener or two; more wait
/// for the next round.
const EVENTS_PER_WAIT: usize = 64;

/// The waker's token; connections use their slot index, listener `i` uses `SLOTS + i`.
const WAKE: Token = Token(usize::MAX);

/// The running metrics endpoint: stopping it (or dropping it) ends its thread.
pub(crate) struct Endpoint {
    stop: Arc<AtomicBool>,
    waker: Waker,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Starts serving `registry` on `listeners` (non-blocking, already bound) from a new thread.
    pub(crate) fn start(
        listeners: Vec<StdListener>,
        registry: Registry,
        shared: Arc<Shared>,
    ) -> io::Result<Endpoint> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKE)?;
        let mut listeners: Vec<TcpListener> =
            listeners.into_iter().map(TcpListener::from_std).collect();
        for (i, listener) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(listener, Token(SLOTS + i), Interest::READABLE)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let responder = Responder {
            poll,
            listeners,
            registry,
            shared,
            stop: Arc::clone(&stop),
            slots: (0..SLOTS).map(|_| None).collect(),
            accept_pending: true,
            paused_until: None,
            error_logged: false,
            busy_log: Burst::default(),
            accepted: 0,
        };
        let thread = thread::Builder::new()
            .name("metrics".into())
            .spawn(move || responder.run())?;
        Ok(Endpoint {
            stop,
            waker,
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the thread; open scrape connections are closed.
    pub(crate) fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // If waking fails the loop has already ended (and said why).
        let _ = self.waker.wake();
        if thread.join().is_err() {
            warn!("the metrics endpoint had failed");
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One scrape connection.
struct Scrape {
    stream: TcpStream,
    /// Closed at this instant, whatever its state.
    deadline: Instant,
    /// The order of accepting (deadlines can tie): the lowest is the oldest.
    seq: u64,
    state: State,
}

enum State {
    /// Reading the request head (bounded by [`MAX_HEAD`](super::http::MAX_HEAD)).
    Head(Vec<u8>),
    /// Writing the answer; the number is how much of it is sent.
    Answer(Vec<u8>, usize),
}

/// The event loop's state; owned by the metrics thread.
struct Responder {
    poll: Poll,
    listeners: Vec<TcpListener>,
    registry: Registry,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    slots: Vec<Option<Scrape>>,
    /// A listener may have connections waiting (mio reports each arrival once).
    accept_pending: bool,
    /// After an accept error, accepting waits until then.
    paused_until: Option<Instant>,
    /// An accept error was logged and no accept has succeeded since.
    error_logged: bool,
    /// `503`s, logged once per burst with their count: a flood of scrapers, or slots that
    /// free and fill again and again, must not flood the log.
    busy_log: Burst,
    /// Connections accepted so far.
    accepted: u64,
}

impl Responder {
    fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_PER_WAIT);
        loop {
            let timeout = self
                .next_wakeup()
                .map(|at| at.saturating_duration_since(Instant::now()));
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!(error = %e, "metrics endpoint stopped: cannot wait for events");
                    return;
                }
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            for event in events.iter() {
                match event.token() {
                    WAKE => {}
                    Token(i) if i < SLOTS => self.advance(i),
                    Token(_) => self.accept_pending = true,
                }
            }
            let now = Instant::now();
            self.expire(now);
            if self.accept_pending && self.paused_until.is_none_or(|until| now >= until) {
                self.paused_until = None;
                self.accept_all(now);
            }
        }
    }

    /// The earliest deadline, or the end of an accept pause.
    fn next_wakeup(&self) -> Option<Instant> {
        let deadlines = self.slots.iter().flatten().map(|s| s.deadline);
        let pause = self.paused_until.filter(|_| self.accept_pending);
        deadlines.chain(pause).min()
    }

    /// Closes every connection past its deadline.
    fn expire(&mut self, now: Instant) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| s.deadline <= now) {
                debug!("metrics request not done within {DEADLINE:?}; closing it");
                *slot = None;
            }
        }
    }

    /// Accepts every waiting connection, or pauses at an error.
    fn accept_all(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            loop {
                let stream = match self.listeners[i].accept() {
                    Ok((stream, _)) => stream,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if is_per_connection(&e) => continue,
                    Err(e) => {
                        self.shared.stats.accept_error();
                        if !self.error_logged {
                            warn!(error = %e, "metrics accept failed; pausing metrics requests briefly");
                            self.error_logged = true;
                        }
                        self.paused_until = Some(now + ACCEPT_PAUSE);
                        return;
                    }
                };
                self.error_logged = false;
                self.admit(stream, now);
            }
        }
        self.accept_pending = false;
    }

    /// Gives `stream` a slot, displacing the oldest unfinished request if none is free.
    fn admit(&mut self, mut stream: TcpStream, now: Instant) {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                if let Some(refused) = self.busy_log.note(now) {
                    warn!(
                        slots = SLOTS,
                        refused,
                        "too many metrics requests at once; answering 503 to the excess \
                         (logged at most every {}s)",
                        BURST_LOG_EVERY.as_secs()
                    );
                }
                let oldest = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
                    .filter(|(_, s)| matches!(s.state, State::Head(_)))
                    .min_by_key(|(_, s)| s.seq)
                    .map(|(i, _)| i);
                let Some(oldest) = oldest else {
                    // Every slot is writing an answer: the newcomer is the excess.
                    refuse(&mut stream);
                    return;
                };
                if let Some(mut displaced) = self.slots[oldest].take() {
                    refuse(&mut displaced.stream);
                }
                oldest
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            debug!(error = %e, "cannot register a metrics connection; closing it");
            return;
        }
        self.accepted += 1;
        self.slots[slot] = Some(Scrape {
            stream,
            deadline: now + DEADLINE,
            seq: self.accepted,
            state: State::Head(Vec::new()),
        });
        // The request has often arrived already.
        self.advance(slot);
    }

    /// Reads, answers and writes as far as the connection in `slot` allows.
    fn advance(&mut self, slot: usize) {
        let Some(scrape) = self.slots[slot].as_mut() else {
            return;
        };
        if let State::Head(head) = &mut scrape.state {
            let request = match read_head(&mut scrape.stream, head) {
                Ok(Some(request)) => request,
                Ok(None) => return,
                Err(e) => {
                    debug!(error = %e, "metrics connection closed before its request");
                    self.slots[slot] = None;
                    return;
                }
            };
            debug!(?request, "metrics request");
            scrape.state = State::Answer(answer(request, &self.registry), 0);
        }
        if let State::Answer(bytes, sent) = &mut scrape.state {
            match write_some(&mut scrape.stream, bytes, sent) {
                Ok(false) => return,
                Ok(true) => close_after_answer(&mut scrape.stream),
                Err(e) => debug!(error = %e, "metrics answer not delivered"),
            }
            self.slots[slot] = None;
        }
    }
}

/// Sends the `503` (it fits in any socket buffer; if not, the peer gets the close) and closes.
fn refuse(stream: &mut TcpStream) {
    let _ = write_some(stream, &busy(), &mut 0);
    close_after_answer(stream);
}
