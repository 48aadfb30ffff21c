//! Listening: several addresses including IPv6, and an immediate restart on the same port.

use std::io::Write;
use std::thread;

use shout_server::{Config, Server};
use shout_tests::*;

model_tests! {
/// One server answers on every `--listen` address, IPv4 and IPv6 loopback alike.
fn several_addresses_ipv4_and_ipv6(model) {
    let server = Server::bind(Config {
        model,
        listen: vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
        ..Config::default()
    })
    .expect("bind IPv4 and IPv6 loopback");
    let addrs = server.local_addrs().to_vec();
    assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6());
    let handle = server.handle();
    let run = thread::spawn(move || server.run());
    for addr in &addrs {
        assert_eq!(round_trip(*addr, b"both"), b"BOTH", "{addr}");
    }
    handle.shutdown();
    let summary = join_within(run, TIMEOUT).unwrap();
    assert_eq!(summary.accepted, 2);
}

/// A restarted server binds the same port at once, even with the previous one's connections
/// in TIME_WAIT (SO_REUSEADDR).
fn restart_on_the_same_port(model) {
    let first = server_with(model);
    let addr = first.addr;
    let mut client = first.connect();
    client.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut client, 1), b"X");
    // The server closes first at shutdown, so its side of the connection enters TIME_WAIT.
    let stopping = thread::spawn(move || first.stop());
    assert_eq!(read_to_end(&mut client), b"");
    drop(client);
    join_within(stopping, TIMEOUT);

    let second = TestServer::start_on(
        Config {
            model,
            ..Config::default()
        },
        addr,
    );
    assert_eq!(round_trip(second.addr, b"again"), b"AGAIN");
}
}

/// `--reuse-port`: a second server binds the port a first one serves on (without the option,
/// that bind is refused as in use), the kernel spreads new connections over both, and once the
/// first stops the second serves every new connection alone.
#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    let config = |listen| Config {
        listen: vec![listen],
        reuse_port: true,
        ..Config::default()
    };
    let first = Server::bind(config("127.0.0.1:0".parse().unwrap())).expect("bind");
    let addr = first.local_addrs()[0];
    let refused = Server::bind(Config {
        reuse_port: false,
        ..config(addr)
    });
    let error = refused
        .err()
        .expect("a second bind without --reuse-port is refused");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}");
    let second = Server::bind(config(addr)).expect("a second bind with --reuse-port");
    let (first_handle, second_handle) = (first.handle(), second.handle());
    let first_run = thread::spawn(move || first.run());
    let second_run = thread::spawn(move || second.run());
    // 64 connections from as many source ports: the chance that one server gets none is 2^-63.
    for i in 0..64 {
        let line = format!("line {i}");
        assert_eq!(
            round_trip(addr, line.as_bytes()),
            line.to_uppercase().as_bytes()
        );
    }
    first_handle.shutdown();
    let first_summary = join_within(first_run, TIMEOUT).unwrap();
    assert!(first_summary.accepted > 0, "{first_summary:?}");
    for i in 0..8 {
        let line = format!("after {i}");
        assert_eq!(
            round_trip(addr, line.as_bytes()),
            line.to_uppercase().as_bytes()
        );
    }
    second_handle.shutdown();
    let second_summary = join_within(second_run, TIMEOUT).unwrap();
    assert!(second_summary.accepted > 8, "{second_summary:?}");
    assert_eq!(first_summary.accepted + second_summary.accepted, 72);
}
