//! The connection tasks of a `serve` loop, for both backends: counted while they
//! live, woken to end on abort, waited for on stop, with a handler panic logged and
//! ending only its own connection. Runtime-free: a backend spawns the future
//! [`Tasks::track`] returns on its own executor and drops the task handle at once.
//!
//! Keeping no task handles is what makes this cheap per connection: a finished task
//! is freed at once, as after a bare accept-and-spawn loop (a kept handle holds the
//! task's memory until it is dropped; tokio's `JoinSet` also wakes its owner each
//! time a task ends). A task takes a lock twice in its life, the first time it waits
//! (to park its waker where [`Tasks::abort`] finds it) and when it ends; never per
//! poll.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Connection futures larger than this many bytes are better boxed before they are
/// spawned (see [`boxes`]).
pub const INLINE_FUTURE_MAX: usize = 512;

/// Whether a connection future of type `F` should be boxed before it is spawned.
/// Executors move a task's future (into the task; tokio also moves its stage when it
/// ends), each a `memcpy` of its whole size, and a handler's future holding a 4 KiB
/// buffer is copied several times per connection; a box moves as a pointer.
pub const fn boxes<F>() -> bool {
    size_of::<F>() > INLINE_FUTURE_MAX
}

/// The connection tasks of one serving loop. Dropping it aborts those still running
/// (without waiting).
#[derive(Default)]
pub struct Tasks {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Connection futures not yet dropped.
    live: AtomicUsize,
    /// Set by [`Tasks::abort`]: every task ends at its next poll.
    aborting: AtomicBool,
    /// While [`Tasks::wait_below`] waits: the count `live` must fall below (0 when
    /// nobody waits).
    wake_below: AtomicUsize,
    /// The wakers of tasks that wait, and of `wait`.
    parked: Mutex<Parked>,
}

impl Shared {
    fn parked(&self) -> MutexGuard<'_, Parked> {
        // Nothing panics while the lock is held (wakers are only stored, moved and
        // woken by reference), and a poisoned list of wakers is still a valid one.
        self.parked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A slab of the waiting tasks' wakers: a task keeps its slot until its future is
/// dropped.
#[derive(Default)]
struct Parked {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// `wait`'s waker.
    waiter: Option<Waker>,
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
    /// Counts `connection` as a running task and returns the future to spawn for
    /// it. The task counts until that future is dropped (when it ends, is aborted,
    /// or its executor drops it).
    pub fn track<F: Future<Output = ()>>(&self, connection: F) -> Tracked<F> {
        self.shared.live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            future: ManuallyDrop::new(connection),
            shared: Arc::clone(&self.shared),
            parked: None,
        }
    }

    /// How many tracked futures are alive.
    pub fn running(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Makes every task end at its next poll (dropping its future, and with it the
    /// connection), and wakes those that wait. Returns at once; [`wait`](Tasks::wait)
    /// for them to be gone.
    pub fn abort(&self) {
        self.shared.aborting.store(true, Ordering::SeqCst);
        for waker in self.shared.parked().slots.iter().flatten() {
            waker.wake_by_ref();
        }
    }

    /// Waits until every tracked future has been dropped.
    pub async fn wait(&self) {
        self.wait_below(1).await;
    }

    /// Waits until fewer than `limit` tracked futures are alive (a connection limit:
    /// the accept loop waits here while all slots are taken). One waiter at a time.
    pub async fn wait_below(&self, limit: usize) {
        let shared = &*self.shared;
        let below = || shared.live.load(Ordering::SeqCst) < limit;
        if below() {
            return;
        }
        shared.wake_below.store(limit, Ordering::SeqCst);
        std::future::poll_fn(|cx| {
            if below() {
                return Poll::Ready(());
            }
            shared.parked().waiter = Some(cx.waker().clone());
            // A task that ended between the check and storing the waker found no
            // waker to wake: check again now that it is stored.
            if below() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        shared.wake_below.store(0, Ordering::SeqCst);
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort();
    }
}

/// A connection task's future (see [`Tasks::track`]).
pub struct Tracked<F> {
    /// Dropped in place by `Drop`, before the task stops counting: `wait` returns
    /// only once every connection's future, and so its stream, is gone.
    future: ManuallyDrop<F>,
    shared: Arc<Shared>,
    /// The slot in [`Parked::slots`] and a copy of the waker stored there.
    parked: Option<(usize, Waker)>,
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned: it is never moved out of a pinned
        // `Tracked`, only dropped in place by `Drop`. The other fields are not
        // pinned, and `Tracked` is not `Unpin` unless `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        if this.shared.aborting.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(())) => return Poll::Ready(()),
            Ok(Poll::Pending) => {}
            // Not polled again: the future is dropped with the task.
            Err(_) => {
                tracing::error!("strports: connection handler panicked");
                return Poll::Ready(());
            }
        }
        // A task's waker is the same at every poll, so the lock below is taken once
        // per connection, not once per poll.
        if let Some((_, waker)) = &this.parked {
            if waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        let waker = cx.waker().clone();
        let mut parked = this.shared.parked();
        let old = match &mut this.parked {
            Some((slot, copy)) => {
                let old = parked
                    .slots
                    .get_mut(*slot)
                    .and_then(|stored| stored.replace(waker.clone()));
                *copy = waker;
                old
            }
            None => {
                this.parked = Some((parked.insert(waker.clone()), waker));
                None
            }
        };
        drop(parked);
        drop(old);
        // `abort` sets the flag before it takes the lock to wake the parked tasks:
        // if it woke them before this one parked, the flag is seen here.
        if this.shared.aborting.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        // SAFETY: `future` is dropped once, here, in place (as pinning requires),
        // and never used after.
        unsafe { ManuallyDrop::drop(&mut self.future) };
        let shared = &*self.shared;
        let stored = match self.parked.take() {
            Some((slot, _)) => shared.parked().remove(slot),
            None => None,
        };
        // Dropped with the lock released.
        drop(stored);
        let left = shared.live.fetch_sub(1, Ordering::SeqCst) - 1;
        if left < shared.wake_below.load(Ordering::SeqCst) {
            let waiter = shared.parked().waiter.take();
            if let Some(waiter) = waiter {
                waiter.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use super::*;

    /// Counts its wakes.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<F: Future>(future: Pin<&mut F>, waker: &Arc<CountingWaker>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::clone(waker));
        future.poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn abort_wakes_waiting_tasks_which_then_end() {
        let tasks = Tasks::default();
        let waker = Arc::new(CountingWaker::default());
        let mut a = Box::pin(tasks.track(std::future::pending::<()>()));
        let mut b = Box::pin(tasks.track(std::future::pending::<()>()));
        assert!(poll(a.as_mut(), &waker).is_pending());
        assert!(poll(b.as_mut(), &waker).is_pending());
        assert_eq!(tasks.running(), 2);
        tasks.abort();
        assert_eq!(waker.0.load(Ordering::SeqCst), 2);
        assert!(poll(a.as_mut(), &waker).is_ready());
        drop(a);
        assert_eq!(tasks.running(), 1);
        drop(b);
        assert_eq!(tasks.running(), 0);
    }

    #[test]
    fn wait_is_woken_by_the_last_task() {
        let tasks = Tasks::default();
        let waker = Arc::new(CountingWaker::default());
        let task = tasks.track(async {});
        let mut wait = Box::pin(tasks.wait());
        assert!(poll(wait.as_mut(), &waker).is_pending());
        let mut task = Box::pin(task);
        assert!(poll(task.as_mut(), &waker).is_ready());
        assert_eq!(
            waker.0.load(Ordering::SeqCst),
            0,
            "still alive until dropped"
        );
        drop(task);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert!(poll(wait.as_mut(), &waker).is_ready());
    }

    #[test]
    fn the_future_is_dropped_before_the_task_stops_counting() {
        struct Probe(Arc<AtomicBool>);
        impl Drop for Probe {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let tasks = Tasks::default();
        let probe = Probe(Arc::clone(&dropped));
        let task = tasks.track(async move {
            let _probe = probe;
            std::future::pending::<()>().await;
        });
        let waker = Arc::new(CountingWaker::default());
        let mut task = Box::pin(task);
        assert!(poll(task.as_mut(), &waker).is_pending());
        drop(task);
        assert!(dropped.load(Ordering::SeqCst));
        assert_eq!(tasks.running(), 0);
    }

    #[test]
    fn a_panicking_handler_ends_only_its_task() {
        let tasks = Tasks::default();
        let waker = Arc::new(CountingWaker::default());
        let mut doomed = Box::pin(tasks.track(async { panic!("expected by this test") }));
        let mut fine = Box::pin(tasks.track(std::future::pending::<()>()));
        assert!(poll(doomed.as_mut(), &waker).is_ready());
        assert!(poll(fine.as_mut(), &waker).is_pending());
        drop(doomed);
        assert_eq!(tasks.running(), 1);
        drop(fine);
    }

    #[test]
    fn slots_are_reused() {
        let tasks = Tasks::default();
        let waker = Arc::new(CountingWaker::default());
        for _ in 0..100 {
            let mut task = Box::pin(tasks.track(std::future::pending::<()>()));
            assert!(poll(task.as_mut(), &waker).is_pending());
        }
        assert_eq!(tasks.shared.parked().slots.len(), 1);
        assert_eq!(tasks.running(), 0);
    }

    #[test]
    fn boxes_only_large_futures() {
        assert!(!boxes::<[u8; 64]>());
        assert!(boxes::<[u8; 4096]>());
    }
}
