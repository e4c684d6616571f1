//! Who is running this thread, and what it is doing: the seam the task slot
//! and the pools share, without either knowing the other.
//!
//! - Every pool has an [`ExecutorId`]. A task records the id of the pool that
//!   runs it (its *home*); a waiter on a worker of that same pool may claim a
//!   pending task and run it inline (see `task`).
//! - Every pool has a [`Roster`]: one [`Seat`] per worker thread. A seat
//!   records the *keys* of the jobs running on its thread's stack (a task's
//!   address, a stack job's, a scope's), and whether the thread is busy,
//!   *blocked* waiting for jobs with given keys, blocked inside `shutdown`, or
//!   exited. `shutdown` reads the roster to tell which workers it may wait for
//!   and which wait, directly or through a chain, on work held by the
//!   callers of `shutdown` themselves (see [`Roster::quiescent`]).
//! - The crate's **one thread-local**, [`CURRENT`]: the calling thread's seat
//!   (if it is a pool's worker), the pool's own worker record behind it
//!   (opaque here; the thread pool keeps its deque there), and a note that
//!   this thread just woke a sleeping worker.
//! - A pool registers its panic handler here under its id, so that a
//!   panicking `on_done` callback can be reported to its task's pool from
//!   whichever thread runs the callback.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroUsize;
use std::ptr;

use crate::latch::SetLatch;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};
use crate::sync::{Mutex, MutexGuard, StdArc};
pub(crate) use crate::unwind::Payload;

/// A pool's panic handler. (A plain `std` `Arc`: configuration, not part of
/// any protocol the loom models explore; loom's `Arc` cannot hold a `dyn`.)
pub(crate) type PanicHandler = StdArc<dyn Fn(Payload) + Send + Sync + 'static>;

/// Identifies one executor (pool) for the life of the process; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ExecutorId(NonZeroUsize);

impl ExecutorId {
    /// A fresh id.
    pub(crate) fn next() -> ExecutorId {
        #[cfg(not(loom))]
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        #[cfg(loom)]
        loom::lazy_static! {
            static ref NEXT: AtomicUsize = AtomicUsize::new(1);
        }
        // Relaxed: only uniqueness matters, which the RMW gives.
        let id = NEXT.fetch_add(1, Relaxed);
        ExecutorId(NonZeroUsize::new(id).expect("executor ids exhausted"))
    }
}

/// What this thread is, if it is a pool worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WorkerContext {
    /// The worker's pool.
    pub(crate) executor: ExecutorId,
    /// The worker's index in its pool.
    pub(crate) index: usize,
}

/// The calling thread's place in the crate: the crate's only thread-local.
pub(crate) struct ThreadState {
    /// The roster holding this thread's seat, or null off every pool.
    roster: Cell<*const Roster>,
    /// This thread's seat index in `roster`.
    index: Cell<usize>,
    /// The pool's own record of this worker (the thread pool's
    /// `WorkerThread`), opaque here; null on seats that have none.
    worker: Cell<*const ()>,
    /// This thread just woke a sleeping worker to take work it handed over.
    woke_sleeper: Cell<bool>,
}

impl ThreadState {
    #[cfg(not(loom))]
    const fn new() -> ThreadState {
        ThreadState {
            roster: Cell::new(ptr::null()),
            index: Cell::new(0),
            worker: Cell::new(ptr::null()),
            woke_sleeper: Cell::new(false),
        }
    }

    #[cfg(loom)]
    fn new() -> ThreadState {
        ThreadState {
            roster: Cell::new(ptr::null()),
            index: Cell::new(0),
            worker: Cell::new(ptr::null()),
            woke_sleeper: Cell::new(false),
        }
    }
}

#[cfg(not(loom))]
crate::sync::thread_local! {
    /// The calling thread's state. (A `const` initialiser: read on every
    /// `join`, it must not check for lazy initialisation.)
    static CURRENT: ThreadState = const { ThreadState::new() };
}

#[cfg(loom)]
crate::sync::thread_local! {
    /// The calling loom thread's state (loom's `thread_local!` has no
    /// `const` form).
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: ThreadState = ThreadState::new();
}

/// The pool's worker record of the calling thread (null if none).
#[inline]
pub(crate) fn current_worker() -> *const () {
    CURRENT.with(|state| state.worker.get())
}

/// The calling thread's seat, if it is a worker.
#[inline]
fn current_seat() -> Option<(&'static Roster, usize)> {
    CURRENT.with(|state| {
        let roster = state.roster.get();
        // SAFETY: `roster` is non-null only between `SeatGuard::enter` and the
        // guard's drop on this thread, and the guard's creator keeps the roster
        // alive for that whole time. The `'static` never leaves this module's
        // callers' stack frames, which end before the guard does.
        unsafe { roster.as_ref() }.map(|roster| (roster, state.index.get()))
    })
}

/// The calling thread's worker context, or `None` off any pool.
#[inline]
pub(crate) fn current() -> Option<WorkerContext> {
    current_seat().map(|(roster, index)| WorkerContext {
        executor: roster.executor,
        index,
    })
}

/// Whether the calling thread is a worker of `executor`.
#[inline]
pub(crate) fn is_worker_of(executor: ExecutorId) -> bool {
    current().is_some_and(|ctx| ctx.executor == executor)
}

/// Records that this thread just woke a sleeping worker to take work it
/// handed over. A thread that then waits for that work should sleep at once
/// rather than spin: the OS tends to place the wakee on the waker's CPU, and a
/// spinning waker would stand in its way (on the VMs measured here, that
/// turns a 10 µs wake-up into 30 µs).
#[inline]
pub(crate) fn note_woke_sleeper() {
    CURRENT.with(|state| state.woke_sleeper.set(true));
}

/// Takes (and clears) this thread's "just woke a sleeper" note.
#[inline]
pub(crate) fn take_woke_sleeper() -> bool {
    CURRENT.with(|state| state.woke_sleeper.replace(false))
}

/// Runs `f` with `key` recorded as a job running on the calling thread's
/// stack (if it has a seat), so that `shutdown` can tell who waits on it.
#[inline]
pub(crate) fn running<R>(key: usize, f: impl FnOnce() -> R) -> R {
    match current_seat() {
        Some((roster, index)) => roster.running(index, key, f),
        None => f(),
    }
}

/// Runs `wait` (which blocks) with the calling thread's seat (if it has
/// one) marked blocked on the jobs `keys`. `keys` must be what the wait waits
/// for: it ends only once each of them (for a wait on several, one of them)
/// has finished, or, if `timed`, at its deadline. An empty `keys` marks
/// nothing.
///
/// # Panics
///
/// If the wait is not `timed` and every key is a job running lower on the
/// calling thread's own stack: it could never end (a worker that helped
/// while waiting, say in `shutdown` or `join`, picked up a job that now
/// waits for the very task it runs inside). A panic with this message
/// replaces a certain deadlock.
#[inline]
pub(crate) fn blocked_on<R>(keys: &[usize], timed: bool, wait: impl FnOnce() -> R) -> R {
    match current_seat() {
        Some((roster, index)) if !keys.is_empty() => {
            if !timed {
                let own = current_running_keys();
                if keys.iter().all(|key| own.contains(key)) {
                    panic!(
                        "stealpool: deadlock: this thread waits for a task that runs further \
                         down its own stack (a worker that helped run queued work while it \
                         waited picked up a job that waits for the job it was inside); the \
                         task can never finish"
                    );
                }
            }
            let _blocked = roster.block(index, keys);
            wait()
        }
        _ => wait(),
    }
}

/// The keys of the jobs running on the calling thread's stack (none off the
/// pools).
fn current_running_keys() -> Vec<usize> {
    let mut keys = Vec::new();
    if let Some((roster, index)) = current_seat() {
        // SAFETY: our own list, read on our own thread.
        unsafe { roster.collect_running(index, &mut keys) };
    }
    keys
}

/// One job running on a seat's thread: a node of the list through the frames
/// of the running jobs, innermost first.
struct Running {
    /// The job's key.
    key: usize,
    /// The node of the job this one runs inside, or null.
    outer: *mut Running,
}

/// Restores a seat's list of running jobs when the inner job ends (however).
struct PopRunning<'a> {
    seat: &'a Seat,
    outer: *mut Running,
}

impl Drop for PopRunning<'_> {
    fn drop(&mut self) {
        // Relaxed: as in `running`.
        self.seat.running.store(self.outer, Relaxed);
    }
}

/// A seat's status, as `shutdown` reads it.
#[derive(Clone, Copy, Debug)]
enum Status {
    /// Running, searching, or blocked on something outside its pool.
    Busy,
    /// Blocked until the jobs `keys` finish (a slice on the thread's stack,
    /// live while the status holds).
    BlockedOnKeys(*const [usize]),
    /// Inside `shutdown` of its own pool, from entry to return (draining or
    /// asleep); `held` are the keys of the jobs that were running on its
    /// stack when it entered (a slice owned by its `InShutdown` guard).
    InShutdown { held: *const [usize] },
    /// Its thread left the pool for good (after its stop hook).
    Exited,
}

/// A `Status` behind the seat's mutex.
struct StatusCell(Status);

// SAFETY: the only pointer, `BlockedOnKeys`, is read only by threads holding
// the seat's mutex while the status holds, and its owner keeps the slice alive
// until it has taken the mutex to change the status (see `Roster::block`).
unsafe impl Send for StatusCell {}

/// One worker's entry in its pool's roster.
struct Seat {
    /// The newest of the jobs running on this seat's thread, or null (a list
    /// through their frames). Written only by the seat's thread; read by
    /// others only while the seat is blocked, under `status`.
    running: AtomicPtr<Running>,
    /// Busy, blocked, or exited. Written by the seat's thread; read by
    /// `shutdown` (which locks every seat at once, in index order).
    status: Mutex<StatusCell>,
}

/// A pool's workers as `shutdown` sees them: what each runs and waits for.
pub(crate) struct Roster {
    /// The pool.
    executor: ExecutorId,
    /// One per worker, by index.
    seats: Box<[Seat]>,
    /// Set by the first `shutdown`: from then on, a seat that blocks or
    /// exits notifies the watchers.
    closing: AtomicBool,
    /// Latches of `shutdown` callers waiting for the roster to change; taken
    /// and set, all at once, by `notify`.
    watchers: Mutex<Vec<Watcher>>,
}

/// A watcher's latch (on its owner's stack until set or unwatched), type
/// erased: its address and how to set a latch of its type.
#[derive(Clone, Copy)]
struct Watcher {
    latch: *const (),
    set: unsafe fn(*const ()),
}

/// `L::set` on an erased pointer.
///
/// # Safety
///
/// As `SetLatch::set`, with `latch` pointing to an `L`.
unsafe fn set_erased<L: SetLatch>(latch: *const ()) {
    // SAFETY: forwarded: `latch` points to a live `L`.
    unsafe { L::set(latch.cast::<L>()) }
}

// SAFETY: a watcher latch is set from whichever thread notifies; `SetLatch`
// implementations are built for exactly that (they touch the latch only
// through the atomic that publishes the set), and the owner keeps the latch
// alive until it is set or removed from the list (see `Roster::unwatch`).
unsafe impl Send for Watcher {}

impl Roster {
    /// A roster for `workers` seats of `executor`, all busy.
    pub(crate) fn new(executor: ExecutorId, workers: usize) -> Roster {
        Roster {
            executor,
            seats: (0..workers)
                .map(|_| Seat {
                    running: AtomicPtr::new(ptr::null_mut()),
                    status: Mutex::new(StatusCell(Status::Busy)),
                })
                .collect(),
            closing: AtomicBool::new(false),
            watchers: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with `key` recorded as a job running on seat `index` (the
    /// calling thread's own): a node on this frame, linked as the newest of
    /// the seat's running jobs until `f` returns or unwinds.
    #[inline]
    pub(crate) fn running<R>(&self, index: usize, key: usize, f: impl FnOnce() -> R) -> R {
        let seat = &self.seats[index];
        let node = Running {
            key,
            // Relaxed: only this thread writes the list head.
            outer: seat.running.load(Relaxed),
        };
        // Relaxed: read by other threads only under `status` while this seat
        // is blocked, which the mutex orders after this store.
        seat.running.store(ptr::addr_of!(node).cast_mut(), Relaxed);
        let _pop = PopRunning {
            seat,
            outer: node.outer,
        };
        f()
    }

    /// Whether the calling thread holds a seat of this roster.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn is_current(&self) -> bool {
        current_seat().is_some_and(|(roster, _)| ptr::eq(roster, self))
    }

    /// Makes the calling thread seat `index` of this roster until the guard
    /// drops; `worker` is the pool's own record of it (or null).
    ///
    /// # Safety
    ///
    /// The roster and `worker` must outlive the guard, which must be dropped
    /// on this thread before the thread's stack frame holding it ends.
    pub(crate) unsafe fn enter(&self, index: usize, worker: *const ()) -> SeatGuard {
        CURRENT.with(|state| {
            debug_assert!(state.roster.get().is_null(), "a thread takes one seat");
            state.roster.set(self);
            state.index.set(index);
            state.worker.set(worker);
        });
        SeatGuard(())
    }

    /// Marks seat `index` (the calling thread's) blocked until one (or each,
    /// for a wait on all) of the jobs `keys` has finished, until the guard
    /// drops. `keys` must not be empty, and must live as long as the guard.
    pub(crate) fn block<'a>(&'a self, index: usize, keys: &'a [usize]) -> Blocked<'a> {
        debug_assert!(!keys.is_empty());
        let status = Status::BlockedOnKeys(keys);
        let before = std::mem::replace(&mut self.seats[index].status.lock().0, status);
        self.notify_if_closing();
        Blocked {
            roster: self,
            index,
            before,
        }
    }

    /// Marks seat `index` (the calling thread's) as inside its own pool's
    /// `shutdown` until the guard drops: the other callers need not wait for
    /// it, nor for workers that wait on the jobs running on its stack now.
    /// The status holds for the whole call, draining included, so callers
    /// never wake each other back and forth.
    pub(crate) fn enter_shutdown(&self, index: usize) -> InShutdown<'_> {
        let held = current_running_keys().into_boxed_slice();
        let status = Status::InShutdown {
            held: ptr::addr_of!(*held),
        };
        let before = std::mem::replace(&mut self.seats[index].status.lock().0, status);
        self.notify_if_closing();
        InShutdown {
            roster: self,
            index,
            before,
            _held: held,
        }
    }

    /// Seat `index`'s thread has left the pool for good.
    pub(crate) fn exit(&self, index: usize) {
        self.seats[index].status.lock().0 = Status::Exited;
        self.notify();
    }

    /// Whether seat `index` has exited.
    pub(crate) fn has_exited(&self, index: usize) -> bool {
        matches!(self.seats[index].status.lock().0, Status::Exited)
    }

    /// From now on, seats that block or exit notify the watchers (the first
    /// `shutdown`).
    pub(crate) fn close(&self) {
        // Relaxed: read after the seats' status changes, which the seat
        // mutexes order against `quiescent` (see `notify_if_closing`).
        self.closing.store(true, Relaxed);
    }

    /// Notifies the watchers if the pool is closing.
    pub(crate) fn notify_if_closing(&self) {
        // Relaxed: a `shutdown` that read this seat's status before it changed
        // released the seat's mutex after storing `closing` (it closes before
        // it reads any seat), and the status change took that mutex after:
        // so this load sees `true`, and that watcher, registered before its
        // read, is notified. A `shutdown` that reads the seat later sees the
        // change itself.
        if self.closing.load(Relaxed) {
            self.notify();
        }
    }

    /// Sets (and removes) every watcher's latch.
    pub(crate) fn notify(&self) {
        let watchers = std::mem::take(&mut *self.watchers.lock());
        for watcher in watchers {
            // SAFETY: a watcher's owner keeps its latch alive until it is set
            // or it removed it from the list (`unwatch`); we took it out of the
            // list, so the owner waits for this set.
            unsafe { (watcher.set)(watcher.latch) };
        }
    }

    /// Registers `latch` to be set at the next `notify`.
    ///
    /// # Safety
    ///
    /// `latch` must stay alive until it is set, or until `unwatch` removed it
    /// (returned `true`).
    pub(crate) unsafe fn watch<L: SetLatch>(&self, latch: &L) {
        self.watchers.lock().push(Watcher {
            latch: (latch as *const L).cast(),
            set: set_erased::<L>,
        });
    }

    /// Removes `latch` if it is still registered; `false` means a `notify`
    /// took it and will set it (the caller must then wait for the set before
    /// freeing it).
    pub(crate) fn unwatch<L: SetLatch>(&self, latch: &L) -> bool {
        let target: *const () = (latch as *const L).cast();
        let mut watchers = self.watchers.lock();
        let before = watchers.len();
        watchers.retain(|w| !ptr::eq(w.latch, target));
        watchers.len() != before
    }

    /// Whether a `shutdown` called on this thread may stop waiting: every
    /// other seat has exited, or is blocked in `shutdown` itself, or is
    /// blocked on jobs that only the callers of `shutdown` can finish — jobs
    /// running on the stack of the calling thread (whatever pool it works
    /// for), of a seat blocked in `shutdown`, or (transitively) of a seat
    /// excluded by this rule. A seat blocked on anything else, or busy, is
    /// waited for.
    ///
    /// Exact, not a heuristic: the excluded seats cannot move until a caller
    /// returns (their keys are frozen on stacks that wait in `shutdown`), so
    /// waiting for them could only deadlock; every other seat can still
    /// finish without the callers.
    pub(crate) fn quiescent(&self) -> bool {
        let me = current_seat()
            .filter(|(roster, _)| std::ptr::eq(*roster, self))
            .map(|(_, index)| index);
        let mut held = current_running_keys();
        // Lock every seat, in index order (the only place that holds more than
        // one seat lock): no seat can change status while we look, so the
        // running lists of blocked seats are frozen.
        let seats: Vec<MutexGuard<'_, StatusCell>> =
            self.seats.iter().map(|seat| seat.status.lock()).collect();
        let mut settled: Vec<bool> = seats
            .iter()
            .map(|status| matches!(status.0, Status::Exited))
            .collect();
        if let Some(me) = me {
            settled[me] = true;
        }
        loop {
            let mut changed = false;
            for (index, status) in seats.iter().enumerate() {
                if settled[index] {
                    continue;
                }
                let excluded = match status.0 {
                    Status::Busy | Status::Exited => false,
                    // mutant: shutdown-waits-for-callers s/=> true,/=> false,/
                    Status::InShutdown { .. } => true,
                    Status::BlockedOnKeys(keys) => {
                        // SAFETY: the slice lives on the blocked thread's
                        // stack while the status holds, and we hold its lock.
                        let keys = unsafe { &*keys };
                        // mutant: shutdown-ignores-chains s/keys.iter().all(|key| held.contains(key))/false/
                        keys.iter().all(|key| held.contains(key))
                    }
                };
                if excluded {
                    settled[index] = true;
                    changed = true;
                    match status.0 {
                        Status::InShutdown { held: keys } => {
                            // SAFETY: the slice is owned by the seat's
                            // `InShutdown` guard, which restores the status
                            // (under this lock) before it frees it.
                            held.extend_from_slice(unsafe { &*keys });
                        }
                        // SAFETY: the seat is blocked and we hold its lock: its
                        // thread runs nothing until it takes that lock, so its
                        // list and the frames holding it are frozen.
                        _ => unsafe { self.collect_running(index, &mut held) },
                    }
                }
            }
            if !changed {
                break;
            }
        }
        settled.iter().all(|&settled| settled)
    }

    /// Appends the keys of the jobs running on seat `index` to `keys`.
    ///
    /// # Safety
    ///
    /// The seat's list must be frozen: read by its own thread, or under its
    /// status lock while it is blocked.
    unsafe fn collect_running(&self, index: usize, keys: &mut Vec<usize>) {
        // Relaxed: ordered by the seat mutex (or program order) as above.
        let mut node = self.seats[index].running.load(Relaxed);
        // SAFETY: the caller guarantees the list is frozen: each node lives in
        // the frame of a job that has not returned.
        while let Some(running) = unsafe { node.as_ref() } {
            keys.push(running.key);
            node = running.outer;
        }
    }
}

impl fmt::Debug for Roster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Roster")
            .field("executor", &self.executor)
            .field("seats", &self.seats.len())
            .finish_non_exhaustive()
    }
}

/// Keeps the calling thread on its seat; leaving clears the thread-local.
#[must_use = "the thread holds its seat only while the guard lives"]
pub(crate) struct SeatGuard(());

impl SeatGuard {
    /// Keeps the seat but drops the pool's worker record from the
    /// thread-local: the thread no longer takes pool work (a worker running
    /// its stop hook), yet `shutdown` still knows it by its seat.
    pub(crate) fn retire_worker(&self) {
        CURRENT.with(|state| state.worker.set(ptr::null()));
    }
}

impl Drop for SeatGuard {
    fn drop(&mut self) {
        CURRENT.with(|state| {
            state.roster.set(ptr::null());
            state.worker.set(ptr::null());
        });
    }
}

impl fmt::Debug for SeatGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeatGuard")
    }
}

/// A seat marked blocked; dropping it restores the status it had (busy, or
/// inside `shutdown`).
#[must_use = "the seat is blocked only while the guard lives"]
pub(crate) struct Blocked<'a> {
    roster: &'a Roster,
    index: usize,
    before: Status,
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        // Restored before the thread runs anything: `shutdown` never sees a
        // seat blocked on keys while its running list moves.
        self.roster.seats[self.index].status.lock().0 = self.before;
    }
}

/// A seat inside its own pool's `shutdown`; dropping it restores the status
/// it had (busy, or an enclosing `shutdown`'s).
#[must_use = "the seat is inside shutdown only while the guard lives"]
pub(crate) struct InShutdown<'a> {
    roster: &'a Roster,
    index: usize,
    before: Status,
    /// The keys the status points to; freed after the status is restored.
    _held: Box<[usize]>,
}

impl Drop for InShutdown<'_> {
    fn drop(&mut self) {
        self.roster.seats[self.index].status.lock().0 = self.before;
    }
}

impl fmt::Debug for InShutdown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InShutdown")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Blocked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocked")
            .field("index", &self.index)
            .finish()
    }
}

/// Registered panic handlers, by executor. Small: one entry per live pool.
fn handlers() -> &'static Mutex<Vec<(ExecutorId, PanicHandler)>> {
    #[cfg(not(loom))]
    static HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    #[cfg(loom)]
    loom::lazy_static! {
        static ref HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    }
    &HANDLERS
}

/// Registers `handler` for `executor` (replacing any earlier one).
pub(crate) fn register_panic_handler(executor: ExecutorId, handler: PanicHandler) {
    let mut handlers = handlers().lock();
    handlers.retain(|(id, _)| *id != executor);
    handlers.push((executor, handler));
}

/// Forgets `executor`'s handler.
pub(crate) fn unregister_panic_handler(executor: ExecutorId) {
    let removed: Vec<_> = {
        let mut handlers = handlers().lock();
        let (gone, kept) = std::mem::take(&mut *handlers)
            .into_iter()
            .partition(|(id, _)| *id == executor);
        *handlers = kept;
        gone
    };
    // The handler's captures are user values: drop them outside the lock,
    // catching a panic.
    for (_, handler) in removed {
        if let Err(payload) = crate::unwind::drop_caught(handler) {
            crate::unwind::drop_payload(payload);
        }
    }
}

/// Hands `payload` to the panic handler of `executor`, if it has one; else
/// drops it (the standard panic hook has already printed the message).
///
/// Never unwinds: a handler that panics, and a payload whose `Drop` panics,
/// are caught (see `unwind::drop_payload`).
pub(crate) fn report_panic(executor: Option<ExecutorId>, payload: Payload) {
    let handler = executor.and_then(|executor| {
        handlers()
            .lock()
            .iter()
            .find(|(id, _)| *id == executor)
            .map(|(_, handler)| StdArc::clone(handler))
    });
    match handler {
        Some(handler) => {
            if let Err(nested) = crate::unwind::catch(move || handler(payload)) {
                crate::unwind::drop_payload(nested);
            }
        }
        None => crate::unwind::drop_payload(payload),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    #[test]
    fn ids_are_unique() {
        let a = ExecutorId::next();
        let b = ExecutorId::next();
        assert_ne!(a, b);
    }

    #[test]
    fn a_seat_sets_and_clears_the_context() {
        let roster = Roster::new(ExecutorId::next(), 4);
        assert_eq!(current(), None);
        {
            // SAFETY: the roster outlives the guard, dropped in this frame.
            let _seat = unsafe { roster.enter(3, ptr::null()) };
            assert_eq!(
                current(),
                Some(WorkerContext {
                    executor: roster.executor,
                    index: 3
                })
            );
            assert!(is_worker_of(roster.executor));
            assert!(!is_worker_of(ExecutorId::next()));
        }
        assert_eq!(current(), None);
    }

    #[test]
    fn running_keys_nest_and_unwind() {
        let roster = Roster::new(ExecutorId::next(), 1);
        // SAFETY: as above.
        let _seat = unsafe { roster.enter(0, ptr::null()) };
        let mut keys = Vec::new();
        running(1, || {
            running(2, || {
                // SAFETY: our own list, read on our own thread.
                unsafe { roster.collect_running(0, &mut keys) };
            });
            let _ = crate::unwind::catch(|| running(3, || panic!("inner")));
        });
        assert_eq!(keys, [2, 1]);
        let mut after = Vec::new();
        // SAFETY: as above.
        unsafe { roster.collect_running(0, &mut after) };
        assert!(after.is_empty(), "every node is popped, a panic included");
    }

    #[test]
    fn quiescence_excludes_seats_blocked_on_the_callers() {
        let roster = Roster::new(ExecutorId::next(), 3);
        // Seat 0 calls shutdown while running job 7; seat 1 waits for job 7;
        // seat 2 is busy.
        // SAFETY: as above.
        let seat = unsafe { roster.enter(0, ptr::null()) };
        running(7, || {
            let keys = [7];
            roster.seats[1].status.lock().0 = Status::BlockedOnKeys(&keys[..]);
            assert!(!roster.quiescent(), "seat 2 is busy");
            roster.exit(2);
            assert!(roster.quiescent(), "seat 1 waits on seat 0");
            roster.seats[1].status.lock().0 = Status::Busy;
        });
        drop(seat);
        assert!(
            !roster.quiescent(),
            "an outsider holds nothing: seat 0 is busy, seat 1 must finish"
        );
    }

    #[test]
    fn quiescence_follows_chains_of_waits() {
        let roster = Roster::new(ExecutorId::next(), 3);
        // Seat 0 is blocked in shutdown while running job 1; seat 1 runs job 2
        // and waits for job 1; seat 2 waits for job 2.
        let (one, two) = ([1_usize], [2_usize]);
        let node0 = Running {
            key: 1,
            outer: ptr::null_mut(),
        };
        let node1 = Running {
            key: 2,
            outer: ptr::null_mut(),
        };
        roster.seats[0]
            .running
            .store(ptr::addr_of!(node0).cast_mut(), Relaxed);
        roster.seats[1]
            .running
            .store(ptr::addr_of!(node1).cast_mut(), Relaxed);
        let held: &[usize] = &[1];
        roster.seats[0].status.lock().0 = Status::InShutdown { held };
        roster.seats[1].status.lock().0 = Status::BlockedOnKeys(&one[..]);
        roster.seats[2].status.lock().0 = Status::BlockedOnKeys(&two[..]);
        assert!(roster.quiescent());
        roster.seats[2].status.lock().0 = Status::BlockedOnKeys(&[3][..]);
        assert!(!roster.quiescent(), "job 3 is held by nobody waiting");
        for seat in roster.seats.iter() {
            seat.running.store(ptr::null_mut(), Relaxed);
            seat.status.lock().0 = Status::Busy;
        }
    }

    #[test]
    fn panics_reach_the_registered_handler_only() {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let id = ExecutorId::next();
        register_panic_handler(
            id,
            StdArc::new(|payload: Payload| {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
                SEEN.fetch_add(1, SeqCst);
            }),
        );
        report_panic(Some(id), Box::new("boom"));
        report_panic(Some(ExecutorId::next()), Box::new("elsewhere"));
        report_panic(None, Box::new("nowhere"));
        assert_eq!(SEEN.load(SeqCst), 1);
        unregister_panic_handler(id);
        report_panic(Some(id), Box::new("boom"));
        assert_eq!(SEEN.load(SeqCst), 1);
    }

    #[test]
    fn a_panicking_handler_is_contained() {
        let id = ExecutorId::next();
        register_panic_handler(id, StdArc::new(|_| panic!("handler panicked")));
        report_panic(Some(id), Box::new(1));
        unregister_panic_handler(id);
    }
}
