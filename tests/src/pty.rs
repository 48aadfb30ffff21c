//! `shout` driven through a pseudo-terminal, as a person at a terminal would: keys typed in,
//! everything it shows kept and waited for (every wait bounded by [`TIMEOUT`], woken by new
//! output), its terminal settings read back; the child is killed on drop.

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
use rustix::termios::{tcgetattr, tcsetwinsize, Termios, Winsize};

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
    /// Columns and rows.
    size: Cell<(u16, u16)>,
    /// A fresh directory for this test (holds the history file); removed on drop.
    dir: PathBuf,
}

impl Terminal {
    /// Starts `shout args…` in a new 80x24 pseudo-terminal, with its history in a fresh
    /// directory named after `test`.
    pub fn spawn(test: &str, args: &[&str]) -> Terminal {
        Terminal::spawn_sized(test, args, 80, 24)
    }

    /// [`Terminal::spawn`] in a terminal of `cols` columns and `rows` rows.
    pub fn spawn_sized(test: &str, args: &[&str], cols: u16, rows: u16) -> Terminal {
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
            ws_row: rows,
            ws_col: cols,
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
            size: Cell::new((cols, rows)),
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
        self.wait(&format!("{needle:?}"), |output| {
            find(output, needle.as_bytes()).map(|at| at + needle.len())
        });
    }

    /// Waits until the screen of a full-screen program (the alternate screen as drawn so far,
    /// see [`render`]) satisfies `ok`, and returns it; bounded as [`Terminal::expect`]. The
    /// output read so far counts as matched.
    pub fn expect_screen(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let (cols, rows) = self.size.get();
        let mut shown = String::new();
        self.wait(what, |output| {
            shown = render(output, cols, rows);
            ok(&shown).then_some(output.len())
        });
        shown
    }

    /// Waits until `found` finds something in the output since the last match (it returns
    /// where its match ends), which counts as matched from then on; panics with the output
    /// after [`TIMEOUT`] without new output (or six times that in all).
    fn wait(&self, what: &str, mut found: impl FnMut(&[u8]) -> Option<usize>) {
        let from = self.seen.get();
        let (text, grew) = &*self.screen;
        let mut screen = text.lock().expect("screen lock");
        let mut len = screen.len();
        let limit = Instant::now() + TIMEOUT * 6;
        let mut deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(end) = found(&screen[from..]) {
                self.seen.set(from + end);
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
                    "the terminal never showed {what}\n\
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

    /// Everything shown so far.
    pub fn whole_screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.0.lock().expect("screen lock")).into_owned()
    }

    /// Waits for the child to exit (within [`TIMEOUT`]) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }

    /// Everything shown so far, as the bytes the terminal received.
    pub fn whole_screen_bytes(&self) -> Vec<u8> {
        self.screen.0.lock().expect("screen lock").clone()
    }

    /// The terminal's settings as `shout` left them (the master side reports the slave's).
    pub fn termios(&self) -> Termios {
        tcgetattr(&self.master).expect("read the terminal's settings")
    }

    /// The `shout` process (to signal it).
    pub fn child(&self) -> &Child {
        &self.child
    }

    /// Gives the terminal a new size (`shout` gets `SIGWINCH`).
    pub fn resize(&self, cols: u16, rows: u16) {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&self.master, size).expect("set the window size");
        self.size.set((cols, rows));
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

/// Enters the alternate screen (xterm's private mode 1049).
pub const ALT_SCREEN_ON: &str = "\x1b[?1049h";
/// Leaves the alternate screen.
pub const ALT_SCREEN_OFF: &str = "\x1b[?1049l";

/// The text of a `cols` x `rows` alternate screen as `output` drew it: from the last time it
/// entered the alternate screen to when it left it, if it did. Enough of a terminal for what
/// ratatui writes: cursor moves (`ESC[row;colH`), printable characters (one cell each);
/// colours, attributes and other escape sequences change no text. One line per row.
pub fn render(output: &[u8], cols: u16, rows: u16) -> String {
    let on = ALT_SCREEN_ON.as_bytes();
    let start = (0..output.len().saturating_sub(on.len() - 1))
        .rev()
        .find(|&i| output[i..].starts_with(on))
        .map_or(0, |i| i + on.len());
    let mut drawn = &output[start..];
    if let Some(end) = find(drawn, ALT_SCREEN_OFF.as_bytes()) {
        drawn = &drawn[..end];
    }
    let (cols, rows) = (usize::from(cols), usize::from(rows));
    let mut grid = vec![vec![' '; cols]; rows];
    let (mut x, mut y) = (0usize, 0usize);
    let text = String::from_utf8_lossy(drawn);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() != Some(&'[') {
                chars.next();
                continue;
            }
            chars.next();
            let mut params = String::new();
            let end = loop {
                match chars.next() {
                    Some(c) if ('@'..='~').contains(&c) => break Some(c),
                    Some(c) => params.push(c),
                    None => break None,
                }
            };
            match end {
                Some('H') => {
                    let mut at = params.split(';').map(|n| n.parse::<usize>().unwrap_or(1));
                    y = at.next().unwrap_or(1).saturating_sub(1);
                    x = at.next().unwrap_or(1).saturating_sub(1);
                }
                Some('J') if params == "2" => grid = vec![vec![' '; cols]; rows],
                _ => {}
            }
        } else if c == '\r' {
            x = 0;
        } else if c == '\n' {
            y += 1;
        } else if !c.is_control() {
            if let Some(cell) = grid.get_mut(y).and_then(|row| row.get_mut(x)) {
                *cell = c;
            }
            x += 1;
        }
    }
    grid.into_iter()
        .map(|row| row.into_iter().collect::<String>() + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cursor moves place text; colours are skipped; the last alternate screen is the one
    /// shown, up to where it was left.
    #[test]
    fn renders_what_was_drawn() {
        let out =
            "old\x1b[?1049h\x1b[2J\x1b[1;1Hab\x1b[38;5;2mc\x1b[2;3Hxy\x1b[1;2HB\x1b[?1049lafter";
        assert_eq!(render(out.as_bytes(), 5, 3), "aBc  \n  xy \n     \n");
    }
}
