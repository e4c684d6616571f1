//! ThreadPool: builder, submission, install, map, panics, shutdown, the
//! global pool. Every blocking test runs under a timeout guard.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{with_timeout, LIMIT};
use stealpool::{Event, Task, ThreadPool};

fn assert_send_sync<T: Send + Sync>() {}

/// Submits `n` short tasks that each report `probe()` from their worker,
/// and collects the distinct answers (all tasks are in flight at once, so
/// every worker gets some).
fn ask_workers<T>(pool: &ThreadPool, n: usize, probe: fn() -> T) -> HashSet<T>
where
    T: std::hash::Hash + Eq + Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(1));
                probe()
            })
        })
        .collect();
    tasks.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn pool_is_send_and_sync() {
    assert_send_sync::<ThreadPool>();
}

#[test]
fn zero_threads_is_a_build_error() {
    let err = ThreadPool::new(0).unwrap_err();
    assert!(err.to_string().contains("at least one thread"), "{err}");
    let err = ThreadPool::builder().num_threads(0).build().unwrap_err();
    let _: &(dyn std::error::Error + Send + Sync) = &err;
}

#[test]
fn default_threads_is_available_parallelism() {
    let pool = ThreadPool::builder().build().unwrap();
    assert_eq!(
        pool.num_threads(),
        thread::available_parallelism().unwrap().get()
    );
}

#[test]
fn spawn_failure_is_a_build_error_and_leaves_no_thread() {
    with_timeout(LIMIT, || {
        let started = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicUsize::new(0));
        // A stack no OS can map makes thread creation fail.
        let result = ThreadPool::builder()
            .num_threads(2)
            .stack_size(usize::MAX / 2)
            .on_thread_start({
                let started = Arc::clone(&started);
                move |_| {
                    started.fetch_add(1, SeqCst);
                }
            })
            .on_thread_stop({
                let stopped = Arc::clone(&stopped);
                move |_| {
                    stopped.fetch_add(1, SeqCst);
                }
            })
            .build();
        let err = result.unwrap_err();
        assert!(err.to_string().contains("refused to start"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(started.load(SeqCst), stopped.load(SeqCst));
    });
}

#[test]
fn panicking_start_hook_is_a_build_error_and_stops_the_others() {
    with_timeout(LIMIT, || {
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let err = ThreadPool::builder()
            .num_threads(4)
            .on_thread_start(|i| {
                if i == 2 {
                    panic!("no config for worker {i}");
                }
            })
            .on_thread_stop({
                let stopped = Arc::clone(&stopped);
                move |i| stopped.lock().unwrap().push(i)
            })
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("no config for worker 2"), "{err}");
        let mut stopped = stopped.lock().unwrap().clone();
        stopped.sort_unstable();
        assert_eq!(
            stopped,
            [0, 1, 3],
            "started workers stop, and run their stop hook"
        );
    });
}

#[test]
fn start_hooks_run_before_any_task_and_names_apply() {
    with_timeout(LIMIT, || {
        let started = Arc::new(Mutex::new(HashSet::new()));
        let pool = ThreadPool::builder()
            .num_threads(3)
            .thread_name(|i| format!("special-{i}"))
            .on_thread_start({
                let started = Arc::clone(&started);
                move |i| {
                    started.lock().unwrap().insert(i);
                }
            })
            .build()
            .unwrap();
        assert_eq!(
            started.lock().unwrap().len(),
            3,
            "build returns after every start hook"
        );
        let names = ask_workers(&pool, 30, || thread::current().name().unwrap().to_string());
        assert!(names.iter().all(|n| n.starts_with("special-")), "{names:?}");
        assert_eq!(pool.thread_name(2), Some("special-2"));
    });
}

#[test]
fn default_names() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let name = pool.install(|| thread::current().name().unwrap().to_string());
        assert!(
            name == "stealpool-worker-0" || name == "stealpool-worker-1",
            "{name}"
        );
    });
}

#[test]
fn stop_hooks_run_on_shutdown() {
    with_timeout(LIMIT, || {
        let stopped = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::builder()
            .num_threads(3)
            .on_thread_stop({
                let stopped = Arc::clone(&stopped);
                move |_| {
                    stopped.fetch_add(1, SeqCst);
                }
            })
            .build()
            .unwrap();
        drop(pool);
        assert_eq!(stopped.load(SeqCst), 3);
    });
}

#[test]
fn spawn_panics_go_to_the_handler_and_workers_survive() {
    with_timeout(LIMIT, || {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let pool = ThreadPool::builder()
            .num_threads(2)
            .panic_handler(move |p| {
                tx.lock()
                    .unwrap()
                    .send(p.downcast_ref::<&str>().copied())
                    .unwrap()
            })
            .build()
            .unwrap();
        for _ in 0..10 {
            pool.spawn(|| panic!("spawned"));
        }
        for _ in 0..10 {
            assert_eq!(rx.recv().unwrap(), Some("spawned"));
        }
        // Submitted panics stay in the task, not in the handler.
        assert!(pool
            .submit(|| panic!("kept"))
            .join()
            .unwrap_err()
            .is_panic());
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        // Both workers still run tasks.
        let threads = ask_workers(&pool, 50, || thread::current().id());
        assert_eq!(threads.len(), 2);
    });
}

#[test]
fn spawn_panic_without_handler_is_ignored() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        pool.spawn(|| panic!("nobody listens"));
        assert_eq!(pool.submit(|| 1).join().unwrap(), 1);
    });
}

#[test]
fn install_borrows_blocks_and_resumes_panics() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let mut data = vec![1, 2, 3];
        pool.install(|| data.push(4));
        assert_eq!(data, [1, 2, 3, 4]);
        let on_worker = pool.install(|| pool.current_thread_index().is_some());
        assert!(on_worker);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| panic!("inside install"))
        }));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside install"));
        assert_eq!(pool.install(|| 5), 5, "the pool still works");
    });
}

#[test]
fn install_from_another_pool() {
    with_timeout(LIMIT, || {
        let a = ThreadPool::new(1).unwrap();
        let b = ThreadPool::new(1).unwrap();
        let (ia, ib) = a.install(|| {
            (
                a.current_thread_index(),
                b.install(|| b.current_thread_index()),
            )
        });
        assert_eq!((ia, ib), (Some(0), Some(0)));
    });
}

#[test]
fn map_in_order_with_errors_and_empty() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(3).unwrap();
        let out: Vec<_> = pool
            .map(0..100_u32, |x| {
                thread::sleep(Duration::from_micros(u64::from(100 - x) * 10));
                x * 2
            })
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (0..100).map(|x| x * 2).collect::<Vec<_>>());
        let mut results = pool.map([1, 0, 2], |x| {
            assert!(x != 0, "zero");
            10 / x
        });
        assert_eq!(results.len(), 3);
        assert_eq!(results.next().unwrap().unwrap(), 10);
        assert!(results.next().unwrap().unwrap_err().is_panic());
        assert_eq!(
            results.next().unwrap().unwrap(),
            5,
            "iteration continues after an error"
        );
        assert!(results.next().is_none());
        assert_eq!(pool.map(Vec::<u8>::new(), |x| x).count(), 0);
    });
}

#[test]
fn map_submits_eagerly_and_drop_cancels_unstarted() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Event::new());
        let started = Arc::new(Event::new());
        let results = pool.map(0..20, {
            let (ran, release, started) =
                (Arc::clone(&ran), Arc::clone(&release), Arc::clone(&started));
            move |_| {
                started.set();
                release.wait();
                ran.fetch_add(1, SeqCst);
            }
        });
        started.wait(); // submitted without iterating
        drop(results);
        release.set();
        pool.shutdown();
        assert_eq!(ran.load(SeqCst), 1, "only the running item ran");
    });
}

#[test]
fn many_external_threads_lose_nothing() {
    with_timeout(Duration::from_secs(120), || {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 20_000;
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..THREADS)
            .map(|t| {
                let (pool, count) = (Arc::clone(&pool), Arc::clone(&count));
                thread::spawn(move || {
                    let tasks: Vec<Task<usize>> = (0..PER_THREAD)
                        .map(|i| {
                            let count = Arc::clone(&count);
                            pool.submit(move || {
                                count.fetch_add(1, SeqCst);
                                t * PER_THREAD + i
                            })
                        })
                        .collect();
                    tasks.into_iter().map(|t| t.join().unwrap()).sum::<usize>()
                })
            })
            .collect();
        let total: usize = submitters.into_iter().map(|s| s.join().unwrap()).sum();
        let n = THREADS * PER_THREAD;
        assert_eq!(total, n * (n - 1) / 2);
        assert_eq!(count.load(SeqCst), n, "a task ran twice or not at all");
        pool.shutdown();
        assert_eq!(pool.stats().completed, n as u64);
    });
}

#[test]
fn shutdown_runs_everything_queued_and_rejects_after() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                pool.submit(move || {
                    thread::sleep(Duration::from_millis(1));
                    i
                })
            })
            .collect();
        pool.shutdown();
        for (i, t) in tasks.into_iter().enumerate() {
            assert!(t.is_done());
            assert_eq!(t.join().unwrap(), i);
        }
        pool.shutdown(); // idempotent
        pool.shutdown_now();
        let rejected = pool.submit(|| 1);
        assert!(rejected.is_done());
        let err = rejected.join().unwrap_err();
        assert!(err.is_rejected(), "{err}");
    });
}

#[test]
fn operations_after_shutdown_panic_from_outside() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        pool.shutdown();
        let msg = |r: thread::Result<()>| {
            let p = r.unwrap_err();
            p.downcast_ref::<String>()
                .cloned()
                .or(p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap()
        };
        let spawn = msg(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || pool.spawn(|| ()),
        )));
        assert!(spawn.contains("shut down"), "{spawn}");
        let install = msg(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || pool.install(|| ()),
        )));
        assert!(install.contains("shut down"), "{install}");
        let map = msg(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || {
                let _ = pool.map([1], |x| x);
            },
        )));
        assert!(map.contains("shut down"), "{map}");
    });
}

#[test]
fn shutdown_now_cancels_queued_runs_callbacks_drops_spawns() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(1).unwrap();
        let started = Arc::new(Event::new());
        let release = Arc::new(Event::new());
        let running = pool.submit({
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            move || {
                started.set();
                release.wait();
                "finished"
            }
        });
        started.wait();
        let callbacks = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..20).map(|_| pool.submit(|| ())).collect();
        for t in &queued {
            let callbacks = Arc::clone(&callbacks);
            t.on_done(move |o| {
                assert!(o.as_ref().unwrap_err().is_cancelled());
                callbacks.fetch_add(1, SeqCst);
            });
        }
        let spawned_ran = Arc::new(AtomicBool::new(false));
        let token = Arc::new(());
        pool.spawn({
            let (ran, token) = (Arc::clone(&spawned_ran), Arc::clone(&token));
            move || {
                let _keep = token;
                ran.store(true, SeqCst);
            }
        });
        let shutter = {
            let release = Arc::clone(&release);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                release.set();
            })
        };
        pool.shutdown_now();
        shutter.join().unwrap();
        assert_eq!(running.join().unwrap(), "finished", "running work finishes");
        for t in queued {
            assert!(t.is_cancelled());
        }
        assert_eq!(callbacks.load(SeqCst), 20);
        assert!(
            !spawned_ran.load(SeqCst),
            "queued spawn jobs are dropped unrun"
        );
        assert_eq!(Arc::strong_count(&token), 1, "and their closures freed");
    });
}

#[test]
fn shutdown_now_still_runs_install_work() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let release = Arc::new(Event::new());
        let blocker = pool.submit({
            let release = Arc::clone(&release);
            move || release.wait()
        });
        let installer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.install(|| 99))
        };
        thread::sleep(Duration::from_millis(50)); // the install job is queued
        let shutter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.shutdown_now())
        };
        thread::sleep(Duration::from_millis(20));
        release.set();
        assert_eq!(installer.join().unwrap(), 99);
        shutter.join().unwrap();
        blocker.join().unwrap();
    });
}

#[test]
fn shutdown_now_races_submit_nothing_lost() {
    with_timeout(Duration::from_secs(60), || {
        for _ in 0..20 {
            let pool = Arc::new(ThreadPool::new(2).unwrap());
            let submitters: Vec<_> = (0..3)
                .map(|_| {
                    let pool = Arc::clone(&pool);
                    thread::spawn(move || {
                        (0..2_000)
                            .map(|i| pool.submit(move || i))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(300));
            pool.shutdown_now();
            for s in submitters {
                for (i, task) in s.join().unwrap().into_iter().enumerate() {
                    assert!(task.is_done(), "a task was left pending after shutdown_now");
                    match task.join() {
                        Ok(v) => assert_eq!(v, i),
                        Err(e) => assert!(e.is_cancelled() || e.is_rejected(), "{e}"),
                    }
                }
            }
        }
    });
}

#[test]
fn shutdown_from_a_worker_one_thread() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let done = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Event::new());
        let first = pool.submit({
            let (pool, done, release) =
                (Arc::clone(&pool), Arc::clone(&done), Arc::clone(&release));
            move || {
                release.wait();
                pool.shutdown();
                // Everything queued behind us ran during shutdown.
                done.load(SeqCst)
            }
        });
        let queued: Vec<_> = (0..10)
            .map(|_| {
                let done = Arc::clone(&done);
                pool.submit(move || {
                    done.fetch_add(1, SeqCst);
                })
            })
            .collect();
        release.set();
        assert_eq!(first.join().unwrap(), 10);
        for t in queued {
            t.join().unwrap();
        }
        assert!(pool.submit(|| ()).join().unwrap_err().is_rejected());
        pool.shutdown(); // joins the worker that called shutdown
    });
}

#[test]
fn dropping_the_last_handle_on_a_worker() {
    with_timeout(LIMIT, || {
        let (tx, rx) = mpsc::channel();
        let pool = ThreadPool::new(2).unwrap();
        let holder = Arc::new(Mutex::new(Some(pool)));
        let pool_ref = holder.lock().unwrap();
        let pool = pool_ref.as_ref().unwrap();
        let h = Arc::clone(&holder);
        pool.spawn(move || {
            thread::sleep(Duration::from_millis(20));
            let pool = h.lock().unwrap().take().unwrap();
            drop(pool); // shutdown() on one of its own workers
            tx.send(()).unwrap();
        });
        drop(pool_ref);
        rx.recv().unwrap();
    });
}

#[test]
fn workers_drain_spawns_during_shutdown() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&count);
        pool.spawn(move || {
            thread::sleep(Duration::from_millis(30));
            for _ in 0..100 {
                let c = Arc::clone(&c);
                stealpool::spawn(move || {
                    c.fetch_add(1, SeqCst);
                });
            }
        });
        thread::sleep(Duration::from_millis(5));
        pool.shutdown();
        assert_eq!(count.load(SeqCst), 100, "spawns from a draining worker run");
    });
}

#[test]
fn stats_and_indices() {
    with_timeout(LIMIT, || {
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(stealpool::current_thread_index(), None);
        assert_eq!(pool.current_thread_index(), None);
        let indices = ask_workers(&pool, 40, || stealpool::current_thread_index().unwrap());
        assert!(indices.is_subset(&HashSet::from([0, 1])));
        // A worker counts a job right after it returns: after shutdown
        // (which joins the workers) the count is exact.
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!(stats.threads, 2);
        assert_eq!(stats.completed, 40);
        assert_eq!(stats.queued, 0);
        assert_eq!(stats.running, 0);
    });
}

#[test]
fn global_pool_and_free_functions() {
    with_timeout(LIMIT, || {
        assert_eq!(stealpool::submit(|| 2 + 2).join().unwrap(), 4);
        let (tx, rx) = mpsc::channel();
        stealpool::spawn(move || tx.send(stealpool::current_thread_index()).unwrap());
        assert!(rx.recv().unwrap().is_some());
        // On a worker of another pool, the free functions use that pool.
        let pool = ThreadPool::builder()
            .num_threads(1)
            .thread_name(|_| "mine".into())
            .build()
            .unwrap();
        let name = pool.install(|| {
            stealpool::submit(|| thread::current().name().unwrap().to_string())
                .join()
                .unwrap()
        });
        assert_eq!(name, "mine");
    });
}

#[test]
fn submit_from_task_after_shutdown_is_rejected() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let release = Arc::new(Event::new());
        let task = pool.submit({
            let (release, pool) = (Arc::clone(&release), Arc::clone(&pool));
            move || {
                release.wait();
                pool.submit(|| 1).join()
            }
        });
        let shutter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.shutdown())
        };
        thread::sleep(Duration::from_millis(30));
        release.set();
        let inner = task.join().unwrap();
        assert!(inner.unwrap_err().is_rejected());
        shutter.join().unwrap();
    });
}

/// CPython gh-94440: a submit immediately cancelled right before
/// `shutdown` does not hang it.
#[test]
fn submit_cancel_then_shutdown_does_not_hang() {
    with_timeout(LIMIT, || {
        for _ in 0..200 {
            let pool = ThreadPool::new(2).unwrap();
            let task = pool.submit(|| ());
            task.cancel();
            pool.shutdown();
            assert!(task.is_done());
        }
    });
}

// ---------------------------------------------------------------------------
// Submission lanes: each outside thread pushes into a queue of its own.
// ---------------------------------------------------------------------------

/// Occupies a one-worker pool's worker until the returned gate is set;
/// returns once the worker is inside the task.
fn hold_the_worker(pool: &ThreadPool) -> (Arc<Event>, Task<()>) {
    let gate = Arc::new(Event::new());
    let held = Arc::new(Event::new());
    let hold = {
        let (gate, held) = (Arc::clone(&gate), Arc::clone(&held));
        pool.submit(move || {
            held.set();
            gate.wait();
        })
    };
    held.wait();
    (gate, hold)
}

/// Threads submit tasks that cannot start yet (the only worker is held),
/// then exit: their lanes outlive them, every task still runs, and nothing
/// is left queued.
#[test]
fn jobs_outlive_the_threads_that_submitted_them() {
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(1).unwrap());
        let (gate, hold) = hold_the_worker(&pool);
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<Task<usize>> = (0..4)
            .flat_map(|t| {
                let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
                thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            let ran = Arc::clone(&ran);
                            pool.submit(move || {
                                ran.fetch_add(1, SeqCst);
                                t * 50 + i
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .join()
                .unwrap()
            })
            .collect();
        assert_eq!(
            pool.stats().queued,
            200,
            "the exited threads' jobs are queued"
        );
        gate.set();
        hold.join().unwrap();
        let sum: usize = tasks.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sum, 199 * 200 / 2);
        assert_eq!(ran.load(SeqCst), 200);
        assert_eq!(pool.stats().queued, 0);
        pool.shutdown();
    });
}

/// `shutdown` runs what the lanes hold; `shutdown_now` cancels it.
#[test]
fn shutdown_runs_and_shutdown_now_cancels_lane_jobs() {
    with_timeout(LIMIT, || {
        for now in [false, true] {
            let pool = ThreadPool::new(1).unwrap();
            let (gate, hold) = hold_the_worker(&pool);
            let queued: Vec<Task<u32>> = (0..10).map(|i| pool.submit(move || i)).collect();
            let opener = {
                let gate = Arc::clone(&gate);
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(20));
                    gate.set();
                })
            };
            if now {
                pool.shutdown_now();
            } else {
                pool.shutdown();
            }
            opener.join().unwrap();
            hold.join().unwrap();
            for (i, task) in queued.into_iter().enumerate() {
                match task.join() {
                    Ok(value) => assert!(!now && value == i as u32, "{now} {value}"),
                    Err(err) => assert!(now && err.is_cancelled(), "{now} {err:?}"),
                }
            }
        }
    });
}

/// A thread that submitted to a pool that is gone submits to a new one.
#[test]
fn a_thread_moves_on_to_a_new_pool() {
    with_timeout(LIMIT, || {
        for round in 0..5_u32 {
            let pool = ThreadPool::new(2).unwrap();
            assert_eq!(pool.submit(move || round * 2).join().unwrap(), round * 2);
            assert_eq!(pool.install(|| round + 1), round + 1);
            drop(pool);
        }
    });
}

/// A submission from a thread-local's destructor, while the thread exits
/// (the lane's own thread-local may be gone already), still runs.
#[test]
fn submitting_while_the_thread_exits() {
    struct SubmitOnDrop(Option<(Arc<ThreadPool>, mpsc::Sender<u32>)>);
    impl Drop for SubmitOnDrop {
        fn drop(&mut self) {
            if let Some((pool, tx)) = self.0.take() {
                let task = pool.submit(|| 42_u32);
                tx.send(task.join().unwrap()).unwrap();
            }
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<SubmitOnDrop> =
            const { std::cell::RefCell::new(SubmitOnDrop(None)) };
    }
    with_timeout(LIMIT, || {
        let pool = Arc::new(ThreadPool::new(2).unwrap());
        let (tx, rx) = mpsc::channel();
        let p = Arc::clone(&pool);
        thread::spawn(move || {
            // Submit once first, so that this thread has a lane.
            assert_eq!(p.submit(|| 1).join().unwrap(), 1);
            LATE.with(|late| late.borrow_mut().0 = Some((p, tx)));
        })
        .join()
        .unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 42);
        pool.shutdown();
    });
}
