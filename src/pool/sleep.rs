//! How idle workers go to sleep and how new work wakes exactly one of them.
//! The protocol and its proof sketch are in `src/pool/README.md`.

use std::fmt;

use crossbeam_utils::CachePadded;

use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use crate::sync::atomic::{fence, AtomicU32, AtomicU64};
use crate::sync::futex::{self, WaitOutcome};

/// A worker is running or searching.
const AWAKE: u32 = 0;
/// The worker is (about to be) asleep on its futex word.
const SLEEPING: u32 = 1;
/// A waker moved the worker from `SLEEPING` and will (or did) wake its futex.
const NOTIFIED: u32 = 2;

/// One searching worker, in the low half of `counters`.
const SEARCHING_ONE: u64 = 1;
/// One sleeping worker, in the high half of `counters`.
const SLEEPING_ONE: u64 = 1 << 32;

/// The number of searching workers in a `counters` value.
fn searching(counters: u64) -> u64 {
    counters & 0xFFFF_FFFF
}

/// The number of sleeping workers in a `counters` value.
fn sleeping(counters: u64) -> u64 {
    counters >> 32
}

/// The pool's sleep/wake state.
pub(crate) struct Sleep {
    /// Searching workers (low 32 bits) and sleeping workers (high 32 bits).
    /// Padded: every push reads it, every idle transition writes it.
    counters: CachePadded<AtomicU64>,
    /// Each worker's futex word: `AWAKE`, `SLEEPING` or `NOTIFIED`. Written
    /// `SLEEPING` by its worker, moved to `NOTIFIED` by a waker's CAS (or back
    /// to `AWAKE` by the worker's own CAS); padded against false sharing.
    slots: Box<[CachePadded<AtomicU32>]>,
}

/// A worker's view of its own idleness.
#[derive(Debug)]
pub(crate) struct Idle {
    /// This worker is counted in `searching`.
    searching: bool,
}

impl Idle {
    /// A worker that has just started: not searching yet.
    pub(crate) fn new() -> Idle {
        Idle { searching: false }
    }
}

impl Sleep {
    /// State for `workers` workers, all awake and not searching.
    pub(crate) fn new(workers: usize) -> Sleep {
        Sleep {
            counters: CachePadded::new(AtomicU64::new(0)),
            slots: (0..workers)
                .map(|_| CachePadded::new(AtomicU32::new(AWAKE)))
                .collect(),
        }
    }

    /// The number of workers asleep now (a snapshot, for stats).
    pub(crate) fn sleeping(&self) -> usize {
        sleeping(self.counters.load(Relaxed)) as usize
    }

    /// New work was published (pushed to a queue): wake one sleeping worker,
    /// unless a searching worker will find it.
    ///
    /// Must be called after the push.
    #[inline]
    pub(crate) fn new_work(&self) {
        // SeqCst fence: pairs with the fence in `sleep` (step 3 of the
        // protocol in README.md): either this load sees the sleeper, or the
        // sleeper's re-check sees our push.
        fence(SeqCst);
        let counters = self.counters.load(Relaxed);
        if searching(counters) == 0 && sleeping(counters) > 0 {
            self.wake_one();
        }
    }

    /// Wakes one sleeping worker, if there is one; it becomes searching.
    #[cold]
    fn wake_one(&self) -> bool {
        for slot in self.slots.iter() {
            // Acquire/Release: the CAS hands the worker from its sleep to us;
            // nothing else is published through it.
            if slot
                .compare_exchange(SLEEPING, NOTIFIED, AcqRel, Relaxed)
                .is_ok()
            {
                // The woken worker is counted as searching from now, so other
                // producers do not wake a second one for the same work.
                self.counters
                    .fetch_add(SEARCHING_ONE.wrapping_sub(SLEEPING_ONE), AcqRel);
                futex::wake_one(&**slot);
                crate::sync::spin::note_woke_sleeper();
                return true;
            }
        }
        false
    }

    /// Wakes every sleeping worker (shutdown).
    pub(crate) fn wake_all(&self) {
        while self.wake_one() {}
    }

    /// The worker found no work: count it as searching.
    pub(crate) fn start_searching(&self, idle: &mut Idle) {
        if !idle.searching {
            idle.searching = true;
            self.counters.fetch_add(SEARCHING_ONE, AcqRel);
        }
    }

    /// The worker found work. If it was the last searcher and more work is
    /// visible (`more_work`), wake another worker to take it.
    #[inline]
    pub(crate) fn work_found(&self, idle: &mut Idle, more_work: impl FnOnce() -> bool) {
        if idle.searching {
            self.stop_searching(idle, more_work);
        }
    }

    #[cold]
    fn stop_searching(&self, idle: &mut Idle, more_work: impl FnOnce() -> bool) {
        idle.searching = false;
        let prev = self.counters.fetch_sub(SEARCHING_ONE, AcqRel);
        if searching(prev) == 1 {
            // SeqCst fence: a producer that saw us searching skipped its wake;
            // pair with its fence so that we see its push here and wake
            // someone for it (README.md, step 4).
            fence(SeqCst);
            if sleeping(self.counters.load(Relaxed)) > 0 && more_work() {
                self.wake_one();
            }
        }
    }

    /// Puts worker `index` to sleep until new work or shutdown wakes it,
    /// unless `has_work` (re-checked after announcing the sleep) says there
    /// is something to do. The worker must be searching; it is searching
    /// again when this returns.
    pub(crate) fn sleep(&self, index: usize, idle: &mut Idle, has_work: impl Fn() -> bool) {
        debug_assert!(idle.searching);
        let slot = &*self.slots[index];
        // Relaxed: only this worker writes SLEEPING; the counters RMW and the
        // fence below order it for wakers.
        slot.store(SLEEPING, Relaxed);
        // From searching to sleeping in one RMW.
        self.counters
            .fetch_add(SLEEPING_ONE.wrapping_sub(SEARCHING_ONE), AcqRel);
        // SeqCst fence: pairs with the fence in `new_work` (README.md, step 3).
        fence(SeqCst);
        if has_work() {
            // Take the sleep back, unless a waker got here first.
            if slot
                .compare_exchange(SLEEPING, AWAKE, Relaxed, Relaxed)
                .is_ok()
            {
                self.counters
                    .fetch_add(SEARCHING_ONE.wrapping_sub(SLEEPING_ONE), AcqRel);
            } else {
                // NOTIFIED: the waker already counted us as searching.
                slot.store(AWAKE, Relaxed);
            }
            return;
        }
        // Acquire: pairs with the waker's CAS to NOTIFIED.
        while slot.load(Acquire) == SLEEPING {
            let _: WaitOutcome = futex::wait(slot, SLEEPING, None);
        }
        // Relaxed: the waker is done with the slot; nothing is published.
        slot.store(AWAKE, Relaxed);
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters = self.counters.load(Relaxed);
        f.debug_struct("Sleep")
            .field("searching", &searching(counters))
            .field("sleeping", &sleeping(counters))
            .finish()
    }
}
