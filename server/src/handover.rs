//! The channel of an upgrade in place, between the process that serves (the old one) and the
//! process it started from the binary on disk (the new one): a Unix `SOCK_SEQPACKET` socket in
//! the abstract namespace (no file to clean up; message boundaries kept; descriptors passed
//! with `SCM_RIGHTS`). Its name is in the new process's environment
//! ([`UPGRADE_ENV`]); the old process accepts only its own child (`SO_PEERCRED`).
//!
//! # Hand-over record, version 1
//!
//! Every message is one datagram of UTF-8 text, one line, ending in `\n`:
//!
//! 1. old → new: `SHOUTD-HANDOVER 1 listeners=N metrics=M\n`, with `N + M` descriptors
//!    attached: the connection listeners in the order shoutd listed them, then the metrics
//!    listeners. A new process that does not know the version exits with an error (the old
//!    one then serves on).
//! 2. new → old: `READY <pid>\n` once the new process serves (options read, TLS files loaded,
//!    workers and metrics endpoint started, PID file written). Only then does the old process
//!    stop accepting.
//! 3. old → new, one per established plaintext connection (plain TCP or after its PROXY
//!    header), with its socket attached:
//!    `CONN peer=ADDR idle_ms=N write_ms=N carry=HEX pending=HEX unread=HEX\n`. `peer` is the client's
//!    address (the PROXY header's, if any: its per-address slot moves with it); `idle_ms` the
//!    time since its last input, `write_ms` since its last answer byte was taken (both
//!    deadlines go on from there); `carry` the bytes of a character cut by the last read (at
//!    most 3); `pending` the answer bytes not yet sent, sent first by the new process; `unread`
//!    bytes read with the PROXY header but not yet answered (at most one read). Bytes in
//!    the kernel's receive buffer are simply read by the new process. TLS connections are not
//!    handed over (rustls cannot export a live session): they drain in the old process.
//! 4. The old process closes the channel when every connection is handed over or drained.
//!
//! A new process refuses a version it does not know (message 1), with an error line naming
//! both versions, and exits: a failed upgrade, after which the old process serves on,
//! connections included. A connection record it cannot read (a bug, not a version matter) is
//! logged and that connection closed.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

/// The environment variable that names the channel for the new process.
pub const UPGRADE_ENV: &str = "SHOUTD_UPGRADE_FROM";

/// The version of the hand-over record this shoutd writes and reads.
pub const VERSION: u32 = 1;

/// The most descriptors one message carries (the kernel's `SCM_MAX_FD` is 253): listeners
/// beyond this are refused at hand-over.
pub const MAX_FDS: usize = 128;

/// The longest message: a connection's record with its pending answer bytes in hex (at most
/// `conn::MAX_PENDING`, 48 KiB + 12 bytes, so about 97 KiB) and the rest of the line.
const MAX_MESSAGE: usize = 160 * 1024;

/// One end of the channel.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

/// The old process's listening end, named in the abstract namespace.
#[derive(Debug)]
pub struct ChannelListener {
    fd: OwnedFd,
    /// The abstract name (without the leading NUL).
    pub name: String,
}

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

fn abstract_addr(name: &str) -> io::Result<SocketAddrUnix> {
    Ok(SocketAddrUnix::new_abstract_name(name.as_bytes())?)
}

impl ChannelListener {
    /// Listens on a fresh abstract name of this process.
    pub fn bind() -> io::Result<ChannelListener> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("shoutd-upgrade-{}-{nanos}", std::process::id());
        let fd = seqpacket()?;
        rustix::net::bind(&fd, &abstract_addr(&name)?)?;
        rustix::net::listen(&fd, 1)?;
        rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Recv, None)?;
        Ok(ChannelListener { fd, name })
    }

    /// Accepts a connection (call when readable).
    pub fn accept(&self) -> io::Result<Channel> {
        let fd = rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC)?;
        Ok(Channel { fd })
    }
}

impl AsFd for ChannelListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    /// Connects to the old process's channel `name`.
    pub fn connect(name: &str) -> io::Result<Channel> {
        let fd = seqpacket()?;
        rustix::net::connect(&fd, &abstract_addr(name)?)?;
        Ok(Channel { fd })
    }

    /// The PID of the process at the other end.
    pub fn peer_pid(&self) -> io::Result<u32> {
        let cred = rustix::net::sockopt::socket_peercred(&self.fd)?;
        Ok(cred.pid.as_raw_nonzero().get().unsigned_abs())
    }

    /// Bounds each later receive (`None`: wait for ever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        use rustix::net::sockopt::{set_socket_timeout, Timeout};
        set_socket_timeout(&self.fd, Timeout::Recv, timeout)?;
        set_socket_timeout(&self.fd, Timeout::Send, timeout)?;
        Ok(())
    }

    /// Sends one message with `fds` attached.
    pub fn send(&self, message: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("too many descriptors for one message"));
        }
        let iov = [io::IoSlice::new(message.as_bytes())];
        let sent = rustix::net::sendmsg(&self.fd, &iov, &mut control, SendFlags::NOSIGNAL)?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "message cut short",
            ));
        }
        Ok(())
    }

    /// Receives one message and the descriptors attached to it; `None` at end of stream (the
    /// other process closed the channel or exited).
    pub fn recv(&self) -> io::Result<Option<(String, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let got = loop {
            match rustix::net::recvmsg(&self.fd, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other?,
            }
        };
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if got.bytes == 0 {
            return Ok(None);
        }
        if got.flags.contains(rustix::net::ReturnFlags::TRUNC)
            || got.flags.contains(rustix::net::ReturnFlags::CTRUNC)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "hand-over message too long",
            ));
        }
        let text = String::from_utf8(buf[..got.bytes.min(MAX_MESSAGE)].to_vec()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "hand-over message not UTF-8")
        })?;
        Ok(Some((text, fds)))
    }
}

/// The listeners a new process takes over.
#[derive(Debug)]
pub struct Listeners {
    /// The connection listeners.
    pub listeners: Vec<TcpListener>,
    /// The metrics listeners.
    pub metrics: Vec<TcpListener>,
}

/// Old process: sends the listeners (message 1).
pub fn send_listeners(
    channel: &Channel,
    listeners: &[OwnedFd],
    metrics: &[OwnedFd],
) -> io::Result<()> {
    if listeners.len() + metrics.len() > MAX_FDS {
        return Err(io::Error::other(format!(
            "more than {MAX_FDS} listeners cannot be handed over"
        )));
    }
    let fds: Vec<BorrowedFd<'_>> = listeners.iter().chain(metrics).map(AsFd::as_fd).collect();
    let header = format!(
        "SHOUTD-HANDOVER {VERSION} listeners={} metrics={}\n",
        listeners.len(),
        metrics.len()
    );
    channel.send(&header, &fds)
}

/// New process: receives the listeners (message 1); an error says what was wrong.
pub fn recv_listeners(channel: &Channel) -> io::Result<Listeners> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let (header, fds) = channel
        .recv()?
        .ok_or_else(|| invalid("the old process closed the channel".into()))?;
    let (listeners, metrics) = parse_header(&header).map_err(invalid)?;
    if fds.len() != listeners + metrics {
        return Err(invalid(format!(
            "{header:?} came with {} descriptors",
            fds.len()
        )));
    }
    let mut sockets = fds.into_iter().map(TcpListener::from);
    Ok(Listeners {
        listeners: sockets.by_ref().take(listeners).collect(),
        metrics: sockets.collect(),
    })
}

/// Reads message 1: (listeners, metrics listeners).
fn parse_header(line: &str) -> Result<(usize, usize), String> {
    let mut words = line.trim_end().split(' ');
    if words.next() != Some("SHOUTD-HANDOVER") {
        return Err(format!("not a hand-over record: {line:?}"));
    }
    let version = words.next().unwrap_or_default();
    if version != VERSION.to_string() {
        return Err(format!(
            "hand-over record version {version} is not understood (this shoutd reads version {VERSION})"
        ));
    }
    let mut count = |key: &str| -> Result<usize, String> {
        words
            .next()
            .and_then(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("bad hand-over record: {line:?}"))
    };
    let listeners = count("listeners=")?;
    let metrics = count("metrics=")?;
    Ok((listeners, metrics))
}

/// New process: message 2, sent when it serves.
pub fn send_ready(channel: &Channel) -> io::Result<()> {
    channel.send(&format!("READY {}\n", std::process::id()), &[])
}

/// Whether `message` is message 2.
pub fn is_ready(message: &str) -> bool {
    message.starts_with("READY ")
}

/// An established plaintext connection on its way from the old process to the new one.
#[derive(Debug)]
pub struct Moved {
    /// Its socket.
    pub stream: TcpStream,
    /// The client's address (the PROXY header's, if any).
    pub peer: SocketAddr,
    /// The bytes of a cut character its transform holds.
    pub carry: Vec<u8>,
    /// Answer bytes not yet sent.
    pub pending: Vec<u8>,
    /// Bytes read from the socket (after its PROXY header) but not yet answered: the new
    /// process answers them first, after `pending`.
    pub unread: Vec<u8>,
    /// Time since its last input (the idle timeout goes on from there).
    pub idle_elapsed: Duration,
    /// Time since its last answer byte was taken (the write timeout goes on from there).
    pub write_elapsed: Duration,
}

/// Old process: sends connection record (message 3) with its socket.
pub fn send_connection(channel: &Channel, moved: &Moved) -> io::Result<()> {
    let record = format!(
        "CONN peer={} idle_ms={} write_ms={} carry={} pending={} unread={}\n",
        moved.peer,
        moved.idle_elapsed.as_millis(),
        moved.write_elapsed.as_millis(),
        hex(&moved.carry),
        hex(&moved.pending),
        hex(&moved.unread)
    );
    channel.send(&record, &[moved.stream.as_fd()])
}

/// New process: reads a connection record (message 3) and its socket.
pub fn parse_connection(record: &str, fds: Vec<OwnedFd>) -> Result<Moved, String> {
    let bad = || {
        format!(
            "bad connection record: {:?}",
            record.get(..80).unwrap_or(record)
        )
    };
    let mut fds = fds.into_iter();
    let (Some(fd), None) = (fds.next(), fds.next()) else {
        return Err(format!("a connection record needs one socket: {}", bad()));
    };
    let fields = record.trim_end().strip_prefix("CONN ").ok_or_else(bad)?;
    let field = |name: &str| -> Result<&str, String> {
        fields
            .split(' ')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(bad)
    };
    let ms = |v: &str| v.parse().map(Duration::from_millis).map_err(|_| bad());
    Ok(Moved {
        stream: TcpStream::from(fd),
        peer: field("peer")?.parse().map_err(|_| bad())?,
        idle_elapsed: ms(field("idle_ms")?)?,
        write_elapsed: ms(field("write_ms")?)?,
        carry: unhex(field("carry")?).ok_or_else(bad)?,
        pending: unhex(field("pending")?).ok_or_else(bad)?,
        unread: unhex(field("unread")?).ok_or_else(bad)?,
    })
}

/// Whether `message` is a connection record.
pub fn is_connection(message: &str) -> bool {
    message.starts_with("CONN ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listeners and their order survive the trip; a record of another version is refused
    /// with a message naming both versions.
    #[test]
    fn listeners_cross_the_channel() {
        let listener = ChannelListener::bind().unwrap();
        let new = Channel::connect(&listener.name).unwrap();
        let old = listener.accept().unwrap();
        assert_eq!(old.peer_pid().unwrap(), std::process::id());
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let b = TcpListener::bind("127.0.0.1:0").unwrap();
        let m = TcpListener::bind("127.0.0.1:0").unwrap();
        let addrs = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let fds: Vec<OwnedFd> = [a, b].into_iter().map(OwnedFd::from).collect();
        send_listeners(&old, &fds, &[OwnedFd::from(m.try_clone().unwrap())]).unwrap();
        let got = recv_listeners(&new).unwrap();
        let got_addrs: Vec<_> = got
            .listeners
            .iter()
            .map(|l| l.local_addr().unwrap())
            .collect();
        assert_eq!(got_addrs, addrs);
        assert_eq!(
            got.metrics[0].local_addr().unwrap(),
            m.local_addr().unwrap()
        );

        send_ready(&new).unwrap();
        let (ready, _) = old.recv().unwrap().unwrap();
        assert!(is_ready(&ready), "{ready}");
        drop(new);
        assert!(
            old.recv().unwrap().is_none(),
            "end of stream after the peer closed"
        );
    }

    /// A connection record survives the trip with its socket and state, at its largest.
    #[test]
    fn connection_records_cross_the_channel() {
        let listener = ChannelListener::bind().unwrap();
        let new = Channel::connect(&listener.name).unwrap();
        let old = listener.accept().unwrap();
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let pending = vec![0xe2; crate::conn::MAX_PENDING];
        let moved = Moved {
            stream: client,
            peer: "10.1.2.3:4567".parse().unwrap(),
            carry: vec![0xe2, 0x82],
            pending: pending.clone(),
            unread: b"next".to_vec(),
            idle_elapsed: Duration::from_millis(1500),
            write_elapsed: Duration::from_millis(20),
        };
        send_connection(&old, &moved).unwrap();
        let (record, fds) = new.recv().unwrap().unwrap();
        assert!(is_connection(&record));
        let got = parse_connection(&record, fds).unwrap();
        assert_eq!(got.peer, moved.peer);
        assert_eq!(got.carry, moved.carry);
        assert_eq!(got.pending, pending);
        assert_eq!(got.unread, b"next");
        assert_eq!(got.idle_elapsed, moved.idle_elapsed);
        assert_eq!(got.write_elapsed, moved.write_elapsed);
        assert_eq!(
            got.stream.local_addr().unwrap(),
            moved.stream.local_addr().unwrap()
        );
        assert!(parse_connection("CONN peer=x\n", Vec::new()).is_err());
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("0aFf"), Some(vec![10, 255]));
    }

    #[test]
    fn unknown_version_is_refused() {
        let e = parse_header("SHOUTD-HANDOVER 2 listeners=1 metrics=0\n").unwrap_err();
        assert!(e.contains("version 2") && e.contains("version 1"), "{e}");
        assert!(parse_header("hello\n").is_err());
        assert!(parse_header("SHOUTD-HANDOVER 1 listeners=x metrics=0\n").is_err());
        assert_eq!(
            parse_header("SHOUTD-HANDOVER 1 listeners=2 metrics=1\n"),
            Ok((2, 1))
        );
    }
}
