//! The smol side of the tool: one executor run on the main thread and
//! `async-signal`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_signal::Signals;
use futures_lite::Stream as _;
use smol::Executor;
use strports_smol::{Smol, SmolSpawner};

use crate::runtime::{CliRuntime, Signal};

impl CliRuntime for Smol {
    type Signals = Signals;

    fn signals(hangup: bool) -> io::Result<Self::Signals> {
        let mut handled = vec![async_signal::Signal::Int, async_signal::Signal::Term];
        if hangup {
            handled.push(async_signal::Signal::Hup);
        }
        Signals::new(handled)
    }

    fn poll_signal(signals: &mut Self::Signals, cx: &mut Context<'_>) -> Poll<Signal> {
        loop {
            match Pin::new(&mut *signals).poll_next(cx) {
                Poll::Ready(Some(Ok(async_signal::Signal::Int))) => {
                    return Poll::Ready(Signal::Interrupt);
                }
                Poll::Ready(Some(Ok(async_signal::Signal::Term))) => {
                    return Poll::Ready(Signal::Terminate);
                }
                Poll::Ready(Some(Ok(async_signal::Signal::Hup))) => {
                    return Poll::Ready(Signal::Hangup);
                }
                // Another signal (not registered) or a read error: keep waiting.
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// An [`Executor`] driven by the main thread (like tokio's current-thread
    /// flavour), which also drives async-io's reactor while it waits.
    fn run<F: Future<Output = u8>>(session: impl FnOnce(SmolSpawner) -> F) -> u8 {
        let executor = Arc::new(Executor::new());
        let spawner = SmolSpawner::Executor(executor.clone());
        smol::block_on(executor.run(session(spawner)))
    }
}
