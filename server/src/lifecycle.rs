//! What happens to the server as a process, counted for `/metrics`: certificate reloads
//! (`SIGHUP`), the leaf certificate's expiry, and upgrades in place (`SIGUSR2`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// How a certificate reload ended, for `shout_tls_reloads_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The new files are in use for new handshakes.
    Ok,
    /// A file failed to load: the previous certificates stay in use.
    Error,
}

impl Reload {
    /// Every result, in a fixed order.
    pub const ALL: [Reload; 2] = [Reload::Ok, Reload::Error];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Reload::Ok => "ok",
            Reload::Error => "error",
        }
    }
}

/// How an upgrade in place ended (in the process that started it), for
/// `shout_upgrades_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// The new process said it was ready and took the listeners over.
    Ok,
    /// The new process could not be started, or the hand-over itself failed.
    Error,
    /// The new process exited before it was ready (bad options, a broken binary).
    Exited,
    /// The new process was not ready in time; it was killed.
    Timeout,
}

impl Upgrade {
    /// Every result, in a fixed order.
    pub const ALL: [Upgrade; 4] = [
        Upgrade::Ok,
        Upgrade::Error,
        Upgrade::Exited,
        Upgrade::Timeout,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Upgrade::Ok => "ok",
            Upgrade::Error => "error",
            Upgrade::Exited => "exited",
            Upgrade::Timeout => "timeout",
        }
    }
}

/// The counters of reloads and upgrades, and the certificate's expiry.
#[derive(Debug, Default)]
pub struct Lifecycle {
    reloads: [AtomicU64; Reload::ALL.len()],
    upgrades: [AtomicU64; Upgrade::ALL.len()],
    /// The leaf certificate's notAfter, in seconds since the Unix epoch (0: no TLS, or the
    /// certificate could not be read for it).
    expiry: AtomicI64,
}

impl Lifecycle {
    /// A reload ended with `result`.
    pub fn reloaded(&self, result: Reload) {
        self.reloads[result as usize].fetch_add(1, Relaxed);
    }

    /// An upgrade ended with `result`.
    pub fn upgraded(&self, result: Upgrade) {
        self.upgrades[result as usize].fetch_add(1, Relaxed);
    }

    /// The certificate now in use expires at `unix_seconds` (`None`: unknown).
    pub fn set_expiry(&self, unix_seconds: Option<i64>) {
        self.expiry.store(unix_seconds.unwrap_or(0), Relaxed);
    }

    /// Reloads by result.
    pub fn reloads(&self) -> [(Reload, u64); Reload::ALL.len()] {
        Reload::ALL.map(|r| (r, self.reloads[r as usize].load(Relaxed)))
    }

    /// Upgrades by result.
    pub fn upgrades(&self) -> [(Upgrade, u64); Upgrade::ALL.len()] {
        Upgrade::ALL.map(|u| (u, self.upgrades[u as usize].load(Relaxed)))
    }

    /// The certificate's notAfter (seconds since the epoch), if known.
    pub fn expiry(&self) -> Option<i64> {
        Some(self.expiry.load(Relaxed)).filter(|&t| t != 0)
    }
}
