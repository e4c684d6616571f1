//! Counts heap allocations: a `submit` followed by a blocking `join` makes
//! exactly one (the task's shared allocation); a wait allocates nothing.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{count, Counting};
use stealpool::ThreadPool;

#[global_allocator]
static GLOBAL: Counting = Counting;

// One test function: the counter is global, so the scenarios run in turn.
#[test]
fn allocations_per_task() {
    let pool = ThreadPool::new(2).unwrap();
    // Warm up: the workers' deques, the injector's blocks, thread-locals.
    for _ in 0..10_000 {
        pool.submit(|| 1_u64).join().unwrap();
    }

    const N: usize = 1_000;
    // submit + join, one at a time (the task runs on a worker; the caller
    // spins, then parks on the futex inside the task).
    let allocs = count(|| {
        for i in 0..N {
            assert_eq!(pool.submit(move || i).join().unwrap(), i);
        }
    });
    // The injector allocates a block per 63 pushes; allow for that.
    assert!(
        allocs <= N + N / 63 + 2,
        "submit + join: {allocs} allocations for {N} tasks (expected about one each)"
    );
    assert!(allocs >= N, "each task is one allocation: {allocs} for {N}");

    // A task that takes long enough that the waiter parks: still no extra.
    let allocs = count(|| {
        let task = pool.submit(|| std::thread::sleep(std::time::Duration::from_millis(20)));
        task.join().unwrap();
    });
    assert!(allocs <= 2, "a parked join allocated: {allocs}");

    // wait / wait_timeout / is_done allocate nothing.
    let task = pool.submit(|| 7);
    let allocs = count(|| {
        task.wait();
        assert!(task.wait_timeout(std::time::Duration::from_secs(1)));
        assert!(task.is_done());
    });
    assert_eq!(allocs, 0, "waiting allocated");
    assert_eq!(task.join().unwrap(), 7);

    // join on a worker: `b` lives on the caller's stack; no allocation.
    fn fib(n: u32) -> u64 {
        if n < 2 {
            return u64::from(n);
        }
        let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
        a + b
    }
    pool.install(|| fib(20)); // warm up: the deques reach their working size
    let allocs = count(|| {
        pool.install(|| {
            for _ in 0..10 {
                assert_eq!(fib(20), 6765);
            }
        });
    });
    // 10 × fib(20) is ~218 000 joins; a deque that grows once may allocate.
    assert!(
        allocs <= 4,
        "join allocated: {allocs} allocations for ~218 000 joins"
    );

    // as_completed with a deadline over 6 000 tasks (issue 12): the task and
    // its one `on_done` callback each, and nothing per wake-up; the guide's
    // old workaround, a `wait` loop, made 233k allocations here.
    const M: usize = 6_000;
    let allocs = count(|| {
        let tasks: Vec<_> = (0..M).map(|i| pool.submit(move || i)).collect();
        let at = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let sum: usize = stealpool::as_completed(tasks)
            .deadline(at)
            .map(|(_, r)| r.unwrap())
            .sum();
        assert_eq!(sum, M * (M - 1) / 2);
    });
    assert!(
        allocs <= 4 * M,
        "as_completed with a deadline: {allocs} allocations for {M} tasks"
    );
}
