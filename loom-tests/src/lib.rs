//! Shared helpers of the loom models in `tests/` (see `README.md`).
#![cfg(loom)]

/// Runs the model `f` under loom.
///
/// The preemption bound is `STEALPOOL_LOOM_BOUND` if set (the mutation
/// script sets it per mutant, from `mutants.table`); else
/// `LOOM_MAX_PREEMPTIONS` (what CI sets) capped at `cap`, so that a whole
/// pool's model stays within its budget; else `cap`.
pub fn check(cap: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    let forced = std::env::var("STEALPOOL_LOOM_BOUND")
        .ok()
        .and_then(|bound| bound.parse().ok());
    builder.preemption_bound = Some(match forced {
        Some(bound) => bound,
        None => builder.preemption_bound.map_or(cap, |bound| bound.min(cap)),
    });
    builder.check(f);
}
