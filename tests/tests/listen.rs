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
