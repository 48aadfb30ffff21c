//! The real `shout` binary against the real `shoutd` binary: pipe mode with 100 MiB of binary
//! data, exit codes, options from the environment.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;

use shout_common::{transform_all, Mode};
use shout_tests::*;

/// 100 MiB of mixed text and arbitrary bytes (deterministic).
fn payload(len: usize) -> Vec<u8> {
    let text = "Grüße aus Köln, straße ǆ ﬁ 😀 plain ascii text\n".as_bytes();
    let mut out = Vec::with_capacity(len);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < len {
        out.extend_from_slice(text);
        for _ in 0..16 {
            // xorshift: some bytes that are not UTF-8
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(state as u8);
        }
    }
    out.truncate(len);
    out
}

/// With nothing to send, shout half-closes at once and exits 0 with no output.
#[test]
fn pipe_mode_empty_input() {
    let shoutd = Shoutd::start(&[]);
    let (code, out, err) = run_shout(&[&shoutd.addr.to_string()], Vec::new());
    assert_eq!((code, out.len()), (Some(0), 0), "stderr: {err}");
}

/// Options can come from the environment (`SHOUT_MODE=echo`).
#[test]
fn shoutd_reads_options_from_environment() {
    let mut child = Command::new(bin("shoutd"))
        .args(["--listen", "127.0.0.1:0"])
        .env("SHOUT_MODE", "echo")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let line = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("mode=echo"), "{line}");
}

/// A server that is not there: one clear line and exit code 2.
#[test]
fn connection_refused_exit_code() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
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

/// shoutd raises its soft open-file limit to the hard limit, and lowers --max-connections
/// (with a warning) to what that limit can hold.
#[test]
fn connection_cap_fits_the_open_file_limit() {
    let shoutd = Shoutd::start_under(&["prlimit", "--nofile=100:300"], &[]);
    let log = shoutd.startup.join("\n");
    // 300 (the hard limit, not the soft 100) minus 64 reserved descriptors.
    assert!(log.contains("max_connections=236"), "{log}");
    assert!(log.contains("lowered to fit the open-file limit"), "{log}");
}

/// `--log-format json` writes one JSON object per line.
#[test]
fn json_logs() {
    let shoutd = Shoutd::start(&["--log-format", "json"]);
    let line = shoutd.startup.last().unwrap();
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains(r#""level":"INFO""#), "{line}");
    assert!(line.contains(r#""mode":"upper""#), "{line}");
}

model_tests! {
/// `shout < f > g` through the real shoutd gives the transformed `f`: 100 MiB, binary bytes,
/// streamed both ways at once, exit 0.
fn pipe_mode_100_mib(model) {
    let shoutd = Shoutd::start(&model_args(model));
    let input = payload(100 << 20);
    let expected = transform_all(Mode::Upper, &input);
    let (code, out, err) = run_shout(&[&shoutd.addr.to_string()], input);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out.len(), expected.len());
    assert!(out == expected, "answer differs from the transform");
}

/// Refusals at the connection limit are logged once per burst, not once per connection, and
/// the end of the burst says how many were refused.
fn busy_refusals_logged_once_per_burst(model) {
    // `-v` logs `closed` once a connection is closed and counted: the slot is free then.
    let shoutd = Shoutd::start(&[&model_args(model)[..], &["-v", "--max-connections", "1"]].concat());
    let mut held = connect(shoutd.addr);
    held.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut held, 1), b"X");
    for _ in 0..3 {
        let mut refused = connect(shoutd.addr);
        assert!(read_to_end(&mut refused).starts_with(b"ERR server busy (1 connection)"));
    }
    drop(held);
    let mut lines = shoutd.log_until("closed");
    assert_eq!(round_trip(shoutd.addr, b"y"), b"Y");
    lines.extend(shoutd.log_until("below the connection limit again"));
    let bursts = lines
        .iter()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert_eq!(bursts, 1, "{lines:#?}");
    assert!(lines.last().unwrap().contains("refused=3"), "{lines:#?}");
}
}
