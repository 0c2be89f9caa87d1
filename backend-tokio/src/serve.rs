//! [`serve`]: one task per accepted connection, Twisted's factory/protocol pattern.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use strports_core::endpoint::Address;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{Listener, Stream};

/// Serves connections from `listener` on the current tokio runtime: an accept loop
/// task, and one task per accepted connection running `handler(stream, peer)`. This
/// is Twisted's `endpoint.listen(factory)`, with the handler in the role of the
/// protocol.
///
/// The loop never ends on its own: an accept error is logged (with `tracing`) and
/// accepting resumes, at once for errors about one connection (`ECONNABORTED`) and
/// after 100 ms for the others (`EMFILE`), so it neither spins nor exits. The one
/// exception is a listener with no more connections to give (`stdio` after its one
/// connection): the loop then stops accepting, as [`Serving::stop`] does. A handler
/// that panics is logged and ends only its own connection.
///
/// Stop it with [`Serving::stop`] (or [`Serving::abort`]). Dropping the [`Serving`]
/// without that cancels the loop and every connection task, like the smol backend.
///
/// # Panics
///
/// If called outside a tokio runtime (it uses [`tokio::spawn`]).
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let serving = strports_tokio::serve(listener, |mut stream, _peer| async move {
///     let _ = stream.write_all(b"hello\n").await;
/// });
/// let port = match serving.local_address()? {
///     strports_core::Address::Tcp(a) => a.port(),
///     _ => unreachable!(),
/// };
/// let mut client = strports_tokio::connect(&format!("tcp:127.0.0.1:{port}").parse()?).await?;
/// let mut greeting = String::new();
/// client.read_to_string(&mut greeting).await?;
/// assert_eq!(greeting, "hello\n");
/// serving.stop().await;
/// # Ok(())
/// # }
/// ```
pub fn serve<H, F>(listener: Listener, handler: H) -> Serving
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let local = listener
        .local_address()
        .map_err(|e| (e.kind(), e.to_string()));
    let (control, commands) = oneshot::channel();
    let accept_loop = tokio::spawn(accept_loop(listener, handler, commands));
    Serving {
        local,
        control: Some(control),
        accept_loop: Some(accept_loop),
    }
}

/// How [`Serving`] ends the loop.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Wait for the connection tasks.
    Stop,
    /// Cancel the connection tasks.
    Abort,
}

async fn accept_loop<H, F>(listener: Listener, handler: H, mut commands: oneshot::Receiver<End>)
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    // Owning the connection tasks here means dropping this future (Serving dropped,
    // or the runtime shutting down) cancels them all.
    let mut tasks = Tasks::default();
    // Set while pausing after an accept error.
    let mut paused_until: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            biased;
            // The sender is only dropped with `Serving`, which then aborts this task.
            end = &mut commands => break end.unwrap_or(End::Abort),
            () = sleep_until(paused_until), if paused_until.is_some() => paused_until = None,
            accepted = listener.accept(), if paused_until.is_none() => match accepted {
                Ok((stream, peer)) => tasks.spawn(Logged(handler(stream, peer))),
                Err(e) if strports_sys::accept::ends_serving(&e) => {
                    tracing::debug!(error = %e, "strports: no more connections to accept");
                    break End::Stop;
                }
                Err(e) => {
                    let pause = strports_sys::accept::retry_delay(&e);
                    if pause.is_zero() {
                        tracing::debug!(error = %e, "strports: accept failed; accepting the next connection");
                    } else {
                        tracing::warn!(error = %e, ?pause, "strports: accept failed; pausing before accepting again");
                        paused_until = Some(Instant::now() + pause);
                    }
                }
            },
        }
    };
    // Stop listening first: new connections are refused (and a unix socket file is
    // removed) while the running ones finish or are cancelled.
    drop(listener);
    if let End::Abort = end {
        tasks.abort();
    }
    tasks.wait().await;
}

/// The connection tasks of a [`serve`] loop: their handles, those of finished tasks
/// dropped whenever the list has doubled since the last pruning (amortised O(1) per
/// connection). Cheaper per connection than a `JoinSet`, which also wakes the accept
/// loop each time a connection ends. Dropping it aborts the tasks still running.
#[derive(Default)]
struct Tasks {
    handles: Vec<JoinHandle<()>>,
    prune_at: usize,
}

impl Tasks {
    fn spawn(&mut self, connection: impl Future<Output = ()> + Send + 'static) {
        if self.handles.len() >= self.prune_at {
            self.handles.retain(|h| !h.is_finished());
            self.prune_at = (self.handles.len() * 2).max(64);
        }
        self.handles.push(tokio::spawn(connection));
    }

    fn abort(&self) {
        for handle in &self.handles {
            handle.abort();
        }
    }

    /// Waits until every task has ended. A handle leaves the list only once its task
    /// has ended, so if this is cancelled, dropping `self` still aborts the rest.
    async fn wait(&mut self) {
        while let Some(handle) = self.handles.last_mut() {
            // A panic was caught and logged in the task (`Logged`); the only other
            // error is the cancellation `abort` asked for.
            let _ = handle.await;
            self.handles.pop();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// A connection's future, with a panic logged and ending only that connection.
struct Logged<F>(F);

impl<F: Future<Output = ()>> Future for Logged<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: structural pinning: the field is never moved out of a pinned
        // `Logged`, which has no `Drop` impl and is `Unpin` only if `F` is.
        let future = unsafe { self.map_unchecked_mut(|logged| &mut logged.0) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            // The future is not polled again; it is dropped with the task.
            Err(_) => {
                tracing::error!("strports: connection handler panicked");
                Poll::Ready(())
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// A running [`serve`] loop.
#[must_use = "dropping Serving cancels the server; call stop() or abort() to end it"]
pub struct Serving {
    local: Result<Address, (io::ErrorKind, String)>,
    control: Option<oneshot::Sender<End>>,
    accept_loop: Option<JoinHandle<()>>,
}

impl Serving {
    /// The address being listened on (port 0 resolved to the real port).
    pub fn local_address(&self) -> io::Result<Address> {
        match &self.local {
            Ok(a) => Ok(a.clone()),
            Err((kind, message)) => Err(io::Error::new(*kind, message.clone())),
        }
    }

    /// Stops accepting and closes the listener (a `unix` socket file is removed),
    /// then waits until every running connection task has finished.
    pub async fn stop(mut self) {
        self.end(End::Stop).await;
    }

    /// Like [`stop`](Serving::stop), but cancels the running connection tasks
    /// (dropping their futures and streams) and waits until they are gone.
    pub async fn abort(mut self) {
        self.end(End::Abort).await;
    }

    async fn end(&mut self, end: End) {
        if let Some(control) = self.control.take() {
            let _ = control.send(end);
        }
        if let Some(accept_loop) = self.accept_loop.take() {
            if let Err(e) = accept_loop.await {
                if e.is_panic() {
                    tracing::error!("strports: accept loop panicked");
                }
            }
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(accept_loop) = self.accept_loop.take() {
            accept_loop.abort();
        }
    }
}

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("local", &self.local)
            .field("running", &self.accept_loop.is_some())
            .finish_non_exhaustive()
    }
}
