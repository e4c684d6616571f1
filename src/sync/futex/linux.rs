//! The Linux `futex(2)` backend: the wait through rustix, the wake by address.

use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

use super::WaitOutcome;
use crate::sync::atomic::AtomicU32;

/// `FUTEX_WAIT` on `word`, for at most `timeout` (relative, `CLOCK_MONOTONIC`).
///
/// rustix passes the timeout as the kernel's 64-bit `timespec` (on 32-bit
/// targets too, where it uses `futex_time64`), so no range is lost.
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let timespec = timeout.map(|left| futex::Timespec {
        // Saturate instead of wrapping: `Duration::MAX` must mean "very long".
        tv_sec: futex::Secs::try_from(left.as_secs()).unwrap_or(futex::Secs::MAX),
        // Below 10^9: fits `Nsecs` (an `i64`, or a `c_long` on some libc targets).
        tv_nsec: left.subsec_nanos() as futex::Nsecs,
    });
    match futex::wait(word, futex::Flags::PRIVATE, expected, timespec.as_ref()) {
        Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
        // Ok (woken, maybe spuriously), EAGAIN (the word had changed) or EINTR.
        _ => WaitOutcome::Woken,
    }
}

/// `FUTEX_WAKE` up to `count` sleepers on the address `word`.
///
/// This one call stays a raw system call. rustix's `futex::wake` takes a
/// `&AtomicU32`, and a latch's setter wakes an address whose owner may have
/// freed the word already (the layer's contract, `super`): making a
/// reference to freed memory is undefined behaviour even if nothing reads
/// through it, while the kernel only hashes the address.
fn wake(word: *const AtomicU32, count: i32) {
    // SAFETY: FUTEX_WAKE never dereferences `word` in user space: the kernel
    // hashes the address and wakes sleepers keyed on it; a dead or unmapped
    // address wakes nobody (or returns EFAULT, which is harmless here). The
    // other arguments are plain integers.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            count,
        );
    }
}

/// `FUTEX_WAKE` every sleeper on `word`.
pub(super) fn wake_all(word: *const AtomicU32) {
    wake(word, i32::MAX);
}

/// `FUTEX_WAKE` one sleeper on `word`.
pub(super) fn wake_one(word: *const AtomicU32) {
    wake(word, 1);
}
