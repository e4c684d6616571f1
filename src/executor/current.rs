//! The crate's one thread-local, `CURRENT`: the calling thread's seat (if
//! it is a pool's worker), the pool's own record of the worker behind it, and
//! the "just woke a sleeper" note; and what reads it on behalf of the task
//! slot and the pools (`running`, `blocked_on`, `current`).

use std::cell::Cell;
use std::fmt;
use std::ptr;

use super::roster::Roster;
use super::ExecutorId;

/// What this thread is, if it is a pool worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkerContext {
    /// The worker's pool.
    pub(crate) executor: ExecutorId,
    /// The worker's index in its pool.
    pub(crate) index: usize,
}

/// The calling thread's place in the crate: the crate's only thread-local.
pub(crate) struct ThreadState {
    /// The roster holding this thread's seat, or null off every pool.
    roster: Cell<*const Roster>,
    /// This thread's seat index in `roster`.
    index: Cell<usize>,
    /// The pool's own record of this worker (the thread pool's
    /// `WorkerThread`), opaque here; null on seats that have none.
    worker: Cell<*const ()>,
    /// This thread just woke a sleeping worker to take work it handed over.
    woke_sleeper: Cell<bool>,
}

impl ThreadState {
    #[cfg(not(loom))]
    const fn new() -> ThreadState {
        ThreadState {
            roster: Cell::new(ptr::null()),
            index: Cell::new(0),
            worker: Cell::new(ptr::null()),
            woke_sleeper: Cell::new(false),
        }
    }

    #[cfg(loom)]
    fn new() -> ThreadState {
        ThreadState {
            roster: Cell::new(ptr::null()),
            index: Cell::new(0),
            worker: Cell::new(ptr::null()),
            woke_sleeper: Cell::new(false),
        }
    }
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    /// The calling thread's state. (A `const` initialiser: read on every
    /// `join`, it must not check for lazy initialisation.)
    static CURRENT: ThreadState = const { ThreadState::new() };
}

#[cfg(loom)]
crate::sync::thread_local! {
    /// The calling loom thread's state (loom's `thread_local!` has no
    /// `const` form).
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: ThreadState = ThreadState::new();
}

/// The pool's worker record of the calling thread (null if none).
#[inline]
pub(crate) fn current_worker() -> *const () {
    CURRENT.with(|state| state.worker.get())
}

/// The calling thread's seat, if it is a worker.
#[inline]
pub(super) fn current_seat() -> Option<(&'static Roster, usize)> {
    CURRENT.with(|state| {
        let roster = state.roster.get();
        // SAFETY: `roster` is non-null only between `SeatGuard::enter` and the
        // guard's drop on this thread, and the guard's creator keeps the roster
        // alive for that whole time. The `'static` never leaves this module's
        // callers' stack frames, which end before the guard does.
        unsafe { roster.as_ref() }.map(|roster| (roster, state.index.get()))
    })
}

/// The calling thread's worker context, or `None` off any pool.
#[inline]
pub(crate) fn current() -> Option<WorkerContext> {
    current_seat().map(|(roster, index)| WorkerContext {
        executor: roster.executor,
        index,
    })
}

/// Whether the calling thread is a worker of `executor`.
#[inline]
pub(crate) fn is_worker_of(executor: ExecutorId) -> bool {
    current().is_some_and(|ctx| ctx.executor == executor)
}

/// Records that this thread just woke a sleeping worker to take work it
/// handed over. A thread that then waits for that work should sleep at once
/// rather than spin: the OS tends to place the wakee on the waker's CPU, and a
/// spinning waker would stand in its way (on the VMs measured here, that
/// turns a 10 µs wake-up into 30 µs).
#[inline]
pub(crate) fn note_woke_sleeper() {
    CURRENT.with(|state| state.woke_sleeper.set(true));
}

/// Takes (and clears) this thread's "just woke a sleeper" note.
#[inline]
pub(crate) fn take_woke_sleeper() -> bool {
    CURRENT.with(|state| state.woke_sleeper.replace(false))
}

/// Runs `f` with `key` recorded as a job running on the calling thread's
/// stack (if it has a seat), so that `shutdown` can tell who waits on it.
#[inline]
pub(crate) fn running<R>(key: usize, f: impl FnOnce() -> R) -> R {
    match current_seat() {
        Some((roster, index)) => roster.running(index, key, f),
        None => f(),
    }
}

/// Runs `wait` (which blocks) with the calling thread's seat (if it has
/// one) marked blocked on the jobs `keys`. `keys` must be what the wait waits
/// for: it ends only once each of them (for a wait on several, one of them)
/// has finished, or, if `timed`, at its deadline. An empty `keys` marks
/// nothing.
///
/// # Panics
///
/// If the wait is not `timed` and every key is a job running lower on the
/// calling thread's own stack: it could never end (a worker that helped
/// while waiting, say in `shutdown` or `join`, picked up a job that now
/// waits for the very task it runs inside). A panic with this message
/// replaces a certain deadlock.
#[inline]
pub(crate) fn blocked_on<R>(keys: &[usize], timed: bool, wait: impl FnOnce() -> R) -> R {
    match current_seat() {
        Some((roster, index)) if !keys.is_empty() => {
            if !timed {
                let own = current_running_keys();
                if keys.iter().all(|key| own.contains(key)) {
                    panic!(
                        "stealpool: deadlock: this thread waits for a task that runs further \
                         down its own stack (a worker that helped run queued work while it \
                         waited picked up a job that waits for the job it was inside); the \
                         task can never finish"
                    );
                }
            }
            let _blocked = roster.block(index, keys);
            wait()
        }
        _ => wait(),
    }
}

/// Whether the calling thread has a seat in some roster (a pool's worker or
/// a process pool's supervisor): only then does [`blocked_on`] record keys.
pub(crate) fn has_seat() -> bool {
    current_seat().is_some()
}

/// The keys of the jobs running on the calling thread's stack (none off the
/// pools).
pub(super) fn current_running_keys() -> Vec<usize> {
    let mut keys = Vec::new();
    if let Some((roster, index)) = current_seat() {
        // SAFETY: our own list, read on our own thread.
        unsafe { roster.collect_running(index, &mut keys) };
    }
    keys
}

impl Roster {
    /// Makes the calling thread seat `index` of this roster until the guard
    /// drops; `worker` is the pool's own record of it (or null).
    ///
    /// # Safety
    ///
    /// The roster and `worker` must outlive the guard, which must be dropped
    /// on this thread before the thread's stack frame holding it ends.
    pub(crate) unsafe fn enter(&self, index: usize, worker: *const ()) -> SeatGuard {
        CURRENT.with(|state| {
            debug_assert!(state.roster.get().is_null(), "a thread takes one seat");
            state.roster.set(self);
            state.index.set(index);
            state.worker.set(worker);
        });
        SeatGuard(())
    }
}

/// Keeps the calling thread on its seat; leaving clears the thread-local.
#[must_use = "the thread holds its seat only while the guard lives"]
pub(crate) struct SeatGuard(());

impl SeatGuard {
    /// Keeps the seat but drops the pool's worker record from the
    /// thread-local: the thread no longer takes pool work (a worker running
    /// its stop hook), yet `shutdown` still knows it by its seat.
    pub(crate) fn retire_worker(&self) {
        CURRENT.with(|state| state.worker.set(ptr::null()));
    }
}

impl Drop for SeatGuard {
    fn drop(&mut self) {
        CURRENT.with(|state| {
            state.roster.set(ptr::null());
            state.worker.set(ptr::null());
        });
    }
}

impl fmt::Debug for SeatGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeatGuard")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_seat_sets_and_clears_the_context() {
        let roster = Roster::new(ExecutorId::next(), 4);
        assert_eq!(current(), None);
        {
            // SAFETY: the roster outlives the guard, dropped in this frame.
            let _seat = unsafe { roster.enter(3, ptr::null()) };
            assert_eq!(
                current(),
                Some(WorkerContext {
                    executor: roster.executor,
                    index: 3
                })
            );
            assert!(is_worker_of(roster.executor));
            assert!(!is_worker_of(ExecutorId::next()));
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn running_keys_nest_and_unwind() {
        let roster = Roster::new(ExecutorId::next(), 1);
        // SAFETY: as above.
        let _seat = unsafe { roster.enter(0, ptr::null()) };
        let mut keys = Vec::new();
        running(1, || {
            running(2, || {
                // SAFETY: our own list, read on our own thread.
                unsafe { roster.collect_running(0, &mut keys) };
            });
            let _ = crate::unwind::catch(|| running(3, || panic!("inner")));
        });
        assert_eq!(keys, [2, 1]);
        let mut after = Vec::new();
        // SAFETY: as above.
        unsafe { roster.collect_running(0, &mut after) };
        assert!(after.is_empty(), "every node is popped, a panic included");
    }
}
