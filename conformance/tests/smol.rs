//! The conformance suite on smol (`strports-smol`), twice: with tasks and `serve`
//! on smol's global executor (`smol::spawn`), and on a program-owned `Executor` run
//! by two threads (`serve_on`), so tasks move between threads (the counterpart of
//! the tokio suite's current-thread and multi-thread runs).

use std::future::Future;
use std::sync::{Arc, LazyLock};

use smol::Executor;
use strports_conformance::Flavor;
use strports_smol::SmolSpawner;

/// smol's global executor.
struct Global;

impl Flavor for Global {
    type Rt = strports_smol::Smol;
    const NAME: &'static str = "smol-global";
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

/// An `Executor` of our own, run by two threads.
struct Pool;

static POOL: LazyLock<Arc<Executor<'static>>> = LazyLock::new(|| {
    let executor = Arc::new(Executor::new());
    for n in 0..2 {
        let ex = executor.clone();
        std::thread::Builder::new()
            .name(format!("pool-{n}"))
            .spawn(move || smol::block_on(ex.run(futures_lite::future::pending::<()>())))
            .expect("start an executor thread");
    }
    executor
});

impl Flavor for Pool {
    type Rt = strports_smol::Smol;
    const NAME: &'static str = "smol-pool";
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
    fn spawner() -> SmolSpawner {
        SmolSpawner::Executor(POOL.clone())
    }
}

mod global {
    strports_conformance::conformance_tests!(super::Global);
}

mod pool {
    strports_conformance::conformance_tests!(super::Pool);
}
