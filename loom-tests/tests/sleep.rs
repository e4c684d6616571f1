//! loom models of the sleep/wake protocol on its own: the real `Sleep` and
//! the real queue stand-in (no more ordering than crossbeam's injector),
//! driven as the worker loop drives them (`loom_hooks::Sleepers`). The
//! whole-pool models in `pool.rs` cover the same protocol inside the real
//! pool; these reach the hand-offs that need more preemptions there.
#![cfg(loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use stealpool::loom_hooks::Sleepers;
use stealpool::Event;

/// Job 0 blocks its worker until job 1 has run. Two workers, two jobs
/// pushed one after the other: a producer that sees a searcher skips its
/// wake, so the searcher, finding job 0 as the last searcher, must see job 1
/// queued and wake the sleeper (F3). Each job runs exactly once; a lost
/// wake-up is a loom deadlock. Kills: drop-f3 (and F1/F2 deletions).
#[test]
fn last_searcher_wakes_the_next() {
    loom::model(|| {
        let sleepers = Sleepers::new(2);
        let second_ran = Arc::new(Event::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|index| {
                let (sleepers, second_ran, runs) = (
                    Arc::clone(&sleepers),
                    Arc::clone(&second_ran),
                    Arc::clone(&runs),
                );
                thread::spawn(move || {
                    sleepers.work(index, |job| {
                        if job == 0 {
                            second_ran.wait();
                        } else {
                            second_ran.set();
                        }
                        runs.fetch_add(1, SeqCst);
                        true
                    });
                })
            })
            .collect();
        sleepers.push(0);
        sleepers.push(1);
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(runs.load(SeqCst), 2);
    });
}

/// One job pushed to the injector stand-in against its only worker going
/// to sleep: the job always runs. The injector's emptiness check has no
/// fence of its own (crossbeam's reads two `SeqCst` indices), so the
/// sleeper's F2 is all that orders its re-check after its announcement.
/// (In the whole-pool models, outside submissions go through lanes, whose
/// emptiness check is a crossbeam `Stealer`'s, with a fence inside: there,
/// F2 is not what a missing fence would break.) Kills: drop-f2, drop-f1,
/// skip-recheck.
#[test]
fn push_vs_sleep() {
    loom_tests::check(3, || {
        let sleepers = Sleepers::new(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (sleepers, runs) = (Arc::clone(&sleepers), Arc::clone(&runs));
            thread::spawn(move || {
                sleepers.work(0, |_| {
                    runs.fetch_add(1, SeqCst);
                    true
                });
            })
        };
        sleepers.push(0);
        worker.join().unwrap();
        assert_eq!(runs.load(SeqCst), 1);
    });
}
