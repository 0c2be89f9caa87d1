//! [`Runtime`]: the little that differs between async runtimes, and all that the
//! endpoints of this crate ask of one.
//!
//! Everything else (sockets, accept, connect, Happy Eyeballs, TLS, PROXY headers,
//! processes, standard I/O, `serve`) is written once in this crate against this
//! trait. A runtime gives four things: a reactor that registers a non-blocking
//! descriptor and reports when it is ready; a clock and timers; a way to spawn
//! tasks and to run blocking work; and a way to wait for a child process. The
//! `strports-tokio` and `strports-smol` crates implement it in about a hundred lines
//! each (the same split as quinn's `Runtime` and hyper's `rt` traits).

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Which readiness an I/O operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Readable (also: a listener has a connection to accept).
    Read,
    /// Writable (also: a non-blocking connect has finished).
    Write,
    /// Both, for registering a descriptor used both ways.
    Both,
}

/// A descriptor the runtime's reactor knows: something [`Runtime::register`] accepts.
pub trait Descriptor: AsFd + AsRawFd + Send + Sync + Unpin + 'static {}

impl<T: AsFd + AsRawFd + Send + Sync + Unpin + 'static> Descriptor for T {}

/// The standard streams of a child for [`Runtime::spawn_child`] (set through the
/// runtime's own command type: some override those of a std `Command`).
#[derive(Debug)]
pub struct ChildStdio {
    /// Its fd 0.
    pub stdin: std::process::Stdio,
    /// Its fd 1.
    pub stdout: std::process::Stdio,
    /// Its fd 2.
    pub stderr: std::process::Stdio,
}

/// A running child process as [`Runtime::spawn_child`] gives it: its id and the
/// future of its exit status. Dropping the future leaves the child running (when
/// and how it is ended is the endpoints' decision: see
/// [`ProcessStream`](crate::ProcessStream)); the runtime reaps it in the background
/// once it exits, so no zombie is left.
pub struct Child {
    /// The child's process id.
    pub pid: u32,
    /// Waits for the child to exit.
    pub exit: Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + Sync>>,
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// An async runtime, as the endpoints of this crate use it. Implemented by
/// `strports_tokio::Tokio` and `strports_smol::Smol`; a type, not a value: every
/// function is associated (a runtime that needs a handle, such as an executor to
/// spawn on, gives it through its [`Spawn`] value).
pub trait Runtime: Send + Sync + Sized + 'static {
    /// A non-blocking descriptor `T` registered with the reactor (tokio's `AsyncFd<T>`,
    /// async-io's `Async<T>`). Dropping it deregisters and closes `T`.
    type Registered<T: Descriptor>: Send + Sync + Unpin + 'static;

    /// Registers `io`, which must already be non-blocking, for `interest`.
    fn register<T: Descriptor>(io: T, interest: Interest) -> io::Result<Self::Registered<T>>;

    /// The registered descriptor.
    fn get_ref<T: Descriptor>(io: &Self::Registered<T>) -> &T;

    /// Runs the non-blocking operation `op` on `io` until it does not fail with
    /// [`io::ErrorKind::WouldBlock`], waiting for `interest` in between: the loop
    /// every runtime's own socket types run for each read, write and accept. When
    /// `drained` says of a result that the descriptor has nothing more to give or
    /// take now (a read or write shorter than asked), a runtime that caches
    /// readiness forgets it, so the next call waits instead of failing a system
    /// call with `EAGAIN` first (as tokio's own sockets do).
    fn poll_io<T: Descriptor, U>(
        io: &Self::Registered<T>,
        cx: &mut Context<'_>,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<U>,
        drained: impl Fn(&U) -> bool,
    ) -> Poll<io::Result<U>>;

    /// Waits until the non-blocking operation `op` does not fail with
    /// [`io::ErrorKind::WouldBlock`], as a future (accepts, connects): tries it,
    /// then waits for fresh readiness after each `WouldBlock` (tokio's
    /// `AsyncFd::async_io`, async-io's `read_with`/`write_with`).
    fn io<T: Descriptor, U>(
        io: &Self::Registered<T>,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<U> + Send,
    ) -> impl Future<Output = io::Result<U>> + Send;

    /// A timer: a future that completes at its deadline.
    type Sleep: Future + Send + Sync + 'static;

    /// The runtime's clock (tokio's can be paused in tests).
    fn now() -> Instant;

    /// A timer that completes at `deadline`.
    fn sleep_until(deadline: Instant) -> Self::Sleep;

    /// Moves a timer's deadline.
    fn reset(sleep: Pin<&mut Self::Sleep>, deadline: Instant);

    /// The spawner of tasks a `serve` loop uses by default.
    type Spawner: Spawn;

    /// The default spawner: the current tokio runtime, smol's global executor.
    fn spawner() -> Self::Spawner;

    /// Runs blocking work (file reads, `getaddrinfo`) off the async threads; fails
    /// only if the work could not be run to its end (it panicked, or the runtime is
    /// shutting down).
    fn unblock<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = io::Result<T>> + Send;

    /// Starts `command` with standard streams `stdio` as a child the runtime can
    /// wait for, and reaps in the background if its [`Child::exit`] future is
    /// dropped first (without signalling it).
    fn spawn_child(command: std::process::Command, stdio: ChildStdio) -> io::Result<Child>;
}

/// Spawns tasks: a runtime handle, or an executor.
pub trait Spawn: Clone + Send + Sync + 'static {
    /// A spawned task: awaiting it waits for its end; dropping it cancels it.
    type Task: Future<Output = ()> + Send + Unpin + 'static;

    /// Spawns `future`.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Task;

    /// Spawns `future` and lets it run on its own.
    fn detach<F: Future<Output = ()> + Send + 'static>(&self, future: F);
}

/// Runs `future` for at most `limit`; `None` if the time ran out first.
pub async fn timeout<R: Runtime, F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let deadline = R::now().checked_add(limit);
    let mut future = std::pin::pin!(future);
    let Some(deadline) = deadline else {
        return Some(future.await);
    };
    let mut sleep = std::pin::pin!(R::sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        sleep.as_mut().poll(cx).map(|_| None)
    })
    .await
}

/// Waits until `deadline`, if there is one; never completes otherwise.
pub async fn sleep_until<R: Runtime>(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => {
            R::sleep_until(deadline).await;
        }
        None => std::future::pending().await,
    }
}
