//! The interactive prompt of the real `shout` binary, driven through a pseudo-terminal against
//! an in-process server: answers, line editing and history, reconnecting after an idle close,
//! and a failed connect. Every wait is bounded by [`TIMEOUT`]; the child is killed on drop.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};
use shout_server::{CloseReason, Config};
use shout_tests::*;

/// Enter, as a terminal sends it in raw mode.
const ENTER: &str = "\r";
/// The Left arrow key.
const LEFT: &str = "\x1b[D";
/// The Up arrow key.
const UP: &str = "\x1b[A";
/// Ctrl-D.
const CTRL_D: &str = "\x04";
/// The prompt `shout` shows before each line.
const PROMPT: &str = ">>> ";

/// `shout` running on the slave side of a pseudo-terminal; killed on drop.
struct Terminal {
    child: Child,
    /// The master side, to type into.
    master: File,
    /// Everything the child wrote to the terminal so far (filled by a background thread).
    screen: Arc<Mutex<Vec<u8>>>,
    /// Where the output after the last match starts.
    seen: Cell<usize>,
    /// A fresh directory for this test (holds the history file); removed on drop.
    dir: PathBuf,
}

impl Terminal {
    /// Starts `shout args…` in a new 80x24 pseudo-terminal, with its history in a fresh
    /// directory named after `test`.
    fn spawn(test: &str, args: &[&str]) -> Terminal {
        let dir = std::env::temp_dir().join(format!("shout-prompt-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");

        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("open a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let slave_path = PathBuf::from(OsString::from_vec(
            ptsname(&master, Vec::new()).expect("ptsname").into_bytes(),
        ));
        let size = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&master, size).expect("set the window size");
        let master = File::from(master);

        let child = {
            // NOCTTY: never make the slave the controlling terminal of the test process.
            let slave = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(OFlags::NOCTTY.bits() as i32)
                .open(&slave_path)
                .expect("open the pseudo-terminal's slave side");
            let clone = || Stdio::from(slave.try_clone().expect("clone the slave"));
            let mut command = Command::new(bin("shout"));
            command
                .args(args)
                .env("TERM", "xterm")
                .env("SHOUT_HISTORY", dir.join("history"))
                .env_remove("SHOUT_ADDR")
                .env_remove("SHOUT_CONNECT_TIMEOUT")
                .env_remove("SHOUT_RETRIES")
                .env_remove("SHOUT_REPLY_TIMEOUT")
                .stdin(clone())
                .stdout(clone())
                .stderr(Stdio::from(slave));
            command.spawn().expect("start shout")
            // `command` and its copies of the slave are dropped here: once the child exits,
            // reading the master ends.
        };

        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("clone the master");
        let sink = Arc::clone(&screen);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink
                        .lock()
                        .expect("screen lock")
                        .extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // EIO: every slave descriptor is closed, the child is gone.
                    Err(_) => break,
                }
            }
        });

        Terminal {
            child,
            master,
            screen,
            seen: Cell::new(0),
            dir,
        }
    }

    /// Types `keys` into the terminal.
    fn send(&self, keys: &str) {
        (&self.master)
            .write_all(keys.as_bytes())
            .expect("type into the terminal");
    }

    /// Waits until the output since the last match contains `needle`; panics with the screen
    /// contents after [`TIMEOUT`].
    fn expect(&self, needle: &str) {
        let from = self.seen.get();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            {
                let screen = self.screen.lock().expect("screen lock");
                if let Some(at) = screen[from..]
                    .windows(needle.len())
                    .position(|w| w == needle.as_bytes())
                {
                    self.seen.set(from + at + needle.len());
                    return;
                }
                if Instant::now() >= deadline {
                    panic!(
                        "the terminal never showed {needle:?}\n\
                         since the last match: {:?}\n\
                         whole screen: {:?}",
                        String::from_utf8_lossy(&screen[from..]),
                        String::from_utf8_lossy(&screen),
                    );
                }
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the child to exit (within [`TIMEOUT`]) and returns its status.
    fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }

    /// The history file `shout` was told to use.
    fn history(&self) -> PathBuf {
        self.dir.join("history")
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A typed line gets its uppercase answer printed, and `/quit` leaves with status 0.
#[test]
fn line_is_answered_and_quit_exits() {
    let server = TestServer::default_config();
    let mut term = Terminal::spawn("answer", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("hello straße{ENTER}"));
    term.expect("HELLO STRASSE");
    term.expect(PROMPT);
    term.send(&format!("/quit{ENTER}"));
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
}

/// The line can be edited with the arrow keys, Up recalls the last line, Ctrl-D on an empty
/// line leaves with status 0, and the history is saved to `$SHOUT_HISTORY`.
#[test]
fn editing_history_and_ctrl_d() {
    let server = TestServer::default_config();
    let mut term = Terminal::spawn("history", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("abd{LEFT}c{ENTER}"));
    term.expect("ABCD");
    term.expect(PROMPT);
    term.send(&format!("{UP}{ENTER}"));
    term.expect("ABCD");
    term.expect(PROMPT);
    term.send(CTRL_D);
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
    let history = std::fs::read_to_string(term.history()).expect("the history file was written");
    assert!(
        history.lines().any(|line| line == "abcd"),
        "history: {history:?}"
    );
}

/// After the server closes the idle connection, the next line reconnects with a notice and is
/// answered.
#[test]
fn reconnects_after_idle_close() {
    let server = TestServer::start(Config {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    });
    let term = Terminal::spawn("reconnect", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("first{ENTER}"));
    term.expect("FIRST");
    term.expect(PROMPT);
    server.wait_for("the idle close", |s| s.closed(CloseReason::Idle) == 1);
    // The counter is updated just before the socket is closed: let the FIN arrive.
    thread::sleep(Duration::from_millis(200));
    term.send(&format!("second{ENTER}"));
    term.expect("reconnecting");
    term.expect("SECOND");
    server.wait_for("the second connection", |s| s.accepted == 2);
}

/// When nothing listens, the prompt is not started: one clear line, and exit status 2.
#[test]
fn refused_connect_exits_2() {
    // Bind then drop, to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("local address")
        .port();
    let mut term = Terminal::spawn("refused", &[&format!("127.0.0.1:{port}")]);
    term.expect("connection refused (is shoutd running?)");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(2), "{status}");
    let screen = String::from_utf8_lossy(&term.screen.lock().expect("screen lock")).into_owned();
    assert!(!screen.contains(PROMPT), "a prompt was shown: {screen:?}");
}

/// `shout bench` on a terminal shows a live progress line (elapsed, msgs/s, p99, errors) and
/// still ends with its report.
#[test]
fn bench_shows_progress_on_a_terminal() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn("bench-progress", &["bench", "-c", "4", "-d", "3s", &addr]);
    term.expect("msgs/s  p99");
    term.expect("errors 0");
    term.expect("OK: every message got its exact answer");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
}
