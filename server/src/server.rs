//! The server as a library: bind from a [`Config`], read the bound addresses, run, and stop from
//! another thread through a [`Handle`].

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread;

use mio::{Poll, Waker};
use tracing::info;

use crate::config::{Config, Model};
use crate::handover::Moved;
use crate::lifecycle::Lifecycle;
use crate::shared::{Dispatch, Shared};
use crate::stats::Snapshot;
use crate::tls::TlsConfig;
use crate::{accept, listener, metrics, pool, threads};

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listeners: Vec<TcpListener>,
    addrs: Vec<SocketAddr>,
    /// The metrics listeners, until `run` hands them to the endpoint.
    metrics: Vec<TcpListener>,
    metrics_addrs: Vec<SocketAddr>,
    poll: Poll,
    shared: Arc<Shared>,
    /// Called once serving has started (see [`Server::on_ready`]).
    ready: Option<Box<dyn FnOnce() + Send>>,
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
        self.shared.shutdown();
    }

    /// The server's counters now.
    pub fn stats(&self) -> Snapshot {
        self.shared.stats.snapshot()
    }

    /// An upgrade's hand-over: from now on, at shutdown, established plaintext connections
    /// are offered to `sink` (which sends them to the new process) instead of being drained;
    /// one it fails to take is drained as usual. Call before [`Handle::shutdown`].
    pub fn hand_over_to(&self, sink: impl Fn(&Moved) -> io::Result<()> + Send + Sync + 'static) {
        self.shared.hand_over_to(Arc::new(sink));
    }

    /// Serves a connection handed over by an upgrade's old process, from its state.
    pub fn adopt(&self, moved: Moved) {
        self.shared.adopt(moved);
    }

    /// Reloads, upgrades and the certificate's expiry, as counted for `/metrics`.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.shared.lifecycle
    }

    /// New TLS handshakes use `tls` from now on; established connections keep the settings
    /// they started with. False (and nothing changes) if the server was started without TLS.
    pub fn replace_tls(&self, tls: TlsConfig) -> bool {
        self.shared.replace_tls(tls)
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
        let (listeners, _) = listener::bind_all(
            &config.listen,
            config.backlog,
            config.reuse_port,
            "cannot listen on",
        )?;
        Server::serve_on(config, listeners)
    }

    /// A server on `listeners` bound elsewhere (socket activation); the metrics listeners of
    /// `config` are bound here.
    pub fn serve_on(config: Config, listeners: Vec<TcpListener>) -> io::Result<Server> {
        let (metrics, _) = listener::bind_all(
            &config.metrics_listen,
            metrics::BACKLOG,
            config.reuse_port,
            "cannot serve metrics on",
        )?;
        Server::with_listeners(config, listeners, metrics)
    }

    /// A server on listeners bound elsewhere (socket activation, an upgrade's hand-over):
    /// `config.listen` and `config.metrics_listen` are not bound. The listeners are made
    /// non-blocking.
    pub fn with_listeners(
        config: Config,
        listeners: Vec<TcpListener>,
        metrics: Vec<TcpListener>,
    ) -> io::Result<Server> {
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no socket to listen on",
            ));
        }
        let local = |list: &[TcpListener]| -> io::Result<Vec<SocketAddr>> {
            list.iter()
                .map(|l| {
                    l.set_nonblocking(true)?;
                    l.local_addr()
                })
                .collect()
        };
        let addrs = local(&listeners)?;
        let metrics_addrs = local(&metrics)?;
        let poll = Poll::new()?;
        accept::register(&poll, &listeners)?;
        let waker = Waker::new(poll.registry(), accept::WAKE)?;
        let shared = Arc::new(Shared::new(config, waker));
        Ok(Server {
            listeners,
            addrs,
            metrics,
            metrics_addrs,
            poll,
            shared,
            ready: None,
        })
    }

    /// Calls `ready` once everything that serves is running (the model, the metrics
    /// endpoint), just after the start-up line: the moment to tell a service manager, or the
    /// process that started this one for an upgrade.
    pub fn on_ready(&mut self, ready: impl FnOnce() + Send + 'static) {
        self.ready = Some(Box::new(ready));
    }

    /// The listening sockets, in the order of [`Server::local_addrs`], then the metrics
    /// listeners: duplicates, for handing them to another process.
    pub fn listener_fds(&self) -> io::Result<(Vec<OwnedFd>, Vec<OwnedFd>)> {
        let dup = |list: &[TcpListener]| -> io::Result<Vec<OwnedFd>> {
            list.iter()
                .map(|l| l.try_clone().map(OwnedFd::from))
                .collect()
        };
        Ok((dup(&self.listeners)?, dup(&self.metrics)?))
    }

    /// The addresses actually bound, in the order of `Config::listen`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address of the metrics endpoint (the first, if there are several), if
    /// `Config::metrics_listen` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addrs.first().copied()
    }

    /// Every address the metrics endpoint listens on, in the order of `Config::metrics_listen`.
    pub fn metrics_addrs(&self) -> &[SocketAddr] {
        &self.metrics_addrs
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
        // Everything that serves (the model's threads and descriptors, the metrics endpoint) is
        // running before the start-up line says so: whoever waits for that line may rely on it.
        let mut model: Box<dyn Dispatch> = match config.model {
            Model::Threads => Box::new(threads::Threads::new(Arc::clone(shared))?),
            Model::Pool => Box::new(pool::Pool::start(shared, workers)?),
        };
        let mut metrics = if self.metrics.is_empty() {
            None
        } else {
            let started = metrics::Endpoint::start(
                std::mem::take(&mut self.metrics),
                metrics::registry(shared, workers),
                Arc::clone(shared),
            );
            match started {
                Ok(endpoint) => Some(endpoint),
                Err(e) => {
                    // No connection yet: the model's threads end at once.
                    self.handle().shutdown();
                    model.drain();
                    return Err(e);
                }
            }
        };
        let metrics_addrs: Vec<String> =
            self.metrics_addrs.iter().map(ToString::to_string).collect();
        info!(
            mode = %config.mode,
            model = config.model.as_str(),
            workers = (config.model == Model::Pool).then_some(workers),
            max_connections = config.max_connections,
            metrics = (!metrics_addrs.is_empty()).then(|| metrics_addrs.join(", ")),
            "listening on {}",
            addrs.join(", ")
        );
        if let Some(ready) = self.ready.take() {
            ready();
        }
        let result = accept::run(&mut self.poll, &self.listeners, shared, model.as_mut());
        self.stop_accepting();
        model.drain();
        // Metrics stay up while connections drain, so the drain can be watched.
        if let Some(endpoint) = &mut metrics {
            endpoint.stop();
        }
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
