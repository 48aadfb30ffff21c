//! One connection of a bench worker: its socket, where it is in its life ([`State`]), the
//! bytes it has yet to write and the answers it awaits (a [`Checker`]). The event loop in
//! `engine` decides what happens next; a slot makes the socket calls and says how they went.
//!
//! Sockets are registered once, edge-triggered, for both directions: a read shorter than the
//! buffer means the socket is drained (the next arrival raises a new edge), and a write that
//! takes everything needs no writability wait. That keeps a message to one write and one read.
//!
//! With TLS a rustls `ClientConnection` sits between the socket and the same message logic:
//! it is sans-IO too, so the slot reads the socket into the worker's buffer as before, feeds
//! the records to rustls and hands the decrypted answers to the same checker, straight from
//! rustls' buffer; the bytes to write go through rustls' writer and leave as records. Without
//! TLS the slot takes the plain path, unchanged: no extra copy or system call per message.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ClientConnection;

use super::checker::{Checker, Mismatch, Msg};
use super::failure::Reason;
use super::greeting::{Greeting, Screened};
use super::payload::Payload;
use crate::connect::Backoff;
use crate::sys::{interrupted, would_block};
use crate::tls::TlsClient;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting to open: the first time at `at`, or again after a failure (`--reconnect`).
    Waiting {
        /// When to open.
        at: Instant,
    },
    /// A non-blocking connect is under way.
    Connecting,
    /// TLS: connected, the handshake is under way.
    Handshaking,
    /// Sending and receiving.
    Open,
    /// Half-closed by us at the end of the run: waiting for the server to finish and close.
    Closing,
    /// Finished for good.
    Done,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The server closed it (end of stream).
    Closed,
    /// Reset or another I/O error.
    Broken(Reason),
    /// An answer byte was wrong, or bytes came that nobody asked for.
    Mismatch(Mismatch),
    /// The server refused the connection before answering anything: its busy line, or (TLS)
    /// a fatal alert, such as a client certificate it wanted and did not get.
    Refused(Reason),
}

/// One connection of a worker.
#[derive(Debug)]
pub struct Slot {
    /// Global connection number (payload origin, address choice).
    pub id: u64,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// TLS: the set-up for this connection's server (`None`: plain TCP).
    tls_client: Option<TlsClient>,
    /// TLS: the session of the open connection, between the socket and the messages.
    tls: Option<Box<ClientConnection>>,
    /// TLS, closing: the TCP half-close waits until close_notify has left.
    shutdown_pending: bool,
    /// When the TCP connection was established (the TLS handshake began).
    pub connected_at: Instant,
    /// Where it is in its life.
    pub state: State,
    /// Bytes to write: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The messages in flight and the answers they must get.
    pub checker: Checker,
    /// The sequence number of its next new message.
    next_seq: u64,
    /// Whether a connection of this slot was accepted (counted as opened) before the current
    /// one: a failure after that is not a set-up failure, `--reconnect` tries again, and the
    /// next connection is a reopening.
    pub accepted_before: bool,
    /// What the current connection has shown: until the server shows it accepted it (answer
    /// bytes came, not a refusal, or it ended without one) it is open but not counted as
    /// opened.
    pub greeting: Greeting,
    /// When the current connection became open (with TLS: its handshake complete).
    pub open_at: Instant,
    /// When the current connection attempt began.
    connect_started: Instant,
    backoff: Backoff,
    /// Queued in the worker's list of connections that may take another message.
    pub ready: bool,
}

impl Slot {
    /// Connection `id` to `addr`, to open at `at`; with `tls`, TLS is spoken over it.
    pub fn new(id: u64, addr: SocketAddr, tls: Option<TlsClient>, at: Instant) -> Slot {
        Slot {
            id,
            addr,
            stream: None,
            tls_client: tls,
            tls: None,
            shutdown_pending: false,
            connected_at: at,
            state: State::Waiting { at },
            out: Vec::new(),
            out_pos: 0,
            checker: Checker::new(),
            next_seq: 0,
            accepted_before: false,
            greeting: Greeting::default(),
            open_at: at,
            connect_started: at,
            backoff: Backoff::default(),
            ready: false,
        }
    }

    /// Starts a non-blocking connect, registered under `token`.
    pub fn connect(&mut self, registry: &Registry, token: Token, now: Instant) -> io::Result<()> {
        let mut stream = TcpStream::connect(self.addr)?;
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        self.stream = Some(stream);
        self.state = State::Connecting;
        self.connect_started = now;
        Ok(())
    }

    /// After an event while connecting: `None` if not connected yet (a spurious wake-up),
    /// else whether the connection opened. On success it is [`State::Open`], or with TLS
    /// [`State::Handshaking`] with its ClientHello sent; on failure the socket is dropped and
    /// the caller decides what comes next.
    pub fn finish_connect(
        &mut self,
        registry: &Registry,
        now: Instant,
    ) -> Option<Result<(), Reason>> {
        let stream = self.stream.as_ref()?;
        let failure = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(Reason::of(&e)),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return None,
                Err(e) => Some(Reason::of(&e)),
            },
        };
        if let Some(reason) = failure {
            self.close(registry);
            return Some(Err(reason));
        }
        // Every message is small and wants its answer now.
        let _ = stream.set_nodelay(true);
        self.connected_at = now;
        let Some(client) = &self.tls_client else {
            self.opened();
            return Some(Ok(()));
        };
        self.state = State::Handshaking;
        let started = ClientConnection::new(client.config.clone(), client.name.clone())
            .map_err(|e| Reason::Tls(format!("TLS set-up failed: {e}")))
            .and_then(|conn| {
                let tls = self.tls.insert(Box::new(conn));
                let stream = self.stream.as_mut().expect("connected above");
                send_records(tls, stream).map(drop)
            });
        if let Err(reason) = started {
            self.close(registry);
            return Some(Err(reason));
        }
        Some(Ok(()))
    }

    /// The connection is open: messages may go.
    fn opened(&mut self) {
        self.state = State::Open;
    }

    /// The connection is counted as accepted (see [`Slot::greeting`]): the next one is a
    /// reopening, and the backoff starts again from its first pause.
    pub fn accepted(&mut self) {
        self.greeting = Greeting::Counted;
        self.accepted_before = true;
        self.backoff.reset();
    }

    /// Whether it speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls_client.is_some()
    }

    /// Whether a connect under way has taken `timeout` or more.
    pub fn connect_timed_out(&self, now: Instant, timeout: Duration) -> bool {
        matches!(self.state, State::Connecting | State::Handshaking)
            && now.saturating_duration_since(self.connect_started) >= timeout
    }

    /// The pause before the next attempt to open it again.
    pub fn retry_pause(&mut self) -> Duration {
        self.backoff.pause()
    }

    /// Whether it is open with fewer than `pipeline` messages in flight.
    pub fn has_room(&self, pipeline: usize) -> bool {
        self.state == State::Open && self.checker.len() < pipeline
    }

    /// A new message of this connection, its latency counting from `base`.
    pub fn new_message(&mut self, base: Instant, now: Instant) -> Msg {
        let seq = self.next_seq;
        self.next_seq += 1;
        Msg {
            origin: self.id,
            seq,
            base,
            sent_at: now,
        }
    }

    /// Adds `msg` to the bytes to write and its answer to those awaited; `scratch` is room
    /// for the answer on its way.
    pub fn queue(&mut self, payload: &Payload, msg: Msg, scratch: &mut Vec<u8>) {
        payload.write(&mut self.out, msg.origin, msg.seq, scratch);
        self.checker.push(msg, scratch);
    }

    /// Writes pending output until done or the socket is full (a writable event resumes).
    pub fn flush(&mut self) -> Result<(), Reason> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        if let Some(tls) = self.tls.as_deref_mut() {
            return flush_tls(
                tls,
                stream,
                &mut self.out,
                &mut self.out_pos,
                &mut self.shutdown_pending,
            );
        }
        while self.out_pos < self.out.len() {
            match stream.write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(Reason::of(&e)),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Ok(())
    }

    /// Reads what arrived into `buf`, handing each read to `check`, until the socket is
    /// drained; an error says how the connection ended. `hup`: the peer's end of stream was
    /// signalled, so a short read does not mean drained (the end may have come with the
    /// data): read until it returns 0. With TLS, the records go through rustls first (a
    /// handshake under way moves on, and the slot is [`State::Open`] once it is complete)
    /// and `check` gets the decrypted answers.
    pub fn receive(
        &mut self,
        buf: &mut [u8],
        hup: bool,
        mut check: impl FnMut(&mut Checker, &[u8]) -> Result<(), Mismatch>,
    ) -> Result<(), End> {
        if self.tls.is_some() {
            return self.receive_tls(buf, hup, check);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        loop {
            match stream.read(buf) {
                Ok(0) => {
                    let held = self.greeting.release();
                    screen_and_check(&mut self.greeting, &mut self.checker, held, &mut check)?;
                    return Err(End::Closed);
                }
                Ok(n) => {
                    screen_and_check(&mut self.greeting, &mut self.checker, &buf[..n], &mut check)?;
                    if n < buf.len() && !hup {
                        return Ok(()); // drained: the next arrival raises a new edge
                    }
                }
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(End::Broken(Reason::of(&e))),
            }
        }
    }

    /// [`Slot::receive`] over TLS: reads records into `buf` (the same short-read rule), feeds
    /// them to rustls, checks the plaintext in place, and sends what rustls answers with (the
    /// handshake's next flight, an alert).
    fn receive_tls(
        &mut self,
        buf: &mut [u8],
        hup: bool,
        mut check: impl FnMut(&mut Checker, &[u8]) -> Result<(), Mismatch>,
    ) -> Result<(), End> {
        let (Some(stream), Some(tls)) = (self.stream.as_mut(), self.tls.as_deref_mut()) else {
            return Ok(());
        };
        loop {
            let n = match stream.read(buf) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(End::Broken(Reason::of(&e))),
            };
            if n == 0 {
                if tls.is_handshaking() {
                    return Err(End::Broken(Reason::Tls(
                        "the server closed the connection during the TLS handshake".to_owned(),
                    )));
                }
                // The end of TCP: rustls now says whether close_notify came before it.
                let _ = tls.read_tls(&mut io::empty());
                return match drain_plaintext(tls, &mut self.checker, &mut self.greeting, &mut check)
                {
                    Err(End::Broken(Reason::Kind(io::ErrorKind::UnexpectedEof))) | Ok(()) => {
                        Err(End::Broken(Reason::Tls(
                            "the server closed the connection without TLS close_notify".to_owned(),
                        )))
                    }
                    Err(end) => Err(end),
                };
            }
            let mut records = &buf[..n];
            while !records.is_empty() {
                match tls.read_tls(&mut records) {
                    // close_notify came: what follows it is not read.
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(End::Broken(Reason::Tls(format!("TLS error: {e}")))),
                }
                if let Err(e) = tls.process_new_packets() {
                    // The alert that says why, for the server.
                    let _ = send_records(tls, stream);
                    if !self.greeting.shown() && crate::stream::TlsRefused::of(&e).is_some() {
                        // TLS 1.3: the server checks the client after the client has finished
                        // its part, so a refusal comes once the handshake looks complete. Only
                        // an alert about the client's certificate is one (as for the prompt);
                        // any other alert is a broken connection.
                        return Err(End::Refused(Reason::Tls(format!(
                            "TLS handshake failed: {e}"
                        ))));
                    }
                    let what = if tls.is_handshaking() {
                        "TLS handshake failed"
                    } else {
                        "TLS error"
                    };
                    return Err(End::Broken(Reason::Tls(format!("{what}: {e}"))));
                }
                if self.state == State::Handshaking && !tls.is_handshaking() {
                    self.state = State::Open;
                }
                drain_plaintext(tls, &mut self.checker, &mut self.greeting, &mut check)?;
            }
            send_records(tls, stream).map_err(End::Broken)?;
            if n < buf.len() && !hup {
                return Ok(()); // drained: the next arrival raises a new edge
            }
        }
    }

    /// Half-closes the connection at the end of the run: it is [`State::Closing`] while the
    /// server finishes. With TLS, close_notify goes first (bytes not yet written are dropped,
    /// as the plain half-close drops them), and the TCP half-close once it has left.
    pub fn half_close(&mut self) {
        self.state = State::Closing;
        let Some(stream) = &self.stream else {
            return;
        };
        let Some(tls) = self.tls.as_deref_mut() else {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        };
        tls.send_close_notify();
        self.out.clear();
        self.out_pos = 0;
        self.shutdown_pending = true;
        // A failure shows as the connection's end, read next.
        let _ = self.flush();
    }

    /// Drops the socket, the bytes not written and the answers awaited (the caller has
    /// counted them); the state is the caller's to set.
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.tls = None;
        self.shutdown_pending = false;
        self.greeting = Greeting::default();
        self.out.clear();
        self.out_pos = 0;
        self.checker = Checker::new();
    }
}

/// Screens `data` (see [`Greeting::screen`]) and hands what is answer bytes to `check`: the
/// bytes held back before it first.
fn screen_and_check(
    greeting: &mut Greeting,
    checker: &mut Checker,
    data: &[u8],
    check: &mut impl FnMut(&mut Checker, &[u8]) -> Result<(), Mismatch>,
) -> Result<(), End> {
    match greeting.screen(data) {
        Screened::Check(held) => {
            for part in [held, data] {
                if !part.is_empty() {
                    check(checker, part).map_err(End::Mismatch)?;
                }
            }
            Ok(())
        }
        Screened::Hold => Ok(()),
        Screened::Busy => Err(End::Refused(Reason::Busy)),
    }
}

/// Hands the plaintext rustls has decrypted to `check`, in place (screened while the
/// connection has shown nothing): `End::Closed` after the server's close_notify.
fn drain_plaintext(
    tls: &mut ClientConnection,
    checker: &mut Checker,
    greeting: &mut Greeting,
    check: &mut impl FnMut(&mut Checker, &[u8]) -> Result<(), Mismatch>,
) -> Result<(), End> {
    loop {
        let mut reader = tls.reader();
        match reader.fill_buf() {
            Ok([]) => {
                let held = greeting.release();
                screen_and_check(greeting, checker, held, check)?;
                return Err(End::Closed);
            }
            Ok(chunk) => {
                let len = chunk.len();
                screen_and_check(greeting, checker, chunk, check)?;
                reader.consume(len);
            }
            Err(e) if would_block(&e) => return Ok(()),
            Err(e) => return Err(End::Broken(Reason::of(&e))),
        }
    }
}

/// Sends the records rustls has queued: `Ok(true)` when all have left, `Ok(false)` when the
/// socket is full first (a writable event resumes).
fn send_records(tls: &mut ClientConnection, stream: &mut TcpStream) -> Result<bool, Reason> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(Reason::Kind(io::ErrorKind::WriteZero)),
            Ok(_) => {}
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(Reason::of(&e)),
        }
    }
    Ok(true)
}

/// [`Slot::flush`] over TLS: the pending bytes go into rustls (encrypted as they go in), the
/// records out to the socket, as far as it takes them; then the half-close, if it waits for
/// close_notify to leave.
fn flush_tls(
    tls: &mut ClientConnection,
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    out_pos: &mut usize,
    shutdown_pending: &mut bool,
) -> Result<(), Reason> {
    loop {
        if !send_records(tls, stream)? {
            return Ok(());
        }
        if *out_pos == out.len() {
            break;
        }
        let n = tls
            .writer()
            .write(&out[*out_pos..])
            .map_err(|e| Reason::Tls(format!("TLS error: {e}")))?;
        *out_pos += n;
        if n == 0 && !tls.wants_write() {
            // Cannot happen (a full buffer has records to send); never spin on it.
            return Ok(());
        }
    }
    out.clear();
    *out_pos = 0;
    if *shutdown_pending {
        *shutdown_pending = false;
        let _ = stream.shutdown(Shutdown::Write);
    }
    Ok(())
}
