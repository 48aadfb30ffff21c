//! Waiting with a bound: every wait in these tests ends within [`TIMEOUT`], so a bug fails a
//! test instead of hanging it.

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The timeout of every test socket operation and of every wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Joins `thread`, panicking if it does not finish within `limit`.
pub fn join_within<T: Send + 'static>(thread: JoinHandle<T>, limit: Duration) -> T {
    let deadline = Instant::now() + limit;
    while !thread.is_finished() {
        assert!(
            Instant::now() < deadline,
            "thread did not finish within {limit:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
    match thread.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Polls `probe` until it returns `Some`, panicking after [`TIMEOUT`].
pub fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}
