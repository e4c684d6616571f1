//! Registered functions both remote-pool test programs run (`tests/process.rs`
//! and `tests/mpi.rs`; each includes this file with `#[path]` and lists them
//! in its own `registry!`).

use std::time::Duration;

pub(crate) fn echo(text: String) -> String {
    text
}
pub(crate) fn add(pair: (i64, i64)) -> i64 {
    pair.0 + pair.1
}
pub(crate) fn pid(_: ()) -> u32 {
    std::process::id()
}
/// Sleeps, then reports which worker ran it.
pub(crate) fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}
/// Waits until the file at `path` exists (a gate the test opens), then
/// reports which worker ran it.
pub(crate) fn wait_for_file(path: String) -> u32 {
    while !std::path::Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::process::id()
}
