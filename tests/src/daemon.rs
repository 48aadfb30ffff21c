//! shoutd as a daemon that outlives its first process: a copy of the binary whose file a test
//! replaces (upgrades), PID files, and processes that are not the test's children (the new
//! process of an upgrade), signalled and waited for by PID.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::process::{kill_process, Pid, Signal};

use crate::process::bin;
use crate::wait::wait_until;

/// A directory holding a `shoutd` to start, whose file can be replaced as a package upgrade
/// does (a new file renamed over it); removed on drop.
pub struct BinaryCopy {
    /// The directory.
    pub dir: PathBuf,
}

impl BinaryCopy {
    /// A hard link to the built `shoutd` in a fresh directory next to it (same file system).
    pub fn new() -> BinaryCopy {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let built = bin("shoutd");
        let dir = built
            .parent()
            .expect("the binary is in a directory")
            .join(format!(
                "upgrade-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
        std::fs::create_dir_all(&dir).expect("create the binary's directory");
        let copy = BinaryCopy { dir };
        std::fs::hard_link(&built, copy.path()).expect("link the binary");
        copy
    }

    /// The binary to start.
    pub fn path(&self) -> PathBuf {
        self.dir.join("shoutd")
    }

    /// Replaces the binary with a shell script (`body` after `#!/bin/sh`), renamed over it.
    pub fn replace_with_script(&self, body: &str) {
        let staged = self.dir.join("shoutd.new");
        std::fs::write(&staged, format!("#!/bin/sh\n{body}\n")).expect("write the script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
            .expect("make the script executable");
        std::fs::rename(&staged, self.path()).expect("replace the binary");
    }
}

impl Default for BinaryCopy {
    fn default() -> Self {
        BinaryCopy::new()
    }
}

impl Drop for BinaryCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PID file's PID, if it holds one.
pub fn read_pid_file(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether process `pid` has exited (gone, or a zombie nobody has reaped yet).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Waits (bounded) for process `pid` to exit.
pub fn wait_exited(pid: u32) {
    wait_until(&format!("process {pid} to exit"), || {
        exited(pid).then_some(())
    });
}

/// Sends `signal` to process `pid`.
pub fn signal_pid(pid: u32, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(pid).expect("a PID fits i32")).expect("a PID is not 0");
    kill_process(pid, signal).expect("signal the process");
}

/// Stops process `pid` (if still running) with SIGKILL on drop: the new process of an upgrade
/// is not the test's child, so `Shoutd`'s own drop does not reach it.
pub struct KillOnDrop(pub u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !exited(self.0) {
            if let Some(pid) = i32::try_from(self.0).ok().and_then(Pid::from_raw) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// Starts the copy of shoutd with `--pid-file` in its directory and `extra` options.
pub fn start_copy(
    copy: &BinaryCopy,
    model: shout_server::Model,
    extra: &[&str],
) -> (crate::Shoutd, PathBuf) {
    let pid_file = copy.dir.join("shoutd.pid");
    let pid_arg = pid_file.to_str().expect("a UTF-8 path").to_string();
    let mut args = vec!["--pid-file", pid_arg.as_str(), "--model", model.as_str()];
    args.extend_from_slice(extra);
    let shoutd = crate::Shoutd::start_program(&copy.path(), &[], &[], &args);
    (shoutd, pid_file)
}

/// Sends SIGUSR2 to `pid` and waits for the hand-over: the new process's PID, from the PID
/// file (which then no longer holds `pid`).
pub fn upgrade(shoutd: &crate::Shoutd, pid_file: &Path, pid: u32) -> u32 {
    signal_pid(pid, Signal::USR2);
    shoutd.expect_log("upgrade: the new process serves");
    let new = read_pid_file(pid_file).expect("a PID in the PID file");
    assert_ne!(new, pid, "the PID file still names the old process");
    new
}

/// Waits until the metrics at `addr` count `n` active connections.
pub fn wait_active(addr: std::net::SocketAddr, n: i64) {
    wait_until("the connection to be accepted", || {
        (crate::http::scrape(addr).gauge("shout_connections_active") == n).then_some(())
    });
}

/// Upgrades `n` times in a row, each from the process that serves: each old process exits
/// after it hands over (the first, `shoutd`'s child, with status 0). Returns the PID that
/// serves at the end, and guards that kill the new processes if the test fails.
pub fn upgrade_in_a_row(
    shoutd: &mut crate::Shoutd,
    pid_file: &Path,
    n: usize,
) -> (u32, Vec<KillOnDrop>) {
    let mut pid = shoutd.child.id();
    let mut guards = Vec::new();
    for round in 0..n {
        let new = upgrade(shoutd, pid_file, pid);
        guards.push(KillOnDrop(new));
        if round == 0 {
            assert_eq!(
                shoutd.wait_exit().code(),
                Some(0),
                "the first process's exit"
            );
        } else {
            wait_exited(pid);
        }
        pid = new;
    }
    (pid, guards)
}
