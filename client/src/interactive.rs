//! The interactive prompt: line editing and history (rustyline); each line goes to the server
//! with a newline and its answer is printed. A connection the server closed while the user was
//! idle is reopened for the next line, with one notice.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::connect::{connect, ConnectOptions};

/// The prompt shown before each line.
pub const PROMPT: &str = ">>> ";

/// The command that leaves the prompt (as does Ctrl-D).
pub const QUIT: &str = "/quit";

/// Where the prompt's history is kept between sessions: `$SHOUT_HISTORY`, else
/// `$HOME/.shout_history`; `None` if neither is set.
pub fn history_path() -> Option<PathBuf> {
    std::env::var_os("SHOUT_HISTORY")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".shout_history")))
}

/// Runs the prompt against `addr` until Ctrl-D or `/quit`.
pub fn run(addr: &str, opts: &ConnectOptions, reply_timeout: Duration) -> anyhow::Result<()> {
    let mut session = Session {
        addr,
        opts,
        reply_timeout,
        stream: Some(connect(addr, opts)?),
    };
    let mut editor = DefaultEditor::new().context("cannot start the line editor")?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing or unreadable history file only means no history.
        let _ = editor.load_history(path);
    }
    println!("connected to {addr}; type a line, Ctrl-D or {QUIT} to leave");
    let result = loop {
        match editor.readline(PROMPT) {
            Ok(line) if line.trim() == QUIT => break Ok(()),
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                match session.exchange(&line) {
                    Ok(answer) => println!("{}", String::from_utf8_lossy(&answer)),
                    // The connection is dropped; the next line reconnects.
                    Err(e) => eprintln!("shout: {e:#}"),
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

/// The connection behind the prompt, reopened when the server has closed it.
struct Session<'a> {
    addr: &'a str,
    opts: &'a ConnectOptions,
    reply_timeout: Duration,
    stream: Option<TcpStream>,
}

impl Session<'_> {
    /// Sends `line` with a newline and returns the answer without its newline.
    ///
    /// If a connection that sat idle turns out to be closed by the server (before any answer
    /// came), the line is sent again once on a new connection, with one notice: the protocol
    /// keeps no state, so nothing is lost or doubled.
    fn exchange(&mut self, line: &str) -> anyhow::Result<Vec<u8>> {
        let mut message = Vec::with_capacity(line.len() + 1);
        message.extend_from_slice(line.as_bytes());
        message.push(b'\n');
        let mut fresh = self.ensure_connected()?;
        loop {
            let stream = self.stream.as_ref().expect("ensure_connected opened it");
            match send_and_receive(stream, &message, self.reply_timeout) {
                Ok(answer) => return Ok(answer),
                Err(Failure::Closed) if !fresh => {
                    self.reconnect()?;
                    fresh = true;
                }
                Err(failure) => {
                    self.stream = None;
                    return Err(failure.into());
                }
            }
        }
    }

    /// Makes sure a connection is open, reopening it if the server closed it while the user was
    /// idle; returns whether it is a new one.
    fn ensure_connected(&mut self) -> anyhow::Result<bool> {
        match &self.stream {
            Some(stream) if !closed_by_peer(stream) => Ok(false),
            Some(_) => self.reconnect().map(|()| true),
            None => {
                self.stream = Some(connect(self.addr, self.opts)?);
                Ok(true)
            }
        }
    }

    fn reconnect(&mut self) -> anyhow::Result<()> {
        self.stream = None;
        eprintln!(
            "shout: the server closed the connection; reconnecting to {}",
            self.addr
        );
        self.stream = Some(connect(self.addr, self.opts)?);
        Ok(())
    }
}

/// Whether the peer has ended the connection. Anything it sent unasked (such as the busy line)
/// is shown on stderr.
fn closed_by_peer(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut buf = [0u8; 512];
    let closed = loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => eprint!("{}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break true,
        }
    };
    closed || stream.set_nonblocking(false).is_err()
}

/// Why an exchange failed.
#[derive(Debug)]
enum Failure {
    /// The server ended the connection before any of the answer arrived.
    Closed,
    /// Anything else, with the message for the user.
    Other(anyhow::Error),
}

impl From<Failure> for anyhow::Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Closed => anyhow::anyhow!("the server closed the connection"),
            Failure::Other(e) => e,
        }
    }
}

/// Writes `message` and reads until the answer's newline.
fn send_and_receive(
    mut stream: &TcpStream,
    message: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, Failure> {
    let other = |e: anyhow::Error| Failure::Other(e);
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| other(e.into()))?;
    if let Err(e) = stream.write_all(message) {
        return Err(match e.kind() {
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Failure::Closed,
            _ => other(anyhow::Error::new(e).context("cannot send")),
        });
    }
    let mut answer = Vec::with_capacity(message.len());
    let mut buf = [0u8; 4096];
    while answer.last() != Some(&b'\n') {
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(other(anyhow::anyhow!(
                    "no answer within {}{}",
                    shout_common::cli::format_duration(timeout),
                    partial_note(&answer)
                )));
            }
            // End of stream, or the connection broke.
            result => {
                let _ = stream.shutdown(Shutdown::Both);
                return Err(match result {
                    Ok(_) if answer.is_empty() => Failure::Closed,
                    Err(e) if answer.is_empty() && e.kind() == io::ErrorKind::ConnectionReset => {
                        Failure::Closed
                    }
                    Ok(_) => other(anyhow::anyhow!(
                        "the server closed the connection{}",
                        partial_note(&answer)
                    )),
                    Err(e) => other(
                        anyhow::Error::new(e)
                            .context("connection lost while waiting for the answer"),
                    ),
                });
            }
        }
    }
    answer.pop();
    Ok(answer)
}

fn partial_note(answer: &[u8]) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(
            " after a partial answer: {}",
            String::from_utf8_lossy(answer)
        )
    }
}
