//! The Event's async waiter list: the wakers of pending `WaitAsync` futures.
//!
//! A slab of entries behind the Event's mutex; only slow paths lock it (a future
//! registering or leaving, a `set` that finds the `ASYNC` bit). Each entry has
//! a unique id, so a future whose entry a `set` already drained can never
//! remove or overwrite a newer future's entry that reuses the place.

use std::fmt;
use std::task::Waker;

/// Where a registered future's waker lives; handed back to update or remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    /// Index into the slab.
    index: usize,
    /// The entry's unique id; a mismatch means the entry is gone.
    id: u64,
}

/// One registered waker.
struct Entry {
    id: u64,
    waker: Waker,
}

/// The slab of wakers.
pub(super) struct WaiterList {
    /// Registered entries; `None` marks a vacant place, listed in `free`.
    entries: Vec<Option<Entry>>,
    /// Indices of vacant places, reused before the slab grows.
    free: Vec<usize>,
    /// Number of `Some` places.
    len: usize,
    /// The next entry id; ids are never reused (a `u64` does not wrap).
    next_id: u64,
}

impl WaiterList {
    /// An empty list; allocates nothing.
    pub(super) const fn new() -> Self {
        WaiterList {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_id: 0,
        }
    }

    /// Whether no waker is registered.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Registers `waker`.
    pub(super) fn insert(&mut self, waker: Waker) -> Key {
        let id = self.next_id;
        self.next_id += 1;
        let entry = Some(Entry { id, waker });
        let index = match self.free.pop() {
            Some(index) => {
                self.entries[index] = entry;
                index
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.len += 1;
        Key { index, id }
    }

    /// Replaces the waker under `key` unless it would wake the same task.
    /// Returns `false` if the entry is gone (drained by a `set`).
    pub(super) fn update(&mut self, key: Key, waker: &Waker) -> bool {
        match self.entries.get_mut(key.index) {
            Some(Some(entry)) if entry.id == key.id => {
                if !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                true
            }
            _ => false,
        }
    }

    /// Removes the entry under `key`, if it is still there.
    pub(super) fn remove(&mut self, key: Key) -> Option<Waker> {
        let place = self.entries.get_mut(key.index)?;
        match place {
            Some(entry) if entry.id == key.id => {
                let entry = place.take()?;
                self.free.push(key.index);
                self.len -= 1;
                Some(entry.waker)
            }
            _ => None,
        }
    }

    /// Takes every waker out, leaving the list empty, so the caller can wake
    /// them after unlocking.
    pub(super) fn take_all(&mut self) -> impl Iterator<Item = Waker> {
        self.free.clear();
        self.len = 0;
        std::mem::take(&mut self.entries)
            .into_iter()
            .flatten()
            .map(|entry| entry.waker)
    }
}

impl fmt::Debug for WaiterList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaiterList")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    use std::task::Wake;

    use super::*;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (Arc::clone(&counter), Waker::from(counter))
    }

    #[test]
    fn insert_remove_reuse() {
        let mut list = WaiterList::new();
        let (_, waker) = counter();
        let a = list.insert(waker.clone());
        let b = list.insert(waker.clone());
        assert!(list.remove(a).is_some());
        assert!(list.remove(a).is_none(), "removed twice");
        let c = list.insert(waker.clone());
        assert_eq!(c.index, a.index, "the vacant place is reused");
        assert!(
            list.remove(a).is_none(),
            "a stale key must not remove the new entry"
        );
        assert!(
            !list.update(a, &waker),
            "a stale key must not update the new entry"
        );
        assert!(list.update(c, &waker));
        assert!(list.remove(b).is_some() && list.remove(c).is_some());
        assert!(list.is_empty());
    }

    #[test]
    fn take_all_drains_and_invalidates_keys() {
        let mut list = WaiterList::new();
        let (count, waker) = counter();
        let keys: Vec<Key> = (0..5).map(|_| list.insert(waker.clone())).collect();
        list.remove(keys[2]);
        list.take_all().for_each(Waker::wake);
        assert_eq!(count.0.load(Relaxed), 4);
        assert!(list.is_empty());
        for key in keys {
            assert!(list.remove(key).is_none());
        }
        let fresh = list.insert(waker);
        assert_eq!(fresh.index, 0);
    }
}
