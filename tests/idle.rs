//! Idle CPU: alone in its own test binary, so the process's CPU time is the
//! pool's.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{with_timeout, LIMIT};
use stealpool::ThreadPool;

#[test]
fn idle_pool_uses_no_cpu_and_wakes_promptly() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        pool.submit(|| ()).join().unwrap();
        thread::sleep(Duration::from_millis(50)); // past the idle spin
        let cpu_before = common::process_cpu();
        thread::sleep(Duration::from_millis(500));
        if let (Some(before), Some(after)) = (cpu_before, common::process_cpu()) {
            let used = after.saturating_sub(before);
            // Well under 1% of a core: 5 ms per 500 ms, generously.
            assert!(
                used < Duration::from_millis(5),
                "idle pool used {used:?} of CPU in 500 ms"
            );
        }
        assert_eq!(pool.stats().parked, 2);
        let start = Instant::now();
        let started_at = pool.submit(Instant::now).join().unwrap();
        assert!(
            started_at.duration_since(start) < Duration::from_millis(500),
            "slow wake-up"
        );
    });
}
