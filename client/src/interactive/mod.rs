//! The interactive prompt: line editing and history (rustyline); every line goes to the server
//! with a newline and its answer is printed. Keys typed or pasted ahead of an answer are kept
//! for the next lines, and a bracketed paste of many lines is sent whole, each answer printed.
//! A connection the server closed while the user was idle is reopened, with one notice.
//! Whatever the server sends is shown with its control characters made visible
//! ([`crate::terminal`]).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::event::{PollFd, PollFlags};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::connect::ConnectOptions;
use crate::stream::{lost, Stream, TlsRefused};
use crate::sys::{interrupted, timespec, would_block};
use crate::terminal::visible;
use crate::tls::TlsClient;
use answers::Answers;

mod answers;

/// The prompt shown before each line.
pub const PROMPT: &str = ">>> ";

/// The command that leaves the prompt (as does Ctrl-D).
pub const QUIT: &str = "/quit";

/// How long to wait for an answer without any progress, unless told otherwise
/// (`--reply-timeout`).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The read buffer of an exchange: a typed line's answer fits many times over, and a long
/// paste's answers are read in a few calls.
const READ_BUF: usize = 16 * 1024;

/// The read buffer for what an idle connection received unasked: a notice such as the busy
/// line, which is short.
const NOTICE_BUF: usize = 512;

/// Where the prompt's history is kept between sessions: `$SHOUT_HISTORY`, else
/// `$HOME/.shout_history`; `None` if neither is set.
pub fn history_path() -> Option<PathBuf> {
    std::env::var_os("SHOUT_HISTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".shout_history")))
}

/// Runs the prompt against `addr` until Ctrl-D or `/quit`.
///
/// Keys that arrive ahead of a line's end (typed quickly, typed while an answer is awaited, or
/// pasted by a terminal without bracketed paste) stay in the line editor's buffer or the
/// terminal's for the next lines: rustyline's `buffer-redux` feature hands its read-ahead from
/// one `readline` to the next, where without it they were dropped with the reader. A bracketed
/// paste is inserted into the line whole, for review; Enter sends every line of it.
pub fn run(
    addr: &str,
    opts: &ConnectOptions,
    tls: Option<&TlsClient>,
    reply_timeout: Duration,
) -> anyhow::Result<()> {
    let mut session = Session {
        addr,
        opts,
        tls,
        reply_timeout,
        stream: None,
    };
    session.open()?;
    let mut editor = DefaultEditor::new().context("cannot start the line editor")?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable history file only means no history.
        let _ = editor.load_history(path);
    }
    println!("connected to {addr}; type a line, Ctrl-D or {QUIT} to leave");
    let result = loop {
        match editor.readline(PROMPT) {
            Ok(input) if input.trim() == QUIT => break Ok(()),
            Ok(input) => {
                let _ = editor.add_history_entry(input.as_str());
                let mut out = io::stdout().lock();
                match session.exchange(&message_for(&input), &mut out) {
                    Ok(()) => {}
                    Err(Failure::Output(e)) => {
                        break Err(e).context("cannot write to the terminal");
                    }
                    // Refused by the server's TLS: every new connection would be refused too.
                    Err(Failure::Other(e)) if e.is::<TlsRefused>() => break Err(e),
                    // The connection is dropped; the next line reconnects.
                    Err(failure) => eprintln!("shout: {:#}", anyhow::Error::from(failure)),
                }
            }
            // Ctrl-C abandons the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break Ok(()),
            Err(e) => break Err(e).context("cannot read from the terminal"),
        }
    };
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    result
}

/// The bytes to send for what the line editor returned: every line of it, each with its
/// newline. A bracketed paste that ended in a newline has already ended its last line, so the
/// Enter that sends it adds no empty line.
pub fn message_for(input: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(input.len() + 1);
    message.extend_from_slice(input.as_bytes());
    if !input.ends_with('\n') {
        message.push(b'\n');
    }
    message
}

/// The connection behind the prompt, reopened when the server has closed it.
struct Session<'a> {
    addr: &'a str,
    opts: &'a ConnectOptions,
    reply_timeout: Duration,
    /// TLS for each connection, if asked for.
    tls: Option<&'a TlsClient>,
    /// Non-blocking: an exchange writes and reads at once, waiting in `poll`.
    stream: Option<Stream>,
}

impl Session<'_> {
    /// Sends `message` (lines, each ending in a newline) and writes each answer line to `out`
    /// as it completes.
    ///
    /// If a connection that sat idle turns out to be closed by the server (before any answer
    /// came), the message is sent again once on a new connection, with one notice: the
    /// protocol keeps no state, so nothing is lost or doubled.
    fn exchange(&mut self, message: &[u8], out: &mut dyn Write) -> Result<(), Failure> {
        let mut fresh = self.ensure_connected()?;
        loop {
            let stream = self.stream.as_mut().expect("ensure_connected opened it");
            match send_and_receive(stream, message, self.reply_timeout, out) {
                Ok(()) => return Ok(()),
                Err(Failure::Closed) if !fresh => {
                    self.reconnect()?;
                    fresh = true;
                }
                Err(failure) => {
                    if let Some(stream) = self.stream.take() {
                        stream.shutdown();
                    }
                    return Err(failure);
                }
            }
        }
    }

    /// Makes sure a connection is open, reopening it if the server closed it while the user was
    /// idle; returns whether it is a new one.
    fn ensure_connected(&mut self) -> Result<bool, Failure> {
        match self.stream.as_mut().map(closed_by_peer) {
            Some(Ok(false)) => Ok(false),
            Some(Ok(true)) => self.reconnect().map(|()| true),
            Some(Err(refused)) => {
                self.stream = None;
                Err(Failure::Other(refused.into()))
            }
            None => self.open().map(|()| true).map_err(Failure::Other),
        }
    }

    fn reconnect(&mut self) -> Result<(), Failure> {
        self.stream = None;
        eprintln!(
            "shout: the server closed the connection; reconnecting to {}",
            self.addr
        );
        self.open().map_err(Failure::Other)
    }

    fn open(&mut self) -> anyhow::Result<()> {
        let stream = Stream::open(self.addr, self.opts, self.tls)?;
        stream
            .set_nonblocking(true)
            .context("cannot set up the connection")?;
        self.stream = Some(stream);
        Ok(())
    }
}

/// Whether the peer has ended the connection. Anything it sent unasked (such as the busy line)
/// is shown on stderr. An error if its TLS refused us meanwhile (after the handshake).
fn closed_by_peer(stream: &mut Stream) -> Result<bool, TlsRefused> {
    let mut buf = [0u8; NOTICE_BUF];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => eprint!("{}", visible(&buf[..n])),
            Err(e) if not_ready(&e) => return Ok(false),
            Err(e) if interrupted(&e) => continue,
            Err(e) => return TlsRefused::in_io(&e).map_or(Ok(true), Err),
        }
    }
}

/// Why an exchange failed.
#[derive(Debug)]
enum Failure {
    /// The server ended the connection before any of the answer arrived.
    Closed,
    /// The answers could not be written to the terminal.
    Output(io::Error),
    /// Anything else, with the message for the user.
    Other(anyhow::Error),
}

impl From<Failure> for anyhow::Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Closed => anyhow::anyhow!("the server closed the connection"),
            Failure::Output(e) => anyhow::Error::new(e).context("cannot write to the terminal"),
            Failure::Other(e) => e,
        }
    }
}

/// Nothing to read or no room to write yet (a socket timeout says the same as a non-blocking
/// socket's `WouldBlock`).
fn not_ready(e: &io::Error) -> bool {
    would_block(e) || e.kind() == io::ErrorKind::TimedOut
}

/// Whether `e` means the peer ended the connection (rather than a local problem).
fn peer_ended(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            // TLS: the connection ended without a close_notify.
            | io::ErrorKind::UnexpectedEof
    )
}

/// Writes `message` and reads its answers at the same time (a long paste neither waits for
/// the whole of it to be sent nor fills both socket buffers), until every line is answered.
/// `timeout` bounds a wait with no progress either way, not the whole exchange.
fn send_and_receive(
    stream: &mut Stream,
    message: &[u8],
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut answers = Answers::new(shout_common::count_newlines(message));
    let mut sent = 0;
    let mut buf = [0u8; READ_BUF];
    let mut deadline = Instant::now() + timeout;
    while !answers.complete() {
        let mut progress = false;
        if sent < message.len() {
            match stream.write(&message[sent..]) {
                Ok(n) => {
                    sent += n;
                    progress = true;
                }
                Err(e) if not_ready(&e) || interrupted(&e) => {}
                Err(e) if peer_ended(&e) && !answers.started() => return Err(Failure::Closed),
                Err(e) => {
                    return Err(Failure::Other(lost(
                        e,
                        format!("cannot send{}", answers.so_far()),
                    )))
                }
            }
        }
        match stream.read(&mut buf) {
            Ok(0) if !answers.started() => return Err(Failure::Closed),
            Ok(0) => {
                return Err(Failure::Other(anyhow::anyhow!(
                    "the server closed the connection{}",
                    answers.so_far()
                )))
            }
            Ok(n) => {
                progress = true;
                let unasked = answers.feed(&buf[..n], out).map_err(Failure::Output)?;
                if !unasked.is_empty() {
                    eprint!("{}", visible(unasked));
                }
                out.flush().map_err(Failure::Output)?;
            }
            Err(e) if not_ready(&e) || interrupted(&e) => {}
            Err(e) if peer_ended(&e) && !answers.started() => return Err(Failure::Closed),
            Err(e) => {
                return Err(Failure::Other(lost(
                    e,
                    format!(
                        "connection lost while waiting for the answer{}",
                        answers.so_far()
                    ),
                )))
            }
        }
        let now = Instant::now();
        if progress {
            deadline = now + timeout;
            continue;
        }
        if now >= deadline {
            return Err(Failure::Other(anyhow::anyhow!(
                "no answer within {}{}",
                shout_common::cli::format_duration(timeout),
                answers.so_far()
            )));
        }
        wait_ready(
            stream,
            sent < message.len() || stream.wants_write(),
            deadline - now,
        )
        .map_err(|e| Failure::Other(anyhow::Error::new(e).context("cannot wait for the server")))?;
    }
    Ok(())
}

/// Waits up to `limit` until `stream` can be read (or written, if `write`).
fn wait_ready(stream: &Stream, write: bool, limit: Duration) -> io::Result<()> {
    let mut flags = PollFlags::IN;
    if write {
        flags |= PollFlags::OUT;
    }
    let mut fds = [PollFd::new(stream, flags)];
    match rustix::event::poll(&mut fds, Some(&timespec(limit))) {
        Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enter sends the line with a newline; a paste ending in a newline gets no second one.
    #[test]
    fn message_for_lines() {
        assert_eq!(message_for("abc"), b"abc\n");
        assert_eq!(message_for(""), b"\n");
        assert_eq!(message_for("a\nb"), b"a\nb\n");
        assert_eq!(message_for("a\nb\n"), b"a\nb\n");
        assert_eq!(message_for("\n"), b"\n");
    }
}
