//! TLS interop with programs that are not shout, on both models: `openssl s_client` and
//! `socat` as clients of shoutd, and `shout` as a client of a socat TLS echo server.
//!
//! These need `openssl` and `socat` (Debian packages of the same names). They run under
//! [`shout_tests::needs`]: where a program is missing its tests are reported as ignored, or fail
//! when `SHOUT_REQUIRE_TLS_TOOLS` is set (`.ci/run` installs both and sets it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;

use shout_server::{CloseReason, Config, Model};
use shout_tests::needs::{self, Need, Test};
use shout_tests::*;

fn main() -> ExitCode {
    let mut tests = Vec::new();
    tests.extend(Test::both_models(
        "openssl_s_client_interop",
        &[Need::Openssl],
        openssl_s_client_interop,
    ));
    tests.extend(Test::both_models(
        "socat_interop",
        &[Need::Socat],
        socat_interop,
    ));
    tests.push(Test::new(
        "pipe_through_a_socat_tls_echo_server",
        &[Need::Socat],
        pipe_through_a_socat_tls_echo_server,
    ));
    needs::run(tests)
}

/// A TLS server with `config` and metrics on.
fn server(model: Model, certs: &Certs, config: Config) -> TestServer {
    shout_tests::tls::tls_server_with_metrics(model, certs, config)
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `openssl s_client -quiet` gets uppercase answers.
fn openssl_s_client_interop(model: Model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config::default());
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
        ])
        .arg("-connect")
        .arg(server.addr.to_string())
        .arg("-CAfile")
        .arg(&certs.ca_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if tx.send(got.clone()).is_err() {
                break;
            }
        }
    });
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"hello from openssl\n")
        .unwrap();
    let mut got = Vec::new();
    while got != b"HELLO FROM OPENSSL\n" {
        got = rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("openssl got {got:?}"));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `socat - OPENSSL:...,cafile=...` gets uppercase answers, and its end of input (close_notify)
/// ends the connection after the answers.
fn socat_interop(model: Model) {
    let certs = Certs::new();
    let server = server(model, &certs, Config::default());
    let target = format!(
        "OPENSSL:{},cafile={},commonname=localhost",
        server.addr,
        certs.ca_file.display()
    );
    let (code, out, err) =
        run_bin_program("socat", &["-t", "10", "-", &target], b"hello from socat\n");
    assert_eq!(code, Some(0), "socat failed: {err}");
    assert_eq!(out, b"HELLO FROM SOCAT\n");
    server.wait_for("the close", |s| s.closed(CloseReason::Done) == 1);
}

/// A TLS echo server that is not shout (socat with `EXEC:cat`): shout's bytes come back as
/// they were, 1 MiB of them, and shout ends after the echo server's close.
fn pipe_through_a_socat_tls_echo_server() {
    let certs = Certs::new();
    let addr = free_port_addr();
    let _echo = SocatEcho::start(addr, &certs);
    let input = pipe_payload(1 << 20);
    let (code, out, err) = run_shout(
        &["--tls-ca", path(&certs.ca_file), &addr.to_string()],
        input.clone(),
    );
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(
        out == input,
        "the echo differs ({} of {} bytes)",
        out.len(),
        input.len()
    );
}

/// socat listening with TLS and echoing every connection through `cat`; killed on drop.
struct SocatEcho(Child);

impl SocatEcho {
    fn start(addr: SocketAddr, certs: &Certs) -> SocatEcho {
        let listen = format!(
            "OPENSSL-LISTEN:{},bind={},reuseaddr,fork,cert={},key={},verify=0",
            addr.port(),
            addr.ip(),
            path(&certs.server.cert_file),
            path(&certs.server.key_file)
        );
        let child = Command::new("socat")
            .args([&listen, "EXEC:cat"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // It complains about the probe connection below, which is no TLS client.
            .stderr(Stdio::null())
            .spawn()
            .expect("start socat");
        wait_until("socat to listen", || TcpStream::connect(addr).ok());
        SocatEcho(child)
    }
}

impl Drop for SocatEcho {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program` with `input` on stdin; its exit code, stdout and stderr (killed after
/// `TIMEOUT`).
fn run_bin_program(program: &str, args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the program");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_child(&mut child);
    (
        status.code(),
        join_within(out, TIMEOUT),
        join_within(err, TIMEOUT),
    )
}
