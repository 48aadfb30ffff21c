//! A real binary driven through a pseudo-terminal, as a user at a terminal would: type keys,
//! wait for text to show. Every wait is bounded by [`TIMEOUT`] and wakes on new output; the
//! child is killed on drop.

use std::cell::Cell;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use rustix::fs::OFlags;
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use rustix::termios::{tcsetwinsize, Winsize};

use crate::process::{bin, wait_child};
use crate::wait::TIMEOUT;

/// `shout` running on the slave side of a pseudo-terminal; killed on drop.
pub struct Terminal {
    child: Child,
    /// The master side, to type into.
    master: File,
    /// Everything the child wrote to the terminal so far (filled by a background thread, which
    /// signals the condition variable after each read).
    screen: Arc<(Mutex<Vec<u8>>, Condvar)>,
    /// Where the output after the last match starts.
    seen: Cell<usize>,
    /// A fresh directory for this test (holds the history file); removed on drop.
    dir: PathBuf,
}

impl Terminal {
    /// Starts `shout args…` in a new 80x24 pseudo-terminal, with its history in a fresh
    /// directory named after `test`.
    pub fn spawn(test: &str, args: &[&str]) -> Terminal {
        let dir = std::env::temp_dir().join(format!("shout-prompt-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");

        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("open a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let slave_path = PathBuf::from(OsString::from_vec(
            ptsname(&master, Vec::new()).expect("ptsname").into_bytes(),
        ));
        let size = Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&master, size).expect("set the window size");
        let master = File::from(master);

        let child = {
            // NOCTTY: never make the slave the controlling terminal of the test process.
            let slave = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(OFlags::NOCTTY.bits() as i32)
                .open(&slave_path)
                .expect("open the pseudo-terminal's slave side");
            let clone = || Stdio::from(slave.try_clone().expect("clone the slave"));
            let mut command = Command::new(bin("shout"));
            command
                .args(args)
                .env("TERM", "xterm")
                .env("SHOUT_HISTORY", dir.join("history"))
                .env_remove("SHOUT_ADDR")
                .env_remove("SHOUT_CONNECT_TIMEOUT")
                .env_remove("SHOUT_RETRIES")
                .env_remove("SHOUT_REPLY_TIMEOUT")
                .stdin(clone())
                .stdout(clone())
                .stderr(Stdio::from(slave));
            command.spawn().expect("start shout")
            // `command` and its copies of the slave are dropped here: once the child exits,
            // reading the master ends.
        };

        let screen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let mut reader = master.try_clone().expect("clone the master");
        let sink = Arc::clone(&screen);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let (text, grew) = &*sink;
                        text.lock()
                            .expect("screen lock")
                            .extend_from_slice(&buf[..n]);
                        grew.notify_all();
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // EIO: every slave descriptor is closed, the child is gone.
                    Err(_) => break,
                }
            }
        });

        Terminal {
            child,
            master,
            screen,
            seen: Cell::new(0),
            dir,
        }
    }

    /// Types `keys` into the terminal.
    pub fn send(&self, keys: &str) {
        (&self.master)
            .write_all(keys.as_bytes())
            .expect("type into the terminal");
    }

    /// Types `keys` from another thread, for input larger than the terminal's buffers (a
    /// write blocks until `shout` has read enough); join the handle once the input was used.
    pub fn send_in_background(&self, keys: String) -> thread::JoinHandle<()> {
        let mut master = self.master.try_clone().expect("clone the master");
        thread::spawn(move || {
            master
                .write_all(keys.as_bytes())
                .expect("type into the terminal");
        })
    }

    /// Waits until the output since the last match contains `needle`; panics with the screen
    /// contents after [`TIMEOUT`] without new output (or six times that in all).
    pub fn expect(&self, needle: &str) {
        let from = self.seen.get();
        let (text, grew) = &*self.screen;
        let mut screen = text.lock().expect("screen lock");
        let mut len = screen.len();
        let limit = Instant::now() + TIMEOUT * 6;
        let mut deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(at) = find(&screen[from..], needle.as_bytes()) {
                self.seen.set(from + at + needle.len());
                return;
            }
            if screen.len() > len {
                // Progress: the deadline is for a terminal that stopped changing.
                len = screen.len();
                deadline = (Instant::now() + TIMEOUT).min(limit);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let tail = screen.len().saturating_sub(2000).max(from);
                panic!(
                    "the terminal never showed {needle:?}\n\
                     since the last match (last 2000 bytes): {:?}",
                    String::from_utf8_lossy(&screen[tail..]),
                );
            }
            screen = grew.wait_timeout(screen, left).expect("screen lock").0;
        }
    }

    /// Everything shown since the last match (without consuming it).
    pub fn since_last_match(&self) -> String {
        let screen = self.screen.0.lock().expect("screen lock");
        String::from_utf8_lossy(&screen[self.seen.get()..]).into_owned()
    }

    /// Everything shown so far, as the bytes the terminal received.
    pub fn whole_screen_bytes(&self) -> Vec<u8> {
        self.screen.0.lock().expect("screen lock").clone()
    }

    /// Everything shown so far.
    pub fn whole_screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.0.lock().expect("screen lock")).into_owned()
    }

    /// Waits for the child to exit (within [`TIMEOUT`]) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }

    /// The history file `shout` was told to use.
    pub fn history(&self) -> PathBuf {
        self.dir.join("history")
    }
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
