//! The tokio side of the tool: a current-thread runtime and `tokio::signal`.

use std::future::Future;
use std::io;
use std::task::{Context, Poll};

use strports_tokio::{Tokio, TokioSpawner};
use tokio::signal::unix::{SignalKind, signal};

use crate::runtime::{CliRuntime, Signal};

impl CliRuntime for Tokio {
    type Signals = (
        tokio::signal::unix::Signal,
        tokio::signal::unix::Signal,
        Option<tokio::signal::unix::Signal>,
    );

    fn signals(hangup: bool) -> io::Result<Self::Signals> {
        Ok((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
            hangup.then(|| signal(SignalKind::hangup())).transpose()?,
        ))
    }

    fn poll_signal(signals: &mut Self::Signals, cx: &mut Context<'_>) -> Poll<Signal> {
        if signals.0.poll_recv(cx).is_ready() {
            return Poll::Ready(Signal::Interrupt);
        }
        if signals.1.poll_recv(cx).is_ready() {
            return Poll::Ready(Signal::Terminate);
        }
        if let Some(hangup) = &mut signals.2 {
            if hangup.poll_recv(cx).is_ready() {
                return Poll::Ready(Signal::Hangup);
            }
        }
        Poll::Pending
    }

    /// A current-thread runtime: on two cores it beats the multi-thread one for a
    /// relay (no cross-thread wake-ups).
    fn run<F: Future<Output = u8>>(session: impl FnOnce(TokioSpawner) -> F) -> u8 {
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
        let status = runtime.block_on(session(TokioSpawner));
        // Never wait for blocking-pool work (a stuck name lookup) on the way out.
        runtime.shutdown_background();
        status
    }
}
