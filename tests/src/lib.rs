//! Helpers shared by the end-to-end tests: an in-process server, the real binaries as child
//! processes, and sockets that always have timeouts (a bug fails a test, it never hangs it).

pub mod netns;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shout_server::{Config, Handle, Server, Snapshot};

/// The timeout of every test socket operation and of every wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in this process on an ephemeral loopback port; stopped on drop.
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Stops it and reads its counters.
    pub handle: Handle,
    thread: Option<JoinHandle<io::Result<Snapshot>>>,
}

impl TestServer {
    /// Starts a server with `config`, listening on `127.0.0.1:0`.
    pub fn start(config: Config) -> TestServer {
        TestServer::start_on(config, "127.0.0.1:0".parse().expect("valid address"))
    }

    /// Starts a server with `config`, listening on `addr`.
    pub fn start_on(mut config: Config, addr: SocketAddr) -> TestServer {
        config.listen = vec![addr];
        let server = Server::bind(config).expect("bind an ephemeral port");
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let thread = thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
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

/// Joins `thread`, panicking if it does not finish within `limit`.
pub fn join_within<T: Send + 'static>(thread: JoinHandle<T>, limit: Duration) -> T {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        assert!(
            Instant::now() < deadline,
            "thread did not finish within {limit:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
    match thread.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Polls `probe` until it returns `Some`, panicking after [`TIMEOUT`].
pub fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Connects to `addr` with read and write timeouts of [`TIMEOUT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

/// A loopback address with a port that was free a moment ago (for a child process that
/// cannot report the port it bound, such as a shoutd whose stderr is broken).
pub fn free_port_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
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
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
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

/// The path of a workspace binary (`shoutd` or `shout`), built by `cargo test --workspace`
/// next to the test executables.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so it is built",
        path.display()
    );
    path
}

/// The real `shoutd` binary, running as a child process on an ephemeral loopback port.
/// Killed on drop.
pub struct Shoutd {
    /// The child process.
    pub child: Child,
    /// The address it reported in its start-up log line.
    pub addr: SocketAddr,
    /// Every later stderr line, as it arrives.
    pub log: mpsc::Receiver<String>,
    /// The stderr lines up to and including the start-up line.
    pub startup: Vec<String>,
}

impl Shoutd {
    /// Starts `shoutd --listen 127.0.0.1:0` with `extra` arguments and waits for it to listen.
    pub fn start(extra: &[&str]) -> Shoutd {
        Shoutd::start_under(&[], extra)
    }

    /// Like [`Shoutd::start`], run through a wrapper command (such as `prlimit ...`).
    pub fn start_under(wrapper: &[&str], extra: &[&str]) -> Shoutd {
        let shoutd = bin("shoutd");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&shoutd);
                c
            }
            None => Command::new(&shoutd),
        };
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shoutd");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = forward_lines(stderr);
        let mut startup = Vec::new();
        let addr = loop {
            let line = log
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("shoutd never said it was listening: {startup:?}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest
                    .split([' ', ',', '"'])
                    .next()
                    .and_then(|a| a.parse().ok());
                startup.push(line.clone());
                break addr.unwrap_or_else(|| panic!("no address in start-up line: {line}"));
            }
            startup.push(line);
        };
        Shoutd {
            child,
            addr,
            log,
            startup,
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn expect_log(&self, needle: &str) -> String {
        self.log_until(needle)
            .pop()
            .expect("at least the matching line")
    }

    /// Waits for a log line containing `needle`; returns every line logged since the last call,
    /// up to and including that one.
    pub fn log_until(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("shoutd never logged '{needle}'; it logged {lines:#?}"),
            }
        }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal shoutd");
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        wait_child(&mut self.child)
    }
}

impl Drop for Shoutd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real `shout` with `args` and `input` on stdin (`SHOUT_*` variables of the test
/// environment removed); returns (exit code, stdout, stderr).
pub fn run_shout(args: &[&str], input: Vec<u8>) -> (Option<i32>, Vec<u8>, String) {
    let mut command = Command::new(bin("shout"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHOUT_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start shout");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        // shout may exit early on errors; a broken pipe here is expected then.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).unwrap();
        out
    });
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = thread::spawn(move || {
        let mut err = String::new();
        stderr.read_to_string(&mut err).unwrap();
        err
    });
    let status = wait_child(&mut child);
    join_within(feeder, TIMEOUT);
    (
        status.code(),
        join_within(reader, TIMEOUT),
        join_within(err_reader, TIMEOUT),
    )
}

/// CPU time (user + system, in clock ticks) process `pid` has used, from `/proc`.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (in parentheses): utime is the 12th, stime the 13th.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Lowers `child`'s open-file limit (soft and hard) to its open descriptors plus `room`.
pub fn leave_descriptors(child: &Child, room: u64) {
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    let open = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .expect("list the child's descriptors")
        .count() as u64;
    let limit = Rlimit {
        current: Some(open + room),
        maximum: Some(open + room),
    };
    prlimit(Some(Pid::from_child(child)), Resource::Nofile, limit)
        .expect("lower the child's open-file limit");
}

/// Waits for `child` to exit within [`TIMEOUT`] (panics otherwise).
pub fn wait_child(child: &mut Child) -> std::process::ExitStatus {
    wait_until("the process to exit", || child.try_wait().expect("wait"))
}

fn forward_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A client that sends without ever reading the answers, until the connection breaks or 256 MiB
/// are sent. Once the socket buffers both ways are full, the server is blocked writing to it.
pub struct Flood {
    /// The flooding connection (shut it down to stop the flood).
    pub stream: TcpStream,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: JoinHandle<bool>,
}

impl Flood {
    /// Starts flooding `addr` from a new thread.
    pub fn start(addr: SocketAddr) -> Flood {
        use std::sync::atomic::Ordering;
        let stream = connect(addr);
        let mut writer = stream.try_clone().expect("clone socket");
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&sent);
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
        use std::sync::atomic::Ordering;
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
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        join_within(self.thread, TIMEOUT)
    }

    /// Whether the flood thread has ended (the connection broke).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Defines each test once per concurrency model: `model_tests! { /// doc
/// fn name(model) { ... } }` becomes module `name` with tests `pool` and `threads`, each
/// running the body with `model` set to that [`shout_server::Model`].
#[macro_export]
macro_rules! model_tests {
    ($( $(#[doc = $doc:expr])* fn $name:ident($model:ident) $body:block )*) => {
        $(
            $(#[doc = $doc])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn run($model: shout_server::Model) $body

                /// With the event-driven worker pool.
                #[test]
                fn pool() {
                    run(shout_server::Model::Pool)
                }

                /// With a thread per connection.
                #[test]
                fn threads() {
                    run(shout_server::Model::Threads)
                }
            }
        )*
    };
}

/// Starts a server with the default configuration and the given model.
pub fn server_with(model: shout_server::Model) -> TestServer {
    TestServer::start(Config {
        model,
        ..Config::default()
    })
}

/// The `--model` arguments for the real shoutd.
pub fn model_args(model: shout_server::Model) -> [&'static str; 2] {
    ["--model", model.as_str()]
}
