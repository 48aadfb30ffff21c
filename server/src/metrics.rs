//! Observability: Prometheus metrics for `--metrics-listen` (text format at `/metrics`, names
//! prefixed `shout_`, encoded by prometheus-client from the live [`Stats`](crate::stats::Stats)
//! at each scrape), the minimal HTTP responder that serves them, and the periodic one-line
//! summary of `--stats-interval`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tracing::{debug, info, warn};

use crate::server::Shared;
use crate::stats::{CloseReason, Refusal, Snapshot};

/// How long a scrape may take to send its request or receive the answer.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest request head accepted from a scraper.
const MAX_REQUEST: usize = 8 * 1024;

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

/// Scrapes served at once per server; more are closed at once. Prometheus scrapes one at a
/// time, so 4 leave room for a few humans with curl while silent connections cannot pile up
/// threads.
const MAX_SCRAPES: usize = 4;

/// The metrics endpoint: its listener, the registry, and the scrapes in progress.
pub(crate) struct Endpoint {
    listener: TcpListener,
    registry: Arc<Registry>,
    in_flight: Arc<AtomicUsize>,
}

impl Endpoint {
    pub(crate) fn new(listener: TcpListener, registry: Registry) -> Endpoint {
        Endpoint {
            listener,
            registry: Arc::new(registry),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Serves every pending request, each on a short-lived thread (a slow scraper must not
    /// hold up accepting), at most [`MAX_SCRAPES`] at once.
    pub(crate) fn accept_all(&self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if crate::accept::is_per_connection(&e) => continue,
                Err(e) => {
                    warn!(error = %e, "metrics accept failed");
                    return;
                }
            };
            if self.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_SCRAPES {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                debug!("too many metrics requests at once; closing one");
                continue;
            }
            let registry = Arc::clone(&self.registry);
            let in_flight = Arc::clone(&self.in_flight);
            let spawned = thread::Builder::new()
                .name("metrics".into())
                .spawn(move || {
                    // The listener is non-blocking; the scrape is served blocking.
                    let _ = stream.set_nonblocking(false);
                    serve_scrape(stream, &registry);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            if let Err(e) = spawned {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                warn!(error = %e, "cannot start a thread for a metrics request");
            }
        }
    }
}

/// Answers one HTTP request on `stream`: `GET /metrics` gets the metrics, anything else a
/// 404 (or 405 for other methods). Bounded: 8 KiB of request head, 2 s each way.
fn serve_scrape(mut stream: TcpStream, registry: &Registry) {
    let _ = stream.set_read_timeout(Some(SCRAPE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(SCRAPE_TIMEOUT));
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = head
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
    let (status, content_type, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    body,
                ),
                Err(_) => (
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding failed\n".into(),
                ),
            }
        }
        (b"GET", _) => (
            "404 Not Found",
            "text/plain",
            "metrics are at /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    debug!(status, "metrics request");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
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
