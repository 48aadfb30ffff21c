//! Pipe mode: stdin streams to the server while answers stream to stdout, at the same time, so
//! any amount of data goes through without deadlock. At the end of input the client half-closes
//! (with TLS: close_notify, then the TCP half-close) and finishes once the server has answered
//! everything.
//!
//! One thread reads stdin (a read from a terminal or a pipe cannot be polled portably) and
//! hands chunks over a bounded channel, ringing a wake-up socket; the main thread runs one
//! non-blocking loop over the connection, the same for plain TCP and TLS, waiting in `poll`
//! on the connection and the wake-up socket.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;

use anyhow::{anyhow, Context};
use rustix::event::{PollFd, PollFlags};

use crate::stream::{lost, Stream, TlsRefused};
use crate::sys::{interrupted, would_block};

/// The read buffer size of each direction.
const BUF: usize = 64 * 1024;

/// Chunks of input read ahead of what the connection has taken: memory stays within
/// `(READ_AHEAD + 2) * BUF`.
const READ_AHEAD: usize = 2;

/// How a pipe session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEnd {
    /// All input was sent and every answer written.
    Complete,
    /// Whoever reads our output went away (a broken pipe): stop quietly.
    OutputClosed,
}

/// What the input thread hands over: a chunk, the end of input, or why reading failed.
type Chunk = io::Result<Vec<u8>>;

/// Streams `input` through the server on `stream` into `output`.
pub fn run<R, W>(mut stream: Stream, input: R, mut output: W) -> anyhow::Result<PipeEnd>
where
    R: Read + Send + 'static,
    W: Write,
{
    stream
        .set_nonblocking(true)
        .context("cannot set up the connection")?;
    let (wake, bell) = UnixStream::pair().context("cannot set up the input thread")?;
    wake.set_nonblocking(true)
        .context("cannot set up the input thread")?;
    let (chunks_tx, chunks) = mpsc::sync_channel(READ_AHEAD);
    thread::Builder::new()
        .name("stdin".into())
        .spawn(move || read_input(input, &chunks_tx, bell))
        .context("cannot start the input thread")?;

    let mut sending = Sending::default();
    let mut buf = vec![0u8; BUF];
    loop {
        sending.advance(&mut stream, &chunks)?;
        loop {
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if would_block(&e) => break,
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(lost(e, "connection lost while receiving")),
            };
            if n == 0 {
                // The server ended its stream. A correct server does so only after our
                // half-close.
                if sending.closed {
                    return Ok(PipeEnd::Complete);
                }
                stream.shutdown();
                return Err(anyhow!(
                    "the server closed the connection before the end of input"
                ));
            }
            match output.write_all(&buf[..n]).and_then(|()| output.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    stream.shutdown();
                    return Ok(PipeEnd::OutputClosed);
                }
                Err(e) => return Err(e).context("cannot write to standard output"),
            }
        }
        wait(&stream, sending.wants_writable(&stream), &wake)
            .context("cannot wait for the connection")?;
    }
}

/// The sending direction: the chunk being written and whether input and sending have ended.
#[derive(Debug, Default)]
struct Sending {
    chunk: Vec<u8>,
    written: usize,
    input_ended: bool,
    /// The half-close (after close_notify, with TLS) is done.
    closed: bool,
}

impl Sending {
    /// Writes what the connection takes now, taking chunks from the input thread as they
    /// come, and half-closes once input has ended and everything is written.
    fn advance(&mut self, stream: &mut Stream, chunks: &Receiver<Chunk>) -> anyhow::Result<()> {
        // TLS records queued when the socket was full.
        match stream.flush() {
            Err(e) if !would_block(&e) && !interrupted(&e) => return Err(send_failed(e)),
            _ => {}
        }
        loop {
            if self.written == self.chunk.len() && !self.input_ended {
                match chunks.try_recv() {
                    Ok(Ok(chunk)) if chunk.is_empty() => self.input_ended = true,
                    Ok(Ok(chunk)) => {
                        self.chunk = chunk;
                        self.written = 0;
                    }
                    Ok(Err(e)) => return Err(e).context("cannot read standard input"),
                    Err(TryRecvError::Empty) => return Ok(()),
                    Err(TryRecvError::Disconnected) => {
                        return Err(anyhow!("the input thread ended unexpectedly"))
                    }
                }
            }
            if self.written < self.chunk.len() {
                match stream.write(&self.chunk[self.written..]) {
                    Ok(n) => self.written += n,
                    Err(e) if would_block(&e) => return Ok(()),
                    Err(e) if interrupted(&e) => {}
                    Err(e) => return Err(send_failed(e)),
                }
                continue;
            }
            if self.input_ended && !self.closed {
                self.closed = stream
                    .close_write()
                    .map_err(|e| lost(e, "cannot half-close the connection"))?;
            }
            if self.input_ended {
                return Ok(());
            }
        }
    }

    /// Whether the loop must wait for the connection to take more.
    fn wants_writable(&self, stream: &Stream) -> bool {
        self.written < self.chunk.len()
            || stream.wants_write()
            || (self.input_ended && !self.closed)
    }
}

/// Why a write to the server failed: a refusal by the server's TLS is the whole message (exit
/// code 2, as for a failed handshake); anything else means the server closed the connection
/// before the end of input.
fn send_failed(e: io::Error) -> anyhow::Error {
    match TlsRefused::in_io(&e) {
        Some(refused) => anyhow::Error::new(refused),
        None => anyhow!("the server closed the connection before the end of input")
            .context("cannot send"),
    }
}

/// The input thread: reads `input` in chunks and hands them over, then an empty chunk at the
/// end (or the error), ringing `bell` after each.
fn read_input<R: Read>(mut input: R, chunks: &SyncSender<Chunk>, mut bell: UnixStream) {
    loop {
        let mut chunk = vec![0u8; BUF];
        let chunk = loop {
            match input.read(&mut chunk) {
                Err(e) if interrupted(&e) => continue,
                Ok(n) => {
                    chunk.truncate(n);
                    break Ok(chunk);
                }
                Err(e) => break Err(e),
            }
        };
        let last = !matches!(&chunk, Ok(c) if !c.is_empty());
        // Gone receiver: the session is over, nothing more to do.
        if chunks.send(chunk).is_err() {
            return;
        }
        // The main loop drains the bell each time it wakes; a full bell already rings.
        let _ = bell.write(&[1]);
        if last {
            return;
        }
    }
}

/// Waits until the connection can be read (or written, if `writable`) or the input thread
/// rang; then empties the bell.
fn wait(stream: &Stream, writable: bool, mut wake: &UnixStream) -> io::Result<()> {
    let mut flags = PollFlags::IN;
    if writable {
        flags |= PollFlags::OUT;
    }
    let mut fds = [
        PollFd::new(stream, flags),
        PollFd::new(&wake, PollFlags::IN),
    ];
    match rustix::event::poll(&mut fds, None) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    let mut rung = [0u8; 64];
    loop {
        match wake.read(&mut rung) {
            Ok(n) if n == rung.len() => continue,
            Ok(_) => return Ok(()),
            Err(e) if interrupted(&e) => continue,
            Err(e) if would_block(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    /// A write refused by the server's TLS is that refusal alone (exit code 2); any other
    /// failed write is the server closing early (exit code 1).
    #[test]
    fn failed_writes_say_why() {
        let refused = TlsRefused(rustls::AlertDescription::CertificateRequired);
        let e = send_failed(io::Error::new(io::ErrorKind::PermissionDenied, refused));
        assert!(e.is::<TlsRefused>());
        assert_eq!(Outcome::of_error(&e), Outcome::UsageOrConnect);
        assert_eq!(
            format!("{e:#}"),
            "the server requires a client certificate (--tls-cert/--tls-key)"
        );
        let e = send_failed(io::ErrorKind::BrokenPipe.into());
        assert_eq!(Outcome::of_error(&e), Outcome::Failed);
        assert_eq!(
            format!("{e:#}"),
            "cannot send: the server closed the connection before the end of input"
        );
    }
}
