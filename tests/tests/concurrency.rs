//! Many clients at once, every answer checked; the connection limit.

use std::io::Write;
use std::thread;

use shout_server::Config;
use shout_tests::*;

/// Connects to `addr` from the local address `from` (port chosen by the system).
fn connect_from(from: &str, addr: std::net::SocketAddr) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect_timeout(&addr.into(), TIMEOUT).unwrap();
    let stream: std::net::TcpStream = socket.into();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Serialises the 10,000-connection tests.
static TEN_THOUSAND: std::sync::Mutex<()> = std::sync::Mutex::new(());

model_tests! {
/// 100 concurrent clients each send 1000 distinct messages and check every answer.
fn hundred_clients_thousand_messages_each(model) {
    let server = server_with(model);
    let clients: Vec<_> = (0..100)
        .map(|c| {
            let addr = server.addr;
            thread::spawn(move || {
                let mut stream = connect(addr);
                for m in 0..1000 {
                    let msg = format!("client {c} message {m} straße é\n");
                    stream.write_all(msg.as_bytes()).unwrap();
                    let want = msg.to_uppercase();
                    let got = read_n(&mut stream, want.len());
                    assert_eq!(got, want.as_bytes(), "client {c} message {m}");
                }
            })
        })
        .collect();
    for client in clients {
        join_within(client, TIMEOUT * 6);
    }
    let s = server.wait_for("all clients to close", |s| s.active == 0);
    assert_eq!(s.accepted, 100);
    assert_eq!(s.rejected, 0);
    let stats = server.stop();
    let per_client: u64 = (0..1000)
        .map(|m| format!("client 0 message {m} straße é\n").len() as u64)
        .sum();
    assert!(stats.bytes_in >= per_client * 100);
}

/// At the limit a new connection gets the busy line and is closed; when a slot frees, new
/// connections are served again.
fn connection_limit(model) {
    let server = TestServer::start(Config {
        model,
        max_connections: 2,
        ..Config::default()
    });
    let mut first = server.connect();
    let mut second = server.connect();
    for s in [&mut first, &mut second] {
        s.write_all(b"hi").unwrap();
        assert_eq!(read_n(s, 2), b"HI");
    }
    for _ in 0..3 {
        let mut refused = server.connect();
        let line = read_to_end(&mut refused);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "ERR server busy (2 connections), try again later\n"
        );
    }
    assert_eq!(server.handle.stats().rejected, 3);
    // The two served connections are untouched.
    second.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut second, 10), b"STILL HERE");

    drop(first);
    server.wait_for("a slot to free", |s| s.active == 1);
    let mut third = server.connect();
    third.write_all(b"served").unwrap();
    assert_eq!(read_n(&mut third, 6), b"SERVED");
}

/// `--max-connections-per-ip`: one address gets at most N slots (more get the busy line and
/// are counted by reason); another address is still served; a freed slot is usable again.
fn connection_cap_per_ip(model) {
    let server = TestServer::start(Config {
        model,
        max_connections_per_ip: Some(2),
        ..Config::default()
    });
    let mut held: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for s in &mut held {
        s.write_all(b"hi").unwrap();
        assert_eq!(read_n(s, 2), b"HI");
    }
    for _ in 0..3 {
        let mut refused = server.connect();
        assert_eq!(
            String::from_utf8(read_to_end(&mut refused)).unwrap(),
            "ERR server busy (2 connections from your address), try again later\n"
        );
    }
    // Another client address (127.0.0.2 is loopback too) is served meanwhile.
    let mut other = connect_from("127.0.0.2", server.addr);
    other.write_all(b"other").unwrap();
    assert_eq!(read_n(&mut other, 5), b"OTHER");
    let s = server.handle.stats();
    assert_eq!((s.rejected, s.rejected_per_ip), (3, 3));
    held.pop();
    server.wait_for("a slot to free", |s| s.active == 2);
    let mut again = server.connect();
    again.write_all(b"again").unwrap();
    assert_eq!(read_n(&mut again, 5), b"AGAIN");
}

/// 10,000 connections open at once against the real shoutd, every answer checked by
/// `shout bench` (open loop, 10,000 msgs/s in all for 2 s once all are open). Opening them
/// takes 1 s at the connect rate, about 3 s with both cores busy elsewhere: the warm-up leaves
/// room for that.
fn ten_thousand_connections(model) {
    // Both models' runs together would need more descriptors than this process may open.
    let _alone = TEN_THOUSAND.lock().unwrap_or_else(|p| p.into_inner());
    let mut shoutd = Shoutd::start(&model_args(model));
    let addr = shoutd.addr.to_string();
    let args = shout_client::bench::BenchArgs::try_parse_from([
        addr.as_str(),
        "--connections",
        "10000",
        "--connect-rate",
        "10000",
        "--rate",
        "10000",
        "--warmup",
        "5s",
        "--duration",
        "2s",
        "--timeout",
        "10s",
    ])
    .unwrap();
    let report = shout_client::bench::execute(&args).expect("the bench runs");
    let counts = report.counts();
    assert_eq!(report.exit_code(), 0, "{counts:?}");
    assert_eq!(counts.opened, 10_000);
    assert!(counts.completed >= 20_000, "{counts:?}");
    assert_eq!(counts.errors(false), 0);
    assert_eq!(shoutd.child.try_wait().unwrap(), None, "shoutd died");
}
}
