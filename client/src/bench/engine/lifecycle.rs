//! How the bench's connections move through their lives, for the engine's [`Driver`]: a
//! connection opened, counted once the server has shown it accepted it (or refused it: a
//! failed attempt, never wrong answers), a failed connect and its backoff, the end of a
//! connection in use (what was lost, re-sent or given up), and the answer timeouts.

use std::cmp::Reverse;
use std::time::Instant;

use super::Driver;
use crate::bench::checker::Mismatch;
use crate::bench::failure::Reason;
use crate::bench::greeting::Greeting;
use crate::bench::slot::{End, State};

impl Driver {
    /// Closes a connection for good.
    pub(super) fn retire(&mut self, i: usize) {
        self.drop_socket(i);
        self.slots[i].state = State::Done;
    }

    /// Drops a connection's socket (the caller sets its state), counting it out of the open
    /// connections if it was open.
    pub(super) fn drop_socket(&mut self, i: usize) {
        if matches!(self.slots[i].state, State::Open | State::Closing) {
            self.meter.open_connections = self.meter.open_connections.saturating_sub(1);
        }
        self.slots[i].close(self.poll.registry());
    }

    /// Puts a connection in the waiting state until `at`.
    pub(super) fn wait_until(&mut self, i: usize, at: Instant) {
        self.slots[i].state = State::Waiting { at };
        self.opens.push(Reverse((at, i)));
    }

    /// A connection has opened (with TLS: its handshake is complete). It is counted as opened
    /// once the server shows it accepted it ([`Driver::confirm`]), as a refusal if it refuses.
    pub(super) fn opened(&mut self, i: usize, now: Instant) {
        self.meter.open_connections += 1;
        let slot = &mut self.slots[i];
        slot.open_at = now;
    }

    /// Once the server has accepted connection `i` (answer bytes came, or it ended without a
    /// refusal): counts it as opened (reopened, if its slot was accepted before) and its TLS
    /// handshake, once.
    pub(super) fn confirm(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.greeting == Greeting::Counted {
            return;
        }
        self.meter.counts.opened += 1;
        if slot.accepted_before {
            self.meter.counts.reopened += 1;
        }
        if slot.is_tls() {
            self.meter.handshaked(slot.connected_at, slot.open_at);
        }
        slot.accepted();
    }

    /// A connection attempt failed: with `--reconnect`, a connection that was open before
    /// tries again after a backoff; any other is done.
    pub(super) fn connect_failed(&mut self, i: usize, now: Instant, reason: Reason) {
        if self.slots[i].state == State::Handshaking {
            self.meter.counts.handshake_failures += 1;
        }
        self.count_failed_attempt(i, reason);
        if self.plan.reconnect && self.slots[i].accepted_before {
            self.slots[i].close(self.poll.registry());
            self.retry_later(i, now);
        } else {
            self.retire(i);
        }
    }

    /// Counts a failed connection attempt of slot `i` (a set-up failure if none of its
    /// connections was ever accepted).
    pub(super) fn count_failed_attempt(&mut self, i: usize, reason: Reason) {
        self.meter.counts.connect_failures += 1;
        self.meter.failures.connect.add(reason);
        if !self.slots[i].accepted_before {
            self.meter.counts.setup_failures += 1;
        }
    }

    /// Slot `i` tries to open again after its backoff.
    pub(super) fn retry_later(&mut self, i: usize, now: Instant) {
        let at = now + self.slots[i].retry_pause();
        self.wait_until(i, at);
    }

    /// The server refused connection `i` before answering anything (its busy line; with
    /// TLS, a fatal alert such as a client certificate required): a failed connection attempt
    /// (with TLS a failed handshake), not wrong answers. With `--reconnect` its messages go
    /// out again on other connections, and a slot that was accepted before tries again after
    /// the backoff of a failed connect.
    pub(super) fn refused(&mut self, i: usize, now: Instant, reason: Reason) {
        if matches!(reason, Reason::Tls(_)) {
            // A fatal alert: the handshake failed after all. (A busy line over TLS comes
            // after a complete handshake: a refusal, but not a failed handshake.)
            self.meter.counts.handshake_failures += 1;
        }
        self.count_failed_attempt(i, reason);
        let lost = self.slots[i].checker.take_unanswered();
        let retry = self.plan.reconnect && !self.phase.closing();
        if retry {
            self.resend.extend(lost);
        } else {
            self.meter.counts.short += lost.len() as u64;
        }
        if retry && self.slots[i].accepted_before {
            self.drop_socket(i);
            self.retry_later(i, now);
        } else {
            self.retire(i);
        }
    }

    /// A connection ended: count what was lost, re-send or give up, reopen if asked.
    pub(super) fn end(&mut self, i: usize, how: End) {
        let slot = &self.slots[i];
        let closing = slot.state == State::Closing;
        let awaited = !slot.checker.is_empty();
        let (broken, mismatch) = match how {
            End::Refused(reason) => return self.refused(i, Instant::now(), reason),
            End::Mismatch(mismatch) => (None, Some(mismatch)),
            // The end we asked for by half-closing.
            End::Closed if closing => (None, None),
            End::Closed => (Some(Reason::ClosedByServer), None),
            // A reset while closing matters only if answers were still awaited.
            End::Broken(_) if closing && !awaited => (None, None),
            End::Broken(reason) => (Some(reason), None),
        };
        // Not refused: the server had accepted it, whether it answered or not.
        self.confirm(i);
        // Timed-out messages were counted when they timed out; the rest are lost now.
        let mut lost = self.slots[i].checker.take_unanswered();
        if let Some(mismatch) = mismatch {
            self.meter.counts.mismatches += 1;
            if let Mismatch::WrongByte { late: false, .. } = mismatch {
                lost.pop_front(); // the wrong answer's message: a mismatch, not lost
            }
        }
        if let Some(reason) = broken {
            self.meter.counts.conn_errors += 1;
            self.meter.failures.closed.add(reason);
        }
        // Once closing, nothing is reopened.
        let retry = self.plan.reconnect && !self.phase.closing();
        if retry {
            // The server answered a prefix of what it was sent: the rest goes out again, with
            // its original latency base.
            self.resend.extend(lost);
            self.drop_socket(i);
            self.wait_until(i, Instant::now());
        } else {
            self.meter.counts.short += lost.len() as u64;
            self.retire(i);
        }
    }

    /// Counts the messages that have passed their timeout (once each); they stay awaited, so
    /// an answer that comes later is still checked. Gives up connections stuck connecting.
    /// With `--reconnect`, a connection whose answer timed out is taken for dead (a reset
    /// lost on the way, a peer gone silent): it is closed and reopened, and its messages not
    /// yet timed out go out again on the new one.
    pub(super) fn check_timeouts(&mut self, now: Instant) {
        let timeout = self.plan.timeout;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let expired = slot.checker.expire(now, timeout) as u64;
            self.meter.counts.timeouts += expired;
            if expired > 0 && self.plan.reconnect && slot.state == State::Open {
                self.end(i, End::Broken(Reason::AnswerTimeout));
            } else if slot.connect_timed_out(now, timeout) {
                let reason = if slot.state == State::Handshaking {
                    Reason::Tls("TLS handshake not complete within --timeout".to_owned())
                } else {
                    Reason::ConnectTimeout
                };
                self.connect_failed(i, now, reason);
            }
        }
    }
}
