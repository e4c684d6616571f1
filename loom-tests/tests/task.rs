//! loom models of the task slot: completion against cancel, callbacks,
//! waiters, `.await` and the drop of the handle. Every model checks a
//! conserved quantity: the closure runs at most once, exactly one of
//! "ran" / "cancelled" happens, each callback runs exactly once.
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use stealpool::loom_hooks;

/// run vs cancel vs a callback added concurrently vs a blocking wait.
#[test]
fn complete_vs_cancel_vs_callback_vs_wait() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let called = Arc::new(AtomicUsize::new(0));
        let (task, runner) = loom_hooks::task({
            let ran = Arc::clone(&ran);
            move || {
                ran.fetch_add(1, SeqCst);
                7
            }
        });
        let task = Arc::new(task);
        let worker = thread::spawn(move || runner.run());
        let canceller = {
            let task = Arc::clone(&task);
            thread::spawn(move || task.cancel())
        };
        {
            let called = Arc::clone(&called);
            task.on_done(move |outcome| {
                assert!(outcome.is_ok() || outcome.as_ref().unwrap_err().is_cancelled());
                called.fetch_add(1, SeqCst);
            });
        }
        task.wait();
        assert!(task.is_done());
        let cancelled = canceller.join().unwrap();
        worker.join().unwrap();
        let task = Arc::try_unwrap(task).unwrap();
        let outcome = task.join();
        assert_eq!(
            ran.load(SeqCst),
            usize::from(!cancelled),
            "ran xor cancelled"
        );
        assert_eq!(outcome.is_err(), cancelled);
        assert_eq!(called.load(SeqCst), 1, "the callback runs exactly once");
    });
}

/// Two callbacks racing the completion from two threads: each runs once,
/// never two at the same time.
#[test]
fn callbacks_race_completion() {
    loom::model(|| {
        let called = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        let (task, runner) = loom_hooks::task(|| ());
        let task = Arc::new(task);
        let worker = thread::spawn(move || runner.run());
        let add = {
            let (called, running) = (Arc::clone(&called), Arc::clone(&running));
            move |task: &stealpool::Task<()>| {
                let (called, running) = (Arc::clone(&called), Arc::clone(&running));
                task.on_done(move |_| {
                    assert_eq!(running.fetch_add(1, SeqCst), 0, "callbacks overlapped");
                    called.fetch_add(1, SeqCst);
                    running.fetch_sub(1, SeqCst);
                });
            }
        };
        let adder = {
            let task = Arc::clone(&task);
            let add = add.clone();
            thread::spawn(move || add(&task))
        };
        add(&task);
        adder.join().unwrap();
        worker.join().unwrap();
        Arc::try_unwrap(task).unwrap().join().unwrap();
        assert_eq!(called.load(SeqCst), 2);
    });
}

/// join vs completion: the value arrives; nothing leaks.
#[test]
fn join_vs_complete() {
    loom::model(|| {
        let (task, runner) = loom_hooks::task(|| 5_u32);
        let worker = thread::spawn(move || runner.run());
        assert_eq!(task.join().unwrap(), 5);
        worker.join().unwrap();
    });
}

/// Dropping the handle while the task completes: the work still runs and
/// the allocation is freed (loom reports leaked `Arc`s).
#[test]
fn drop_handle_vs_complete() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let (task, runner) = loom_hooks::task({
            let ran = Arc::clone(&ran);
            move || {
                ran.fetch_add(1, SeqCst);
            }
        });
        let worker = thread::spawn(move || runner.run());
        drop(task);
        worker.join().unwrap();
        assert_eq!(ran.load(SeqCst), 1);
    });
}

/// `.await` vs completion: exact waking (a lost wake-up is a loom deadlock).
#[test]
fn await_vs_complete() {
    loom::model(|| {
        let (task, runner) = loom_hooks::task(|| 3_u8);
        let worker = thread::spawn(move || runner.run());
        assert_eq!(loom::future::block_on(task).unwrap(), 3);
        worker.join().unwrap();
    });
}

/// A cancel that races a blocked waiter and a callback.
#[test]
fn cancel_vs_wait() {
    loom::model(|| {
        let (task, runner) = loom_hooks::task(|| ());
        let task = Arc::new(task);
        let canceller = {
            let task = Arc::clone(&task);
            thread::spawn(move || assert!(task.cancel()))
        };
        task.wait();
        assert!(task.is_cancelled());
        canceller.join().unwrap();
        drop(runner); // already cancelled: nothing to do
        assert!(Arc::try_unwrap(task)
            .unwrap()
            .join()
            .unwrap_err()
            .is_cancelled());
    });
}

/// A promise's holder, running `complete` on its own thread (true if it
/// completed the task with 9), races the handle's `cancel` and a blocked
/// waiter: exactly one side wins, and the waiter wakes with the matching
/// outcome.
fn promise_vs_cancel_vs_wait(complete: fn(loom_hooks::Promise<u32>) -> bool) {
    loom::model(move || {
        let (task, promise) = loom_hooks::promise::<u32>();
        let task = Arc::new(task);
        let supervisor = thread::spawn(move || complete(promise));
        let canceller = {
            let task = Arc::clone(&task);
            thread::spawn(move || task.cancel())
        };
        task.wait();
        let completed = supervisor.join().unwrap();
        let cancelled = canceller.join().unwrap();
        assert!(
            completed != cancelled,
            "exactly one of the (last) claim and cancel wins"
        );
        match Arc::try_unwrap(task).unwrap().join() {
            Ok(value) => assert!(completed && value == 9),
            Err(err) => assert!(cancelled && err.is_cancelled(), "{err:?}"),
        }
    });
}

/// A promise (the process pool's task): its claim races `cancel` and a
/// waiter.
#[test]
fn promise_claim_vs_cancel_vs_wait() {
    promise_vs_cancel_vs_wait(|promise| promise.claim_and_complete(9));
}

/// A promise given back unstarted (a process-pool call that never reached a
/// worker: `Promise::unclaim`, running → pending), then claimed again,
/// races `cancel`: the task is pending again, so exactly one of the second
/// claim and the cancel wins, and the task never ends abandoned. Kills:
/// unclaim-keeps-running.
#[test]
fn promise_given_back_vs_cancel() {
    promise_vs_cancel_vs_wait(|promise| promise.claim_give_back_and_complete(9));
}

/// A completer that claims and then goes away unfinished fails the task
/// (never leaves its waiter hanging).
#[test]
fn promise_abandoned_fails_the_waiter() {
    loom::model(|| {
        let (task, completer) = loom_hooks::promise::<u32>();
        let supervisor = thread::spawn(move || assert!(completer.claim_and_abandon()));
        task.wait();
        supervisor.join().unwrap();
        assert!(task.join().unwrap_err().is_worker_lost());
    });
}

/// `wait` (the multi-task wait, through the task's waiter list) racing the
/// completion: it returns with the task done (a registration the completer
/// missed would be a loom deadlock), and leaves nothing in the list.
/// Kills: waiters-not-released, waiter-misses-completion.
#[test]
fn wait_many_vs_complete() {
    loom::model(|| {
        let (task, runner) = loom_hooks::task(|| 1_u8);
        let worker = thread::spawn(move || runner.run());
        let tasks = [task];
        let result = stealpool::wait(&tasks, stealpool::WaitFor::AllCompleted, None);
        assert_eq!(result.done, [0]);
        assert_eq!(loom_hooks::registered_waiters(&tasks[0]), 0);
        worker.join().unwrap();
    });
}

/// A timed `wait` that may time out (under loom a deadline can pass at any
/// point) racing the completion: done or not, the waiter is gone from the
/// task's list when it returns, so polling costs no memory (issue 9,
/// failure 8). Kills: waiter-not-removed.
#[test]
fn timed_wait_leaves_nothing() {
    loom::model(|| {
        let (task, runner) = loom_hooks::task(|| 1_u8);
        let worker = thread::spawn(move || runner.run());
        let tasks = [task];
        let result = stealpool::wait(
            &tasks,
            stealpool::WaitFor::FirstCompleted,
            Some(std::time::Duration::from_secs(1)),
        );
        assert_eq!(result.done.len() + result.pending.len(), 1);
        assert_eq!(loom_hooks::registered_waiters(&tasks[0]), 0);
        worker.join().unwrap();
        assert_eq!(loom_hooks::registered_waiters(&tasks[0]), 0);
    });
}
