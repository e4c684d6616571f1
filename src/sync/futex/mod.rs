//! Futex wait/wake: sleep until a 32-bit word changes, wake who sleeps on it.
//!
//! This is the crate's only way to block a thread. The contract is the Linux
//! futex's:
//!
//! - [`wait`]`(word, expected, deadline)` sleeps only if `word` still holds
//!   `expected`, atomically with respect to [`wake_all`]/[`wake_one`]: a waker
//!   that changes the word and then wakes can never slip between the waiter's
//!   check and its sleep (no lost wake-up).
//! - A wait may return spuriously. Callers re-check their state word in a loop
//!   and treat [`WaitOutcome::Woken`] as "look again", never as "it happened".
//! - The wake functions take a raw address and never dereference it, so a
//!   waker may call them after the waiter has already returned and freed the
//!   word (a wake on a dead or reused address is at worst a spurious wake-up).
//!
//! Backends, chosen here and nowhere else:
//!
//! | build | backend |
//! |---|---|
//! | Linux, Android | [`linux`]: `futex(2)` (`FUTEX_WAIT` through rustix, `FUTEX_WAKE` by address; process-private) |
//! | other targets | [`emulated`]: `parking_lot_core`'s address-keyed parking lot |
//! | Linux under `--cfg stealpool_emulated_futex` | [`emulated`], to test and benchmark it there |
//! | `cfg(loom)` | [`model`]: one loom `Mutex`+`Condvar`, which loom explores |

#[cfg(all(
    not(loom),
    not(stealpool_emulated_futex),
    any(target_os = "linux", target_os = "android")
))]
use linux as backend;
#[cfg(all(
    not(loom),
    any(test, not(stealpool_emulated_futex)),
    any(target_os = "linux", target_os = "android")
))]
mod linux;

#[cfg(all(
    not(loom),
    any(
        stealpool_emulated_futex,
        not(any(target_os = "linux", target_os = "android"))
    )
))]
use emulated as backend;
#[cfg(all(
    not(loom),
    any(
        test,
        stealpool_emulated_futex,
        not(any(target_os = "linux", target_os = "android"))
    )
))]
mod emulated;

#[cfg(loom)]
use model as backend;
#[cfg(loom)]
mod model;

use super::atomic::AtomicU32;
use super::Instant;

/// How a [`wait`] ended. Neither outcome says anything about the word: the
/// caller must re-read it.
#[must_use = "a futex wait may end spuriously; re-check the state word"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// Woken, spuriously woken, or the word no longer held the expected value.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Sleeps while `word == expected`, until woken or until `deadline` passes.
///
/// `deadline: None` waits without limit. A deadline that has already passed
/// returns [`WaitOutcome::TimedOut`] at once, without a system call.
#[inline]
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> WaitOutcome {
    match deadline {
        None => backend::wait(word, expected, None),
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !cfg!(loom) {
                return WaitOutcome::TimedOut;
            }
            backend::wait(word, expected, Some(left))
        }
    }
}

/// Wakes every thread sleeping in [`wait`] on `word`.
///
/// `word` is only used as an address; it may dangle.
#[inline]
pub(crate) fn wake_all(word: *const AtomicU32) {
    backend::wake_all(word);
}

/// Wakes at least one thread sleeping in [`wait`] on `word`, if any.
///
/// `word` is only used as an address; it may dangle.
#[inline]
pub(crate) fn wake_one(word: *const AtomicU32) {
    backend::wake_one(word);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{AtomicU32, WaitOutcome};

    type WaitFn = fn(&AtomicU32, u32, Option<Duration>) -> WaitOutcome;
    type WakeFn = fn(*const AtomicU32);

    fn backends() -> Vec<(&'static str, WaitFn, WakeFn, WakeFn)> {
        let mut all: Vec<(&'static str, WaitFn, WakeFn, WakeFn)> = vec![(
            "emulated (parking lot)",
            super::emulated::wait,
            super::emulated::wake_all,
            super::emulated::wake_one,
        )];
        #[cfg(any(target_os = "linux", target_os = "android"))]
        all.push((
            "linux",
            super::linux::wait,
            super::linux::wake_all,
            super::linux::wake_one,
        ));
        all
    }

    #[test]
    fn mismatch_returns_at_once() {
        for (name, wait, _, _) in backends() {
            let word = AtomicU32::new(1);
            let start = Instant::now();
            assert_eq!(wait(&word, 0, None), WaitOutcome::Woken, "{name}");
            assert!(start.elapsed() < Duration::from_secs(5), "{name}");
        }
    }

    #[test]
    fn timeout_expires() {
        for (name, wait, _, _) in backends() {
            let word = AtomicU32::new(0);
            let start = Instant::now();
            // A spurious wake-up is allowed; loop until the deadline like a caller.
            let deadline = start + Duration::from_millis(20);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if wait(&word, 0, Some(left)) == WaitOutcome::TimedOut {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{name}: no timeout"
                );
            }
            assert!(start.elapsed() >= Duration::from_millis(20), "{name}");
        }
    }

    #[test]
    fn wake_releases_sleeper() {
        for (name, wait, wake_all, wake_one) in backends() {
            for wake in [wake_all, wake_one] {
                let word = Arc::new(AtomicU32::new(0));
                let sleeper = {
                    let word = Arc::clone(&word);
                    std::thread::spawn(move || {
                        while word.load(Acquire) == 0 {
                            let _ = wait(&word, 0, Some(Duration::from_secs(10)));
                        }
                    })
                };
                std::thread::sleep(Duration::from_millis(10));
                let start = Instant::now();
                word.store(1, Release);
                wake(&*word);
                sleeper.join().unwrap();
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{name}: wake lost"
                );
            }
        }
    }

    #[test]
    fn wake_without_sleepers_and_on_dead_address() {
        for (_, _, wake_all, wake_one) in backends() {
            let word = Box::new(AtomicU32::new(0));
            let addr: *const AtomicU32 = &*word;
            wake_all(addr);
            drop(word);
            // The address is dead now: waking it must be harmless.
            wake_one(addr);
            wake_all(addr);
        }
    }

    #[test]
    fn public_wait_with_past_deadline_does_not_sleep() {
        let word = AtomicU32::new(0);
        let past = super::Instant::now();
        assert_eq!(super::wait(&word, 0, Some(past)), WaitOutcome::TimedOut);
    }
}
