//! Logging that can never harm serving: log lines go through a bounded queue to one writer
//! thread, so a stderr that fails (a closed pipe, a full disk) or stalls (a reader that stopped
//! reading) costs log lines, never a panic, a blocked connection thread or a wedged accept loop.
//!
//! tracing-subscriber's own stderr writer reports a failed write with `eprintln!`, which panics
//! when stderr is the thing that failed; `tracing-appender`'s non-blocking writer does the same
//! when its final flush fails. Hence this small sink of our own: lines that cannot be queued or
//! written are dropped and counted ([`dropped`], exported as `shout_log_lines_dropped_total`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

/// Log lines queued for the writer thread at most. Beyond this (stderr stalled or slower than
/// the log rate) new lines are dropped, so the queue holds at most this many lines (a few MiB
/// at the longest lines logged), whatever stderr does.
pub const QUEUE_LINES: usize = 16 * 1024;

/// How long [`flush`] waits for queued lines to be written before giving up (a stalled stderr
/// must not stop the process from exiting).
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// How often [`flush`] looks whether the queue is empty: it runs once, at exit, so a short
/// sleep costs nothing and keeps the wait close to the time the writes take.
const FLUSH_POLL: Duration = Duration::from_millis(1);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The process-wide sink, created by [`init`].
struct Sink {
    queue: SyncSender<Vec<u8>>,
    /// Lines queued or being written, for [`flush`].
    pending: AtomicUsize,
    /// Lines lost: queue full, or the write to stderr failed.
    dropped: AtomicU64,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the tracing subscriber (`RUST_LOG` if set, else `level`) writing to stderr through
/// the bounded queue. Call once, before anything logs; later calls change nothing.
pub fn init(format: LogFormat, level: tracing::Level) {
    let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
    let sink = Sink {
        queue,
        pending: AtomicUsize::new(0),
        dropped: AtomicU64::new(0),
    };
    if SINK.set(sink).is_err() {
        return;
    }
    // If the writer thread cannot start, every line is dropped (and counted): serving goes on.
    let _ = thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(lines, io::stderr()));
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(level.as_str().to_ascii_lowercase()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(QueueWriter::default)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .log_internal_errors(false);
    // `try_init` fails only if another subscriber is installed: then logs go there.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The writer thread: writes each line, counting the ones that fail. Ends when the process
/// does (the queue's sender is a static).
fn write_lines(lines: Receiver<Vec<u8>>, mut dest: impl Write) {
    let Some(sink) = SINK.get() else { return };
    for line in lines {
        if dest.write_all(&line).and_then(|()| dest.flush()).is_err() {
            sink.dropped.fetch_add(1, Ordering::Relaxed);
        }
        sink.pending.fetch_sub(1, Ordering::Release);
    }
}

/// Log lines lost so far because stderr failed, stalled or could not keep up.
pub fn dropped() -> u64 {
    SINK.get()
        .map_or(0, |sink| sink.dropped.load(Ordering::Relaxed))
}

/// Waits until the lines logged so far are written, at most [`FLUSH_TIMEOUT`]. Call before
/// the process exits.
pub fn flush() {
    let Some(sink) = SINK.get() else { return };
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    while sink.pending.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        thread::sleep(FLUSH_POLL);
    }
}

/// Writes one message to stderr directly (for the last words of `main`, after logging or
/// without it); a failure is ignored, as there is nowhere left to report it.
pub fn last_words(message: &str) {
    flush();
    let _ = writeln!(io::stderr().lock(), "{message}");
}

/// One event's writer: the formatter writes the event into it, and dropping it queues the
/// line without ever blocking.
#[derive(Default)]
struct QueueWriter {
    line: Vec<u8>,
}

impl Write for QueueWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for QueueWriter {
    fn drop(&mut self) {
        let Some(sink) = SINK.get() else { return };
        if self.line.is_empty() {
            return;
        }
        sink.pending.fetch_add(1, Ordering::AcqRel);
        match sink.queue.try_send(std::mem::take(&mut self.line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                sink.pending.fetch_sub(1, Ordering::AcqRel);
                sink.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
