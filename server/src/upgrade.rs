//! Upgrade in place at `SIGUSR2`, the old process's side: start the binary shoutd was started
//! from (resolved at start) with the same arguments and environment, hand it the listeners
//! over the [`handover`] channel, and once it says it serves, stop accepting
//! and drain. The listeners are never closed or re-bound: both processes hold them while the
//! new one starts, so a connection waiting in the backlog is accepted by one or the other.
//!
//! The steps, and what each failure does (nothing changes for clients in any of them):
//!
//! 1. Bind the channel, start the new process: if either fails, `error`.
//! 2. Wait, at most [`READY_WITHIN`], for it to connect (only our child is accepted), send it
//!    the listeners, and wait for `READY`.
//! 3. It exits first (bad options, a broken binary, a record it does not understand):
//!    `exited`, with its exit status. Not ready in time: it is killed, `timeout`. `SIGTERM`
//!    meanwhile: it is killed, and shutdown goes on.
//! 4. `READY`: `ok`; this process falls silent towards systemd (the new one sends `MAINPID=`),
//!    stops accepting, hands its established plaintext connections over with their state, and
//!    drains the others (TLS), as at `SIGTERM`.
//!
//! One upgrade at a time: `SIGUSR2` while one is under way (or after a hand-over) is logged
//! and ignored. Each failure is one error line naming the reason, counted in
//! `shout_upgrades_total{result}`.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::process::{pidfd_open, Pid, PidfdFlags};
use tracing::{error, info};

use crate::handover::{self, Channel, ChannelListener, UPGRADE_ENV};
use crate::lifecycle::Upgrade;
use crate::server::{Handle, Server};
use crate::sync::lock;
use crate::systemd;

/// How long the new process has to say it serves before it is killed.
pub const READY_WITHIN: Duration = Duration::from_secs(10);

/// The old process's side of upgrades.
pub struct Upgrader {
    /// The binary to start, resolved at start.
    exe: PathBuf,
    /// The arguments shoutd was started with.
    args: Vec<OsString>,
    handle: Handle,
    /// Duplicates of the listeners and the metrics listeners, to hand over; dropped at
    /// shutdown, so that the listeners close (and new connections are refused) when the
    /// server stops accepting.
    fds: Mutex<Option<(Vec<OwnedFd>, Vec<OwnedFd>)>>,
    /// An upgrade is under way, or done (this process is draining).
    busy: AtomicBool,
    /// Written at `SIGTERM`: an upgrade under way stops.
    cancel: OwnedFd,
    /// The thread of the upgrade under way (or the last one).
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// How an attempt failed: its counter, and the reason for the log line.
type Failure = (Upgrade, String);

impl Upgrader {
    /// Resolves the binary's path now (a binary replaced on disk later is the one that runs),
    /// and keeps duplicates of `server`'s listeners to hand over.
    pub fn new(server: &Server) -> io::Result<Upgrader> {
        let exe = std::env::current_exe()?;
        let (listeners, metrics) = server.listener_fds()?;
        Ok(Upgrader {
            exe,
            args: std::env::args_os().skip(1).collect(),
            handle: server.handle(),
            fds: Mutex::new(Some((listeners, metrics))),
            busy: AtomicBool::new(false),
            cancel: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
            thread: Mutex::new(None),
        })
    }

    /// `SIGUSR2`: starts an upgrade on a thread of its own, unless one is under way.
    pub fn start(self: &Arc<Self>) {
        if self.busy.swap(true, Ordering::SeqCst) {
            info!(
                signal = "SIGUSR2",
                "an upgrade is already under way or done: signal ignored"
            );
            return;
        }
        let upgrader = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("upgrade".into())
            .spawn(move || upgrader.run());
        match spawned {
            Ok(thread) => *lock(&self.thread) = Some(thread),
            Err(e) => self.failed((Upgrade::Error, format!("cannot start a thread: {e}"))),
        }
    }

    /// `SIGTERM`: an upgrade under way stops (its new process is killed); waits for it. No
    /// upgrade can start after this.
    pub fn cancel(&self) {
        self.busy.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.cancel, &1u64.to_ne_bytes());
        self.join();
        lock(&self.fds).take();
    }

    /// Waits for the upgrade thread, if any.
    pub fn join(&self) {
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn run(&self) {
        info!(binary = %self.exe.display(), "upgrade: starting the new process");
        match self.attempt() {
            Ok((pid, channel)) => {
                self.handle.lifecycle().upgraded(Upgrade::Ok);
                // The new process speaks for the service now.
                systemd::silence();
                lock(&self.fds).take();
                // Connections go one message each; the channel closes when this process
                // exits, which tells the new one that all have come. Accepting stops first:
                // the log line below comes after.
                let _ = channel.set_timeout(Some(READY_WITHIN));
                self.handle
                    .hand_over_to(move |moved| handover::send_connection(&channel, moved));
                self.handle.shutdown();
                info!(
                    new_pid = pid,
                    "upgrade: the new process serves; no longer accepting here, handing \
                     plaintext connections over, draining TLS ones"
                );
            }
            Err(failure) => self.failed(failure),
        }
    }

    fn failed(&self, (result, reason): Failure) {
        self.handle.lifecycle().upgraded(result);
        error!(
            result = result.as_str(),
            "upgrade failed, this process serves on: {reason}"
        );
        self.busy.store(false, Ordering::SeqCst);
    }

    /// Steps 1 to 3; the new process's PID and channel once it serves.
    fn attempt(&self) -> Result<(u32, Channel), Failure> {
        let error = |what: &str, e: io::Error| (Upgrade::Error, format!("{what}: {e}"));
        let channel = ChannelListener::bind().map_err(|e| error("cannot open the channel", e))?;
        let mut child = Command::new(&self.exe)
            .args(&self.args)
            .env(UPGRADE_ENV, &channel.name)
            // Socket activation was ours; the watchdog is for whichever PID serves.
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("WATCHDOG_PID")
            .spawn()
            .map_err(|e| error(&format!("cannot start {}", self.exe.display()), e))?;
        let result = self.wait_ready(&channel, &mut child);
        if result.is_err() {
            // Harmless if it has exited already; reaped either way.
            let _ = child.kill();
            let _ = child.wait();
        }
        result
    }

    /// Step 2: waits for the child to connect, hands over, waits for `READY`.
    fn wait_ready(
        &self,
        listener: &ChannelListener,
        child: &mut Child,
    ) -> Result<(u32, Channel), Failure> {
        let error = |what: &str, e: io::Error| (Upgrade::Error, format!("{what}: {e}"));
        let child_pid = child.id();
        let pidfd = pidfd_open(Pid::from_child(child), PidfdFlags::empty())
            .map_err(|e| error("cannot watch the new process", e.into()))?;
        let deadline = Instant::now() + READY_WITHIN;
        let mut channel: Option<Channel> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err((
                    Upgrade::Timeout,
                    format!(
                        "the new process (PID {child_pid}) was not ready within {}s; killed",
                        READY_WITHIN.as_secs()
                    ),
                ));
            }
            let waiting: &dyn std::os::fd::AsFd = match &channel {
                Some(c) => c,
                None => listener,
            };
            let [readable, child_exited, cancelled] =
                wait_any([&waiting, &pidfd, &self.cancel], left)
                    .map_err(|e| error("cannot wait for the new process", e))?;
            if cancelled {
                return Err((Upgrade::Error, "shutting down: upgrade cancelled".into()));
            }
            if readable {
                match &channel {
                    None => {
                        let accepted = listener
                            .accept()
                            .map_err(|e| error("cannot accept the new process", e))?;
                        if accepted.peer_pid().ok() != Some(child_pid) {
                            continue; // not our child: ignored
                        }
                        let fds = lock(&self.fds);
                        let (listeners, metrics) = fds.as_ref().ok_or_else(|| {
                            (
                                Upgrade::Error,
                                "shutting down: upgrade cancelled".to_string(),
                            )
                        })?;
                        handover::send_listeners(&accepted, listeners, metrics)
                            .map_err(|e| error("cannot hand the listeners over", e))?;
                        channel = Some(accepted);
                    }
                    Some(c) => match c.recv() {
                        Ok(Some((message, _))) if handover::is_ready(&message) => break,
                        Ok(Some((message, _))) => {
                            return Err((
                                Upgrade::Error,
                                format!("unexpected message from the new process: {message:?}"),
                            ))
                        }
                        Ok(None) => return Err(exit_failure(child, &pidfd)),
                        Err(e) => return Err(error("cannot read from the new process", e)),
                    },
                }
                continue;
            }
            if child_exited {
                return Err(exit_failure(child, &pidfd));
            }
        }
        let channel = channel.ok_or_else(|| (Upgrade::Error, "no channel".to_string()))?;
        Ok((child_pid, channel))
    }
}

/// Waits up to `left` for any of `fds` to be readable; which are.
fn wait_any(fds: [&dyn std::os::fd::AsFd; 3], left: Duration) -> io::Result<[bool; 3]> {
    let mut polled = fds.map(|fd| PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN));
    let timeout = Timespec {
        tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(left.subsec_nanos()),
    };
    match poll(&mut polled, Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(polled.map(|fd| !fd.revents().is_empty()))
}

/// How long a new process that closed the channel gets to finish exiting, so that its own exit
/// status is reported rather than the kill's.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// The failure of a new process that exited (or closed the channel) before it was ready;
/// `pidfd` becomes readable when it has exited.
fn exit_failure(child: &mut Child, pidfd: &OwnedFd) -> Failure {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let grace = Timespec {
        tv_sec: i64::try_from(EXIT_GRACE.as_secs()).unwrap_or(1),
        tv_nsec: 0,
    };
    let _ = poll(&mut fds, Some(&grace));
    let pid = child.id();
    let status: Option<ExitStatus> = match child.try_wait() {
        Ok(Some(status)) => Some(status),
        _ => {
            // It closed the channel but lives on: it is killed, and said so (the kill's
            // status is ours, not its own).
            let _ = child.kill();
            let _ = child.wait();
            return (
                Upgrade::Exited,
                format!(
                    "the new process (PID {pid}) closed the channel before it was ready and did \
                     not exit within {}s; killed; see its log lines above",
                    EXIT_GRACE.as_secs()
                ),
            );
        }
    };
    let status = status.map_or_else(|| "unknown status".into(), |s| s.to_string());
    (
        Upgrade::Exited,
        format!("the new process (PID {pid}) exited before it was ready ({status}); see its log lines above"),
    )
}
