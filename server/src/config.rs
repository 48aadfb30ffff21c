//! What a server is told to do: addresses, mode, limits and timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use shout_common::Mode;

/// The default cap on connections served at once.
///
/// 10,000 is the load the project is built and measured for. shoutd lowers it (with a warning)
/// when the open-file limit cannot hold that many sockets.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The most pool workers `--workers` accepts. Each worker is a thread with an epoll instance
/// and an eventfd; far more workers than cores only add wake-ups, and a typo such as
/// `--workers 100000` should be a clear usage error, not "Too many open files".
pub const MAX_WORKERS: usize = 1024;

/// How connections are scheduled onto threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Model {
    /// A fixed pool of worker threads, each an event loop over many connections.
    #[default]
    Pool,
    /// One thread per connection, with blocking reads and writes.
    Threads,
}

impl Model {
    /// The name used on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Pool => "pool",
            Model::Threads => "threads",
        }
    }
}

/// Everything a server needs (`Server::bind`); `Config::default()` serves `127.0.0.1:9999`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on; port 0 picks a free port (see `Server::local_addrs`).
    pub listen: Vec<SocketAddr>,
    /// What to answer.
    pub mode: Mode,
    /// The concurrency model.
    pub model: Model,
    /// Worker threads of the pool model (0: one per available core).
    pub workers: usize,
    /// Connections served at once; more get the busy line and are closed.
    pub max_connections: usize,
    /// Connections served at once from one client address (`None`: no per-address cap);
    /// more get the busy line and are closed.
    pub max_connections_per_ip: Option<usize>,
    /// Close a connection that sends nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Close a connection that accepts no bytes for this long (`None`: never).
    pub write_timeout: Option<Duration>,
    /// At shutdown, how long connections get to finish before they are closed.
    pub drain_timeout: Duration,
    /// The listen backlog (pending connections the kernel queues for accept).
    pub backlog: i32,
    /// Serve Prometheus metrics at `/metrics` on these addresses (empty: off).
    pub metrics_listen: Vec<SocketAddr>,
    /// Log a one-line summary this often (`None`: never).
    pub stats_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![shout_common::DEFAULT_ADDR
                .parse()
                .expect("the default address is a valid socket address")],
            mode: Mode::Upper,
            model: Model::default(),
            workers: 0,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: None,
            idle_timeout: Some(Duration::from_secs(300)),
            write_timeout: Some(Duration::from_secs(30)),
            drain_timeout: Duration::from_secs(10),
            backlog: 1024,
            metrics_listen: Vec::new(),
            stats_interval: None,
        }
    }
}
