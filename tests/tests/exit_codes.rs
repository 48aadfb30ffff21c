//! How `shout` and `shoutd` end, by exit code: 0 once everything is answered (after retrying
//! until the server is up), 1 when the connection fails after it was made, 2 for a usage error
//! or a server that cannot be reached, each with one clear line.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

use shout_tests::*;

/// A server that is not there: one clear line and exit code 2.
#[test]
fn connection_refused_exit_code() {
    let addr = free_port_addr().to_string();
    let (code, _, err) = run_shout(&[&addr], b"x".to_vec());
    assert_eq!(code, Some(2));
    assert_eq!(
        err.trim_end(),
        format!("shout: cannot connect to {addr}: connection refused (is shoutd running?)")
    );
}

/// `--retries` keeps trying until the server comes up.
#[test]
fn retries_until_the_server_is_up() {
    let addr = free_port_addr();
    let late_server = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(400));
        let server = shout_server::Server::bind(shout_server::Config {
            listen: vec![addr],
            ..Default::default()
        })
        .unwrap();
        let handle = server.handle();
        let run = thread::spawn(move || server.run());
        (handle, run)
    });
    let (code, out, err) = run_shout(&["--retries", "10", &addr.to_string()], b"late\n".to_vec());
    let (handle, run) = join_within(late_server, TIMEOUT);
    handle.shutdown();
    join_within(run, TIMEOUT).unwrap();
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, b"LATE\n");
}

/// A server that closes before reading all input: shout says so and exits 1.
#[test]
fn server_closing_early_exit_code() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rude = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 10];
        conn.read_exact(&mut buf).unwrap();
        conn.write_all(b"BYE").unwrap();
        // Dropping with unread input resets the connection.
    });
    let (code, _, err) = run_shout(&[&addr.to_string()], vec![b'a'; 32 << 20]);
    join_within(rude, TIMEOUT);
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.starts_with("shout: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A usage error exits 2 for both binaries.
#[test]
fn usage_errors_exit_2() {
    for (name, arg) in [("shoutd", "--no-such-option"), ("shout", "--retries=many")] {
        let status = Command::new(bin(name))
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2), "{name} {arg}");
    }
}
