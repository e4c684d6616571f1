//! `ThreadPoolBuilder::build_global` (issue 12). One test: it needs a
//! process whose global pool nothing has built yet.

mod common;

use common::{with_timeout, LIMIT};
use stealpool::ThreadPoolBuilder;

#[test]
fn build_global_configures_the_global_pool_once() {
    with_timeout(LIMIT, || {
        // The variable is ignored when the builder sets its own size.
        std::env::set_var("STEALPOOL_NUM_THREADS", "7");
        ThreadPoolBuilder::new()
            .num_threads(3)
            .thread_name(|i| format!("global-{i}"))
            .build_global()
            .expect("nothing built the global pool yet");
        assert_eq!(stealpool::current_num_threads(), 3);
        let name = stealpool::submit(|| std::thread::current().name().map(String::from))
            .join()
            .unwrap();
        assert!(name.unwrap().starts_with("global-"));
        let err = ThreadPoolBuilder::new().build_global().unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        // Still the first one.
        assert_eq!(stealpool::current_num_threads(), 3);
    });
}
