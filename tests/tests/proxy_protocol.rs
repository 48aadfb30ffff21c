//! The PROXY protocol (`--proxy-protocol`, `--proxy-from`) on both models: v1 and v2 headers,
//! invalid or missing ones, peers outside `--proxy-from`, the header's address in the log and
//! under the per-address cap, and TLS after the header.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shout_server::{CloseReason, Config, Handshake, Model, ProxyConfig, ProxyRefusal};
use shout_tests::*;

/// A server expecting PROXY headers from `from`, with a header timeout of `timeout`.
fn server(model: Model, from: &str, timeout: Duration, config: Config) -> TestServer {
    TestServer::start(Config {
        model,
        proxy: Some(ProxyConfig {
            from: vec![from.parse().unwrap()],
            header_timeout: timeout,
        }),
        metrics_listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..config
    })
}

/// A v1 header for client `client`.
fn v1(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    let dest = if client.is_ipv4() { "127.0.0.1" } else { "::1" };
    format!(
        "PROXY {family} {} {dest} {} 9999\r\n",
        client.ip(),
        client.port()
    )
    .into_bytes()
}

/// Sends `header` then `data` in one write and returns the connection.
fn send(addr: SocketAddr, header: &[u8], data: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    stream.write_all(&[header, data].concat()).unwrap();
    stream
}

const SHORT: Duration = Duration::from_millis(300);

model_tests! {
/// v1 and v2 headers are read (with data in the same packet, and cut in pieces); the
/// connection is then served as usual.
fn valid_headers_then_service(model) {
    let server = server(model, "127.0.0.1/32", TIMEOUT, Config::default());
    for header in [v1("10.1.2.3:4567"), proxy_v2_header("10.1.2.3:4567"), v1("[2001:db8::7]:99")] {
        let mut stream = send(server.addr, &header, b"hello");
        assert_eq!(read_n(&mut stream, 5), b"HELLO");
        // A header cut in two, then data on its own.
        let mut stream = connect(server.addr);
        let (a, b) = header.split_at(header.len() / 2);
        stream.write_all(a).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        stream.write_all(b).unwrap();
        stream.write_all(b"again").unwrap();
        assert_eq!(read_n(&mut stream, 5), b"AGAIN");
    }
    let s = server.wait_for("six served", |s| s.accepted == 6);
    assert_eq!(s.proxy_rejected.iter().map(|(_, n)| n).sum::<u64>(), 0);
}

/// No header but data, a broken header, or no header in time: closed and counted by reason.
fn invalid_or_missing_headers_are_closed(model) {
    let server = server(model, "127.0.0.1/32", SHORT, Config::default());
    let mut plain = send(server.addr, b"", b"hello\n");
    assert!(closed_within(&mut plain, TIMEOUT));
    let mut broken = send(server.addr, b"PROXY TCP4 1.2.3.4 nonsense\r\n", b"hi");
    assert!(closed_within(&mut broken, TIMEOUT));
    let mut binary_garbage = send(server.addr, b"\r\n\r\n\0\r\nQUIT\n\x99\x11\x00\x0c", &[0; 12]);
    assert!(closed_within(&mut binary_garbage, TIMEOUT));
    let mut silent = connect(server.addr);
    assert!(closed_within(&mut silent, TIMEOUT));
    let s = server.wait_for("four refusals", |s| {
        s.proxy_rejected(ProxyRefusal::Invalid) == 3
            && s.proxy_rejected(ProxyRefusal::Timeout) == 1
            && s.closed(CloseReason::Setup) == 4
    });
    assert_eq!(s.active, 0);
    let m = http::scrape(server.metrics());
    assert_eq!(m.counter("shout_proxy_rejected_total{reason=\"invalid\"}"), 3);
    assert_eq!(m.counter("shout_proxy_rejected_total{reason=\"timeout\"}"), 1);
}

/// A peer outside `--proxy-from` is closed at once, even with a valid header.
fn peer_not_allowed_is_closed(model) {
    let server = server(model, "127.0.0.1/32", TIMEOUT, Config::default());
    let mut stream = connect_from("127.0.0.2".parse().unwrap(), server.addr);
    let _ = stream.write_all(&v1("10.1.2.3:4567"));
    assert!(closed_within(&mut stream, TIMEOUT));
    let s = server.wait_for("the refusal", |s| s.proxy_rejected(ProxyRefusal::NotAllowed) == 1);
    assert_eq!(s.accepted, 0);
    // From the allowed address, served.
    let mut ok = send(server.addr, &proxy_v2_header("10.1.2.3:4567"), b"ok");
    assert_eq!(read_n(&mut ok, 2), b"OK");
}

/// The per-address cap counts the header's address, not the balancer's.
fn per_ip_cap_uses_the_header_address(model) {
    let config = Config { max_connections_per_ip: Some(1), ..Config::default() };
    let server = server(model, "127.0.0.1/32", TIMEOUT, config);
    let mut first = send(server.addr, &v1("10.0.0.1:1000"), b"a");
    assert_eq!(read_n(&mut first, 1), b"A");
    let mut second = send(server.addr, &proxy_v2_header("10.0.0.1:1001"), b"b");
    assert_eq!(read_to_end(&mut second), shout_common::busy_line_per_ip(1).as_bytes());
    let mut other = send(server.addr, &v1("10.0.0.2:1000"), b"c");
    assert_eq!(read_n(&mut other, 1), b"C");
    let s = server.wait_for("the refusal", |s| s.rejected_per_ip == 1);
    assert_eq!((s.active, s.accepted), (2, 2));
    drop(first);
    server.wait_for("the first to close", |s| s.active == 1);
    let mut again = send(server.addr, &v1("10.0.0.1:1002"), b"d");
    assert_eq!(read_n(&mut again, 1), b"D");
}

/// TLS after the header: header first, then the handshake.
fn tls_after_the_header(model) {
    let certs = Certs::new();
    let server = server(
        model,
        "127.0.0.1/32",
        TIMEOUT,
        Config { tls: Some(certs.server_config(false)), ..Config::default() },
    );
    for header in [v1("10.5.5.5:555"), proxy_v2_header("10.5.5.5:555")] {
        let mut sock = connect(server.addr);
        sock.write_all(&header).unwrap();
        let mut tls = TlsClient::over(sock, certs.client_config(None)).expect("handshake");
        tls.send(b"secret").unwrap();
        assert_eq!(tls.read_n(6).unwrap(), b"SECRET");
        tls.close_notify().unwrap();
        assert_eq!(tls.read_to_close_notify().unwrap(), b"");
    }
    let s = server.wait_for("two closes", |s| s.closed(CloseReason::Done) == 2);
    assert_eq!(s.handshakes(Handshake::Ok), 2);
}

/// The real shoutd at -v logs the header's client address on `accepted` and `closed`.
fn log_shows_the_header_address(model) {
    let shoutd = Shoutd::start(&[
        "-v", "--proxy-protocol", "--proxy-from", "127.0.0.1/32", "--model", model.as_str(),
    ]);
    let mut stream = send(shoutd.addr, &proxy_v2_header("10.9.8.7:6543"), b"x");
    assert_eq!(read_n(&mut stream, 1), b"X");
    let accepted = shoutd.expect_log("accepted");
    assert!(accepted.contains("10.9.8.7:6543"), "{accepted}");
    drop(stream);
    let closed = shoutd.expect_log("closed");
    assert!(closed.contains("10.9.8.7:6543"), "{closed}");
}
}

/// `--proxy-from` accepts CIDR ranges and single addresses, and refuses other text.
#[test]
fn proxy_from_parsing() {
    let (code, _, err) = run_text("shoutd", &["--proxy-protocol", "--proxy-from", "nonsense"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nonsense"), "{err}");
    let shoutd = Shoutd::start(&["--proxy-protocol", "--proxy-from", "10.0.0.0/8,127.0.0.1"]);
    let mut stream = send(shoutd.addr, &v1("10.1.1.1:1"), b"ok");
    assert_eq!(read_n(&mut stream, 2), b"OK");
}
