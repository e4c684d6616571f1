//! The queues behind one seam: crossbeam's Chase-Lev deques and injector, or
//! under loom a locked stand-in with the same interface.
//!
//! crossbeam-deque is invisible to loom (it uses `std` atomics and epoch
//! reclamation directly), so the loom build swaps in `Mutex<VecDeque>`
//! queues; the models then explore the scheduler's own protocols (sleep/wake,
//! shutdown) against every queue operation, which is what they are for. The
//! deques' own correctness is crossbeam's, tested there.

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use self::locked::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod locked {
    use std::collections::VecDeque;
    use std::fmt;

    use crate::sync::{Arc, Mutex};

    /// The outcome of a steal, as crossbeam's.
    #[must_use]
    #[derive(Debug)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
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

    /// A worker's own LIFO queue.
    pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);

    /// A thief's handle on a worker's queue (steals from the other end).
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);

    /// The global FIFO queue.
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            Worker(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_back()
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(Arc::clone(&self.0))
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0
                .lock()
                .pop_front()
                .map_or(Steal::Empty, Steal::Success)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer(Arc::clone(&self.0))
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            self.0
                .lock()
                .pop_front()
                .map_or(Steal::Empty, Steal::Success)
        }
        /// Moves up to half (at most `limit` in all, and at most 4) into
        /// `dest`, and pops one of them.
        pub(crate) fn steal_batch_with_limit_and_pop(
            &self,
            dest: &Worker<T>,
            limit: usize,
        ) -> Steal<T> {
            let mut queue = self.0.lock();
            let Some(first) = queue.pop_front() else {
                return Steal::Empty;
            };
            let extra = (queue.len() / 2).min(3).min(limit - 1);
            let mut local = dest.0.lock();
            for _ in 0..extra {
                if let Some(t) = queue.pop_front() {
                    local.push_front(t);
                }
            }
            Steal::Success(first)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
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
