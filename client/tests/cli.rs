//! The `shout` command line (this test also makes `cargo test --workspace` build the binary
//! that the end-to-end tests in `tests/` run; its help is checked in `tests/tests/help.rs`).

use std::process::Command;

/// `shout --version` names the program and its version.
#[test]
fn version_names_the_program() {
    let out = Command::new(env!("CARGO_BIN_EXE_shout"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), format!("shout {}", env!("CARGO_PKG_VERSION")));
}
