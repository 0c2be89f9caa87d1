//! The tokio adapter: a current-thread runtime, `strports-tokio`'s listen/connect,
//! `tokio::time` and `tokio::signal`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use strports_core::{ClientDescription, ServerDescription};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::signal::unix::{SignalKind, signal};

use crate::runtime::{Io, Runtime, Signal};

/// tokio, current-thread flavour (on two cores it beats the multi-thread one for a
/// relay: no cross-thread wake-ups).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokio;

impl Io for strports_tokio::Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        match AsyncRead::poll_read(Pin::new(self), cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(self), cx, buf)
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(self), cx)
    }
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(self), cx)
    }
}

impl Runtime for Tokio {
    type Stream = strports_tokio::Stream;
    type Listener = strports_tokio::Listener;
    type Timer = Pin<Box<tokio::time::Sleep>>;
    type Signals = (tokio::signal::unix::Signal, tokio::signal::unix::Signal);

    fn listen(
        &self,
        desc: &ServerDescription,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        strports_tokio::listen(desc)
    }

    fn connect(
        &self,
        desc: &ClientDescription,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        strports_tokio::connect(desc)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        tokio::spawn(future);
    }

    fn timer(&self, deadline: Instant) -> Self::Timer {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()> {
        timer.as_mut().poll(cx)
    }

    fn reset_timer(timer: &mut Self::Timer, deadline: Instant) {
        timer.as_mut().reset(deadline.into());
    }

    fn signals(&self) -> io::Result<Self::Signals> {
        Ok((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    }

    fn poll_signal(signals: &mut Self::Signals, cx: &mut Context<'_>) -> Poll<Signal> {
        if signals.0.poll_recv(cx).is_ready() {
            return Poll::Ready(Signal::Interrupt);
        }
        if signals.1.poll_recv(cx).is_ready() {
            return Poll::Ready(Signal::Terminate);
        }
        Poll::Pending
    }
}

/// Runs `session` on a fresh current-thread runtime and returns its exit status.
pub(crate) fn run<F>(session: impl FnOnce(Tokio) -> F) -> u8
where
    F: Future<Output = u8>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return crate::session::EXIT_FAILURE;
        }
    };
    let status = runtime.block_on(session(Tokio));
    // Never wait for blocking-pool work (a stuck name lookup) on the way out.
    runtime.shutdown_background();
    status
}
