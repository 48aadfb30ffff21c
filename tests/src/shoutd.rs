//! The real `shoutd` as a child process on an ephemeral loopback port: [`Shoutd`] starts it,
//! learns its address from the start-up line, and lets a test wait for its log lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use crate::process::{bin, wait_child};
use crate::wait::TIMEOUT;

/// The real `shoutd` binary, running as a child process on an ephemeral loopback port.
/// Killed on drop.
pub struct Shoutd {
    /// The child process.
    pub child: Child,
    /// The address it reported in its start-up log line.
    pub addr: SocketAddr,
    /// Every later stderr line, as it arrives.
    pub log: mpsc::Receiver<String>,
    /// The stderr lines up to and including the start-up line.
    pub startup: Vec<String>,
}

impl Shoutd {
    /// Starts `shoutd --listen 127.0.0.1:0` with `extra` arguments and waits for it to listen.
    pub fn start(extra: &[&str]) -> Shoutd {
        Shoutd::start_under(&[], extra)
    }

    /// Like [`Shoutd::start`], run through a wrapper command (such as `prlimit ...`).
    pub fn start_under(wrapper: &[&str], extra: &[&str]) -> Shoutd {
        Shoutd::start_with(wrapper, &[], extra)
    }

    /// Like [`Shoutd::start_under`], with environment variables `env` set.
    pub fn start_with(wrapper: &[&str], env: &[(&str, &str)], extra: &[&str]) -> Shoutd {
        Shoutd::start_program(&bin("shoutd"), wrapper, env, extra)
    }

    /// Like [`Shoutd::start_with`], starting the binary at `shoutd` (a copy whose file a test
    /// replaces, for upgrades).
    pub fn start_program(
        shoutd: &std::path::Path,
        wrapper: &[&str],
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Shoutd {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(shoutd);
                c
            }
            None => Command::new(shoutd),
        };
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shoutd");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = forward_lines(stderr);
        let mut startup = Vec::new();
        let addr = loop {
            let line = log
                .recv_timeout(TIMEOUT)
                .unwrap_or_else(|_| panic!("shoutd never said it was listening: {startup:?}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr = rest
                    .split([' ', ',', '"'])
                    .next()
                    .and_then(|a| a.parse().ok());
                startup.push(line.clone());
                break addr.unwrap_or_else(|| panic!("no address in start-up line: {line}"));
            }
            startup.push(line);
        };
        Shoutd {
            child,
            addr,
            log,
            startup,
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn expect_log(&self, needle: &str) -> String {
        self.log_until(needle)
            .pop()
            .expect("at least the matching line")
    }

    /// Waits for a log line containing `needle`; returns every line logged since the last call,
    /// up to and including that one.
    pub fn log_until(&self, needle: &str) -> Vec<String> {
        self.log_until_within(needle, TIMEOUT)
    }

    /// [`Shoutd::log_until`] with a bound of its own, for what takes longer by design.
    pub fn log_until_within(&self, needle: &str, within: std::time::Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("shoutd never logged '{needle}'; it logged {lines:#?}"),
            }
        }
    }

    /// The first metrics address named in the start-up line (`metrics=ADDR`), for a shoutd
    /// started with `--metrics-listen`.
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self.startup.last().expect("a start-up line");
        line.split("metrics=")
            .nth(1)
            .and_then(|field| field.trim_start_matches('"').split([' ', ',', '"']).next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no metrics address in the start-up line: {line}"))
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal shoutd");
    }

    /// Waits for the process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }
}

impl Drop for Shoutd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The numeric value of field `name=` in a text log line (`msgs_per_s=120`).
pub fn log_field(line: &str, name: &str) -> u64 {
    let needle = format!("{name}=");
    line.split(' ')
        .find_map(|word| word.strip_prefix(needle.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric field {name} in log line: {line}"))
}

/// Forwards each line of `stderr` to the returned channel, from a thread of its own.
fn forward_lines(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
