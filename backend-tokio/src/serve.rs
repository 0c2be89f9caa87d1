//! [`serve`]: one task per accepted connection, Twisted's factory/protocol pattern.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use strports_core::endpoint::Address;
use strports_sys::tasks::{self, Tasks};
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
    let tasks = Tasks::default();
    let handler = Arc::new(handler);
    // Set while pausing after an accept error.
    let mut paused_until: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            biased;
            // The sender is only dropped with `Serving`, which then aborts this task.
            end = &mut commands => break end.unwrap_or(End::Abort),
            () = sleep_until(paused_until), if paused_until.is_some() => paused_until = None,
            accepted = listener.accept(), if paused_until.is_none() => match accepted {
                Ok((stream, peer)) => {
                    // The handler is called inside the task, so a panic in the call
                    // itself ends only that task too.
                    let handler = Arc::clone(&handler);
                    spawn(&tasks, async move { handler(stream, peer).await });
                }
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

/// Spawns a connection task, boxing a large future first (see [`tasks::boxes`]). The
/// task's handle is dropped at once, as a bare accept-and-spawn loop does: `tasks`
/// counts the task, and can end it.
fn spawn<C: Future<Output = ()> + Send + 'static>(tasks: &Tasks, connection: C) {
    if tasks::boxes::<C>() {
        drop(tokio::spawn(tasks.track(Box::pin(connection))));
    } else {
        drop(tokio::spawn(tasks.track(connection)));
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
