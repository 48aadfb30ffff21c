//! shoutd as a daemon, around the [`Server`]: where its listeners come from (the old process
//! of an upgrade, socket activation, or binding `--listen`), the PID file, readiness (to
//! systemd, or to the old process), the signals, and upgrades.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tracing::{error, info};

use crate::config::Config;
use crate::handover::{self, Channel, UPGRADE_ENV};
use crate::pidfile::PidFile;
use crate::renew::TlsFiles;
use crate::server::{Handle, Server};
use crate::signals;
use crate::sync::lock;
use crate::systemd;
use crate::upgrade::{Upgrader, READY_WITHIN};

/// What shoutd does besides serving `Config`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The TLS files, read again at `SIGHUP` (`None`: plaintext).
    pub tls: Option<TlsFiles>,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
}

/// Serves `config` until a signal stops it (or an upgrade hands over); then drains.
pub fn run(config: Config, options: Options) -> anyhow::Result<()> {
    let (mut server, channel) = match take_over()? {
        Some((channel, listeners)) => {
            let server = Server::with_listeners(config, listeners.listeners, listeners.metrics)?;
            (server, Some(channel))
        }
        None => (listen(config)?, None),
    };
    let addrs: Vec<String> = server
        .local_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let status = format!("serving on {}", addrs.join(", "));
    let pid_file: Arc<Mutex<Option<PidFile>>> = Arc::default();
    match channel {
        None => {
            if let Some(path) = &options.pid_file {
                *lock(&pid_file) = Some(PidFile::write(path)?);
            }
            server.on_ready(move || systemd::ready(&status));
        }
        Some(channel) => {
            let path = options.pid_file.clone();
            let written = Arc::clone(&pid_file);
            let handle = server.handle();
            server.on_ready(move || {
                if let Some(path) = path {
                    match PidFile::write(&path) {
                        Ok(file) => *lock(&written) = Some(file),
                        Err(e) => error!("upgrade: {e}"),
                    }
                }
                if let Err(e) = handover::send_ready(&channel) {
                    error!(error = %e, "upgrade: cannot tell the old process that this one serves");
                }
                systemd::took_over(&status);
                let adopting = std::thread::Builder::new()
                    .name("adopt".into())
                    .spawn(move || adopt_connections(&channel, &handle));
                if let Err(e) = adopting {
                    error!(error = %e, "upgrade: cannot take connections over");
                }
            });
        }
    }
    let upgrader = Arc::new(Upgrader::new(&server).context("cannot prepare for upgrades")?);
    signals::tls_started(&server.handle(), options.tls.as_ref());
    signals::watch(server.handle(), options.tls, Arc::clone(&upgrader))?;
    let result = server.run();
    upgrader.join();
    result.context("server failed")?;
    if let Some(file) = lock(&pid_file).take() {
        file.remove();
    }
    Ok(())
}

/// Serves the connections the old process hands over, until it closes the channel (it has
/// handed over or drained every connection, and exited).
fn adopt_connections(channel: &Channel, handle: &Handle) {
    let mut adopted = 0u64;
    loop {
        match channel.recv() {
            Ok(Some((record, fds))) if handover::is_connection(&record) => {
                match handover::parse_connection(&record, fds) {
                    Ok(moved) => {
                        handle.adopt(moved);
                        adopted += 1;
                    }
                    Err(e) => error!("upgrade: {e}; that connection is closed"),
                }
            }
            Ok(Some((message, _))) => {
                error!(message = %message.trim_end(), "upgrade: unexpected message from the old process; ignored");
            }
            Ok(None) => break,
            Err(e) => {
                error!(error = %e, "upgrade: the channel to the old process failed");
                break;
            }
        }
    }
    info!(
        connections = adopted,
        "upgrade: connections taken over from the old process"
    );
}

/// The listeners of an upgrade's old process, if this process is the new one.
fn take_over() -> anyhow::Result<Option<(Channel, handover::Listeners)>> {
    let Some(name) = std::env::var_os(UPGRADE_ENV) else {
        return Ok(None);
    };
    // A process this one starts later (its own upgrade) gets a name of its own.
    std::env::remove_var(UPGRADE_ENV);
    let name = name.to_string_lossy();
    let context = || format!("upgrade: cannot take over from the old process (channel {name})");
    let channel = Channel::connect(&name).with_context(context)?;
    channel
        .set_timeout(Some(READY_WITHIN))
        .with_context(context)?;
    let listeners = handover::recv_listeners(&channel).with_context(context)?;
    channel.set_timeout(None).with_context(context)?;
    info!(
        listeners = listeners.listeners.len(),
        metrics = listeners.metrics.len(),
        "upgrade: listeners taken over from the old process"
    );
    Ok(Some((channel, listeners)))
}

/// A server on the sockets of socket activation, or else on `config.listen`.
fn listen(config: Config) -> anyhow::Result<Server> {
    match systemd::activated_listeners().context("socket activation")? {
        Some(activated) => {
            let names: Vec<&str> = activated.iter().map(|(_, name)| name.as_str()).collect();
            info!(
                sockets = names.join(","),
                "socket activation: serving the sockets passed by the service manager; --listen is not bound"
            );
            let listeners = activated.into_iter().map(|(l, _)| l).collect();
            Ok(Server::serve_on(config, listeners)?)
        }
        None => Ok(Server::bind(config)?),
    }
}
