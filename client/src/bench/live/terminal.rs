//! The terminal while the dashboard owns it: raw mode and the alternate screen, undone on
//! every way out. A [`Guard`] undoes them when dropped (the normal end, an error, a stop), a
//! panic hook before a panic's message is printed, and [`restore`] on demand (before exiting
//! at once on a second Ctrl-C or signal). Undoing is done once, whoever comes first.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};

/// The dashboard has the terminal in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was, if the dashboard had it; then forgets it had it.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Raw mode, the alternate screen and no cursor, until the returned guard is dropped (or
/// [`restore`] is called).
pub fn enter() -> io::Result<Guard> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    // From here on the guard undoes whatever part was done.
    let guard = Guard(());
    execute!(io::stdout(), EnterAlternateScreen, Hide)?;
    Ok(guard)
}

/// Whether the dashboard has the terminal (drawing is for then only).
pub fn active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// Leaves the alternate screen, shows the cursor and ends raw mode, if the dashboard had the
/// terminal; nothing otherwise (safe to call from anywhere, any number of times).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Nothing better to do with an error on the way out: the terminal is what it is.
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = io::stdout().flush();
        let _ = disable_raw_mode();
    }
}

/// A panic puts the terminal back before its message is printed, so the message is seen and
/// the shell is usable.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
