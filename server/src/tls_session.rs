//! One TLS session on rustls' unbuffered API ([`UnbufferedServerConnection`]): the caller owns
//! every buffer, so a connection holds TLS bytes only while they are in flight. An idle
//! connection keeps rustls' state (keys, sequence numbers, the handshake's outcome) and no
//! buffer at all; rustls' buffered `ServerConnection` keeps a 4 KiB receive buffer for life
//! (see docs/design.md, "What TLS costs", for the figures).
//!
//! The buffers, each empty (and freed) when nothing is in it:
//! - `incoming`: TLS bytes read but not yet processed: a record cut across reads, or a
//!   handshake message spread over records. Reads go to the thread's scratch buffer, sized to
//!   the record being read (at least [`READ_SIZE`]); only what rustls leaves of them is copied
//!   here, bounded by [`MAX_INCOMING`].
//! - `plain`: decrypted bytes the core has not taken yet (at most one read's records).
//! - `out`: TLS records made but not yet sent (handshake flights, answers, alerts).
//!
//! Why it is safe: rustls still does all of TLS (record parsing, decryption and its checks,
//! the state machine, alerts); this file only moves bytes between the socket and rustls'
//! caller-owned buffers, in order, and never hands out plaintext rustls did not yield. Records
//! rustls asks to send ([`ConnectionState::EncodeTlsData`]) are queued in `out` in the order
//! given and sent before any later record.

use std::io::{self, Read, Write};

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic,
};

use crate::tls::TlsConfig;

/// The smallest read from the socket: a few small records, or the start of a big one.
pub(crate) const READ_SIZE: usize = 4096;

/// The most TLS bytes held unprocessed for one connection: a handshake message may span
/// records up to rustls' own bound of 64 KiB; a record is at most about 18 KiB.
pub(crate) const MAX_INCOMING: usize = 64 * 1024 + 2 * 18 * 1024;

/// A TLS record's header: type, version, length.
const HEADER: usize = 5;

/// What a record adds to its plaintext, at most: the header, TLS 1.3's content type byte,
/// the AEAD tag, and TLS 1.2's explicit nonce. (A record that needs more is encoded again
/// with the size rustls asks for.)
const RECORD_OVERHEAD: usize = HEADER + 1 + 16 + 8;

/// The scratch buffer a thread keeps between reads (larger ones, for big records, are freed).
const KEEP_SCRATCH: usize = 2 * READ_SIZE;

thread_local! {
    /// Each thread's buffer for reads from the socket: TLS bytes are processed in it, so a
    /// connection never holds a read buffer of its own.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// More rounds than any state sequence rustls can produce for one input: a guard against a
/// loop that makes no progress, never reached in practice.
const MAX_ROUNDS: usize = 10_000;

/// One server-side TLS session and the bytes in flight through it.
pub(crate) struct TlsSession {
    conn: UnbufferedServerConnection,
    incoming: Vec<u8>,
    plain: Vec<u8>,
    plain_at: usize,
    out: Vec<u8>,
    out_at: usize,
    peer_closed: bool,
    close_queued: bool,
    error: Option<rustls::Error>,
}

impl TlsSession {
    /// A session awaiting the client's hello.
    pub(crate) fn new(config: &TlsConfig) -> Result<TlsSession, rustls::Error> {
        Ok(TlsSession {
            conn: UnbufferedServerConnection::new(config.rustls().clone())?,
            incoming: Vec::new(),
            plain: Vec::new(),
            plain_at: 0,
            out: Vec::new(),
            out_at: 0,
            peer_closed: false,
            close_queued: false,
            error: None,
        })
    }

    /// Whether the handshake is still under way.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether TLS records wait to be sent.
    pub(crate) fn wants_write(&self) -> bool {
        self.out_at < self.out.len()
    }

    /// Whether decrypted bytes or the peer's close_notify wait to be read.
    pub(crate) fn has_plaintext_or_close(&self) -> bool {
        self.plain_at < self.plain.len() || self.peer_closed
    }

    /// The peer's close_notify has been processed.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The error that ended the session, if one did.
    pub(crate) fn error(&self) -> Option<&rustls::Error> {
        self.error.as_ref()
    }

    /// Bytes held for this session now (all three buffers' capacity): zero while idle.
    #[cfg(test)]
    pub(crate) fn buffered_capacity(&self) -> usize {
        self.incoming.capacity() + self.plain.capacity() + self.out.capacity()
    }

    /// Copies decrypted bytes into `buf`; 0 if there are none.
    pub(crate) fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.plain[self.plain_at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.plain_at += n;
        if self.plain_at == self.plain.len() {
            self.plain = Vec::new();
            self.plain_at = 0;
        }
        n
    }

    /// Sends waiting records until none is left (then `out` is freed) or `sock` blocks.
    pub(crate) fn send<S: Write>(&mut self, sock: &mut S) -> io::Result<()> {
        while self.out_at < self.out.len() {
            match sock.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out = Vec::new();
        self.out_at = 0;
        Ok(())
    }

    /// Reads TLS bytes from `src` once and processes every whole record among them. `Ok(0)` is
    /// the end of `src`'s stream; the other errors are `src`'s, or rustls' refusal as
    /// `InvalidData` (see [`TlsSession::error`]).
    pub(crate) fn read_from<R: Read>(&mut self, src: &mut R) -> io::Result<usize> {
        let held = self.incoming.len();
        let room = self.read_room();
        if room == 0 {
            self.error = Some(rustls::Error::General("TLS input too large".into()));
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS input too large",
            ));
        }
        if held > 0 {
            return self.read_onto_held(src, room);
        }
        // The thread's scratch buffer takes the read; what rustls leaves of it is all this
        // connection keeps.
        let mut scratch = SCRATCH.take();
        if scratch.len() < room {
            scratch.resize(room, 0);
        }
        let read = loop {
            match src.read(&mut scratch[..room]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let result = match read {
            Ok(0) => Ok(0),
            Ok(n) => {
                let (consumed, processed) = self.drive(&mut scratch[..n], |_, _| None::<()>);
                self.incoming = scratch[consumed.min(n)..n].to_vec();
                processed
                    .map(|_| n)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
            Err(e) => Err(e),
        };
        if scratch.len() <= KEEP_SCRATCH {
            SCRATCH.set(scratch);
        }
        result
    }

    /// [`TlsSession::read_from`] with bytes held from before: the read goes after them in
    /// `incoming` itself, so a record dribbled in costs no copy of what is held per read.
    fn read_onto_held<R: Read>(&mut self, src: &mut R, room: usize) -> io::Result<usize> {
        let held = self.incoming.len();
        self.incoming.resize(held + room, 0);
        let read = loop {
            match src.read(&mut self.incoming[held..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        self.incoming.truncate(held + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => Ok(0),
            Ok(n) => self
                .drive_held(|_, _| None::<()>)
                .map(|_| n)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) => Err(e),
        }
    }

    /// How much to read now: the rest of the record being read if its header is in, at least
    /// [`READ_SIZE`], within [`MAX_INCOMING`].
    fn read_room(&self) -> usize {
        let held = self.incoming.len();
        let mut want = READ_SIZE;
        if held >= HEADER {
            let len = u16::from_be_bytes([self.incoming[3], self.incoming[4]]) as usize;
            want = want.max((HEADER + len).saturating_sub(held));
        }
        want.min(MAX_INCOMING.saturating_sub(held))
    }

    /// Encrypts `data` into `out` (any records rustls has to send first come before it).
    /// Only once the handshake is over and while our close_notify is not queued.
    pub(crate) fn encrypt(&mut self, data: &[u8]) -> Result<(), rustls::Error> {
        let mut written = None;
        self.drive_held(|traffic, out| {
            written = Some(encode_into(out, data.len(), |buf| {
                traffic.encrypt(data, buf).map_err(encrypt_error)
            }));
            Some(())
        })?
        .ok_or_else(|| rustls::Error::General("TLS cannot send application data now".into()))?;
        written.unwrap_or(Ok(()))
    }

    /// Queues our close_notify (once, after the handshake). True if it queued one now.
    pub(crate) fn queue_close_notify(&mut self) -> bool {
        if self.close_queued || self.is_handshaking() || self.error.is_some() {
            return false;
        }
        self.close_queued = true;
        let mut written = None;
        let reached = self.drive_held(|traffic, out| {
            written = Some(encode_into(out, 0, |buf| {
                traffic.queue_close_notify(buf).map_err(encrypt_error)
            }));
            Some(())
        });
        matches!(reached, Ok(Some(()))) && matches!(written, Some(Ok(())))
    }

    /// [`TlsSession::drive`] over the bytes held from earlier reads (no new input).
    fn drive_held<T>(
        &mut self,
        at_write: impl FnMut(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> Option<T>,
    ) -> Result<Option<T>, rustls::Error> {
        let mut incoming = std::mem::take(&mut self.incoming);
        let (consumed, result) = self.drive(&mut incoming, at_write);
        incoming.drain(..consumed.min(incoming.len()));
        // Nothing left: no buffer kept while idle.
        self.incoming = if incoming.is_empty() {
            Vec::new()
        } else {
            incoming
        };
        result
    }

    /// Runs rustls over `incoming` (the bytes held from earlier reads, then new ones: rustls'
    /// handshake reassembly refers to positions in it, so it must start where the last call's
    /// consumed bytes end) until it needs more bytes, acting on each state. Where rustls may
    /// send application data, `at_write` runs once; its `Some` is returned. After an error,
    /// the alert rustls queued is moved to `out`. Returns how many bytes rustls is done with.
    fn drive<T>(
        &mut self,
        incoming: &mut [u8],
        mut at_write: impl FnMut(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> Option<T>,
    ) -> (usize, Result<Option<T>, rustls::Error>) {
        let mut start = 0;
        let mut failed: Option<rustls::Error> = None;
        let mut result = Err(rustls::Error::General(
            "TLS processing made no progress".into(),
        ));
        for _ in 0..MAX_ROUNDS {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(&mut incoming[start..]);
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    self.error.get_or_insert_with(|| e.clone());
                    failed = Some(e);
                    break;
                }
            };
            let mut done = false;
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => {
                                if self.plain_at == self.plain.len() {
                                    self.plain.clear();
                                    self.plain_at = 0;
                                }
                                self.plain.extend_from_slice(record.payload);
                            }
                            Err(e) => {
                                self.error.get_or_insert_with(|| e.clone());
                                failed.get_or_insert(e);
                                done = true;
                                break;
                            }
                        }
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    if let Err(e) = encode_into(&mut self.out, 0, |out| encode.encode(out)) {
                        failed.get_or_insert(e);
                        done = true;
                    }
                }
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => self.peer_closed = true,
                ConnectionState::WriteTraffic(mut traffic) if failed.is_none() => {
                    result = Ok(at_write(&mut traffic, &mut self.out));
                    done = true;
                }
                ConnectionState::BlockedHandshake
                | ConnectionState::WriteTraffic(_)
                | ConnectionState::Closed => {
                    result = Ok(None);
                    done = true;
                }
                // Early data is never enabled (`max_early_data_size` stays 0).
                _ => {
                    let e = rustls::Error::General("unexpected TLS state".into());
                    self.error.get_or_insert_with(|| e.clone());
                    failed.get_or_insert(e);
                    done = true;
                }
            }
            start += discard;
            if done {
                break;
            }
        }
        let result = match failed {
            Some(e) => {
                self.queue_alert();
                Err(e)
            }
            None => result,
        };
        (start, result)
    }

    /// After an error, moves the alert rustls queued (its only pending record then) to `out`.
    /// One call only, with no input: rustls hands queued records out before it looks at
    /// input, and it must not process input again after a fatal alert (nor look for a
    /// handshake message in a buffer that is not the one it was reassembling it in).
    fn queue_alert(&mut self) {
        // Without a queued record rustls would go on to input, so only with one.
        if !self.conn.wants_write() {
            return;
        }
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
        if let Ok(ConnectionState::EncodeTlsData(mut encode)) = state {
            let _ = encode_into(&mut self.out, 0, |out| encode.encode(out));
        }
    }
}

/// An encryption error as the encoding error [`encode_into`] handles.
fn encrypt_error(e: EncryptError) -> EncodeError {
    match e {
        EncryptError::InsufficientSize(e) => EncodeError::InsufficientSize(e),
        _ => EncodeError::AlreadyEncoded,
    }
}

/// Appends what `encode` writes to `out`, growing `out` to the size rustls asks for (first
/// `plaintext` bytes and room for their records' overhead).
fn encode_into(
    out: &mut Vec<u8>,
    plaintext: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<(), rustls::Error> {
    let start = out.len();
    let mut size = plaintext + (plaintext / (16 * 1024) + 1) * RECORD_OVERHEAD;
    for _ in 0..4 {
        out.resize(start + size, 0);
        match encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(e)) => size = e.required_size,
            Err(_) => break,
        }
    }
    out.truncate(start);
    Err(rustls::Error::General(
        "TLS record could not be encoded".into(),
    ))
}
