//! The interactive prompt of the real `shout` binary, driven through a pseudo-terminal against
//! an in-process server: answers, line editing and history, reconnecting after an idle close,
//! typed-ahead lines and pastes of a thousand lines (plain and bracketed), and a failed
//! connect. Every wait is bounded by [`TIMEOUT`] and wakes on new output; the child is killed
//! on drop.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use shout_server::{CloseReason, Config};
use shout_tests::pty::{Terminal, ALT_SCREEN_ON};
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
    // Whether the server's end of stream has reached shout yet or not, the next line finds
    // the connection closed (before sending, or by an end of stream or reset instead of an
    // answer) and goes out again on a new one.
    term.send(&format!("second{ENTER}"));
    term.expect("reconnecting");
    term.expect("SECOND");
    server.wait_for("the second connection", |s| s.accepted == 2);
}

/// When nothing listens, the prompt is not started: one clear line, and exit status 2.
#[test]
fn refused_connect_exits_2() {
    let mut term = Terminal::spawn("refused", &[&free_port_addr().to_string()]);
    term.expect("connection refused (is shoutd running?)");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(2), "{status}");
    let screen = term.whole_screen();
    assert!(!screen.contains(PROMPT), "a prompt was shown: {screen:?}");
}

/// `shout bench --no-tui` on a terminal shows a live progress line (elapsed, msgs/s, p99,
/// errors), no dashboard, and still ends with its report.
#[test]
fn bench_shows_progress_on_a_terminal() {
    let server = TestServer::default_config();
    let addr = server.addr.to_string();
    let mut term = Terminal::spawn(
        "bench-progress",
        &["bench", "--no-tui", "-c", "4", "-d", "3s", &addr],
    );
    term.expect("msgs/s  p99");
    term.expect("errors 0");
    term.expect("OK: every message got its exact answer");
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
    let screen = term.whole_screen();
    assert!(
        !screen.contains(ALT_SCREEN_ON),
        "a dashboard was drawn: {screen:?}"
    );
}

/// Lines typed faster than they are answered (all in one read of the terminal) are each sent
/// and answered, in order: none is dropped.
#[test]
fn typed_ahead_lines_are_all_answered() {
    let server = TestServer::default_config();
    let term = Terminal::spawn("typeahead", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!(
        "first line{ENTER}second line{ENTER}third line{ENTER}"
    ));
    term.expect("FIRST LINE");
    term.expect("SECOND LINE");
    term.expect("THIRD LINE");
    term.expect(PROMPT);
}

/// Lines typed while the answer to an earlier one is still on its way are kept and answered
/// after it, in order.
#[test]
fn lines_typed_while_waiting_are_answered() {
    let (server, arrived, release) = LineServer::gated();
    let term = Terminal::spawn("while-waiting", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("slow one{ENTER}"));
    arrived
        .recv_timeout(TIMEOUT)
        .expect("the first line arrives");
    // Written into the terminal before the first answer is released.
    term.send(&format!("then two{ENTER}then three{ENTER}"));
    release.send(()).expect("the server waits");
    term.expect("SLOW ONE");
    term.expect("THEN TWO");
    term.expect("THEN THREE");
    term.expect(PROMPT);
    assert_eq!(server.finish(term), 3, "lines received by the server");
}

/// The lines of a paste: 1,024 distinct lines, about 46 KiB, far more than one read.
fn paste_lines() -> Vec<String> {
    (0..1024)
        .map(|i| format!("paste line {i:04} of 1024: the quick brown fox"))
        .collect()
}

/// Waits for the answer of every line of `lines` in order, then for `AFTER`, and checks each
/// answer was shown exactly once.
fn expect_every_answer(term: &Terminal, lines: &[String]) {
    let answers: Vec<String> = lines.iter().map(|l| l.to_uppercase()).collect();
    for answer in &answers {
        term.expect(answer);
    }
    term.expect("AFTER");
    term.expect(PROMPT);
    let screen = term.whole_screen();
    for answer in &answers {
        assert_eq!(
            screen.matches(answer.as_str()).count(),
            1,
            "{answer:?} shown more than once"
        );
    }
}

/// A plain paste of 1,024 lines (as a terminal without bracketed paste sends it: keystrokes
/// with Enter between lines) gets every answer, in order, and the prompt afterwards is in
/// step: the next line gets its own answer.
#[test]
fn plain_paste_of_1024_lines() {
    let server = TestServer::default_config();
    let term = Terminal::spawn("plain-paste", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    let lines = paste_lines();
    let mut keys: String = lines.iter().map(|l| format!("{l}{ENTER}")).collect();
    keys.push_str(&format!("after{ENTER}"));
    let typist = term.send_in_background(keys);
    expect_every_answer(&term, &lines);
    join_within(typist, TIMEOUT);
    assert!(!term.since_last_match().contains("shout:"), "an error");
}

/// A bracketed paste of 1,024 lines (`ESC [200~ … ESC [201~`, as xterm-like terminals send
/// it) is inserted into the line for review; Enter sends every line of it, each answer is
/// shown, and the next line gets its own answer.
#[test]
fn bracketed_paste_of_1024_lines() {
    let server = TestServer::default_config();
    let term = Terminal::spawn("bracketed-paste", &[&server.addr.to_string()]);
    term.expect(PROMPT);
    let lines = paste_lines();
    let mut keys = String::from("\x1b[200~");
    for line in &lines {
        keys.push_str(line);
        keys.push_str(ENTER);
    }
    keys.push_str("\x1b[201~");
    keys.push_str(ENTER);
    keys.push_str(&format!("after{ENTER}"));
    let typist = term.send_in_background(keys);
    expect_every_answer(&term, &lines);
    join_within(typist, TIMEOUT);
    assert!(!term.since_last_match().contains("shout:"), "an error");
}

/// A line-by-line uppercasing server for one connection, with a hook that runs before each
/// answer (to hold it back); counts the lines it received.
struct LineServer {
    addr: std::net::SocketAddr,
    thread: thread::JoinHandle<usize>,
}

impl LineServer {
    /// Starts it; `before_answer(i)` runs before the answer to line `i` (from 0) is written.
    fn start(mut before_answer: impl FnMut(usize) + Send + 'static) -> LineServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let thread = thread::spawn(move || {
            listener.set_nonblocking(true).expect("non-blocking");
            let stream = wait_until("shout to connect", || match listener.accept() {
                Ok((stream, _)) => Some(stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                Err(e) => panic!("accept: {e}"),
            });
            stream.set_nonblocking(false).expect("blocking");
            stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
            let mut writer = stream.try_clone().expect("clone");
            let mut lines = 0;
            for line in BufReader::new(stream).split(b'\n') {
                let Ok(line) = line else { break };
                before_answer(lines);
                lines += 1;
                let mut answer = line.to_ascii_uppercase();
                answer.push(b'\n');
                if writer.write_all(&answer).is_err() {
                    break;
                }
            }
            lines
        });
        LineServer { addr, thread }
    }

    /// A server that tells `arrived` when the first line has come and holds its answer back
    /// until `release` is signalled (or dropped).
    fn gated() -> (LineServer, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let server = LineServer::start(move |i| {
            if i == 0 {
                let _ = arrived_tx.send(());
                // A dropped sender releases it too.
                let _ = release_rx.recv_timeout(TIMEOUT);
            }
        });
        (server, arrived, release)
    }

    /// Ends `term` (so the connection closes) and returns the lines the server received.
    fn finish(self, term: Terminal) -> usize {
        drop(term);
        join_within(self.thread, TIMEOUT * 2)
    }
}

/// With no answer within `--reply-timeout`, the prompt says so and comes back; the connection
/// is given up.
#[test]
fn reply_timeout_returns_the_prompt() {
    let (server, arrived, release) = LineServer::gated();
    let mut term = Terminal::spawn(
        "reply-timeout",
        &["--reply-timeout", "1s", &server.addr.to_string()],
    );
    term.expect(PROMPT);
    term.send(&format!("lost{ENTER}"));
    arrived.recv_timeout(TIMEOUT).expect("the line arrives");
    term.expect("shout: no answer within 1s");
    term.expect(PROMPT);
    term.send(&format!("/quit{ENTER}"));
    let status = term.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}");
    drop(release);
    assert_eq!(server.finish(term), 1);
}

/// `--reply-timeout` bounds a wait without progress, not a whole paste: six lines answered
/// half a second apart (three seconds in all) pass a two-second timeout.
#[test]
fn reply_timeout_is_per_progress() {
    let server = LineServer::start(|_| thread::sleep(Duration::from_millis(500)));
    let term = Terminal::spawn(
        "slow-paste",
        &["--reply-timeout", "2s", &server.addr.to_string()],
    );
    term.expect(PROMPT);
    let lines: Vec<String> = (1..=6).map(|i| format!("slow line {i}")).collect();
    term.send(&format!("\x1b[200~{}\x1b[201~{ENTER}", lines.join(ENTER)));
    for line in &lines {
        term.expect(&line.to_uppercase());
    }
    term.expect(PROMPT);
    assert!(!term.whole_screen().contains("no answer"), "timed out");
    assert_eq!(server.finish(term), 6);
}

/// Over TLS (`--tls-ca`), a typed line is answered the same way; after the server's idle close
/// (close_notify, then the end of TCP) the next line reconnects with a new handshake.
#[test]
fn line_is_answered_over_tls_and_reconnects() {
    let certs = shout_tests::tls::Certs::new();
    let server = TestServer::start(Config {
        tls: Some(certs.server_config(false)),
        idle_timeout: Some(Duration::from_millis(300)),
        ..Config::default()
    });
    let ca = certs.ca_file.to_str().expect("a UTF-8 path");
    let term = Terminal::spawn("tls", &["--tls-ca", ca, &server.addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("hello tls straße{ENTER}"));
    term.expect("HELLO TLS STRASSE");
    term.expect(PROMPT);
    server.wait_for("the idle close", |s| s.closed(CloseReason::Idle) == 1);
    term.send(&format!("again{ENTER}"));
    term.expect("reconnecting");
    term.expect("AGAIN");
    server.wait_for("the second connection", |s| s.accepted == 2);
}
