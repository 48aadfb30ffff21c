//! systemd integration, each part a no-op outside systemd: socket activation (`LISTEN_FDS`,
//! `LISTEN_PID`, `LISTEN_FDNAMES`, read by the `listenfd` crate), and the notifications of
//! `sd_notify(3)` (`READY=1`, `RELOADING=1`, `STOPPING=1`, `STATUS=`, `MAINPID=`,
//! `WATCHDOG=1`), sent by the `sd-notify` crate to `NOTIFY_SOCKET` when it is set.
//!
//! The watchdog is pinged from the accept loop ([`Watchdog`]): if that loop is wedged, the
//! pings stop and systemd restarts the service, as `WatchdogSec=` intends.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tracing::debug;

/// The environment variable with the names of the activated sockets.
const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";

/// The sockets systemd passed (socket activation), with their names (`LISTEN_FDNAMES`, or
/// `unknown`); `None` if shoutd was not socket-activated. The variables are removed, so a
/// process shoutd starts (an upgrade) does not take them for its own.
pub fn activated_listeners() -> std::io::Result<Option<Vec<(TcpListener, String)>>> {
    let mut fds = listenfd::ListenFd::from_env();
    let names = std::env::var(LISTEN_FDNAMES).ok();
    std::env::remove_var(LISTEN_FDNAMES);
    if fds.len() == 0 {
        return Ok(None);
    }
    let mut names = names
        .as_deref()
        .map(|n| n.split(':').map(String::from).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter();
    let mut listeners = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(index)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "socket activation: descriptor {} is not a TCP listener: {e}",
                        index + 3
                    ),
                )
            })?
            .ok_or_else(|| {
                std::io::Error::other("socket activation: a descriptor was taken twice")
            })?;
        listener.set_nonblocking(true)?;
        let name = names.next().unwrap_or_else(|| "unknown".into());
        listeners.push((listener, name));
    }
    Ok(Some(listeners))
}

/// Set once an upgrade has handed over: the new process speaks for the service from then on.
static SILENT: AtomicBool = AtomicBool::new(false);

/// From now on this process sends the service manager nothing (after an upgrade's hand-over:
/// a `STOPPING=1` from the draining process would stop the service the new one serves).
pub fn silence() {
    SILENT.store(true, Ordering::SeqCst);
}

/// Sends `states` to the service manager, if there is one; a failure is logged at debug only
/// (the manager went away: nothing to do about it).
pub fn notify(states: &[NotifyState]) {
    if SILENT.load(Ordering::SeqCst) {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "cannot notify the service manager");
    }
}

/// `READY=1` with a short status line.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `READY=1` from the process that took over from an upgrade: `MAINPID=` names it, so the
/// service manager follows it (`NotifyAccess=all` lets it send this).
pub fn took_over(status: &str) {
    notify(&[
        NotifyState::MainPid(std::process::id()),
        NotifyState::Ready,
        NotifyState::Status(status),
    ]);
}

/// `RELOADING=1` with `MONOTONIC_USEC=` (as `Type=notify-reload` expects), and a status.
pub fn reloading(status: &str) {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now, NotifyState::Status(status)]),
        Err(_) => notify(&[NotifyState::Reloading, NotifyState::Status(status)]),
    }
}

/// `STOPPING=1` with a status.
pub fn stopping(status: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// `STATUS=` alone.
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// The watchdog's schedule: `WATCHDOG=1` at half of `WATCHDOG_USEC`, if set (for this
/// process: `WATCHDOG_PID`, if set, must be ours).
#[derive(Debug)]
pub struct Watchdog {
    every: Duration,
    due: Instant,
}

impl Watchdog {
    /// The schedule the service manager asks for, if any.
    pub fn from_env() -> Option<Watchdog> {
        let timeout = sd_notify::watchdog_enabled()?;
        let every = (timeout / 2).max(Duration::from_millis(1));
        Some(Watchdog {
            every,
            due: Instant::now(),
        })
    }

    /// When the next ping is due.
    pub fn due(&self) -> Instant {
        self.due
    }

    /// Pings if due, and schedules the next one.
    pub fn ping_if_due(&mut self) {
        let now = Instant::now();
        if now >= self.due {
            notify(&[NotifyState::Watchdog]);
            self.due = now + self.every;
        }
    }
}
