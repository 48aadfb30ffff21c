//! systemd: socket activation (with `systemd-socket-activate`), and the `sd_notify`
//! messages (`READY=1`, `STATUS=`, `RELOADING=1` with `MONOTONIC_USEC=`, `STOPPING=1`,
//! `WATCHDOG=1`), read from a datagram socket the test binds as `NOTIFY_SOCKET`.

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use shout_tests::daemon::{read_pid_file, signal_pid, wait_exited, KillOnDrop};
use shout_tests::*;

/// A datagram socket standing in for the service manager's notification socket.
struct NotifySocket {
    path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    fn bind(name: &str) -> NotifySocket {
        let path = std::env::temp_dir().join(format!("shout-notify-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        NotifySocket { path, socket }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("a UTF-8 path")
    }

    /// Waits for a message containing the line `line` and returns the whole message.
    fn expect(&self, line: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            let Ok(n) = self.socket.recv(&mut buf) else {
                break;
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            if message.lines().any(|l| l == line || l.starts_with(line)) {
                return message;
            }
            seen.push(message);
        }
        panic!("no notification {line:?}; got {seen:#?}");
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// READY=1 with a status naming the address once serving, WATCHDOG=1 repeatedly at half of
/// WATCHDOG_USEC, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a HUP reload, and
/// STOPPING=1 at TERM.
#[test]
fn notifies_the_service_manager() {
    let notify = NotifySocket::bind("lifecycle");
    let certs = Certs::new();
    let tls = certs.shoutd_args();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let mut shoutd = Shoutd::start_with(
        &[],
        &[
            ("NOTIFY_SOCKET", notify.path()),
            ("WATCHDOG_USEC", "200000"),
        ],
        &tls,
    );
    let ready = notify.expect("READY=1");
    assert!(
        ready.contains(&format!("STATUS=serving on {}", shoutd.addr)),
        "{ready}"
    );
    // Pings every 100 ms: two more within the timeout prove they repeat.
    notify.expect("WATCHDOG=1");
    notify.expect("WATCHDOG=1");

    shoutd.signal(Signal::HUP);
    let reloading = notify.expect("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let ready = notify.expect("READY=1");
    assert!(ready.contains("certificates reloaded"), "{ready}");

    shoutd.signal(Signal::TERM);
    notify.expect("STOPPING=1");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// The watchdog pings come from the accept loop, so that they stop if it is wedged: once it
/// has ended (at TERM, while a connection still drains) no ping follows.
#[test]
fn watchdog_pings_stop_with_the_accept_loop() {
    let notify = NotifySocket::bind("wedged");
    let mut shoutd = Shoutd::start_with(
        &[],
        &[
            ("NOTIFY_SOCKET", notify.path()),
            ("WATCHDOG_USEC", "200000"),
        ],
        &["--drain-timeout", "30s"],
    );
    notify.expect("WATCHDOG=1");
    // An idle connection keeps the drain going after the accept loop ends.
    let mut client = TcpStream::connect(shoutd.addr).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut client, 1), b"X");
    shoutd.signal(Signal::TERM);
    shoutd.expect_log("shutting down: no longer accepting");
    // What the loop sent before it ended is queued already: take it.
    notify.socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while notify.socket.recv(&mut buf).is_ok() {}
    notify.socket.set_nonblocking(false).unwrap();
    // Five ping intervals of silence while the connection drains.
    notify
        .socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut after = Vec::new();
    while let Ok(n) = notify.socket.recv(&mut buf) {
        after.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        !after.iter().any(|m| m.contains("WATCHDOG=1")),
        "pings after the accept loop ended: {after:#?}"
    );
    drop(client);
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// Without WATCHDOG_USEC, no watchdog ping is sent.
#[test]
fn no_watchdog_unless_asked() {
    let notify = NotifySocket::bind("no-watchdog");
    let mut shoutd = Shoutd::start_with(&[], &[("NOTIFY_SOCKET", notify.path())], &[]);
    notify.expect("READY=1");
    shoutd.signal(Signal::TERM);
    let stopping = notify.expect("STOPPING=1");
    assert!(!stopping.contains("WATCHDOG"), "{stopping}");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
}

/// Socket activation: shoutd serves the socket `systemd-socket-activate` passes (by name),
/// instead of binding `--listen`; a connection queued before shoutd started is served.
#[test]
fn serves_an_activated_socket() {
    let addr = free_port_addr();
    let listen = addr.to_string();
    // systemd-socket-activate starts shoutd at the first connection: make it from a thread.
    let client = thread::spawn(move || {
        let mut stream = wait_until("the activation socket", || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
        });
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(b"activated").unwrap();
        read_n(&mut stream, 9)
    });
    let shoutd = Shoutd::start_under(
        &["systemd-socket-activate", "-l", &listen, "--fdname=shout"],
        &[],
    );
    assert_eq!(shoutd.addr, addr, "{:?}", shoutd.startup);
    assert!(
        shoutd
            .startup
            .iter()
            .any(|l| l.contains("socket activation") && l.contains("shout")),
        "{:?}",
        shoutd.startup
    );
    assert_eq!(join_within(client, TIMEOUT), b"ACTIVATED");
    assert_eq!(round_trip(addr, b"again"), b"AGAIN");
}

/// At an upgrade the new process sends MAINPID= (its own PID) with READY=1; STOPPING=1 comes
/// once, from the new process at its SIGTERM (the old one's exit after the hand-over is no
/// stop of the service).
#[test]
fn upgrade_notifies_the_new_main_pid() {
    let notify = NotifySocket::bind("upgrade");
    let pid_file = notify.path.with_extension("pid");
    let pid_arg = pid_file.to_str().expect("a UTF-8 path").to_string();
    let mut shoutd = Shoutd::start_with(
        &[],
        &[("NOTIFY_SOCKET", notify.path())],
        &["--pid-file", &pid_arg],
    );
    notify.expect("READY=1");
    shoutd.signal(Signal::USR2);
    let took_over = notify.expect("MAINPID=");
    shoutd.expect_log("upgrade: the new process serves");
    let new = read_pid_file(&pid_file).expect("the new PID");
    let _guard = KillOnDrop(new);
    assert!(took_over.contains(&format!("MAINPID={new}")), "{took_over}");
    assert!(took_over.contains("READY=1"), "{took_over}");
    assert_eq!(shoutd.wait_exit().code(), Some(0));
    signal_pid(new, Signal::TERM);
    let stopping = notify.expect("STOPPING=1");
    assert!(!stopping.contains("MAINPID"), "{stopping}");
    wait_exited(new);
    // Nothing else said STOPPING=1.
    notify.socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.socket.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]);
        assert!(
            !message.contains("STOPPING=1"),
            "a second STOPPING=1: {message}"
        );
    }
}
