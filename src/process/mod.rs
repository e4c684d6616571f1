//! Process pools (feature `process`, Unix): Python's `ProcessPoolExecutor`,
//! with the same [`Task`](crate::Task) handle as the thread pool, and crash
//! isolation — a worker that dies fails only its own task.
//!
//! # The model
//!
//! - **Registered functions.** A worker runs only functions listed in one
//!   static [`Registry`], built with [`registry!`](crate::registry) in code
//!   that parent and workers share (they are the same program). Each is a
//!   plain `fn(A) -> R` with `A: Deserialize` and `R: Serialize` (use a
//!   tuple for several arguments). [`remote!`](crate::remote) makes a typed
//!   [`Remote<A, R>`](Remote) handle, so `submit` is type-checked. Only the
//!   function's index travels, and a handshake compares a fingerprint of
//!   the table: no code addresses cross processes, nothing runs before
//!   `main`.
//! - **[`bootstrap`] first.** `bootstrap(&TASKS)` must be the first line of
//!   `main`: in the parent it returns at once; in a worker it serves tasks
//!   and never returns.
//! - **Fork+exec, never fork alone.** Workers are new processes of the
//!   program (or [`program`](ProcessPoolBuilder::program)); the parent's
//!   threads and locks are not copied into them.
//! - **Private pipes.** Each worker has its own request and reply pipe and
//!   one supervising thread in the parent; one request is outstanding per
//!   worker, so nothing that one worker does (dying included) can corrupt
//!   another's channel. Frames are length-prefixed, checked against a limit
//!   (256 MiB) before allocating, and postcard-encoded. A worker's stdout is
//!   redirected to stderr, so a stray `println!` in a task shows up on the
//!   parent's stderr and never corrupts a frame.
//! - **Failures.** A panic comes back as a [`TaskError`](crate::TaskError)
//!   with `is_panic()`, its message (the payload, as a `String`) and where it
//!   happened; the worker also reports it on stderr (the parent's) as
//!   `stealpool worker process PID: a task panicked at ..`, never as
//!   `thread 'main' panicked`. A worker that exits, aborts, segfaults or is killed
//!   mid-task fails that task with `is_worker_lost()` (with the exit code or
//!   signal) and is replaced at once. With
//!   [`task_timeout`](ProcessPoolBuilder::task_timeout), a task past its
//!   deadline has its worker killed and fails with `is_timeout()`. Only
//!   start-ups that keep failing (three in a row: a failing initializer, a
//!   program that does not call `bootstrap`) break the pool; its queued and
//!   later tasks then fail with a message that says why.
//! - **No orphans, no zombies.** Every worker is reaped exactly once, by its
//!   supervising thread. A worker exits when its request pipe closes (the
//!   parent shut down or died), and on Linux the kernel kills it if its
//!   supervising thread (hence the parent) goes away mid-task.
//!
//! - **SIGPIPE.** Writing to a worker that just died must be an error, not
//!   a signal that kills the parent: Rust programs start with `SIGPIPE`
//!   ignored, which the pool relies on. A non-Rust host that embeds the
//!   library with `SIGPIPE` at its default action must ignore it first.
//!
//! # Under cargo test
//!
//! An ordinary `#[test]` cannot build a `ProcessPool` on the test binary
//! itself: libtest's harness owns that binary's `main` and prints `running 1
//! test` to stdout before any test could call [`bootstrap`], so the first
//! worker's handshake fails, with a [`BuildError`](crate::BuildError) that
//! quotes that text. Two ways work:
//!
//! - **A `harness = false` test target** whose `main` calls `bootstrap`
//!   first and then runs the tests itself (this crate's own
//!   `tests/process.rs` does; a panic in one test must not end the others):
//!
//!   ```toml
//!   [[test]]
//!   name = "process"
//!   harness = false
//!   ```
//!
//! - **[`.program(..)`](ProcessPoolBuilder::program)**: point the pool at a
//!   binary whose `main` calls `bootstrap` first with the same registry
//!   (an example or a `[[bin]]` of the crate, built before the tests run),
//!   and keep the `#[test]`s in the ordinary harness.
//!
//! # Examples
//!
//! ```
//! use stealpool::{process, registry, remote, ProcessPool};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//! fn word_count(text: String) -> usize {
//!     text.split_whitespace().count()
//! }
//! static TASKS: process::Registry = registry![square, word_count];
//!
//! fn main() {
//!     process::bootstrap(&TASKS); // first: a worker process stops here
//!
//!     let pool = ProcessPool::builder(&TASKS).num_workers(2).build().unwrap();
//!     let task = pool.submit(remote!(square), 9);
//!     assert_eq!(task.join().unwrap(), 81);
//!
//!     let words = pool.submit(remote!(word_count), "to be or not".to_string());
//!     assert_eq!(words.join().unwrap(), 4);
//!
//!     let squares: Vec<u64> = pool.map(1..=5, remote!(square), 2).map(Result::unwrap).collect();
//!     assert_eq!(squares, [1, 4, 9, 16, 25]);
//! }
//! ```

#[cfg(not(unix))]
compile_error!("the `process` feature of stealpool needs a Unix target");

mod builder;
mod child;
mod pool;
pub(crate) mod promise;
mod queue;
pub(crate) mod registry;
mod supervisor;
pub(crate) mod wire;
pub(crate) mod worker;

pub use self::builder::ProcessPoolBuilder;
pub use self::pool::ProcessPool;
#[doc(hidden)]
pub use self::registry::{__call, __types, Entry};
pub use self::registry::{Registry, Remote};
#[doc(hidden)]
pub use self::wire::RemoteError;
pub use self::worker::bootstrap;
