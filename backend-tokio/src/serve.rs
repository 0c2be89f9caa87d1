//! [`serve`]: one task per accepted connection, Twisted's factory/protocol pattern.

use std::fmt;
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use strports_core::endpoint::Address;
use tokio::sync::{Notify, oneshot};
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
                    // The handler's future is made inside the task, so it is never
                    // moved (it may hold buffers of kilobytes).
                    let handler = Arc::clone(&handler);
                    tasks.spawn(async move { handler(stream, peer).await });
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

/// The connection tasks of a [`serve`] loop, tracked without keeping their
/// `JoinHandle`s: a finished task is freed at once, as with a bare `tokio::spawn`
/// (a kept handle holds the task's memory until it is dropped, and a `JoinSet` also
/// wakes its owner each time a task ends). Each task counts itself while its future
/// lives, and parks its waker here while it waits, so [`Tasks::abort`] can wake it to
/// end. Dropping `Tasks` aborts the tasks still running.
#[derive(Default)]
struct Tasks {
    shared: Arc<Shared>,
}

/// Connection futures larger than this are boxed before they are spawned.
const INLINE_FUTURE_MAX: usize = 512;

/// What a [`serve`] loop and its connection tasks share.
#[derive(Default)]
struct Shared {
    /// Connection futures not yet dropped.
    live: AtomicUsize,
    /// Set once the loop waits for `live` to reach zero.
    waiting: AtomicBool,
    /// Set by [`Tasks::abort`]: every task ends at its next poll.
    aborting: AtomicBool,
    /// The wakers of tasks that are waiting.
    parked: Mutex<Parked>,
    /// Notified when `live` reaches zero while `waiting` is set.
    idle: Notify,
}

impl Shared {
    fn parked(&self) -> MutexGuard<'_, Parked> {
        // The lock is never held across a call that can panic, but a poisoned list
        // of wakers is still a valid list.
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A slab of wakers: a parked task keeps its slot until its future is dropped.
#[derive(Default)]
struct Parked {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Parked {
    fn insert(&mut self, waker: Waker) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(waker);
                slot
            }
            None => {
                self.slots.push(Some(waker));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) -> Option<Waker> {
        let waker = self.slots.get_mut(slot)?.take();
        self.free.push(slot);
        waker
    }
}

impl Tasks {
    /// Spawns `connection` as a tracked task. A large future (one holding a buffer,
    /// say) is boxed first: tokio's task machinery moves a task's future several
    /// times (into the task, and the task's stage when it ends), each a `memcpy` of
    /// its whole size, while a box moves as a pointer.
    fn spawn<C: Future<Output = ()> + Send + 'static>(&self, connection: C) {
        if size_of::<C>() > INLINE_FUTURE_MAX {
            self.spawn_tracked(Box::pin(connection));
        } else {
            self.spawn_tracked(connection);
        }
    }

    fn spawn_tracked(&self, connection: impl Future<Output = ()> + Send + 'static) {
        // Only this loop adds, and it waits (below) in the same task.
        self.shared.live.fetch_add(1, Ordering::Relaxed);
        // The handle is dropped at once, as a bare accept-and-spawn loop does.
        drop(tokio::spawn(Tracked {
            future: ManuallyDrop::new(connection),
            shared: Arc::clone(&self.shared),
            parked: None,
        }));
    }

    /// Makes every task end at its next poll, and wakes those that wait.
    fn abort(&self) {
        self.shared.aborting.store(true, Ordering::SeqCst);
        for waker in self.shared.parked().slots.iter().flatten() {
            waker.wake_by_ref();
        }
    }

    /// Waits until every task's future has been dropped. If this is cancelled,
    /// dropping `self` still aborts the rest.
    async fn wait(&self) {
        let shared = &*self.shared;
        shared.waiting.store(true, Ordering::SeqCst);
        loop {
            let idle = shared.idle.notified();
            let mut idle = std::pin::pin!(idle);
            // Registered before the check, so a task ending in between still wakes us.
            idle.as_mut().enable();
            if shared.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// A connection task's future: counted in [`Shared::live`] while it lives, parked in
/// [`Shared::parked`] while it waits, ended by [`Tasks::abort`], and with a panic
/// logged and ending only that connection.
struct Tracked<F> {
    /// Dropped in place by `Drop`, before the task stops counting as live: `stop`
    /// and `abort` return only once every connection's stream is closed.
    future: ManuallyDrop<F>,
    shared: Arc<Shared>,
    /// The slot in [`Shared::parked`] and the waker stored there.
    parked: Option<(usize, Waker)>,
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: it is never moved out of a pinned
        // `Tracked` (only dropped in place by `Drop`); the other fields are not
        // pinned and may be moved.
        let this = unsafe { self.get_unchecked_mut() };
        if this.shared.aborting.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        // SAFETY: see above.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(())) => return Poll::Ready(()),
            Ok(Poll::Pending) => {}
            // The future is not polled again; it is dropped with the task.
            Err(_) => {
                tracing::error!("strports: connection handler panicked");
                return Poll::Ready(());
            }
        }
        // A task's waker is the same at every poll, so this takes the lock once per
        // connection, not once per poll.
        if let Some((_, waker)) = &this.parked {
            if waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        let waker = cx.waker().clone();
        let mut parked = this.shared.parked();
        match &mut this.parked {
            Some((slot, old)) => {
                if let Some(stored) = parked.slots.get_mut(*slot) {
                    *stored = Some(waker.clone());
                }
                *old = waker;
            }
            None => this.parked = Some((parked.insert(waker.clone()), waker)),
        }
        // `abort` sets the flag before it takes the lock to wake the parked tasks: if
        // it woke them before this task parked, the flag is seen here.
        if this.shared.aborting.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        // SAFETY: `future` is dropped once, here, in place (as pinning requires), and
        // never used after.
        unsafe { ManuallyDrop::drop(&mut self.future) };
        if let Some((slot, _)) = self.parked.take() {
            // The stored waker is dropped after the lock is released.
            let stored = self.shared.parked().remove(slot);
            drop(stored);
        }
        let shared = &self.shared;
        if shared.live.fetch_sub(1, Ordering::SeqCst) == 1 && shared.waiting.load(Ordering::SeqCst)
        {
            shared.idle.notify_waiters();
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
