//! TLS (`--tls-cert`, `--tls-key`, `--tls-client-ca`) on both models: the same behaviour as
//! plaintext over TLS, the handshake deadline, mutual TLS, bad files at start, (interop with
//! `openssl s_client` and `socat` is in `tls_interop.rs`).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use shout_common::Mode;
use shout_server::{CloseReason, Config, Handshake, Model};
use shout_tests::*;

/// A TLS server with `config` and metrics on.
fn server(model: Model, certs: &Certs, config: Config) -> TestServer {
    shout_tests::tls::tls_server_with_metrics(model, certs, config)
}

/// A TLS client trusting the test CA, without a client certificate.
fn client(server: &TestServer, certs: &Certs) -> TlsClient {
    TlsClient::connect(server.addr, certs.client_config(None)).expect("TLS handshake")
}

model_tests! {
/// Answers come at once, without a newline, over TLS; a character cut across two records is
/// carried to the next one.
fn uppercase_and_utf8_carry_over_tls(model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config::default());
    let mut tls = client(&server, &certs);
    tls.send(b"hello w").unwrap();
    assert_eq!(tls.read_n(7).unwrap(), b"HELLO W");
    tls.send(b"ab\xc3").unwrap();
    assert_eq!(tls.read_n(2).unwrap(), b"AB");
    tls.send(b"\xb6!").unwrap();
    assert_eq!(tls.read_n(3).unwrap(), "Ö!".as_bytes());
    let s = server.wait_for("the handshake count", |s| s.handshakes(Handshake::Ok) == 1);
    assert_eq!(s.active, 1);
}

/// The client's close_notify is a half-close: every answer comes, then the server's
/// close_notify (rustls reports its absence as an error), then the end of the connection.
fn half_close_with_close_notify(model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config::default());
    let mut tls = client(&server, &certs);
    let input = "stra\u{df}e ".repeat(10_000);
    tls.send(input.as_bytes()).unwrap();
    tls.close_notify().unwrap();
    let answer = tls.read_to_close_notify().expect("answers, then close_notify");
    assert_eq!(answer, shout_common::transform_all(Mode::Upper, input.as_bytes()));
    server.wait_for("the close", |s| s.closed(CloseReason::Done) == 1);
}

/// Graceful shutdown sends close_notify to every client, after what it had read.
fn graceful_shutdown_sends_close_notify(model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config::default());
    let mut a = client(&server, &certs);
    let mut b = client(&server, &certs);
    a.send(b"a").unwrap();
    assert_eq!(a.read_n(1).unwrap(), b"A");
    b.send(b"b").unwrap();
    assert_eq!(b.read_n(1).unwrap(), b"B");
    server.handle.shutdown();
    for tls in [&mut a, &mut b] {
        assert_eq!(tls.read_to_close_notify().expect("close_notify"), b"");
    }
    // The clients close in turn, as they do on close_notify; the server was waiting for that.
    drop((a, b));
    let s = server.stop();
    assert_eq!(s.closed(CloseReason::Done), 2);
}

/// The idle timeout closes a silent TLS connection; another one that talks stays.
fn idle_timeout_over_tls(model) {
    let certs = Certs::new();
    let config = Config { idle_timeout: Some(Duration::from_millis(1000)), ..Config::default() };
    let server = server(model, &certs, config);
    let mut idle = client(&server, &certs);
    let mut busy = client(&server, &certs);
    for _ in 0..15 {
        busy.send(b"b").unwrap();
        assert_eq!(busy.read_n(1).unwrap(), b"B");
        thread::sleep(Duration::from_millis(100));
    }
    // The idle close is a TLS close: close_notify, then the end of TCP (rustls reports an
    // end without close_notify as an `UnexpectedEof` error).
    let rest = idle.read_to_close_notify().expect("close_notify at the idle close");
    assert!(rest.is_empty(), "unexpected data: {rest:?}");
    busy.send(b"c").unwrap();
    assert_eq!(busy.read_n(1).unwrap(), b"C");
    server.wait_for("the idle close", |s| s.closed(CloseReason::Idle) == 1);
}

/// Backpressure: a client that sends without reading stalls only itself, and the write
/// timeout closes it.
fn write_timeout_over_tls(model) {
    let certs = Certs::new();
    let config = Config { write_timeout: Some(Duration::from_millis(500)), ..Config::default() };
    let server = server(model, &certs, config);
    let mut flood = client(&server, &certs);
    let flooder = thread::spawn(move || {
        let chunk = vec![b'x'; 64 << 10];
        for _ in 0..4096 {
            if flood.send(&chunk).is_err() {
                return true;
            }
        }
        false
    });
    let mut other = client(&server, &certs);
    other.send(b"still here").unwrap();
    assert_eq!(other.read_n(10).unwrap(), b"STILL HERE");
    server.wait_for("the write timeout", |s| s.closed(CloseReason::WriteTimeout) == 1);
    assert!(join_within(flooder, TIMEOUT), "the flood was never cut off");
    other.send(b"ok").unwrap();
    assert_eq!(other.read_n(2).unwrap(), b"OK");
}

/// A client that connects and sends nothing, and one that dribbles a ClientHello a byte at a
/// time, are closed at the handshake deadline and counted.
fn handshake_deadline(model) {
    let certs = Certs::new();
    let config = Config { tls_handshake_timeout: Duration::from_millis(300), ..Config::default() };
    let server = server(model, &certs, config);
    let mut silent = server.connect();
    assert!(closed_within(&mut silent, TIMEOUT), "silent client not closed");
    let mut dribbler = server.connect();
    let mut writer = dribbler.try_clone().unwrap();
    let dribble = thread::spawn(move || {
        // A handshake record announcing 512 bytes, sent one byte every 20 ms.
        let hello = [&[0x16u8, 0x03, 0x01, 0x02, 0x00][..], &[1u8; 512]].concat();
        for byte in hello {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(closed_within(&mut dribbler, TIMEOUT), "dribbling client not closed");
    join_within(dribble, TIMEOUT * 2);
    let s = server.wait_for("two handshake timeouts", |s| {
        s.handshakes(Handshake::Timeout) == 2 && s.closed(CloseReason::Setup) == 2
    });
    assert_eq!(s.active, 0);
    let m = http::scrape(server.metrics());
    assert_eq!(m.counter("shout_tls_handshakes_total{result=\"timeout\"}"), 2);
    // The server still serves.
    let mut tls = client(&server, &certs);
    tls.send(b"fine").unwrap();
    assert_eq!(tls.read_n(4).unwrap(), b"FINE");
}

/// At the connection limit a TLS client gets the busy line over TLS, after the handshake,
/// then close_notify.
fn busy_line_over_tls(model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config { max_connections: 1, ..Config::default() });
    let mut first = client(&server, &certs);
    first.send(b"x").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"X");
    let mut refused = client(&server, &certs);
    let line = refused.read_to_close_notify().expect("the busy line, then close_notify");
    assert_eq!(String::from_utf8(line).unwrap(), shout_common::busy_line(1));
    let s = server.wait_for("the refusal", |s| s.rejected == 1);
    assert_eq!((s.active, s.accepted), (1, 1));
}

/// The per-address cap refuses over TLS too; a client that does not speak TLS is closed
/// during the handshake and counted as an error.
fn per_address_cap_and_plaintext_client(model) {
    let certs = Certs::new();
    let config = Config { max_connections_per_ip: Some(1), ..Config::default() };
    let server = server(model, &certs, config);
    let mut first = client(&server, &certs);
    first.send(b"x").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"X");
    let mut refused = client(&server, &certs);
    let line = refused.read_to_close_notify().expect("the busy line, then close_notify");
    assert_eq!(String::from_utf8(line).unwrap(), shout_common::busy_line_per_ip(1));
    drop(first);
    server.wait_for("the first to close", |s| s.active == 0);
    let mut plain = server.connect();
    plain.write_all(b"hello, no TLS here\n").unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.windows(5).any(|w| w == b"HELLO"), "answered without TLS");
    let s = server.wait_for("the failed handshake", |s| {
        s.handshakes(Handshake::Error) == 1 && s.closed(CloseReason::Setup) == 1
    });
    assert_eq!((s.rejected_per_ip, s.active), (1, 0));
}

/// Mutual TLS: a client certificate from the client CA is served; none, or one from another
/// CA, is refused during the handshake, counted by result.
fn mutual_tls(model) {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        model,
        tls: Some(certs.server_config(true)),
        metrics_listen: vec!["127.0.0.1:0".parse().unwrap()],
        ..Config::default()
    });
    let mut good = TlsClient::connect(server.addr, certs.client_config(Some(&certs.client)))
        .expect("handshake with a client certificate");
    good.send(b"mtls").unwrap();
    assert_eq!(good.read_n(4).unwrap(), b"MTLS");
    for identity in [None, Some(&certs.stranger)] {
        // Under TLS 1.3 the client sends its certificate last: the refusal (an alert) shows on
        // its first read.
        let refused = TlsClient::connect(server.addr, certs.client_config(identity))
            .and_then(|mut tls| {
                tls.send(b"let me in")?;
                tls.read_n(1)
            });
        assert!(refused.is_err(), "served without a valid client certificate");
    }
    let s = server.wait_for("the refusals", |s| {
        s.handshakes(Handshake::NoClientCert) == 1
            && s.handshakes(Handshake::BadClientCert) == 1
            && s.active == 1
    });
    assert_eq!(s.handshakes(Handshake::Ok), 1);
    let m = http::scrape(server.metrics());
    assert_eq!(m.counter("shout_tls_handshakes_total{result=\"no_client_cert\"}"), 1);
    assert_eq!(m.counter("shout_tls_handshakes_total{result=\"bad_client_cert\"}"), 1);
    assert_eq!(m.counter("shout_tls_handshakes_total{result=\"ok\"}"), 1);
}
}

/// A certificate or key file that is missing or not PEM: one clear error line, exit 1.
#[test]
fn bad_certificate_files_exit_1() {
    let certs = Certs::new();
    let garbage = certs.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let cert = certs.server.cert_file.to_str().unwrap();
    let key = certs.server.key_file.to_str().unwrap();
    let missing = certs.dir.join("missing.pem");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--tls-cert", missing.to_str().unwrap(), "--tls-key", key],
            "--tls-cert",
        ),
        (
            &["--tls-cert", garbage.to_str().unwrap(), "--tls-key", key],
            "--tls-cert",
        ),
        (
            &["--tls-cert", cert, "--tls-key", garbage.to_str().unwrap()],
            "--tls-key",
        ),
        (
            &[
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--tls-client-ca",
                garbage.to_str().unwrap(),
            ],
            "--tls-client-ca",
        ),
    ];
    for (args, option) in cases {
        let mut argv = vec!["--listen", "127.0.0.1:0"];
        argv.extend_from_slice(args);
        let (code, _, stderr) = run_text("shoutd", &argv);
        assert_eq!(code, Some(1), "{argv:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{argv:?}: {stderr}");
        assert!(lines[0].contains(option), "{argv:?}: {stderr}");
    }
    // A key that does not fit the certificate.
    let other_key = certs.client.key_file.to_str().unwrap();
    let (code, _, stderr) = run_text(
        "shoutd",
        &[
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            other_key,
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// The real shoutd with `--tls-cert`/`--tls-key` from the environment serves TLS.
#[test]
fn tls_options_from_the_environment() {
    let certs = Certs::new();
    let shoutd = shoutd_with_env(&[
        ("SHOUT_TLS_CERT", certs.server.cert_file.to_str().unwrap()),
        ("SHOUT_TLS_KEY", certs.server.key_file.to_str().unwrap()),
    ]);
    let mut tls = TlsClient::connect(shoutd.1, certs.client_config(None)).expect("handshake");
    tls.send(b"env").unwrap();
    assert_eq!(tls.read_n(3).unwrap(), b"ENV");
}

/// Starts shoutd with `env` set; returns the child and its address.
fn shoutd_with_env(env: &[(&str, &str)]) -> (KillOnDrop, std::net::SocketAddr) {
    let port = free_port_addr();
    let mut command = Command::new(bin("shoutd"));
    command
        .args(["--listen", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = KillOnDrop(command.spawn().expect("start shoutd"));
    wait_until("shoutd to listen", || {
        std::net::TcpStream::connect(port).ok().map(drop)
    });
    (child, port)
}

/// A child process killed on drop.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
