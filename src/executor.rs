//! Who is running this thread: the executor context the task slot and the
//! pools share, without either knowing the other.
//!
//! - Every pool has an [`ExecutorId`]. A task records the id of the pool that
//!   runs it (its *home*); a waiter on a worker of that same pool may claim a
//!   pending task and run it inline (see `task`).
//! - A worker thread records its pool's id and its own index in a
//!   thread-local, set on start and cleared on exit.
//! - A pool registers its panic handler here under its id, so that a
//!   panicking `on_done` callback can be reported to its task's pool from
//!   whichever thread runs the callback. The registry is touched only when a
//!   pool is built or dropped and when a callback panics.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::num::NonZeroUsize;

use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Mutex, StdArc};

/// A panic payload, as `std::panic::catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// A pool's panic handler. (A plain `std` `Arc`: configuration, not part of
/// any protocol the loom models explore; loom's `Arc` cannot hold a `dyn`.)
pub(crate) type PanicHandler = StdArc<dyn Fn(Payload) + Send + Sync + 'static>;

/// Identifies one executor (pool) for the life of the process; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ExecutorId(NonZeroUsize);

impl ExecutorId {
    /// A fresh id.
    pub(crate) fn next() -> ExecutorId {
        #[cfg(not(loom))]
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        #[cfg(loom)]
        loom::lazy_static! {
            static ref NEXT: AtomicUsize = AtomicUsize::new(1);
        }
        // Relaxed: only uniqueness matters, which the RMW gives.
        let id = NEXT.fetch_add(1, Relaxed);
        ExecutorId(NonZeroUsize::new(id).expect("executor ids exhausted"))
    }
}

/// What this thread is, if it is a pool worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkerContext {
    /// The worker's pool.
    pub(crate) executor: ExecutorId,
    /// The worker's index in its pool.
    pub(crate) index: usize,
}

crate::sync::thread_local! {
    // loom's `thread_local!` has no `const { }` form; the shim serves both.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<Option<WorkerContext>> = Cell::new(None);
}

/// The calling thread's worker context, or `None` off any pool.
#[inline]
pub(crate) fn current() -> Option<WorkerContext> {
    CURRENT.with(Cell::get)
}

/// Whether the calling thread is a worker of `executor`.
#[inline]
pub(crate) fn is_worker_of(executor: ExecutorId) -> bool {
    current().is_some_and(|ctx| ctx.executor == executor)
}

/// Marks the calling thread as a worker until the guard drops.
#[must_use = "the thread is a worker only while the guard lives"]
pub(crate) struct WorkerGuard(());

impl WorkerGuard {
    /// Enters `ctx` on this thread.
    pub(crate) fn enter(ctx: WorkerContext) -> WorkerGuard {
        CURRENT.with(|cell| cell.set(Some(ctx)));
        WorkerGuard(())
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        CURRENT.with(|cell| cell.set(None));
    }
}

impl fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerGuard")
    }
}

/// Registered panic handlers, by executor. Small: one entry per live pool.
fn handlers() -> &'static Mutex<Vec<(ExecutorId, PanicHandler)>> {
    #[cfg(not(loom))]
    static HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    #[cfg(loom)]
    loom::lazy_static! {
        static ref HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    }
    &HANDLERS
}

/// Registers `handler` for `executor` (replacing any earlier one).
pub(crate) fn register_panic_handler(executor: ExecutorId, handler: PanicHandler) {
    let mut handlers = handlers().lock();
    handlers.retain(|(id, _)| *id != executor);
    handlers.push((executor, handler));
}

/// Forgets `executor`'s handler.
pub(crate) fn unregister_panic_handler(executor: ExecutorId) {
    handlers().lock().retain(|(id, _)| *id != executor);
}

/// Hands `payload` to the panic handler of `executor`, if it has one; else
/// drops it (the standard panic hook has already printed the message).
///
/// A handler that itself panics is caught and its payload dropped: reporting
/// a panic must never unwind into the caller's internal state.
pub(crate) fn report_panic(executor: Option<ExecutorId>, payload: Payload) {
    let handler = executor.and_then(|executor| {
        handlers()
            .lock()
            .iter()
            .find(|(id, _)| *id == executor)
            .map(|(_, handler)| StdArc::clone(handler))
    });
    if let Some(handler) = handler {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(payload)));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    #[test]
    fn ids_are_unique() {
        let a = ExecutorId::next();
        let b = ExecutorId::next();
        assert_ne!(a, b);
    }

    #[test]
    fn worker_guard_sets_and_clears_context() {
        let ctx = WorkerContext {
            executor: ExecutorId::next(),
            index: 3,
        };
        assert_eq!(current(), None);
        {
            let _guard = WorkerGuard::enter(ctx);
            assert_eq!(current(), Some(ctx));
            assert!(is_worker_of(ctx.executor));
            assert!(!is_worker_of(ExecutorId::next()));
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn panics_reach_the_registered_handler_only() {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let id = ExecutorId::next();
        register_panic_handler(
            id,
            StdArc::new(|payload: Payload| {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
                SEEN.fetch_add(1, SeqCst);
            }),
        );
        report_panic(Some(id), Box::new("boom"));
        report_panic(Some(ExecutorId::next()), Box::new("elsewhere"));
        report_panic(None, Box::new("nowhere"));
        assert_eq!(SEEN.load(SeqCst), 1);
        unregister_panic_handler(id);
        report_panic(Some(id), Box::new("boom"));
        assert_eq!(SEEN.load(SeqCst), 1);
    }

    #[test]
    fn a_panicking_handler_is_contained() {
        let id = ExecutorId::next();
        register_panic_handler(id, StdArc::new(|_| panic!("handler panicked")));
        report_panic(Some(id), Box::new(1));
        unregister_panic_handler(id);
    }
}
