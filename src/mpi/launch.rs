//! Starting and ending MPI: who launched us, `MPI_Init`, and `MPI_Finalize`
//! at exit on rank 0.

use std::time::Duration;

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;
use mpi::Threading;

use super::message::Tag;
use crate::sync::{Instant, Mutex};

/// The environment variables by which a launcher tells a process its rank:
/// Open MPI's `mpirun`, MPICH's and Intel's `mpiexec` (PMI), PMIx, Slurm.
const LAUNCHER_VARS: [&str; 5] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "PMI_RANK",
    "SLURM_STEP_NUM_TASKS",
];

/// Whether a launcher (`mpirun`, `mpiexec`, `srun`) started this process.
pub(crate) fn under_a_launcher() -> bool {
    LAUNCHER_VARS
        .iter()
        .any(|var| std::env::var_os(var).is_some())
}

/// What `bootstrap` left for rank 0: the MPI universe (finalized at exit)
/// and whether the worker ranks were told to stop.
pub(crate) struct Session {
    /// `None` before `bootstrap` initialized MPI, and after finalizing.
    universe: Option<mpi::environment::Universe>,
    /// The worker ranks were sent [`Tag::Stop`]: no pool can use them again.
    pub(crate) stopped: bool,
    /// An `MpiPool` is alive.
    pub(crate) in_use: bool,
}

/// Rank 0's session. MPI calls happen on one thread at a time: the
/// building thread, then the pool's dispatcher, then the exit handler.
pub(crate) static SESSION: Mutex<Session> = Mutex::new(Session {
    universe: None,
    stopped: false,
    in_use: false,
});

/// Initializes MPI (one thread at a time may call it: `Serialized`).
/// `None` if it was initialized already (by another library: then this
/// crate leaves finalizing to that library).
pub(crate) fn initialize() -> Option<mpi::environment::Universe> {
    let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)?;
    if threading < Threading::Serialized {
        eprintln!(
            "stealpool: the MPI library offers only {threading:?} threading; the pool's \
             dispatcher thread needs Serialized"
        );
    }
    Some(universe)
}

/// Keeps the universe until the process exits, then (on rank 0) stops any
/// worker rank not stopped yet and finalizes MPI (an exit without `MPI_Finalize`
/// makes `mpirun` report the whole job as failed).
pub(crate) fn keep_until_exit(universe: mpi::environment::Universe) {
    SESSION.lock().universe = Some(universe);
    extern "C" fn at_exit() {
        finalize();
    }
    // SAFETY: `atexit` registers a plain `extern "C" fn()` with no
    // arguments, which stays valid for the whole process (it is static).
    unsafe {
        libc::atexit(at_exit);
    }
}

/// Stops the worker ranks (unless a pool did) and finalizes MPI. Runs at
/// exit; idempotent.
fn finalize() {
    let mut session = SESSION.lock();
    let Some(universe) = session.universe.take() else {
        return;
    };
    let world = universe.world();
    if world.rank() == 0 && !session.stopped {
        stop_workers(&world);
        session.stopped = true;
    }
    drop(world);
    drop(session);
    // Dropping the universe calls MPI_Finalize.
    drop(universe);
}

/// Tells every worker rank to exit.
pub(crate) fn stop_workers(world: &SimpleCommunicator) {
    for rank in 1..world.size() {
        world
            .process_at_rank(rank)
            .send_with_tag(&[0_u8][..], Tag::Stop as i32);
    }
}

/// How long a poller waits between looks once it has spun: short enough
/// for a round trip of a few tens of µs under load, long enough that idle
/// ranks use no CPU to speak of (mpi4py's `MPI4PY_FUTURES_BACKOFF` idea).
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(1);

/// How long a poller yields between looks before it starts to sleep: a
/// reply or a next request usually comes within it.
const SPIN: Duration = Duration::from_micros(200);

/// The first sleep after the spin; it doubles up to [`MAX_BACKOFF`].
const FIRST_SLEEP: Duration = Duration::from_micros(50);

/// A poller's back-off: yields for [`SPIN`] after the last message, then
/// sleeps, doubling up to [`MAX_BACKOFF`].
pub(crate) struct Backoff {
    since: Instant,
    sleep: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            since: Instant::now(),
            sleep: FIRST_SLEEP,
        }
    }

    /// Something arrived: start again from the fast end.
    pub(crate) fn reset(&mut self) {
        *self = Backoff::new();
    }

    /// Nothing arrived: give the CPU away for a while.
    pub(crate) fn snooze(&mut self) {
        if self.since.elapsed() < SPIN {
            std::thread::yield_now();
        } else {
            std::thread::sleep(self.sleep);
            self.sleep = (self.sleep * 2).min(MAX_BACKOFF);
        }
    }
}
