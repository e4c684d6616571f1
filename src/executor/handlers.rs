//! Panic handlers by executor: a pool registers its handler under its id,
//! so that a panicking `on_done` callback is reported to its task's pool from
//! whichever thread runs the callback.

use super::{ExecutorId, PanicHandler, Payload};
use crate::sync::{Mutex, StdArc};

/// Registered panic handlers, by executor. Small: one entry per live pool.
fn handlers() -> &'static Mutex<Vec<(ExecutorId, PanicHandler)>> {
    #[cfg(not(loom))]
    static HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    #[cfg(loom)]
    loom::lazy_static! {
        static ref HANDLERS: Mutex<Vec<(ExecutorId, PanicHandler)>> = Mutex::new(Vec::new());
    }
    &HANDLERS
}

/// Registers `handler` for `executor` (replacing any earlier one).
pub(crate) fn register_panic_handler(executor: ExecutorId, handler: PanicHandler) {
    let mut handlers = handlers().lock();
    handlers.retain(|(id, _)| *id != executor);
    handlers.push((executor, handler));
}

/// Forgets `executor`'s handler.
pub(crate) fn unregister_panic_handler(executor: ExecutorId) {
    let removed: Vec<_> = {
        let mut handlers = handlers().lock();
        let (gone, kept) = std::mem::take(&mut *handlers)
            .into_iter()
            .partition(|(id, _)| *id == executor);
        *handlers = kept;
        gone
    };
    // The handler's captures are user values: drop them outside the lock,
    // catching a panic.
    for (_, handler) in removed {
        if let Err(payload) = crate::unwind::drop_caught(handler) {
            crate::unwind::drop_payload(payload);
        }
    }
}

/// Hands `payload` to the panic handler of `executor`, if it has one; else
/// drops it (the standard panic hook has already printed the message).
///
/// Never unwinds: a handler that panics, and a payload whose `Drop` panics,
/// are caught (see `unwind::drop_payload`).
pub(crate) fn report_panic(executor: Option<ExecutorId>, payload: Payload) {
    let handler = executor.and_then(|executor| {
        handlers()
            .lock()
            .iter()
            .find(|(id, _)| *id == executor)
            .map(|(_, handler)| StdArc::clone(handler))
    });
    match handler {
        Some(handler) => {
            if let Err(nested) = crate::unwind::catch(move || handler(payload)) {
                crate::unwind::drop_payload(nested);
            }
        }
        None => crate::unwind::drop_payload(payload),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use super::*;

    #[test]
    fn panics_reach_the_registered_handler_only() {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let id = ExecutorId::next();
        register_panic_handler(
            id,
            StdArc::new(|payload: Payload| {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
                SEEN.fetch_add(1, SeqCst);
            }),
        );
        report_panic(Some(id), Box::new("boom"));
        report_panic(Some(ExecutorId::next()), Box::new("elsewhere"));
        report_panic(None, Box::new("nowhere"));
        assert_eq!(SEEN.load(SeqCst), 1);
        unregister_panic_handler(id);
        report_panic(Some(id), Box::new("boom"));
        assert_eq!(SEEN.load(SeqCst), 1);
    }

    #[test]
    fn a_panicking_handler_is_contained() {
        let id = ExecutorId::next();
        register_panic_handler(id, StdArc::new(|_| panic!("handler panicked")));
        report_panic(Some(id), Box::new(1));
        unregister_panic_handler(id);
    }
}
