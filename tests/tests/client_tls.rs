//! The real `shout` over TLS: pipe mode through shoutd with TLS (uppercase) and through a TLS
//! echo server that is not shout (socat: the bytes come back unchanged); a client certificate
//! for mutual TLS; and the ways verification fails (wrong CA, wrong name, no client
//! certificate), each one clear line and exit status 2. Hostile servers: one silent or
//! dribbling during the handshake (it ends within `--connect-timeout`), one that answers
//! garbage, one that ends TCP without close_notify in the middle of pipe mode.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use shout_common::{transform_all, Mode};
use shout_server::Config;
use shout_tests::tls::{tls_server, Certs};
use shout_tests::*;

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

model_tests! {
/// `shout --tls-ca CA < f` through shoutd with TLS gives the uppercase of `f`, 8 MiB streamed
/// both ways, then close_notify and exit 0.
fn pipe_over_tls(model) {
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let input = pipe_payload(8 << 20);
    let addr = server.addr.to_string();
    let (code, out, err) = run_shout(&["--tls-ca", path(&certs.ca_file), &addr], input.clone());
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(out == transform_all(Mode::Upper, &input), "answer differs from the transform");
}
}

/// With `--tls-client-ca` on the server, shout's `--tls-cert/--tls-key` get answers; without a
/// client certificate the server refuses it and shout says so (exit 2).
#[test]
fn client_certificate_for_mutual_tls() {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        tls: Some(certs.server_config(true)),
        ..Config::default()
    });
    let addr = server.addr.to_string();
    let ca = path(&certs.ca_file);
    let (code, out, err) = run_shout(
        &[
            "--tls-ca",
            ca,
            "--tls-cert",
            path(&certs.client.cert_file),
            "--tls-key",
            path(&certs.client.key_file),
            &addr,
        ],
        b"mutual\n".to_vec(),
    );
    assert_eq!(
        (code, out.as_slice()),
        (Some(0), &b"MUTUAL\n"[..]),
        "stderr: {err}"
    );

    // TLS 1.3: the server checks the client's certificate after the client has finished its
    // handshake, so the refusal may come with the first read instead: either way, exit 2 or
    // 1 with a line naming the problem, and no answer.
    let (code, out, err) = run_shout(&["--tls-ca", ca, &addr], b"nobody\n".to_vec());
    assert!(out.is_empty(), "answered without a certificate: {out:?}");
    assert_ne!(code, Some(0), "stderr: {err}");
    assert!(err.to_lowercase().contains("certificate"), "stderr: {err}");
}

/// A server certificate from a CA that is not trusted, or for another name: one line, exit 2,
/// nothing sent.
#[test]
fn verification_failures_exit_2() {
    let certs = Certs::new();
    let server = TestServer::start(Config {
        tls: Some(certs.server_config(false)),
        ..Config::default()
    });
    let addr = server.addr.to_string();
    let (code, _, err) = run_shout(
        &["--tls-ca", path(&certs.client_ca_file), &addr],
        b"x\n".to_vec(),
    );
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(err.contains("TLS handshake failed"), "stderr: {err}");
    assert!(err.contains("UnknownIssuer"), "stderr: {err}");

    let (code, _, err) = run_shout(
        &[
            "--tls-ca",
            path(&certs.ca_file),
            "--tls-server-name",
            "elsewhere.example",
            &addr,
        ],
        b"x\n".to_vec(),
    );
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(err.contains("not valid for name"), "stderr: {err}");

    let (code, _, err) = run_shout(&["--tls-ca", "/nonexistent/ca.pem", &addr], Vec::new());
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(
        err.contains("--tls-ca /nonexistent/ca.pem"),
        "stderr: {err}"
    );
}

/// A TCP listener on loopback whose connections `serve` handles, one thread each.
fn fake_server(serve: fn(TcpStream, Arc<rustls::ServerConfig>), certs: &Certs) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::clone(certs.server_config(false).rustls());
    thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            sock.set_read_timeout(Some(TIMEOUT)).unwrap();
            sock.set_write_timeout(Some(TIMEOUT)).unwrap();
            let config = Arc::clone(&config);
            thread::spawn(move || serve(sock, config));
        }
    });
    addr
}

/// `shout --tls-ca CA --connect-timeout 1s ADDR` with `input`: exit code, stdout, stderr and
/// how long it ran.
fn shout_tls(
    certs: &Certs,
    addr: SocketAddr,
    input: Vec<u8>,
) -> (Option<i32>, Vec<u8>, String, Duration) {
    let started = std::time::Instant::now();
    let (code, out, err) = run_shout(
        &[
            "--tls-ca",
            certs.ca_file.to_str().unwrap(),
            "--connect-timeout",
            "1s",
            &addr.to_string(),
        ],
        input,
    );
    (code, out, err, started.elapsed())
}

/// A server that accepts and stays silent, and one that answers the ClientHello a byte every
/// 300 ms (never finishing): the handshake ends within `--connect-timeout` (plus margin for a
/// busy machine), one line, exit 2.
#[test]
fn client_handshake_ends_within_the_connect_timeout() {
    let certs = Certs::new();
    let silent = fake_server(
        |sock, _| {
            let mut sock = sock;
            let _ = sock.read(&mut [0u8; 4096]);
            thread::sleep(TIMEOUT);
        },
        &certs,
    );
    let dribbling = fake_server(
        |mut sock, _| {
            let _ = sock.read(&mut [0u8; 4096]);
            // A handshake record announcing 16 KiB, one byte at a time.
            let record = [&[0x16u8, 0x03, 0x03, 0x40, 0x00][..], &[2u8; 40]].concat();
            for b in record {
                if sock.write_all(&[b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(300));
            }
        },
        &certs,
    );
    for addr in [silent, dribbling] {
        let (code, _, err, took) = shout_tls(&certs, addr, b"x\n".to_vec());
        assert_eq!(code, Some(2), "stderr: {err}");
        assert!(err.contains("no answer within 1s"), "stderr: {err}");
        assert!(took < Duration::from_secs(5), "the handshake took {took:?}");
    }
}

/// A server that sends garbage instead of a ServerHello: one clear line, exit 2.
#[test]
fn client_refuses_garbage_instead_of_server_hello() {
    let certs = Certs::new();
    let addr = fake_server(
        |mut sock, _| {
            let _ = sock.read(&mut [0u8; 4096]);
            let _ = sock.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            thread::sleep(TIMEOUT);
        },
        &certs,
    );
    let (code, out, err, _) = shout_tls(&certs, addr, b"x\n".to_vec());
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.contains("TLS handshake failed"), "stderr: {err}");
}

/// A TLS server that answers the first bytes, then ends TCP without close_notify while the
/// client still sends (and drops the rest unread, without a reset): pipe mode says the
/// connection was lost, exit 1; a cut answer never passes for a whole one.
#[test]
fn client_pipe_without_close_notify_fails() {
    let certs = Certs::new();
    let addr = fake_server(
        |sock, config| {
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut first = [0u8; 5];
            if tls.read_exact(&mut first).is_err() {
                return;
            }
            let _ = tls.write_all(&first.to_ascii_uppercase());
            let _ = tls.flush();
            let _ = tls.sock.shutdown(std::net::Shutdown::Write);
            let _ = std::io::copy(&mut tls.sock, &mut std::io::sink());
        },
        &certs,
    );
    let input = b"hello ".repeat(200_000);
    let (code, out, err, _) = shout_tls(&certs, addr, input);
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(out.len() <= 5, "stdout: {out:?}");
    assert!(err.contains("close_notify"), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
}
