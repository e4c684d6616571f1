//! The task's waiter list: who waits on several tasks at once (`wait`,
//! Python's `concurrent.futures.wait`) and must be told when this one
//! completes.
//!
//! A waiter on one task sleeps on the state word's futex and leaves nothing
//! behind; a waiter on several needs a signal from each. Each registers its
//! own [`Event`] here for as long as it waits and removes it before it
//! returns, timed out or not, so polling costs no memory however often it is
//! repeated (an `on_done` callback could not be removed).
//!
//! Protocol, with the state word's `WAITERS` bit:
//!
//! 1. A waiter locks the list, appends its event, sets `WAITERS` (an RMW on
//!    the state word) and unlocks. Then it checks whether the task is done,
//!    and sleeps on its event only if not.
//! 2. The done transition (complete or cancel) clears `WAITERS` and
//!    reports whether it was set; if so the completer locks the list, sets
//!    every event *under the lock*, and empties it.
//! 3. A waiter leaving (done or timed out) locks the list and removes its
//!    entry if present.
//!
//! The two RMWs on the state word in steps 1 and 2 are totally ordered, so
//! either the completer sees `WAITERS` (and releases the list after the
//! waiter's unlock: the event is set), or the waiter's RMW comes second and
//! its check afterwards sees the task done. (A completion that came first
//! leaves the entry in the list until step 3 removes it: the waiter needs
//! no special case for it; the mutation check confirmed that one is
//! redundant.) Setting the events under the lock means a waiter that has
//! left (step 3 takes the lock) is never signalled after it freed its event.

use std::fmt;
use std::ptr;

use super::state::{Snapshot, State};
use crate::event::Event;
use crate::sync::Mutex;

/// An event registered in a list, by address.
#[derive(Clone, Copy)]
struct Entry(*const Event);

// SAFETY: an entry is dereferenced only under the list's lock, while its
// owner keeps the event alive (it removes the entry, under the same lock,
// before freeing the event); `Event` is `Sync`.
unsafe impl Send for Entry {}

/// The events of the waiters of one task.
pub(crate) struct Waiters {
    /// Registered events; `None` (nothing allocated) until someone waits.
    /// Boxed: every task carries this field and most never use it, so it
    /// costs a pointer (16 bytes with the lock) instead of a `Vec` (32).
    #[allow(clippy::box_collection)]
    list: Mutex<Option<Box<Vec<Entry>>>>,
}

impl Waiters {
    /// An empty list.
    pub(crate) fn new() -> Waiters {
        Waiters {
            list: Mutex::new(None),
        }
    }

    /// Registers `event` to be set when the task whose state is `state`
    /// completes (step 1). The caller must check whether the task is done
    /// afterwards, before it sleeps.
    pub(crate) fn register(&self, state: &State, event: &Event) {
        let mut list = self.list.lock();
        list.get_or_insert_with(Box::default).push(Entry(event));
        // The RMW orders this registration against the done transition.
        let _: Snapshot = state.mark_waiters();
    }

    /// Removes `event` if it is still registered (step 3).
    pub(crate) fn unregister(&self, event: &Event) {
        if let Some(list) = self.list.lock().as_mut() {
            list.retain(|entry| !ptr::eq(entry.0, event));
        }
    }

    /// How many events are registered (for the loom models).
    #[cfg(loom)]
    pub(crate) fn len(&self) -> usize {
        self.list.lock().as_ref().map_or(0, |list| list.len())
    }

    /// The task completed: sets every registered event and empties the list
    /// (step 2).
    pub(crate) fn release(&self) {
        let mut list = self.list.lock();
        for entry in list.iter_mut().flat_map(|list| list.drain(..)) {
            // SAFETY: the entry's owner keeps the event alive until it has
            // removed the entry, which needs the lock we hold.
            unsafe { &*entry.0 }.set();
        }
    }
}

impl fmt::Debug for Waiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters").finish_non_exhaustive()
    }
}
