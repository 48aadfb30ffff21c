//! The real binaries as child processes: where they are, running one to its end with its
//! output, and what the tests read or change about a running one (CPU time, open-file limit).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use crate::wait::{join_within, wait_until, TIMEOUT};

/// The path of a workspace binary (`shoutd` or `shout`), built by `cargo test --workspace`
/// next to the test executables.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so it is built",
        path.display()
    );
    path
}

/// Runs binary `name` with `args` and `input` on stdin (`SHOUT_*` variables of the test
/// environment removed) until it exits within [`TIMEOUT`]; returns (exit code, stdout, stderr).
pub fn run_bin(name: &str, args: &[&str], input: Vec<u8>) -> (Option<i32>, Vec<u8>, String) {
    let mut command = Command::new(bin(name));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHOUT_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feeder = thread::spawn(move || {
        // The binary may exit early on errors; a broken pipe here is expected then.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).expect("read stdout");
        out
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let err_reader = thread::spawn(move || {
        let mut err = String::new();
        stderr.read_to_string(&mut err).expect("read stderr");
        err
    });
    let status = wait_child(&mut child);
    join_within(feeder, TIMEOUT);
    (
        status.code(),
        join_within(reader, TIMEOUT),
        join_within(err_reader, TIMEOUT),
    )
}

/// Runs binary `name` with `args` and no input, as [`run_bin`] does; returns (exit code,
/// stdout, stderr), the output as text.
pub fn run_text(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let (code, out, err) = run_bin(name, args, Vec::new());
    (code, String::from_utf8(out).expect("UTF-8 output"), err)
}

/// Runs the real `shout` as [`run_bin`] does.
pub fn run_shout(args: &[&str], input: Vec<u8>) -> (Option<i32>, Vec<u8>, String) {
    run_bin("shout", args, input)
}

/// Waits for `child` to exit within [`TIMEOUT`] (panics otherwise).
pub fn wait_child(child: &mut Child) -> ExitStatus {
    wait_until("the process to exit", || child.try_wait().expect("wait"))
}

/// Asserts that process `pid` is waiting, not spinning: it uses under 30 clock ticks of CPU
/// (0.3 s at the usual 100 Hz) in the next second, where a busy loop would take most of a
/// core. `context` says what it is waiting through, for the failure message.
pub fn assert_not_spinning(pid: u32, context: &str) {
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(used < 30, "pid {pid} used {used} ticks in 1 s {context}");
}

/// CPU time (user + system, in clock ticks) process `pid` has used, from `/proc`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // Fields after the command name (in parentheses): utime is the 12th, stime the 13th.
    let after = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Lowers `child`'s open-file limit (soft and hard) to its open descriptors plus `room`.
pub fn leave_descriptors(child: &Child, room: u64) {
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    let open = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .expect("list the child's descriptors")
        .count() as u64;
    let limit = Rlimit {
        current: Some(open + room),
        maximum: Some(open + room),
    };
    prlimit(Some(Pid::from_child(child)), Resource::Nofile, limit)
        .expect("lower the child's open-file limit");
}

/// `len` bytes of mixed text (Latin with accents, ǆ, ﬁ, an emoji) and arbitrary bytes that
/// are not UTF-8, the same every time: data to pipe through `shout`.
pub fn pipe_payload(len: usize) -> Vec<u8> {
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
