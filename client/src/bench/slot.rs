//! One connection of a bench worker: its socket, where it is in its life ([`State`]), the
//! bytes it has yet to write and the answers it awaits (a [`Checker`]). The event loop in
//! `engine` decides what happens next; a slot makes the socket calls and says how they went.
//!
//! Sockets are registered once, edge-triggered, for both directions: a read shorter than the
//! buffer means the socket is drained (the next arrival raises a new edge), and a write that
//! takes everything needs no writability wait. That keeps a message to one write and one read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::checker::{Checker, Mismatch, Msg};
use super::failure::Reason;
use super::payload::Payload;
use crate::connect::Backoff;
use crate::sys::{interrupted, would_block};

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
    /// Sending and receiving.
    Open,
    /// Half-closed by us at the end of the run: waiting for the server to finish and close.
    Closing,
    /// Finished for good.
    Done,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed it (end of stream).
    Closed,
    /// Reset or another I/O error.
    Broken(Reason),
    /// An answer byte was wrong, or bytes came that nobody asked for.
    Mismatch(Mismatch),
}

/// One connection of a worker.
#[derive(Debug)]
pub struct Slot {
    /// Global connection number (payload origin, address choice).
    pub id: u64,
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Where it is in its life.
    pub state: State,
    /// Bytes to write: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The messages in flight and the answers they must get.
    pub checker: Checker,
    /// The sequence number of its next new message.
    next_seq: u64,
    /// Whether it was ever open (a failure after that is not a set-up failure).
    pub ever_opened: bool,
    /// When the current connection attempt began.
    connect_started: Instant,
    backoff: Backoff,
    /// Queued in the worker's list of connections that may take another message.
    pub ready: bool,
}

impl Slot {
    /// Connection `id` to `addr`, to open at `at`.
    pub fn new(id: u64, addr: SocketAddr, at: Instant) -> Slot {
        Slot {
            id,
            addr,
            stream: None,
            state: State::Waiting { at },
            out: Vec::new(),
            out_pos: 0,
            checker: Checker::new(),
            next_seq: 0,
            ever_opened: false,
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
    /// else whether the connection opened. On success it is [`State::Open`]; on failure the
    /// socket is dropped and the caller decides what comes next.
    pub fn finish_connect(&mut self, registry: &Registry) -> Option<Result<(), Reason>> {
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
        self.state = State::Open;
        self.backoff.reset();
        Some(Ok(()))
    }

    /// Whether a connect under way has taken `timeout` or more.
    pub fn connect_timed_out(&self, now: Instant, timeout: Duration) -> bool {
        self.state == State::Connecting
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
    /// data): read until it returns 0.
    pub fn receive(
        &mut self,
        buf: &mut [u8],
        hup: bool,
        mut check: impl FnMut(&mut Checker, &[u8]) -> Result<(), Mismatch>,
    ) -> Result<(), End> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        loop {
            match stream.read(buf) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => {
                    check(&mut self.checker, &buf[..n]).map_err(End::Mismatch)?;
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

    /// Half-closes the connection at the end of the run: it is [`State::Closing`] while the
    /// server finishes.
    pub fn half_close(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Write);
        }
        self.state = State::Closing;
    }

    /// Drops the socket, the bytes not written and the answers awaited (the caller has
    /// counted them); the state is the caller's to set.
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.out.clear();
        self.out_pos = 0;
        self.checker = Checker::new();
    }
}
