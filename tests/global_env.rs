//! `STEALPOOL_NUM_THREADS` sizes the global pool when it is first built
//! (issue 12). One test: it needs a process whose global pool nothing has
//! built yet.

mod common;

use common::{with_timeout, LIMIT};

#[test]
fn the_variable_sizes_the_global_pool() {
    with_timeout(LIMIT, || {
        std::env::set_var("STEALPOOL_NUM_THREADS", " 3 ");
        assert_eq!(stealpool::current_num_threads(), 3);
        let (a, b) = stealpool::join(stealpool::current_num_threads, || 0);
        assert_eq!((a, b), (3, 0));
        // Read once, when the pool is built: later changes do nothing.
        std::env::set_var("STEALPOOL_NUM_THREADS", "5");
        assert_eq!(stealpool::current_num_threads(), 3);
    });
}
