//! Listening sockets, set up with socket2 so every option is explicit: the server's and the
//! metrics endpoint's alike.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a non-blocking listener on `addr`.
///
/// - `SO_REUSEADDR`, so a restarted shoutd binds its port at once, even with connections of the
///   previous process still in `TIME_WAIT`.
/// - IPv6 addresses listen on IPv6 only (`IPV6_V6ONLY`), so `0.0.0.0:P` and `[::]:P` can be
///   given together, whatever the system's default.
/// - The listener is non-blocking: the accept loop waits for readiness and can be woken to stop.
/// - With `reuse_port`, `SO_REUSEPORT` (`--reuse-port`): other sockets with it may bind the
///   same address.
pub fn bind(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds every address of `addrs` with [`bind`]; returns the listeners and the addresses they
/// are bound to (port 0 picks a free port). An error names the address, after `failed` (such
/// as "cannot listen on").
pub fn bind_all(
    addrs: &[SocketAddr],
    backlog: i32,
    reuse_port: bool,
    failed: &str,
) -> io::Result<(Vec<TcpListener>, Vec<SocketAddr>)> {
    let listeners = addrs
        .iter()
        .map(|&addr| {
            bind(addr, backlog, reuse_port)
                .map_err(|e| io::Error::new(e.kind(), format!("{failed} {addr}: {e}")))
        })
        .collect::<io::Result<Vec<_>>>()?;
    let bound = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    Ok((listeners, bound))
}
