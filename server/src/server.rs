//! The server as a library: bind from a [`Config`], read the bound addresses, run, and stop from
//! another thread through a [`Handle`].

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use mio::{Poll, Waker};
use tracing::info;

use crate::accept::Dispatch;
use crate::config::Model;
use crate::limits::PerIp;
use crate::stats::{CloseReason, Snapshot, Stats};
use crate::{accept, listener, metrics, pool, threads, Config};

/// State shared by the accept loop, the connections and every [`Handle`].
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) stats: Stats,
    /// Open connections per client address (`--max-connections-per-ip`).
    pub(crate) per_ip: PerIp,
    stopping: AtomicBool,
    waker: Waker,
}

impl Shared {
    /// Whether shutdown has begun.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// A connection from `peer` ended: every model calls this exactly once per connection
    /// the accept loop handed it.
    pub(crate) fn closed(&self, peer: SocketAddr, reason: CloseReason) {
        self.per_ip.release(peer.ip());
        self.stats.closed(reason);
    }
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    metrics: Option<(TcpListener, SocketAddr)>,
    poll: Poll,
    shared: Arc<Shared>,
}

/// Stops a running server and reads its counters from any thread. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Begins graceful shutdown: stop accepting, let connections answer what they have read,
    /// close what remains at the drain timeout. [`Server::run`] then returns. Idempotent.
    pub fn shutdown(&self) {
        if !self.shared.stopping.swap(true, Ordering::SeqCst) {
            // If waking fails the loop is already gone; nothing else to do.
            let _ = self.shared.waker.wake();
        }
    }

    /// The server's counters now.
    pub fn stats(&self) -> Snapshot {
        self.shared.stats.snapshot()
    }
}

impl Server {
    /// Binds every address of `config` (port 0 picks a free port).
    pub fn bind(config: Config) -> io::Result<Server> {
        if config.listen.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        let listeners = config
            .listen
            .iter()
            .map(|&addr| {
                listener::bind(addr, config.backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let listener = listener::bind(addr, 64).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot serve metrics on {addr}: {e}"))
                })?;
                let bound = listener.local_addr()?;
                Some((listener, bound))
            }
            None => None,
        };
        let poll = Poll::new()?;
        accept::register(&poll, &listeners)?;
        if let Some((listener, _)) = &metrics {
            accept::register_metrics(&poll, listener)?;
        }
        let waker = Waker::new(poll.registry(), accept::WAKE)?;
        let shared = Arc::new(Shared {
            per_ip: PerIp::new(config.max_connections_per_ip),
            config,
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
            waker,
        });
        Ok(Server {
            listeners,
            addrs,
            metrics,
            poll,
            shared,
        })
    }

    /// The addresses actually bound, in the order of `Config::listen`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address of the metrics endpoint, if `Config::metrics_listen` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// A handle to stop the server or read its counters.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Closes the listeners (new connections are refused while the others drain).
    fn stop_accepting(&mut self) {
        self.listeners.clear();
        info!(
            active = self.shared.stats.active(),
            "shutting down: no longer accepting, draining connections"
        );
    }

    /// Serves until [`Handle::shutdown`], then drains and returns the final counters.
    pub fn run(mut self) -> io::Result<Snapshot> {
        let shared = &Arc::clone(&self.shared);
        let addrs: Vec<String> = self.addrs.iter().map(ToString::to_string).collect();
        let config = &shared.config;
        let workers = match config.workers {
            0 => thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        info!(
            mode = %config.mode,
            model = config.model.as_str(),
            workers = (config.model == Model::Pool).then_some(workers),
            max_connections = config.max_connections,
            metrics = self.metrics.as_ref().map(|(_, a)| a.to_string()),
            "listening on {}",
            addrs.join(", ")
        );
        let metrics = self.metrics.take().map(|(listener, _)| {
            metrics::Endpoint::new(listener, metrics::registry(shared, workers))
        });
        let extras = accept::Extras {
            metrics: metrics.as_ref(),
        };
        let mut model: Box<dyn Dispatch> = match config.model {
            Model::Threads => Box::new(threads::Threads::new(Arc::clone(shared))?),
            Model::Pool => Box::new(pool::Pool::start(shared, workers)?),
        };
        let result = accept::run(
            &mut self.poll,
            &self.listeners,
            &extras,
            shared,
            model.as_mut(),
        );
        self.stop_accepting();
        model.drain();
        let summary = shared.stats.snapshot();
        info!(
            served = summary.accepted,
            rejected = summary.rejected,
            bytes_in = summary.bytes_in,
            bytes_out = summary.bytes_out,
            "stopped: {summary}"
        );
        result.map(|()| summary)
    }
}
