//! The HTTP side of `--metrics-listen`: one thread running one small mio event loop over the
//! metrics listeners and at most [`SLOTS`] scrape connections, so no number of slow or idle
//! connections can keep a real scrape out.
//!
//! - **No thread per scrape.** Request heads are read without blocking as bytes arrive; a slow
//!   connection costs a slot and a bounded buffer, never a thread that others wait behind.
//! - **A whole-request deadline.** Every connection is closed [`DEADLINE`] after it was
//!   accepted, whether or not it is still trickling bytes in or taking the answer out: a timeout
//!   per read would let a byte every second hold a slot forever.
//! - **Excess gets `503`, and it is the oldest unfinished request that gets it.** When every
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
//! few hundred lines that the tests below and in `tests/tests/observability.rs` pin down.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::accept::{is_per_connection, ACCEPT_PAUSE};
use crate::server::Shared;

/// How long a connection may take from accept to the last byte of its answer. A scraper sends
/// its request in one packet and reads a few KiB, so even a slow link needs well under a
/// second; 5 s leave room for a loaded host while freeing a slot soon enough.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);

/// Connections served at once. Prometheus scrapes a target one request at a time, so 16
/// leave room for several Prometheus servers and a few people with curl; each costs one
/// descriptor (taken from the reserve that `--max-connections` leaves) and at most
/// [`MAX_HEAD`] of buffer.
pub(crate) const SLOTS: usize = 16;

/// The largest request head accepted (`431` beyond).
const MAX_HEAD: usize = 8 * 1024;

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
            busy_logged: false,
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
    /// Reading the request head (bounded by [`MAX_HEAD`]).
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
    /// A `503` was logged and no connection has found a free slot since.
    busy_logged: bool,
    /// Connections accepted so far.
    accepted: u64,
}

impl Responder {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
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
            Some(free) => {
                if self.busy_logged {
                    info!("metrics endpoint has room again");
                    self.busy_logged = false;
                }
                free
            }
            None => {
                if !self.busy_logged {
                    warn!(
                        slots = SLOTS,
                        "too many metrics requests at once; answering 503 to the excess"
                    );
                    self.busy_logged = true;
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
                Ok(true) => finish(&mut scrape.stream),
                Err(e) => debug!(error = %e, "metrics answer not delivered"),
            }
            self.slots[slot] = None;
        }
    }
}

/// What a request head asks for, as far as this endpoint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// `GET /metrics` (any query string); `head_only` for `HEAD`.
    Metrics { head_only: bool },
    /// `GET` or `HEAD` of another path.
    NotFound { head_only: bool },
    /// Another method.
    MethodNotAllowed,
    /// Not an HTTP/1.x request line.
    Bad,
    /// No end of head within [`MAX_HEAD`].
    TooLarge,
}

/// Reads what has arrived into `head`: `Some` once the head is complete, too large, or ended
/// by the peer; `None` while more may come; an error if the peer left without a request.
fn read_head(stream: &mut TcpStream, head: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let mut chunk = [0u8; 1024];
    loop {
        let room = MAX_HEAD.saturating_sub(head.len()).min(chunk.len());
        if room == 0 {
            return Ok(Some(Request::TooLarge));
        }
        match stream.read(&mut chunk[..room]) {
            Ok(0) if head.is_empty() => {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // Half-closed after part of a head: answer what the request line says.
            Ok(0) => return Ok(Some(parse(head))),
            Ok(n) => {
                // Only the new bytes (and 3 before them) can complete the blank line.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&chunk[..n]);
                if ends_head(&head[from..]) {
                    return Ok(Some(parse(head)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Whether `bytes` hold the blank line that ends a head (`\r\n\r\n`, or bare `\n\n`).
fn ends_head(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == b"\r\n\r\n") || bytes.windows(2).any(|w| w == b"\n\n")
}

/// Reads the request line of `head`.
fn parse(head: &[u8]) -> Request {
    let Some(end) = head.iter().position(|&b| b == b'\n') else {
        return Request::Bad;
    };
    let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Request::Bad;
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Request::MethodNotAllowed,
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    if path == b"/metrics" {
        Request::Metrics { head_only }
    } else {
        Request::NotFound { head_only }
    }
}

/// The whole HTTP answer to `request`.
fn answer(request: Request, registry: &Registry) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    match request {
        Request::Metrics { head_only } => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => response(
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    "",
                    &body,
                    head_only,
                ),
                Err(_) => response(
                    "500 Internal Server Error",
                    text,
                    "",
                    "encoding failed\n",
                    head_only,
                ),
            }
        }
        Request::NotFound { head_only } => response(
            "404 Not Found",
            text,
            "",
            "metrics are at /metrics\n",
            head_only,
        ),
        Request::MethodNotAllowed => response(
            "405 Method Not Allowed",
            text,
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD\n",
            false,
        ),
        Request::Bad => response(
            "400 Bad Request",
            text,
            "",
            "not an HTTP/1 request\n",
            false,
        ),
        Request::TooLarge => response(
            "431 Request Header Fields Too Large",
            text,
            "",
            "request head over 8 KiB\n",
            false,
        ),
    }
}

/// The answer given to the excess when every slot is taken.
fn busy() -> Vec<u8> {
    response(
        "503 Service Unavailable",
        "text/plain; charset=utf-8",
        "Retry-After: 1\r\n",
        "too many metrics requests at once\n",
        false,
    )
}

/// An HTTP/1.1 response that closes the connection; `extra` holds whole header lines.
fn response(status: &str, content_type: &str, extra: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

/// Writes as much of `bytes[*sent..]` as the socket takes; true once all of it is sent.
fn write_some(stream: &mut TcpStream, bytes: &[u8], sent: &mut usize) -> io::Result<bool> {
    while *sent < bytes.len() {
        match stream.write(&bytes[*sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Sends the `503` (it fits in any socket buffer; if not, the peer gets the close) and closes.
fn refuse(stream: &mut TcpStream) {
    let _ = write_some(stream, &busy(), &mut 0);
    finish(stream);
}

/// Ends an answered connection with a FIN: whatever the peer sent and was not read is read and
/// dropped first, because closing with unread bytes sends a reset, which can destroy the answer
/// before the peer reads it.
fn finish(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 1024];
    for _ in 0..16 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request line decides the answer; the query string is ignored.
    #[test]
    fn parses_request_lines() {
        let metrics = Request::Metrics { head_only: false };
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\n\r\n"), metrics);
        assert_eq!(parse(b"GET /metrics?x=1&y HTTP/1.1\r\n\r\n"), metrics);
        assert_eq!(parse(b"GET /metrics HTTP/1.0\n\n"), metrics);
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Request::Metrics { head_only: true }
        );
        assert_eq!(
            parse(b"GET /metricsx HTTP/1.1\r\n\r\n"),
            Request::NotFound { head_only: false }
        );
        assert_eq!(
            parse(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(parse(b"GET /metrics\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metrics SPDY/3\r\n\r\n"), Request::Bad);
        assert_eq!(parse(b"GET /metr"), Request::Bad);
    }

    /// The end of a head is found however the bytes were split.
    #[test]
    fn finds_the_end_of_a_head() {
        assert!(ends_head(b"x\r\n\r\n"));
        assert!(ends_head(b"\n\n"));
        assert!(!ends_head(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    }

    /// `HEAD` gets the headers of `GET` and no body; every answer closes the connection.
    #[test]
    fn answers_head_without_body() {
        let with = String::from_utf8(response("200 OK", "t", "", "body", false)).unwrap();
        let without = String::from_utf8(response("200 OK", "t", "", "body", true)).unwrap();
        assert_eq!(with, format!("{without}body"));
        assert!(without.contains("Content-Length: 4\r\n"));
        assert!(without.contains("Connection: close\r\n"));
        assert!(String::from_utf8(busy())
            .unwrap()
            .starts_with("HTTP/1.1 503 "));
    }
}
