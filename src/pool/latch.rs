//! [`SpinLatch`]: the latch of a pool worker that waits inside its pool's
//! sleep protocol (a `join` waiting for its stolen half, a `scope`, an
//! `install` into another pool, a `shutdown` caller).
//!
//! The owner keeps running pool work while it waits and sleeps only in
//! `Sleep::sleep`, announcing that on the latch word (`CoreLatch::try_sleep`).
//! A setter that finds it `SLEEPING` wakes the owner's own sleep word
//! (`Sleep::wake_specific`), which moves it from sleeping to searching as any
//! wake-up does.
//!
//! The last-touch rule (`crate::latch`): the setter reads the owner's pool
//! and index *before* the publishing swap. Afterwards it needs that pool's
//! `Sleep` alive:
//!
//! - a **same-pool** latch is set only by a worker of the owner's own pool
//!   (the thief of a `join` half, a scope's job), whose own `Arc<Shared>`
//!   keeps the pool alive;
//! - a **cross** latch may be set by anyone (a worker of another pool, a
//!   `shutdown` notification): the setter clones the owner's `Arc<Shared>`
//!   before the swap, as rayon's cross-registry `SpinLatch` does (rayon commit
//!   cbd484ca).

use std::fmt;
use std::mem::MaybeUninit;

use super::shared::Shared;
use super::worker::WorkerThread;
use crate::latch::{CoreLatch, Found, SetLatch};
use crate::sync::atomic::AtomicUsize;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Arc, UnsafeCell};

/// Who owns a [`SpinLatch`]: read by the setter before it publishes `SET`.
#[derive(Clone, Copy)]
struct Owner<'r> {
    /// The owner's pool (the `Arc` in the owner's `WorkerThread`).
    shared: &'r Arc<Shared>,
    /// The owner's index in it.
    index: usize,
    /// Whether setters may be outside the owner's pool.
    cross: bool,
}

/// A latch whose owner is a worker sleeping in its pool's sleep protocol.
pub(crate) struct SpinLatch<'r> {
    /// The state word.
    core: CoreLatch,
    /// The owner. Written at creation; read by the setter before its swap.
    /// (A loom-visible cell: `retire` writes it under loom, so a setter that
    /// read it after the swap — a use after free in the real build — is a
    /// data race the models report.)
    owner: UnsafeCell<Owner<'r>>,
    /// The index of the worker that took the job this latch belongs to
    /// (`usize::MAX` until one did): a `join` waiting for a stolen half
    /// helps that worker first.
    thief: AtomicUsize,
}

// SAFETY: the only non-`Sync` part is the owner cell, which is written once,
// at creation, and afterwards only read (by setters, on any thread) — except
// under loom, where `retire` writes it once the owner saw the latch set, which
// is exactly the access the models check. The rest is an atomic.
unsafe impl Sync for SpinLatch<'_> {}
// SAFETY: the owner is a shared reference to an `Arc<Shared>` (`Sync`) and
// an index; moving the latch moves nothing thread-bound.
unsafe impl Send for SpinLatch<'_> {}

impl<'r> SpinLatch<'r> {
    /// A latch owned by `owner`, set only by workers of the owner's pool.
    #[inline]
    pub(crate) fn new(owner: &'r WorkerThread) -> SpinLatch<'r> {
        SpinLatch::with_owner(owner, false)
    }

    /// A latch owned by `owner` that any thread may set.
    #[inline]
    pub(crate) fn cross(owner: &'r WorkerThread) -> SpinLatch<'r> {
        SpinLatch::with_owner(owner, true)
    }

    #[inline]
    fn with_owner(owner: &'r WorkerThread, cross: bool) -> SpinLatch<'r> {
        SpinLatch {
            core: CoreLatch::new(),
            owner: UnsafeCell::new(Owner {
                shared: &owner.shared,
                index: owner.index,
                cross,
            }),
            thief: AtomicUsize::new(usize::MAX),
        }
    }

    /// The worker that took the job, if one did (a hint).
    #[inline]
    pub(crate) fn thief(&self) -> Option<usize> {
        // Relaxed: a hint (see the field).
        let thief = self.thief.load(Relaxed);
        (thief != usize::MAX).then_some(thief)
    }

    /// Whether the latch is set.
    #[inline]
    pub(crate) fn probe(&self) -> bool {
        self.core.probe()
    }

    /// The owner is done with the set latch (its memory may be reused).
    /// Under loom this "reclaims" the owner cell: a setter's read of it that
    /// is not ordered before the owner saw `SET` races with this write, so a
    /// setter that broke the last-touch rule fails the models. No-op
    /// otherwise. (Not a `Drop` impl: that would make every `Scope` need its
    /// borrows to strictly outlive it.)
    #[inline]
    pub(crate) fn retire(&self) {
        debug_assert!(self.probe(), "a latch is retired once set");
        #[cfg(loom)]
        self.owner.with_mut(|_| ());
    }
}

impl SetLatch for SpinLatch<'_> {
    fn core(&self) -> &CoreLatch {
        &self.core
    }

    unsafe fn set(this: *const Self) {
        // SAFETY: the caller guarantees `this` is live until the swap below.
        let core = unsafe { std::ptr::addr_of!((*this).core) };
        // SAFETY: as above; this read comes before the swap.
        // mutant: late-owner-read swap
        let owner = unsafe { Wake::read(this) };
        // SAFETY: the latch is live until this swap, our last touch of it.
        let found = unsafe { CoreLatch::set(core) };
        // mutant: latch-no-wake s/found == Found::Sleeping/false/
        if found == Found::Sleeping {
            owner.wake();
        }
    }

    #[inline]
    fn note_thief(&self, index: usize) {
        // Relaxed: a hint for the waiting owner's choice of victim.
        self.thief.store(index, Relaxed);
    }
}

/// The latch of a `join`'s second half, written only when the half is
/// promoted (`pool/deferred.rs`): the common `b` that nobody ever takes
/// pays nothing for a latch. Until [`arm`](Self::arm) it is uninitialised,
/// and nothing reads it: only a promoted job can be executed, waited for or
/// probed, and promotion arms it first.
pub(crate) struct LazySpinLatch<'r> {
    latch: UnsafeCell<MaybeUninit<SpinLatch<'r>>>,
}

// SAFETY: written once, by the owner, before the job is shared (the push that
// shares it publishes the write); afterwards a `SpinLatch`, which is `Sync`.
unsafe impl Sync for LazySpinLatch<'_> {}

impl<'r> LazySpinLatch<'r> {
    /// A latch not armed yet.
    #[inline]
    pub(crate) fn unarmed() -> LazySpinLatch<'r> {
        LazySpinLatch {
            latch: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Arms the latch, owned by `owner`.
    ///
    /// # Safety
    ///
    /// At most once, by `owner` (the worker whose stack holds the job),
    /// before the job is shared with any other thread.
    #[inline]
    pub(crate) unsafe fn arm(&self, owner: &'r WorkerThread) {
        let latch = SpinLatch::new(owner);
        // SAFETY: the caller guarantees exclusive access: the job is not
        // shared yet, and only its owner's thread touches it.
        self.latch.with_mut(|cell| unsafe { (*cell).write(latch) });
    }

    /// The armed latch.
    ///
    /// # Safety
    ///
    /// [`arm`](Self::arm) must have happened before (on this thread, or
    /// published to it by the push that shared the job).
    #[inline]
    pub(crate) unsafe fn armed(&self) -> &SpinLatch<'r> {
        // SAFETY: armed (the caller's guarantee) and never written again.
        self.latch.with(|cell| unsafe { (*cell).assume_init_ref() })
    }
}

impl SetLatch for LazySpinLatch<'_> {
    fn core(&self) -> &CoreLatch {
        // SAFETY: only a promoted job's latch is used as a latch, and
        // promotion arms it first.
        unsafe { self.armed() }.core()
    }

    unsafe fn set(this: *const Self) {
        // SAFETY: as in `core`; the caller guarantees `this` is live, and
        // `SpinLatch::set` keeps the last-touch rule.
        unsafe { SpinLatch::set((*this).armed()) }
    }

    #[inline]
    fn note_thief(&self, index: usize) {
        // SAFETY: as in `core`: the executor of a job runs it only after
        // the promotion that armed the latch.
        unsafe { self.armed() }.note_thief(index);
    }
}

/// What a setter needs to wake a latch's owner after the swap, read before.
struct Wake {
    /// The owner's pool.
    shared: *const Shared,
    /// The owner's index.
    index: usize,
    /// A cross setter's own reference to the owner's pool.
    keep_alive: Option<Arc<Shared>>,
}

impl Wake {
    /// Reads the owner of the latch at `this` (and, for a cross latch, takes
    /// a reference to its pool).
    ///
    /// # Safety
    ///
    /// `this` must be live: called before the latch is set.
    unsafe fn read(this: *const SpinLatch<'_>) -> Wake {
        // SAFETY: the caller guarantees `this` is live; the owner field is
        // written only at creation.
        let owner = unsafe { (*this).owner.with(|owner| *owner) };
        Wake {
            shared: Arc::as_ptr(owner.shared),
            index: owner.index,
            keep_alive: owner.cross.then(|| Arc::clone(owner.shared)),
        }
    }

    /// Wakes the owner from its pool's sleep.
    fn wake(self) {
        // SAFETY: the owner's pool is alive: a cross setter holds
        // `keep_alive`; a same-pool setter is a worker of that pool, whose own
        // `Arc` keeps it alive for this call.
        unsafe { &*self.shared }.sleep.wake_specific(self.index);
        drop(self.keep_alive);
    }
}

impl fmt::Debug for SpinLatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpinLatch")
            .field("set", &self.probe())
            .finish_non_exhaustive()
    }
}
