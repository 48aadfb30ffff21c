//! The connection core, sans-IO: bytes in -> answer bytes out, with the UTF-8 carry, half-close
//! and the buffer bound. It never touches a socket; a concurrency model drives it, with blocking
//! calls (the thread model) or from readiness events (the pool), through
//! [`Connection::read_from`] and [`Connection::write_to`], which work on any `Read`/`Write`.

use std::io::{self, Read, Write};

use shout_common::{Mode, Transform};

use crate::stats::{CloseReason, Traffic};

/// The most bytes taken from the peer in one read.
///
/// A connection reads only when every earlier answer has been written, so its answer buffer
/// never holds more than [`MAX_PENDING`] bytes, whatever the peer sends and whether or not it
/// sends newlines. 16 KiB keeps system calls per MiB low while bounding memory per connection.
pub const READ_CHUNK: usize = 16 * 1024;

/// The most answer bytes a connection ever holds: one read, transformed (plus held bytes).
pub const MAX_PENDING: usize = Transform::max_output(READ_CHUNK);

/// What the connection needs next from whoever drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Everything read so far is answered: read more.
    Read,
    /// Answer bytes are waiting: write them before reading more (this is the backpressure).
    Write,
    /// The peer half-closed and everything is answered: shut down the sending side and close.
    Close,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    transform: Transform,
    /// Answer bytes; `out[written..]` is still to be sent.
    out: Vec<u8>,
    written: usize,
    /// The peer shut down its sending side (or we stopped reading, when draining).
    read_closed: bool,
    /// The peer shut down its sending side (end of stream was read).
    peer_closed: bool,
    bytes_in: u64,
    bytes_out: u64,
    lines_in: u64,
}

impl Connection {
    /// A new connection answering in `mode`.
    pub fn new(mode: Mode) -> Self {
        Connection {
            transform: Transform::new(mode),
            out: Vec::new(),
            written: 0,
            read_closed: false,
            peer_closed: false,
            bytes_in: 0,
            bytes_out: 0,
            lines_in: 0,
        }
    }

    /// What to do next.
    pub fn want(&self) -> Want {
        if self.written < self.out.len() {
            Want::Write
        } else if self.read_closed {
            Want::Close
        } else {
            Want::Read
        }
    }

    /// Takes bytes the peer sent; an empty slice means the peer shut down its sending side, and
    /// held bytes (a cut character) are released unchanged.
    pub fn received(&mut self, data: &[u8]) {
        debug_assert!(data.len() <= READ_CHUNK && !self.read_closed);
        if data.is_empty() {
            self.peer_closed = true;
            self.stop_reading();
        } else {
            self.bytes_in += data.len() as u64;
            self.lines_in += shout_common::count_newlines(data) as u64;
            self.transform.push(data, &mut self.out);
        }
    }

    /// Answers `line` as it is and reads nothing: a refusal (the busy line) sent through the
    /// connection's transport, such as over TLS once the handshake is done.
    pub fn refuse(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.stop_reading();
    }

    /// Reads no more: what was read is still answered, then [`Want::Close`]. Used at EOF and
    /// by graceful shutdown.
    pub fn stop_reading(&mut self) {
        if !self.read_closed {
            self.read_closed = true;
            self.transform.finish(&mut self.out);
        }
    }

    /// Whether the peer ended its sending side (as opposed to us stopping reading): only then
    /// can the connection close without lingering.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// A connection resumed from what another process handed over: the bytes its transform
    /// held (`carry`, a cut character), the answer bytes not yet sent, and bytes read but not
    /// yet answered (`unread`, at most one read: answered now, after `pending`). `None` if
    /// `carry` is not the start of a character or `unread` is too long (a record from a
    /// process that does not agree with us).
    pub fn resume(mode: Mode, carry: &[u8], pending: &[u8], unread: &[u8]) -> Option<Connection> {
        let mut conn = Connection::new(mode);
        let mut out = Vec::new();
        conn.transform.push(carry, &mut out);
        if !out.is_empty() || conn.transform.held() != carry.len() || unread.len() > READ_CHUNK {
            return None;
        }
        conn.out.extend_from_slice(pending);
        if !unread.is_empty() {
            conn.bytes_in += unread.len() as u64;
            conn.lines_in += shout_common::count_newlines(unread) as u64;
            conn.transform.push(unread, &mut conn.out);
        }
        Some(conn)
    }

    /// The bytes of a cut character held until the rest arrives (see [`Connection::resume`]).
    pub fn carried(&self) -> &[u8] {
        self.transform.carried()
    }

    /// Whether the connection still reads (neither the peer's end of stream nor a drain).
    pub fn reading(&self) -> bool {
        !self.read_closed
    }

    /// The answer bytes not yet written.
    pub fn pending(&self) -> &[u8] {
        &self.out[self.written..]
    }

    /// Records that the first `n` pending bytes were written.
    pub fn sent(&mut self, n: usize) {
        self.written += n;
        self.bytes_out += n as u64;
        debug_assert!(self.written <= self.out.len());
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
    }

    /// Reads once from `src` into `scratch` (at most [`READ_CHUNK`] bytes of it) and takes what
    /// arrived. Returns the byte count, 0 at end of stream. Retries on `Interrupted`; any other
    /// error, `WouldBlock` included, is the caller's.
    pub fn read_from<R: Read + ?Sized>(
        &mut self,
        src: &mut R,
        scratch: &mut [u8],
    ) -> io::Result<usize> {
        debug_assert_eq!(self.want(), Want::Read);
        let len = scratch.len().min(READ_CHUNK);
        let buf = &mut scratch[..len];
        let n = loop {
            match src.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => break result?,
            }
        };
        self.received(&buf[..n]);
        Ok(n)
    }

    /// Writes pending answer bytes to `dst` once (a partial write is fine). Retries on
    /// `Interrupted`; any other error, `WouldBlock` included, is the caller's.
    pub fn write_to<W: Write + ?Sized>(&mut self, dst: &mut W) -> io::Result<usize> {
        debug_assert_eq!(self.want(), Want::Write);
        loop {
            match dst.write(self.pending()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands back the answer buffer when nothing is pending, so an idle connection holds no
    /// buffer (the event-driven model keeps a per-worker pool of them).
    pub fn take_buffer(&mut self) -> Option<Vec<u8>> {
        (self.out.is_empty() && self.out.capacity() > 0).then(|| std::mem::take(&mut self.out))
    }

    /// Lends the connection an empty answer buffer to fill on its next read; only for a
    /// connection without one ([`has_buffer`](Connection::has_buffer) is false).
    pub fn give_buffer(&mut self, mut buf: Vec<u8>) {
        debug_assert!(!self.has_buffer(), "the connection already has a buffer");
        buf.clear();
        self.out = buf;
    }

    /// Whether the connection has an answer buffer (idle ones should not).
    pub fn has_buffer(&self) -> bool {
        self.out.capacity() > 0
    }

    /// Bytes and lines moved so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            lines_in: self.lines_in,
        }
    }

    /// Bytes received so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Bytes sent so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }
}

/// How an I/O error on a connection is counted: the peer going away is routine.
pub fn reason_for(e: &io::Error) -> CloseReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected
        | io::ErrorKind::UnexpectedEof => CloseReason::Reset,
        _ => CloseReason::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection handed over mid-character and with answers pending resumes exactly where
    /// it was: pending bytes first, then the completed character; a carry that is not the
    /// start of a character is refused.
    #[test]
    fn resumes_from_a_hand_over() {
        let mut old = Connection::new(Mode::Upper);
        old.received(b"ab\xc3");
        assert_eq!(old.carried(), b"\xc3");
        let mut new = Connection::resume(Mode::Upper, old.carried(), old.pending(), b"").unwrap();
        assert_eq!(new.pending(), b"AB");
        new.sent(2);
        new.received(b"\xa9");
        assert_eq!(new.pending(), "É".as_bytes());
        assert!(Connection::resume(Mode::Upper, b"a", b"", b"").is_none());
        assert!(Connection::resume(Mode::Upper, b"\xa9", b"", b"").is_none());
        let read = Connection::resume(Mode::Upper, b"", b"AB", b"cd").unwrap();
        assert_eq!(read.pending(), b"ABCD");
        let too_long = vec![b'a'; READ_CHUNK + 1];
        assert!(Connection::resume(Mode::Upper, b"", b"", &too_long).is_none());
    }

    /// A writer that accepts at most `step` bytes per call.
    struct Trickle {
        got: Vec<u8>,
        step: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Drives a connection to the end over in-memory streams, reading `chunk` bytes at a time.
    fn run(input: &[u8], chunk: usize, step: usize) -> (Vec<u8>, Connection) {
        let mut conn = Connection::new(Mode::Upper);
        let mut src = input;
        let mut dst = Trickle {
            got: Vec::new(),
            step,
        };
        let mut scratch = vec![0u8; chunk];
        loop {
            match conn.want() {
                Want::Read => {
                    conn.read_from(&mut src, &mut scratch).unwrap();
                }
                Want::Write => {
                    assert!(conn.pending().len() <= MAX_PENDING);
                    conn.write_to(&mut dst).unwrap();
                }
                Want::Close => return (dst.got, conn),
            }
        }
    }

    /// Every byte read is answered, in order, through partial writes and a half-close.
    #[test]
    fn answers_everything_then_closes() {
        let input = [
            &b"hello w\xc3\xb6rld, stra\xc3\x9fe \xff"[..],
            "\u{1F600}".as_bytes(),
        ]
        .concat()
        .repeat(5000);
        let (out, conn) = run(&input, 7, 5);
        assert_eq!(out, shout_common::transform_all(Mode::Upper, &input));
        assert_eq!(conn.bytes_in(), input.len() as u64);
        assert_eq!(conn.bytes_out(), out.len() as u64);
    }

    /// A read never takes more than READ_CHUNK, so the answer buffer stays bounded.
    #[test]
    fn reads_are_bounded() {
        let input = vec![b'a'; READ_CHUNK * 3];
        let mut conn = Connection::new(Mode::Upper);
        let mut scratch = vec![0u8; READ_CHUNK * 4];
        let n = conn.read_from(&mut &input[..], &mut scratch).unwrap();
        assert_eq!(n, READ_CHUNK);
        assert_eq!(conn.want(), Want::Write);
        assert_eq!(conn.pending().len(), READ_CHUNK);
    }

    /// A character cut at the end of the stream is released unchanged at half-close.
    #[test]
    fn held_bytes_released_at_eof() {
        let (out, _) = run(b"ab\xc3", 64, 64);
        assert_eq!(out, b"AB\xc3");
    }

    /// The answer buffer can be lent and taken back; an idle connection holds none.
    #[test]
    fn buffer_lending() {
        let mut conn = Connection::new(Mode::Upper);
        assert!(!conn.has_buffer());
        conn.give_buffer(Vec::with_capacity(64));
        assert!(conn.has_buffer());
        conn.received(b"abc");
        assert!(conn.take_buffer().is_none(), "pending answer bytes");
        conn.sent(3);
        let buf = conn.take_buffer().expect("idle again");
        assert!(buf.capacity() >= 3 && !conn.has_buffer());
    }

    /// Stopping (graceful shutdown) answers what was read, then wants to close.
    #[test]
    fn stop_reading_answers_what_was_read() {
        let mut conn = Connection::new(Mode::Upper);
        conn.received(b"hi\xc3");
        conn.stop_reading();
        assert_eq!(conn.pending(), b"HI\xc3");
        let n = conn.pending().len();
        conn.sent(n);
        assert_eq!(conn.want(), Want::Close);
    }
}
