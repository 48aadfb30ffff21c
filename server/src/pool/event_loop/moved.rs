//! A worker's side of an upgrade's hand-over: at shutdown, an established plaintext connection
//! goes to the new process with its state instead of being drained; in the new process, such
//! a connection joins a worker with that state.

use std::os::fd::AsFd;
use std::time::Instant;

use tracing::error;

use super::{EventLoop, Resumed};
use crate::conn::Connection;
use crate::handover::Moved;
use crate::shared::{Held, Sink};
use crate::stats::CloseReason;

impl EventLoop {
    /// Offers connection `i` to `sink` if it is plaintext with nothing read ahead, still
    /// reading, and not lingering; true if it went (it is then closed here, counted as
    /// handed over).
    pub(super) fn hand_over(&mut self, i: usize, sink: &Sink, now: Instant) -> bool {
        let Some(entry) = self.slots[i].as_ref() else {
            return false;
        };
        let Some(unread) = entry.transport.plain_read_ahead() else {
            return false;
        };
        if !entry.conn.reading() || entry.lingering {
            return false;
        }
        let Ok(fd) = entry.stream.as_fd().try_clone_to_owned() else {
            return false;
        };
        let moved = Moved {
            stream: std::net::TcpStream::from(fd),
            peer: entry.peer,
            carry: entry.conn.carried().to_vec(),
            pending: entry.conn.pending().to_vec(),
            unread: unread.to_vec(),
            idle_elapsed: now.saturating_duration_since(entry.last_read),
            write_elapsed: now.saturating_duration_since(entry.last_write),
        };
        if !self.shared.offer(sink, &moved, entry.id) {
            return false;
        }
        // Deregistered before the close: the socket stays open in the new process, and epoll
        // forgets a socket only when its last descriptor closes.
        self.close(i, CloseReason::HandedOver);
        true
    }

    /// Connection `i` finished its set-up (PROXY header, TLS handshake) after an upgrade's
    /// hand-over began: a plaintext one goes to the new process (true: it is gone), a TLS one
    /// is served until quiet like the others.
    pub(super) fn set_up_while_handing_over(&mut self, i: usize, now: Instant) -> bool {
        if let Some(sink) = self.shared.hand_over_sink() {
            if self.hand_over(i, &sink, now) {
                return true;
            }
        }
        if self.quiet_drain.is_some() {
            self.serve_until_quiet(i, now);
        } else if let Some(entry) = self.slots[i].as_mut() {
            entry.conn.stop_reading();
        }
        false
    }

    /// An upgrade does not hand connection `i` over: it is served until it falls quiet
    /// ([`QuietDrain`](crate::shared::QuietDrain)), so that a request already on its way is
    /// answered.
    /// Its quiet time counts from `now` (a connection just set up has read nothing yet).
    pub(super) fn serve_until_quiet(&mut self, i: usize, now: Instant) {
        if let Some(entry) = self.slots[i].as_mut() {
            entry.quiet = true;
            entry.last_read = entry.last_read.max(now);
            self.arm(i);
        }
    }

    /// Serves connection `id`, handed over by an upgrade's old process, from its state.
    pub(super) fn adopt(&mut self, moved: Moved, id: u64, held: Held, now: Instant) {
        let peer = moved.peer;
        let Some(conn) = Connection::resume(
            self.shared.config.mode,
            &moved.carry,
            &moved.pending,
            &moved.unread,
        ) else {
            error!(id, %peer, "upgrade: a handed-over connection's state is invalid; closing it");
            self.shared.closed(&held, CloseReason::Error);
            return;
        };
        let resumed = Resumed {
            conn,
            last_read: now.checked_sub(moved.idle_elapsed).unwrap_or(now),
            last_write: now.checked_sub(moved.write_elapsed).unwrap_or(now),
        };
        if let Err((e, held)) = self.add(moved.stream, peer, id, held, now, Some(resumed)) {
            error!(id, %peer, error = %e, "upgrade: cannot register a handed-over connection; closing it");
            self.shared.closed(&held, CloseReason::Error);
        }
    }
}
