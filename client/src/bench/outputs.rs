//! The output files of a run (`--json=FILE`, `--report`, `--hdr-log`), checked before it
//! starts: two options naming the same file are refused (one would silently overwrite the
//! other), and each file is created, so one that cannot be written is a usage error now rather
//! than a run's figures lost at its end. Each is then written into the file created here: it
//! is opened once (nothing can come between a second opening and truncate it, and a named
//! pipe's reader sees one writer, from the first byte to the end).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::args::BenchArgs;

/// The output files asked for, as (option, what it holds, path); `--json` alone (stdout) is
/// not a file.
fn files(args: &BenchArgs) -> Vec<(&'static str, &'static str, &Path)> {
    let json = args.json.as_deref().filter(|p| *p != "-").map(Path::new);
    [
        ("--json", "the JSON report", json),
        ("--report", "the HTML report", args.report.as_deref()),
        ("--hdr-log", "the histogram log", args.hdr_log.as_deref()),
    ]
    .into_iter()
    .filter_map(|(option, what, path)| path.map(|p| (option, what, p)))
    .collect()
}

/// Where `path` leads once symbolic links, `.` and `..` are resolved: the file itself if it
/// exists, else its resolved directory joined with its name (as it would be created).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match (dir.canonicalize(), path.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        // A directory that does not exist: creating the file fails and says so.
        _ => path.to_path_buf(),
    }
}

/// The output files created (empty) before the run, to write into.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `--json=FILE`: the JSON report, written at the end.
    pub json: Option<File>,
    /// `--report`: the HTML report, written at the end.
    pub report: Option<File>,
    /// `--hdr-log`: the histogram log, written as the run goes.
    pub hdr_log: Option<File>,
}

/// Refuses two outputs on one file, then creates each output file (empty) and returns it.
pub fn prepare(args: &BenchArgs) -> anyhow::Result<Prepared> {
    let files = files(args);
    for (i, (option, _, path)) in files.iter().enumerate() {
        let here = resolved(path);
        if let Some((other, _, other_path)) =
            files[..i].iter().find(|(_, _, p)| resolved(p) == here)
        {
            bail!(
                "{other} {} and {option} {} are the same file ({}): give each output its own \
                 file",
                other_path.display(),
                path.display(),
                here.display()
            );
        }
    }
    let mut prepared = Prepared::default();
    for (option, what, path) in files {
        let file = File::create(path)
            .with_context(|| format!("cannot write {what} {}", path.display()))?;
        let slot = match option {
            "--json" => &mut prepared.json,
            "--report" => &mut prepared.report,
            _ => &mut prepared.hdr_log,
        };
        *slot = Some(file);
    }
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same file under two spellings is one file; different names are not.
    #[test]
    fn spellings_of_one_file_collide() {
        let dir = std::env::temp_dir();
        let name = format!("shout-outputs-{}.json", std::process::id());
        let plain = dir.join(&name);
        let dotted = dir.join(".").join(&name);
        assert_eq!(resolved(&plain), resolved(&dotted));
        assert_ne!(resolved(&plain), resolved(&dir.join("other.json")));
        let args = BenchArgs::try_parse_from([
            format!("--json={}", plain.display()),
            "--hdr-log".into(),
            dotted.display().to_string(),
        ])
        .expect("valid options");
        let e = prepare(&args).expect_err("the same file twice");
        assert!(e.to_string().contains("are the same file"), "{e}");
        assert!(!plain.exists(), "nothing created before refusing");
    }
}
