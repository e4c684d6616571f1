//! Bounded spinning before a futex sleep.
//!
//! On the VMs this crate is tuned on, a futex wake costs tens of µs of
//! latency. A waiter that re-reads its word for a few µs first catches a
//! wake-up that is about to happen with no system call on either side, and
//! costs at most that budget of CPU when it does end up sleeping.

use std::time::Duration;

use super::{hint, Instant};

/// How long a blocking waiter spins before it parks, by default.
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(20);

/// The largest number of spin hints between two checks (the backoff doubles
/// up to it).
const BATCH_MAX: u32 = 64;

/// Spins with exponential backoff, calling `done` between batches, for at
/// most `budget` (and never past `deadline`). Returns `true` as soon as
/// `done` does, `false` when the time is up.
///
/// Under loom it does not spin at all: the models explore the sleeping path,
/// and spinning would only add branches.
#[inline]
pub(crate) fn spin_until(
    budget: Duration,
    deadline: Option<Instant>,
    mut done: impl FnMut() -> bool,
) -> bool {
    if cfg!(loom) {
        return false;
    }
    let began = Instant::now();
    let mut stop = began.checked_add(budget).unwrap_or(began);
    if let Some(deadline) = deadline {
        stop = stop.min(deadline);
    }
    let mut batch = 1;
    loop {
        for _ in 0..batch {
            hint::spin_loop();
        }
        if done() {
            return true;
        }
        if batch < BATCH_MAX {
            batch *= 2;
        } else if Instant::now() >= stop {
            return false;
        }
    }
}

super::thread_local! {
    /// This thread just woke a sleeping worker (see [`note_woke_sleeper`]).
    #[allow(clippy::missing_const_for_thread_local)]
    static WOKE_SLEEPER: std::cell::Cell<bool> = std::cell::Cell::new(false);
}

/// Records that this thread just woke a sleeping thread to take work it
/// handed over. A thread that then waits for that work should sleep at once
/// rather than spin: the OS tends to place the wakee on the waker's CPU, and a
/// spinning waker would stand in its way (on the VMs measured here, that
/// turns a 10 µs wake-up into 30 µs).
#[inline]
pub(crate) fn note_woke_sleeper() {
    WOKE_SLEEPER.with(|w| w.set(true));
}

/// Takes (and clears) this thread's "just woke a sleeper" note.
#[inline]
pub(crate) fn take_woke_sleeper() -> bool {
    WOKE_SLEEPER.with(|w| w.replace(false))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stops_when_done_or_out_of_time() {
        let mut calls = 0;
        assert!(spin_until(Duration::from_secs(10), None, || {
            calls += 1;
            calls == 5
        }));
        assert_eq!(calls, 5);
        let start = Instant::now();
        assert!(!spin_until(Duration::from_micros(50), None, || false));
        assert!(start.elapsed() >= Duration::from_micros(50));
        // A deadline shorter than the budget wins.
        let start = Instant::now();
        let deadline = start + Duration::from_micros(10);
        assert!(!spin_until(Duration::from_secs(10), Some(deadline), || {
            false
        }));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
