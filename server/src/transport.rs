//! The transport between a socket and the sans-IO connection core: plaintext, or TLS through
//! rustls' unbuffered API ([`TlsSession`], which holds no buffer while a connection is idle),
//! optionally after a PROXY protocol header. Both concurrency models use it alike, on
//! non-blocking reads and writes:
//!
//! 1. **Set-up** ([`Transport::advance`]): the PROXY header (if `--proxy-protocol`), then the
//!    TLS handshake (if TLS is on), as far as the socket allows each time it is ready. The
//!    model supplies the deadline (`--proxy-header-timeout`, `--tls-handshake-timeout`).
//! 2. **Serving** ([`Transport::io`]): a `Read + Write` view that the connection core's
//!    `read_from` / `write_to` use as they use a plain socket. Reads give plaintext (0 at the
//!    peer's close_notify or end of stream); writes take plaintext only once earlier TLS
//!    records are sent, so backpressure works as without TLS. TLS records that could not be
//!    sent yet are kept (at most [`TLS_BUFFER_LIMIT`] of answers at a time); the model sends
//!    them first ([`Transport::flush`]) when [`Transport::wants_write`] says so.
//! 3. **Closing**: [`Transport::begin_close`] queues the close_notify, which the model sends
//!    before it shuts the socket down.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use crate::proxy::{self, ProxyRefusal};
use crate::tls::{Handshake, TlsConfig};
use crate::tls_session::TlsSession;

/// The most plaintext one write encrypts: the records it makes are sent before more is taken.
/// One read's answer (`conn::MAX_PENDING`) goes out in a few writes.
pub const TLS_BUFFER_LIMIT: usize = 32 * 1024;

/// How far set-up got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// The socket has no more input or no more room: wait for it (or the deadline).
    Pending,
    /// The PROXY header is read: the client's address, if the header has one. Set-up goes on
    /// at the next call.
    Header(Option<SocketAddr>),
    /// Set-up is over: serve.
    Ready,
}

/// Why set-up failed.
#[derive(Debug)]
pub(crate) enum SetupError {
    /// The PROXY header was invalid (or the peer closed before sending one).
    Proxy(ProxyRefusal),
    /// The TLS handshake failed.
    Tls(Handshake),
    /// The socket failed.
    Io(io::Error),
}

/// One connection's transport state.
pub(crate) struct Transport {
    /// Bytes read while looking for the PROXY header: the header, then possibly the first
    /// bytes of the connection itself (from `head_at` on), which are served before the socket's.
    head: Vec<u8>,
    head_at: usize,
    awaiting_header: bool,
    tls: Option<Box<TlsSession>>,
}

impl Transport {
    /// A transport that first reads a PROXY header if `proxy`, then speaks TLS if `tls`.
    pub(crate) fn new(proxy: bool, tls: Option<&TlsConfig>) -> Result<Transport, SetupError> {
        let tls = match tls {
            None => None,
            Some(config) => Some(Box::new(
                TlsSession::new(config).map_err(|_| SetupError::Tls(Handshake::Error))?,
            )),
        };
        Ok(Transport {
            head: Vec::new(),
            head_at: 0,
            awaiting_header: proxy,
            tls,
        })
    }

    /// Plaintext with nothing read ahead: reads go straight to the socket, so a short read
    /// means the socket is empty.
    pub(crate) fn is_direct(&self) -> bool {
        self.tls.is_none() && self.head_at >= self.head.len()
    }

    /// Plaintext with its set-up over: the bytes read ahead of the core (after a PROXY
    /// header), which an upgrade hands over with the connection; `None` for TLS or while the
    /// header is still awaited.
    pub(crate) fn plain_read_ahead(&self) -> Option<&[u8]> {
        (self.tls.is_none() && !self.awaiting_header)
            .then(|| &self.head[self.head_at.min(self.head.len())..])
    }

    /// Still reading the PROXY header.
    pub(crate) fn awaiting_header(&self) -> bool {
        self.awaiting_header
    }

    /// Whether the TLS handshake is still under way.
    pub(crate) fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.is_handshaking())
    }

    /// Whether set-up (header, handshake) is still under way.
    pub(crate) fn in_setup(&self) -> bool {
        self.awaiting_header || self.handshaking()
    }

    /// Whether TLS records wait to be sent.
    pub(crate) fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    /// Whether input is already buffered here (decrypted or read ahead), so a read can give
    /// bytes without the socket being readable.
    pub(crate) fn has_buffered_input(&mut self) -> bool {
        if self.head_at < self.head.len() {
            return true;
        }
        self.tls
            .as_ref()
            .is_some_and(|tls| tls.has_plaintext_or_close())
    }

    /// Sends waiting TLS records until none is left; `WouldBlock` (and other errors) are the
    /// caller's.
    pub(crate) fn flush<S: Write>(&mut self, sock: &mut S) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => tls.send(sock),
            None => Ok(()),
        }
    }

    /// Queues TLS's close_notify (once; nothing for plaintext). True if it queued one now: the
    /// caller then sends it with [`flush`](Transport::flush) before shutting the socket down.
    pub(crate) fn begin_close(&mut self) -> bool {
        self.tls
            .as_mut()
            .is_some_and(|tls| tls.queue_close_notify())
    }

    /// Goes on with set-up as far as `sock` allows (see [`Setup`]).
    pub(crate) fn advance<S: Read + Write>(&mut self, sock: &mut S) -> Result<Setup, SetupError> {
        if self.awaiting_header {
            return self.read_header(sock);
        }
        let Some(tls) = &mut self.tls else {
            return Ok(Setup::Ready);
        };
        loop {
            // Our flight first: the client waits for it.
            match tls.send(sock) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Setup::Pending),
                Err(e) => return Err(SetupError::Io(e)),
            }
            if !tls.is_handshaking() {
                return Ok(Setup::Ready);
            }
            match read_tls(tls, &mut self.head, &mut self.head_at, sock) {
                Ok(0) => return Err(SetupError::Tls(Handshake::Aborted)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Setup::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let Some(e) = tls.error() else {
                        return Err(SetupError::Tls(Handshake::Aborted));
                    };
                    let kind = Handshake::of_error(e);
                    // The alert that tells the client why, if the socket takes it now.
                    let _ = tls.send(sock);
                    return Err(SetupError::Tls(kind));
                }
            }
        }
    }

    /// Reads the PROXY header, at most [`proxy::MAX_HEADER`] bytes in all.
    fn read_header<S: Read>(&mut self, sock: &mut S) -> Result<Setup, SetupError> {
        let mut buf = [0u8; 256];
        loop {
            if let Some(parsed) = proxy::parse(&self.head).map_err(SetupError::Proxy)? {
                self.awaiting_header = false;
                self.head_at = parsed.len;
                if self.head_at == self.head.len() {
                    self.head = Vec::new();
                    self.head_at = 0;
                }
                return Ok(Setup::Header(parsed.client));
            }
            let room = (proxy::MAX_HEADER - self.head.len()).min(buf.len());
            match sock.read(&mut buf[..room]) {
                Ok(0) => return Err(SetupError::Proxy(ProxyRefusal::Invalid)),
                Ok(n) => self.head.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Setup::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SetupError::Io(e)),
            }
        }
    }

    /// The `Read + Write` view of the connection for the core, over `sock`.
    pub(crate) fn io<'a, S: Read + Write>(&'a mut self, sock: &'a mut S) -> Io<'a, S> {
        Io {
            transport: self,
            sock,
        }
    }

    /// Frees the bytes read ahead once they are used.
    fn take_head(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.head[self.head_at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.head_at += n;
        if self.head_at == self.head.len() {
            self.head = Vec::new();
            self.head_at = 0;
        }
        n
    }
}

/// Feeds TLS bytes to the session: those read ahead with the header first, then the socket's.
fn read_tls<S: Read>(
    tls: &mut TlsSession,
    head: &mut Vec<u8>,
    head_at: &mut usize,
    sock: &mut S,
) -> io::Result<usize> {
    if *head_at < head.len() {
        let mut rest = &head[*head_at..];
        let before = rest.len();
        tls.read_from(&mut rest)?;
        *head_at += before - rest.len();
        if *head_at == head.len() {
            *head = Vec::new();
            *head_at = 0;
        }
        return Ok(before);
    }
    tls.read_from(sock)
}

/// The connection as the core sees it: plaintext in and out (see [`Transport::io`]).
pub(crate) struct Io<'a, S> {
    transport: &'a mut Transport,
    sock: &'a mut S,
}

impl<S: Read + Write> Read for Io<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = &mut *self.transport;
        if t.tls.is_none() {
            if t.head_at < t.head.len() {
                return Ok(t.take_head(buf));
            }
            return self.sock.read(buf);
        }
        let tls = t.tls.as_mut().expect("checked above");
        loop {
            let n = tls.take_plaintext(buf);
            if n > 0 || buf.is_empty() || tls.peer_closed() {
                return Ok(n);
            }
            // No plaintext yet: more records from the socket (`WouldBlock` is the caller's).
            // The peer's end of stream without close_notify is its end of input all the same.
            match read_tls(tls, &mut t.head, &mut t.head_at, self.sock) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => {
                    if tls.error().is_some() {
                        // The alert that tells the peer why, if the socket takes it now.
                        let _ = tls.send(self.sock);
                    }
                    return Err(e);
                }
            }
            // Anything rustls answers by itself (key updates) goes now if it fits, else with
            // the next flush.
            match tls.send(self.sock) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }
}

impl<S: Read + Write> Write for Io<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = &mut *self.transport;
        let Some(tls) = t.tls.as_mut() else {
            return self.sock.write(buf);
        };
        // Earlier records first: plaintext is taken only when they are out (backpressure).
        tls.send(self.sock)?;
        let n = buf.len().min(TLS_BUFFER_LIMIT);
        tls.encrypt(&buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        match tls.send(self.sock) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.transport.flush(self.sock)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig};

    use super::*;

    /// A non-blocking socket in memory: reads what the test put in (`WouldBlock` when empty),
    /// takes at most `room` bytes of writes (`WouldBlock` when full).
    #[derive(Default)]
    struct Sock {
        input: VecDeque<u8>,
        output: Vec<u8>,
        room: usize,
    }

    impl Read for Sock {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.input.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.input.len());
            for (i, b) in self.input.drain(..n).enumerate() {
                buf[i] = b;
            }
            Ok(n)
        }
    }

    impl Write for Sock {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.output.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A server configuration and a client trusting it, from certificates made now.
    fn configs() -> (TlsConfig, Arc<ClientConfig>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (
            TlsConfig::from_rustls(Arc::new(server), false),
            Arc::new(client),
        )
    }

    /// Moves the client's records into the server's socket and the server's output back.
    fn pump(client: &mut ClientConnection, sock: &mut Sock) {
        while client.wants_write() {
            let mut out = Vec::new();
            client.write_tls(&mut out).unwrap();
            sock.input.extend(out);
        }
        if !sock.output.is_empty() {
            let bytes = std::mem::take(&mut sock.output);
            client.read_tls(&mut &bytes[..]).unwrap();
            client.process_new_packets().unwrap();
        }
    }

    /// A PROXY header, then the handshake (its first bytes in the header's packet), then
    /// data both ways and close_notify, with the socket taking everything.
    #[test]
    fn header_then_handshake_then_data() {
        let (server, client_config) = configs();
        let mut client =
            ClientConnection::new(client_config, ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut t = Transport::new(true, Some(&server)).unwrap();
        let mut sock = Sock {
            room: usize::MAX,
            ..Sock::default()
        };
        sock.input
            .extend(b"PROXY TCP4 10.0.0.9 127.0.0.1 5000 9999\r\n".iter());
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        sock.input.extend(hello);
        assert_eq!(
            t.advance(&mut sock).unwrap(),
            Setup::Header(Some("10.0.0.9:5000".parse().unwrap()))
        );
        let mut rounds = 0;
        while t.advance(&mut sock).unwrap() != Setup::Ready {
            pump(&mut client, &mut sock);
            rounds += 1;
            assert!(rounds < 10, "the handshake does not finish");
        }
        pump(&mut client, &mut sock);
        assert!(!client.is_handshaking() && !t.in_setup());
        client.writer().write_all(b"hello").unwrap();
        pump(&mut client, &mut sock);
        let mut buf = [0u8; 64];
        let n = t.io(&mut sock).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(
            t.io(&mut sock).read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(t.io(&mut sock).write(b"HELLO").unwrap(), 5);
        pump(&mut client, &mut sock);
        let mut got = [0u8; 5];
        client.reader().read_exact(&mut got).unwrap();
        assert_eq!(&got, b"HELLO");
        // The client's close_notify reads as the end of input; ours follows.
        client.send_close_notify();
        pump(&mut client, &mut sock);
        assert_eq!(t.io(&mut sock).read(&mut buf).unwrap(), 0);
        assert!(t.begin_close() && !t.begin_close());
        t.flush(&mut sock).unwrap();
        pump(&mut client, &mut sock);
        assert_eq!(client.reader().read(&mut buf).unwrap(), 0);
    }

    /// Backpressure: while earlier records are unsent, no plaintext is taken, and what
    /// rustls holds stays under its limit.
    #[test]
    fn writes_wait_for_earlier_records() {
        let (server, client_config) = configs();
        let mut client =
            ClientConnection::new(client_config, ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut t = Transport::new(false, Some(&server)).unwrap();
        let mut sock = Sock {
            room: usize::MAX,
            ..Sock::default()
        };
        while t.in_setup() {
            pump(&mut client, &mut sock);
            t.advance(&mut sock).unwrap();
        }
        pump(&mut client, &mut sock);
        sock.room = 1000;
        let big = vec![b'A'; 64 * 1024];
        let n = t.io(&mut sock).write(&big).unwrap();
        assert!(n > 0 && n <= TLS_BUFFER_LIMIT, "took {n}");
        assert!(t.wants_write(), "the socket took only 1000 bytes");
        assert_eq!(
            t.io(&mut sock).write(&big).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        sock.room = usize::MAX;
        t.flush(&mut sock).unwrap();
        assert!(!t.wants_write());
        assert!(t.io(&mut sock).write(&big).unwrap() > 0);
    }

    /// A TLS transport and its client after a finished handshake, over a socket that takes
    /// everything.
    fn handshaken() -> (Transport, ClientConnection, Sock) {
        let (server, client_config) = configs();
        let mut client =
            ClientConnection::new(client_config, ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut sock = Sock {
            room: usize::MAX,
            ..Sock::default()
        };
        let mut t = Transport::new(false, Some(&server)).unwrap();
        let mut rounds = 0;
        while t.in_setup() {
            pump(&mut client, &mut sock);
            t.advance(&mut sock).unwrap();
            rounds += 1;
            assert!(rounds < 10, "the handshake does not finish");
        }
        pump(&mut client, &mut sock);
        assert!(!client.is_handshaking());
        (t, client, sock)
    }

    /// Bytes the TLS session holds in its buffers.
    fn held(t: &Transport) -> usize {
        t.tls.as_ref().unwrap().buffered_capacity()
    }

    /// An idle TLS connection holds no buffer: not after the handshake, not after an exchange,
    /// not after answers that had to wait for the socket.
    #[test]
    fn idle_tls_connection_holds_no_buffer() {
        let (mut t, mut client, mut sock) = handshaken();
        assert_eq!(held(&t), 0, "after the handshake");
        client.writer().write_all(&[b'a'; 40_000]).unwrap();
        pump(&mut client, &mut sock);
        let mut buf = [0u8; 4096];
        let mut got = 0;
        while got < 40_000 {
            got += t.io(&mut sock).read(&mut buf).unwrap();
        }
        assert_eq!(held(&t), 0, "after reading");
        sock.room = 1000;
        let big = vec![b'A'; 40_000];
        let n = t.io(&mut sock).write(&big).unwrap();
        assert!(held(&t) > 0, "records wait for the socket");
        sock.room = usize::MAX;
        t.flush(&mut sock).unwrap();
        assert_eq!(held(&t), 0, "after the records went out");
        let bytes = std::mem::take(&mut sock.output);
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            client.read_tls(&mut rest).unwrap();
            client.process_new_packets().unwrap();
        }
        let mut answer = vec![0u8; n];
        client.reader().read_exact(&mut answer).unwrap();
        assert_eq!(answer, big[..n]);
    }

    /// A record that arrives a byte at a time: nothing is read until it is whole, then its
    /// plaintext; the bytes held meanwhile are freed once it is processed.
    #[test]
    fn record_cut_across_reads() {
        let (mut t, mut client, mut sock) = handshaken();
        client.writer().write_all(b"cut record").unwrap();
        let mut record = Vec::new();
        client.write_tls(&mut record).unwrap();
        let mut buf = [0u8; 64];
        let (last, first) = record.split_last().unwrap();
        for &b in first {
            sock.input.push_back(b);
            let e = t.io(&mut sock).read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        }
        assert!(held(&t) > 0, "the start of the record is kept");
        sock.input.push_back(*last);
        let n = t.io(&mut sock).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"cut record");
        assert_eq!(held(&t), 0);
    }

    /// Garbage instead of a record after the handshake: an error (no panic), and the alert
    /// that says why goes out.
    #[test]
    fn garbage_after_the_handshake_is_an_error_with_an_alert() {
        let (mut t, mut client, mut sock) = handshaken();
        sock.input.extend(b"GET / HTTP/1.1\r\n\r\n".iter());
        let e = t.io(&mut sock).read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(!sock.output.is_empty(), "no alert was sent");
        let bytes = std::mem::take(&mut sock.output);
        client.read_tls(&mut &bytes[..]).unwrap();
        assert!(
            client.process_new_packets().is_err(),
            "the client saw no fatal alert"
        );
    }

    /// A plaintext connection after a header reads the bytes that came with the header first.
    #[test]
    fn plaintext_after_header_reads_ahead_bytes_first() {
        let mut t = Transport::new(true, None).unwrap();
        let mut sock = Sock::default();
        sock.input.extend(b"PROXY UNKNOWN\r\nabc".iter());
        assert_eq!(t.advance(&mut sock).unwrap(), Setup::Header(None));
        assert!(!t.is_direct());
        assert_eq!(t.advance(&mut sock).unwrap(), Setup::Ready);
        sock.input.extend(b"def".iter());
        let mut buf = [0u8; 64];
        let n = t.io(&mut sock).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"abc");
        assert!(t.is_direct());
        let n = t.io(&mut sock).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"def");
    }
}
