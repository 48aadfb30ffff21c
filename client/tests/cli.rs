//! The `shout` command line (this test also makes `cargo test --workspace` build the binary
//! that the end-to-end tests in `tests/` run).

use std::process::Command;

/// Every option is documented with its environment variable and default.
#[test]
fn help_lists_every_option_with_env_and_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_shout"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "SHOUT_CONNECT_TIMEOUT",
        "[default: 5s]",
        "SHOUT_RETRIES",
        "SHOUT_REPLY_TIMEOUT",
        "[default: 127.0.0.1:9999]",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
}
