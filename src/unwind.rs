//! Unwind safety: where a panic is caught, and where it must abort.
//!
//! Two kinds of code run inside the scheduler, and a panic means something
//! different in each:
//!
//! - **Foreign code** (a task, a callback, a hook, the panic handler, and the
//!   `Drop` of any user value the scheduler happens to drop: a task's result,
//!   a closure's captures, a panic payload) may panic at any time. Its panic
//!   is caught at the boundary ([`catch`]) and reported; it never unwinds
//!   through the scheduler's own state and never kills a worker.
//! - **The crate's own code** in a region whose soundness depends on "nothing
//!   here unwinds" (a `join` or `scope` whose borrowed half may still run on
//!   another thread, a stack job between taking its closure and setting its
//!   latch, a worker's loop) runs under an [`AbortIfPanic`] guard. A panic
//!   there is a bug of ours; unwinding would leave a borrowed job running on a
//!   frame that is gone, so the process aborts instead (rayon's
//!   `unwind::AbortIfPanic`).
//!
//! A caught payload is itself a user value: its `Drop` may panic again
//! (rust-lang/rust#86027). [`drop_payload`] drops one under a second catch and
//! leaks what that one throws, so reporting a panic can never unwind.

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A panic payload, as `std::panic::catch_unwind` returns it.
pub(crate) type Payload = Box<dyn std::any::Any + Send + 'static>;

/// Runs foreign code `f`, catching its panic.
#[inline]
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Payload> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Drops `value` (a user value whose `Drop` may panic), returning the panic's
/// payload if it did.
#[inline]
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Payload> {
    catch(move || drop(value))
}

/// Drops a panic payload without letting its `Drop` unwind: a payload whose
/// `Drop` panics is caught, and the payload of *that* panic is leaked (it
/// could panic again, and so on; a leak is the only end that never unwinds).
pub(crate) fn drop_payload(payload: Payload) {
    if let Err(nested) = drop_caught(payload) {
        std::mem::forget(nested);
    }
}

/// Aborts the process if dropped during an unwind: armed around regions of
/// the crate's own code that must not unwind, disarmed with [`disarm`]
/// (`mem::forget`) once the region is left normally.
///
/// The region's name is a type parameter, not a field: the guard is
/// zero-sized, so arming it costs no store (it sits on `join`'s fast path).
///
/// [`disarm`]: AbortIfPanic::disarm
#[must_use = "the guard aborts only while it lives"]
pub(crate) struct AbortIfPanic<R: Region>(PhantomData<R>);

/// A region that must not unwind, named for the abort message.
pub(crate) trait Region {
    /// What must not unwind.
    const NAME: &'static str;
}

/// The regions, as types (uninhabited: only their names are used).
pub(crate) mod region {
    macro_rules! regions {
        ($($ty:ident: $name:literal),* $(,)?) => {$(
            #[doc = concat!("The region \"", $name, "\".")]
            pub(crate) enum $ty {}
            impl super::Region for $ty {
                const NAME: &'static str = $name;
            }
        )*};
    }
    regions! {
        Join: "join",
        Scope: "scope",
        StackJob: "a stack job",
        LatchWait: "a wait for a latch",
        MainLoop: "a worker's main loop",
    }
}

impl<R: Region> AbortIfPanic<R> {
    /// Arms the guard.
    #[inline]
    pub(crate) fn new() -> AbortIfPanic<R> {
        AbortIfPanic(PhantomData)
    }

    /// Leaves the region normally.
    #[inline]
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<R: Region> Drop for AbortIfPanic<R> {
    fn drop(&mut self) {
        // Under loom, a failing model unwinds through every frame (that is
        // how loom reports a deadlock or a broken assertion): let it, so the
        // model's message is not lost to an abort.
        if cfg!(loom) {
            return;
        }
        // Only an unwind gets here: the normal path forgets the guard.
        eprintln!(
            "stealpool: a panic inside {} would leave borrowed work running on a dead \
             frame; aborting",
            R::NAME
        );
        std::process::abort();
    }
}

impl<R: Region> std::fmt::Debug for AbortIfPanic<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AbortIfPanic").field(&R::NAME).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A value whose `Drop` panics, `depth` times over: its payload is another
    /// such value one level down.
    struct Bomb(u32);

    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0 > 0 {
                std::panic::panic_any(Bomb(self.0 - 1));
            }
        }
    }

    #[test]
    fn catch_returns_the_value_or_the_payload() {
        assert_eq!(catch(|| 7).ok(), Some(7));
        let payload = catch(|| panic!("boom")).unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }

    #[test]
    fn a_panicking_drop_is_caught() {
        let payload = drop_caught(Bomb(1)).unwrap_err();
        assert!(payload.is::<Bomb>());
        drop_payload(payload);
    }

    #[test]
    // The innermost payload is leaked on purpose (see `drop_payload`), which
    // Miri's leak check reports.
    #[cfg_attr(miri, ignore)]
    fn payloads_that_panic_in_drop_never_unwind() {
        // The payload's Drop panics with a payload whose Drop panics again.
        let payload = drop_caught(Bomb(3)).unwrap_err();
        drop_payload(payload);
    }

    #[test]
    fn a_disarmed_guard_is_silent_and_costs_no_space() {
        assert_eq!(std::mem::size_of::<AbortIfPanic<region::Join>>(), 0);
        let guard = AbortIfPanic::<region::Join>::new();
        assert_eq!(format!("{guard:?}"), "AbortIfPanic(\"join\")");
        guard.disarm();
    }
}
