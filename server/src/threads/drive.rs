//! A connection thread's exchange of bytes: the shared [`Connection`] core driven with
//! blocking I/O, every wait a `poll(2)` bounded by its timeout and ended by shutdown; at an
//! upgrade's hand-over a plaintext connection goes to the new process, and the others are
//! served until quiet ([`QuietDrain`]).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::event::PollFlags;
use rustix::net::{recv, send, RecvFlags, SendFlags};

use super::wait::{wait_for, Wait};
use crate::conn::{self, Connection, Want};
use crate::handover::Moved;
use crate::shared::{QuietDrain, Shared};
use crate::sockets::discard_input;
use crate::stats::{CloseReason, Traffic};
use crate::transport::Transport;

/// What a connection thread drives its core with.
pub(super) struct Ctx<'a> {
    pub(super) stream: &'a TcpStream,
    /// Readable once shutdown has begun.
    pub(super) stop: &'a OwnedFd,
    pub(super) shared: &'a Shared,
    /// It only gets the busy line: it does not wait for its peer to close.
    pub(super) refused: bool,
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
}

/// Where a connection's timeouts count from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// The write timeout counts from the last progress either way, as in the pool model: a
    /// peer is closed when it has accepted no answer byte for that long.
    pub(super) progress: Instant,
    /// The idle timeout counts from the last input byte the core got, not from the last
    /// wake-up: through TLS, bytes that make no plaintext yet (a record dribbled a byte at a
    /// time) are no input, as in the pool model.
    pub(super) last_input: Instant,
}

/// A step of the exchange either goes on (with the result of its I/O) or ends the connection.
type Step = Result<io::Result<()>, CloseReason>;

/// The state of one connection's exchange.
struct Driver<'c, 'a> {
    ctx: &'c Ctx<'a>,
    clock: Clock,
    /// Set when an upgrade does not hand this connection over: it is served until quiet.
    quiet: Option<QuietDrain>,
}

/// Runs the connection core with blocking I/O until it ends; returns why it ended.
pub(super) fn drive(
    ctx: &Ctx<'_>,
    conn: &mut Connection,
    transport: &mut Transport,
    scratch: &mut [u8],
    clock: Clock,
) -> CloseReason {
    let mut driver = Driver {
        ctx,
        clock,
        quiet: None,
    };
    let stream = ctx.stream;
    loop {
        if transport.wants_write() {
            // TLS records made earlier go first.
            if let Err(reason) = driver.flush_records(transport) {
                return reason;
            }
            continue;
        }
        let before = conn.traffic();
        let step = match conn.want() {
            // Input already decrypted or read ahead needs no wait.
            Want::Read if !transport.is_direct() && transport.has_buffered_input() => {
                Ok(read_now(conn, transport, stream, scratch))
            }
            Want::Read => driver.read(conn, transport, scratch),
            Want::Write => driver.write(conn, transport),
            Want::Close => {
                // TLS: the close_notify goes out first (at the top of the loop).
                if transport.begin_close() {
                    continue;
                }
                return driver.finish(conn, scratch);
            }
        };
        let result = match step {
            Ok(result) => result,
            Err(reason) => return reason,
        };
        driver.count(conn.traffic() - before);
        if let Err(e) = result {
            return conn::reason_for(&e);
        }
    }
}

impl Driver<'_, '_> {
    /// How long until the write timeout, counted from the last progress.
    fn write_left(&self) -> Option<std::time::Duration> {
        let config = &self.ctx.shared.config;
        config
            .write_timeout
            .map(|t| (self.clock.progress + t).saturating_duration_since(Instant::now()))
    }

    /// Sends TLS records made earlier, once the socket has room.
    fn flush_records(&mut self, transport: &mut Transport) -> Result<(), CloseReason> {
        let stream = self.ctx.stream;
        let result = match wait_for(stream, PollFlags::OUT, None, self.write_left()) {
            Ok(Wait::Timeout) => return Err(CloseReason::WriteTimeout),
            Ok(_) => transport.flush(&mut NonBlocking(stream)),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => self.clock.progress = Instant::now(),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(conn::reason_for(&e)),
        }
        Ok(())
    }

    /// Waits for input (until the idle timeout, shutdown, or quiet at an upgrade), then reads.
    fn read(
        &mut self,
        conn: &mut Connection,
        transport: &mut Transport,
        scratch: &mut [u8],
    ) -> Step {
        let Ctx {
            stream,
            stop,
            shared,
            ..
        } = *self.ctx;
        let config = &shared.config;
        let idle_at = config.idle_timeout.map(|t| self.clock.last_input + t);
        let quiet_at = self.quiet.map(|q| q.stop_reading_at(self.clock.last_input));
        let until = match (idle_at, quiet_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Once shutdown is seen, the stop descriptor stays readable: not waited on.
        let stop = if self.quiet.is_some() {
            None
        } else {
            Some(stop)
        };
        let left = until.map(|d| d.saturating_duration_since(Instant::now()));
        match wait_for(stream, PollFlags::IN, stop, left) {
            Ok(Wait::Ready) => Ok(read_now(conn, transport, stream, scratch)),
            Ok(Wait::Stop) => {
                if hand_over(self.ctx, conn, transport, self.clock) {
                    return Err(CloseReason::HandedOver);
                }
                if shared.hand_over_sink().is_some() {
                    // Its quiet time counts from now (set-up may have just ended).
                    self.clock.last_input = Instant::now();
                    self.quiet = Some(QuietDrain::new(self.clock.last_input, config.drain_timeout));
                } else {
                    // Answer what was read, then close; read nothing more.
                    conn.stop_reading();
                }
                Ok(Ok(()))
            }
            Ok(Wait::Timeout) if quiet_at.is_some() && quiet_at == until => {
                // Quiet (or out of time) at an upgrade: answer what was read, then close.
                self.quiet = None;
                conn.stop_reading();
                Ok(Ok(()))
            }
            Ok(Wait::Timeout) => {
                // TLS: an idle close is a TLS close. Nothing else is waiting to be sent, so the
                // socket takes the alert at once; one non-blocking attempt.
                if transport.begin_close() {
                    let _ = transport.flush(&mut NonBlocking(stream));
                }
                Err(CloseReason::Idle)
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Waits for room to send (until the write timeout), then writes answers.
    fn write(&mut self, conn: &mut Connection, transport: &mut Transport) -> Step {
        let stream = self.ctx.stream;
        match wait_for(stream, PollFlags::OUT, None, self.write_left()) {
            Ok(Wait::Timeout) => Err(CloseReason::WriteTimeout),
            Ok(_) => Ok(
                match conn.write_to(&mut transport.io(&mut NonBlocking(stream))) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    result => result.map(drop),
                },
            ),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Every answer is written: ends our side, then waits for the peer's close.
    fn finish(&self, conn: &Connection, scratch: &mut [u8]) -> CloseReason {
        let stream = self.ctx.stream;
        // A failure here loses nothing.
        let _ = stream.shutdown(Shutdown::Write);
        if self.ctx.refused {
            // Drop what the refused peer already sent, without waiting for more.
            discard_input(&mut NonBlocking(stream), scratch, Some(16));
        } else if !conn.peer_closed() {
            // The peer has seen our end of stream and will close too; closing first, with its
            // input unread, would reset the connection. The drain timeout bounds this: it
            // shuts the socket down, which ends the read.
            discard_input(&mut &*stream, scratch, None);
        }
        CloseReason::Done
    }

    /// Counts the bytes a step moved, and when.
    fn count(&mut self, moved: Traffic) {
        if moved.bytes_in > 0 {
            self.clock.last_input = Instant::now();
        }
        if moved != Traffic::default() {
            self.clock.progress = Instant::now();
            self.ctx.shared.stats.traffic(moved);
        }
    }
}

/// At an upgrade's hand-over: offers a plaintext connection that still reads (and, being at
/// `Want::Read`, has no answer pending) to the new process; true if it went.
fn hand_over(ctx: &Ctx<'_>, conn: &Connection, transport: &Transport, clock: Clock) -> bool {
    let Some(sink) = ctx.shared.hand_over_sink() else {
        return false;
    };
    let Some(unread) = transport.plain_read_ahead() else {
        return false;
    };
    if !conn.reading() {
        return false;
    }
    let Ok(stream) = ctx.stream.try_clone() else {
        return false;
    };
    let moved = Moved {
        stream,
        peer: ctx.peer,
        carry: conn.carried().to_vec(),
        pending: conn.pending().to_vec(),
        unread: unread.to_vec(),
        idle_elapsed: clock.last_input.elapsed(),
        write_elapsed: clock.progress.elapsed(),
    };
    ctx.shared.offer(&sink, &moved, ctx.id)
}

/// Reads once without waiting (`WouldBlock` means nothing complete yet: wait again).
fn read_now(
    conn: &mut Connection,
    transport: &mut Transport,
    stream: &TcpStream,
    scratch: &mut [u8],
) -> io::Result<()> {
    match conn.read_from(&mut transport.io(&mut NonBlocking(stream)), scratch) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        result => result.map(drop),
    }
}

/// Reads and writes a blocking socket without blocking (`MSG_DONTWAIT`): a write takes what
/// fits in the send buffer and returns, so the write timeout is measured by [`wait_for`] alone
/// (a blocking send with `SO_SNDTIMEO` restarts its wait after every partial send, which made
/// the timeout up to twice the setting); a read after `poll(2)` said "readable" gives what
/// arrived, and through TLS an incomplete record sends the thread back to `poll(2)` rather than
/// blocking outside its deadline.
pub(super) struct NonBlocking<'a>(pub(super) &'a TcpStream);

impl io::Read for NonBlocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(recv(self.0, buf, RecvFlags::DONTWAIT)?.0)
    }
}

impl io::Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(send(
            self.0,
            buf,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
