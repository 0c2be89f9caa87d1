//! The conformance suite on tokio (`strports-tokio`), once on a current-thread
//! runtime and once on a multi-thread runtime (as tokio's own
//! `tests/rt_common.rs` does): the same cases, two schedulers.

use std::future::Future;

use strports_conformance::Flavor;
use tokio::runtime::Builder;

/// `Builder::new_current_thread()`: everything on the test's thread.
struct CurrentThread;

impl Flavor for CurrentThread {
    type Rt = strports_tokio::Tokio;
    const NAME: &'static str = "tokio-current-thread";
    fn block_on<F: Future>(future: F) -> F::Output {
        let runtime = Builder::new_current_thread().enable_all().build();
        runtime.expect("build a tokio runtime").block_on(future)
    }
}

/// `Builder::new_multi_thread()` with two workers: tasks move between threads.
struct MultiThread;

impl Flavor for MultiThread {
    type Rt = strports_tokio::Tokio;
    const NAME: &'static str = "tokio-multi-thread";
    fn block_on<F: Future>(future: F) -> F::Output {
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build();
        runtime.expect("build a tokio runtime").block_on(future)
    }
}

mod current_thread {
    strports_conformance::conformance_tests!(super::CurrentThread);
}

mod multi_thread {
    strports_conformance::conformance_tests!(super::MultiThread);
}
