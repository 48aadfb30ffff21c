//! Pipe mode: stdin streams to the server while answers stream to stdout, at the same time, so
//! any amount of data goes through without deadlock. At the end of input the client half-closes
//! and finishes once the server has answered everything.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context};

use crate::sys::interrupted;

/// The read buffer size of each direction.
const BUF: usize = 64 * 1024;

/// After the server ends the stream, how long the sending side gets to finish its last bytes.
const SEND_GRACE: Duration = Duration::from_secs(1);

/// How a pipe session ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEnd {
    /// All input was sent and every answer written.
    Complete,
    /// Whoever reads our output went away (a broken pipe): stop quietly.
    OutputClosed,
}

/// Streams `input` through the server on `stream` into `output`.
pub fn run<R, W>(stream: TcpStream, input: R, mut output: W) -> anyhow::Result<PipeEnd>
where
    R: Read + Send + 'static,
    W: Write,
{
    let sender = stream.try_clone().context("cannot clone the socket")?;
    let (done_tx, done_rx) = mpsc::channel();
    thread::Builder::new()
        .name("send".into())
        .spawn(move || {
            let result = send_all(input, &sender);
            // The receiver may be gone if the process is ending; nothing to report then.
            let _ = done_tx.send(result);
        })
        .context("cannot start the sending thread")?;

    let mut buf = vec![0u8; BUF];
    loop {
        let n = read_some(&stream, &mut buf).context("connection lost while receiving")?;
        if n == 0 {
            break;
        }
        match output.write_all(&buf[..n]).and_then(|()| output.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(PipeEnd::OutputClosed);
            }
            Err(e) => return Err(e).context("cannot write to standard output"),
        }
    }
    // The server ended its stream. A correct server does so only after our half-close, so the
    // sending side is finished or about to be.
    match done_rx.recv_timeout(SEND_GRACE) {
        Ok(result) => result.map(|()| PipeEnd::Complete),
        Err(_) => {
            let _ = stream.shutdown(Shutdown::Both);
            Err(anyhow!(
                "the server closed the connection before the end of input"
            ))
        }
    }
}

/// Copies all of `input` to the server, then shuts down the sending side.
fn send_all<R: Read>(mut input: R, mut sock: &TcpStream) -> anyhow::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = read_some(&mut input, &mut buf).context("cannot read standard input")?;
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n])
            .context("the server closed the connection before the end of input")?;
    }
    sock.shutdown(Shutdown::Write)
        .context("cannot half-close the connection")
}

/// Reads what is there into `buf`, again if a signal interrupted; 0 is the end of the stream.
fn read_some(mut from: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match from.read(buf) {
            Err(e) if interrupted(&e) => continue,
            result => return result,
        }
    }
}
