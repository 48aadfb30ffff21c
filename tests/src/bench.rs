//! `shout bench` run in this process: parsing its options, running it on a thread with a
//! bound, checking a clean report, and keeping timing-sensitive runs off each other's cores;
//! a temporary directory for its output files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use shout_client::bench::report::Report;
use shout_client::bench::{execute, BenchArgs};

use crate::wait::{join_within, TIMEOUT};

/// Timing-sensitive tests (rates, a restart in mid-run) take this exclusively, so the other
/// benches in the same test binary do not compete with them for the cores; the rest share it.
static CORES: RwLock<()> = RwLock::new(());

/// A share of the cores, for a bench that is not timing-sensitive.
pub fn shared_cores() -> RwLockReadGuard<'static, ()> {
    CORES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The cores to itself, for a timing-sensitive bench.
pub fn exclusive_cores() -> RwLockWriteGuard<'static, ()> {
    CORES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parses bench options (`opts`, then the server addresses).
pub fn bench_args(addrs: &[SocketAddr], opts: &[&str]) -> BenchArgs {
    let argv: Vec<String> = opts
        .iter()
        .map(|s| s.to_string())
        .chain(addrs.iter().map(ToString::to_string))
        .collect();
    BenchArgs::try_parse_from(&argv).unwrap_or_else(|e| panic!("bad options {argv:?}: {e}"))
}

/// Starts the bench in-process on another thread (an error: the run could not start).
pub fn spawn_bench(args: BenchArgs) -> JoinHandle<Result<Report, String>> {
    thread::spawn(move || execute(&args).map_err(|e| format!("{e:#}")))
}

/// Runs the bench in-process and returns its report; panics if it cannot start or takes more
/// than [`TIMEOUT`] beyond its planned length.
pub fn run_bench(addrs: &[SocketAddr], opts: &[&str]) -> Report {
    let args = bench_args(addrs, opts);
    let limit = TIMEOUT + args.warmup + args.duration.unwrap_or_default();
    join_within(spawn_bench(args), limit).expect("the bench runs")
}

/// Asserts a run with no error of any kind and exit code 0.
pub fn assert_clean(report: &Report, connections: u64) {
    let c = report.counts();
    assert_eq!(report.exit_code(), 0, "{c:?}\n{}", report.table());
    assert_eq!(c.completed, c.sent, "{c:?}");
    assert_eq!(c.mismatches, 0, "{c:?}");
    assert_eq!(c.short, 0, "{c:?}");
    assert_eq!(c.timeouts, 0, "{c:?}");
    assert_eq!(c.conn_errors, 0, "{c:?}");
    assert_eq!(c.connect_failures, 0, "{c:?}");
    assert_eq!(c.setup_failures, 0, "{c:?}");
    assert_eq!(c.unsent, 0, "{c:?}");
    assert_eq!(c.resent, 0, "{c:?}");
    assert_eq!(c.reopened, 0, "{c:?}");
    assert_eq!(c.opened, connections, "{c:?}");
    assert!(c.measured > 0, "{c:?}");
}

/// A directory of its own under the system temporary directory; removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty directory, `tag` in its name.
    pub fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("shout-bench-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// `name` in the directory, as text (for command lines).
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("a UTF-8 path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
