//! Sockets for tests: connections that always have timeouts, reading whole answers, free
//! ports, a client that floods without reading, and PROXY protocol headers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::wait::{join_within, wait_until, TIMEOUT};

/// Connects to `addr` with read and write timeouts of [`TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

/// Connects to `addr` from local address `from` (such as `127.0.0.2`, another loopback
/// address), with timeouts as [`connect`].
pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind the source address");
    socket
        .connect_timeout(&addr.into(), TIMEOUT)
        .expect("connect");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

/// A loopback address with a port that was free a moment ago (bound, then released): for a
/// child process that cannot report the port it bound (such as a shoutd whose stderr is
/// broken), a server started later, or an address nobody listens on.
pub fn free_port_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
}

/// Reads exactly `n` bytes (panics on timeout or early end).
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    stream
        .read_exact(&mut buf)
        .expect("read the expected answer");
    buf
}

/// Reads until the peer closes (panics on timeout).
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .expect("read until the server closes");
    buf
}

/// Sends `input`, half-closes, and returns everything answered until the server closes.
pub fn round_trip(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(input).expect("send");
    stream.shutdown(Shutdown::Write).expect("half-close");
    read_to_end(&mut stream)
}

/// Whether the peer closed `stream`: true at end of stream or on a reset, false if it is still
/// open after `wait`.
pub fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 64];
    let closed = match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected data: {:?}", &buf[..n]),
        Err(e) => !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
    };
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    closed
}

/// A client that sends without ever reading the answers, until the connection breaks or 256 MiB
/// are sent. Once the socket buffers both ways are full, the server is blocked writing to it.
pub struct Flood {
    /// The flooding connection (shut it down to stop the flood).
    pub stream: TcpStream,
    sent: Arc<AtomicUsize>,
    thread: JoinHandle<bool>,
}

impl Flood {
    /// Starts flooding `addr` from a new thread.
    pub fn start(addr: SocketAddr) -> Flood {
        let stream = connect(addr);
        let mut writer = stream.try_clone().expect("clone socket");
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let thread = thread::spawn(move || {
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..4096 {
                if writer.write_all(&chunk).is_err() {
                    return true; // the connection was broken
                }
                counter.fetch_add(chunk.len(), Ordering::Relaxed);
            }
            false
        });
        Flood {
            stream,
            sent,
            thread,
        }
    }

    /// Waits until nothing more can be sent for 300 ms: the server is stuck writing to us.
    pub fn wait_stalled(&self) {
        let mut last = usize::MAX;
        wait_until("the flood to stall", || {
            thread::sleep(Duration::from_millis(300));
            let now = self.sent.load(Ordering::Relaxed);
            let stalled = now == last && now > 0;
            last = now;
            stalled.then_some(())
        });
    }

    /// Stops the flood; returns whether the connection had been broken by the server.
    pub fn finish(self) -> bool {
        let _ = self.stream.shutdown(Shutdown::Both);
        join_within(self.thread, TIMEOUT)
    }

    /// Whether the flood thread has ended (the connection broke).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// A PROXY protocol v2 header for client `client` (`ip:port`), as HAProxy's send-proxy-v2
/// sends it.
pub fn proxy_v2_header(client: &str) -> Vec<u8> {
    use ppp::v2;
    let addrs: v2::Addresses = (
        client.parse::<SocketAddr>().expect("a client address"),
        "127.0.0.1:9999".parse::<SocketAddr>().expect("an address"),
    )
        .into();
    v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        addrs,
    )
    .build()
    .expect("a v2 header")
}
