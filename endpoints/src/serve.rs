//! [`serve`]: one task per accepted connection, Twisted's factory/protocol pattern,
//! with a connection limit, the accept-error back-off and a graceful stop.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use strports_core::endpoint::Address;

use crate::accept::Next;
use crate::listener::Listener;
use crate::runtime::{Runtime, Spawn};
use crate::stream::Stream;
use crate::tasks::{self, Tasks};
use crate::wrap::{Accepting, Wrapped as _};

/// How a [`serve`] loop runs: a connection limit and the grace period of a stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeOptions {
    max_connections: Option<usize>,
    grace: Option<Duration>,
}

impl ServeOptions {
    /// No connection limit; [`Serving::stop`] waits for every connection.
    pub const fn new() -> Self {
        ServeOptions {
            max_connections: None,
            grace: None,
        }
    }

    /// At most `max` connections run at once (at least 1: 0 counts as 1); while all
    /// are taken, new connections wait in the listener's backlog (the kernel's
    /// queue), as HAProxy's `maxconn` does, and are accepted as slots free up.
    pub const fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(if max == 0 { 1 } else { max });
        self
    }

    /// [`Serving::stop`] gives the running connections `grace` to finish, then
    /// cancels the rest (as [`Serving::abort`] does).
    pub const fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// The connection limit, if any.
    pub const fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }

    /// The grace period of a stop, if any.
    pub const fn grace(&self) -> Option<Duration> {
        self.grace
    }
}

/// Serves connections from `listener` with `R`'s default spawner (the current tokio
/// runtime; smol's global executor) and default [`ServeOptions`]; see
/// [`serve_with`].
pub fn serve<R, H, F>(listener: Listener<R>, handler: H) -> Serving<R>
where
    R: Runtime,
    H: Fn(Stream<R>, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(&R::spawner(), listener, ServeOptions::default(), handler)
}

/// Serves connections from `listener`: an accept loop task, and one task per
/// accepted connection running `handler(stream, peer)`, all spawned with `spawner`.
/// This is Twisted's `endpoint.listen(factory)`, with the handler in the role of
/// the protocol.
///
/// The loop never ends on its own: an accept error is logged (with `tracing`) and
/// accepting resumes, at once for errors about one connection (`ECONNABORTED`) and
/// after 100 ms for the others (`EMFILE`: see [`crate::accept::after_error`]), so it
/// neither spins nor exits. The one exception is a listener with no more
/// connections to give (`stdio` after its one connection): the loop then stops
/// accepting, as [`Serving::stop`] does. A handler that panics is logged and ends
/// only its own connection.
///
/// Stop it with [`Serving::stop`] (graceful, within the options' grace period) or
/// [`Serving::abort`]. Dropping the [`Serving`] cancels the loop and every
/// connection task.
pub fn serve_with<R, H, F>(
    spawner: &R::Spawner,
    listener: Listener<R>,
    options: ServeOptions,
    handler: H,
) -> Serving<R>
where
    R: Runtime,
    H: Fn(Stream<R>, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let handler = move |stream, peer, _| handler(stream, peer);
    start(spawner, Listeners::One(listener), options, handler)
}

/// Spawns the accept loop over `listeners`.
fn start<R, H, F>(
    spawner: &R::Spawner,
    listeners: Listeners<R>,
    options: ServeOptions,
    handler: H,
) -> Serving<R>
where
    R: Runtime,
    H: Fn(Stream<R>, Address, usize) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let locals = listeners
        .iter()
        .map(|l| l.local_addr().map_err(|e| (e.kind(), e.to_string())))
        .collect();
    let control = Arc::new(Control::default());
    let task = spawner.spawn(accept_loop(
        spawner.clone(),
        listeners,
        options,
        handler,
        control.clone(),
    ));
    Serving {
        locals,
        control,
        accept_loop: Some(task),
    }
}

/// How the loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// [`Serving::stop`]: wait for the connection tasks, within the grace period.
    Stop,
    /// [`Serving::abort`]: cancel the connection tasks.
    Abort,
    /// The listener has no more connections to give (`stdio`): wait for the
    /// connection tasks for as long as they run, until a stop or an abort.
    Finished,
}

/// The end asked for, and the accept loop's waker.
#[derive(Default)]
struct Control {
    /// 0 while serving; then [`STOP`] or [`ABORT`].
    end: AtomicU8,
    /// The accept loop task's waker, stored at its first wait: only that task ever
    /// waits here, and a task's waker stays valid for its life, so the lock is taken
    /// once per loop, not once per accept.
    waker: Mutex<Option<Waker>>,
    registered: AtomicBool,
    /// Set once the loop has closed the listener; `closed_waiter` waits for it.
    closed: AtomicBool,
    closed_waiter: Mutex<Option<Waker>>,
}

const STOP: u8 = 1;
const ABORT: u8 = 2;

impl Control {
    fn end(&self, end: End) {
        let value = match end {
            End::Stop | End::Finished => STOP,
            End::Abort => ABORT,
        };
        self.end.store(value, Ordering::SeqCst);
        // Kept: the loop waits here again after a stop, for an abort.
        if let Some(waker) = &*self.waker.lock().unwrap_or_else(|p| p.into_inner()) {
            waker.wake_by_ref();
        }
    }

    fn ended(&self) -> Option<End> {
        match self.end.load(Ordering::SeqCst) {
            STOP => Some(End::Stop),
            ABORT => Some(End::Abort),
            _ => None,
        }
    }

    /// Marks the listener closed and wakes whoever waits for that.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let waker = self
            .closed_waiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Completes once the loop has closed the listener.
    fn wait_closed(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.closed.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.closed_waiter.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(cx.waker().clone());
            if self.closed.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Completes once an abort is asked for (after a stop, say). Only the accept
    /// loop task waits here.
    fn aborted(&self) -> impl Future<Output = ()> + '_ {
        let wait = self.wait();
        async move {
            let mut wait = pin!(wait);
            poll_fn(|cx| match wait.as_mut().poll(cx) {
                Poll::Ready(End::Abort) => Poll::Ready(()),
                _ => Poll::Pending,
            })
            .await
        }
    }

    /// Completes once an end is asked for. Only the accept loop task waits here.
    fn wait(&self) -> impl Future<Output = End> + '_ {
        poll_fn(|cx| {
            if let Some(end) = self.ended() {
                return Poll::Ready(end);
            }
            if !self.registered.swap(true, Ordering::SeqCst) {
                *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                // An end asked for before the waker was stored found none to wake.
                if let Some(end) = self.ended() {
                    return Poll::Ready(end);
                }
            }
            Poll::Pending
        })
    }
}

/// Polls `first`, then `second`: the first ready wins.
async fn either<A: Future, B: Future>(first: A, second: B) -> Result<A::Output, B::Output> {
    let (mut first, mut second) = (pin!(first), pin!(second));
    poll_fn(|cx| {
        if let Poll::Ready(a) = first.as_mut().poll(cx) {
            return Poll::Ready(Ok(a));
        }
        second.as_mut().poll(cx).map(Err)
    })
    .await
}

async fn accept_loop<R, H, F>(
    spawner: R::Spawner,
    mut listeners: Listeners<R>,
    options: ServeOptions,
    handler: H,
    control: Arc<Control>,
) where
    R: Runtime,
    H: Fn(Stream<R>, Address, usize) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    // Owning the connection tasks here means dropping this future (Serving dropped,
    // or the runtime shutting down) cancels them all.
    let tasks = Tasks::default();
    let handler = Arc::new(handler);
    let end = loop {
        if let Some(max) = options.max_connections {
            if tasks.running() >= max {
                if let Ok(end) = either(control.wait(), tasks.wait_below(max)).await {
                    break end;
                }
            }
        }
        let accepted = match either(control.wait(), listeners.accept()).await {
            Ok(end) => break end,
            Err(accepted) => accepted,
        };
        match accepted {
            Ok((stream, peer, index)) => {
                // The handler is called inside the task, so a panic in the call itself
                // ends only that task too.
                let handler = Arc::clone(&handler);
                spawn(&spawner, &tasks, async move {
                    handler(stream, peer, index).await;
                });
            }
            Err(e) => match crate::accept::after_error(&e) {
                Next::Finish => break End::Finished,
                Next::Retry(pause) if pause.is_zero() => {}
                Next::Retry(pause) => {
                    let until = R::now() + pause;
                    if let Ok(end) = either(control.wait(), R::sleep_until(until)).await {
                        break end;
                    }
                }
            },
        }
    };
    // Stop listening first: new connections are refused (and a unix socket file is
    // removed) while the running ones finish or are cancelled.
    drop(listeners);
    control.close();
    let mut end = end;
    if end == End::Finished {
        // The connections run to their end, unless a stop or an abort comes first.
        match either(tasks.wait(), control.wait()).await {
            Ok(()) => return,
            Err(asked) => end = asked,
        }
    }
    if end == End::Stop {
        let deadline = options.grace.map(|grace| R::now() + grace);
        let over = either(
            crate::runtime::sleep_until::<R>(deadline),
            control.aborted(),
        );
        match either(tasks.wait(), over).await {
            Ok(()) => return,
            Err(Ok(())) => tracing::info!(
                running = tasks.running(),
                "strports: grace period over; cancelling the remaining connections"
            ),
            Err(Err(())) => {}
        }
    }
    tasks.abort();
    tasks.wait().await;
}

/// Spawns a connection task, boxing a large future first (see [`tasks::boxes`]).
/// The task runs on its own: `tasks` counts it, and can end it.
fn spawn<S: Spawn, C: Future<Output = ()> + Send + 'static>(
    spawner: &S,
    tasks: &Tasks,
    connection: C,
) {
    if tasks::boxes::<C>() {
        spawner.detach(tasks.track(Box::pin(connection)));
    } else {
        spawner.detach(tasks.track(connection));
    }
}

/// A running [`serve`] loop. End it with [`stop`](Serving::stop) (graceful,
/// bounded by [`ServeOptions::with_grace`]) or [`abort`](Serving::abort).
/// **Dropping it cancels the loop and every connection task at once** (their
/// futures and streams are dropped, as by `abort`, without waiting for them).
#[must_use = "dropping Serving cancels the server; call stop() or abort() to end it"]
pub struct Serving<R: Runtime> {
    /// The address of each listener, in order.
    locals: Vec<Result<Address, (io::ErrorKind, String)>>,
    control: Arc<Control>,
    accept_loop: Option<<R::Spawner as Spawn>::Task>,
}

impl<R: Runtime> Serving<R> {
    /// The address being listened on (port 0 resolved to the real port); for a
    /// [`serve_many`] loop, that of its first listener.
    pub fn local_addr(&self) -> io::Result<Address> {
        match self.locals.first() {
            Some(local) => address(local),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no listener is served",
            )),
        }
    }

    /// The address of every listener served, in the order given to
    /// [`serve_many`] (one for [`serve`]).
    pub fn local_addrs(&self) -> Vec<io::Result<Address>> {
        self.locals.iter().map(address).collect()
    }

    /// Stops accepting and closes the listener (a `unix` socket file is removed),
    /// then waits until every running connection task has finished, or, with a
    /// grace period ([`ServeOptions::with_grace`]), until it is over; the connections
    /// still running then are cancelled as by [`abort`](Serving::abort). Without a
    /// grace period this can wait for ever: bound it with one, or drop the future
    /// (and the `Serving`) to cancel what is left.
    pub async fn stop(mut self) {
        self.end(End::Stop).await;
    }

    /// The first half of [`stop`](Serving::stop): asks the loop to stop accepting
    /// and returns once it has closed the listener (new connections are refused
    /// from then on), while the running connections go on. Call `stop` or `abort`
    /// after it to wait for them or to cancel them (the grace period counts from
    /// here).
    pub async fn stop_accepting(&mut self) {
        self.control.end(End::Stop);
        self.control.wait_closed().await;
    }

    /// Whether the loop has closed its listener: after a stop, or on its own when
    /// the listener had no more connections to give (`stdio`).
    pub fn is_closed(&self) -> bool {
        self.control.closed.load(Ordering::SeqCst)
    }

    /// Like [`stop`](Serving::stop), but cancels the running connection tasks
    /// (dropping their futures and streams) and waits until they are gone.
    pub async fn abort(mut self) {
        self.end(End::Abort).await;
    }

    async fn end(&mut self, end: End) {
        self.control.end(end);
        if let Some(accept_loop) = self.accept_loop.take() {
            accept_loop.await;
        }
    }
}

impl<R: Runtime> fmt::Debug for Serving<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("locals", &self.locals)
            .field("running", &self.accept_loop.is_some())
            .finish_non_exhaustive()
    }
}

/// A listener's address as [`Serving`] keeps it, as a result again.
fn address(local: &Result<Address, (io::ErrorKind, String)>) -> io::Result<Address> {
    match local {
        Ok(a) => Ok(a.clone()),
        Err((kind, message)) => Err(io::Error::new(*kind, message.clone())),
    }
}

/// Serves connections from several listeners in one loop, with `R`'s default
/// spawner and default [`ServeOptions`]; see [`serve_many_with`].
pub fn serve_many<R, H, F>(
    listeners: impl IntoIterator<Item = Listener<R>>,
    handler: H,
) -> Serving<R>
where
    R: Runtime,
    H: Fn(Stream<R>, Address, usize) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    serve_many_with(&R::spawner(), listeners, ServeOptions::default(), handler)
}

/// Serves connections from every listener of `listeners` in one loop, as
/// [`serve_with`] does for one: `handler(stream, peer, index)` runs in a task per
/// connection, `index` being the position in `listeners` of the listener that
/// accepted it. The listeners share everything else: the connection limit counts
/// the connections of all of them (while it is reached, none accepts and new
/// connections wait in each listener's backlog), one [`Serving`] stops them all
/// (every listener is closed, then the grace period applies to all the
/// connections), and the accept-error policy applies to each. Listeners with
/// connections ready take turns, so a busy one does not starve the others. A
/// listener with no more connections to give (`stdio`) is closed and the others go
/// on; the loop stops accepting once none is left (at once for an empty set).
/// [`Serving::local_addrs`] gives the address of each.
pub fn serve_many_with<R, H, F>(
    spawner: &R::Spawner,
    listeners: impl IntoIterator<Item = Listener<R>>,
    options: ServeOptions,
    handler: H,
) -> Serving<R>
where
    R: Runtime,
    H: Fn(Stream<R>, Address, usize) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut listeners: Vec<Listener<R>> = listeners.into_iter().collect();
    let listeners = match (listeners.pop(), listeners.is_empty()) {
        (Some(only), true) => Listeners::One(only),
        (last, _) => {
            listeners.extend(last);
            Listeners::Many(ListenerSet::new(listeners))
        }
    };
    start(spawner, listeners, options, handler)
}

/// The listeners of one serve loop. One value per loop, for its whole life: the
/// size of the larger variant costs nothing, and [`serve`]'s listener stays inline.
#[allow(clippy::large_enum_variant)]
enum Listeners<R: Runtime> {
    /// [`serve`], or [`serve_many`] of one: accepted directly.
    One(Listener<R>),
    /// [`serve_many`] of several (or none).
    Many(ListenerSet<R>),
}

impl<R: Runtime> Listeners<R> {
    /// The listeners, in order.
    fn iter(&self) -> impl Iterator<Item = &Listener<R>> + '_ {
        let (one, many) = match self {
            Listeners::One(l) => (Some(l), None),
            Listeners::Many(set) => (None, Some(set.listeners.iter().flatten().map(|l| &**l))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// The next connection, with the index of its listener. Cancel-safe.
    async fn accept(&mut self) -> io::Result<(Stream<R>, Address, usize)> {
        match self {
            Listeners::One(l) => l.accept().await.map(|(stream, peer)| (stream, peer, 0)),
            Listeners::Many(set) => poll_fn(|cx| set.poll_accept(cx)).await,
        }
    }
}

/// Several listeners accepted from in turn: one accept in progress per listener,
/// kept between calls (so a dropped call loses no connection).
struct ListenerSet<R: Runtime> {
    /// `None` once a listener has no more connections to give (it is closed then).
    listeners: Vec<Option<Arc<Listener<R>>>>,
    /// The accept in progress of each listener; each owns its listener too.
    pending: Vec<Option<Accepting<R>>>,
    /// Where the next round of polls starts: after the last listener that gave a
    /// connection.
    next: usize,
}

impl<R: Runtime> ListenerSet<R> {
    fn new(listeners: Vec<Listener<R>>) -> Self {
        let pending = listeners.iter().map(|_| None).collect();
        ListenerSet {
            listeners: listeners.into_iter().map(|l| Some(Arc::new(l))).collect(),
            pending,
            next: 0,
        }
    }

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Stream<R>, Address, usize)>> {
        let count = self.listeners.len();
        for turn in 0..count {
            let index = (self.next + turn) % count;
            let Some(listener) = &self.listeners[index] else {
                continue;
            };
            let accepting = self.pending[index].get_or_insert_with(|| listener.accepting());
            let Poll::Ready(result) = accepting.as_mut().poll(cx) else {
                continue;
            };
            self.pending[index] = None;
            self.next = (index + 1) % count;
            match result {
                Ok((stream, peer)) => return Poll::Ready(Ok((stream, peer, index))),
                Err(e) if crate::accept::ends_serving(&e) && self.open() > 1 => {
                    tracing::debug!(error = %e, index, "strports: a listener has no more connections; serving the others");
                    // Its accept is gone, so this closes it.
                    self.listeners[index] = None;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if self.open() == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no listener left to accept from",
            )));
        }
        Poll::Pending
    }

    /// How many listeners still give connections.
    fn open(&self) -> usize {
        self.listeners.iter().flatten().count()
    }
}
