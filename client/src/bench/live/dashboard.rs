//! The dashboard's thread: it owns the terminal, takes in the snapshots the main thread sends
//! once a second (through a small bounded channel: the main thread never waits on it), reads
//! the keys, and redraws at most ten times a second (four times a second when nothing new
//! came, for the clock). `q`, `Esc` and Ctrl-C stop the run early through the
//! [`StopHandle`]; Ctrl-C once the run is stopping exits at once.

use std::io::{self, Stdout};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::super::findmax::FindMax;
use super::super::series::Series;
use super::super::stop::{StopCause, StopHandle};
use super::model::{Info, Snapshot, State};
use super::terminal::{self, Guard};
use super::view;

/// The shortest time between two frames: at most ten a second.
pub const FRAME: Duration = Duration::from_millis(100);
/// The longest time between two frames (the clock moves on without new figures).
pub const TICK: Duration = Duration::from_millis(250);
/// Snapshots waiting for the dashboard; beyond, the main thread keeps the seconds for the
/// next one rather than wait.
const QUEUE: usize = 4;

/// Whether to draw a frame, `since` the last one (`None`: none yet), with something new to
/// show (`dirty`) or not: never sooner than [`FRAME`] after the last, at once when something
/// changed, and every [`TICK`] for the clock.
pub fn should_draw(since: Option<Duration>, dirty: bool) -> bool {
    since.is_none_or(|s| s >= FRAME && (dirty || s >= TICK))
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Nothing.
    None,
    /// The run was asked to stop (or already was, by a key that cannot force an exit).
    Stop,
    /// Ctrl-C while the run was already stopping: exit at once.
    Exit,
}

/// What `key` does to a run stopped through `stop`: `q`, `Esc` or Ctrl-C stop it; Ctrl-C
/// when it is already stopping means exit at once.
pub fn on_key(key: KeyEvent, stop: &StopHandle) -> KeyAction {
    if key.kind != KeyEventKind::Press {
        return KeyAction::None;
    }
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        _ if ctrl_c => {
            if stop.stop(StopCause::Asked) {
                KeyAction::Stop
            } else {
                KeyAction::Exit
            }
        }
        KeyCode::Char('q') | KeyCode::Esc => {
            stop.stop(StopCause::Asked);
            KeyAction::Stop
        }
        _ => KeyAction::None,
    }
}

/// The running dashboard, seen from the main thread.
pub struct Dashboard {
    /// Where snapshots go; `None` once the dashboard's thread has ended (its terminal failed):
    /// no snapshot is made for nobody.
    tx: Option<SyncSender<Snapshot>>,
    thread: Option<JoinHandle<()>>,
    /// Seconds of the series handed over so far.
    sent: usize,
}

impl Dashboard {
    /// Takes the terminal over (raw mode, alternate screen) and starts the dashboard's thread
    /// for a run planned as `info` that started at `start`.
    pub fn start(info: Info, start: Instant, stop: StopHandle) -> io::Result<Dashboard> {
        let guard = terminal::enter()?;
        let term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let state = State::new(info);
        let thread = thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || run(term, guard, rx, state, start, stop))?;
        Ok(Dashboard {
            tx: Some(tx),
            thread: Some(thread),
            sent: 0,
        })
    }

    /// Hands the dashboard the figures of `series` and of the `find_max` search (never waits:
    /// if the dashboard is behind, the new seconds go with the next snapshot). Once its thread
    /// has ended, nothing more is made.
    pub fn update(&mut self, series: &Series, find_max: Option<&FindMax>) {
        let Some(tx) = &self.tx else { return };
        let snapshot = Snapshot::of(series, self.sent, find_max);
        match tx.try_send(snapshot) {
            Ok(()) => self.sent = series.seconds.len(),
            Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }

    /// Whether snapshots are still made (the dashboard's thread takes them).
    pub fn is_fed(&self) -> bool {
        self.tx.is_some()
    }

    /// Ends the dashboard and gives the terminal back as it was.
    pub fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        // The thread sees the channel closed within a frame and returns.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        terminal::restore();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.end();
    }
}

/// The dashboard's loop, until the channel closes, the terminal fails, or Ctrl-C forces an
/// exit; `_guard` gives the terminal back on every way out of it.
fn run(
    mut term: Terminal<CrosstermBackend<Stdout>>,
    _guard: Guard,
    rx: Receiver<Snapshot>,
    mut state: State,
    start: Instant,
    stop: StopHandle,
) {
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    loop {
        loop {
            match rx.try_recv() {
                Ok(snapshot) => {
                    state.apply(snapshot);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if state.stopped != stop.stopped().is_some() {
            state.stopped = true;
            dirty = true;
            // A signal's stop says so on stderr, over the dashboard: draw it all anew.
            let _ = term.clear();
        }
        if should_draw(last_draw.map(|t| t.elapsed()), dirty) {
            if !terminal::active() {
                return;
            }
            if term
                .draw(|f| view::draw(f, &state, start.elapsed()))
                .is_err()
            {
                return;
            }
            last_draw = Some(Instant::now());
            dirty = false;
        }
        match event::poll(FRAME) {
            Ok(true) => match event::read() {
                Ok(Event::Key(key)) => match on_key(key, &stop) {
                    KeyAction::Exit => {
                        terminal::restore();
                        eprintln!("shout bench: Ctrl-C again: exiting at once");
                        std::process::exit(128 + StopCause::Asked.signal());
                    }
                    KeyAction::Stop => dirty = true,
                    KeyAction::None => {}
                },
                Ok(Event::Resize(..)) => dirty = true,
                Ok(_) => {}
                Err(_) => thread::sleep(FRAME),
            },
            Ok(false) => {}
            // No keys to read: the figures go on, a frame at a time.
            Err(_) => thread::sleep(FRAME),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    /// At most ten frames a second however often something changes; four a second when
    /// nothing does; the first at once.
    #[test]
    fn frames_are_paced() {
        let ms = Duration::from_millis;
        assert!(should_draw(None, false));
        assert!(!should_draw(Some(ms(99)), true));
        assert!(should_draw(Some(ms(100)), true));
        assert!(!should_draw(Some(ms(100)), false));
        assert!(!should_draw(Some(ms(249)), false));
        assert!(should_draw(Some(ms(250)), false));
    }

    /// `q` and `Esc` stop the run; other keys do nothing.
    #[test]
    fn stop_keys() {
        for code in [KeyCode::Char('q'), KeyCode::Esc] {
            let stop = StopHandle::new();
            assert_eq!(
                on_key(key(code, KeyModifiers::NONE), &stop),
                KeyAction::Stop
            );
            assert_eq!(stop.stopped().map(|s| s.1), Some(StopCause::Asked));
            // Again: still only a stop.
            assert_eq!(
                on_key(key(code, KeyModifiers::NONE), &stop),
                KeyAction::Stop
            );
        }
        let stop = StopHandle::new();
        for code in [KeyCode::Char('c'), KeyCode::Char('x'), KeyCode::Enter] {
            assert_eq!(
                on_key(key(code, KeyModifiers::NONE), &stop),
                KeyAction::None
            );
        }
        assert!(stop.stopped().is_none());
    }

    /// A dashboard whose thread has ended (its terminal failed) is no longer fed: no snapshot
    /// is made after the first that finds nobody to take it; one merely behind still is.
    #[test]
    fn no_snapshots_for_nobody() {
        let series = Series::new(1, false);
        let (tx, rx) = mpsc::sync_channel(1);
        let mut d = Dashboard {
            tx: Some(tx),
            thread: None,
            sent: 0,
        };
        d.update(&series, None);
        d.update(&series, None);
        assert!(d.is_fed(), "behind (the queue full), still fed");
        assert!(rx.try_recv().is_ok());
        drop(rx);
        d.update(&series, None);
        assert!(!d.is_fed(), "its thread has ended");
    }

    /// Ctrl-C stops the run; once it is stopping (by Ctrl-C or `q`), Ctrl-C exits at once.
    #[test]
    fn ctrl_c_twice_exits() {
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let stop = StopHandle::new();
        assert_eq!(on_key(ctrl_c, &stop), KeyAction::Stop);
        assert!(stop.stopped().is_some());
        assert_eq!(on_key(ctrl_c, &stop), KeyAction::Exit);
        let stop = StopHandle::new();
        on_key(key(KeyCode::Char('q'), KeyModifiers::NONE), &stop);
        assert_eq!(on_key(ctrl_c, &stop), KeyAction::Exit);
    }
}
