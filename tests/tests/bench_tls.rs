//! `shout bench` over TLS: against shoutd with TLS every answer is checked and the report
//! counts one handshake per connection, with its latencies apart from the messages'; mutual
//! TLS with `--tls-cert/--tls-key`; a server certificate the bench does not trust fails every
//! connection with the reason (exit 2); `--reconnect` reopens TLS connections the server
//! closes; and each connection ends with close_notify (seen by a rustls echo server here).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::{ServerConnection, StreamOwned};
use shout_client::bench::failure::Reason;
use shout_server::Config;
use shout_tests::bench::{
    assert_clean, bench_args, exclusive_cores, run_bench, shared_cores, spawn_bench,
};
use shout_tests::tls::{tls_server, Certs};
use shout_tests::*;

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

model_tests! {
/// 10 TLS connections, 4 messages in flight each, 5,000 messages: every answer exact, one
/// handshake per connection in the counts, the table and the JSON, and the message latency
/// kept apart from the handshake's.
fn bench_over_tls(model) {
    let _cores = shared_cores();
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let report = run_bench(
        &[server.addr],
        &["--tls-ca", path(&certs.ca_file), "-c", "10", "-p", "4", "-n", "5000"],
    );
    assert_clean(&report, 10);
    let c = report.counts();
    assert_eq!((c.sent, c.completed), (5000, 5000), "{c:?}");
    assert_eq!(c.bytes_in, 5000 * 64, "{c:?}");
    assert_eq!((c.handshakes, c.handshake_failures), (10, 0), "{c:?}");
    assert_eq!(report.hists().handshake.len(), 10);
    assert_eq!(report.hists().corrected.len(), 5000, "messages apart from handshakes");
    let json = report.json();
    let tls = &json["tls"];
    assert_eq!(tls["handshakes"], 10, "{tls}");
    assert_eq!(tls["failures"], 0, "{tls}");
    assert!(tls["per_s"].as_f64().is_some_and(|r| r > 0.0), "{tls}");
    let lat = &tls["latency_us"];
    let (p50, p99, max) = (&lat["p50"], &lat["p99"], &lat["max"]);
    let num = |v: &serde_json::Value| v.as_u64().expect("a number");
    assert!(0 < num(p50) && num(p50) <= num(p99) && num(p99) <= num(max), "{tls}");
    assert_eq!(json["config"]["tls"], true);
    assert_eq!(json["series"].as_array().map(|s| s.iter().map(|x| num(&x["handshakes"])).sum::<u64>()), Some(10));
    let table = report.table();
    assert!(table.contains("TLS           handshakes 10  failed 0"), "{table}");
    let stats = server.stop();
    assert_eq!(stats.accepted, 10);
    assert_eq!(stats.handshakes(shout_server::Handshake::Ok), 10);
}

/// Mutual TLS: with `--tls-cert/--tls-key` from the client CA the run is clean; without a
/// client certificate the server refuses every connection, and the report says why.
fn mutual_tls(model) {
    let _cores = shared_cores();
    let certs = Certs::new();
    let server = TestServer::start(Config {
        model,
        tls: Some(certs.server_config(true)),
        ..Config::default()
    });
    let ca = path(&certs.ca_file);
    let report = run_bench(
        &[server.addr],
        &[
            "--tls-ca", ca,
            "--tls-cert", path(&certs.client.cert_file),
            "--tls-key", path(&certs.client.key_file),
            "-c", "4", "-n", "400",
        ],
    );
    assert_clean(&report, 4);
    assert_eq!(report.counts().handshakes, 4);

    // TLS 1.3: the server checks the certificate after the client has finished its part of
    // the handshake, so the refusal comes as an alert once the handshake looks complete: it
    // is a failed handshake (connections could not be set up, exit code 2), not a handshake
    // counted as a success and a connection lost in use.
    let report = run_bench(&[server.addr], &["--tls-ca", ca, "-c", "2", "-n", "20", "--timeout", "3s"]);
    let c = report.counts();
    let table = report.table();
    assert_eq!(report.exit_code(), 2, "{c:?}\n{table}");
    assert_eq!(c.completed, 0, "answered without a certificate: {c:?}");
    assert_eq!((c.handshakes, c.handshake_failures), (0, 2), "{c:?}");
    assert_eq!((c.opened, c.connect_failures, c.setup_failures, c.conn_errors), (0, 2, 2, 0), "{c:?}");
    let reason = Reason::Tls("TLS handshake failed: received fatal alert: CertificateRequired".to_owned());
    assert_eq!(report.failures().connect.get(&reason), 2, "{table}");
    assert!(table.contains("TLS           handshakes 0  failed 2"), "{table}");
    assert!(table.contains("--tls-cert FILE"), "the hint: {table}");
}

/// A server certificate from a CA the bench does not trust: every connection fails its
/// handshake, counted as a connect failure with rustls' reason and a hint, exit code 2.
fn untrusted_server_fails_to_connect(model) {
    let _cores = shared_cores();
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let report = run_bench(
        &[server.addr],
        &["--tls-ca", path(&certs.client_ca_file), "-c", "3", "-n", "30"],
    );
    let c = report.counts();
    assert_eq!(report.exit_code(), 2, "{c:?}");
    assert_eq!((c.connect_failures, c.setup_failures, c.handshake_failures), (3, 3, 3), "{c:?}");
    assert_eq!((c.opened, c.handshakes, c.sent), (0, 0, 0), "{c:?}");
    let reason = Reason::Tls(
        "TLS handshake failed: invalid peer certificate: UnknownIssuer".to_owned(),
    );
    assert_eq!(report.failures().connect.get(&reason), 3, "{}", report.table());
    let json = report.json();
    assert_eq!(json["tls"]["failures"], 3, "{json}");
    assert_eq!(
        json["errors"]["connect_failure_reasons"]["TLS handshake failed: invalid peer certificate: UnknownIssuer"],
        3
    );
    assert!(report.table().contains("give its CA with --tls-ca"), "{}", report.table());
}

/// `--reconnect` over TLS: a server that closes connections idle for 200 ms, a rate that
/// leaves each connection idle longer between its messages: connections are closed and
/// reopened with a new handshake each, and every message gets its exact answer.
fn reconnect_over_tls(model) {
    let _cores = shared_cores();
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config {
        idle_timeout: Some(Duration::from_millis(200)),
        ..Config::default()
    });
    let report = run_bench(
        &[server.addr],
        &["--tls-ca", path(&certs.ca_file), "-c", "3", "--rate", "6", "-d", "2s", "--reconnect"],
    );
    let c = *report.counts();
    assert_eq!(report.exit_code(), 0, "{c:?}\n{}", report.table());
    assert!(c.reopened > 0, "{c:?}");
    assert_eq!(c.handshakes, c.opened, "a handshake per connection opened: {c:?}");
    assert_eq!(c.opened, 3 + c.reopened, "{c:?}");
    assert_eq!((c.mismatches, c.short, c.timeouts, c.setup_failures), (0, 0, 0, 0), "{c:?}");
    assert_eq!(c.completed, c.sent - c.resent, "{c:?}");
    assert_eq!(c.sent - c.resent, 12, "{c:?}");
    assert!(c.conn_errors >= c.reopened, "{c:?}");
}
}

model_tests! {
/// `--reconnect` over TLS through a graceful restart on the same port: the bench reopens
/// each connection with a new handshake on the new server, and the run passes.
fn reconnect_through_restart_over_tls(model) {
    let _cores = exclusive_cores();
    let certs = Certs::new();
    let config = Config {
        model,
        tls: Some(certs.server_config(false)),
        ..Config::default()
    };
    let first = TestServer::start(config.clone());
    let addr = first.addr;
    let opts = ["--tls-ca", path(&certs.ca_file), "-c", "5", "-d", "3s", "-p", "4", "--timeout", "3s", "--reconnect"];
    let bench = spawn_bench(bench_args(&[addr], &opts));
    // Every handshake complete (the server's part ends after the client's): a connection
    // stopped in mid-handshake would be a set-up failure, not a connection to reopen.
    first.wait_for("the bench's connections", |s| {
        s.active == 5 && s.handshakes(shout_server::Handshake::Ok) == 5
    });
    first.stop();
    let second = TestServer::start_on(config, addr);
    let report = join_within(bench, TIMEOUT * 2).expect("the bench runs");
    second.stop();
    let c = *report.counts();
    assert_eq!(report.exit_code(), 0, "{c:?}\n{}", report.table());
    assert!(c.reopened >= 5, "{c:?}");
    assert_eq!(c.handshakes, c.opened, "{c:?}");
    assert_eq!((c.mismatches, c.short, c.timeouts, c.setup_failures), (0, 0, 0, 0), "{c:?}");
    assert_eq!(c.completed, c.sent - c.resent, "{c:?}");
    // How each connection ended depends on the race between the server's stop and the
    // bench's sends (close_notify, or a reset when the server closed with input unread): the
    // clean case is checked against a server that waits for the bench's end, below.
    assert!(c.conn_errors >= c.reopened, "each closed connection reopened while the run lasted: {c:?}");
}
}

/// Without TLS the JSON report's `tls` is null, and the table has no TLS line.
#[test]
fn plaintext_has_no_tls_figures() {
    let _cores = shared_cores();
    let server = TestServer::default_config();
    let report = run_bench(&[server.addr], &["-c", "2", "-n", "100"]);
    assert_clean(&report, 2);
    assert!(report.json()["tls"].is_null());
    assert_eq!(report.counts().handshakes, 0);
    assert!(!report.table().contains("handshakes"), "{}", report.table());
}

/// A TLS echo server (rustls, a thread per connection) that counts how connections end: with
/// the client's close_notify, or without.
struct EchoServer {
    addr: SocketAddr,
    clean: Arc<AtomicU64>,
    unclean: Arc<AtomicU64>,
}

impl EchoServer {
    /// `close_after`: end each connection itself (close_notify) after echoing that many reads.
    fn start(certs: &Certs, close_after: Option<u32>) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("an address");
        let config = certs.server_config(false).rustls().clone();
        let clean = Arc::new(AtomicU64::new(0));
        let unclean = Arc::new(AtomicU64::new(0));
        let (c, u) = (clean.clone(), unclean.clone());
        thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                let (config, c, u) = (config.clone(), c.clone(), u.clone());
                thread::spawn(move || {
                    let counter = match echo(sock, config, close_after) {
                        Ok(()) => c,
                        Err(_) => u,
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        EchoServer {
            addr,
            clean,
            unclean,
        }
    }
}

/// Echoes until the client's close_notify (`Ok`), then sends its own; an error if the
/// connection ends any other way. With `close_after`, sends close_notify after that many reads
/// and then reads (and drops) until the client's end, so it never closes with input unread.
fn echo(
    sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    close_after: Option<u32>,
) -> io::Result<()> {
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.set_write_timeout(Some(TIMEOUT))?;
    let conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, sock);
    let mut buf = [0u8; 16 * 1024];
    let mut reads = 0;
    loop {
        // Ok(0) only after close_notify; the end of TCP without it is UnexpectedEof.
        let n = tls.read(&mut buf)?;
        if n == 0 {
            tls.conn.send_close_notify();
            tls.flush()?;
            return Ok(());
        }
        tls.write_all(&buf[..n])?;
        tls.flush()?;
        reads += 1;
        if close_after == Some(reads) {
            tls.conn.send_close_notify();
            tls.flush()?;
            // The client closes when it sees it; whatever it sent meanwhile is dropped.
            let mut sock = &tls.sock;
            while sock.read(&mut buf)? > 0 {}
            return Ok(());
        }
    }
}

/// At the end of the run every connection sends close_notify before its TCP half-close, and
/// the bench waits for the server's in reply: a clean end on both sides.
#[test]
fn ends_every_connection_with_close_notify() {
    let _cores = shared_cores();
    let certs = Certs::new();
    let echo = EchoServer::start(&certs, None);
    let report = run_bench(
        &[echo.addr],
        &[
            "--tls-ca",
            path(&certs.ca_file),
            "--mode",
            "echo",
            "-c",
            "5",
            "-p",
            "2",
            "-n",
            "1000",
        ],
    );
    assert_clean(&report, 5);
    wait_until("the echo server to see every connection end", || {
        (echo.clean.load(Ordering::SeqCst) + echo.unclean.load(Ordering::SeqCst) == 5).then_some(())
    });
    assert_eq!(
        echo.clean.load(Ordering::SeqCst),
        5,
        "ended without close_notify"
    );
}

/// A server that ends each connection with close_notify after one answer: with `--reconnect`
/// every end is "closed by the server" (a clean close, not a truncation), each connection is
/// reopened with a new handshake, and every message is answered once.
#[test]
fn server_close_notify_is_a_clean_close() {
    let _cores = shared_cores();
    let certs = Certs::new();
    let echo = EchoServer::start(&certs, Some(1));
    let report = run_bench(
        &[echo.addr],
        &[
            "--tls-ca",
            path(&certs.ca_file),
            "--mode",
            "echo",
            "-c",
            "2",
            "-n",
            "20",
            "--reconnect",
        ],
    );
    let c = *report.counts();
    assert_eq!(report.exit_code(), 0, "{c:?}\n{}", report.table());
    assert_eq!(c.completed, 20, "{c:?}");
    assert_eq!(c.completed, c.sent - c.resent, "{c:?}");
    assert!(c.reopened >= 18, "one answer per connection: {c:?}");
    assert_eq!(c.handshakes, c.opened, "{c:?}");
    let closed = &report.failures().closed;
    assert_eq!(
        closed.get(&Reason::ClosedByServer),
        c.conn_errors,
        "{}",
        closed.line()
    );
    // Every close reopened, but those that came once the run was over.
    assert!(c.conn_errors >= c.reopened, "{c:?}");
}
