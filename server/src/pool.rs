//! The event-driven model: a fixed pool of worker threads, each running its own mio event loop
//! over many connections ("one loop per thread", as muduo, netty and nginx). Each worker drives
//! the same sans-IO [`Connection`](crate::conn::Connection) core as the thread model.
//!
//! - **Hand-off.** The shared accept loop hands each accepted connection to the next worker,
//!   round robin, through the worker's inbox and a waker: one cross-thread wake-up per
//!   *connection*, none per message. Chosen over per-worker `SO_REUSEPORT` listeners by
//!   measurement (`bench/reuseport/run.sh`; figures in docs/design.md, "Hand-off vs
//!   `SO_REUSEPORT`"): both cost the same to connect and per message, but the kernel's
//!   4-tuple hash spreads few connections unevenly over the workers, where the hand-off splits
//!   them evenly every time. The single accept loop also keeps the connection limit exact and
//!   the accept-error pause in one place, shared with the thread model.
//! - **System calls.** Sockets are registered once, edge-triggered, for reading and writing;
//!   no re-registration per message. A read shorter than the buffer means the socket is
//!   empty, so no extra read just to see `WouldBlock`; a write that takes everything needs no
//!   writability wait. A message costs one `read` and one `write`, plus a share of
//!   `epoll_wait`.
//! - **Memory.** An idle connection holds no buffer: reads go into one per-worker scratch
//!   buffer, and the answer buffer comes from a per-worker pool only while answer bytes wait
//!   to be written.
//! - **Timeouts.** No timer per connection: each worker keeps one deadline heap with at most
//!   one live entry per connection. Activity only updates a timestamp; when an entry expires
//!   the real deadline is recomputed and the entry pushed again if it moved.
//!
//! This file is the model as the accept loop sees it (start the workers, hand a connection
//! over, shut down); each worker thread runs an `EventLoop` (`pool/event_loop.rs`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use mio::Poll;
use tracing::error;

use crate::handover::Moved;
use crate::shared::{Dispatch, Held, Shared};

mod event_loop;
mod inbox;

use event_loop::EventLoop;
use inbox::Inbox;

/// The model: worker threads and their inboxes.
pub(crate) struct Pool {
    workers: Vec<WorkerHandle>,
    /// The worker that gets the next connection (round robin).
    next: usize,
}

/// The accept loop's side of one worker thread.
struct WorkerHandle {
    inbox: Arc<Inbox>,
    thread: Option<JoinHandle<()>>,
}

impl Pool {
    /// Starts `workers` event-loop threads.
    pub(crate) fn start(shared: &Arc<Shared>, workers: usize) -> io::Result<Pool> {
        let workers = workers.max(1);
        let mut started = Vec::with_capacity(workers);
        for index in 0..workers {
            // Each worker needs two descriptors and a thread: say which one failed and why.
            let context = |e: io::Error| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start pool worker {} of {workers} (--workers): {e}",
                        index + 1
                    ),
                )
            };
            let poll = Poll::new().map_err(context)?;
            let inbox = Arc::new(Inbox::new(&poll).map_err(context)?);
            let mut event_loop = EventLoop::new(Arc::clone(shared), Arc::clone(&inbox), poll);
            let thread = thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || event_loop.run())
                .map_err(context)?;
            started.push(WorkerHandle {
                inbox,
                thread: Some(thread),
            });
        }
        Ok(Pool {
            workers: started,
            next: 0,
        })
    }
}

impl Dispatch for Pool {
    /// Tells every worker to drain (shutdown has begun) and waits for them; each closes what
    /// remains at the drain timeout.
    fn drain(&mut self) {
        for worker in &self.workers {
            if let Err(e) = worker.inbox.wake() {
                error!(error = %e, "cannot wake a worker to drain");
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                if thread.join().is_err() {
                    error!("a worker thread panicked");
                }
            }
        }
    }

    fn adopt(&mut self, moved: Moved, id: u64, held: Held) {
        let worker = &self.workers[self.next];
        self.next = (self.next + 1) % self.workers.len();
        if let Err(e) = worker.inbox.push_adopted(moved, id, held) {
            error!(error = %e, "cannot wake a worker for a handed-over connection");
        }
    }

    fn dispatch(&mut self, stream: std::net::TcpStream, peer: SocketAddr, id: u64, held: Held) {
        let worker = &self.workers[self.next];
        self.next = (self.next + 1) % self.workers.len();
        if let Err(e) = worker.inbox.push(stream, peer, id, held) {
            error!(error = %e, "cannot wake a worker for a new connection");
        }
    }
}
