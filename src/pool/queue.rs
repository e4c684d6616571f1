//! The queues behind one seam: crossbeam's Chase-Lev deques and injector, or
//! under loom a stand-in with the same interface.
//!
//! crossbeam-deque is invisible to loom (it uses `std` atomics and epoch
//! reclamation directly), so the loom build swaps in stand-ins. Their rule:
//! **no ordering that crossbeam's queues do not give.** The elements sit
//! behind a loom `Mutex` (taking and giving them correctly is crossbeam's
//! business, tested there), but every *observation* that feeds a sleep or
//! exit decision — `is_empty`, `len` — reads a loom atomic count without the
//! lock, with the orderings crossbeam uses (crossbeam-deque 0.8,
//! `src/deque.rs`):
//!
//! | operation | crossbeam | stand-in |
//! |---|---|---|
//! | `Worker::push` | buffer write; `fence(Release)`; `back` Relaxed store | count `fetch_add` Release |
//! | `Worker::pop` (LIFO) | `back` store; `fence(SeqCst)`; `front` load | count `fetch_sub`; `fence(SeqCst)` |
//! | `Stealer::steal` | `front` Acquire; `fence(SeqCst)`; `back` Acquire; CAS | `fence(SeqCst)`; count `fetch_sub` |
//! | `Stealer::is_empty`, `len` | `front` Acquire; `fence(SeqCst)`; `back` Acquire | `fence(SeqCst)`; count Acquire |
//! | `Injector::push` | CAS `tail` SeqCst; the entry's `state` `fetch_or` Release | count `fetch_add` SeqCst |
//! | `Injector::steal*` | `head` Acquire; `fence(SeqCst)`; `tail` load; CAS `head` SeqCst | `fence(SeqCst)`; count `fetch_sub` SeqCst |
//! | `Injector::is_empty`, `len` | `head`, `tail` SeqCst loads | count SeqCst load |
//!
//! A stand-in that answered `is_empty` under its lock would order every
//! emptiness check after every earlier push (lock order is total), which is
//! exactly what the sleep protocol's fences F1–F3 exist to provide: with it,
//! deleting those fences passed every model (see `loom-tests/README.md`).

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use self::locked::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod locked {
    use std::collections::VecDeque;
    use std::fmt;

    use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
    use crate::sync::atomic::{fence, AtomicUsize};
    use crate::sync::{Arc, Mutex};

    /// The outcome of a steal, as crossbeam's.
    #[must_use]
    #[derive(Debug)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        // Never built: the stand-ins take a lock, so a steal never has to
        // retry. It stays so that callers match crossbeam's three outcomes.
        #[allow(dead_code)]
        Retry,
    }

    impl<T> Steal<T> {
        pub(crate) fn success(self) -> Option<T> {
            match self {
                Steal::Success(t) => Some(t),
                _ => None,
            }
        }
    }

    /// One queue: the elements behind a lock, and their number in an atomic
    /// that observers read without the lock (see the module docs).
    struct Queue<T> {
        items: Mutex<VecDeque<T>>,
        len: AtomicUsize,
    }

    impl<T> Queue<T> {
        fn new() -> Self {
            Queue {
                items: Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            }
        }

        /// A thief's steal from the front: as crossbeam's, a `fence(SeqCst)`
        /// before it looks, and a SeqCst RMW (its CAS of `front`/`head`).
        fn steal_front(&self) -> Steal<T> {
            fence(SeqCst);
            let mut items = self.items.lock();
            match items.pop_front() {
                Some(t) => {
                    self.len.fetch_sub(1, SeqCst);
                    Steal::Success(t)
                }
                None => Steal::Empty,
            }
        }
    }

    /// A worker's own LIFO queue.
    pub(crate) struct Worker<T>(Arc<Queue<T>>);

    /// A thief's handle on a worker's queue (steals from the other end).
    pub(crate) struct Stealer<T>(Arc<Queue<T>>);

    /// The global FIFO queue.
    pub(crate) struct Injector<T>(Queue<T>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            Worker(Arc::new(Queue::new()))
        }
        pub(crate) fn push(&self, t: T) {
            let mut items = self.0.items.lock();
            items.push_back(t);
            // Release, as crossbeam's fence(Release) + Relaxed store of `back`.
            self.0.len.fetch_add(1, Release);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            let mut items = self.0.items.lock();
            let t = items.pop_back();
            if t.is_some() {
                // Relaxed, as crossbeam's store of `back`; then its fence.
                self.0.len.fetch_sub(1, Relaxed);
            }
            fence(SeqCst);
            t
        }
        /// A lane's queue: its owner only pushes (at the back), thieves
        /// steal from the front, as from a LIFO worker's.
        pub(crate) fn new_fifo() -> Self {
            Worker(Arc::new(Queue::new()))
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(Arc::clone(&self.0))
        }
        pub(crate) fn is_empty(&self) -> bool {
            // Relaxed: crossbeam's owner-side check is a hint too (a Relaxed
            // load of `back` and a load of `front` with no fence).
            self.0.len.load(Relaxed) == 0
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0.steal_front()
        }
        /// As `Injector::steal_batch_with_limit_and_pop`, from a lane.
        pub(crate) fn steal_batch_with_limit_and_pop(
            &self,
            dest: &Worker<T>,
            limit: usize,
        ) -> Steal<T> {
            self.0.steal_batch_and_pop(dest, limit)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.len() == 0
        }
        pub(crate) fn len(&self) -> usize {
            // As crossbeam's: fence(SeqCst) between its two Acquire loads.
            fence(SeqCst);
            self.0.len.load(Acquire)
        }
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer(Arc::clone(&self.0))
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Queue::new())
        }
        pub(crate) fn push(&self, t: T) {
            let mut items = self.0.items.lock();
            items.push_back(t);
            // SeqCst, as crossbeam's CAS of `tail`.
            self.0.len.fetch_add(1, SeqCst);
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0.steal_front()
        }
        /// Moves up to half (at most `limit` in all, and at most 4) into
        /// `dest`, and pops one of them.
        pub(crate) fn steal_batch_with_limit_and_pop(
            &self,
            dest: &Worker<T>,
            limit: usize,
        ) -> Steal<T> {
            self.0.steal_batch_and_pop(dest, limit)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.len() == 0
        }
        pub(crate) fn len(&self) -> usize {
            // SeqCst, as crossbeam's loads of `head` and `tail`.
            self.0.len.load(SeqCst)
        }
    }

    impl<T> Queue<T> {
        /// Moves up to half (at most `limit` in all, and at most 4) into
        /// `dest`, and pops one of them.
        fn steal_batch_and_pop(&self, dest: &Worker<T>, limit: usize) -> Steal<T> {
            fence(SeqCst);
            let mut queue = self.items.lock();
            let Some(first) = queue.pop_front() else {
                return Steal::Empty;
            };
            let extra = (queue.len() / 2).min(3).min(limit - 1);
            let mut local = dest.0.items.lock();
            let mut moved = 0;
            for _ in 0..extra {
                if let Some(t) = queue.pop_front() {
                    local.push_front(t);
                    moved += 1;
                }
            }
            // SeqCst, as crossbeam's CAS of `head`; Release on the
            // destination, as a push.
            self.len.fetch_sub(1 + moved, SeqCst);
            dest.0.len.fetch_add(moved, Release);
            Steal::Success(first)
        }
    }

    impl<T> fmt::Debug for Worker<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Worker")
        }
    }
    impl<T> fmt::Debug for Stealer<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Stealer")
        }
    }
    impl<T> fmt::Debug for Injector<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Injector")
        }
    }
}
