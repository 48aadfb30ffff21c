//! A pool worker's inbox: the connections the accept loop hands it (new ones, and those an
//! upgrade's old process handed over), and the waker that tells it.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use mio::{Poll, Token, Waker};

use crate::handover::Moved;
use crate::shared::Held;
use crate::sync::lock;

/// The token of the inbox's waker (connections use their slot index).
pub(super) const WAKE: Token = Token(usize::MAX);

/// New connections for a worker, handed over by the accept loop, and the waker that tells it.
pub(super) struct Inbox {
    new: Mutex<Vec<(std::net::TcpStream, SocketAddr, u64, Held)>>,
    /// Connections handed over by an upgrade's old process.
    adopted: Mutex<Vec<(Moved, u64, Held)>>,
    waker: Waker,
}

impl Inbox {
    /// An empty inbox whose waker wakes the loop waiting on `poll`.
    pub(super) fn new(poll: &Poll) -> io::Result<Inbox> {
        Ok(Inbox {
            new: Mutex::new(Vec::new()),
            adopted: Mutex::new(Vec::new()),
            waker: Waker::new(poll.registry(), WAKE)?,
        })
    }

    /// Hands connection `id` to the worker and wakes it.
    pub(super) fn push(
        &self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
        held: Held,
    ) -> io::Result<()> {
        lock(&self.new).push((stream, peer, id, held));
        self.wake()
    }

    /// Hands connection `id`, handed over by an upgrade's old process, to the worker.
    pub(super) fn push_adopted(&self, moved: Moved, id: u64, held: Held) -> io::Result<()> {
        lock(&self.adopted).push((moved, id, held));
        self.wake()
    }

    /// The connections handed over since the last call.
    pub(super) fn take_new(&self) -> Vec<(std::net::TcpStream, SocketAddr, u64, Held)> {
        std::mem::take(&mut *lock(&self.new))
    }

    /// The connections from an upgrade's old process handed over since the last call.
    pub(super) fn take_adopted(&self) -> Vec<(Moved, u64, Held)> {
        std::mem::take(&mut *lock(&self.adopted))
    }

    /// Wakes the worker: it takes new connections and sees whether shutdown has begun.
    pub(super) fn wake(&self) -> io::Result<()> {
        self.waker.wake()
    }
}
