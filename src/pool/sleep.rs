//! How idle workers go to sleep and how new work (or a latch they wait on)
//! wakes them. The protocol and its proof sketch are in `src/pool/README.md`.
//!
//! Every idle worker sleeps here: one in the main loop waiting for work, and
//! one waiting inside `join`, `scope`, `install` on another pool or
//! `shutdown` for a latch (rayon's "sleep until latch or work"), so a push
//! wakes either kind.

use std::fmt;

use crossbeam_utils::CachePadded;

use crate::latch::CoreLatch;
use crate::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{fence, AtomicU32, AtomicU64};
use crate::sync::futex::{self, WaitOutcome};

/// The worker is running or searching.
const AWAKE: u32 = 0;
/// The worker is (about to be) asleep on its futex word. Set only by the
/// worker itself.
const SLEEPING: u32 = 1;
/// A waker claimed the sleeper (CAS from `SLEEPING`) and is moving its count
/// from sleeping to searching; the sleeper keeps waiting until `NOTIFIED`.
const WAKING: u32 = 2;
/// The waker moved the count and will (or did) wake the futex: the worker may
/// go on, counted as searching. Set only by a waker, from `WAKING`.
const NOTIFIED: u32 = 3;

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
    /// Each worker's futex word: `AWAKE`, `SLEEPING`, `WAKING` or `NOTIFIED`.
    /// Written `SLEEPING` and `AWAKE` by its worker, moved `SLEEPING →
    /// WAKING → NOTIFIED` by one waker; padded against false sharing.
    words: Box<[CachePadded<AtomicU32>]>,
}

/// A worker's view of its own idleness.
#[derive(Debug)]
pub(crate) struct Idle {
    /// This worker is counted in `searching`.
    searching: bool,
}

impl Idle {
    /// A worker that is not counted as searching.
    pub(crate) fn new() -> Idle {
        Idle { searching: false }
    }
}

impl Sleep {
    /// State for `workers` workers, all awake and not searching.
    pub(crate) fn new(workers: usize) -> Sleep {
        Sleep {
            counters: CachePadded::new(AtomicU64::new(0)),
            words: (0..workers)
                .map(|_| CachePadded::new(AtomicU32::new(AWAKE)))
                .collect(),
        }
    }

    /// The number of workers asleep now (a snapshot, for stats).
    pub(crate) fn sleeping(&self) -> usize {
        sleeping(self.counters.load(Relaxed)) as usize
    }

    /// Moves the counters by `delta` (wrapping arithmetic on the two halves),
    /// checking in debug builds (and so in every loom model) that neither
    /// half wraps.
    #[inline]
    fn shift(&self, delta: u64, from_searching: bool) -> u64 {
        // AcqRel: the counters order nothing else (the fences and the word
        // CASes do); an RMW that reads the latest value is all that matters.
        let prev = self.counters.fetch_add(delta, AcqRel);
        debug_assert!(
            if from_searching {
                searching(prev) > 0
            } else {
                sleeping(prev) > 0
            },
            "sleep counters wrapped: {prev:#x} moved by {delta:#x}"
        );
        prev
    }

    /// New work was published (pushed to a queue): wake one sleeping worker,
    /// unless a searching worker will find it.
    ///
    /// Must be called after the push.
    #[inline]
    pub(crate) fn new_work(&self) {
        // F1, SeqCst fence: pairs with F2 in `sleep` (README.md, "Why no
        // wake-up is lost"): either this load sees the sleeper, or the
        // sleeper's re-check sees our push.
        // mutant: drop-f1 del
        fence(SeqCst);
        let counters = self.counters.load(Relaxed);
        if searching(counters) == 0 && sleeping(counters) > 0 {
            self.wake_any();
        }
    }

    /// Wakes one sleeping worker, if there is one; it becomes searching.
    #[cold]
    fn wake_any(&self) -> bool {
        (0..self.words.len()).any(|index| self.wake_specific(index))
    }

    /// Wakes worker `index` if it sleeps (it becomes searching); `false` if it
    /// did not sleep or another waker got it first.
    pub(crate) fn wake_specific(&self, index: usize) -> bool {
        let word = &*self.words[index];
        // Acquire: pairs with the worker's Release store of SLEEPING: its move
        // to the sleeping count happens-before ours back, so the count never
        // wraps. The CAS hands the worker to us.
        if word
            .compare_exchange(SLEEPING, WAKING, Acquire, Relaxed)
            .is_err()
        {
            return false;
        }
        // Count the worker as searching *before* it may run: other producers
        // then see a searcher and do not wake a second one for the same work,
        // and the worker's own later `stop_searching` finds its count there.
        // Then NOTIFIED, Release: publishes the count move to the worker's
        // Acquire load in `wait_notified`.
        // mutant: notified-first swap
        self.shift(SEARCHING_ONE.wrapping_sub(SLEEPING_ONE), false);
        word.store(NOTIFIED, Release);
        futex::wake_one(word);
        crate::executor::note_woke_sleeper();
        true
    }

    /// Wakes every sleeping worker once (shutdown).
    pub(crate) fn wake_all(&self) {
        for index in 0..self.words.len() {
            self.wake_specific(index);
        }
    }

    /// The worker found no work: count it as searching.
    pub(crate) fn start_searching(&self, idle: &mut Idle) {
        if !idle.searching {
            idle.searching = true;
            // AcqRel: see `shift` (a plain increment cannot wrap).
            self.counters.fetch_add(SEARCHING_ONE, AcqRel);
        }
    }

    /// The worker found work (or what it waited for). If it was the last
    /// searcher and more work is visible (`more_work`), wake another worker to
    /// take it.
    #[inline]
    pub(crate) fn work_found(&self, idle: &mut Idle, more_work: impl FnOnce() -> bool) {
        if idle.searching {
            self.stop_searching(idle, more_work);
        }
    }

    #[cold]
    fn stop_searching(&self, idle: &mut Idle, more_work: impl FnOnce() -> bool) {
        idle.searching = false;
        let prev = self.shift(0_u64.wrapping_sub(SEARCHING_ONE), true);
        if searching(prev) == 1 {
            // F3, SeqCst fence: a producer that saw us searching skipped its
            // wake; pair with its F1 so that we see its push here and wake
            // someone for it (README.md, "the last searcher").
            // mutant: drop-f3 del
            fence(SeqCst);
            if sleeping(self.counters.load(Relaxed)) > 0 && more_work() {
                self.wake_any();
            }
        }
    }

    /// Puts worker `index` to sleep until new work (or shutdown, or `latch`)
    /// wakes it, unless `has_work` (re-checked after announcing the sleep)
    /// says there is something to do, or `latch` is set. The worker must be
    /// searching; it is searching again when this returns.
    ///
    /// With a `latch`, the worker sleeps as that latch's owner: the latch
    /// setter finds it through the latch word and wakes this very worker's
    /// sleep word (see `pool/latch.rs`).
    pub(crate) fn sleep(
        &self,
        index: usize,
        idle: &mut Idle,
        has_work: impl Fn() -> bool,
        latch: Option<&CoreLatch>,
    ) {
        debug_assert!(idle.searching);
        let word = &*self.words[index];
        // From searching to sleeping in one RMW, *before* the word says
        // SLEEPING: a waker that claims the word then finds our count there.
        // The store is Release: it pairs with the waker's Acquire CAS, so our
        // count move happens-before the waker's move back. (F2 orders the
        // store for producers; the latch's Release CAS for its setter.)
        // mutant: count-after-sleeping swap
        self.shift(SLEEPING_ONE.wrapping_sub(SEARCHING_ONE), true);
        word.store(SLEEPING, Release);
        // F2, SeqCst fence: pairs with F1 in `new_work` (README.md).
        // mutant: drop-f2 del
        fence(SeqCst);
        // mutant: skip-recheck s/has_work() || //
        let stay_awake = has_work() || latch.is_some_and(|latch| !latch.try_sleep());
        if stay_awake {
            // Take the sleep back, unless a waker got here first.
            if word
                .compare_exchange(SLEEPING, AWAKE, Relaxed, Relaxed)
                .is_ok()
            {
                self.shift(SEARCHING_ONE.wrapping_sub(SLEEPING_ONE), false);
            } else {
                // WAKING or NOTIFIED: a waker is moving (or moved) our count;
                // wait until it is done so the count is ours again.
                self.wait_notified(word);
                // Relaxed: the waker is done with the word.
                word.store(AWAKE, Relaxed);
            }
            return;
        }
        self.wait_notified(word);
        // Relaxed: the waker is done with the word; nothing is published.
        word.store(AWAKE, Relaxed);
        if let Some(latch) = latch {
            latch.wake_up();
        }
    }

    /// Sleeps on `word` until a waker has stored `NOTIFIED`.
    fn wait_notified(&self, word: &AtomicU32) {
        loop {
            // Acquire: pairs with the waker's Release store of NOTIFIED: its
            // count move is visible to our next `stop_searching`.
            let seen = word.load(Acquire);
            if seen == NOTIFIED {
                return;
            }
            // Spurious returns loop; the futex compares the exact value.
            let _: WaitOutcome = futex::wait(word, seen, None);
        }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_taken_back_restores_the_counts() {
        let sleep = Sleep::new(2);
        let mut idle = Idle::new();
        sleep.start_searching(&mut idle);
        sleep.sleep(0, &mut idle, || true, None);
        assert_eq!(sleep.sleeping(), 0);
        assert_eq!(searching(sleep.counters.load(Relaxed)), 1);
        sleep.work_found(&mut idle, || false);
        assert_eq!(sleep.counters.load(Relaxed), 0);
    }

    #[test]
    fn a_set_latch_refuses_the_sleep() {
        let sleep = Sleep::new(1);
        let latch = CoreLatch::new();
        // SAFETY: the latch lives on this frame.
        let _ = unsafe { CoreLatch::set(&latch) };
        let mut idle = Idle::new();
        sleep.start_searching(&mut idle);
        sleep.sleep(0, &mut idle, || false, Some(&latch));
        sleep.work_found(&mut idle, || false);
        assert_eq!(sleep.counters.load(Relaxed), 0);
    }

    #[test]
    fn the_waker_moves_the_count_before_the_sleeper_runs() {
        // Regression (issue 9, failure 6): the wakee's stop_searching must
        // never precede the waker's count move; with WAKING the wakee cannot
        // leave `sleep` before the move, so no interleaving wraps `searching`.
        for _ in 0..if cfg!(miri) { 5 } else { 200 } {
            let sleep = std::sync::Arc::new(Sleep::new(1));
            let sleeper = {
                let sleep = std::sync::Arc::clone(&sleep);
                std::thread::spawn(move || {
                    let mut idle = Idle::new();
                    sleep.start_searching(&mut idle);
                    sleep.sleep(0, &mut idle, || false, None);
                    sleep.work_found(&mut idle, || false);
                })
            };
            while !sleep.wake_specific(0) {
                std::thread::yield_now();
            }
            sleeper.join().unwrap();
            assert_eq!(sleep.counters.load(Relaxed), 0);
        }
    }
}
