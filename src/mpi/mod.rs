//! Past one machine: [`MpiPool`], a pool whose workers are MPI ranks, with
//! the same [`Task`](crate::Task) as the other pools (feature `mpi`, Unix):
//! mpi4py's `MPIPoolExecutor`, for Rust.
//!
//! # The model
//!
//! Launch the program with `mpirun -n N ./app` (or `mpiexec`, or `srun`
//! under Slurm; `mpirun -H a,b -n 8 ./app` spreads it over two hosts). The
//! first statement of `main` is [`bootstrap`]: on ranks `1..N` it serves
//! the registered functions and exits when the pool shuts down; on rank 0
//! it returns, and rank 0 builds `MpiPool::builder(&TASKS).build()`, which
//! uses every other rank as a worker. The functions are the process pool's
//! ([`registry!`](crate::registry), [`remote!`](crate::remote)), and so are
//! the encoding, the limits and the errors: code written around a
//! [`ProcessPool`](crate::ProcessPool) moves to an `MpiPool` by changing
//! the line that builds the pool.
//!
//! ```no_run
//! use stealpool::{process, registry, remote, MpiPool};
//!
//! fn collatz_steps(mut n: u64) -> u32 {
//!     let mut steps = 0;
//!     while n != 1 {
//!         n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
//!         steps += 1;
//!     }
//!     steps
//! }
//! static TASKS: process::Registry = registry![collatz_steps];
//!
//! fn main() {
//!     stealpool::mpi::bootstrap(&TASKS);
//!     let pool = MpiPool::builder(&TASKS).build().expect("run me under mpirun -n 3");
//!     let longest = pool
//!         .map(1..=10_000_u64, remote!(collatz_steps), 500)
//!         .map(Result::unwrap)
//!         .max();
//!     println!("{longest:?}");
//! }
//! ```
//!
//! # Dispatch
//!
//! Rank 0 keeps the queue; one dispatcher thread hands a batch (one
//! `submit`, or `chunk_size` items of a `map`) to a rank only when that
//! rank is idle (no prefetch), and reads the replies, one per call, as they
//! come. Until its batch is sent, a task is pending: `cancel()` succeeds,
//! and `shutdown_now` cancels it. Idle ranks poll for work with a back-off
//! (yield, then sleep up to 1 ms) instead of blocking in MPI, whose blocking
//! receive spins a CPU in most MPI libraries.
//!
//! # What fails how
//!
//! | event | `MpiPool` | `ProcessPool` | mpi4py `MPIPoolExecutor` |
//! |---|---|---|---|
//! | a panic in a task | that task's `is_panic()`; the rank serves on | same | the exception is the future's |
//! | a task past `task_timeout` | `is_timeout()`; the rank cannot be killed, so it is out of the pool (said on stderr) until it answers, then back | `is_timeout()`; the worker is killed and replaced | no task timeout |
//! | a rank (worker process) dies | Open MPI and MPICH abort the whole job: nothing here can survive it | only that task fails (`is_worker_lost()`); the worker is replaced | the job aborts, as here |
//! | a worker rank's `main` does not call `bootstrap` first | `build` fails: it is rank 0's handshake timeout, or the rank's own `build` says it is not rank 0 | `build` fails: no handshake | the worker hangs or runs `main` |
//! | not under `mpirun`, or a single rank | `build` fails with a `BuildError` that says so | — | runs without workers or hangs |
//!
//! MPI has no way to replace a rank or to survive one's death (short of
//! the ULFM extension, which Open MPI and MPICH do not enable by default),
//! so the `ProcessPool`'s crash isolation cannot be had here; run crash-prone
//! code in a `ProcessPool` inside each rank if it must be survived.
//!
//! The communicator keeps MPI's default error handler
//! (`MPI_ERRORS_ARE_FATAL`) on purpose: the `mpi` crate's calls do not
//! report MPI's error codes, so `MPI_ERRORS_RETURN` would turn a failed send
//! into a reply that never comes, a hang where today the job ends with the
//! MPI library's own message. What can fail without ending the job fails
//! its task instead: a panic, a deadline, arguments or results that do not
//! (de)serialize or exceed their limits.
//!
//! # Why MPI, and not a transport of our own
//!
//! Every cluster already runs MPI: its launchers place ranks on hosts, its
//! libraries pick the fastest interconnect (shared memory, InfiniBand, TCP),
//! and its job schedulers (Slurm, PBS) know how to start and stop it. A
//! home-made TCP transport would need its own launcher, discovery, security
//! and failure detection, and would be slower on the networks clusters
//! have. The protocol on top is small: see `docs/design.md`.
//!
//! # Limits
//!
//! One `MpiPool` per job: its `shutdown` stops the worker ranks (they
//! exit), as mpi4py's does. Rank 0 finalizes MPI when the process exits.

#[cfg(not(unix))]
compile_error!("the `mpi` feature of stealpool needs a Unix target");

mod dispatcher;
mod launch;
mod message;
mod pool;
mod worker;

pub use self::pool::{MpiPool, MpiPoolBuilder};
pub use self::worker::bootstrap;
