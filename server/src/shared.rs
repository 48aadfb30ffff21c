//! What the accept loop, the concurrency models and the metrics share, below all of them:
//! the server's [`Shared`] state, the [`Dispatch`] trait a concurrency model implements, and
//! what both models do alike for each connection (catch a panic, log `accepted` and `closed`).

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use mio::Waker;
use tracing::{debug, error, warn};

use crate::burst::Burst;
use crate::config::Config;
use crate::conn::Connection;
use crate::handover::Moved;
use crate::lifecycle::Lifecycle;
use crate::limits::PerIp;
use crate::proxy::ProxyRefusal;
use crate::stats::{CloseReason, Refusal, Stats};
use crate::sync::lock;
use crate::tls::{Handshake, TlsConfig, MAX_TLS_REFUSALS};
use crate::transport::{SetupError, Transport};

/// Takes a connection on its way to an upgrade's new process; an error leaves it to the
/// caller, which then serves it to its end (drains it).
pub(crate) type Sink = Arc<dyn Fn(&Moved) -> std::io::Result<()> + Send + Sync>;

/// How long a connection an upgrade did not hand over (TLS) must go without input before it
/// stops reading: a request on its way when the upgrade began (a client that has just
/// connected, or is about to send its next line) is read and answered before the close.
pub(crate) const UPGRADE_QUIET: Duration = Duration::from_secs(1);

/// At an upgrade, the old process serves the connections it does not hand over (TLS ones)
/// until each falls quiet ([`UPGRADE_QUIET`] without input), or at the latest until half the
/// drain timeout has passed; then each stops reading, answers what it read and closes (TLS:
/// with close_notify), within the other half.
/// Each connection's quiet time counts from its last input, or from the drain's start if later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QuietDrain {
    latest: Instant,
}

impl QuietDrain {
    /// The drain of an upgrade began at `now`.
    pub(crate) fn new(now: Instant, drain_timeout: Duration) -> QuietDrain {
        QuietDrain {
            latest: now + drain_timeout / 2,
        }
    }

    /// When a connection whose last input came at `last_input` (no earlier than the drain's
    /// start) stops reading.
    pub(crate) fn stop_reading_at(&self, last_input: Instant) -> Instant {
        (last_input + UPGRADE_QUIET).min(self.latest)
    }
}

/// State shared by the accept loop, the connections, the metrics and every `Handle`.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    /// Open connections per client address (`--max-connections-per-ip`).
    pub(crate) per_ip: PerIp,
    /// Reloads, upgrades, the certificate's expiry.
    pub(crate) lifecycle: Lifecycle,
    /// Where established plaintext connections go at an upgrade's hand-over (set before the
    /// shutdown that drains the rest): the models offer each one instead of draining it.
    hand_over: Mutex<Option<Sink>>,
    /// Connections handed over to this process by an upgrade's old one, for the accept loop
    /// to give to the model.
    adopted: Mutex<Vec<Moved>>,
    /// The TLS settings new handshakes use: `config.tls` until a reload replaces them (TLS is
    /// never turned on or off after start, so `config.tls.is_some()` still says whether it
    /// is on).
    tls: RwLock<Option<TlsConfig>>,
    stopping: AtomicBool,
    /// Connections refused at accept that are getting the busy line over TLS.
    tls_refusals: AtomicUsize,
    /// Wakes the accept loop, which then sees `stopping`.
    waker: Waker,
    /// Refusals at the per-address cap, failed TLS handshakes, refused PROXY headers: each
    /// logged once per burst.
    per_ip_log: Mutex<Burst>,
    tls_log: Mutex<Burst>,
    proxy_log: Mutex<Burst>,
}

/// What a connection holds of the server's limits, given back when it closes.
#[derive(Debug)]
pub(crate) struct Held {
    /// It counts as active (false for a connection that only gets the busy line).
    pub(crate) counted: bool,
    /// The address whose per-address slot it holds.
    pub(crate) ip: Option<IpAddr>,
    /// The busy line it gets (over TLS, after the handshake) instead of being served.
    pub(crate) refusal: Option<String>,
    /// It holds one of the [`MAX_TLS_REFUSALS`] slots (refused over TLS).
    pub(crate) tls_refusal: bool,
}

impl Held {
    /// A connection to serve, counted as active.
    pub(crate) fn served() -> Held {
        Held {
            counted: true,
            ip: None,
            refusal: None,
            tls_refusal: false,
        }
    }

    /// A connection refused at accept with `line` (over TLS, holding a refusal slot taken
    /// with [`Shared::begin_tls_refusal`]), not counted as active.
    pub(crate) fn refused(line: String) -> Held {
        Held {
            counted: false,
            ip: None,
            refusal: Some(line),
            tls_refusal: true,
        }
    }
}

impl Shared {
    /// The state of a server about to serve `config`; `waker` wakes its accept loop.
    pub(crate) fn new(config: Config, waker: Waker) -> Shared {
        Shared {
            per_ip: PerIp::new(config.max_connections_per_ip),
            lifecycle: Lifecycle::default(),
            hand_over: Mutex::new(None),
            adopted: Mutex::new(Vec::new()),
            tls: RwLock::new(config.tls.clone()),
            config,
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
            tls_refusals: AtomicUsize::new(0),
            waker,
            per_ip_log: Mutex::default(),
            tls_log: Mutex::default(),
            proxy_log: Mutex::default(),
        }
    }

    /// From now on, models offer established plaintext connections to `sink` at shutdown
    /// instead of draining them.
    pub(crate) fn hand_over_to(&self, sink: Sink) {
        *lock(&self.hand_over) = Some(sink);
    }

    /// Where to hand connections over, if an upgrade is handing over.
    pub(crate) fn hand_over_sink(&self) -> Option<Sink> {
        lock(&self.hand_over).clone()
    }

    /// A connection handed over by an upgrade's old process: the accept loop gives it to the
    /// model.
    pub(crate) fn adopt(&self, moved: Moved) {
        lock(&self.adopted).push(moved);
        let _ = self.waker.wake();
    }

    /// The connections handed over since the last call.
    pub(crate) fn take_adopted(&self) -> Vec<Moved> {
        std::mem::take(&mut *lock(&self.adopted))
    }

    /// Whether shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Begins graceful shutdown: the accept loop wakes, stops and drains the model. Idempotent.
    pub(crate) fn shutdown(&self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            // If waking fails the loop is already gone; nothing else to do.
            let _ = self.waker.wake();
        }
    }

    /// A connection from `peer` ended: every model calls this exactly once per connection
    /// the accept loop handed it, after its socket is closed.
    pub(crate) fn closed(&self, held: &Held, reason: CloseReason) {
        if let Some(ip) = held.ip {
            self.per_ip.release(ip);
        }
        if held.counted {
            self.stats.closed(reason);
        }
        if held.tls_refusal {
            self.tls_refusals.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Takes a slot for a refused connection to get its busy line over TLS; false
    /// if [`MAX_TLS_REFUSALS`] are already under way (it is then closed at once).
    pub(crate) fn begin_tls_refusal(&self) -> bool {
        self.tls_refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_TLS_REFUSALS).then_some(n + 1)
            })
            .is_ok()
    }

    /// Takes a per-address slot for `peer`; if it has none left, logs the refusal (once per
    /// burst) and returns the busy line to send.
    pub(crate) fn acquire_per_ip(&self, peer: SocketAddr) -> Option<String> {
        if self.per_ip.try_acquire(peer.ip()) {
            return None;
        }
        if let Some(refused) = lock(&self.per_ip_log).note(Instant::now()) {
            warn!(
                ip = %peer.ip(),
                refused,
                "per-address connection limit reached (--max-connections-per-ip); refusing"
            );
        }
        let cap = self.config.max_connections_per_ip.unwrap_or_default();
        Some(shout_common::busy_line_per_ip(cap))
    }

    /// The PROXY header of a connection counted at accept told its client's address
    /// (`None`: the header has none, the peer's stays): the connection now goes by it, and the
    /// per-address cap applies to it. If the cap refuses it, it no longer counts as active and
    /// gets the busy line (`held.refusal`); over TLS only while a [`MAX_TLS_REFUSALS`] slot is
    /// free, else it is to be closed at once: then this returns false.
    pub(crate) fn header_read(
        &self,
        held: &mut Held,
        peer: &mut SocketAddr,
        client: Option<SocketAddr>,
    ) -> bool {
        if let Some(client) = client {
            *peer = client;
        }
        if !held.counted {
            return true; // already refused at the connection limit
        }
        match self.acquire_per_ip(*peer) {
            None => {
                held.ip = Some(peer.ip());
                true
            }
            Some(line) => {
                self.stats.rejected_after_open(Refusal::MaxConnectionsPerIp);
                held.counted = false;
                if self.config.tls.is_some() {
                    if !self.begin_tls_refusal() {
                        return false;
                    }
                    held.tls_refusal = true;
                }
                held.refusal = Some(line);
                true
            }
        }
    }

    /// A connection from `peer` was closed without being served, for its PROXY header or for
    /// being outside `--proxy-from`: counted, and logged once per burst.
    pub(crate) fn proxy_refused(&self, peer: SocketAddr, why: ProxyRefusal) {
        self.stats.proxy_rejected(why);
        if let Some(refused) = lock(&self.proxy_log).note(Instant::now()) {
            warn!(
                %peer,
                reason = why.as_str(),
                refused,
                "PROXY protocol: connection closed without a valid header from an allowed address"
            );
        }
    }

    /// A TLS handshake ended: counted; a failure is logged once per burst.
    pub(crate) fn handshake(&self, peer: SocketAddr, result: Handshake) {
        self.stats.handshake(result);
        if result == Handshake::Ok {
            return;
        }
        if let Some(failed) = lock(&self.tls_log).note(Instant::now()) {
            warn!(
                %peer,
                result = result.as_str(),
                failed,
                "TLS handshake failed; closing the connection"
            );
        }
    }

    /// Connection `id` from `peer` was handed over to an upgrade's new process (it is closed
    /// here with [`CloseReason::HandedOver`]); a failure to hand it over is logged.
    pub(crate) fn offer(&self, sink: &Sink, moved: &Moved, id: u64) -> bool {
        match sink(moved) {
            Ok(()) => true,
            Err(e) => {
                warn!(id, peer = %moved.peer, error = %e, "upgrade: cannot hand this connection over; draining it here");
                false
            }
        }
    }

    /// Set-up (PROXY header, TLS handshake) of connection `id` failed: counts and logs why.
    pub(crate) fn setup_failed(&self, id: u64, peer: SocketAddr, error: &SetupError) {
        match error {
            SetupError::Proxy(why) => self.proxy_refused(peer, *why),
            SetupError::Tls(result) => self.handshake(peer, *result),
            SetupError::Io(e) => debug!(id, %peer, error = %e, "connection failed during set-up"),
        }
    }

    /// Why a connection still in set-up at its deadline is closed.
    pub(crate) fn setup_timeout(transport: &Transport) -> SetupError {
        if transport.awaiting_header() {
            SetupError::Proxy(ProxyRefusal::Timeout)
        } else {
            SetupError::Tls(Handshake::Timeout)
        }
    }

    /// How long after accept set-up may take: the PROXY header's timeout, then the TLS
    /// handshake's (`None`: no set-up).
    pub(crate) fn setup_deadline(
        &self,
        accepted: Instant,
        transport: &Transport,
    ) -> Option<Instant> {
        let config = &self.config;
        if transport.awaiting_header() {
            let header = config
                .proxy
                .as_ref()
                .map_or(Duration::ZERO, |p| p.header_timeout);
            Some(accepted + header)
        } else if transport.in_setup() {
            Some(accepted + config.tls_handshake_timeout)
        } else {
            None
        }
    }

    /// A new transport for a connection, as the configuration says.
    pub(crate) fn transport(&self) -> Result<Transport, SetupError> {
        let tls = self.tls.read().unwrap_or_else(PoisonError::into_inner);
        Transport::new(self.config.proxy.is_some(), tls.as_ref())
    }

    /// New handshakes use `tls` from now on; established connections keep theirs. Ignored
    /// (false) if the server was not started with TLS.
    pub(crate) fn replace_tls(&self, tls: TlsConfig) -> bool {
        let mut now = self.tls.write().unwrap_or_else(PoisonError::into_inner);
        match now.as_mut() {
            Some(old) => {
                *old = tls;
                true
            }
            None => false,
        }
    }
}

/// A concurrency model, as the accept loop and shutdown see it.
pub(crate) trait Dispatch {
    /// Serves `stream` (connection number `id`), which holds `held` (counted as active unless
    /// it only gets the busy line).
    fn dispatch(&mut self, stream: TcpStream, peer: SocketAddr, id: u64, held: Held);

    /// Serves on a connection handed over by an upgrade's old process (set-up is over: it is
    /// plaintext, and its state is in `moved`).
    fn adopt(&mut self, moved: Moved, id: u64, held: Held);

    /// Shutdown has begun and accepting has stopped: let every connection answer what it has
    /// read, close what remains at the drain timeout, and return when all are closed.
    fn drain(&mut self);
}

/// Runs `serve`, a step of serving connection `id`. A panic in it (a bug) is logged and
/// gives `None`: the model then closes this connection alone and goes on with the others.
pub(crate) fn isolate_panic<T>(id: u64, peer: SocketAddr, serve: impl FnOnce() -> T) -> Option<T> {
    let result = panic::catch_unwind(AssertUnwindSafe(serve));
    if result.is_err() {
        error!(id, %peer, "connection handler panicked; closing this connection");
    }
    result.ok()
}

/// Logs that a model has started serving connection `id` (its `closed` line comes from
/// [`log_closed`]).
pub(crate) fn log_accepted(id: u64, peer: SocketAddr) {
    debug!(id, %peer, "accepted");
}

/// Logs that connection `id` is closed and counted (after [`Shared::closed`]): whoever reads the
/// line knows the socket is closed.
pub(crate) fn log_closed(id: u64, peer: SocketAddr, reason: CloseReason, conn: &Connection) {
    debug!(
        id,
        %peer,
        reason = reason.as_str(),
        bytes_in = conn.bytes_in(),
        bytes_out = conn.bytes_out(),
        "closed"
    );
}
