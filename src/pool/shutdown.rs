//! `shutdown` and `shutdown_now`: closing the gate, draining, and waiting
//! for the workers without ever waiting for a caller (README.md, shutdown).
//!
//! Any number of threads — outsiders, workers of this pool, workers of other
//! pools — may call these at once, from anywhere (a task, a callback, a
//! `Drop`). Each caller:
//!
//! 1. closes the pool (idempotent): the gate refuses new outside
//!    submissions, sleepers are woken; with `now`, queued work is cancelled;
//! 2. waits until the pool is *settled*: no submission in flight, no queued
//!    work, and every worker exited or waiting only on the callers
//!    themselves (`Roster::quiescent`: blocked in `shutdown`, or blocked on
//!    jobs running on a caller's stack, directly or through a chain). A
//!    worker of this pool waits inside its own sleep protocol and runs the
//!    queued work meanwhile; a worker of another pool keeps serving that
//!    pool; an outsider sleeps on a futex;
//! 3. joins the threads that have exited (never its own, never one that
//!    waits on a caller: those exit later, detached or joined by a later
//!    `shutdown`).
//!
//! The wait is driven by notifications: a worker that blocks or exits while
//! the pool is closing sets every registered watcher's latch, and each
//! watcher re-evaluates. A watcher registers *before* it evaluates, so a
//! change after its evaluation always reaches it.

use std::ptr;

use super::job::Job;
use super::latch::SpinLatch;
use super::queue::{Injector, Steal, Stealer};
use super::shared::{Shared, INJECTING_ONE, NOW, SHUTDOWN};
use super::worker::WorkerThread;
use crate::executor;
use crate::latch::{LockLatch, SetLatch};
use crate::sync::atomic::fence;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use crate::sync::thread::JoinHandle;

impl Shared {
    /// `shutdown` (`now == false`) or `shutdown_now`, called on any thread.
    pub(crate) fn shutdown(&self, now: bool) {
        self.begin_shutdown(now);
        if now {
            self.cancel_queued();
        }
        WorkerThread::with_current(|current| match current {
            Some(worker) => {
                // A worker of this pool is marked inside `shutdown` for the
                // whole call (other callers need not wait for it); a worker of
                // another pool is simply busy from this pool's view.
                let own = ptr::eq(&*worker.shared, self);
                let _inside = own.then(|| self.roster.enter_shutdown(worker.index));
                loop {
                    if own {
                        // Drain what is queued before each look: what this
                        // worker runs changes nobody's status, so nothing
                        // would tell it to look again afterwards.
                        while let Some(job) = worker.find_work() {
                            worker.execute(job);
                        }
                    }
                    let latch = SpinLatch::cross(worker);
                    // SAFETY: the latch lives until it is set or unwatched,
                    // both of which happen before this iteration ends.
                    unsafe { self.roster.watch(&latch) };
                    if self.settled() {
                        self.unwatch(&latch);
                        break;
                    }
                    worker.wait_until(&latch, None, None);
                }
            }
            None => loop {
                let latch = LockLatch::new();
                // SAFETY: as above.
                unsafe { self.roster.watch(&latch) };
                if self.settled() {
                    self.unwatch(&latch);
                    break;
                }
                latch.wait();
            },
        });
        self.join_exited();
    }

    /// Closes the gate and wakes every worker so they drain and exit.
    pub(crate) fn begin_shutdown(&self, now: bool) {
        let bits = if now { SHUTDOWN | NOW } else { SHUTDOWN };
        // First: from here on, workers that block or exit notify watchers.
        self.roster.close();
        // AcqRel: Release publishes the flag; Acquire orders our later reads.
        self.gate.fetch_or(bits, AcqRel);
        // Relaxed: the fence below orders it for sleepers; others poll it.
        self.flags.fetch_or(bits, Relaxed);
        // SeqCst fence: pairs with F2 in `Sleep::sleep`: a worker about to
        // sleep either sees the flag in its re-check, or is seen SLEEPING by
        // `wake_all` (README.md, shutdown).
        fence(SeqCst);
        self.sleep.wake_all();
    }

    /// Whether the calling `shutdown` may stop waiting: no outside submission
    /// in flight, the queues empty, and every worker exited or waiting only
    /// on the callers (`Roster::quiescent`). The roster is read first: a
    /// worker it finds blocked can push nothing more, so queues seen empty
    /// afterwards stay empty but for submissions in flight, which the gate
    /// count shows.
    fn settled(&self) -> bool {
        self.roster.quiescent() && self.may_exit() && !self.has_work()
    }

    /// Takes `latch` back from the watchers; if a notification took it
    /// first, waits for that notification's set (it is in progress) before
    /// the latch may be freed.
    fn unwatch<L: SetLatch>(&self, latch: &L) {
        if !self.roster.unwatch(latch) {
            while !latch.core().probe() {
                crate::sync::thread::yield_now();
            }
        }
    }

    /// Joins every worker thread that has exited and that nobody joined yet.
    fn join_exited(&self) {
        let handles: Vec<JoinHandle<()>> = {
            let mut threads = self.threads.lock();
            threads
                .iter_mut()
                .enumerate()
                .filter(|(index, _)| self.roster.has_exited(*index))
                .filter_map(|(_, handle)| handle.take())
                .collect()
        };
        for handle in handles {
            // A worker's own panics are all caught or abort; a join error
            // would be a bug in the crate, and must not hide behind shutdown.
            handle.join().expect("a stealpool worker thread panicked");
        }
    }

    /// `shutdown_now`'s own share: takes every queued job out of every queue
    /// and disposes of it at once (tasks cancelled, spawned closures
    /// dropped). Jobs someone waits for (stack jobs, scope jobs) go back to
    /// the injector for the workers to run.
    pub(crate) fn cancel_queued(&self) {
        // Count as an in-flight submission, so no worker exits while the
        // waited-on jobs are out of the queues (Acquire/Release as in
        // `inject`, through `end_injection`).
        self.gate.fetch_add(INJECTING_ONE, Acquire);
        let mut waited_on = Vec::new();
        let mut dispose = |job: Job| {
            if job.is_waited_on() {
                waited_on.push(job);
            } else if let Err(payload) = super::job::dispose(job) {
                executor::report_panic(Some(self.id), payload);
            }
        };
        loop {
            let mut retry = false;
            for queue in std::iter::once(&self.injector as &dyn StealOne)
                .chain(self.stealers.iter().map(|s| s as &dyn StealOne))
            {
                loop {
                    match queue.steal_one() {
                        Steal::Success(job) => dispose(job),
                        Steal::Empty => break,
                        Steal::Retry => {
                            retry = true;
                            break;
                        }
                    }
                }
            }
            if !retry {
                break;
            }
        }
        // The lanes: taken out under the list's lock, disposed of after it.
        for job in self.lanes.take_all() {
            dispose(job);
        }
        let pushed = !waited_on.is_empty();
        for job in waited_on {
            self.injector.push(job);
        }
        self.end_injection();
        if pushed {
            self.sleep.new_work();
        }
    }
}

/// One steal from a queue, whatever its kind.
trait StealOne {
    fn steal_one(&self) -> Steal<Job>;
}

impl StealOne for Injector<Job> {
    fn steal_one(&self) -> Steal<Job> {
        self.steal()
    }
}

impl StealOne for Stealer<Job> {
    fn steal_one(&self) -> Steal<Job> {
        self.steal()
    }
}
