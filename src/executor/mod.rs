//! Who is running this thread, and what it is doing: the seam the task slot
//! and the pools share, without either knowing the other.
//!
//! - Every pool has an [`ExecutorId`]. A task records the id of the pool that
//!   runs it (its *home*); a waiter on a worker of that same pool may claim a
//!   pending task and run it inline (see `task`).
//! - Every pool has a [`Roster`] (`roster.rs`): one seat per worker thread.
//!   A seat records the *keys* of the jobs running on its thread's stack (a task's
//!   address, a stack job's, a scope's), and whether the thread is busy,
//!   *blocked* waiting for jobs with given keys, blocked inside `shutdown`, or
//!   exited. `shutdown` reads the roster to tell which workers it may wait for
//!   and which wait, directly or through a chain, on work held by the
//!   callers of `shutdown` themselves (see [`Roster::quiescent`]).
//! - The crate's **one thread-local**, `CURRENT` (`current.rs`): the calling
//!   thread's seat (if it is a pool's worker), the pool's own worker record
//!   behind it (opaque here; the thread pool keeps its deque there), and a
//!   note that this thread just woke a sleeping worker.
//! - A pool registers its panic handler here under its id, so that a
//!   panicking `on_done` callback can be reported to its task's pool from
//!   whichever thread runs the callback (`handlers.rs`).

mod current;
mod handlers;
mod roster;

use std::num::NonZeroUsize;

pub(crate) use self::current::{
    blocked_on, current_worker, has_seat, is_worker_of, note_woke_sleeper, running,
    take_woke_sleeper,
};
pub(crate) use self::handlers::{register_panic_handler, report_panic, unregister_panic_handler};
pub(crate) use self::roster::Roster;
use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::StdArc;
pub(crate) use crate::unwind::Payload;

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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let a = ExecutorId::next();
        let b = ExecutorId::next();
        assert_ne!(a, b);
    }
}
