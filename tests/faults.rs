//! Scheduler faults: concurrent shutdowns from workers, panics in `Drop`
//! of values a worker drops, unwinding through `join`/`scope` while a thief
//! still runs a borrowed job, `Scope::spawn` during shutdown, a `join`
//! waiter that sleeps through new work, cross-pool waits, and `shutdown`
//! called from a job another worker waits on.
//!
//! Every test forces its interleaving with gates (events, barriers,
//! channels); every blocking body runs under a timeout guard, so a hang is a
//! failure, not a stalled run.

mod common;

use std::any::Any;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::with_timeout;
use stealpool::{Event, ThreadPool};

/// The guard on every blocking test body.
const GUARD: Duration = Duration::from_secs(30);

/// How long a test waits for something that happens at once on a healthy
/// pool (a job being stolen, the panic handler being called). Generous: under
/// ThreadSanitizer the first unwind of the process alone takes about 5 s.
const PROMPTLY: Duration = Duration::from_secs(15);

/// How long `a` of a `join` waits for `b` to be stolen before it gives up
/// on this attempt (joins are lazy: `b` is shared only when asked).
const STEAL_BOUND: Duration = Duration::from_secs(2);

/// How many times a scenario that needs a stolen `join` half is tried.
const ATTEMPTS: usize = 3;

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("bomb: Drop panicked");
    }
}

/// The text of a panic payload (or a name for a `Bomb` payload).
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else if payload.is::<Bomb>() {
        "Bomb payload".to_owned()
    } else {
        "<payload of another type>".to_owned()
    }
}

/// What a pool's panic handler received.
#[derive(Default)]
struct Reports {
    /// Each payload's text, in arrival order.
    messages: Mutex<Vec<String>>,
    /// Set on every report.
    arrived: Event,
}

impl Reports {
    /// Records `payload` (the handler then drops it).
    fn record(&self, payload: &(dyn Any + Send)) {
        self.messages.lock().unwrap().push(message(payload));
        self.arrived.set();
    }

    /// Whether a report containing `needle` arrives within `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.arrived.clear();
            if self.has(needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.arrived.wait_timeout(left);
        }
    }

    /// Whether a report containing `needle` has arrived.
    fn has(&self, needle: &str) -> bool {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains(needle))
    }
}

/// The Drop panic reached the panic handler, and the pool (leaked on
/// failure, see the callers) still runs tasks and drops cleanly.
fn assert_reported_and_serving(reports: &Reports, pool: ManuallyDrop<ThreadPool>) {
    assert!(
        reports.wait_for("bomb", PROMPTLY),
        "the panic handler never got the Drop panic"
    );
    assert_still_runs(&pool);
    drop(ManuallyDrop::into_inner(pool));
}

/// A pool of `threads` workers whose panic handler records into the
/// returned `Reports`.
fn pool_with_reports(threads: usize) -> (ThreadPool, Arc<Reports>) {
    let reports = Arc::new(Reports::default());
    let pool = ThreadPool::builder()
        .num_threads(threads)
        .panic_handler({
            let reports = Arc::clone(&reports);
            move |payload| reports.record(&*payload)
        })
        .build()
        .unwrap();
    (pool, reports)
}

/// Called in `a` of a `join` on a worker: waits (at most `STEAL_BOUND`)
/// until `b` has started elsewhere, which, since `a` blocks its worker,
/// means a sibling stole it. Meanwhile it runs empty nested joins, each of
/// which re-reads the "a sibling asked for work" flag and shares the oldest
/// pending half — `b` — if it was asked.
fn wait_until_stolen(b_started: &Event) -> bool {
    let deadline = Instant::now() + STEAL_BOUND;
    while Instant::now() < deadline {
        if b_started.wait_timeout(Duration::from_millis(1)) {
            return true;
        }
        stealpool::join(|| (), || ());
    }
    b_started.is_set()
}

/// Asserts that `pool` still runs work: a task submitted now finishes
/// promptly (a dead worker makes this fail instead of hang).
fn assert_still_runs(pool: &ThreadPool) {
    let task = pool.submit(|| 42);
    assert!(
        task.wait_timeout(PROMPTLY),
        "the pool no longer runs tasks: its worker died"
    );
    assert_eq!(task.join().unwrap(), 42);
}

/// After a test's pool went through a shutdown: another one from outside
/// returns, and `submit` is rejected.
fn assert_shut_down(pool: &ThreadPool) {
    pool.shutdown();
    let err = pool.submit(|| ()).join().unwrap_err();
    assert!(err.is_rejected(), "submit after shutdown: {err}");
}

// ---------------------------------------------------------------------------
// 1. Two workers call `shutdown()` at once.
// ---------------------------------------------------------------------------

/// Failure 1a: two tasks running side by side on a two-thread pool both call
/// `pool.shutdown()`; each drained, then joined the other's thread (hang).
/// Fixed: both calls return, both tasks finish, a later outside `shutdown`
/// returns and `submit` is rejected.
#[test]
fn two_tasks_call_shutdown_at_once() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let both_running = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let pool2 = Arc::clone(&pool);
                let both_running = Arc::clone(&both_running);
                pool.submit(move || {
                    both_running.wait();
                    pool2.shutdown();
                    i
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.join().unwrap(), i);
        }
        assert_shut_down(&pool);
    });
}

/// Failure 1b: two `on_done` callbacks, each on the worker that completes
/// its task, both call `pool.shutdown()` (hang, as in 1a). Fixed: both
/// callbacks' calls return, the tasks finish, a later outside `shutdown`
/// returns and `submit` is rejected.
#[test]
fn two_on_done_callbacks_call_shutdown_at_once() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let both_running = Arc::new(Barrier::new(2));
        let go = Arc::new(Event::new());
        let (returned_tx, returned_rx) = mpsc::channel();
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let both_running = Arc::clone(&both_running);
                let go = Arc::clone(&go);
                // Both tasks run at once (so on different workers) and end
                // only once their callbacks are in place.
                let task = pool.submit(move || {
                    both_running.wait();
                    go.wait();
                    i
                });
                let pool2 = Arc::clone(&pool);
                let returned_tx = returned_tx.clone();
                task.on_done(move |_| {
                    pool2.shutdown();
                    returned_tx.send(i).unwrap();
                });
                task
            })
            .collect();
        go.set();
        let mut returned = [returned_rx.recv().unwrap(), returned_rx.recv().unwrap()];
        returned.sort_unstable();
        assert_eq!(returned, [0, 1]);
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.join().unwrap(), i);
        }
        assert_shut_down(&pool);
    });
}

/// Failure 1c: the last two `Arc<ThreadPool>`s are dropped by two tasks
/// running side by side on the pool's two workers. Only the last drop runs
/// `shutdown()` (on a worker, with a sibling still finishing its task).
/// Fixed: both tasks finish and the pool's drop returns. (It passed before the fix too:
/// only one of two `Arc` drops can be the last, so only one shutdown runs;
/// two concurrent worker-side shutdowns are 1a and 1b.)
#[test]
fn last_two_handles_dropped_on_two_workers_at_once() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let both_running = Arc::new(Barrier::new(3));
        let drop_now = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let mine = Arc::clone(&pool);
                let both_running = Arc::clone(&both_running);
                let drop_now = Arc::clone(&drop_now);
                pool.submit(move || {
                    both_running.wait();
                    drop_now.wait();
                    drop(mine);
                    i
                })
            })
            .collect();
        both_running.wait();
        // The two tasks now hold the only handles.
        drop(pool);
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.join().unwrap(), i);
        }
    });
}

// ---------------------------------------------------------------------------
// 2. A panic in `Drop` of something a worker drops.
// ---------------------------------------------------------------------------

/// Failure 2 (result): a detached `submit` whose value's `Drop` panics; the
/// worker holds the last reference and the panic killed it. Fixed: the
/// panic handler gets the payload, the one-thread pool runs later tasks,
/// and dropping the pool returns.
#[test]
fn detached_result_whose_drop_panics_keeps_the_worker() {
    with_timeout(GUARD, || {
        let (pool, reports) = pool_with_reports(1);
        // Leaked if an assertion fails: a pool whose worker died would hang
        // in its drop and hide the failure behind the timeout.
        let pool = ManuallyDrop::new(pool);
        let gate = Arc::new(Event::new());
        let task = pool.submit({
            let gate = Arc::clone(&gate);
            move || {
                gate.wait();
                Bomb
            }
        });
        drop(task); // detached before it runs: the worker drops the Bomb
        gate.set();
        assert_reported_and_serving(&reports, pool);
    });
}

/// Failure 2 (spawn payload): a `spawn` that panics with a payload whose own
/// `Drop` panics, on a pool with a panic handler (which drops the payload)
/// and on one without (where the worker drops it, and before the fix died). Fixed:
/// on both pools the worker survives, later work runs and the drop returns.
#[test]
fn spawn_panic_payload_whose_drop_panics_keeps_the_worker() {
    with_timeout(GUARD, || {
        // With a handler: it receives the Bomb and drops it itself.
        // (Pools are leaked if an assertion fails, as above.)
        let (pool, reports) = pool_with_reports(1);
        let pool = ManuallyDrop::new(pool);
        pool.spawn(|| std::panic::panic_any(Bomb));
        assert!(
            reports.wait_for("Bomb payload", PROMPTLY),
            "the panic handler never got the spawn's payload"
        );
        assert_still_runs(&pool);
        drop(ManuallyDrop::into_inner(pool));

        // Without a handler: the worker drops the payload.
        let pool = ManuallyDrop::new(ThreadPool::new(1).unwrap());
        pool.spawn(|| std::panic::panic_any(Bomb));
        assert_still_runs(&pool);
        let ran = Arc::new(AtomicBool::new(false));
        pool.spawn({
            let ran = Arc::clone(&ran);
            move || ran.store(true, SeqCst)
        });
        drop(ManuallyDrop::into_inner(pool));
        assert!(ran.load(SeqCst), "a spawn queued before the drop never ran");
    });
}

/// Failure 2 (task payload): a detached `submit` that panics with a payload
/// whose `Drop` panics; the worker drops the task's error (the last
/// reference) and before the fix died. Fixed: the handler gets the Drop panic, later
/// tasks run, the drop returns.
#[test]
fn detached_task_panic_payload_whose_drop_panics_keeps_the_worker() {
    with_timeout(GUARD, || {
        let (pool, reports) = pool_with_reports(1);
        let pool = ManuallyDrop::new(pool); // leaked on failure, as above
        let gate = Arc::new(Event::new());
        let task = pool.submit({
            let gate = Arc::clone(&gate);
            move || {
                gate.wait();
                std::panic::panic_any(Bomb)
            }
        });
        drop(task); // detached: the worker drops the error and its payload
        gate.set();
        assert_reported_and_serving(&reports, pool);
    });
}

// ---------------------------------------------------------------------------
// 3. Unwinding through `scope`/`join` while a thief runs a borrowed job.
// ---------------------------------------------------------------------------

/// Failure 3 (scope): the scope's owner, waiting for job S that worker 1
/// stole (S borrows from outside the scope), runs a detached task D from its
/// own deque; D opens S's gate and returns a value whose `Drop` panics.
/// Before the fix, the panic unwinds out of `scope` while S still runs (unsound).
/// Fixed: `scope`/`install` return normally, S had finished by then, and the
/// panic handler got the Drop panic.
#[test]
fn drop_panic_while_scope_waits_for_a_stolen_job() {
    with_timeout(GUARD, || {
        let (pool, reports) = pool_with_reports(2);
        let borrowed = AtomicUsize::new(0);
        let s_finished = AtomicBool::new(false);
        let s_started = Event::new();
        let gate = Arc::new(Event::new());
        let outcome = pool.install(|| {
            let stolen = pool.scope(|s| {
                s.spawn(|| {
                    s_started.set();
                    gate.wait();
                    borrowed.store(7, SeqCst);
                    s_finished.store(true, SeqCst);
                });
                // This worker blocks here, so S can only start on worker 1.
                if !s_started.wait_timeout(PROMPTLY) {
                    gate.set();
                    return false;
                }
                // From a worker: onto this worker's own deque, which the
                // owner pops while it waits for the scope.
                drop(stealpool::submit({
                    let gate = Arc::clone(&gate);
                    move || {
                        gate.set();
                        Bomb
                    }
                }));
                true
            });
            (stolen, s_finished.load(SeqCst))
        });
        assert!(outcome.0, "job S was never stolen by the idle worker");
        assert!(outcome.1, "scope returned before its stolen job finished");
        assert_eq!(borrowed.load(SeqCst), 7);
        assert!(
            reports.wait_for("bomb", PROMPTLY),
            "the panic handler never got the Drop panic"
        );
    });
}

/// Failure 3 (join): as the scope case, with `join(a, b)`: `b` (borrowing
/// from the caller) is stolen by worker 1 and waits at a gate; `a` submits
/// the detached bomb task D (which opens the gate) and returns; the owner
/// pops D while it waits for `b`. Before the fix the Drop panic unwinds out of `join`
/// while `b` still runs. Fixed: `join` returns normally after `b` finished,
/// and the panic handler got the Drop panic.
#[test]
fn drop_panic_while_join_waits_for_a_stolen_half() {
    with_timeout(GUARD, || {
        for _ in 0..ATTEMPTS {
            let (pool, reports) = pool_with_reports(2);
            let borrowed = AtomicUsize::new(0);
            let b_finished = AtomicBool::new(false);
            let b_started = Event::new();
            let gate = Arc::new(Event::new());
            let (stolen, finished) = pool.install(|| {
                let (stolen, ()) = pool.join(
                    || {
                        if !wait_until_stolen(&b_started) {
                            gate.set(); // `b` runs here after `a`: let it through
                            return false;
                        }
                        drop(stealpool::submit({
                            let gate = Arc::clone(&gate);
                            move || {
                                gate.set();
                                Bomb
                            }
                        }));
                        true
                    },
                    || {
                        b_started.set();
                        gate.wait();
                        borrowed.store(9, SeqCst);
                        b_finished.store(true, SeqCst);
                    },
                );
                (stolen, b_finished.load(SeqCst))
            });
            if !stolen {
                continue;
            }
            assert!(finished, "join returned before its stolen half finished");
            assert_eq!(borrowed.load(SeqCst), 9);
            assert!(
                reports.wait_for("bomb", PROMPTLY),
                "the panic handler never got the Drop panic"
            );
            return;
        }
        panic!("b was never stolen in {ATTEMPTS} attempts");
    });
}

// ---------------------------------------------------------------------------
// 4. `Scope::spawn` from outside the pool while the pool shuts down.
// ---------------------------------------------------------------------------

/// Failure 4: inside a live scope, a thread outside the pool calls
/// `Scope::spawn` after another thread began `shutdown()`; before the fix the
/// spawn's inject is refused and hits `unreachable!`. Fixed: the spawned job
/// runs before the scope returns, and the scope and the shutdown both
/// return.
#[test]
fn scope_spawn_from_outside_thread_after_shutdown_began() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let in_scope = Arc::new(Event::new());
        let installer = thread::spawn({
            let pool = Arc::clone(&pool);
            let in_scope = Arc::clone(&in_scope);
            move || {
                let ran = AtomicBool::new(false);
                pool.install(|| {
                    pool.scope(|s| {
                        in_scope.set();
                        thread::scope(|t| {
                            t.spawn(|| {
                                // Shutdown has begun once submit is rejected.
                                while !pool.submit(|| ()).join().is_err_and(|e| e.is_rejected()) {
                                    thread::yield_now();
                                }
                                s.spawn(|| ran.store(true, SeqCst));
                            });
                        });
                    });
                });
                ran.load(SeqCst)
            }
        });
        in_scope.wait();
        let shutter = thread::spawn({
            let pool = Arc::clone(&pool);
            move || pool.shutdown()
        });
        let ran = installer.join().expect("install/scope panicked");
        assert!(ran, "the scope returned without running its spawn");
        shutter.join().expect("shutdown panicked");
        assert_shut_down(&pool);
    });
}

// ---------------------------------------------------------------------------
// 5. A `join` waiter sleeps outside the sleep protocol.
// ---------------------------------------------------------------------------

/// Failure 5: worker 0 waits in `join` for `b`, which worker 1 stole and
/// which waits for event E; once worker 0 is asleep, an outside thread
/// `spawn`s the job that sets E. Before the fix the job sits in the injector and
/// nobody wakes for it: hang. Fixed: a worker waiting for a stolen half
/// wakes for new work, runs the job, and `join` returns.
#[test]
fn join_waiting_for_a_stolen_half_wakes_for_new_work() {
    with_timeout(GUARD, || {
        for _ in 0..ATTEMPTS {
            let pool = Arc::new(ThreadPool::new(2).unwrap());
            let b_started = Arc::new(Event::new());
            let release = Arc::new(Event::new());
            let spawner = thread::spawn({
                let pool = Arc::clone(&pool);
                let b_started = Arc::clone(&b_started);
                let release = Arc::clone(&release);
                move || {
                    b_started.wait();
                    // No gate shows that worker 0 is asleep in its join:
                    // give it a moment to get there.
                    thread::sleep(Duration::from_millis(20));
                    pool.spawn(move || release.set());
                }
            });
            let (stolen, ()) = pool.install(|| {
                pool.join(
                    || wait_until_stolen(&b_started),
                    || {
                        b_started.set();
                        release.wait();
                    },
                )
            });
            spawner.join().unwrap();
            if stolen {
                return;
            }
        }
        panic!("b was never stolen in {ATTEMPTS} attempts");
    });
}

// ---------------------------------------------------------------------------
// 7. Waits across pools.
// ---------------------------------------------------------------------------

/// Two pools of one thread each.
fn two_single_thread_pools() -> (ThreadPool, ThreadPool) {
    (ThreadPool::new(1).unwrap(), ThreadPool::new(1).unwrap())
}

/// Failure 7a: A's only worker blocks in `b.install`, whose closure waits on
/// a task of A: before the fix nobody ran it (deadlock). Fixed: the waiting worker
/// of A helps its own pool; the value comes back.
#[test]
fn cross_pool_install_waits_on_a_task_of_the_outer_pool() {
    with_timeout(GUARD, || {
        let (a, b) = two_single_thread_pools();
        let value = a.install(|| b.install(|| a.submit(|| 7).join().unwrap()));
        assert_eq!(value, 7);
    });
}

/// Failure 7b: as 7a, through `b.join`: both halves wait on tasks of A.
/// Fixed: both values come back.
#[test]
fn cross_pool_join_waits_on_tasks_of_the_outer_pool() {
    with_timeout(GUARD, || {
        let (a, b) = two_single_thread_pools();
        let pair = a.install(|| {
            b.join(
                || a.submit(|| 7).join().unwrap(),
                || a.submit(|| 8).join().unwrap(),
            )
        });
        assert_eq!(pair, (7, 8));
    });
}

/// Failure 7c: as 7a, through `b.scope`: a spawned job waits on a task of A.
/// Fixed: the job gets the value and the scope returns.
#[test]
fn cross_pool_scope_waits_on_a_task_of_the_outer_pool() {
    with_timeout(GUARD, || {
        let (a, b) = two_single_thread_pools();
        let got = AtomicUsize::new(0);
        a.install(|| {
            b.scope(|s| {
                s.spawn(|| got.store(a.submit(|| 7).join().unwrap(), SeqCst));
            });
        });
        assert_eq!(got.load(SeqCst), 7);
    });
}

/// Failure 7d: rayon's `mutual_install`: `a.install(|| b.install(||
/// a.install(|| 42)))`; before the fix A's only worker blocks in `b.install` and the
/// inner `a.install` is never run. Fixed: 42.
#[test]
fn mutual_install() {
    with_timeout(GUARD, || {
        let (a, b) = two_single_thread_pools();
        assert_eq!(a.install(|| b.install(|| a.install(|| 42))), 42);
    });
}

/// Failure 7d: rayon's `mutual_install_sleepy`: as `mutual_install`, but
/// the inner closure first sleeps so that A's waiting worker is asleep when
/// the job arrives. Fixed: 42.
#[test]
fn mutual_install_sleepy() {
    with_timeout(GUARD, || {
        let (a, b) = two_single_thread_pools();
        let value = a.install(|| {
            b.install(|| {
                // Let A's worker fall asleep in its wait first.
                thread::sleep(Duration::from_millis(50));
                a.install(|| 42)
            })
        });
        assert_eq!(value, 42);
    });
}

// ---------------------------------------------------------------------------
// 9. `shutdown()` from a job another worker waits on.
// ---------------------------------------------------------------------------

/// Failure 9a: `b` of a `join`, stolen by worker 1, calls `pool.shutdown()`
/// while worker 0 waits in the `join` for it; before the fix the shutdown waits for
/// worker 0 to leave, which waits for `b`: hang. Fixed: `shutdown()`
/// returns without waiting for the worker that waits on the caller's own
/// job, the `join` returns, and a later outside `shutdown` returns.
#[test]
fn shutdown_from_a_stolen_join_half() {
    with_timeout(GUARD, || {
        for _ in 0..ATTEMPTS {
            let pool = Arc::new(ThreadPool::new(2).unwrap());
            let b_started = Event::new();
            let b_returned = AtomicBool::new(false);
            let (stolen, ()) = pool.install(|| {
                pool.join(
                    || wait_until_stolen(&b_started),
                    || {
                        b_started.set();
                        pool.shutdown();
                        b_returned.store(true, SeqCst);
                    },
                )
            });
            assert!(b_returned.load(SeqCst));
            assert_shut_down(&pool);
            if stolen {
                return;
            }
        }
        panic!("b was never stolen in {ATTEMPTS} attempts");
    });
}

/// Failure 9b: a scope job, stolen by worker 1, calls `pool.shutdown()`
/// while the scope's owner (worker 0) waits for it: it hung before the fix. Fixed: the
/// shutdown returns, the scope returns, a later outside `shutdown` returns.
#[test]
fn shutdown_from_a_stolen_scope_job() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let started = Event::new();
        let returned = AtomicBool::new(false);
        let stolen = pool.install(|| {
            pool.scope(|s| {
                s.spawn(|| {
                    started.set();
                    pool.shutdown();
                    returned.store(true, SeqCst);
                });
                // This worker blocks here, so the job can only start on
                // worker 1.
                started.wait_timeout(PROMPTLY)
            })
        });
        assert!(stolen, "the scope job was never stolen by the idle worker");
        assert!(returned.load(SeqCst));
        assert_shut_down(&pool);
    });
}

/// Failure 9c: task X (worker 0) joins task Y, already running on worker 1,
/// and Y calls `pool.shutdown()`: the shutdown waits for worker 0, which
/// waits for Y: it hung before the fix. Fixed: the shutdown returns, Y and X finish, a
/// later outside `shutdown` returns.
#[test]
fn shutdown_from_a_task_that_another_task_joins() {
    with_timeout(GUARD, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let x = pool.submit({
            let pool = Arc::clone(&pool);
            move || {
                let y_started = Arc::new(Event::new());
                let y = stealpool::submit({
                    let y_started = Arc::clone(&y_started);
                    move || {
                        y_started.set();
                        pool.shutdown();
                        5
                    }
                });
                // X blocks its worker here, so Y can only start on the other
                // one; once it runs, `join` cannot run it inline.
                let stolen = y_started.wait_timeout(PROMPTLY);
                (stolen, y.join().unwrap())
            }
        });
        let (stolen, y) = x.join().unwrap();
        assert!(stolen, "task Y was never stolen by the idle worker");
        assert_eq!(y, 5);
        assert_shut_down(&pool);
    });
}
