//! shoutd at start: options from the environment, and the connection cap fitted to the
//! open-file limit it raised.

use std::process::{Command, Stdio};

use shout_tests::*;

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
