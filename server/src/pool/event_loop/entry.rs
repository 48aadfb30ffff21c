//! One connection in a worker ([`Entry`]): its socket, core, transport and clocks, and its
//! exchange of bytes, run as far as the socket allows.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::conn::{self, Connection, Want};
use crate::shared::Held;
use crate::stats::CloseReason;
use crate::transport::Transport;

/// One connection in a worker.
pub(super) struct Entry {
    pub(super) stream: TcpStream,
    pub(super) conn: Connection,
    /// Plaintext or TLS, after a PROXY header or not.
    pub(super) transport: Transport,
    /// What it holds of the limits (given back at close).
    pub(super) held: Held,
    pub(super) id: u64,
    /// The client's address: the peer's, or the PROXY header's once read.
    pub(super) peer: SocketAddr,
    /// Accept time: set-up deadlines count from it.
    pub(super) accepted: Instant,
    /// Set-up (PROXY header, TLS handshake) is over: the core is being served.
    pub(super) ready: bool,
    /// The socket may have input we have not read (an edge arrived, or the last read filled
    /// the buffer).
    pub(super) readable: bool,
    /// Last time bytes were read / written (idle and write timeouts count from these).
    pub(super) last_read: Instant,
    pub(super) last_write: Instant,
    /// The time of this connection's live entry in the deadline heap, if any.
    pub(super) timer_at: Option<Instant>,
    /// Shutdown: our end of stream is sent; we read and drop input until the peer closes.
    pub(super) lingering: bool,
    /// The peer's end of stream (or an error) has been signalled.
    pub(super) hup: bool,
    /// An upgrade did not hand it over: it is served until it falls quiet ([`QuietDrain`]).
    pub(super) quiet: bool,
}

impl Entry {
    /// Writes answers and reads input, in the order the connection core wants them, until the
    /// socket blocks, every answer is written after the end of input, or an error.
    pub(super) fn exchange(
        &mut self,
        scratch: &mut [u8],
        buffers: &mut Vec<Vec<u8>>,
        now: Instant,
    ) -> Stopped {
        loop {
            // TLS records made earlier go first.
            if self.transport.wants_write() {
                match self.transport.flush(&mut self.stream) {
                    Ok(()) => self.last_write = now,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Stopped::Blocked,
                    Err(e) => return Stopped::Failed(conn::reason_for(&e)),
                }
            }
            match self.conn.want() {
                Want::Write => match self.conn.write_to(&mut self.transport.io(&mut self.stream)) {
                    Ok(_) => self.last_write = now,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Stopped::Blocked,
                    Err(e) => return Stopped::Failed(conn::reason_for(&e)),
                },
                Want::Read => {
                    if !self.readable {
                        return Stopped::Blocked;
                    }
                    if !self.conn.has_buffer() {
                        self.conn.give_buffer(buffers.pop().unwrap_or_default());
                    }
                    let direct = self.transport.is_direct();
                    match self
                        .conn
                        .read_from(&mut self.transport.io(&mut self.stream), scratch)
                    {
                        // A short read emptied the socket: the next arrival raises a new edge.
                        // Not so once the peer's end of stream is signalled: it may have come
                        // with the data, so read on until the read returns 0. (Through TLS or
                        // bytes read ahead, a short read says nothing about the socket.)
                        Ok(n) => {
                            self.last_read = now;
                            if direct && n > 0 && n < scratch.len() && !self.hup {
                                self.readable = false;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            self.readable = false;
                        }
                        Err(e) => return Stopped::Failed(conn::reason_for(&e)),
                    }
                }
                Want::Close => {
                    // TLS: the close_notify goes out (at the top of the loop) first.
                    if !self.transport.begin_close() {
                        return Stopped::Answered;
                    }
                }
            }
        }
    }

    /// Whether bytes wait to be written (the write timeout applies).
    pub(super) fn writing(&self) -> bool {
        self.conn.want() == Want::Write || self.transport.wants_write()
    }
}

/// Where a connection's exchange of bytes stopped, for now or for good.
pub(super) enum Stopped {
    /// The socket has no more input or no more room: wait for its next edge.
    Blocked,
    /// The peer's end of stream, or shutdown, and every answer is written.
    Answered,
    /// An I/O error ended the connection.
    Failed(CloseReason),
}
