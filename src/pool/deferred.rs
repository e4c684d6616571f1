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
//! idleness instead of a timer.
//!
//! Asks are not enough on their own: a sibling that is still starting, or
//! asleep after an ask that was answered already, asks nobody while the
//! owner runs a long `a` that never defers again. So the flag also means
//! "**your deque may be empty**": it starts raised, a thief raises its
//! victim's flag after every steal from that victim's deque, and a worker
//! raises its own when one of its pops empties its deque. The next `defer`
//! then promotes the oldest pending job: each worker keeps its biggest
//! pending half stealable and pushes again only after that one was taken
//! (stolen, or popped back by its owner), while the joins nested inside stay
//! lazy. The owner's check is one relaxed load of its own flag, whoever
//! raised it (a worker's deque is emptied only by its own pops and by
//! steals, and both raise the flag). A worker waiting for a stolen half that
//! finds no work promotes its own oldest pending half the same way.
//!
//! The owner takes a deferred job back with [`WorkerThread::undefer`]:
//! `true` if it was never promoted (the common case: the owner calls it
//! directly), `false` if it is in the deque (the owner pops it back or waits
//! for whoever stole it).
//!
//! The seam is narrow: fork-join uses `Deferred`, `defer` and `undefer`;
//! idle workers use `Asks`. Everything else is the deque's.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use crossbeam_utils::CachePadded;

use super::job::{DeferredJob, Job};
use super::worker::WorkerThread;
use crate::sync::atomic::AtomicBool;
use crate::sync::atomic::Ordering::Relaxed;

/// A job deferred on its owner's stack (see the module docs).
pub(crate) struct Deferred {
    /// The job's address.
    job: *const (),
    /// How to arm and queue the job, until it is promoted (then `None`: it
    /// is in the deque) or taken back. Arming writes the job's latch, which
    /// a job that is never shared never needs.
    how: Cell<Option<&'static DeferredJob>>,
    /// The enclosing deferred job on this worker, or null. Set by `defer`.
    older: Cell<*const Deferred>,
}

impl Deferred {
    /// A record for the job at `job`, not yet linked (see
    /// `StackJob::as_deferred`).
    #[inline]
    pub(crate) fn new(job: *const (), how: &'static DeferredJob) -> Deferred {
        Deferred {
            job,
            how: Cell::new(Some(how)),
            older: Cell::new(ptr::null()),
        }
    }

    /// Whether the job is still here (neither promoted nor taken back).
    fn is_pending(&self) -> bool {
        self.how.get().is_some()
    }
}

impl fmt::Debug for Deferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deferred")
            .field("pending", &self.is_pending())
            .finish()
    }
}

/// Per worker: "promote your oldest deferred job" — a sibling is idle, or
/// this worker's deque may be empty (see the module docs). Raised by idle
/// workers, by thieves and by the worker's own emptying pops, and at first;
/// cleared by the owner; padded, as the owner reads its own flag at every
/// `defer`.
pub(crate) struct Asks {
    flags: Box<[CachePadded<AtomicBool>]>,
}

impl Asks {
    /// Flags for `workers` workers, all raised: a fresh worker's deque is
    /// empty.
    pub(crate) fn new(workers: usize) -> Asks {
        Asks {
            flags: (0..workers)
                .map(|_| CachePadded::new(AtomicBool::new(true)))
                .collect(),
        }
    }

    /// Raises worker `index`'s flag, so that its next `defer` shares: its
    /// deque may be empty now (a steal from it, or its own pop, took a job),
    /// or a sibling is idle ([`ask_all_but`](Self::ask_all_but)).
    #[inline]
    pub(crate) fn raise(&self, index: usize) {
        let flag = &self.flags[index];
        // Relaxed: a hint; the promotion it triggers is a fenced push. Read
        // first: a flag already up is left alone, so that its owner's line
        // is not pulled away from it for nothing.
        if !flag.load(Relaxed) {
            flag.store(true, Relaxed);
        }
    }

    /// Worker `from` is idle: ask every sibling to promote a deferred job.
    pub(crate) fn ask_all_but(&self, from: usize) {
        for index in (0..self.flags.len()).filter(|&index| index != from) {
            self.raise(index);
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
    /// Links `deferred` as this worker's newest deferred job, then shares
    /// the oldest pending one if this worker's flag is raised: a sibling
    /// asked, or the deque may be empty. The caller must call
    /// [`undefer`](Self::undefer) before `deferred` goes out of scope.
    ///
    /// **Nothing stealable, so share.** With an empty deque, the oldest
    /// pending job (often the one just deferred: the outermost `join` of a
    /// run, or the first `join` inside a stolen or popped-back half) is
    /// pushed at once, as an eager fork. Otherwise a sibling that is still
    /// starting, or asleep with an ask that was answered already, would
    /// never get work: the owner checks its flag only when it defers again,
    /// and the owner of `join(a, b)` may stay inside a long `a` that never
    /// does. So each worker keeps its oldest pending half stealable, and
    /// pushes again only once that one has been taken — the steal or the pop
    /// that took it raised the flag: one push per steal or per pop-back,
    /// while the joins nested inside stay lazy.
    #[inline]
    pub(crate) fn defer(&self, deferred: &Deferred) {
        deferred.older.set(self.deferred.get());
        self.deferred.set(deferred);
        self.share_if_asked();
    }

    /// Unlinks `deferred` (the newest) and takes its job back: `true` if it
    /// was never promoted, so nobody else can have it.
    #[inline]
    pub(crate) fn undefer(&self, deferred: &Deferred) -> bool {
        debug_assert!(ptr::eq(self.deferred.get(), deferred));
        self.deferred.set(deferred.older.get());
        deferred.how.take().is_some()
    }

    /// If this worker's flag is raised (a sibling asked for work, or the
    /// deque may be empty), promotes this worker's oldest deferred job:
    /// pushes it onto the deque, where a sibling can steal it.
    #[inline]
    fn share_if_asked(&self) {
        // This worker's ask flag: set by idle siblings, cleared here.
        let flag = self.shared.asks.flag(self.index);
        // Relaxed: a hint; the promotion it triggers is a fenced push.
        if flag.load(Relaxed) {
            flag.store(false, Relaxed);
            self.promote_oldest();
        }
    }

    /// Promotes this worker's oldest deferred job that is still pending, if
    /// any; `true` if it did. Called when a sibling asked, and by the worker
    /// itself when it would otherwise idle while waiting.
    #[cold]
    pub(super) fn promote_oldest(&self) -> bool {
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
        oldest.is_some_and(|deferred| self.promote(deferred))
    }

    /// Arms `deferred`'s job and pushes it onto the deque (if it is still
    /// pending).
    #[inline]
    fn promote(&self, deferred: &Deferred) -> bool {
        match deferred.how.take() {
            Some(how) => {
                // SAFETY: `deferred` is in this worker's list, so its job lives
                // on this thread's stack in a call that has not returned, was
                // built by this worker, and is pending: not shared yet. `take`
                // makes this the one arming and the one push; it is armed
                // below, before the push shares it.
                let job = unsafe { how.job_ref(deferred.job) };
                // SAFETY: as above: pending, ours, not shared yet.
                // mutant: arm-after-push swap
                unsafe { how.arm(deferred.job, self) };
                self.push(Job::Stack(job));
                true
            }
            None => false,
        }
    }
}
