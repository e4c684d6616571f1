//! A worker thread: its deque, its main loop, and the thread-local that
//! lets code running on it find its pool.

use std::cell::Cell;
use std::fmt;
use std::ptr;

use super::job::{Job, JoinFrame};
use super::queue::Worker;
use super::registry::Registry;
use super::sleep::Idle;
use crate::executor::{self, WorkerContext, WorkerGuard};
use crate::latch::Latch;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::spin::spin_until;
use crate::sync::Arc;

/// How long an idle worker keeps looking for work before it sleeps. A task
/// submitted within this window starts without a futex wake (tens of µs on
/// the VMs this crate is tuned on); a worker that then sleeps has burnt at
/// most this much CPU.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// How long a worker waiting in `join`/`scope` spins for new work or its
/// latch before it sleeps on the latch.
const HELP_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// One worker, living on its own thread's stack for the thread's life.
pub(crate) struct WorkerThread {
    /// The pool.
    pub(crate) registry: Arc<Registry>,
    /// This worker's index.
    pub(crate) index: usize,
    /// This worker's deque: the owner pushes and pops at one end (LIFO),
    /// thieves steal from the other.
    deque: Worker<Job>,
    /// State of the xorshift generator that picks the first steal victim.
    rng: Cell<u32>,
    /// This worker already left the `alive` count (it called `shutdown`).
    left: Cell<bool>,
    /// The newest live `join` frame on this worker's stack, or null; the
    /// frames link to older ones. Touched only by this worker.
    frames: Cell<*const JoinFrame>,
    /// This worker's "work wanted" flag in the registry (set by idle
    /// siblings, cleared here); a pointer kept at hand for `join`.
    work_wanted: *const crate::sync::atomic::AtomicBool,
}

// `CURRENT` is the one place that names `std::thread_local!` directly: the
// std build needs its `const` form for speed, which the shim's macro (shared
// with loom) cannot offer.

#[cfg(not(loom))]
std::thread_local! {
    /// The worker running on this thread, while its main loop runs. (A
    /// `const` initialiser: read on every `join`, it must not check for lazy
    /// initialisation.)
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

#[cfg(loom)]
crate::sync::thread_local! {
    /// The worker running on this loom thread (loom's `thread_local!` has
    /// no `const` form).
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<*const WorkerThread> = Cell::new(ptr::null());
}

impl WorkerThread {
    /// A worker for `registry` at `index`, owning `deque`.
    pub(crate) fn new(registry: Arc<Registry>, index: usize, deque: Worker<Job>) -> Self {
        let registry_flag: *const crate::sync::atomic::AtomicBool =
            registry.work_wanted_flag(index);
        WorkerThread {
            registry,
            index,
            deque,
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            left: Cell::new(false),
            frames: Cell::new(ptr::null()),
            work_wanted: registry_flag,
        }
    }

    /// Calls `f` with the worker running on this thread, if any.
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(Option<&WorkerThread>) -> R) -> R {
        let worker = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` executes on this
        // thread with `self` alive on its stack (it is reset before `run`
        // returns), and we are on that thread, inside that call.
        f(unsafe { worker.as_ref() })
    }

    /// Calls `f` with this thread's worker if it belongs to `registry`.
    #[inline]
    pub(crate) fn with_current_of<R>(
        registry: &Registry,
        f: impl FnOnce(Option<&WorkerThread>) -> R,
    ) -> R {
        Self::with_current(|worker| f(worker.filter(|w| ptr::eq(&*w.registry, registry))))
    }

    /// Pushes `job` onto this worker's deque and wakes a sibling if needed.
    #[inline]
    pub(crate) fn push(&self, job: Job) {
        self.deque.push(job);
        self.registry.sleep.new_work();
    }

    /// The newest live `join` frame (the enclosing one for a new `join`).
    #[inline]
    pub(crate) fn newest_frame(&self) -> *const JoinFrame {
        self.frames.get()
    }

    /// Makes `frame` the newest live frame. The caller must call
    /// [`leave_frame`](Self::leave_frame) before `frame` goes out of scope.
    #[inline]
    pub(crate) fn enter_frame(&self, frame: &JoinFrame) {
        self.frames.set(frame);
    }

    /// Removes `frame`, the newest live frame.
    #[inline]
    pub(crate) fn leave_frame(&self, frame: &JoinFrame) {
        debug_assert!(ptr::eq(self.frames.get(), frame));
        self.frames.set(frame.older());
    }

    /// If a sibling asked for work, shares this worker's oldest pending
    /// `join` half: pushes it onto the deque, where the sibling can steal it.
    #[inline]
    pub(crate) fn share_if_asked(&self) {
        // SAFETY: the flag lives in the registry, which `self.registry` (an
        // `Arc`) keeps alive as long as `self`.
        let flag = unsafe { &*self.work_wanted };
        // Relaxed: a hint; the promotion it triggers is a fenced push.
        if flag.load(Relaxed) {
            flag.store(false, Relaxed);
            self.promote_oldest();
        }
    }

    #[cold]
    fn promote_oldest(&self) {
        let mut oldest = None;
        let mut frame = self.frames.get();
        // SAFETY: every frame in the list lives on this thread's stack, in a
        // `join` call that has not returned (each leaves the list before it
        // returns), and only this thread touches the list.
        while let Some(f) = unsafe { frame.as_ref() } {
            if f.is_pending() {
                oldest = Some(f);
            }
            frame = f.older();
        }
        if let Some(job) = oldest.and_then(JoinFrame::take) {
            self.push(Job::Stack(job));
        }
    }

    /// Pops this worker's own deque (its most recent push first).
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<Job> {
        self.deque.pop()
    }

    /// Finds a job: own deque, then the injector (a batch), then siblings.
    pub(crate) fn find_work(&self) -> Option<Job> {
        if let Some(job) = self.deque.pop() {
            return Some(job);
        }
        if let Some(job) = self.registry.steal_injected(&self.deque) {
            return Some(job);
        }
        let start = self.next_random() as usize % self.registry.num_threads();
        let job = self.registry.steal_sibling(self.index, start)?;
        self.registry.stats[self.index].stole();
        Some(job)
    }

    /// xorshift32: cheap, good enough to spread thieves over victims.
    fn next_random(&self) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    /// Runs (or, in `shutdown_now`, abandons) one job.
    pub(crate) fn execute(&self, job: Job) {
        let stats = &self.registry.stats[self.index];
        stats.set_running(true);
        let ran = if self.registry.is_shutting_down_now() {
            job.abandon()
        } else {
            job.run()
        };
        stats.set_running(false);
        stats.job_done();
        self.registry.report(ran);
    }

    /// Runs every job this worker can find until none is left and no outside
    /// submission is in flight: the calling worker's share of a `shutdown`.
    pub(crate) fn drain(&self) {
        loop {
            if let Some(job) = self.find_work() {
                self.execute(job);
            } else if self.registry.may_exit() && !self.registry.has_work() {
                return;
            } else {
                crate::sync::thread::yield_now();
            }
        }
    }

    /// Keeps busy until `latch` is set: runs work the awaited job's `thief`
    /// may depend on first (it steals from the thief's deque: leapfrogging,
    /// as Java's ForkJoinPool does), then whatever work this worker can find
    /// (its own deque, the injector, siblings), and sleeps on the latch only
    /// when there is none. Used by `join` and `scope`, whose latch is set by
    /// whoever runs their last job.
    pub(crate) fn wait_helping(&self, latch: &Latch, thief: Option<usize>) {
        while !latch.probe() {
            let job = thief
                .and_then(|thief| self.registry.steal_from(thief))
                .or_else(|| self.find_work());
            match job {
                Some(job) => self.execute(job),
                None => {
                    // Idle while waiting: ask the siblings (the thief among
                    // them) to share pending work.
                    self.registry.request_work(self.index);
                    // Nothing to help with: spin a little, then sleep on the
                    // latch itself (its setter wakes us).
                    if !spin_until(HELP_SPIN, None, || {
                        latch.probe() || self.registry.has_work()
                    }) {
                        latch.wait();
                    }
                }
            }
        }
    }

    /// Leaves the `alive` count once (a worker blocking in `shutdown`).
    pub(crate) fn leave(&self) {
        if !self.left.replace(true) {
            self.registry.worker_left();
        }
    }

    /// The main loop: runs until the pool shuts down and the queues are
    /// empty.
    pub(crate) fn run(&self) {
        let _context = WorkerGuard::enter(WorkerContext {
            executor: self.registry.id,
            index: self.index,
        });
        CURRENT.with(|current| current.set(self));
        let mut idle = Idle::new();
        let sleep = &self.registry.sleep;
        loop {
            if let Some(job) = self.find_work() {
                sleep.work_found(&mut idle, || self.registry.has_work());
                self.execute(job);
                continue;
            }
            if self.registry.may_exit() {
                if !self.registry.has_work() {
                    break;
                }
                continue;
            }
            if self.registry.is_shut_down() {
                // An outside submission is between its gate check and its
                // push: it lands in a moment; let it run.
                crate::sync::thread::yield_now();
                continue;
            }
            sleep.start_searching(&mut idle);
            // Idle: ask busy siblings to share their pending `join` halves.
            self.registry.request_work(self.index);
            if spin_until(IDLE_SPIN, None, || {
                self.registry.has_work() || self.registry.is_shut_down()
            }) {
                continue;
            }
            // Going to sleep: leave the ask standing, so that a busy sibling's
            // next `join` shares a half (its push wakes us) even if it had
            // already answered our earlier ask.
            self.registry.request_work(self.index);
            sleep.sleep(self.index, &mut idle, || {
                self.registry.has_work() || self.registry.is_shut_down()
            });
        }
        sleep.work_found(&mut idle, || false);
        CURRENT.with(|current| current.set(ptr::null()));
        debug_assert!(executor::current().is_some());
    }

    /// Whether this worker already left the `alive` count.
    pub(crate) fn has_left(&self) -> bool {
        self.left.get()
    }
}

impl fmt::Debug for WorkerThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerThread")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}
