//! A worker rank: [`bootstrap`] and the loop that serves rank 0.

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;

use super::launch::{self, Backoff};
use super::message::{self, Tag};
use crate::process::wire::{self, RemoteError, Reply, Request};
use crate::process::{worker as process_worker, Registry};

/// Must be the first statement of `main` in a program run under `mpirun`
/// that builds an [`MpiPool`](super::MpiPool) (mpi4py's
/// `python -m mpi4py.futures`).
///
/// Under a launcher (`mpirun`, `mpiexec`, `srun`) it initializes MPI. On
/// rank 0 it returns, and the program goes on to build the pool. On every
/// other rank it serves `registry`'s functions to rank 0 and never returns:
/// the process exits when the pool shuts down (or rank 0 exits). Code
/// before the call runs on every rank. Started without a launcher it does
/// nothing and returns (the program may then fall back to a
/// [`ProcessPool`](crate::ProcessPool)).
///
/// `registry` must be the table rank 0 builds the pool with; a rank whose
/// table differs is refused by the handshake.
///
/// # Examples
///
/// ```no_run
/// fn square(x: u64) -> u64 {
///     x * x
/// }
/// static TASKS: stealpool::process::Registry = stealpool::registry![square];
///
/// fn main() {
///     stealpool::mpi::bootstrap(&TASKS); // ranks 1.. serve here and exit
///     let pool = stealpool::MpiPool::builder(&TASKS).build().unwrap();
///     let sq = pool.submit(stealpool::remote!(square), 7);
///     assert_eq!(sq.join().unwrap(), 49);
/// }
/// ```
pub fn bootstrap(registry: &'static Registry) {
    if !launch::under_a_launcher() {
        return;
    }
    let Some(universe) = launch::initialize() else {
        // Initialized by someone else already: their session, not ours.
        return;
    };
    let world = universe.world();
    if world.rank() == 0 {
        launch::keep_until_exit(universe);
        return;
    }
    process_worker::install_panic_hook();
    let code = serve(&world, registry);
    drop(world);
    // Dropping the universe calls MPI_Finalize, which every rank must.
    drop(universe);
    std::process::exit(code);
}

/// Serves rank 0 until it says stop; returns the exit code.
fn serve(world: &SimpleCommunicator, registry: &'static Registry) -> i32 {
    let root = world.process_at_rank(0);
    let mut backoff = Backoff::new();
    loop {
        // Poll rather than block: a blocked MPI receive spins a CPU at full
        // speed in most MPI libraries, and an idle worker rank should not.
        let Some(probed) = root.immediate_matched_probe() else {
            backoff.snooze();
            continue;
        };
        backoff.reset();
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        let tag = Tag::of(status.tag());
        match tag {
            Some(Tag::Hello) => {
                let hello = Reply::Hello {
                    version: wire::VERSION,
                    pid: std::process::id(),
                    fingerprint: registry.fingerprint(),
                };
                send(world, Tag::Hello, &hello);
            }
            Some(Tag::Run) => match message::decode::<Request>(&bytes) {
                Ok(Request::Run { task, items }) => {
                    for args in items {
                        let outcome = process_worker::run_task(registry, task, &args);
                        send(world, Tag::Reply, &Reply::Item(outcome));
                    }
                }
                Ok(Request::Init { .. }) | Err(_) => {
                    // Not a request of this protocol: answer so rank 0 does
                    // not wait, then go on.
                    let error = RemoteError::BadArgs(format!(
                        "rank {} got a message it cannot read",
                        world.rank()
                    ));
                    send(world, Tag::Reply, &Reply::Item(Err(error)));
                }
            },
            Some(Tag::Stop) => return 0,
            Some(Tag::Reply) | None => {
                eprintln!(
                    "stealpool: MPI rank {} got a message with tag {} and ignored it",
                    world.rank(),
                    status.tag()
                );
            }
        }
        // The next request often follows the reply at once: poll fast
        // again from here, not from when this one arrived.
        backoff.reset();
    }
}

/// Sends `reply` to rank 0.
fn send(world: &SimpleCommunicator, tag: Tag, reply: &Reply) {
    let bytes = message::encode(reply).unwrap_or_else(|err| {
        // A reply always encodes (user data travels as bytes); if it ever
        // did not, say so in its place.
        message::encode(&Reply::Item(Err(RemoteError::BadResult(err))))
            .expect("an error reply encodes")
    });
    world
        .process_at_rank(0)
        .send_with_tag(&bytes[..], tag as i32);
}
