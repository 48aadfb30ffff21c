//! What a server is told to do: addresses, mode, limits and timeouts, and the defaults that
//! both [`Config::default`] and `shoutd`'s options read.

use std::net::SocketAddr;
use std::time::Duration;

use shout_common::Mode;

use crate::proxy::ProxyConfig;
use crate::tls::TlsConfig;

/// The default cap on connections served at once.
///
/// 10,000 is the load the project is built and measured for. shoutd lowers it (with a warning)
/// when the open-file limit cannot hold that many sockets.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The default number of pool workers: 0, one per available core.
pub const DEFAULT_WORKERS: u16 = 0;

/// The default idle timeout: a forgotten connection gives its slot back within minutes, while
/// someone typing at the prompt can pause to think.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The default write timeout: a peer that accepts no answer byte for this long has stopped
/// reading; its answers would only hold memory and a slot.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The default drain timeout: time for answers in flight to reach slow clients at shutdown,
/// short enough that a restart is not held up.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The default TLS handshake timeout: a real client finishes in a few round trips; one that
/// sends nothing, or a ClientHello a byte at a time, is closed after this.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The default listen backlog: a burst of connections waits in the kernel's queue while the
/// accept loop catches up, rather than being refused.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// The largest listen backlog `--backlog` accepts. The kernel cuts the backlog to
/// `net.core.somaxconn` anyway, and a larger number is more likely a typo than a wish.
pub const MAX_BACKLOG: i32 = 65535;

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
#[derive(Debug, Clone, PartialEq)]
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
    /// Bind the listeners (and the metrics listeners) with `SO_REUSEPORT`: several processes
    /// may then listen on one port, the kernel spreading new connections across them.
    pub reuse_port: bool,
    /// Serve Prometheus metrics at `/metrics` on these addresses (empty: off).
    pub metrics_listen: Vec<SocketAddr>,
    /// Log a one-line summary this often (`None`: never).
    pub stats_interval: Option<Duration>,
    /// Speak TLS on every listener (`None`: plaintext).
    pub tls: Option<TlsConfig>,
    /// Close a connection whose TLS handshake is not complete this long after accept.
    pub tls_handshake_timeout: Duration,
    /// Expect a PROXY protocol header first on every connection (`None`: no header).
    pub proxy: Option<ProxyConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![shout_common::DEFAULT_ADDR
                .parse()
                .expect("the default address is a valid socket address")],
            mode: Mode::default(),
            model: Model::default(),
            workers: usize::from(DEFAULT_WORKERS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            metrics_listen: Vec::new(),
            stats_interval: None,
            tls: None,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            proxy: None,
        }
    }
}
