//! The thread-per-connection model: each connection gets a std thread with a small stack that
//! drives the shared [`Connection`] core with blocking reads and writes.
//!
//! Before each read a thread waits in `poll(2)` on its socket and on one server-wide eventfd
//! that shutdown makes readable: the poll timeout is the idle timeout, and shutdown reaches
//! every idle thread at once. (Waking readers with `shutdown(SHUT_RD)` instead would make Linux
//! reset the connection when the peer sends more after our FIN, destroying answers in flight.)
//! Writes never block: a thread waits in `poll(2)` for room to send, at most until the write
//! timeout after the last progress, then sends what fits (`MSG_DONTWAIT`).

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{eventfd, EventfdFlags, PollFlags};
use std::os::fd::OwnedFd;
use tracing::{debug, error, warn};

use crate::conn::{self, Connection, READ_CHUNK};
use crate::handover::Moved;
use crate::shared::{isolate_panic, log_accepted, log_closed, Dispatch, Held, Shared};
use crate::stats::CloseReason;
use crate::sync::{lock, wait_timeout};
use crate::tls::Handshake;
use crate::transport::{Setup, Transport};

mod drive;
mod wait;

use drive::{drive, Clock, Ctx, NonBlocking};
use wait::{wait_for, Wait};

/// Stack size of a connection thread. The connection path recurses nowhere and keeps only
/// its 16 KiB read buffer on the stack; 128 KiB leaves ample room for that and for logging,
/// while 10,000 threads reserve 1.25 GiB of address space instead of 20 GiB with the default
/// 2 MiB.
pub const THREAD_STACK: usize = 128 * 1024;

/// After the drain timeout forces connections closed, how long to wait for their threads.
const FORCED_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The model: spawns connection threads and keeps each one's socket so shutdown can reach it.
pub(crate) struct Threads {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Open connections' sockets by id; shared with their threads, so no descriptor is
    /// duplicated. Guarded with `all_closed`, notified when it empties.
    open: Mutex<HashMap<u64, Arc<TcpStream>>>,
    all_closed: Condvar,
    /// Readable once shutdown has begun; every connection thread polls it with its socket.
    stop: OwnedFd,
    /// Set when the drain timeout has passed: errors after it are counted as drain closes.
    forced: AtomicBool,
}

impl Threads {
    pub(crate) fn new(shared: Arc<Shared>) -> io::Result<Self> {
        Ok(Threads {
            inner: Arc::new(Inner {
                shared,
                open: Mutex::new(HashMap::new()),
                all_closed: Condvar::new(),
                stop: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
                forced: AtomicBool::new(false),
            }),
        })
    }
}

impl Dispatch for Threads {
    /// Signals every connection thread to stop reading (each answers what it has read, then
    /// closes), waits up to the drain timeout, then shuts down the sockets that remain.
    fn drain(&mut self) {
        let inner = &self.inner;
        let timeout = inner.shared.config.drain_timeout;
        // The eventfd stays readable from now on: no thread waits for input any more.
        if let Err(e) = rustix::io::write(&inner.stop, &1u64.to_ne_bytes()) {
            error!(error = %e, "cannot signal connection threads to stop");
        }
        let mut open = inner.lock_open();
        open = inner.wait_all_closed(open, timeout);
        if open.is_empty() {
            return;
        }
        warn!(
            remaining = open.len(),
            "drain timeout: closing connections that are still open"
        );
        inner.forced.store(true, Ordering::SeqCst);
        for stream in open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        open = inner.wait_all_closed(open, FORCED_CLOSE_GRACE);
        if !open.is_empty() {
            error!(
                remaining = open.len(),
                "connection threads did not finish after a forced close"
            );
        }
    }

    fn dispatch(&mut self, stream: TcpStream, peer: SocketAddr, id: u64, held: Held) {
        self.start(stream, peer, id, held, None);
    }

    fn adopt(&mut self, moved: Moved, id: u64, held: Held) {
        let now = Instant::now();
        let Some(conn) = Connection::resume(
            self.inner.shared.config.mode,
            &moved.carry,
            &moved.pending,
            &moved.unread,
        ) else {
            error!(id, peer = %moved.peer, "upgrade: a handed-over connection's state is invalid; closing it");
            self.inner.shared.closed(&held, CloseReason::Error);
            return;
        };
        let clock = Clock {
            last_input: now.checked_sub(moved.idle_elapsed).unwrap_or(now),
            progress: now.checked_sub(moved.write_elapsed).unwrap_or(now),
        };
        let _ = moved.stream.set_nonblocking(false);
        self.start(moved.stream, moved.peer, id, held, Some((conn, clock)));
    }
}

impl Threads {
    /// Starts the thread of connection `id`: a new one, or one handed over (`resumed`: its
    /// core and clock).
    fn start(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        id: u64,
        held: Held,
        resumed: Option<(Connection, Clock)>,
    ) {
        let inner = &self.inner;
        if let Err(e) = configure(&stream) {
            debug!(id, %peer, error = %e, "cannot configure accepted socket");
        }
        let stream = Arc::new(stream);
        inner.lock_open().insert(id, Arc::clone(&stream));
        let thread_inner = Arc::clone(inner);
        let thread_stream = Arc::clone(&stream);
        // What to give back if the thread never runs (`held` goes with its closure): exactly
        // what the connection holds. A refused one (the busy line over TLS) is not active.
        let given_back = Held {
            counted: held.counted,
            ip: held.ip,
            refusal: None,
            tls_refusal: held.tls_refusal,
        };
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(THREAD_STACK)
            .spawn(move || thread_inner.serve(id, peer, thread_stream, held, resumed));
        if let Err(e) = spawned {
            error!(id, %peer, error = %e, "cannot start a thread for this connection; closing it");
            inner.finish(id, &given_back, stream, CloseReason::Error);
        }
    }
}

impl Inner {
    fn lock_open(&self) -> MutexGuard<'_, HashMap<u64, Arc<TcpStream>>> {
        lock(&self.open)
    }

    fn wait_all_closed<'a>(
        &self,
        mut open: MutexGuard<'a, HashMap<u64, Arc<TcpStream>>>,
        timeout: Duration,
    ) -> MutexGuard<'a, HashMap<u64, Arc<TcpStream>>> {
        let deadline = Instant::now() + timeout;
        while !open.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            open = wait_timeout(&self.all_closed, open, left);
        }
        open
    }

    /// The body of a connection thread.
    ///
    /// Events carry the connection's id and peer as fields rather than entering a span: the
    /// tracing registry's span storage supports at most 4096 threads at once, and this model
    /// runs one thread per connection. A panic (a bug) ends only this connection, which is
    /// still closed and counted.
    fn serve(
        &self,
        id: u64,
        mut peer: SocketAddr,
        stream: Arc<TcpStream>,
        mut held: Held,
        resumed: Option<(Connection, Clock)>,
    ) {
        let accepted = Instant::now();
        let (mut conn, clock, plain) = match resumed {
            Some((conn, clock)) => (conn, clock, true),
            None => {
                let clock = Clock {
                    last_input: accepted,
                    progress: accepted,
                };
                (Connection::new(self.shared.config.mode), clock, false)
            }
        };
        let outcome = isolate_panic(id, peer, || {
            let transport = if plain {
                Transport::new(false, None)
            } else {
                self.shared.transport()
            };
            let mut transport = match transport {
                Ok(transport) => transport,
                Err(e) => {
                    self.shared.setup_failed(id, peer, &e);
                    return CloseReason::Setup;
                }
            };
            let setup = SetUp {
                stream: &stream,
                id,
                accepted,
                stop: &self.stop,
                shared: &self.shared,
            };
            if !plain {
                if let Err(reason) = setup.run(&mut transport, &mut held, &mut peer) {
                    return reason;
                }
            }
            log_accepted(id, peer);
            if let Some(line) = &held.refusal {
                conn.refuse(line.as_bytes());
            }
            // On the stack, not the heap: the stack is unmapped when the thread ends, while
            // 16 KiB heap blocks freed by thousands of threads in random order stay with
            // malloc (docs/design.md has the figures).
            let mut scratch = [0u8; READ_CHUNK];
            let refused = held.refusal.is_some();
            let ctx = Ctx {
                stream: &stream,
                stop: &self.stop,
                shared: &self.shared,
                refused,
                id,
                peer,
            };
            drive(&ctx, &mut conn, &mut transport, &mut scratch, clock)
        });
        let mut reason = outcome.unwrap_or_else(|| {
            let _ = stream.shutdown(Shutdown::Both);
            CloseReason::Error
        });
        if reason != CloseReason::Done && self.forced.load(Ordering::SeqCst) {
            reason = CloseReason::Drain;
        }
        self.finish(id, &held, stream, reason);
        log_closed(id, peer, reason, &conn);
    }

    /// Forgets a finished connection: closes its socket, then counts it, so whoever sees the
    /// count (a test, a scrape, the `closed` log line after it) knows the socket is closed.
    fn finish(&self, id: u64, held: &Held, stream: Arc<TcpStream>, reason: CloseReason) {
        let mut open = self.lock_open();
        open.remove(&id);
        // The map's reference is gone: this was the last one, and the socket closes.
        drop(stream);
        self.shared.closed(held, reason);
        if open.is_empty() {
            self.all_closed.notify_all();
        }
    }
}

/// Applies per-connection socket options: no Nagle delay (answers go out at once).
fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// A connection's set-up (PROXY header, TLS handshake), with `poll(2)` waits bounded by its
/// deadline and ended by shutdown.
struct SetUp<'a> {
    stream: &'a TcpStream,
    id: u64,
    accepted: Instant,
    stop: &'a OwnedFd,
    shared: &'a Shared,
}

impl SetUp<'_> {
    /// Runs set-up to its end; `Err` with the close reason if it failed (counted and logged).
    fn run(
        &self,
        transport: &mut Transport,
        held: &mut Held,
        peer: &mut SocketAddr,
    ) -> Result<(), CloseReason> {
        let shared = self.shared;
        let was_handshaking = transport.handshaking();
        let mut stop = Some(self.stop);
        loop {
            match transport.advance(&mut NonBlocking(self.stream)) {
                Ok(Setup::Pending) => {}
                Ok(Setup::Header(client)) => {
                    if !shared.header_read(held, peer, client) {
                        return Err(CloseReason::Setup); // refused, and no slot for the busy line
                    }
                    continue;
                }
                Ok(Setup::Ready) => break,
                Err(e) => {
                    shared.setup_failed(self.id, *peer, &e);
                    return Err(CloseReason::Setup);
                }
            }
            let deadline = shared
                .setup_deadline(self.accepted, transport)
                .unwrap_or(self.accepted);
            let left = deadline.saturating_duration_since(Instant::now());
            let flags = if transport.wants_write() {
                PollFlags::OUT
            } else {
                PollFlags::IN
            };
            match wait_for(self.stream, flags, stop, Some(left)) {
                Ok(Wait::Ready) => {}
                // Shutdown: nothing was read to answer.
                // At an upgrade's hand-over set-up goes on (within its deadline): the connection
                // is then handed over, or drained.
                Ok(Wait::Stop) if shared.hand_over_sink().is_some() => {
                    stop = None;
                }
                Ok(Wait::Stop) => return Err(CloseReason::Setup),
                Ok(Wait::Timeout) => {
                    shared.setup_failed(self.id, *peer, &Shared::setup_timeout(transport));
                    return Err(CloseReason::Setup);
                }
                Err(e) => return Err(conn::reason_for(&e)),
            }
        }
        if was_handshaking {
            shared.handshake(*peer, Handshake::Ok);
        }
        Ok(())
    }
}
