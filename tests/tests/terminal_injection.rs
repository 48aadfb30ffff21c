//! A hostile server at the prompt, and hostile labels in report files: escape sequences (window
//! title, clear screen, OSC 52 clipboard writes), bare carriage returns, C1 controls and bytes
//! that are not UTF-8 reach the terminal as visible text, never as commands. Pipe mode stays
//! byte-exact. The prompt runs on a pseudo-terminal; every wait is bounded.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use shout_tests::bench::run_bench;
use shout_tests::pty::find;
use shout_tests::*;

/// Enter, as a terminal sends it in raw mode.
const ENTER: &str = "\r";
/// The prompt `shout` shows before each line.
const PROMPT: &str = ">>> ";

/// What the hostile server answers: a new window title, a cleared screen, a clipboard write,
/// a carriage return that would overwrite "ok" with "EVIL", a C1 CSI (as a character and as a
/// raw byte), and a byte that is not UTF-8.
const HOSTILE: &[u8] = b"\x1b]0;OWNED\x07\x1b[2J\x1b]52;c;aGk=\x07ok\rEVIL \xc2\x9b2J \x9b3J \xff";

/// How `HOSTILE` must be shown.
const SHOWN: &str = "^[]0;OWNED^G^[[2J^[]52;c;aGk=^Gok^MEVIL <U+009B>2J <9B>3J <FF>";

/// The raw sequences that must never reach the terminal.
const RAW: [&[u8]; 5] = [b"\x1b]0;", b"\x1b[2J", b"\x1b]52", b"\rEVIL", b"\xc2\x9b"];

/// A server for one connection that answers each line with `answer(line)` (which must end its
/// answer with a newline to count as one) and closes after `lines` lines.
fn hostile_server(lines: usize, answer: fn(&[u8]) -> Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local address");
    thread::spawn(move || {
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
        for line in BufReader::new(stream).split(b'\n').take(lines) {
            let Ok(line) = line else { break };
            if writer.write_all(&answer(&line)).is_err() {
                break;
            }
        }
        // Dropped: the connection closes.
    });
    addr
}

/// Asserts that no raw hostile sequence reached the terminal.
fn assert_no_raw(term: &Terminal) {
    let screen = term.whole_screen_bytes();
    for raw in RAW {
        assert!(
            find(&screen, raw).is_none(),
            "{:?} reached the terminal raw: {:?}",
            String::from_utf8_lossy(raw),
            String::from_utf8_lossy(&screen)
        );
    }
}

/// An answer full of escape sequences is shown as text at the prompt.
#[test]
fn hostile_answer_is_shown_not_obeyed() {
    let addr = hostile_server(2, |_| [HOSTILE, b"\n"].concat());
    let term = Terminal::spawn("hostile-answer", &[&addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("hello{ENTER}"));
    term.expect(SHOWN);
    term.expect(PROMPT);
    assert_no_raw(&term);
}

/// Bytes sent unasked after an answer (shown on stderr) and a partial answer quoted in the
/// error when the server closes are made visible too.
#[test]
fn unasked_bytes_and_quoted_partial_answers_are_shown() {
    let addr = hostile_server(1, |_| [b"FINE\n", HOSTILE, b"\n"].concat());
    let term = Terminal::spawn("hostile-unasked", &[&addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("hello{ENTER}"));
    term.expect("FINE");
    term.expect(SHOWN);
    assert_no_raw(&term);

    let addr = hostile_server(1, |_| HOSTILE.to_vec());
    let term = Terminal::spawn("hostile-partial", &[&addr.to_string()]);
    term.expect(PROMPT);
    term.send(&format!("hello{ENTER}"));
    term.expect(&format!("after a partial answer: {SHOWN}"));
    assert_no_raw(&term);
}

/// Pipe mode passes the same answer through byte for byte.
#[test]
fn pipe_mode_stays_byte_exact() {
    let answer = [HOSTILE, b"\n"].concat();
    let addr = hostile_server(1, |_| [HOSTILE, b"\n"].concat());
    let (code, stdout, stderr) = run_bin("shout", &[&addr.to_string()], b"hello\n".to_vec());
    assert_eq!(stdout, answer, "stderr: {stderr}");
    // The server closes without waiting for the half-close: either ending is fine here.
    assert!(matches!(code, Some(0 | 1)), "{code:?} {stderr}");
}

/// `shout report`'s table shows a run's label (read from the file) with its control characters
/// made visible.
#[test]
fn report_table_shows_hostile_labels() {
    let server = TestServer::default_config();
    let dir = std::env::temp_dir().join(format!("shout-hostile-label-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let json = dir.join("run.json");
    let json_opt = format!("--json={}", json.display());
    let label = "\x1b]0;OWNED\x07\x1b]52;c;aGk=\x07";
    run_bench(
        &[server.addr],
        &["-c", "1", "-n", "100", "--label", label, &json_opt],
    );
    let path = json.to_str().expect("a UTF-8 path");
    let (code, stdout, stderr) = run_bin("shout", &["report", path, path], Vec::new());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    let text = String::from_utf8_lossy(&stdout);
    assert!(text.contains("^[]0;OWNED^G^[]52;c;aGk=^G"), "{text}");
    assert!(
        !stdout.contains(&0x1b),
        "an escape reached stdout: {text:?}"
    );
}
