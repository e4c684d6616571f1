//! Python's `concurrent.futures` and `threading.Event`, done the Rust way, on
//! a lock-free work-stealing scheduler.
//!
//! - [`ThreadPool`]: workers with one deque each plus a global injector; idle
//!   workers steal, then sleep on a futex. [`submit`](ThreadPool::submit)
//!   returns a [`Task`]; [`install`](ThreadPool::install) runs a borrowing
//!   closure synchronously; [`spawn`](ThreadPool::spawn) is fire-and-forget;
//!   [`map`](ThreadPool::map) yields results in input order;
//!   [`shutdown`](ThreadPool::shutdown) and
//!   [`shutdown_now`](ThreadPool::shutdown_now) mirror Python's
//!   `shutdown(wait=True)` and `shutdown(cancel_futures=True)`.
//! - [`Task<T>`]: the completion handle (Python's `Future`): wait, poll,
//!   cancel, attach callbacks, or `.await` it. One allocation per task.
//! - [`join`] and [`scope`]: fork-join on the same workers, as in rayon.
//! - [`wait`] and [`as_completed`]: Python's functions of the same names.
//! - [`Event`]: Python's `threading.Event` on one atomic word; threads and
//!   futures wait on it alike.
//! - [`submit`], [`spawn`], [`join`], [`scope`] and [`current_thread_index`]:
//!   the current pool
//!   (the caller's, on a worker; else a lazily built global pool).
//! - `ProcessPool` (feature `process`, Unix; see the `process` module):
//!   Python's `ProcessPoolExecutor` with the same [`Task`], registered
//!   functions in worker processes, and crash isolation: a worker that dies
//!   fails only its own task and is replaced.
//!
//! # The model
//!
//! Every blocking wait in the crate has the same shape: an `#[inline]` probe
//! of an atomic state word (no system call when the answer is already
//! there), then a `#[cold]` slow path that registers the waiter in the word,
//! spins briefly, and sleeps on the futex of that word until a waker changes
//! it. Wake-ups are exact: a waker makes a system call only when the word says
//! someone sleeps. Every such protocol is model-checked with
//! [loom](https://docs.rs/loom) (`loom-tests/`).
//!
//! Work moves the same way everywhere: a submission from outside a pool goes
//! to the pool's injector, one from a worker to that worker's own deque;
//! idle workers take from their deque, then the injector, then steal from
//! siblings, and wake one another only when work is waiting and nobody is
//! looking for it. A worker that waits for a task which has not started yet
//! runs it itself instead of blocking; it never runs unrelated work while it
//! waits (see `docs/design.md` for why).
//!
//! # Example
//!
//! Download-and-parse in the style of the `concurrent.futures` docs: submit
//! the work, react to each result as it completes, and stop early on an
//! [`Event`] that any task may set.
//!
//! ```
//! use std::sync::Arc;
//! use stealpool::{as_completed, Event, ThreadPool};
//!
//! let pool = ThreadPool::new(4).unwrap();
//! let found = Arc::new(Event::new());
//!
//! let pages = ["alpha", "beta", "needle", "delta"];
//! let tasks: Vec<_> = pages
//!     .iter()
//!     .map(|&page| {
//!         let found = Arc::clone(&found);
//!         pool.submit(move || {
//!             if found.is_set() {
//!                 return None; // someone already found it
//!             }
//!             let hit = page.contains("needle");
//!             if hit {
//!                 found.set();
//!             }
//!             Some((page, hit))
//!         })
//!     })
//!     .collect();
//!
//! let mut hits = Vec::new();
//! for (_index, outcome) in as_completed(tasks) {
//!     if let Some((page, true)) = outcome.expect("no task panics") {
//!         hits.push(page);
//!     }
//! }
//! assert_eq!(hits, ["needle"]);
//! assert!(found.is_set());
//! pool.shutdown(); // also what dropping the pool does
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod build_error;
mod combinators;
mod event;
mod executor;
mod forkjoin;
mod global;
mod latch;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks;
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub mod mpi;
mod pool;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod process;
mod sync;
mod task;
mod unwind;

pub use build_error::BuildError;
pub use combinators::Map;
pub use combinators::{as_completed, wait, AsCompleted, WaitFor, WaitResult};
pub use event::{Event, WaitAsync};
pub use forkjoin::{Scope, Worker};
pub use global::{
    current_num_threads, current_thread_index, in_place_scope, join, scope, spawn, submit,
    with_worker,
};
#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub use mpi::{MpiPool, MpiPoolBuilder};
pub use pool::{PoolStats, ThreadPool, ThreadPoolBuilder};
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub use process::{ProcessPool, ProcessPoolBuilder};
pub use task::{Task, TaskError};

// The code in the README and the guide is compiled and run as doc tests
// (with the `process` feature, which their process-pool examples need: the
// README's test command turns it on).
#[cfg(all(doctest, feature = "process"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(all(doctest, feature = "process"))]
#[doc = include_str!("../docs/guide.md")]
struct GuideDoctests;
