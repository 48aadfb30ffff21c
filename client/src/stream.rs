//! One connection to the server as the prompt and pipe mode use it: plain TCP or TLS behind
//! the same non-blocking read and write, so their loops are written once.
//!
//! TLS is rustls' `ClientConnection`, which is itself sans-IO: bytes from the socket go in
//! with `read_tls`, plaintext comes out of its reader; plaintext goes into its writer, records
//! come out with `write_tls`. The handshake is completed when the connection is opened (so a
//! bad certificate is reported before anything is sent); afterwards the stream is
//! non-blocking and a caller waits in `poll` on [`Stream::as_fd`], for writability too while
//! [`Stream::wants_write`] says records are queued.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use rustls::{AlertDescription, ClientConnection};

use crate::connect::{connect, ConnectError, ConnectOptions};
use crate::sys::{interrupted, would_block};
use crate::tls::TlsClient;

/// Plaintext that TLS buffers before the writer says "no room": a few records.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// A connection to the server, plain or TLS.
#[derive(Debug)]
pub struct Stream {
    sock: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

impl Stream {
    /// A plain TCP connection.
    pub fn plain(sock: TcpStream) -> Stream {
        Stream { sock, tls: None }
    }

    /// Connects to `addr` (with the options' timeout and retries) and, with `tls`, completes
    /// the TLS handshake within the connect timeout. Either failing is a [`ConnectError`].
    pub fn open(
        addr: &str,
        opts: &ConnectOptions,
        tls: Option<&TlsClient>,
    ) -> Result<Stream, ConnectError> {
        let sock = connect(addr, opts)?;
        match tls {
            None => Ok(Stream::plain(sock)),
            Some(tls) => {
                Stream::handshake(sock, tls, opts.timeout).map_err(|source| ConnectError {
                    addr: addr.to_owned(),
                    source,
                    timeout: opts.timeout,
                })
            }
        }
    }

    /// Runs the TLS handshake on `sock`, taking at most `timeout` in all (a server that
    /// dribbles its answer does not extend it).
    fn handshake(sock: TcpStream, tls: &TlsClient, timeout: Duration) -> io::Result<Stream> {
        let mut conn = ClientConnection::new(tls.config.clone(), tls.name.clone())
            .map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        let mut io = Deadline {
            sock: &sock,
            at: Instant::now() + timeout,
        };
        while conn.is_handshaking() {
            match conn.complete_io(&mut io) {
                Ok(_) => {}
                Err(e) if interrupted(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let refused = e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
                    let cause = match refused.and_then(TlsRefused::of) {
                        Some(refused) => refused.to_string(),
                        None => e.to_string(),
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("TLS handshake failed: {cause}"),
                    ));
                }
                Err(e) if cut_off(&e) => {
                    let how = match e.kind() {
                        io::ErrorKind::UnexpectedEof => "closed",
                        _ => "reset",
                    };
                    let message = format!(
                        "the server {how} the connection during the TLS handshake \
                         ({BUSY_OR_NOT_TLS})"
                    );
                    return Err(io::Error::new(e.kind(), message));
                }
                Err(e) => return Err(e),
            }
        }
        sock.set_read_timeout(None)?;
        sock.set_write_timeout(None)?;
        Ok(Stream {
            sock,
            tls: Some(Box::new(conn)),
        })
    }

    /// Whether this is a TLS connection.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Makes reads and writes return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }

    /// Whether TLS records wait to be sent: wait for writability too.
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Reads plaintext from the server: `Ok(0)` at the end of its stream (with TLS, after its
    /// close_notify; the end of TCP without one is an `UnexpectedEof` error).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.read_now(buf);
        result.map_err(|e| self.explain(e))
    }

    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return (&self.sock).read(buf);
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if would_block(&e) => {}
                result => return result,
            }
            // Nothing decrypted is waiting: take more records from the socket.
            flush_some(tls, &self.sock)?;
            let n = tls.read_tls(&mut &self.sock)?;
            let processed = tls.process_new_packets();
            // An alert for the server, if the records were bad; a reply, if any.
            flush_some(tls, &self.sock)?;
            processed.map_err(tls_error)?;
            if n == 0 {
                // The end of TCP: the reader now says whether it came after close_notify.
                return match tls.reader().read(buf) {
                    Err(e) if would_block(&e) => Err(io::ErrorKind::UnexpectedEof.into()),
                    result => result,
                };
            }
        }
    }

    /// Writes plaintext to the server; `WouldBlock` when neither the socket nor TLS's buffer
    /// has room.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.write_now(buf);
        result.map_err(|e| self.explain(e))
    }

    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &mut self.tls else {
            return (&self.sock).write(buf);
        };
        // Room first: records already queued go out before more are made.
        flush_some(tls, &self.sock)?;
        let n = tls.writer().write(buf)?;
        flush_some(tls, &self.sock)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends the TLS records that are queued, as far as the socket takes them (`WouldBlock`
    /// if it did not take them all).
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.flush_now();
        result.map_err(|e| self.explain(e))
    }

    fn flush_now(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => flush_tls(tls, &self.sock),
            None => Ok(()),
        }
    }

    /// Ends the sending direction: with TLS a close_notify, then the TCP half-close once it is
    /// sent. `Ok(false)`: records are still queued; call again when the socket is writable.
    pub fn close_write(&mut self) -> io::Result<bool> {
        let result = self.close_write_now();
        result.map_err(|e| self.explain(e))
    }

    fn close_write_now(&mut self) -> io::Result<bool> {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
            flush_some(tls, &self.sock)?;
            if tls.wants_write() {
                return Ok(false);
            }
        }
        self.sock.shutdown(Shutdown::Write)?;
        Ok(true)
    }

    /// `e`, or the refusal the server's TLS sent before it went away, if that is what cut the
    /// connection off: under TLS 1.3 a refused client certificate is an alert after the
    /// handshake, and a write or the half-close can fail before a read has seen it.
    fn explain(&mut self, e: io::Error) -> io::Error {
        match &mut self.tls {
            Some(tls) if cut_off(&e) || e.kind() == io::ErrorKind::NotConnected => {
                alert_waiting(tls, &self.sock).unwrap_or(e)
            }
            _ => e,
        }
    }

    /// Ends the connection both ways at once (no close_notify: it is being abandoned).
    pub fn shutdown(&self) {
        // The socket is dropped next; a failure here changes nothing.
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// What a client is told when the server ended its TLS handshake without a word: a server whose
/// slots for refusing over TLS are full (see shoutd's `MAX_TLS_REFUSALS`) closes or resets new
/// connections at once, as does one that does not speak TLS.
const BUSY_OR_NOT_TLS: &str = "the server may be busy: over its connection limit, it closes \
     connections it cannot even refuse over TLS; or it is not a TLS server, or it wants a \
     client certificate";

/// Whether `e` means the server cut the connection off (closed it or reset it).
fn cut_off(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The server's TLS refused this client: a fatal alert about its certificate, which TLS 1.3
/// sends after the client has finished its handshake (with the first answer the client waits
/// for), so it is not a failed connect but means the same: exit code 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsRefused(pub AlertDescription);

impl TlsRefused {
    /// The refusal that `e` is, if it is an alert about the client's certificate.
    pub fn of(e: &rustls::Error) -> Option<TlsRefused> {
        match e {
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnknownCA
                | AlertDescription::AccessDenied),
            ) => Some(TlsRefused(*alert)),
            _ => None,
        }
    }

    /// The refusal that the I/O error `e` carries, if any.
    pub fn in_io(e: &io::Error) -> Option<TlsRefused> {
        e.get_ref()?.downcast_ref::<TlsRefused>().copied()
    }
}

impl std::fmt::Display for TlsRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            AlertDescription::CertificateRequired => {
                f.write_str("the server requires a client certificate (--tls-cert/--tls-key)")
            }
            alert => write!(
                f,
                "the server refused the client certificate ({alert:?}): it wants one signed by \
                 a CA it trusts (its --tls-client-ca)"
            ),
        }
    }
}

impl std::error::Error for TlsRefused {}

/// The error for a failed read or write in a chat: a refusal by the server's TLS is itself
/// the whole message (and maps to exit code 2); anything else is `e` with `context`.
pub fn lost(
    e: io::Error,
    context: impl std::fmt::Display + Send + Sync + 'static,
) -> anyhow::Error {
    match TlsRefused::in_io(&e) {
        Some(refused) => anyhow::Error::new(refused),
        None => anyhow::Error::new(e).context(context),
    }
}

/// A rustls error while reading, as an I/O error: a refusal carries [`TlsRefused`].
fn tls_error(e: rustls::Error) -> io::Error {
    match TlsRefused::of(&e) {
        Some(refused) => io::Error::new(io::ErrorKind::PermissionDenied, refused),
        None => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

/// After the server went away: the refusal alert it sent first, if it is here (the socket has
/// nothing more to wait for, so reading does not block).
fn alert_waiting(tls: &mut ClientConnection, sock: &TcpStream) -> Option<io::Error> {
    let _ = tls.read_tls(&mut &*sock);
    match tls.process_new_packets() {
        Err(e) => TlsRefused::of(&e).map(|_| tls_error(e)),
        Ok(_) => None,
    }
}

/// A blocking socket whose every read and write waits at most until `at` (then `TimedOut`).
struct Deadline<'a> {
    sock: &'a TcpStream,
    at: Instant,
}

impl Deadline<'_> {
    /// Sets the socket's timeouts to the time left.
    fn arm(&self) -> io::Result<()> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.sock.set_read_timeout(Some(left))?;
        self.sock.set_write_timeout(Some(left))
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.sock.read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `tls`'s queued records to `sock` until none are left (`WouldBlock` if the socket
/// is full first).
fn flush_tls(tls: &mut ClientConnection, sock: &TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(&mut &*sock) {
            Ok(_) => {}
            Err(e) if interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`flush_tls`] as far as the socket takes it now: a full socket is not an error.
fn flush_some(tls: &mut ClientConnection, sock: &TcpStream) -> io::Result<()> {
    match flush_tls(tls, sock) {
        Err(e) if would_block(&e) => Ok(()),
        result => result,
    }
}
