//! [`serve`]: one task per accepted connection, Twisted's factory/protocol pattern.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use async_io::Timer;
use smol::{Executor, Task};
use strports_core::endpoint::Address;
use strports_sys::tasks::{self, Tasks};

use crate::{Listener, Stream};

/// Serves connections from `listener` on smol's global executor (`smol::spawn`):
/// an accept loop task, and one task per accepted connection running
/// `handler(stream, peer)`. This is Twisted's `endpoint.listen(factory)`, with the
/// handler in the role of the protocol.
///
/// smol has no ambient runtime, so this uses the executor a smol program gets from
/// `smol::spawn` (threads started on first use; `SMOL_THREADS` sets how many, 1 by
/// default). A program that runs its own [`Executor`] uses [`serve_on`] instead.
///
/// The loop never ends on its own: an accept error is logged (with `tracing`) and
/// accepting resumes, at once for errors about one connection (`ECONNABORTED`) and
/// after 100 ms for the others (`EMFILE`), so it neither spins nor exits. The one
/// exception is a listener with no more connections to give (`stdio` after its one
/// connection): the loop then stops accepting, as [`Serving::stop`] does. A handler
/// that panics is logged and ends only its own connection.
///
/// Stop it with [`Serving::stop`] (or [`Serving::abort`]). Dropping the [`Serving`]
/// without that cancels the loop and every connection task, like dropping a smol
/// `Task`.
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// # smol::block_on(async {
/// let listener = strports_smol::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let serving = strports_smol::serve(listener, |mut stream, _peer| async move {
///     let _ = stream.write_all(b"hello\n").await;
/// });
/// let port = match serving.local_address()? {
///     strports_core::Address::Tcp(a) => a.port(),
///     _ => unreachable!(),
/// };
/// let mut client = strports_smol::connect(&format!("tcp:127.0.0.1:{port}").parse()?).await?;
/// let mut greeting = String::new();
/// client.read_to_string(&mut greeting).await?;
/// assert_eq!(greeting, "hello\n");
/// serving.stop().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn serve<H, F>(listener: Listener, handler: H) -> Serving
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    start(Spawner::Global, listener, handler)
}

/// Like [`serve`], on `executor` instead of smol's global executor. The program
/// must run the executor (for example `executor.run(...)` on some threads).
///
/// ```
/// use std::sync::Arc;
///
/// let executor = Arc::new(smol::Executor::new());
/// # smol::block_on(executor.run(async {
/// let listener = strports_smol::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let serving = strports_smol::serve_on(&executor, listener, |_stream, _peer| async {});
/// serving.stop().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })).unwrap();
/// ```
pub fn serve_on<H, F>(executor: &Arc<Executor<'static>>, listener: Listener, handler: H) -> Serving
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    start(Spawner::Executor(executor.clone()), listener, handler)
}

#[derive(Clone)]
enum Spawner {
    Global,
    Executor(Arc<Executor<'static>>),
}

impl Spawner {
    /// Spawns `future` and drops the task's handle (`detach`): `tasks` counts the
    /// task, and can end it. A large future is boxed first (see [`tasks::boxes`]).
    fn spawn_tracked<C: Future<Output = ()> + Send + 'static>(&self, tasks: &Tasks, connection: C) {
        if tasks::boxes::<C>() {
            self.spawn(tasks.track(Box::pin(connection))).detach();
        } else {
            self.spawn(tasks.track(connection)).detach();
        }
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Task<()> {
        match self {
            Spawner::Global => smol::spawn(future),
            Spawner::Executor(e) => e.spawn(future),
        }
    }
}

fn start<H, F>(spawner: Spawner, listener: Listener, handler: H) -> Serving
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let local = listener
        .local_address()
        .map_err(|e| (e.kind(), e.to_string()));
    // Shared by the accept loop (which adds to it) and `Serving` (which ends or waits
    // for the tasks); the last one dropped aborts those still running.
    let tasks = Arc::new(Tasks::default());
    let accept_loop = spawner.spawn(accept_loop(
        spawner.clone(),
        listener,
        handler,
        Arc::clone(&tasks),
    ));
    Serving {
        local,
        accept_loop: Some(accept_loop),
        tasks,
    }
}

async fn accept_loop<H, F>(spawner: Spawner, listener: Listener, handler: H, tasks: Arc<Tasks>)
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // The handler is called inside the task, so a panic in the call
                // itself ends only that task too.
                let handler = Arc::clone(&handler);
                spawner.spawn_tracked(&tasks, async move { handler(stream, peer).await });
            }
            Err(e) if strports_sys::accept::ends_serving(&e) => {
                // `stdio` after its one connection: stop accepting; the running
                // connections go on, owned by `Serving`.
                tracing::debug!(error = %e, "strports: no more connections to accept");
                return;
            }
            Err(e) => {
                let pause = strports_sys::accept::retry_delay(&e);
                if pause.is_zero() {
                    tracing::debug!(error = %e, "strports: accept failed; accepting the next connection");
                } else {
                    tracing::warn!(error = %e, ?pause, "strports: accept failed; pausing before accepting again");
                    Timer::after(pause).await;
                }
            }
        }
    }
}

/// A running [`serve`] loop.
#[must_use = "dropping Serving cancels the server; call stop() or abort() to end it"]
pub struct Serving {
    local: Result<Address, (io::ErrorKind, String)>,
    accept_loop: Option<Task<()>>,
    tasks: Arc<Tasks>,
}

impl Serving {
    /// The address being listened on (port 0 resolved to the real port).
    pub fn local_address(&self) -> io::Result<Address> {
        match &self.local {
            Ok(a) => Ok(a.clone()),
            Err((kind, message)) => Err(io::Error::new(*kind, message.clone())),
        }
    }

    /// Stops accepting and closes the listener (a `unix` socket file is removed
    /// before this returns), then waits until every running connection task has
    /// finished (or been dropped with its executor).
    pub async fn stop(mut self) {
        self.stop_accepting().await;
        self.tasks.wait().await;
    }

    /// Like [`stop`](Serving::stop), but cancels the running connection tasks
    /// (dropping their futures and streams) and waits until they are gone.
    pub async fn abort(mut self) {
        self.stop_accepting().await;
        self.tasks.abort();
        self.tasks.wait().await;
    }

    /// Cancels the accept loop, which drops the listener.
    async fn stop_accepting(&mut self) {
        if let Some(accept_loop) = self.accept_loop.take() {
            // Returns once the loop's future, and with it the listener, is dropped.
            accept_loop.cancel().await;
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
