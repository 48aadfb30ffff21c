//! Private network namespaces for the fault-injection tests: each has its own loopback and its
//! own iptables rules, so a test can drop or reset packets for the real `shoutd` and
//! `shout bench` it runs inside without touching the machine's network or other tests.
//!
//! Namespaces need root (`ip netns add`) and iptables. The tests that use them run under
//! [`crate::needs`], which checks with [`Netns::probe`] first: where namespaces are
//! unavailable those tests are reported as ignored, or fail with `SHOUT_REQUIRE_NETNS=1` (set by
//! `.ci/run`).

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::bin;
use crate::shoutd::Shoutd;
use crate::wait::{join_within, TIMEOUT};

/// Serialises `ip netns add` and `del` within this process: the first `add` sets up the
/// `/run/netns` mount, which concurrent calls can race on.
static SETUP: Mutex<()> = Mutex::new(());

/// Numbers the namespaces of this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace `shout-<pid>-<n>` with loopback up; deleted on drop (also when the test
/// panics), which removes its rules with it.
pub struct Netns {
    name: String,
    /// The iptables command that works here (`iptables`, or `iptables-legacy` where the
    /// nftables backend does not).
    iptables: &'static str,
}

impl Netns {
    /// `Ok` if namespaces with a working iptables can be made here, otherwise why not (a
    /// namespace is made and deleted to find out).
    pub fn probe() -> Result<(), String> {
        Netns::try_create().map(drop)
    }

    /// Creates a namespace; panics (naming why) if that cannot be done here, which a test under
    /// [`crate::needs`] learns beforehand from [`Netns::probe`].
    pub fn create() -> Netns {
        Netns::try_create().unwrap_or_else(|why| panic!("cannot create a network namespace: {why}"))
    }

    /// Creates a namespace, or says why it cannot be done here.
    fn try_create() -> Result<Netns, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not running as root".to_owned());
        }
        let name = format!(
            "shout-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        {
            let _setup = SETUP
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(why) = run_quiet(Command::new("ip").args(["netns", "add", &name])) {
                return Err(format!("`ip netns add` failed: {why}"));
            }
        }
        // From here on, drop deletes it.
        let mut ns = Netns {
            name,
            iptables: "iptables",
        };
        if let Err(why) =
            run_quiet(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]))
        {
            return Err(format!("cannot bring loopback up in a namespace: {why}"));
        }
        let working = ["iptables", "iptables-legacy"]
            .into_iter()
            .find(|program| run_quiet(ns.command(program).args(["-w", "10", "-S"])).is_ok());
        match working {
            Some(program) => ns.iptables = program,
            None => return Err("iptables does not work in a namespace".to_owned()),
        }
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program`, to be run inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Appends `rule` to the namespace's iptables (`-A CHAIN ...`); panics if it is refused.
    pub fn iptables(&self, rule: &[&str]) {
        let mut command = self.command(self.iptables);
        command.args(["-w", "10"]).args(rule);
        if let Err(why) = run_quiet(&mut command) {
            panic!("{} {rule:?} failed: {why}", self.iptables);
        }
    }

    /// The real shoutd inside the namespace, on an ephemeral port of its loopback, started with
    /// `extra` arguments; it is listening when this returns. Killed on drop.
    pub fn shoutd(&self, extra: &[&str]) -> Shoutd {
        Shoutd::start_under(&["ip", "netns", "exec", &self.name], extra)
    }

    /// Runs the real `shout bench --json` inside the namespace with `args` (the address
    /// included), `SHOUT_*` variables of the test environment removed. Panics if it runs longer
    /// than `limit` (it is killed) or writes no JSON report.
    pub fn bench(&self, args: &[&str], limit: Duration) -> BenchRun {
        let mut command = self.command(bin("shout"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SHOUT_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .arg("bench")
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shout bench");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let out_reader = thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let err_reader = thread::spawn(move || {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err);
            err
        });
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for shout bench") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("shout bench {args:?} did not finish within {limit:?}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let stdout = join_within(out_reader, TIMEOUT);
        let stderr = join_within(err_reader, TIMEOUT);
        let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("shout bench {args:?} ({status}) wrote no JSON report ({e}): {stdout}{stderr}")
        });
        BenchRun {
            code: status.code(),
            report,
            stderr,
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _setup = SETUP
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(why) = run_quiet(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("could not delete network namespace {}: {why}", self.name);
        }
    }
}

/// The outcome of one `shout bench` run.
#[derive(Debug)]
pub struct BenchRun {
    /// Its exit code.
    pub code: Option<i32>,
    /// Its `--json` report.
    pub report: Value,
    /// What it said on stderr.
    pub stderr: String,
}

impl BenchRun {
    /// A counter of the report, such as `("errors", "mismatches")`; panics if it is missing.
    pub fn count(&self, section: &str, field: &str) -> u64 {
        self.report[section][field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {section}.{field} in the report: {}", self.report))
    }

    /// The report's message, error and connection counters on one line, for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "exit code {:?}; messages {}; errors {}; connections {}; stderr: {}",
            self.code,
            self.report["messages"],
            self.report["errors"],
            self.report["connections"],
            self.stderr.trim()
        )
    }
}

/// Runs `command` to completion with output captured (within [`TIMEOUT`]); its stderr on
/// failure.
fn run_quiet(command: &mut Command) -> Result<(), String> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let output = join_within(thread::spawn(move || child.wait_with_output()), TIMEOUT)
        .map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} ({})",
            String::from_utf8_lossy(&output.stderr).trim(),
            output.status
        ))
    }
}
