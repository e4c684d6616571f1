//! stealpool
#![deny(missing_docs)]
mod event;
mod sync;
pub use event::{Event, WaitAsync};
