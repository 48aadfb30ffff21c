//! Locks that survive a panic. Every mutex in the server guards data that changes by one
//! insert, increment, removal, push or swap at a time, so a panic elsewhere while a lock was
//! held cannot leave the data half-changed: a poisoned lock is still consistent, and serving
//! goes on.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `mutex`, taking it back if a panic poisoned it (sound: see the module header).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar` for at most `timeout`, taking the lock back if poisoned, as [`lock`].
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}
