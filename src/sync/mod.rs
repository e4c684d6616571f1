//! The sync shim: the one place that chooses between `std` and `loom`.
//!
//! Every other module takes its atomics, `UnsafeCell`, `Arc`, `Mutex`, `Condvar`,
//! thread handles, spin hints, clock and futex calls from here, never from
//! `std::sync` or `std::thread` directly. Under `RUSTFLAGS="--cfg loom"` the same
//! names resolve to [loom]'s model-checked stand-ins, so the crate's lock-free
//! protocols can be explored exhaustively by the models in `loom-tests/` without
//! a line of them changing.
//!
//! The two builds expose identical signatures:
//!
//! - [`UnsafeCell`] offers only loom's closure API (`with`, `with_mut`), so every
//!   access to shared interior data is visible to the model checker.
//! - [`Mutex`] does not poison: a panic while the lock is held (which the crate
//!   never allows on its own paths) does not turn later locks into errors.
//! - `AtomicWaker` is the `atomic-waker` crate's, or loom's model of it.
//! - [`Instant`] is `std::time::Instant`, or under loom a clock that never moves:
//!   loom cannot model time, so a timed wait there "expires" exactly when the
//!   futex model says so (see [`futex`]).
//!
//! The loom build is for the crate's own verification and is outside semver.
//!
//! [loom]: https://docs.rs/loom

pub(crate) mod futex;
pub(crate) mod spin;

#[cfg(not(loom))]
mod std_types;
#[cfg(not(loom))]
pub(crate) use std_types::*;

#[cfg(loom)]
mod loom_types;
#[cfg(loom)]
pub(crate) use loom_types::*;
