//! The metrics endpoint at its edges, on the real binary: a flood that keeps its slots freeing
//! and filling is logged once per burst (not a line per `503` and per freed slot), and a
//! request target in absolute form (`GET http://host/metrics`) is served.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use shout_tests::http::response;
use shout_tests::*;

/// The metrics endpoint's connections served at once (`SLOTS` in
/// `server/src/metrics/endpoint.rs`).
const SLOTS: usize = 16;

/// Sends a whole `GET` of `target` on a new connection to `addr` and returns its status.
fn status_of(addr: SocketAddr, target: &str) -> u16 {
    let mut stream = connect(addr);
    stream
        .write_all(format!("GET {target} HTTP/1.1\r\nHost: shout\r\n\r\n").as_bytes())
        .expect("send the request");
    response(&mut stream).status
}

/// shoutd with its metrics on a port of their own; returns it and the metrics address.
fn shoutd_with_metrics() -> (Shoutd, SocketAddr) {
    let metrics = free_port_addr();
    let shoutd = Shoutd::start(&["--metrics-listen", &metrics.to_string()]);
    (shoutd, metrics)
}

/// Slots full of silent connections; then, twenty times, a scrape displaces the oldest (a
/// `503`), is answered (a slot frees) and a new silent connection takes the slot. Before, that
/// was a warning per `503` and a line per freed slot (40 lines); now it is one line for the
/// burst.
#[test]
fn busy_metrics_endpoint_logs_once_per_burst() {
    let (shoutd, metrics) = shoutd_with_metrics();
    let mut silent: Vec<TcpStream> = (0..SLOTS).map(|_| connect(metrics)).collect();
    for _ in 0..20 {
        assert_eq!(status_of(metrics, "/metrics"), 200);
        silent.push(connect(metrics));
    }
    // The last silent connection is admitted before this request (accepted in order).
    assert_eq!(status_of(metrics, "/metrics"), 200);
    shoutd.signal(rustix::process::Signal::USR1);
    let lines = shoutd.log_until("stats:");
    let about_busy: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("metrics") && !l.contains("stats:"))
        .collect();
    assert_eq!(about_busy.len(), 1, "{about_busy:#?}");
    assert!(
        about_busy[0].contains("too many metrics requests at once"),
        "{about_busy:#?}"
    );
    drop(silent);
}

/// `GET http://host/metrics` (the absolute form of RFC 9112, as some proxies send it) is a
/// scrape; another path in absolute form is still a 404.
#[test]
fn absolute_form_target_is_served() {
    let (_shoutd, metrics) = shoutd_with_metrics();
    assert_eq!(
        status_of(metrics, &format!("http://{metrics}/metrics")),
        200
    );
    assert_eq!(status_of(metrics, "HTTP://shout/metrics?x=1"), 200);
    assert_eq!(status_of(metrics, &format!("http://{metrics}/other")), 404);
}
