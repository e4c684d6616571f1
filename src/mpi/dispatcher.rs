//! The dispatcher: the state rank 0's pool handle and its dispatcher
//! thread share, and the thread that hands batches to idle worker ranks,
//! reads their replies and enforces deadlines.

use std::collections::VecDeque;
use std::time::Duration;

use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::*;

use super::launch::{self, Backoff, SESSION};
use super::message::{self, Tag};
use crate::event::Event;
use crate::process::promise::{self, Batch, Running};
use crate::process::wire::{Reply, Request};
use crate::process::Registry;
use crate::sync::thread;
use crate::sync::{Condvar, Instant, Mutex};
use crate::task::TaskError;

/// How long an idle dispatcher watches the queue before it sleeps.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// Where the pool is in its life; only forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Taking work.
    Open,
    /// `shutdown`: queued and running tasks finish, then the ranks stop.
    Draining,
    /// `shutdown_now`: queued tasks were cancelled; running ones finish.
    Now,
    /// `Drop` gave up waiting: running tasks fail, the ranks are told to
    /// stop (they exit once their current call returns).
    Abandoned,
}

/// The queue and the phase, under one lock.
pub(crate) struct State {
    pub(crate) batches: VecDeque<Batch>,
    pub(crate) phase: Phase,
    /// The dispatcher sleeps on `work` (no rank busy, nothing queued).
    pub(crate) idle: bool,
}

/// What the pool's handle and its dispatcher share.
pub(crate) struct Shared {
    pub(crate) registry: &'static Registry,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) state: Mutex<State>,
    /// Signalled when a batch is queued or the phase changes.
    pub(crate) work: Condvar,
    /// Set by the dispatcher as it exits.
    pub(crate) exited: Event,
}

impl Shared {
    /// Moves to `phase` (never backwards) and wakes the dispatcher; returns
    /// the queued batches to cancel (dropped by the caller, outside the lock).
    pub(crate) fn enter(&self, phase: Phase) -> VecDeque<Batch> {
        let mut state = self.state.lock();
        state.phase = state.phase.max(phase);
        self.work.notify_all();
        if state.phase >= Phase::Now {
            std::mem::take(&mut state.batches)
        } else {
            VecDeque::new()
        }
    }
}

thread_local! {
    /// Set on the dispatcher thread, where the tasks' callbacks run.
    static ON_THE_DISPATCHER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the caller runs on a pool's dispatcher thread (in a callback).
pub(crate) fn on_the_dispatcher() -> bool {
    ON_THE_DISPATCHER.with(std::cell::Cell::get)
}

/// A worker rank, as the dispatcher sees it.
enum Rank {
    /// Ready for a batch.
    Idle,
    /// Running a batch: the promises still waiting for a reply, in order,
    /// and the current call's deadline.
    Busy {
        promises: VecDeque<Box<dyn Running>>,
        deadline: Option<Instant>,
    },
    /// Out of the pool after a deadline: this many replies are still due
    /// (they are dropped); then it is back.
    Out { due: usize },
}

/// The dispatcher thread: hands batches to idle ranks, reads replies,
/// enforces deadlines; stops the ranks when the pool shuts down.
pub(crate) fn dispatch(shared: &Shared, workers: usize) {
    ON_THE_DISPATCHER.with(|on| on.set(true));
    let _exit = DispatcherExit(shared);
    let world = SimpleCommunicator::world();
    let mut ranks: Vec<Rank> = (0..workers).map(|_| Rank::Idle).collect();
    let mut backoff = Backoff::new();
    loop {
        let mut state = shared.state.lock();
        if state.phase == Phase::Abandoned {
            drop(state);
            abandon(&mut ranks);
            break;
        }
        while let Some(index) = ranks.iter().position(|r| matches!(r, Rank::Idle)) {
            let Some(batch) = state.batches.pop_front() else {
                break;
            };
            // Claim just before the hand-over: a task cancelled while
            // queued is dropped here.
            let mut promises = VecDeque::new();
            let mut args = Vec::new();
            for item in batch.items {
                if let Some(running) = item.promise.claim() {
                    promises.push_back(running);
                    args.push(item.args);
                }
            }
            if promises.is_empty() {
                continue;
            }
            let request = Request::Run {
                task: batch.task,
                items: args,
            };
            match message::encode(&request) {
                Ok(bytes) => {
                    let rank = i32::try_from(index + 1).expect("ranks fit in i32");
                    world
                        .process_at_rank(rank)
                        .send_with_tag(&bytes[..], Tag::Run as i32);
                    ranks[index] = Rank::Busy {
                        promises,
                        deadline: shared.task_timeout.and_then(deadline_after),
                    };
                    // A reply is due soon: poll fast again.
                    backoff.reset();
                }
                Err(err) => promise::fail_running(promises, || TaskError::serialization(&err)),
            }
        }
        let busy = ranks.iter().any(|r| matches!(r, Rank::Busy { .. }));
        let out = ranks.iter().any(|r| matches!(r, Rank::Out { .. }));
        if !busy {
            if state.batches.is_empty() && state.phase != Phase::Open {
                break;
            }
            if !out {
                // Every rank is idle, so nothing is queued. Watch the queue
                // a little (a caller that just got a result often submits
                // the next call at once, and a wake-up on a loaded machine
                // costs more than the whole round trip), then sleep until
                // new work or a phase change.
                drop(state);
                let spun = Instant::now();
                let mut state = loop {
                    let state = shared.state.lock();
                    if !state.batches.is_empty()
                        || state.phase != Phase::Open
                        || spun.elapsed() >= IDLE_SPIN
                    {
                        break state;
                    }
                    drop(state);
                    thread::yield_now();
                };
                if state.batches.is_empty() && state.phase == Phase::Open {
                    state.idle = true;
                    state = shared.work.wait(state);
                    state.idle = false;
                }
                drop(state);
                continue;
            }
        }
        drop(state);
        match world
            .any_process()
            .immediate_matched_probe_with_tag(Tag::Reply as i32)
        {
            Some(probed) => {
                let (bytes, status) = probed.matched_receive_vec::<u8>();
                let rank = status.source_rank();
                let index = usize::try_from(rank - 1).expect("a worker rank");
                on_reply(shared, &mut ranks[index], rank, &bytes);
                backoff.reset();
            }
            None => {
                enforce_deadlines(shared, &mut ranks);
                backoff.snooze();
            }
        }
    }
    launch::stop_workers(&world);
}

/// Marks the pool's end however the dispatcher exits (a panic included),
/// so that `shutdown` and `Drop` never wait in vain.
struct DispatcherExit<'a>(&'a Shared);

impl Drop for DispatcherExit<'_> {
    fn drop(&mut self) {
        {
            let mut session = SESSION.lock();
            session.stopped = true;
            session.in_use = false;
        }
        self.0.exited.set();
    }
}

/// One reply from `rank`: completes its next call.
fn on_reply(shared: &Shared, state: &mut Rank, rank: i32, bytes: &[u8]) {
    match state {
        Rank::Busy { promises, deadline } => {
            let Some(promise) = promises.pop_front() else {
                return;
            };
            *deadline = shared.task_timeout.and_then(deadline_after);
            let outcome = match message::decode::<Reply>(bytes) {
                Ok(Reply::Item(outcome)) => {
                    outcome.map_err(|err| promise::remote_error(err, &format!("MPI rank {rank}")))
                }
                Ok(_) | Err(_) => Err(TaskError::serialization(format!(
                    "MPI rank {rank} sent a reply that could not be read"
                ))),
            };
            let finished = promises.is_empty();
            promise.complete(outcome);
            if finished {
                *state = Rank::Idle;
            }
        }
        Rank::Out { due } => {
            *due -= 1;
            if *due == 0 {
                eprintln!("stealpool: MPI rank {rank} answered at last and is back in the pool");
                *state = Rank::Idle;
            }
        }
        Rank::Idle => eprintln!("stealpool: MPI rank {rank} sent a reply nobody waits for"),
    }
}

/// Fails the current call of every rank past its deadline, and takes the
/// rank out of the pool until its due replies arrive.
fn enforce_deadlines(shared: &Shared, ranks: &mut [Rank]) {
    let now = Instant::now();
    for (index, state) in ranks.iter_mut().enumerate() {
        let Rank::Busy { promises, deadline } = state else {
            continue;
        };
        if !deadline.is_some_and(|deadline| now >= deadline) {
            continue;
        }
        let rank = index + 1;
        let timeout = shared.task_timeout.unwrap_or_default();
        let due = promises.len();
        let mut promises = std::mem::take(promises).into_iter();
        if let Some(current) = promises.next() {
            current.complete(Err(TaskError::timeout(format!(
                "it ran past its {timeout:?} deadline on MPI rank {rank}; a rank cannot be \
                 killed, so it is out of the pool until it answers"
            ))));
        }
        // The rest of its chunk is already on that rank, behind the call
        // that overran: it cannot be taken back.
        promise::fail_running(promises, || {
            TaskError::worker_lost(format!(
                "MPI rank {rank} was taken out of the pool: an earlier call of its chunk passed \
                 its deadline"
            ))
        });
        eprintln!(
            "stealpool: MPI rank {rank} passed a {timeout:?} task deadline and is out of the \
             pool until it answers"
        );
        *state = Rank::Out { due };
    }
}

/// `Drop` stopped waiting: every running call fails.
fn abandon(ranks: &mut [Rank]) {
    for (index, state) in ranks.iter_mut().enumerate() {
        if let Rank::Busy { promises, .. } = state {
            let rank = index + 1;
            promise::fail_running(std::mem::take(promises), || {
                TaskError::worker_lost(format!(
                    "the MpiPool was dropped while MPI rank {rank} ran it (and did not finish \
                     within 5 s)"
                ))
            });
        }
        *state = Rank::Idle;
    }
}

/// `timeout` from now; `None` (no limit) if it is too far ahead.
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}
