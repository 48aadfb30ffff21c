//! Hostile peers against shoutd's TLS and PROXY protocol set-up, on both models: headers that
//! announce too much, never end or come a byte at a time; TLS records cut into single bytes,
//! a close_notify with the socket kept open or followed by garbage, resets mid-handshake, a
//! crowd of silent connections, and a flood that never reads. Each is closed or served as the
//! docs/server.md says, bounded in threads and memory, without a busy loop, and without touching
//! another connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use shout_common::Mode;
use shout_server::{CloseReason, Config, Handshake, Model, ProxyConfig, ProxyRefusal};
use shout_tests::*;

/// A server expecting PROXY headers from loopback (header timeout `timeout`), TLS if `certs`.
fn proxy_server(model: Model, timeout: Duration, certs: Option<&Certs>) -> TestServer {
    TestServer::start(Config {
        model,
        proxy: Some(ProxyConfig {
            from: vec!["127.0.0.1/32".parse().unwrap()],
            header_timeout: timeout,
        }),
        tls: certs.map(|c| c.server_config(false)),
        ..Config::default()
    })
}

/// A rustls client connection to `localhost` with `config`.
fn client_conn(config: Arc<ClientConfig>) -> ClientConnection {
    ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap()
}

/// The TLS records `conn` has queued.
fn records(conn: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Writes `bytes` one per write (with TCP_NODELAY, one per segment).
fn dribble(sock: &mut TcpStream, bytes: &[u8]) {
    sock.set_nodelay(true).unwrap();
    for b in bytes {
        sock.write_all(&[*b]).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
}

/// A field of `/proc/PID/status` (`Threads`, `VmRSS` in kB).
fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

/// How many of `socks` the server has closed (end of stream or reset), once `expected` are
/// or [`TIMEOUT`] has passed; then 200 ms more for any beyond `expected`.
fn closed_at_once(socks: &[TcpStream], expected: usize) -> usize {
    let count = || {
        socks
            .iter()
            .filter(|s| {
                s.set_nonblocking(true).unwrap();
                let r = s.peek(&mut [0u8; 1]);
                s.set_nonblocking(false).unwrap();
                match r {
                    Ok(n) => n == 0,
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                }
            })
            .count()
    };
    let deadline = std::time::Instant::now() + TIMEOUT;
    while count() < expected && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    count()
}

/// The real shoutd with TLS from `certs`, `model`, and `extra` arguments.
fn tls_shoutd(certs: &Certs, model: Model, extra: &[&str]) -> Shoutd {
    let mut args: Vec<String> = certs.shoutd_args();
    args.extend(["--model".into(), model.as_str().into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Shoutd::start(&args)
}

model_tests! {
/// A v2 header announcing 65,535 bytes, and a v1 line of 107 bytes without CRLF, are refused
/// at once as invalid (not at the header timeout, and without buffering what they announce).
fn oversized_proxy_headers_are_refused_at_once(model) {
    let server = proxy_server(model, Duration::from_secs(60), None);
    let mut huge = connect(server.addr);
    huge.write_all(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff").unwrap();
    huge.write_all(&[0u8; 600]).unwrap();
    assert!(closed_within(&mut huge, TIMEOUT), "v2 header of 64 KiB kept open");
    let mut endless = connect(server.addr);
    endless.write_all(&[b"PROXY TCP4 ".as_slice(), &[b'1'; 96]].concat()).unwrap();
    assert!(closed_within(&mut endless, TIMEOUT), "v1 line without CRLF kept open");
    let s = server.wait_for("two refusals", |s| {
        s.proxy_rejected(ProxyRefusal::Invalid) == 2 && s.closed(CloseReason::Setup) == 2
    });
    assert_eq!((s.proxy_rejected(ProxyRefusal::Timeout), s.active), (0, 0));
}

/// A v2 header dribbled one byte per write, then data: served with the header's address.
/// Then a valid header followed by bytes that are no TLS: the handshake fails, counted,
/// and the next connection is served.
fn dribbled_header_and_garbage_after_header(model) {
    let certs = Certs::new();
    let server = proxy_server(model, TIMEOUT, Some(&certs));
    let mut sock = connect(server.addr);
    dribble(&mut sock, &proxy_v2_header("10.7.7.7:7777"));
    let mut tls = TlsClient::over(sock, certs.client_config(None)).expect("handshake");
    tls.send(b"dribbled").unwrap();
    assert_eq!(tls.read_n(8).unwrap(), b"DRIBBLED");
    let mut garbage = connect(server.addr);
    garbage.write_all(&[proxy_v2_header("10.7.7.8:1").as_slice(), &[0xff; 300]].concat()).unwrap();
    // A TLS alert at most, then the end (or a reset: it sent more than was read).
    let mut alert = Vec::new();
    if let Err(e) = garbage.read_to_end(&mut alert) {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "not closed: {e}");
    }
    assert!(alert.is_empty() || alert[0] == 0x15, "not an alert: {alert:?}");
    server.wait_for("the failed handshake", |s| s.handshakes(Handshake::Error) == 1);
    tls.send(b"still").unwrap();
    assert_eq!(tls.read_n(5).unwrap(), b"STILL");
}

/// Every TLS record (ClientHello, Finished, data, close_notify) sent one byte per write: the
/// answer is whole and right.
fn tls_records_one_byte_per_write(model) {
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let mut sock = server.connect();
    let mut conn = client_conn(certs.client_config(None));
    while conn.is_handshaking() {
        let out = records(&mut conn);
        dribble(&mut sock, &out);
        if conn.is_handshaking() {
            conn.read_tls(&mut sock).unwrap();
            conn.process_new_packets().unwrap();
        }
    }
    let input = "grüße ".repeat(40);
    conn.writer().write_all(input.as_bytes()).unwrap();
    conn.send_close_notify();
    let out = records(&mut conn);
    dribble(&mut sock, &out);
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).expect("answers, then close_notify");
    assert_eq!(answer, shout_common::transform_all(Mode::Upper, input.as_bytes()));
    server.wait_for("the close", |s| s.closed(CloseReason::Done) == 1);
}

/// A client that sends close_notify and keeps its socket open gets its answers, the server's
/// close_notify and the end of the connection; one that sends garbage after its close_notify
/// is closed too; neither touches a third connection.
fn close_notify_then_open_or_garbage(model) {
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let config = certs.client_config(None);
    let mut bystander = TlsClient::connect(server.addr, Arc::clone(&config)).unwrap();
    let mut open = TlsClient::connect(server.addr, Arc::clone(&config)).unwrap();
    open.send(b"bye").unwrap();
    open.tls.conn.send_close_notify();
    open.tls.flush().unwrap();
    assert_eq!(open.read_to_close_notify().expect("close_notify"), b"BYE");
    assert!(closed_within(&mut open.tls.sock, TIMEOUT), "the server kept the socket open");
    let mut noisy = TlsClient::connect(server.addr, config).unwrap();
    noisy.send(b"x").unwrap();
    assert_eq!(noisy.read_n(1).unwrap(), b"X");
    noisy.tls.conn.send_close_notify();
    noisy.tls.flush().unwrap();
    // The server may have closed already: then these fail.
    let _ = noisy.tls.sock.write_all(&[0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]);
    let _ = noisy.tls.sock.write_all(b"plain garbage");
    // Its answers may be lost to a reset (it broke the protocol); the connection ends.
    let mut rest = Vec::new();
    let _ = noisy.tls.read_to_end(&mut rest);
    server.wait_for("both closed", |s| s.active == 1);
    bystander.send(b"fine").unwrap();
    assert_eq!(bystander.read_n(4).unwrap(), b"FINE");
}

/// A client that resets the connection in the middle of its ClientHello is counted as
/// aborted; the server goes on.
fn reset_mid_handshake(model) {
    let certs = Certs::new();
    let server = tls_server(model, &certs, Config::default());
    let mut conn = client_conn(certs.client_config(None));
    let hello = records(&mut conn);
    let mut sock = server.connect();
    sock.set_nodelay(true).unwrap();
    sock.write_all(&hello[..hello.len() / 2]).unwrap();
    // Wait until the server has read the half, so the reset reaches a handshake under way.
    thread::sleep(Duration::from_millis(50));
    socket2::SockRef::from(&sock).set_linger(Some(Duration::ZERO)).unwrap();
    drop(sock);
    let s = server.wait_for("the aborted handshake", |s| s.closed(CloseReason::Setup) == 1);
    assert_eq!(s.handshakes(Handshake::Aborted), 1, "{:?}", s.handshakes);
    let mut tls = TlsClient::connect(server.addr, certs.client_config(None)).unwrap();
    tls.send(b"ok").unwrap();
    assert_eq!(tls.read_n(2).unwrap(), b"OK");
}

/// 300 silent TLS connections at once: a bystander is served meanwhile, every one is closed
/// at the handshake deadline, the thread model's threads end with them, and nothing spins.
fn many_silent_connections(model) {
    let certs = Certs::new();
    let shoutd = tls_shoutd(&certs, model, &["--tls-handshake-timeout", "2s"]);
    let pid = shoutd.child.id();
    let threads_before = status_field(pid, "Threads");
    let mut bystander = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    let mut silent: Vec<TcpStream> = (0..300).map(|_| connect(shoutd.addr)).collect();
    bystander.send(b"served").unwrap();
    assert_eq!(bystander.read_n(6).unwrap(), b"SERVED");
    assert_not_spinning(pid, "with 300 silent TLS connections");
    for sock in &mut silent {
        assert!(closed_within(sock, TIMEOUT), "a silent connection outlived its deadline");
    }
    // The threads end right after their sockets close.
    let threads = wait_until("the set-up threads to end", || {
        let n = status_field(pid, "Threads");
        (n <= threads_before + 1).then_some(n)
    });
    assert!(threads <= threads_before + 1, "{threads} threads, {threads_before} before");
    bystander.send(b"again").unwrap();
    assert_eq!(bystander.read_n(5).unwrap(), b"AGAIN");
}

/// A client that completes the handshake, then floods without ever reading (no write
/// timeout): the server stops reading it, its memory stays bounded, it does not spin, and
/// another client is served at once.
fn flood_without_reading_is_bounded(model) {
    let certs = Certs::new();
    let shoutd = tls_shoutd(&certs, model, &["--write-timeout", "0"]);
    let pid = shoutd.child.id();
    let mut other = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    other.send(b"warm").unwrap();
    assert_eq!(other.read_n(4).unwrap(), b"WARM");
    let rss_before = status_field(pid, "VmRSS");
    let mut flood = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    flood.tls.sock.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0usize;
    // Until the socket buffers both ways are full: a write that cannot finish in 500 ms.
    while sent < 256 << 20 {
        match flood.tls.write_all(&chunk) {
            Ok(()) => sent += chunk.len(),
            Err(_) => break,
        }
    }
    assert!(sent < 256 << 20, "the server never stopped reading");
    let rss = status_field(pid, "VmRSS");
    assert!(rss < rss_before + 16 * 1024, "RSS {rss} kB, {rss_before} kB before");
    assert_not_spinning(pid, "with a TLS client that floods without reading");
    other.send(b"served").unwrap();
    assert_eq!(other.read_n(6).unwrap(), b"SERVED");
}
}

/// Thread model, TLS, `--max-connections 1`: a connection over the cap whose thread cannot
/// be started (no address space left for its stack) gives back nothing it did not hold, so
/// the cap still holds afterwards (it used to be counted as an active connection closing:
/// the count fell, and the next client over the cap was served).
#[test]
fn threads_refused_connection_without_a_thread_keeps_the_cap() {
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    let certs = Certs::new();
    let shoutd = tls_shoutd(&certs, Model::Threads, &["--max-connections", "1"]);
    let mut first = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    first.send(b"a").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"A");
    let pid = Pid::from_child(&shoutd.child);
    let size = status_field(shoutd.child.id(), "VmSize") * 1024;
    // Room for small allocations, not for a 128 KiB thread stack.
    let tight = Rlimit {
        current: Some(size + 64 * 1024),
        maximum: None,
    };
    prlimit(Some(pid), Resource::As, tight).unwrap();
    let mut refused = connect(shoutd.addr);
    shoutd.expect_log("cannot start a thread");
    assert!(closed_within(&mut refused, TIMEOUT));
    prlimit(
        Some(pid),
        Resource::As,
        Rlimit {
            current: None,
            maximum: None,
        },
    )
    .unwrap();
    let mut over = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    over.tls
        .sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let line = over
        .read_to_close_notify()
        .expect("the busy line, then close_notify");
    assert_eq!(String::from_utf8(line).unwrap(), shout_common::busy_line(1));
    first.send(b"b").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"B");
}

model_tests! {
/// TLS at `--max-connections 1`: 300 silent connections over the cap do not each get a
/// handshake (a thread in the thread model) until the deadline; at most
/// `MAX_TLS_REFUSALS` do, the rest are closed at once. Once they are gone, a client over
/// the cap gets the busy line again, and the one being served never noticed.
fn refusals_over_tls_are_bounded(model) {
    let certs = Certs::new();
    let shoutd = tls_shoutd(&certs, model, &["--max-connections", "1", "--tls-handshake-timeout", "30s"]);
    let pid = shoutd.child.id();
    let mut first = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    first.send(b"a").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"A");
    let threads_before = status_field(pid, "Threads");
    let silent: Vec<TcpStream> = (0..300).map(|_| connect(shoutd.addr)).collect();
    // Those beyond the bound are closed at once (well before the 30 s deadline).
    let limit = shout_server::MAX_TLS_REFUSALS;
    assert_eq!(closed_at_once(&silent, 300 - limit), 300 - limit);
    let threads = status_field(pid, "Threads");
    assert!(threads <= threads_before + limit as u64, "{threads} threads, {threads_before} before");
    drop(silent);
    first.send(b"b").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"B");
    let over = wait_until("a refusal slot", || {
        let mut tls = TlsClient::connect(shoutd.addr, certs.client_config(None)).ok()?;
        tls.tls.sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let line = tls.read_to_close_notify().ok()?;
        Some(String::from_utf8(line).unwrap())
    });
    assert_eq!(over, shout_common::busy_line(1));
}
}

model_tests! {
/// PROXY protocol and TLS with `--max-connections-per-ip 1`: connections whose header names
/// a client already served are refused after the header and no longer count as active; a
/// flood of them, silent after the header, gets at most `MAX_TLS_REFUSALS` handshakes under
/// way at once, the rest are closed at once.
fn per_address_refusals_after_the_header_are_bounded(model) {
    let certs = Certs::new();
    let config = Config {
        max_connections_per_ip: Some(1),
        tls_handshake_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let server = TestServer::start(Config {
        model,
        proxy: Some(ProxyConfig {
            from: vec!["127.0.0.1/32".parse().unwrap()],
            header_timeout: TIMEOUT,
        }),
        tls: Some(certs.server_config(false)),
        ..config
    });
    let header = proxy_v2_header("10.3.3.3:3333");
    let mut sock = connect(server.addr);
    sock.write_all(&header).unwrap();
    let mut first = TlsClient::over(sock, certs.client_config(None)).unwrap();
    first.send(b"a").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"A");
    let limit = shout_server::MAX_TLS_REFUSALS;
    let silent: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut sock = connect(server.addr);
            sock.write_all(&header).unwrap();
            sock
        })
        .collect();
    server.wait_for("the refusals", |s| s.rejected_per_ip == 200);
    assert_eq!(closed_at_once(&silent, 200 - limit), 200 - limit);
    first.send(b"b").unwrap();
    assert_eq!(first.read_n(1).unwrap(), b"B");
}
}

model_tests! {
/// Half a ClientHello, and after a handshake half a data record, left waiting: the real
/// shoutd waits without spinning; the rest of the record, when it comes, is answered.
fn half_records_wait_without_spinning(model) {
    let certs = Certs::new();
    let shoutd = tls_shoutd(&certs, model, &[]);
    let mut conn = client_conn(certs.client_config(None));
    let hello = records(&mut conn);
    let mut half_hello = connect(shoutd.addr);
    half_hello.write_all(&hello[..hello.len() / 2]).unwrap();
    let mut tls = TlsClient::connect(shoutd.addr, certs.client_config(None)).unwrap();
    tls.tls.conn.writer().write_all(b"half a record").unwrap();
    let record = records(&mut tls.tls.conn);
    let (a, b) = record.split_at(record.len() / 2);
    tls.tls.sock.write_all(a).unwrap();
    assert_not_spinning(shoutd.child.id(), "with half a ClientHello and half a record");
    tls.tls.sock.write_all(b).unwrap();
    assert_eq!(tls.read_n(13).unwrap(), b"HALF A RECORD");
    half_hello.write_all(&hello[hello.len() / 2..]).unwrap();
    let mut first = [0u8; 1];
    half_hello.read_exact(&mut first).unwrap();
    assert_eq!(first[0], 0x16, "a handshake record");
}
}

model_tests! {
/// After the handshake, a data record dribbled a byte every 150 ms (it would take 15 s)
/// brings no input: the idle timeout (600 ms) closes the connection all the same, as in
/// plaintext a silent client.
fn dribbled_record_does_not_defeat_the_idle_timeout(model) {
    let certs = Certs::new();
    let config = Config { idle_timeout: Some(Duration::from_millis(600)), ..Config::default() };
    let server = tls_server(model, &certs, config);
    let mut tls = TlsClient::connect(server.addr, certs.client_config(None)).unwrap();
    tls.tls.conn.writer().write_all(&[b'z'; 100]).unwrap();
    let record = records(&mut tls.tls.conn);
    let mut sock = tls.tls.sock.try_clone().unwrap();
    sock.set_nodelay(true).unwrap();
    let dribbler = thread::spawn(move || {
        for b in record {
            if sock.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(150));
        }
    });
    server.wait_for("the idle close", |s| s.closed(CloseReason::Idle) == 1);
    drop(tls);
    join_within(dribbler, TIMEOUT * 2);
}
}
