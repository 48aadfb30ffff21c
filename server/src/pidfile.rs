//! `--pid-file`: the PID of the process that serves, written atomically (a temporary file in
//! the same directory, then a rename), so a reader never sees a half-written file; removed at a
//! clean exit only if it still holds this process's PID (after an upgrade it holds the new
//! process's, which must stay).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A PID file this process wrote.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's PID to `path`, replacing what was there in one step.
    pub fn write(path: &Path) -> io::Result<PidFile> {
        let pid = std::process::id();
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the PID file path names no file",
            )
        })?;
        let mut temporary = name.to_os_string();
        temporary.push(format!(".{pid}.tmp"));
        let temporary = path.with_file_name(temporary);
        let written = fs::File::create(&temporary).and_then(|mut file| {
            file.write_all(format!("{pid}\n").as_bytes())?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| fs::rename(&temporary, path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temporary);
            return Err(io::Error::new(
                e.kind(),
                format!("cannot write the PID file {}: {e}", path.display()),
            ));
        }
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }

    /// At a clean exit: removes the file if it still holds this process's PID (true if it was
    /// removed).
    pub fn remove(self) -> bool {
        match read_pid(&self.path) {
            Some(pid) if pid == std::process::id() => fs::remove_file(&self.path).is_ok(),
            _ => false,
        }
    }
}

/// The PID in file `path`, if it holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("shoutd-pidfile-{}-{name}", std::process::id()))
    }

    /// The file holds our PID, and is removed at exit while it does.
    #[test]
    fn written_then_removed() {
        let path = temp("ours");
        let file = PidFile::write(&path).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id()));
        assert!(file.remove());
        assert!(!path.exists());
    }

    /// A file that another process has taken over (an upgrade) is left alone.
    #[test]
    fn another_pid_is_left() {
        let path = temp("theirs");
        let file = PidFile::write(&path).unwrap();
        fs::write(&path, "1\n").unwrap();
        assert!(!file.remove());
        assert_eq!(read_pid(&path), Some(1));
        fs::remove_file(&path).unwrap();
    }

    /// An unwritable place is an error naming the file.
    #[test]
    fn unwritable_is_an_error() {
        let path = Path::new("/nonexistent-dir/shoutd.pid");
        let e = PidFile::write(path).unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/shoutd.pid"), "{e}");
    }
}
