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
    let stop = stop_at(budget, deadline);
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

/// When a spin of `budget` from now ends: at the end of the budget, or at
/// `deadline` if that comes first.
#[inline]
fn stop_at(budget: Duration, deadline: Option<Instant>) -> Instant {
    let now = Instant::now();
    let stop = now.checked_add(budget).unwrap_or(now);
    deadline.map_or(stop, |deadline| stop.min(deadline))
}

/// Like [`spin_until`], but gives the CPU away (`sched_yield`) between
/// checks instead of spinning in place. For waits on work that another
/// *process* does: that process may be queued behind this very thread on
/// this CPU (the kernel often wakes it on its previous CPU), and a plain
/// spin would keep it off the CPU until its wake-up preempts this thread,
/// tens of µs later. With nothing else runnable, a yield returns at once.
///
/// Under loom it does not spin at all, as [`spin_until`].
pub(crate) fn yield_until(
    budget: Duration,
    deadline: Option<Instant>,
    mut done: impl FnMut() -> bool,
) -> bool {
    if cfg!(loom) {
        return false;
    }
    let stop = stop_at(budget, deadline);
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= stop {
            return false;
        }
        std::thread::yield_now();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A spin function, as both `spin_until` and `yield_until` are.
    type Spin = fn(Duration, Option<Instant>, &mut dyn FnMut() -> bool) -> bool;

    /// Both stop as soon as `done` holds, at the end of the budget, or at a
    /// deadline shorter than the budget.
    fn stops_when_done_or_out_of_time(spin: Spin) {
        let mut calls = 0;
        assert!(spin(Duration::from_secs(10), None, &mut || {
            calls += 1;
            calls == 5
        }));
        assert_eq!(calls, 5);
        let start = Instant::now();
        assert!(!spin(Duration::from_micros(50), None, &mut || false));
        assert!(start.elapsed() >= Duration::from_micros(50));
        let start = Instant::now();
        let deadline = start + Duration::from_micros(10);
        assert!(!spin(Duration::from_secs(10), Some(deadline), &mut || {
            false
        }));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn spinning_stops_when_done_or_out_of_time() {
        stops_when_done_or_out_of_time(|budget, deadline, done| spin_until(budget, deadline, done));
    }

    #[test]
    fn yielding_stops_when_done_or_out_of_time() {
        stops_when_done_or_out_of_time(|budget, deadline, done| {
            yield_until(budget, deadline, done)
        });
    }
}
