//! The Linux `futex(2)` backend.

use std::ptr;
use std::time::Duration;

use super::WaitOutcome;
use crate::sync::atomic::AtomicU32;

/// `FUTEX_WAIT` on `word`, for at most `timeout` (relative, `CLOCK_MONOTONIC`).
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
    let timespec = timeout.map(|left| libc::timespec {
        // Saturate instead of wrapping: `Duration::MAX` must mean "very long".
        tv_sec: left.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: left.subsec_nanos() as _,
    });
    let timespec_ptr = timespec
        .as_ref()
        .map_or(ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call (we hold
    // a reference), which is all FUTEX_WAIT reads; the timespec pointer is null
    // or points at `timespec`, alive until the call returns. The other two
    // arguments are unused by FUTEX_WAIT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            timespec_ptr,
            ptr::null::<u32>(),
            0u32,
        )
    };
    if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        WaitOutcome::TimedOut
    } else {
        // 0 (woken, maybe spuriously), EAGAIN (the word had changed) or EINTR.
        WaitOutcome::Woken
    }
}

fn wake(word: *const AtomicU32, count: i32) {
    // SAFETY: FUTEX_WAKE never dereferences `word` in user space: the kernel
    // hashes the address and wakes sleepers keyed on it; a dead or unmapped
    // address wakes nobody (or returns EFAULT, which is harmless here).
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
