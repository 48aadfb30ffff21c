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

// Modules in layers: each imports only modules of the layers above it in this list.
//
// Facts and parts with no other module below them:
pub mod config;
pub mod limits;
pub mod listener;
pub mod logging;
mod sockets;
pub mod stats;
mod sync;
// The connection core, the per-interval log line, and the state every layer below shares:
pub mod conn;
mod shared;
mod stats_log;
// What serves: the two concurrency models and the metrics endpoint:
mod metrics;
pub mod pool;
pub mod threads;
// The accept loop, then the server that wires everything together, then `shoutd`'s options:
mod accept;
pub mod cli;
pub mod server;

pub use config::{Config, Model};
pub use server::{Handle, Server};
pub use stats::{CloseReason, Snapshot};
