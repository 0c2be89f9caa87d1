//! What the tool needs from an async runtime beyond what the endpoints library's
//! [`strports_endpoints::Runtime`] gives: SIGINT/SIGTERM (and SIGHUP for servers),
//! running a session on a fresh runtime, and the spawner its tasks go to.
//!
//! [`CliRuntime`] is implemented for `strports_tokio::Tokio` (`rt_tokio.rs`) and
//! `strports_smol::Smol` (`rt_smol.rs`); everything else (listening, connecting,
//! the serve loop, timers) is the library's, and every decision (summaries, exit
//! codes, shutdown) lives in the generic code of `session.rs` and `pipe.rs`.

use std::future::Future;
use std::io;
use std::task::{Context, Poll};

/// SIGINT, SIGTERM or SIGHUP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP: servers reload their certificates (only delivered when asked for).
    Hangup,
}

impl Signal {
    /// The signal's name, for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }

    /// The exit status a shell reports for a process killed by this signal.
    pub(crate) fn exit_status(self) -> u8 {
        match self {
            Signal::Interrupt => 128 + 2,
            Signal::Terminate => 128 + 15,
            Signal::Hangup => 128 + 1,
        }
    }
}

/// A runtime as the tool runs it: the library's runtime, plus signals and a way to
/// run a session to completion.
pub(crate) trait CliRuntime: strports_endpoints::Runtime {
    /// The SIGINT/SIGTERM (and SIGHUP) handlers.
    type Signals: Send + 'static;

    /// Installs handlers for SIGINT and SIGTERM, and with `hangup` for SIGHUP (from
    /// now on they no longer kill us).
    fn signals(hangup: bool) -> io::Result<Self::Signals>;

    /// Polls for the next SIGINT or SIGTERM (or SIGHUP, if handled).
    fn poll_signal(signals: &mut Self::Signals, cx: &mut Context<'_>) -> Poll<Signal>;

    /// Runs `session` on a fresh runtime driven by this thread, with the spawner of
    /// that runtime's tasks, and returns its exit status.
    fn run<F: Future<Output = u8>>(session: impl FnOnce(Self::Spawner) -> F) -> u8;
}

/// Waits for the next SIGINT or SIGTERM (or SIGHUP, if handled).
pub(crate) async fn next_signal<R: CliRuntime>(signals: &mut R::Signals) -> Signal {
    std::future::poll_fn(|cx| R::poll_signal(signals, cx)).await
}
