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

mod accept;
pub mod cli;
pub mod config;
pub mod conn;
pub mod limits;
pub mod listener;
pub mod logging;
mod metrics;
pub mod pool;
pub mod server;
pub mod stats;
pub mod threads;

pub use config::{Config, Model};
pub use server::{Handle, Server};
pub use stats::{CloseReason, Snapshot};
