//! Connecting to shoutd: name resolution, a connect timeout, retries with backoff, and one clear
//! line when it cannot be done. The backoff between attempts lives here for the whole client:
//! the bench reopens its connections with the same [`Backoff`].

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use shout_common::DEFAULT_PORT;

/// The first pause between connection attempts; it doubles each time up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How long one connection attempt may take unless told otherwise (`--connect-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Attempts after the first one fails, unless told otherwise (`--retries`).
pub const DEFAULT_RETRIES: u32 = 0;

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first one fails.
    pub retries: u32,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// The pauses between connection attempts: [`FIRST_BACKOFF`], doubling each time up to
/// [`MAX_BACKOFF`]; back to the first once a connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    /// The pause before the next attempt; the one after it is twice as long, up to the limit.
    pub fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }

    /// A connection was made: the next failure starts again from the first pause.
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }
}

/// Connecting failed after every attempt; its `Display` is the line shown to the user.
#[derive(Debug)]
pub struct ConnectError {
    /// The address as the user gave it.
    pub addr: String,
    /// The last failure.
    pub source: io::Error,
    /// The connect timeout, to name it when an attempt timed out.
    pub timeout: Duration,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: ", self.addr)?;
        match self.source.kind() {
            io::ErrorKind::ConnectionRefused => {
                f.write_str("connection refused (is shoutd running?)")
            }
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => write!(
                f,
                "no answer within {}",
                shout_common::cli::format_duration(self.timeout)
            ),
            _ => write!(f, "{}", self.source),
        }
    }
}

// No `source()`: the message already says what the cause is, and error chains printed with
// `{:#}` would repeat it.
impl std::error::Error for ConnectError {}

/// Resolves `addr` (`host:port`, or a bare host with the default port).
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let resolved: Vec<SocketAddr> = match addr.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        // No port given: use the default one.
        Err(_) if !addr.contains(':') || addr.ends_with(']') => {
            (addr.trim_matches(['[', ']']), DEFAULT_PORT)
                .to_socket_addrs()?
                .collect()
        }
        Err(e) => return Err(e),
    };
    if resolved.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no address",
        ));
    }
    Ok(resolved)
}

/// Connects to `addr`, trying each resolved address, retrying with exponential backoff.
/// The socket has `TCP_NODELAY` set: every message is small and wants its answer now.
pub fn connect(addr: &str, opts: &ConnectOptions) -> Result<TcpStream, ConnectError> {
    let fail = |source| ConnectError {
        addr: addr.to_owned(),
        source,
        timeout: opts.timeout,
    };
    let mut backoff = Backoff::default();
    let mut attempt = 0;
    loop {
        let result = resolve(addr).and_then(|addrs| connect_any(&addrs, opts.timeout));
        match result {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(fail)?;
                return Ok(stream);
            }
            Err(e) if attempt >= opts.retries => return Err(fail(e)),
            Err(_) => {
                attempt += 1;
                thread::sleep(backoff.pause());
            }
        }
    }
}

fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare host gets the default port; a full address is kept.
    #[test]
    fn resolves_with_default_port() {
        assert_eq!(
            resolve("127.0.0.1").unwrap(),
            vec!["127.0.0.1:9999".parse().unwrap()]
        );
        assert_eq!(
            resolve("[::1]").unwrap(),
            vec!["[::1]:9999".parse().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1:5").unwrap(),
            vec!["127.0.0.1:5".parse().unwrap()]
        );
    }

    /// Pauses double from the first to the longest, and start again after a reset.
    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..7).map(|_| backoff.pause().as_millis() as u64).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 2000, 2000]);
        backoff.reset();
        assert_eq!(backoff.pause(), FIRST_BACKOFF);
    }

    /// A refused connection says so in one line, with a hint.
    #[test]
    fn refused_is_one_clear_line() {
        // Bind then drop to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let err = connect(&addr, &ConnectOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot connect to {addr}: connection refused (is shoutd running?)")
        );
    }
}
