//! What the accept loop, the concurrency models and the metrics share, below all of them:
//! the server's [`Shared`] state, the [`Dispatch`] trait a concurrency model implements, and
//! what both models do alike for each connection (catch a panic, log `accepted` and `closed`).

use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;
use tracing::{debug, error};

use crate::config::Config;
use crate::conn::Connection;
use crate::limits::PerIp;
use crate::stats::{CloseReason, Stats};

/// State shared by the accept loop, the connections, the metrics and every `Handle`.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    /// Open connections per client address (`--max-connections-per-ip`).
    pub(crate) per_ip: PerIp,
    stopping: AtomicBool,
    /// Wakes the accept loop, which then sees `stopping`.
    waker: Waker,
}

impl Shared {
    /// The state of a server about to serve `config`; `waker` wakes its accept loop.
    pub(crate) fn new(config: Config, waker: Waker) -> Shared {
        Shared {
            per_ip: PerIp::new(config.max_connections_per_ip),
            config,
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
            waker,
        }
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
    pub(crate) fn closed(&self, peer: SocketAddr, reason: CloseReason) {
        self.per_ip.release(peer.ip());
        self.stats.closed(reason);
    }
}

/// A concurrency model, as the accept loop and shutdown see it.
pub(crate) trait Dispatch {
    /// Serves `stream` (connection number `id`); it is already counted as active.
    fn dispatch(&mut self, stream: TcpStream, peer: SocketAddr, id: u64);

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
