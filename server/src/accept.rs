//! The accept loop, shared by every concurrency model: waits for connections on all listeners,
//! refuses those over the connection limit, survives accept errors, and stops when woken.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use tracing::{debug, info, warn};

use crate::proxy::ProxyRefusal;
use crate::shared::{Dispatch, Held, Shared};
use crate::sockets::{close_after_answer, is_per_connection, ACCEPT_PAUSE};
use crate::stats::Refusal;
use crate::stats_log::StatsLog;
use crate::systemd::Watchdog;

/// The token of the waker that stops the loop; listeners use their index.
pub(crate) const WAKE: Token = Token(usize::MAX);

/// Readiness events taken per wait: one per listener with connections waiting, plus the waker.
/// More listeners than this are served over several waits (their events stay queued).
const EVENTS_PER_WAIT: usize = 64;

/// Registers `listeners` with `poll` (tokens are their indices).
pub(crate) fn register(poll: &Poll, listeners: &[TcpListener]) -> io::Result<()> {
    for (i, listener) in listeners.iter().enumerate() {
        register_one(poll, listener, Token(i))?;
    }
    Ok(())
}

fn register_one(poll: &Poll, listener: &TcpListener, token: Token) -> io::Result<()> {
    poll.registry().register(
        &mut SourceFd(&listener.as_raw_fd()),
        token,
        Interest::READABLE,
    )
}

/// Accepts until [`Shared::stopping`]. Returns only on stop or when polling itself fails.
pub(crate) fn run(
    poll: &mut Poll,
    listeners: &[TcpListener],
    shared: &Shared,
    model: &mut dyn Dispatch,
) -> io::Result<()> {
    let mut events = Events::with_capacity(EVENTS_PER_WAIT);
    let mut state = LoopState::default();
    let mut stats_log = shared
        .config
        .stats_interval
        .map(|every| StatsLog::new(every, shared.stats.snapshot()));
    // The systemd watchdog is pinged from here: if this loop is wedged, the pings stop.
    let mut watchdog = Watchdog::from_env();
    loop {
        if let Some(dog) = &mut watchdog {
            dog.ping_if_due();
        }
        // After an accept error, wake up by ourselves: the pending connection will not produce
        // another readiness event. The stats line and the watchdog have their own schedules.
        let mut timeout = state.paused.then_some(ACCEPT_PAUSE);
        let dues = [
            stats_log.as_ref().map(StatsLog::due),
            watchdog.as_ref().map(Watchdog::due),
        ];
        for due in dues.into_iter().flatten() {
            let until = due.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // Before the stop check: a connection handed over is served (or drained) here.
        adopt_all(shared, model, &mut state);
        if shared.stopping() {
            return Ok(());
        }
        if let Some(log) = &mut stats_log {
            log.log_if_due(&shared.stats);
        }
        state.paused = false;
        for listener in listeners {
            if !accept_all(listener, shared, model, &mut state) {
                state.paused = true;
                break;
            }
        }
    }
}

/// Burst bookkeeping, so a flood is logged once rather than once per connection.
#[derive(Default)]
struct LoopState {
    paused: bool,
    /// Connections refused since the limit was last reached (`None`: below the limit).
    refusing: Option<u64>,
    /// An accept error has been logged and no accept has succeeded since.
    error_logged: bool,
    /// The number of the last connection handed to the model.
    next_id: u64,
}

/// Accepts every pending connection of `listener`; false if accepting must pause.
fn accept_all(
    listener: &TcpListener,
    shared: &Shared,
    model: &mut dyn Dispatch,
    state: &mut LoopState,
) -> bool {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if is_per_connection(&e) => {
                debug!(error = %e, "accept: connection failed before it was accepted");
                continue;
            }
            Err(e) => {
                shared.stats.accept_error();
                if !state.error_logged {
                    warn!(error = %e, "accept failed; pausing new connections briefly (existing ones are unaffected)");
                    state.error_logged = true;
                }
                return false;
            }
        };
        state.error_logged = false;
        let config = &shared.config;
        if let Some(proxy) = &config.proxy {
            if !proxy.allows(peer.ip()) {
                shared.proxy_refused(peer, ProxyRefusal::NotAllowed);
                drop(stream);
                continue;
            }
        }
        let max = config.max_connections;
        let active = shared.stats.active();
        if active >= max {
            let refused = state.refusing.get_or_insert_with(|| {
                warn!(
                    max,
                    "connection limit reached; refusing new connections until a slot frees"
                );
                0
            });
            *refused += 1;
            shared.stats.rejected(Refusal::MaxConnections);
            refuse(
                stream,
                peer,
                shout_common::busy_line(active),
                shared,
                model,
                state,
            );
            continue;
        }
        // With the PROXY protocol the per-address cap applies to the header's address, once
        // the model has read it.
        let mut held = Held::served();
        if config.proxy.is_none() {
            if let Some(line) = shared.acquire_per_ip(peer) {
                shared.stats.rejected(Refusal::MaxConnectionsPerIp);
                refuse(stream, peer, line, shared, model, state);
                continue;
            }
            held.ip = Some(peer.ip());
        }
        if let Some(refused) = state.refusing.take() {
            info!(
                refused,
                "below the connection limit again; serving new connections"
            );
        }
        shared.stats.opened();
        state.next_id += 1;
        model.dispatch(stream, peer, state.next_id, held);
    }
}

/// Gives the model the connections an upgrade's old process handed over: each counts as
/// active and takes its per-address slot again, beyond the caps (it held them there).
fn adopt_all(shared: &Shared, model: &mut dyn Dispatch, state: &mut LoopState) {
    for moved in shared.take_adopted() {
        let mut held = Held::served();
        shared.per_ip.acquire(moved.peer.ip());
        held.ip = Some(moved.peer.ip());
        shared.stats.opened();
        state.next_id += 1;
        model.adopt(moved, state.next_id, held);
    }
}

/// Refuses a connection over a cap with the busy `line`. In plaintext: sent now, then closed
/// without a reset (see [`close_after_answer`]). Over TLS it can only go after the handshake,
/// so the model sends it, to at most `MAX_TLS_REFUSALS` at once; others are closed now.
fn refuse(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    line: String,
    shared: &Shared,
    model: &mut dyn Dispatch,
    state: &mut LoopState,
) {
    if shared.config.tls.is_some() {
        if shared.begin_tls_refusal() {
            state.next_id += 1;
            model.dispatch(stream, peer, state.next_id, Held::refused(line));
        }
        return;
    }
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(line.as_bytes());
    close_after_answer(&mut stream);
}
