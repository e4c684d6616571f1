//! Python's `concurrent.futures` and `threading.Event`, done the Rust way, on
//! a lock-free work-stealing scheduler.
//!
//! stealpool is being built floor by floor (see `docs/design.md`). Today it
//! ships its foundation:
//!
//! - [`Event`]: a manual-reset flag that threads and futures wait on, like
//!   Python's `threading.Event`. One atomic word; waiting threads sleep on a
//!   futex, async waiters are woken through their `Waker`. With nobody
//!   waiting, `set`, `clear` and `is_set` are a single atomic operation each.
//!
//! The work-stealing `ThreadPool`, the `Task<T>` completion handle, fork-join
//! and the process pool are built on this layer next.
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
//! # Example
//!
//! A worker waits until configuration has been loaded; an async task waits
//! for the same signal; one `set` releases both.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use std::thread;
//! use stealpool::Event;
//!
//! struct Shared {
//!     config_loaded: Event,
//!     workers: AtomicUsize,
//! }
//!
//! let shared = Arc::new(Shared { config_loaded: Event::new(), workers: AtomicUsize::new(8) });
//!
//! let worker = {
//!     let shared = Arc::clone(&shared);
//!     thread::spawn(move || {
//!         shared.config_loaded.wait();
//!         // `set` happens-before this return: the write below is visible.
//!         shared.workers.load(Ordering::Relaxed)
//!     })
//! };
//! let async_waiter = {
//!     let shared = Arc::clone(&shared);
//!     thread::spawn(move || {
//!         // Any executor works; a tiny one is spelled out here.
//!         let waker = std::task::Waker::from(Arc::new(Unpark(thread::current())));
//!         let mut cx = std::task::Context::from_waker(&waker);
//!         let mut wait = std::pin::pin!(shared.config_loaded.wait_async());
//!         while wait.as_mut().poll(&mut cx).is_pending() {
//!             thread::park();
//!         }
//!     })
//! };
//!
//! shared.workers.store(16, Ordering::Relaxed);
//! shared.config_loaded.set();
//!
//! assert_eq!(worker.join().unwrap(), 16);
//! async_waiter.join().unwrap();
//!
//! struct Unpark(thread::Thread);
//! impl std::task::Wake for Unpark {
//!     fn wake(self: Arc<Self>) {
//!         self.0.unpark();
//!     }
//! }
//! # use std::future::Future;
//! ```
#![deny(missing_docs)]

mod combinators;
mod event;
mod executor;
mod global;
mod latch;
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_hooks;
mod pool;
mod sync;
mod task;

pub use combinators::{as_completed, wait, AsCompleted, WaitFor, WaitResult};
pub use event::{Event, WaitAsync};
pub use global::{current_thread_index, spawn, submit};
pub use pool::{BuildError, Map, PoolStats, ThreadPool, ThreadPoolBuilder};
pub use task::{Task, TaskError};

// The code in the README and the guide is compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
struct GuideDoctests;
