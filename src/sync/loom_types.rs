//! The loom side of the shim (only under `RUSTFLAGS="--cfg loom"`).

use std::fmt;
use std::time::Duration;

pub(crate) use loom::cell::UnsafeCell;
pub(crate) use loom::sync::Arc;

/// `std::sync::Arc` in every build, for configuration (hooks, handlers)
/// that no loom model explores and that must hold a `dyn`.
pub(crate) type StdArc<T> = std::sync::Arc<T>;

/// Not modelled: the global pool is outside every loom model.
pub(crate) use std::sync::OnceLock;

/// Per-loom-thread locals: loom runs its threads on few OS threads, so
/// `std::thread_local!` would be shared between them.
pub(crate) use loom::thread_local;

/// loom's model of an atomic waker cell, with `atomic-waker`'s API.
#[derive(Debug, Default)]
pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

impl AtomicWaker {
    /// An empty cell.
    pub(crate) fn new() -> Self {
        AtomicWaker(loom::future::AtomicWaker::new())
    }

    /// Stores `waker` (replacing the previous one) to be woken by `wake`.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.0.register_by_ref(waker);
    }

    /// Wakes the stored waker, if any.
    pub(crate) fn wake(&self) {
        self.0.wake();
    }

    /// Takes the stored waker out, if any.
    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        self.0.take_waker()
    }
}

/// Atomics and fences, as `loom::sync::atomic`.
pub(crate) mod atomic {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}

/// Thread handles, parking and yielding, as `loom::thread`.
pub(crate) mod thread {
    pub(crate) use loom::thread::{yield_now, Builder, JoinHandle};
}

/// Spin-wait hints: under loom a spin is a yield to the model's scheduler, so
/// a retry loop cannot starve the thread it waits for.
pub(crate) mod hint {
    pub(crate) use loom::hint::spin_loop;
}

/// A non-poisoning wrapper over `loom::sync::Mutex` with the std-side API.
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

/// The guard of a [`Mutex`].
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Creates an unlocked mutex (not `const` under loom).
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    /// Blocks until the lock is held.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A wrapper over `loom::sync::Condvar` with the std-side API.
#[derive(Debug)]
pub(crate) struct Condvar(loom::sync::Condvar);

impl Condvar {
    /// Creates a condition variable (not `const` under loom).
    pub(crate) fn new() -> Self {
        Condvar(loom::sync::Condvar::new())
    }

    /// Releases `guard`, sleeps until notified, relocks.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// loom has no time: this waits like [`wait`](Self::wait) and never
    /// reports a timeout. Only the process pool calls it.
    #[cfg(feature = "process")]
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        _timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        (self.wait(guard), false)
    }

    /// Wakes every thread waiting on this condition variable.
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}

/// A clock that never moves, standing in for `std::time::Instant` under loom.
///
/// loom explores interleavings, not durations: a deadline in the future is
/// never "reached" by the clock; instead the futex model's timed wait returns
/// `TimedOut` at once, which models the deadline expiring at that point of the
/// interleaving. Deadlines already due (`Duration::ZERO`) are due here too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(Duration);

impl Instant {
    /// The fixed "now".
    pub(crate) fn now() -> Instant {
        Instant(Duration::ZERO)
    }

    /// `self + d`, or `None` on overflow.
    pub(crate) fn checked_add(self, d: Duration) -> Option<Instant> {
        self.0.checked_add(d).map(Instant)
    }

    /// How far `self` lies after `earlier`, or zero.
    pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}
