//! A pool's [`Roster`]: one seat per worker, recording the jobs running on
//! its stack and whether it is busy, blocked on jobs, inside `shutdown`, or
//! exited; `shutdown` reads it to know whom to wait for
//! ([`Roster::quiescent`]; `src/pool/README.md`, "Who waits for whom").

use std::fmt;
use std::ptr;

use super::current::{current_running_keys, current_seat};
use super::ExecutorId;
use crate::latch::SetLatch;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::atomic::{AtomicBool, AtomicPtr};
use crate::sync::{Mutex, MutexGuard};

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
    pub(super) executor: ExecutorId,
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
    // The process pool's: the thread pool finds its worker through `WorkerThread`.
    #[cfg(feature = "process")]
    pub(crate) fn is_current(&self) -> bool {
        current_seat().is_some_and(|(roster, _)| ptr::eq(roster, self))
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
    pub(super) unsafe fn collect_running(&self, index: usize, keys: &mut Vec<usize>) {
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::current::running;
    use super::*;

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
}
