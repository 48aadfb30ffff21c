//! The Prometheus side of `--metrics-listen`: a collector that encodes the server's live
//! counters ([`Stats`](crate::stats::Stats)) and settings in the text format at each scrape,
//! names prefixed `shout_`, so the hot path only updates its own atomics.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::config::Model;
use crate::lifecycle::Lifecycle;
use crate::logging;
use crate::shared::Shared;
use crate::stats::{CloseReason, Refusal, Snapshot};

/// The registry behind `/metrics`: every metric is read from the server's counters at scrape
/// time, so the hot path only updates its own atomics.
pub(crate) fn registry(shared: &Arc<Shared>, workers: usize) -> Registry {
    let mut registry = Registry::with_prefix("shout");
    registry.register_collector(Box::new(ShoutCollector {
        shared: Arc::clone(shared),
        workers,
    }));
    registry
}

struct ShoutCollector {
    shared: Arc<Shared>,
    workers: usize,
}

impl fmt::Debug for ShoutCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShoutCollector").finish_non_exhaustive()
    }
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn labelled_counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for &(value, n) in values {
        let labels = [(label, value)];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge's value from a count (counts beyond `i64` cannot happen; they would read as the
/// largest value).
fn as_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for ShoutCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = self.shared.stats.snapshot();
        self.encode_connections(&mut enc, &s)?;
        encode_setup(&mut enc, &s)?;
        encode_traffic(&mut enc, &s)?;
        encode_lifecycle(&mut enc, &self.shared)?;
        self.encode_process(&mut enc, &s)
    }
}

impl ShoutCollector {
    /// Connections now, at the limit, accepted, refused and closed.
    fn encode_connections(&self, enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
        let config = &self.shared.config;
        gauge(
            enc,
            "connections_active",
            "Connections being served now.",
            as_i64(s.active),
        )?;
        gauge(
            enc,
            "connections_max",
            "The connection limit (--max-connections, fitted to the open-file limit).",
            as_i64(config.max_connections),
        )?;
        counter(
            enc,
            "connections_accepted",
            "Connections accepted and served.",
            s.accepted,
        )?;
        labelled_counters(
            enc,
            "connections_rejected",
            "Connections refused with the busy line, by the limit that refused them.",
            "reason",
            &[
                (
                    Refusal::MaxConnections.as_str(),
                    s.rejected - s.rejected_per_ip,
                ),
                (Refusal::MaxConnectionsPerIp.as_str(), s.rejected_per_ip),
            ],
        )?;
        let closed: Vec<(&str, u64)> = s.closed.iter().map(|&(r, n)| (r.as_str(), n)).collect();
        labelled_counters(
            enc,
            "connections_closed",
            "Connections closed, by reason.",
            "reason",
            &closed,
        )
    }

    /// Errors, lost log lines, threads and the build: the server as a process.
    fn encode_process(&self, enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
        let config = &self.shared.config;
        labelled_counters(
            enc,
            "errors",
            "Errors by kind: failed accepts, connections reset by peers, other I/O errors.",
            "kind",
            &[
                ("accept", s.accept_errors),
                ("connection_reset", s.closed(CloseReason::Reset)),
                ("connection_io", s.closed(CloseReason::Error)),
            ],
        )?;
        counter(
            enc,
            "log_lines_dropped",
            "Log lines lost because stderr failed, stalled or could not keep up.",
            logging::dropped(),
        )?;
        gauge(
            enc,
            "workers",
            "Threads serving connections: pool workers, or one per active connection.",
            match config.model {
                Model::Pool => as_i64(self.workers),
                Model::Threads => as_i64(s.active),
            },
        )?;
        let info = ConstGauge::new(1i64);
        let mut family = enc.encode_descriptor(
            "build_info",
            "Version and settings of this shoutd (always 1).",
            None,
            info.metric_type(),
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("model", config.model.as_str()),
            ("mode", config.mode.as_str()),
        ];
        info.encode(family.encode_family(&labels)?)
    }
}

/// TLS handshakes and PROXY protocol refusals, by result and reason.
fn encode_setup(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let handshakes: Vec<(&str, u64)> = s.handshakes.iter().map(|&(h, n)| (h.as_str(), n)).collect();
    labelled_counters(
        enc,
        "tls_handshakes",
        "TLS handshakes, by result (ok, no_client_cert, bad_client_cert, timeout, aborted, error).",
        "result",
        &handshakes,
    )?;
    let proxy: Vec<(&str, u64)> = s
        .proxy_rejected
        .iter()
        .map(|&(r, n)| (r.as_str(), n))
        .collect();
    labelled_counters(
        enc,
        "proxy_rejected",
        "Connections closed for the PROXY protocol: not from --proxy-from, an invalid header, or none in time.",
        "reason",
        &proxy,
    )
}

/// Bytes and lines each way, counted as they move.
fn encode_traffic(enc: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    counter(
        enc,
        "received_bytes",
        "Bytes received from clients.",
        s.bytes_in,
    )?;
    counter(enc, "sent_bytes", "Bytes sent to clients.", s.bytes_out)?;
    counter(
        enc,
        "received_lines",
        "Newlines received from clients.",
        s.lines_in,
    )
}

/// Certificate reloads and expiry (with TLS only), and upgrades in place: the server as a
/// process that lives through renewals and upgrades.
fn encode_lifecycle(enc: &mut DescriptorEncoder, shared: &Shared) -> fmt::Result {
    let lifecycle: &Lifecycle = &shared.lifecycle;
    if shared.config.tls.is_some() {
        let reloads = lifecycle.reloads().map(|(r, n)| (r.as_str(), n));
        labelled_counters(
            enc,
            "tls_reloads",
            "Certificate reloads at SIGHUP, by result (ok, error: the previous files stay in use).",
            "result",
            &reloads,
        )?;
        if let Some(expiry) = lifecycle.expiry() {
            gauge(
                enc,
                "tls_certificate_expiry_timestamp_seconds",
                "When the certificate in use (the leaf of --tls-cert) expires: its notAfter, Unix seconds.",
                expiry,
            )?;
        }
    }
    let upgrades = lifecycle.upgrades().map(|(u, n)| (u.as_str(), n));
    labelled_counters(
        enc,
        "upgrades",
        "Upgrades in place started by this process at SIGUSR2, by result (ok, error, exited, timeout).",
        "result",
        &upgrades,
    )
}
