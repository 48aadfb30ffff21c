//! Logging never harms serving: shoutd with its stderr a closed pipe, `/dev/full`, or a pipe
//! nobody reads starts, serves, refuses over the cap, and exits 0 on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

use rustix::process::{kill_process, Pid, Signal};
use shout_common::BUSY_PREFIX;
use shout_tests::{
    bin, connect, free_port_addr, read_n, read_to_end, round_trip, wait_child, wait_until,
};

/// A shoutd that cannot log: stderr is `stderr`, so the port is chosen here.
struct BlindShoutd {
    child: Child,
    addr: SocketAddr,
}

impl BlindShoutd {
    fn start(stderr: Stdio, extra: &[&str]) -> BlindShoutd {
        let addr = free_port_addr();
        let mut child = Command::new(bin("shoutd"))
            .args(["--listen", &addr.to_string()])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start shoutd");
        wait_until("shoutd to listen", || {
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("shoutd exited at start: {status}");
            }
            TcpStream::connect(addr).ok()
        });
        BlindShoutd { child, addr }
    }

    /// A connection that has been served (a slot may still be held by an earlier probe).
    fn served_connection(&self) -> TcpStream {
        wait_until("a served connection", || {
            let mut stream = connect(self.addr);
            stream.write_all(b"x").ok()?;
            let mut answer = [0u8; 1];
            stream.read_exact(&mut answer).ok()?;
            (&answer == b"X").then_some(stream)
        })
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        kill_process(Pid::from_child(&self.child), Signal::TERM).expect("signal shoutd");
        wait_child(&mut self.child)
    }
}

impl Drop for BlindShoutd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts, serves one client at the cap of one (with per-connection logging on), refuses three
/// more with the busy line (each refusal burst logs a warning), keeps serving the first, and
/// exits 0 on SIGTERM: every log write along the way fails.
fn serves_while_logging_fails(stderr: Stdio) {
    let shoutd = BlindShoutd::start(stderr, &["-vv", "--max-connections", "1"]);
    let mut held = shoutd.served_connection();
    for _ in 0..3 {
        let mut refused = connect(shoutd.addr);
        let line = read_to_end(&mut refused);
        assert!(
            line.starts_with(BUSY_PREFIX.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&line)
        );
    }
    held.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut held, 10), b"STILL HERE");
    drop(held);
    let status = shoutd.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
}

/// stderr is a pipe whose reader has gone (`shoutd 2>&1 | head -1` after head exits).
#[test]
fn stderr_closed_pipe() {
    let (reader, writer) = rustix::pipe::pipe().expect("pipe");
    drop(reader);
    serves_while_logging_fails(Stdio::from(writer));
}

/// stderr is a full disk.
#[test]
fn stderr_full_disk() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    serves_while_logging_fails(Stdio::from(full));
}

/// stderr is a pipe that nobody reads (a stalled log collector): once the pipe is full, log
/// lines are dropped instead of blocking the threads that serve. 2,000 connections at `-vv`
/// log far more than a pipe holds (64 KiB).
#[test]
fn stderr_stalled_pipe() {
    let (reader, writer) = rustix::pipe::pipe().expect("pipe");
    let shoutd = BlindShoutd::start(Stdio::from(writer), &["-vv"]);
    for i in 0..2000u32 {
        let input = format!("line {i}\n");
        assert_eq!(
            round_trip(shoutd.addr, input.as_bytes()),
            input.to_uppercase().as_bytes()
        );
    }
    let status = shoutd.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    drop(reader);
}

/// A start-up error with a broken stderr still exits 1 (not a panic's 101).
#[test]
fn start_error_with_broken_stderr_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (reader, writer) = rustix::pipe::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(bin("shoutd"))
        .args(["--listen", &addr])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .spawn()
        .expect("start shoutd");
    let status = wait_child(&mut child);
    assert_eq!(status.code(), Some(1), "{status}");
}
