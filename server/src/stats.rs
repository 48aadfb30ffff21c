//! Server-wide counters, shared by every connection and every concurrency model.

use std::fmt;

use shout_common::plural;

use crate::proxy::ProxyRefusal;
use crate::tls::Handshake;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Bytes and lines moved by a connection (or a batch of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Newlines received.
    pub lines_in: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, o: Traffic) -> Traffic {
        Traffic {
            bytes_in: self.bytes_in - o.bytes_in,
            bytes_out: self.bytes_out - o.bytes_out,
            lines_in: self.lines_in - o.lines_in,
        }
    }
}

impl std::ops::AddAssign for Traffic {
    fn add_assign(&mut self, o: Traffic) {
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.lines_in += o.lines_in;
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer half-closed and got every answer (or closed cleanly).
    Done,
    /// Nothing arrived for `--idle-timeout`.
    Idle,
    /// The peer accepted no bytes for `--write-timeout`.
    WriteTimeout,
    /// The peer reset the connection or it broke (`ECONNRESET`, `EPIPE`).
    Reset,
    /// Another I/O error.
    Error,
    /// Still open at the end of `--drain-timeout` during shutdown.
    Drain,
    /// Closed before serving: an invalid or missing PROXY header, or a failed TLS handshake
    /// (`shout_proxy_rejected_total` and `shout_tls_handshakes_total` say which).
    Setup,
    /// Handed over, open, to the new process of an upgrade (which serves it on).
    HandedOver,
}

impl CloseReason {
    /// Every reason, in a fixed order (for counters and metrics).
    pub const ALL: [CloseReason; 8] = [
        CloseReason::Done,
        CloseReason::Idle,
        CloseReason::WriteTimeout,
        CloseReason::Reset,
        CloseReason::Error,
        CloseReason::Drain,
        CloseReason::Setup,
        CloseReason::HandedOver,
    ];

    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Done => "done",
            CloseReason::Idle => "idle_timeout",
            CloseReason::WriteTimeout => "write_timeout",
            CloseReason::Reset => "reset",
            CloseReason::Error => "error",
            CloseReason::Drain => "drain_timeout",
            CloseReason::Setup => "setup_failed",
            CloseReason::HandedOver => "handed_over",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a connection was refused with the busy line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` connections were open.
    MaxConnections,
    /// Its address had `--max-connections-per-ip` connections open.
    MaxConnectionsPerIp,
}

impl Refusal {
    /// A short name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::MaxConnectionsPerIp => "max_connections_per_ip",
        }
    }
}

/// Live counters; every field is updated with relaxed atomics (they are statistics, not
/// synchronisation).
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections being served now.
    active: AtomicUsize,
    accepted: AtomicU64,
    rejected: AtomicU64,
    rejected_per_ip: AtomicU64,
    accept_errors: AtomicU64,
    closed: [AtomicU64; CloseReason::ALL.len()],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    lines_in: AtomicU64,
    handshakes: [AtomicU64; Handshake::ALL.len()],
    proxy_rejected: [AtomicU64; ProxyRefusal::ALL.len()],
}

impl Stats {
    /// A TLS handshake ended.
    pub(crate) fn handshake(&self, result: Handshake) {
        self.handshakes[result.index()].fetch_add(1, Relaxed);
    }

    /// A connection was closed for its PROXY header (or for not being allowed to send one).
    pub(crate) fn proxy_rejected(&self, why: ProxyRefusal) {
        self.proxy_rejected[why.index()].fetch_add(1, Relaxed);
    }

    /// A connection counted as active at accept was refused once its PROXY header told its
    /// address (`--max-connections-per-ip`): it counts as refused, not as served.
    pub(crate) fn rejected_after_open(&self, why: Refusal) {
        self.active.fetch_sub(1, Relaxed);
        self.accepted.fetch_sub(1, Relaxed);
        self.rejected(why);
    }

    /// A connection was accepted within the limit: it is now active.
    pub(crate) fn opened(&self) {
        self.active.fetch_add(1, Relaxed);
        self.accepted.fetch_add(1, Relaxed);
    }

    pub(crate) fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    /// A connection was refused with the busy line.
    pub(crate) fn rejected(&self, why: Refusal) {
        self.rejected.fetch_add(1, Relaxed);
        if why == Refusal::MaxConnectionsPerIp {
            self.rejected_per_ip.fetch_add(1, Relaxed);
        }
    }

    /// A connection ended: it is no longer active.
    pub(crate) fn closed(&self, reason: CloseReason) {
        self.active.fetch_sub(1, Relaxed);
        self.closed[reason.index()].fetch_add(1, Relaxed);
    }

    /// Adds traffic. Models call this per read and write (threads) or once per event-loop
    /// round (pool), so the counters move while connections are open.
    pub(crate) fn traffic(&self, t: Traffic) {
        if t.bytes_in > 0 {
            self.bytes_in.fetch_add(t.bytes_in, Relaxed);
            self.lines_in.fetch_add(t.lines_in, Relaxed);
        }
        if t.bytes_out > 0 {
            self.bytes_out.fetch_add(t.bytes_out, Relaxed);
        }
    }

    /// Connections being served now.
    pub fn active(&self) -> usize {
        self.active.load(Relaxed)
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            active: self.active(),
            accepted: self.accepted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            rejected_per_ip: self.rejected_per_ip.load(Relaxed),
            accept_errors: self.accept_errors.load(Relaxed),
            closed: CloseReason::ALL.map(|r| (r, self.closed[r.index()].load(Relaxed))),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            lines_in: self.lines_in.load(Relaxed),
            handshakes: Handshake::ALL.map(|h| (h, self.handshakes[h.index()].load(Relaxed))),
            proxy_rejected: ProxyRefusal::ALL
                .map(|r| (r, self.proxy_rejected[r.index()].load(Relaxed))),
        }
    }
}

/// A point-in-time copy of [`Stats`]; also the summary logged at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections being served at the time of the snapshot.
    pub active: usize,
    /// Connections accepted and served (rejected ones not included).
    pub accepted: u64,
    /// Connections refused with the busy line, for any [`Refusal`].
    pub rejected: u64,
    /// Of those, refused by `--max-connections-per-ip`.
    pub rejected_per_ip: u64,
    /// Failed accepts that paused accepting (such as `EMFILE`).
    pub accept_errors: u64,
    /// Connections closed, by reason.
    pub closed: [(CloseReason, u64); CloseReason::ALL.len()],
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Newlines received (messages, for clients that send lines).
    pub lines_in: u64,
    /// TLS handshakes, by result.
    pub handshakes: [(Handshake, u64); Handshake::ALL.len()],
    /// Connections closed for their PROXY header, by reason.
    pub proxy_rejected: [(ProxyRefusal, u64); ProxyRefusal::ALL.len()],
}

impl Snapshot {
    /// How many connections closed for `reason`.
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.closed[reason.index()].1
    }

    /// How many TLS handshakes ended with `result`.
    pub fn handshakes(&self, result: Handshake) -> u64 {
        self.handshakes[result.index()].1
    }

    /// How many connections were closed for their PROXY header for `why`.
    pub fn proxy_rejected(&self, why: ProxyRefusal) -> u64 {
        self.proxy_rejected[why.index()].1
    }
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} served, {} rejected, {} in, {} out; closed:",
            plural(self.accepted, "connection"),
            self.rejected,
            plural(self.bytes_in, "byte"),
            plural(self.bytes_out, "byte"),
        )?;
        for (reason, n) in self.closed {
            write!(f, " {}={n}", reason.as_str())?;
        }
        Ok(())
    }
}
