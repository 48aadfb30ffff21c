//! What `shoutd` does at each signal (docs/server.md's table of signals says the same), from a
//! thread of its own:
//!
//! - `SIGTERM`, `SIGINT`: graceful shutdown, logged; a second one exits at once with 128 + its
//!   number, as shells report a death by signal.
//! - `SIGHUP`: certificate renewal: `--tls-cert`, `--tls-key` and `--tls-client-ca` are read
//!   again and new handshakes use them ([`reload_tls`]); without TLS it logs that there is
//!   nothing to reload.
//! - `SIGUSR1`: logs the server's counters (one `stats` line); serving goes on.
//! - `SIGUSR2`: upgrade in place ([`Upgrader`]); during a shutdown it is logged and ignored.
//! - `SIGPIPE` is ignored by the Rust runtime: a broken pipe is an error on that write only.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use tracing::{error, info, warn};

use crate::lifecycle::Reload;
use crate::logging;
use crate::renew::{expires_soon, leaf_expiry, TlsFiles};
use crate::server::Handle;
use crate::systemd;
use crate::upgrade::Upgrader;

/// Starts the thread that handles signals for the server behind `handle`; `tls` are the TLS
/// files it was started with (`None`: plaintext).
pub fn watch(handle: Handle, tls: Option<TlsFiles>, upgrader: Arc<Upgrader>) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])
            .context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut stopping = false;
            for signal in signals.forever() {
                let name = signal_hook::low_level::signal_name(signal).unwrap_or("signal");
                match signal {
                    SIGUSR1 => log_stats(&handle, name),
                    SIGUSR2 if !stopping => upgrader.start(),
                    SIGUSR2 => info!(signal = name, "shutting down: no upgrade"),
                    SIGHUP if !stopping => reload_tls(&handle, tls.as_ref()),
                    SIGHUP => info!(signal = name, "shutting down: nothing to reload"),
                    _ if stopping => {
                        warn!(signal = name, "second signal: exiting at once");
                        logging::flush();
                        std::process::exit(128 + signal);
                    }
                    _ => {
                        stopping = true;
                        systemd::stopping("draining connections");
                        upgrader.cancel();
                        info!(
                            signal = name,
                            "signal received: shutting down gracefully (again to exit at once)"
                        );
                        handle.shutdown();
                    }
                }
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// The `stats:` line of `SIGUSR1`.
fn log_stats(handle: &Handle, signal: &str) {
    let s = handle.stats();
    info!(
        signal,
        active = s.active,
        accepted = s.accepted,
        rejected = s.rejected,
        bytes_in = s.bytes_in,
        bytes_out = s.bytes_out,
        log_lines_dropped = logging::dropped(),
        "stats: {s}"
    );
}

/// At start: records the expiry of the certificate the server was started with, and warns if
/// it is near.
pub fn tls_started(handle: &Handle, tls: Option<&TlsFiles>) {
    // The files were loaded to build the configuration; only the expiry is read here.
    if let Some(files) = tls {
        note_expiry(handle, files, leaf_expiry(&files.cert));
    }
}

/// `SIGHUP`: reads the TLS files again. New handshakes use them; established connections keep
/// theirs. A file that fails to load keeps the previous settings, with one error line.
pub fn reload_tls(handle: &Handle, tls: Option<&TlsFiles>) {
    let Some(files) = tls else {
        info!(
            signal = "SIGHUP",
            "nothing to reload: shoutd was started without TLS"
        );
        return;
    };
    systemd::reloading("reloading the TLS certificates");
    let result = files.load();
    systemd::ready(match result {
        Ok(_) => "serving; TLS certificates reloaded",
        Err(_) => "serving; TLS reload failed, the previous certificates in use",
    });
    match result {
        Ok(loaded) => {
            handle.replace_tls(loaded.tls);
            handle.lifecycle().reloaded(Reload::Ok);
            note_expiry(handle, files, loaded.expiry);
            info!(
                signal = "SIGHUP",
                cert = %files.cert.display(),
                "TLS certificates reloaded: new handshakes use them"
            );
        }
        Err(e) => {
            handle.lifecycle().reloaded(Reload::Error);
            error!(
                signal = "SIGHUP",
                "TLS reload failed, the previous certificates stay in use: {e}"
            );
        }
    }
}

/// Records `expiry` for `/metrics` and warns if it is within the warning window.
fn note_expiry(handle: &Handle, files: &TlsFiles, expiry: Option<i64>) {
    handle.lifecycle().set_expiry(expiry);
    if let Some(expiry) = expiry.filter(|&t| expires_soon(t, SystemTime::now())) {
        warn!(
            cert = %files.cert.display(),
            not_after = expiry,
            "the TLS certificate expires within 14 days (or has expired): renew it, then SIGHUP"
        );
    }
}
