//! Packaging: both binaries print shell completions and a man page generated from their
//! options, and an unknown shell is a usage error.

use shout_tests::*;

/// Both binaries print a bash completion script that names them, and exit 0.
#[test]
fn completions_are_printed() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run_text(name, &["completions", "bash"]);
        assert_eq!(code, Some(0), "{name} completions bash failed: {err}");
        assert!(
            out.contains(&format!("_{name}()")) && out.contains("complete "),
            "{name}: not a bash completion script:\n{out}"
        );
        assert!(out.contains(name), "{name} is not named in its completions");
    }
}

/// Both binaries print a roff man page with a `.TH` title line naming them, and exit 0.
#[test]
fn man_pages_are_printed() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run_text(name, &["man"]);
        assert_eq!(code, Some(0), "{name} man failed: {err}");
        let title = out
            .lines()
            .find(|line| line.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{name}: no .TH line in the man page:\n{out}"));
        assert!(
            title.starts_with(&format!(".TH {name} ")),
            "{name}: the man page is titled {title:?}"
        );
    }
}

/// An unknown shell is a usage error: exit code 2 and a message, nothing on stdout.
#[test]
fn completions_for_unknown_shell_is_usage_error() {
    for name in ["shoutd", "shout"] {
        let (code, out, err) = run_text(name, &["completions", "nosuchshell"]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(out.is_empty(), "{name} printed to stdout: {out}");
        assert!(
            err.contains("nosuchshell"),
            "{name}: unhelpful error: {err}"
        );
    }
}
