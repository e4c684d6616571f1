//! The `std` side of the shim (every build but `cfg(loom)`).

use std::fmt;

pub(crate) use std::sync::Arc;

pub(crate) use atomic_waker::AtomicWaker;

/// `std::sync::Arc` in every build, for configuration (hooks, handlers)
/// that no loom model explores and that must hold a `dyn` (loom's `Arc`
/// cannot unsize).
pub(crate) type StdArc<T> = std::sync::Arc<T>;
pub(crate) use std::sync::OnceLock;
pub(crate) use std::thread_local;
pub(crate) use std::time::Instant;

/// Atomics and fences, as `std::sync::atomic`.
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
}

/// Thread handles, parking and yielding, as `std::thread`.
pub(crate) mod thread {
    pub(crate) use std::thread::{yield_now, Builder, JoinHandle};
}

/// Spin-wait hints, as `std::hint`.
pub(crate) mod hint {
    pub(crate) use std::hint::spin_loop;
}

/// A mutual-exclusion lock that does not poison.
///
/// The crate never lets user code unwind while one of its locks is held, so a
/// poisoned lock can only mean the data is still consistent; `lock` ignores it.
pub(crate) struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// The guard of a [`Mutex`].
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    /// Creates an unlocked mutex; `const`, so it can live in a `static`.
    pub(crate) const fn new(value: T) -> Self {
        Mutex(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Blocks until the lock is held.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A condition variable over [`Mutex`], without poisoning.
#[derive(Debug)]
pub(crate) struct Condvar(std::sync::Condvar);

impl Condvar {
    /// Creates a condition variable; `const`, so it can live in a `static`.
    pub(crate) const fn new() -> Self {
        Condvar(std::sync::Condvar::new())
    }

    /// Releases `guard`, sleeps until notified (or spuriously), relocks.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// As [`wait`](Self::wait), for at most `timeout`; the flag says whether the
    /// timeout elapsed. The process pool's back-off and shutdown waits call it
    /// (and this module's test).
    #[cfg(any(test, feature = "process"))]
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (guard, result) = self
            .0
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|poison| poison.into_inner());
        (guard, result.timed_out())
    }

    /// Wakes every thread waiting on this condition variable.
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }

    /// Wakes one thread waiting on this condition variable (the process
    /// pool's queue hands one batch to one idle supervisor).
    #[cfg(feature = "process")]
    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }
}

/// `core::cell::UnsafeCell` behind loom's closure API.
///
/// Only `with` and `with_mut` reach the contents, so the same code compiles
/// against `loom::cell::UnsafeCell`, which tracks every access.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    /// Wraps `value`; `const`, so it can live in a `static`.
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }
}

impl<T: ?Sized> UnsafeCell<T> {
    /// Calls `f` with a shared raw pointer to the contents.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a unique raw pointer to the contents.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutex_survives_poison() {
        let lock = Arc::new(Mutex::new(1));
        let clone = Arc::clone(&lock);
        let joined = std::thread::spawn(move || {
            let _guard = clone.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(joined.is_err());
        *lock.lock() += 1;
        assert_eq!(*lock.lock(), 2);
    }

    #[test]
    fn unsafe_cell_round_trip() {
        let cell = UnsafeCell::new(5);
        // SAFETY: the cell is local to this thread; no other access exists.
        cell.with_mut(|p| unsafe { *p += 1 });
        // SAFETY: as above; the write above has finished.
        assert_eq!(cell.with(|p| unsafe { *p }), 6);
    }

    #[test]
    fn condvar_wait_timeout_reports_timeout() {
        let lock = Mutex::new(());
        let cv = Condvar::new();
        let guard = lock.lock();
        let (_guard, timed_out) = cv.wait_timeout(guard, std::time::Duration::from_millis(5));
        assert!(timed_out);
    }
}
