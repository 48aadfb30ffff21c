//! Observability: Prometheus metrics for `--metrics-listen` (text format at `/metrics`, names
//! prefixed `shout_`, encoded by prometheus-client from the live [`Stats`](crate::stats::Stats)
//! at each scrape), served over HTTP by [`Endpoint`] (in `endpoint.rs`), and the periodic
//! one-line summary of `--stats-interval`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tracing::info;

use crate::server::Shared;
use crate::stats::{CloseReason, Refusal, Snapshot};

mod endpoint;

pub(crate) use endpoint::Endpoint;

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

impl Collector for ShoutCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = self.shared.stats.snapshot();
        let config = &self.shared.config;
        let as_i64 = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        gauge(
            &mut enc,
            "connections_active",
            "Connections being served now.",
            as_i64(s.active),
        )?;
        gauge(
            &mut enc,
            "connections_max",
            "The connection limit (--max-connections, fitted to the open-file limit).",
            as_i64(config.max_connections),
        )?;
        counter(
            &mut enc,
            "connections_accepted",
            "Connections accepted and served.",
            s.accepted,
        )?;
        labelled_counters(
            &mut enc,
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
            &mut enc,
            "connections_closed",
            "Connections closed, by reason.",
            "reason",
            &closed,
        )?;
        counter(
            &mut enc,
            "received_bytes",
            "Bytes received from clients.",
            s.bytes_in,
        )?;
        counter(
            &mut enc,
            "sent_bytes",
            "Bytes sent to clients.",
            s.bytes_out,
        )?;
        counter(
            &mut enc,
            "received_lines",
            "Newlines received from clients.",
            s.lines_in,
        )?;
        labelled_counters(
            &mut enc,
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
            &mut enc,
            "log_lines_dropped",
            "Log lines lost because stderr failed, stalled or could not keep up.",
            crate::logging::dropped(),
        )?;
        gauge(
            &mut enc,
            "workers",
            "Threads serving connections: pool workers, or one per active connection.",
            match config.model {
                crate::Model::Pool => as_i64(self.workers),
                crate::Model::Threads => as_i64(s.active),
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

/// The periodic one-line summary of `--stats-interval`.
pub(crate) struct StatsLog {
    interval: Duration,
    next: Instant,
    last: Snapshot,
    last_at: Instant,
}

impl StatsLog {
    pub(crate) fn new(interval: Duration, now: Snapshot) -> StatsLog {
        let at = Instant::now();
        StatsLog {
            interval,
            next: at + interval,
            last: now,
            last_at: at,
        }
    }

    /// When the next line is due.
    pub(crate) fn next(&self) -> Instant {
        self.next
    }

    /// Logs a line if one is due.
    pub(crate) fn tick(&mut self, shared: &Shared) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        let s = shared.stats.snapshot();
        let secs = now.duration_since(self.last_at).as_secs_f64().max(1e-9);
        let rate = |new: u64, old: u64| ((new.saturating_sub(old)) as f64 / secs).round() as u64;
        info!(
            active = s.active,
            accepted_per_s = rate(s.accepted, self.last.accepted),
            rejected_per_s = rate(s.rejected, self.last.rejected),
            msgs_per_s = rate(s.lines_in, self.last.lines_in),
            bytes_in_per_s = rate(s.bytes_in, self.last.bytes_in),
            bytes_out_per_s = rate(s.bytes_out, self.last.bytes_out),
            "stats"
        );
        self.last = s;
        self.last_at = now;
        self.next = now + self.interval;
    }
}
