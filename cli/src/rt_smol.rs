//! The smol adapter: one executor run on the main thread, `strports-smol`'s
//! listen/connect, `async_io::Timer` and `async-signal`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_signal::Signals;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::Stream as _;
use smol::Executor;
use strports_core::{ClientDescription, ServerDescription};

use crate::runtime::{Io, Runtime, Signal};

/// smol: an [`Executor`] driven by the main thread (like tokio's current-thread
/// flavour), which also drives async-io's reactor while it waits.
#[derive(Debug, Clone)]
pub(crate) struct Smol {
    executor: Arc<Executor<'static>>,
}

impl Io for strports_smol::Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        AsyncRead::poll_read(Pin::new(self), cx, buf)
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(self), cx, buf)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(self), cx)
    }
    /// `poll_close` on a strports-smol stream is a half-close (`shutdown(SHUT_WR)`).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(Pin::new(self), cx)
    }
}

impl Runtime for Smol {
    type Stream = strports_smol::Stream;
    type Listener = strports_smol::Listener;
    type Timer = async_io::Timer;
    type Signals = Signals;

    fn listen(
        &self,
        desc: &ServerDescription,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        strports_smol::listen(desc)
    }

    fn connect(
        &self,
        desc: &ClientDescription,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        strports_smol::connect(desc)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.executor.spawn(future).detach();
    }

    fn timer(&self, deadline: Instant) -> Self::Timer {
        async_io::Timer::at(deadline)
    }

    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(timer).poll(cx).map(drop)
    }

    fn reset_timer(timer: &mut Self::Timer, deadline: Instant) {
        timer.set_at(deadline);
    }

    fn signals(&self) -> io::Result<Self::Signals> {
        Signals::new([async_signal::Signal::Int, async_signal::Signal::Term])
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
                // Another signal (not registered) or a read error: keep waiting.
                Poll::Ready(Some(_)) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Runs `session` on a fresh executor on this thread and returns its exit status.
pub(crate) fn run<F>(session: impl FnOnce(Smol) -> F) -> u8
where
    F: Future<Output = u8>,
{
    let executor = Arc::new(Executor::new());
    let rt = Smol {
        executor: executor.clone(),
    };
    async_io::block_on(executor.run(session(rt)))
}
