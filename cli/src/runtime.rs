//! What the session logic needs from an async runtime, as two small traits.
//!
//! [`Runtime`] is implemented once per runtime (`rt_tokio.rs`, `rt_smol.rs`); every
//! decision (limits, timeouts, shutdown, summaries, exit codes) lives in the
//! generic code in `session.rs` and `pipe.rs`. Listening and connecting go through
//! the backends' `listen()`/`connect()`, so every description type a backend
//! supports works here without the tool knowing about it.

use std::future::Future;
use std::io;
use std::task::{Context, Poll};
use std::time::Instant;

use strports_core::{ClientDescription, ServerDescription};

/// A byte stream as the copy loop sees it: reads, writes, flush, and a half-close
/// (`poll_shutdown`: no more writes, the peer reads EOF).
///
/// Taking `&mut self` instead of `Pin<&mut Self>` is fine: every stream the
/// backends give is `Unpin`.
pub(crate) trait Io: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is EOF.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes some of `buf`.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Pushes out anything buffered (TLS records).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Half-closes the write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// SIGINT or SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The signal's name, for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The exit status a shell reports for a process killed by this signal.
    pub(crate) fn exit_status(self) -> u8 {
        match self {
            Signal::Interrupt => 128 + 2,
            Signal::Terminate => 128 + 15,
        }
    }
}

/// One async runtime: the backend's listen/connect, spawning, one timer, signals.
pub(crate) trait Runtime: Clone + Send + Sync + 'static {
    /// The backend's stream type.
    type Stream: Io;
    /// The backend's listener type.
    type Listener: strports_core::Listener<Stream = Self::Stream> + 'static;
    /// A resettable timer (allocated once, reset without allocating).
    type Timer: Send + Unpin + 'static;
    /// The SIGINT/SIGTERM handlers.
    type Signals: Send + 'static;

    /// The backend's `listen`.
    fn listen(
        &self,
        desc: &ServerDescription,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// The backend's `connect`.
    fn connect(
        &self,
        desc: &ClientDescription,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Runs `future` as a detached task on this runtime.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F);
    /// A timer that fires at `deadline`.
    fn timer(&self, deadline: Instant) -> Self::Timer;
    /// Polls `timer`; `Ready` once its deadline has passed.
    fn poll_timer(timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()>;
    /// Moves `timer` to fire at `deadline` instead.
    fn reset_timer(timer: &mut Self::Timer, deadline: Instant);
    /// Installs handlers for SIGINT and SIGTERM (from now on they no longer kill us).
    fn signals(&self) -> io::Result<Self::Signals>;
    /// Polls for the next SIGINT or SIGTERM.
    fn poll_signal(signals: &mut Self::Signals, cx: &mut Context<'_>) -> Poll<Signal>;
}

/// Waits until `deadline`.
pub(crate) async fn sleep_until<R: Runtime>(rt: &R, deadline: Instant) {
    let mut timer = rt.timer(deadline);
    std::future::poll_fn(|cx| R::poll_timer(&mut timer, cx)).await;
}

/// Waits for the next SIGINT or SIGTERM.
pub(crate) async fn next_signal<R: Runtime>(signals: &mut R::Signals) -> Signal {
    std::future::poll_fn(|cx| R::poll_signal(signals, cx)).await
}
