//! Scale-out without containers: the docker-compose topology as plain processes on loopback,
//! two real `shoutd` behind a real HAProxy running the repository's `deploy/haproxy.cfg`
//! (addresses substituted), load-tested through it with `shout bench`, and a rolling restart
//! under load. As in docker-compose.yml, HAProxy sends a PROXY protocol v2 header
//! (`send-proxy-v2`, health checks too) and shoutd runs with `--proxy-protocol` (its default
//! `--proxy-from` is loopback), so shoutd sees the original client address.
//!
//! These tests need the `haproxy` binary (Debian package `haproxy`). They run under
//! [`shout_tests::needs`]: without haproxy they are reported as ignored, or fail when
//! `SHOUT_REQUIRE_HAPROXY` is set (`.ci/run` installs haproxy and sets it).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;

use rustix::process::Signal;
use shout_client::bench::{self, BenchArgs};
use shout_tests::needs::{self, Need, Test};
use shout_tests::*;

fn main() -> ExitCode {
    needs::run([
        Test::new(
            "bench_through_haproxy",
            &[Need::Haproxy],
            bench_through_haproxy,
        ),
        Test::new(
            "rolling_restart_under_load",
            &[Need::Haproxy],
            rolling_restart_under_load,
        ),
        Test::new(
            "backend_logs_the_original_client_address",
            &[Need::Haproxy],
            backend_logs_the_original_client_address,
        ),
    ])
}

/// shoutd as docker-compose.yml runs it behind HAProxy: expecting a PROXY header.
fn backend(extra: &[&str]) -> Shoutd {
    let mut args = vec!["--proxy-protocol"];
    args.extend_from_slice(extra);
    Shoutd::start(&args)
}

/// HAProxy with the repository's configuration, in front of `backends`; killed on drop.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Haproxy {
    fn start(backends: &[SocketAddr]) -> Haproxy {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/haproxy.cfg");
        let original = std::fs::read_to_string(path).expect("read deploy/haproxy.cfg");
        let addr = free_port_addr();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, a)| format!("    server s{i} {a}\n"))
            .collect();
        let mut config = String::new();
        let mut substituted = 0;
        for line in original.lines() {
            let trimmed = line.trim_start();
            if trimmed == "bind :9999" {
                config.push_str(&format!("    bind {addr}\n"));
                substituted += 1;
            } else if trimmed == "bind :8404" {
                config.push_str(&format!("    bind {}\n", free_port_addr()));
                substituted += 1;
            } else if trimmed.starts_with("server-template ") {
                config.push_str(&servers);
                substituted += 1;
            } else {
                config.push_str(line);
                config.push('\n');
            }
        }
        assert_eq!(
            substituted, 3,
            "deploy/haproxy.cfg no longer has the expected lines"
        );
        let dir = std::env::temp_dir().join(format!(
            "shout-haproxy-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("haproxy.cfg");
        std::fs::write(&cfg, config).unwrap();
        let check = Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "substituted config invalid: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let lb = Haproxy { child, addr, dir };
        wait_until("haproxy to answer through a backend", || {
            std::net::TcpStream::connect_timeout(&lb.addr, TIMEOUT)
                .ok()
                .map(|_| ())
        });
        assert_eq!(round_trip(lb.addr, b"through"), b"THROUGH");
        lb
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number of connections a stopped shoutd says it served, from its summary line.
fn served(shoutd: &mut Shoutd) -> u64 {
    let line = shoutd.expect_log("stopped:");
    line.split("stopped: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in: {line}"))
}

/// `shout bench` through HAProxy to two shoutd: every answer exact, both servers used.
fn bench_through_haproxy() {
    let mut a = backend(&[]);
    let mut b = backend(&[]);
    let lb = Haproxy::start(&[a.addr, b.addr]);
    let args = BenchArgs::try_parse_from([
        lb.addr.to_string().as_str(),
        "--connections",
        "20",
        "--messages",
        "20000",
        "--pipeline",
        "4",
    ])
    .unwrap();
    let report = bench::execute(&args).expect("bench runs");
    let counts = report.counts();
    assert_eq!(report.exit_code(), 0, "{counts:?}");
    assert_eq!(counts.completed, 20_000);
    drop(lb);
    for server in [&mut a, &mut b] {
        server.signal(Signal::TERM);
        // 20 bench connections spread by least-connections: about 10 each (plus checks).
        let n = served(server);
        assert!(n >= 5, "a backend served only {n} connections");
        assert_eq!(server.wait_exit().code(), Some(0));
    }
}

/// Rolling restart: while `shout bench --reconnect` runs through HAProxy, one shoutd gets
/// SIGTERM. It answers what it had read and closes; the bench reopens its connections, which
/// go to the other server; not one answer is wrong or missing.
fn rolling_restart_under_load() {
    // `a` logs its message rate every 100 ms, so the test sees when the load reaches it.
    let mut a = backend(&["--stats-interval", "100ms"]);
    let b = backend(&[]);
    let lb = Haproxy::start(&[a.addr, b.addr]);
    let args = BenchArgs::try_parse_from([
        lb.addr.to_string().as_str(),
        "--connections",
        "20",
        "--rate",
        "2000",
        "--duration",
        "6s",
        "--pipeline",
        "8",
        "--reconnect",
        "--timeout",
        "8s",
    ])
    .unwrap();
    let load = thread::spawn(move || bench::execute(&args).expect("bench runs"));
    // Restart `a` once it is serving the bench (health checks alone are a few lines a second).
    wait_until("the load to reach the first server", || {
        (log_field(&a.expect_log("stats"), "msgs_per_s") >= 100).then_some(())
    });
    a.signal(Signal::TERM);
    assert_eq!(a.wait_exit().code(), Some(0), "the draining server failed");
    let report = join_within(load, TIMEOUT * 3);
    let counts = report.counts();
    assert_eq!(report.exit_code(), 0, "{counts:?}");
    assert_eq!(
        (
            counts.mismatches,
            counts.short,
            counts.timeouts,
            counts.unsent
        ),
        (0, 0, 0, 0),
        "{counts:?}"
    );
    assert!(counts.reopened > 0, "no connection moved: {counts:?}");
    assert_eq!(counts.completed, counts.sent - counts.resent, "{counts:?}");
    // The remaining server still serves new connections through the balancer.
    assert_eq!(round_trip(lb.addr, b"after"), b"AFTER");
    drop(b);
}

/// shoutd behind HAProxy logs the client's own address (from the PROXY header), not
/// HAProxy's: a client connecting from 127.0.0.3 is logged as 127.0.0.3, while HAProxy
/// connects to shoutd from 127.0.0.1.
fn backend_logs_the_original_client_address() {
    let server = backend(&["-v"]);
    let lb = Haproxy::start(&[server.addr]);
    let mut client = connect_from("127.0.0.3".parse().unwrap(), lb.addr);
    let local = client.local_addr().unwrap();
    client.write_all(b"who am i").unwrap();
    assert_eq!(read_n(&mut client, 8), b"WHO AM I");
    let accepted = server.expect_log(&format!("peer={local}"));
    assert!(accepted.contains("accepted"), "{accepted}");
    drop(client);
    let closed = server.expect_log(&format!("peer={local}"));
    assert!(closed.contains("closed"), "{closed}");
}
