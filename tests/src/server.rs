//! The server as a library, running in this process: [`TestServer`] binds ephemeral loopback
//! ports, serves from a thread, and is stopped on drop.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};

use shout_server::{Config, Handle, Server, Snapshot};

use crate::net::connect;
use crate::wait::{join_within, wait_until, TIMEOUT};

/// A server running in this process on an ephemeral loopback port; stopped on drop.
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Stops it and reads its counters.
    pub handle: Handle,
    metrics: Option<SocketAddr>,
    thread: Option<JoinHandle<io::Result<Snapshot>>>,
}

impl TestServer {
    /// Starts a server with `config`, listening on `127.0.0.1:0` (and serving metrics where
    /// `config.metrics_listen` says, such as `127.0.0.1:0` too).
    pub fn start(config: Config) -> TestServer {
        TestServer::start_on(config, "127.0.0.1:0".parse().expect("valid address"))
    }

    /// Starts a server with `config`, listening on `addr`.
    pub fn start_on(mut config: Config, addr: SocketAddr) -> TestServer {
        config.listen = vec![addr];
        let server = Server::bind(config).expect("bind an ephemeral port");
        let addr = server.local_addrs()[0];
        let metrics = server.metrics_addr();
        let handle = server.handle();
        let thread = thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
            metrics,
            thread: Some(thread),
        }
    }

    /// Starts a server with the default configuration.
    pub fn default_config() -> TestServer {
        TestServer::start(Config::default())
    }

    /// Connects a client with timeouts set.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// The bound address of the metrics endpoint (panics if it was not configured).
    pub fn metrics(&self) -> SocketAddr {
        self.metrics
            .expect("the server was started without `metrics_listen`")
    }

    /// Shuts down gracefully and returns the final counters; panics if that takes longer than
    /// the drain timeout plus [`TIMEOUT`].
    pub fn stop(mut self) -> Snapshot {
        self.handle.shutdown();
        let thread = self.thread.take().expect("stopped once");
        join_within(thread, TIMEOUT * 3).expect("server run failed")
    }

    /// Waits until `cond` holds for the server's counters.
    pub fn wait_for(&self, what: &str, cond: impl Fn(&Snapshot) -> bool) -> Snapshot {
        wait_until(what, || {
            let s = self.handle.stats();
            cond(&s).then_some(s)
        })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            // Only on a failing test: do not hide its panic behind another.
            let _ = join_within(thread, TIMEOUT * 3);
        }
    }
}
