//! shoutd as a library: a multithreaded TCP server that answers whatever it receives in
//! uppercase (see [`shout_common`] for the protocol).
//!
//! ```no_run
//! let server = shout_server::Server::bind(shout_server::Config::default())?;
//! println!("listening on {:?}", server.local_addrs());
//! let handle = server.handle(); // handle.shutdown() from any thread stops it
//! let summary = server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The data path: [`listener`] sockets -> the accept loop (limits, accept errors) -> a
//! concurrency model ([`pool`] or [`threads`]) -> the sans-IO [`conn`] core -> [`shout_common::Transform`].

// The modules in layers, from the bottom: each imports only modules of the layers before it.
//
// 1. Facts and tools that import no other module: what to serve, counters, sockets, logs.
mod burst;
pub mod config;
pub mod handover;
pub mod lifecycle;
pub mod listener;
pub mod logging;
pub mod pidfile;
pub mod proxy;
pub mod renew;
mod sockets;
pub mod stats;
mod sync;
pub mod systemd;
pub mod tls;

// 2. The sans-IO connection core, the limits, the `--stats-interval` line.
pub mod conn;
pub mod limits;
mod stats_log;
mod tls_session;
mod transport;

// 3. What the accept loop, the models and the metrics share (`Shared`, `Dispatch`).
mod shared;

// 4. What serves: the two concurrency models, and the metrics endpoint.
mod metrics;
pub mod pool;
pub mod threads;

// 5. The accept loop, which hands connections to a model.
mod accept;

// 6. The server, which wires everything together.
pub mod server;

// 7. `shoutd`'s options, which build a server; the daemon around it: signals, upgrades.
pub mod cli;
pub mod daemon;
pub mod signals;
pub mod upgrade;

pub use config::{Config, Model};
pub use proxy::{ProxyConfig, ProxyRefusal};
pub use server::{Handle, Server};
pub use stats::{CloseReason, Snapshot};
pub use tls::{Handshake, TlsConfig, MAX_TLS_REFUSALS};
