//! Deferred pushes: the scheduler's lazy-fork seam.
//!
//! A job that some worker *could* take, but that its owner will most likely
//! run itself a moment later (the second half of a `join`), is not pushed
//! onto the deque. It is recorded as a [`Deferred`] on the owner's stack,
//! linked into the worker's list of live deferred jobs (newest first): a few
//! plain stores, no atomic read-modify-write, no fence.
//!
//! A worker that finds no work *asks* its siblings ([`Asks::ask_all_but`]: a
//! relaxed flag per worker). A busy worker checks its own flag whenever it
//! defers a job; if it is raised, it *promotes* its **oldest** deferred job —
//! the largest piece of work — by pushing it onto its deque (a fenced push that
//! wakes a sleeper), where the asker steals it. This is heartbeat scheduling
//! (Acar et al., "Heartbeat Scheduling", PLDI 2018; Spice and chili) driven by
//! idleness instead of a timer: if nobody idles, nothing is shared, because
//! nobody could take it.
//!
//! The owner takes a deferred job back with [`WorkerThread::undefer`]:
//! `Some` if it was never promoted (the common case: the owner calls it
//! directly), `None` if it is in the deque (the owner pops it back or waits
//! for whoever stole it).
//!
//! The seam is narrow: fork-join uses `Deferred`, `defer` and `undefer`;
//! idle workers use `Asks`. Everything else is the deque's.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use crossbeam_utils::CachePadded;

use super::job::{Job, JobRef};
use super::worker::WorkerThread;
use crate::sync::atomic::AtomicBool;
use crate::sync::atomic::Ordering::Relaxed;

/// A job deferred on its owner's stack (see the module docs).
pub(crate) struct Deferred {
    /// The job, until promoted (then `None`: it is in the deque) or taken
    /// back. A bare `JobRef` (no drop glue).
    job: Cell<Option<JobRef>>,
    /// The enclosing deferred job on this worker, or null. Set by `defer`.
    older: Cell<*const Deferred>,
}

impl Deferred {
    /// A record for `job`, not yet linked.
    #[inline]
    pub(crate) fn new(job: JobRef) -> Deferred {
        Deferred {
            job: Cell::new(Some(job)),
            older: Cell::new(ptr::null()),
        }
    }

    /// Whether the job is still here (neither promoted nor taken back).
    fn is_pending(&self) -> bool {
        let job = self.job.take();
        let pending = job.is_some();
        self.job.set(job);
        pending
    }
}

impl fmt::Debug for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred")
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// Per worker: "a sibling is idle: promote your oldest deferred job". Set by
/// idle workers, cleared by the owner; padded, as the owner reads its own
/// flag at every `defer`.
pub(crate) struct Asks {
    flags: Box<[CachePadded<AtomicBool>]>,
}

impl Asks {
    /// Flags for `workers` workers, all lowered.
    pub(crate) fn new(workers: usize) -> Asks {
        Asks {
            flags: (0..workers)
                .map(|_| CachePadded::new(AtomicBool::new(false)))
                .collect(),
        }
    }

    /// Worker `from` is idle: ask every sibling to promote a deferred job.
    pub(crate) fn ask_all_but(&self, from: usize) {
        for (index, flag) in self.flags.iter().enumerate() {
            // Relaxed: a hint; the promotion it triggers is a fenced push.
            if index != from && !flag.load(Relaxed) {
                flag.store(true, Relaxed);
            }
        }
    }

    /// Worker `index`'s own flag.
    pub(crate) fn flag(&self, index: usize) -> &AtomicBool {
        &self.flags[index]
    }
}

impl fmt::Debug for Asks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Asks")
            .field("workers", &self.flags.len())
            .finish()
    }
}

impl WorkerThread {
    /// Links `deferred` as this worker's newest deferred job, then promotes
    /// the oldest one if a sibling asked. The caller must call
    /// [`undefer`](Self::undefer) before `deferred` goes out of scope.
    #[inline]
    pub(crate) fn defer(&self, deferred: &Deferred) {
        deferred.older.set(self.deferred.get());
        self.deferred.set(deferred);
        self.share_if_asked();
    }

    /// Unlinks `deferred` (the newest) and takes its job back: `Some` if it
    /// was never promoted, so nobody else can have it.
    #[inline]
    pub(crate) fn undefer(&self, deferred: &Deferred) -> Option<JobRef> {
        debug_assert!(ptr::eq(self.deferred.get(), deferred));
        self.deferred.set(deferred.older.get());
        deferred.job.take()
    }

    /// If a sibling asked for work, promotes this worker's oldest deferred
    /// job: pushes it onto the deque, where the sibling can steal it.
    #[inline]
    fn share_if_asked(&self) {
        // SAFETY: the flag lives in the registry, which `self.registry` (an
        // `Arc`) keeps alive as long as `self`.
        let flag = unsafe { &*self.asked };
        // Relaxed: a hint; the promotion it triggers is a fenced push.
        if flag.load(Relaxed) {
            flag.store(false, Relaxed);
            self.promote_oldest();
        }
    }

    #[cold]
    fn promote_oldest(&self) {
        let mut oldest = None;
        let mut record = self.deferred.get();
        // SAFETY: every record in the list lives on this thread's stack, in a
        // call that has not returned (each unlinks its record before it
        // returns), and only this thread touches the list.
        while let Some(deferred) = unsafe { record.as_ref() } {
            if deferred.is_pending() {
                oldest = Some(deferred);
            }
            record = deferred.older.get();
        }
        if let Some(job) = oldest.and_then(|deferred| deferred.job.take()) {
            self.push(Job::Stack(job));
        }
    }
}
