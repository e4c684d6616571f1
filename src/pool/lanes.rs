//! Submission lanes: one FIFO queue per (outside thread, pool).
//!
//! A thread outside the pool that submits work pushes it onto its own lane,
//! a crossbeam deque in FIFO mode that only this thread pushes to; workers
//! steal batches from every lane, as they do from the global injector. With
//! one producer per queue there is no contended tail, and the queue's buffer
//! is reused instead of a block allocated by the submitter and freed by a
//! worker every 63 jobs (with glibc, that free takes the submitter's arena
//! lock: docs/benchmarks.md measured `submit` + `join` of 100 000 tasks
//! 33 % faster with lanes).
//!
//! **Life cycle.** A thread's lanes live in a thread-local ([`OWN`]; a second
//! thread-local beside `executor::CURRENT`, which must stay free of drop
//! glue because every `join` reads it). The pool's `Shared` state lists every lane in
//! [`Lanes`], bumping a version on each change; workers keep a copy of the
//! list and refresh it when the version moves. When the thread exits, its
//! lanes are marked orphaned (after its last push); a worker that finds an
//! orphaned lane empty prunes it from the list. When the pool is dropped,
//! its lanes are marked closed, and a thread forgets its closed lanes the
//! next time it needs a new one.
//!
//! **Shutdown.** Lanes are one more queue behind the same gate as the
//! injector: a push happens between the gate's count up and down
//! (`Shared::inject`), `has_work` and the shutdown drains see every lane,
//! and `shutdown_now` cancels what they hold.
//!
//! **Wake-ups.** A push is followed by `Sleep::new_work` (fence F1), and a
//! lane is listed (version bumped) before its first push. A worker about to
//! sleep re-checks `has_work` after its fence F2, and that check re-reads
//! the version: either it sees the new lane and its job, or the pusher sees
//! the sleeper and wakes it (the argument of `sleep.rs`, for one more
//! queue).
//!
//! Under loom, lanes are the queue stand-ins of `queue.rs` and `OWN` is a
//! loom thread-local: every pool model that submits from outside runs
//! through a lane (`loom-tests/tests/pool.rs`).

use std::cell::RefCell;
use std::fmt;

use crossbeam_utils::CachePadded;

use super::job::Job;
use super::queue::{Steal, Stealer, Worker};
use crate::executor::ExecutorId;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use crate::sync::atomic::{AtomicBool, AtomicUsize};
use crate::sync::{Arc, Mutex};

/// One thread's queue into one pool.
pub(crate) struct Lane {
    /// The workers' end.
    stealer: Stealer<Job>,
    /// The owning thread has exited; set after its last push.
    orphaned: AtomicBool,
    /// The pool was dropped: the owning thread may forget this lane.
    closed: AtomicBool,
}

impl Lane {
    /// A new lane: the owner's end (it only pushes) and the shared end.
    fn new() -> (Worker<Job>, Arc<Lane>) {
        let queue = Worker::new_fifo();
        let lane = Arc::new(Lane {
            stealer: queue.stealer(),
            orphaned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        (queue, lane)
    }

    /// Whether the lane's thread exited and the lane looks empty (then the
    /// list may drop it).
    pub(crate) fn is_spent(&self) -> bool {
        // Acquire on `orphaned`: the owner's pushes happen-before it, so an
        // orphaned lane that looks empty is empty for good.
        self.orphaned.load(Acquire) && self.is_empty()
    }

    /// Whether the lane looks empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.stealer.is_empty()
    }

    /// Jobs queued (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.stealer.len()
    }

    /// Moves a batch (at most `limit`) into `dest` and pops one of them.
    pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<Job>, limit: usize) -> Steal<Job> {
        self.stealer.steal_batch_with_limit_and_pop(dest, limit)
    }
}

/// The pool's list of lanes (in `Shared`).
pub(crate) struct Lanes {
    list: Mutex<Vec<Arc<Lane>>>,
    /// Bumped under the lock after every change of `list`; workers compare
    /// it with their copy's. Padded: read at every worker's `has_work`.
    version: CachePadded<AtomicUsize>,
}

impl Lanes {
    /// No lanes yet.
    pub(crate) fn new() -> Lanes {
        Lanes {
            list: Mutex::new(Vec::new()),
            version: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// The list's version now.
    #[inline]
    pub(crate) fn version(&self) -> usize {
        // Acquire: pairs with the Release bump in `change`: a worker that
        // sees the new version then copies a list that has the new lane.
        self.version.load(Acquire)
    }

    /// A copy of the list, with its version.
    pub(crate) fn snapshot(&self) -> (usize, Vec<Arc<Lane>>) {
        let list = self.list.lock();
        (self.version.load(Relaxed), list.clone())
    }

    /// Runs `f` on the list under its lock; bumps the version if `f`
    /// returns `true` (it changed the list).
    fn change(&self, f: impl FnOnce(&mut Vec<Arc<Lane>>) -> bool) {
        let mut list = self.list.lock();
        if f(&mut list) {
            // Release: publishes the changed list (and, for a new lane,
            // everything its thread did before) to a worker that sees the
            // new version (`version`).
            self.version.fetch_add(1, Release);
        }
    }

    /// Adds `lane` to the list.
    fn add(&self, lane: &Arc<Lane>) {
        self.change(|list| {
            list.push(Arc::clone(lane));
            true
        });
    }

    /// Drops the lanes whose thread exited and that are empty.
    pub(crate) fn prune(&self) {
        self.change(|list| {
            let before = list.len();
            list.retain(|lane| !lane.is_spent());
            list.len() != before
        });
    }

    /// Jobs queued in all lanes (a snapshot; takes the list's lock).
    pub(crate) fn len(&self) -> usize {
        self.list.lock().iter().map(|lane| lane.len()).sum()
    }

    /// Takes every job out of every lane (for `shutdown_now` and the pool's
    /// drop); the caller disposes of them outside the list's lock.
    pub(crate) fn take_all(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        for lane in self.list.lock().iter() {
            loop {
                match lane.stealer.steal() {
                    Steal::Success(job) => jobs.push(job),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        jobs
    }

    /// The pool is gone: marks every lane closed, so their threads forget
    /// them.
    pub(crate) fn close(&self) {
        for lane in self.list.lock().iter() {
            lane.closed.store(true, Relaxed);
        }
    }
}

impl fmt::Debug for Lanes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lanes")
            .field("version", &self.version.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// A lane as its thread holds it.
struct OwnLane {
    pool: ExecutorId,
    queue: Worker<Job>,
    lane: Arc<Lane>,
}

impl Drop for OwnLane {
    fn drop(&mut self) {
        // Release: after this thread's last push (see `Lanes::prune`).
        self.lane.orphaned.store(true, Release);
    }
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    /// The calling thread's lanes, one per pool it submitted to.
    static OWN: RefCell<Vec<OwnLane>> = const { RefCell::new(Vec::new()) };
}

#[cfg(loom)]
crate::sync::thread_local! {
    /// The calling loom thread's lanes (loom's `thread_local!` has no
    /// `const` form).
    #[allow(clippy::missing_const_for_thread_local)]
    static OWN: RefCell<Vec<OwnLane>> = RefCell::new(Vec::new());
}

/// Pushes `job` onto the calling thread's lane into pool `pool` (whose list
/// is `lanes`), creating the lane on first use. Gives the job back if this
/// thread cannot hold a lane (it is exiting): the caller then uses the
/// injector.
pub(crate) fn push(lanes: &Lanes, pool: ExecutorId, job: Job) -> Result<(), Job> {
    // The job goes into the closure only once the closure runs: if the
    // thread-local is gone, it stays here to be given back.
    let mut job = Some(job);
    let pushed = OWN.try_with(|own| {
        let Ok(mut own) = own.try_borrow_mut() else {
            return false;
        };
        let job = job.take().expect("a job");
        if let Some(mine) = own.iter().find(|mine| mine.pool == pool) {
            mine.queue.push(job);
            return true;
        }
        // Relaxed: a hint; a closed lane is only ever forgotten.
        own.retain(|mine| !mine.lane.closed.load(Relaxed));
        let (queue, lane) = Lane::new();
        lanes.add(&lane);
        queue.push(job);
        own.push(OwnLane { pool, queue, lane });
        true
    });
    match pushed {
        Ok(true) => Ok(()),
        _ => Err(job.expect("a job not pushed is not taken")),
    }
}

/// A worker's copy of the lane list.
pub(crate) struct LaneCache {
    version: usize,
    lanes: Vec<Arc<Lane>>,
}

impl LaneCache {
    /// An empty copy (refreshed on first use).
    pub(crate) fn new() -> LaneCache {
        LaneCache {
            version: usize::MAX,
            lanes: Vec::new(),
        }
    }

    /// The lanes, refreshed if the list changed.
    #[inline]
    pub(crate) fn get<'a>(&'a mut self, lanes: &Lanes) -> &'a [Arc<Lane>] {
        // mutant: stale-lane-list s/lanes.version() != self.version/false/
        if lanes.version() != self.version {
            (self.version, self.lanes) = lanes.snapshot();
        }
        &self.lanes
    }
}

impl fmt::Debug for LaneCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaneCache")
            .field("lanes", &self.lanes.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn prune_drops_only_orphaned_empty_lanes() {
        let lanes = Lanes::new();
        let (live_queue, live) = Lane::new();
        let (full_queue, full) = Lane::new();
        let (_, spent) = Lane::new();
        for lane in [&live, &full, &spent] {
            lanes.add(lane);
        }
        full_queue.push(Job::Spawn(Box::new(|| ())));
        full.orphaned.store(true, Release);
        spent.orphaned.store(true, Release);
        let before = lanes.version();
        lanes.prune();
        assert_ne!(lanes.version(), before, "a change bumps the version");
        let (_, left) = lanes.snapshot();
        assert_eq!(
            left.len(),
            2,
            "the live lane and the orphaned full one stay"
        );
        assert!(left.iter().any(|l| Arc::ptr_eq(l, &live)));
        assert!(left.iter().any(|l| Arc::ptr_eq(l, &full)));
        let version = lanes.version();
        lanes.prune();
        assert_eq!(lanes.version(), version, "no change, no bump");
        // The cache follows the version.
        let mut cache = LaneCache::new();
        assert_eq!(cache.get(&lanes).len(), 2);
        drop((live_queue, full_queue));
    }
}
