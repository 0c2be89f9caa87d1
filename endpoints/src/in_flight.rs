//! Accepting with a per-connection step run concurrently, for both backends: the
//! runtime-free state a listener keeps between `accept` calls. The step is the TLS
//! handshake of `ssl:`/`tls:` servers, or reading the PROXY header of `haproxy:`
//! servers. Each poll accepts every raw connection that is ready (up to the
//! instance's limit of steps in flight: [`MAX_IN_FLIGHT`] unless
//! [`InFlight::with_limit`] says otherwise) and polls the unfinished steps that were
//! woken, so a slow or hostile peer never holds up the others. At the limit no raw
//! connection is accepted (the kernel's backlog holds them) until a step ends.
//! A listener keeps it in a [`Shared`], whose [`Shared::accept`] is the future its
//! `accept` awaits.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, Stream};

/// Steps in flight at most for [`InFlight::default`]; beyond that, accepting waits
/// for one to end.
pub const MAX_IN_FLIGHT: usize = 256;

/// What a listener does with a raw connection it accepted: start its step, or
/// settle it at once without taking a slot among the steps in flight (a peer that
/// is served as it is, or turned away by admission control).
#[derive(Debug)]
pub enum Start<S, U, E> {
    /// Run this step (it takes a slot until it ends).
    Step(S),
    /// Return this connection as it is.
    Ready(U),
    /// Turn the connection away (it is given to the `failed` function).
    Refused(E),
}

/// The raw accept in progress (an `A`), the steps in flight (each an `S`; by
/// default the same type) and the tasks waiting in `accept`.
pub struct InFlight<A, S = A> {
    accepting: Option<A>,
    steps: FuturesUnordered<S>,
    /// Steps in flight at most (at least 1).
    limit: usize,
    /// Tasks waiting in `accept`: the inner futures only remember the last one, so
    /// the others are woken whenever that one leaves.
    waiters: Vec<Waker>,
}

impl<A, S> Default for InFlight<A, S> {
    /// At most [`MAX_IN_FLIGHT`] steps in flight.
    fn default() -> Self {
        InFlight::with_limit(MAX_IN_FLIGHT)
    }
}

impl<A, S> InFlight<A, S> {
    /// At most `limit` steps in flight (at least 1: 0 counts as 1).
    pub fn with_limit(limit: usize) -> Self {
        InFlight {
            accepting: None,
            steps: FuturesUnordered::new(),
            limit: limit.max(1),
            waiters: Vec::new(),
        }
    }

    /// How many steps may be in flight at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many steps are in flight.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step is in flight.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Wakes every task waiting in `accept`: call it when an `accept` future is
    /// dropped, since the inner futures may hold that task's waker only.
    pub fn hand_over(&mut self) {
        for w in std::mem::take(&mut self.waiters) {
            w.wake();
        }
    }
}

impl<T, U, E, A, S> InFlight<A, S>
where
    A: Future<Output = io::Result<T>> + Unpin,
    S: Future<Output = Result<U, E>>,
{
    /// The next connection whose step succeeded. `accept` starts a raw accept, `step`
    /// says what to do with an accepted connection (usually: start its step), and
    /// `failed` is told of each step that failed or connection refused (its
    /// connection is dropped). A raw accept error is returned as is.
    ///
    /// Only the steps woken since the last call are polled (a [`FuturesUnordered`]),
    /// so a call costs the same with one step in flight or with a full set of silent
    /// peers. The steps are polled before accepting, so a raw accept that keeps
    /// failing (`EMFILE` until a connection ends) never starves the connections
    /// already accepted: a step that is done is returned before accepting is tried.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        mut accept: impl FnMut() -> A,
        mut step: impl FnMut(T) -> Start<S, U, E>,
        mut failed: impl FnMut(E),
    ) -> Poll<io::Result<U>> {
        let result = 'found: loop {
            // Pending also when the set yields after a round of polls (it then wakes
            // this task again); `None` when no step is in flight.
            while let Poll::Ready(Some(outcome)) = Pin::new(&mut self.steps).poll_next(cx) {
                match outcome {
                    Ok(done) => break 'found Ok(done),
                    Err(e) => failed(e),
                }
            }
            // Accept while below the limit; at the limit the listening socket is not
            // polled, and a step ending (it wakes the set, which wakes this task)
            // brings this task back to accept again.
            let mut added = false;
            while self.steps.len() < self.limit {
                let accepting = self.accepting.get_or_insert_with(&mut accept);
                match Pin::new(accepting).poll(cx) {
                    Poll::Ready(Ok(accepted)) => {
                        self.accepting = None;
                        match step(accepted) {
                            Start::Step(s) => {
                                self.steps.push(s);
                                added = true;
                            }
                            Start::Ready(done) => break 'found Ok(done),
                            Start::Refused(e) => failed(e),
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        self.accepting = None;
                        break 'found Err(e);
                    }
                    Poll::Pending => break,
                }
            }
            if added {
                // New steps: poll them now, so that they register for a wake-up
                // (and those failing at once make room to accept again).
                continue;
            }
            if !self.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                self.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        };
        for w in self.waiters.drain(..) {
            if !w.will_wake(cx.waker()) {
                w.wake();
            }
        }
        Poll::Ready(result)
    }
}

/// An [`InFlight`] behind a lock, as a listener keeps it: any number of tasks may
/// wait in its `accept` at once, each through [`Shared::accept`].
pub struct Shared<A, S = A> {
    state: Mutex<InFlight<A, S>>,
}

impl<A, S> Default for Shared<A, S> {
    /// At most [`MAX_IN_FLIGHT`] steps in flight.
    fn default() -> Self {
        Shared::with_limit(MAX_IN_FLIGHT)
    }
}

impl<A, S> Shared<A, S> {
    /// At most `limit` steps in flight (at least 1: 0 counts as 1).
    pub fn with_limit(limit: usize) -> Self {
        Shared {
            state: Mutex::new(InFlight::with_limit(limit)),
        }
    }

    /// The next connection whose step succeeded: [`InFlight::poll_next`] with these
    /// three functions, polled until it is ready. Cancel-safe: accepted connections
    /// and steps in flight stay here, and dropping the future wakes the other tasks
    /// waiting in `accept` (see [`InFlight::hand_over`]). The lock is only held
    /// within a poll, never across an `.await`.
    pub fn accept<T, U, E, FA, FS, FF>(
        &self,
        accept: FA,
        step: FS,
        failed: FF,
    ) -> Accept<'_, A, S, FA, FS, FF>
    where
        A: Future<Output = io::Result<T>> + Unpin,
        S: Future<Output = Result<U, E>>,
        FA: FnMut() -> A,
        FS: FnMut(T) -> Start<S, U, E>,
        FF: FnMut(E),
    {
        Accept {
            shared: self,
            accept,
            step,
            failed,
        }
    }

    fn lock(&self) -> MutexGuard<'_, InFlight<A, S>> {
        // A panic in a step or a callback leaves the state usable: recover it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The future of [`Shared::accept`].
#[must_use = "futures do nothing unless polled"]
pub struct Accept<'a, A, S, FA, FS, FF> {
    shared: &'a Shared<A, S>,
    accept: FA,
    step: FS,
    failed: FF,
}

// No field is pinned: the functions are only called through `&mut`.
impl<A, S, FA, FS, FF> Unpin for Accept<'_, A, S, FA, FS, FF> {}

impl<T, U, E, A, S, FA, FS, FF> Future for Accept<'_, A, S, FA, FS, FF>
where
    A: Future<Output = io::Result<T>> + Unpin,
    S: Future<Output = Result<U, E>>,
    FA: FnMut() -> A,
    FS: FnMut(T) -> Start<S, U, E>,
    FF: FnMut(E),
{
    type Output = io::Result<U>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared
            .lock()
            .poll_next(cx, &mut this.accept, &mut this.step, &mut this.failed)
    }
}

impl<A, S, FA, FS, FF> Drop for Accept<'_, A, S, FA, FS, FF> {
    // The inner futures may hold this task's waker only: hand the wait to the others.
    fn drop(&mut self) {
        self.shared.lock().hand_over();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::HashMap;
    use std::future::{pending, poll_fn, ready};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    /// A step function for `poll_next` from one giving the step's future.
    fn starting<T, S, U, E>(mut f: impl FnMut(T) -> S) -> impl FnMut(T) -> Start<S, U, E> {
        move |t| Start::Step(f(t))
    }

    type Step = Pin<Box<dyn Future<Output = io::Result<u32>>>>;

    /// Polls once with `queued` raw connections ready (then accept waits), steps
    /// succeeding for the connections `good` says.
    fn poll(
        in_flight: &mut InFlight<Step>,
        next: &mut u32,
        queued: u32,
        good: impl Fn(u32) -> bool,
        failures: &mut u32,
    ) -> Poll<io::Result<u32>> {
        let mut cx = Context::from_waker(Waker::noop());
        in_flight.poll_next(
            &mut cx,
            || -> Step {
                if *next < queued {
                    *next += 1;
                    Box::pin(ready(Ok(*next)))
                } else {
                    Box::pin(pending())
                }
            },
            starting(|i| -> Step {
                if good(i) {
                    Box::pin(ready(Ok(i)))
                } else {
                    Box::pin(ready(Err(io::Error::other("bad handshake"))))
                }
            }),
            |_| *failures += 1,
        )
    }

    #[test]
    fn failed_steps_are_counted_and_a_good_one_returned() {
        let mut in_flight = InFlight::default();
        let (mut next, mut failures) = (0, 0);
        let got = poll(&mut in_flight, &mut next, 3, |i| i == 3, &mut failures);
        assert!(matches!(got, Poll::Ready(Ok(3))), "{got:?}");
        let got = poll(&mut in_flight, &mut next, 3, |i| i == 3, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(failures, 2);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn every_step_failing_at_the_limit_resumes_accepting() {
        // 300 queued connections, all failing: the first 256 fail in one poll, and
        // accepting must resume for the rest instead of waiting for a wake-up that
        // never comes (the raw accept was not polled while at the limit).
        let mut in_flight = InFlight::default();
        let (mut next, mut failures) = (0, 0);
        let got = poll(&mut in_flight, &mut next, 300, |_| false, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(failures, 300);
        assert_eq!(next, 300);
        assert!(in_flight.is_empty());
    }

    /// How the steps of [`poll_endless`] end, by connection number (success or
    /// not), the wakers of those still pending, and how many step polls there were.
    #[derive(Default)]
    struct Outcomes {
        ends: RefCell<HashMap<u32, bool>>,
        wakers: RefCell<HashMap<u32, Waker>>,
        polls: Cell<u32>,
    }

    impl Outcomes {
        /// Ends step `i` (as a peer's bytes arriving would) and wakes it.
        fn end(&self, i: u32, ok: bool) {
            self.ends.borrow_mut().insert(i, ok);
            if let Some(w) = self.wakers.borrow_mut().remove(&i) {
                w.wake();
            }
        }
    }

    /// Polls once with raw connections always ready (numbered from 1, counted in
    /// `accepts`), each step pending until `outcomes` ends it.
    fn poll_endless(
        in_flight: &mut InFlight<Step>,
        accepts: &Cell<u32>,
        outcomes: &Rc<Outcomes>,
        failures: &mut u32,
    ) -> Poll<io::Result<u32>> {
        let mut cx = Context::from_waker(Waker::noop());
        in_flight.poll_next(
            &mut cx,
            || -> Step {
                accepts.set(accepts.get() + 1);
                Box::pin(ready(Ok(accepts.get())))
            },
            starting(|i| -> Step {
                let outcomes = outcomes.clone();
                Box::pin(poll_fn(move |cx| {
                    outcomes.polls.set(outcomes.polls.get() + 1);
                    match outcomes.ends.borrow().get(&i) {
                        Some(true) => Poll::Ready(Ok(i)),
                        Some(false) => Poll::Ready(Err(io::Error::other("bad header"))),
                        None => {
                            outcomes.wakers.borrow_mut().insert(i, cx.waker().clone());
                            Poll::Pending
                        }
                    }
                }))
            }),
            |_| *failures += 1,
        )
    }

    #[test]
    fn a_custom_limit_holds_raw_accepts_until_a_step_ends() {
        let mut in_flight = InFlight::with_limit(2);
        assert_eq!(in_flight.limit(), 2);
        let (accepts, outcomes, mut failures) = (Cell::new(0), Rc::<Outcomes>::default(), 0);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(
            (accepts.get(), in_flight.len()),
            (2, 2),
            "stopped at the limit"
        );
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(accepts.get(), 2, "no raw accept started at the limit");

        // One step succeeds: it is returned, and the next poll accepts again.
        outcomes.end(1, true);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(matches!(got, Poll::Ready(Ok(1))), "{got:?}");
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(
            (accepts.get(), in_flight.len()),
            (3, 2),
            "accepting resumed"
        );

        // One step fails: accepting resumes in the same poll.
        outcomes.end(2, false);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(failures, 1);
        assert_eq!(
            (accepts.get(), in_flight.len()),
            (4, 2),
            "accepting resumed"
        );
    }

    #[test]
    fn only_woken_steps_are_polled() {
        // A full set of silent peers costs nothing per call: a call after one step
        // is woken polls that step only, not the 1,000 others.
        let mut in_flight = InFlight::with_limit(1000);
        let (accepts, outcomes, mut failures) = (Cell::new(0), Rc::<Outcomes>::default(), 0);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!((in_flight.len(), outcomes.polls.get()), (1000, 1000));
        outcomes.polls.set(0);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(got.is_pending(), "{got:?}");
        assert_eq!(outcomes.polls.get(), 0, "nothing was woken");
        outcomes.end(500, true);
        let got = poll_endless(&mut in_flight, &accepts, &outcomes, &mut failures);
        assert!(matches!(got, Poll::Ready(Ok(500))), "{got:?}");
        assert_eq!(outcomes.polls.get(), 1, "only the woken step");
    }

    #[test]
    fn a_zero_limit_counts_as_one_and_default_is_max_in_flight() {
        assert_eq!(InFlight::<Step>::with_limit(0).limit(), 1);
        assert_eq!(InFlight::<Step>::default().limit(), MAX_IN_FLIGHT);
    }

    #[test]
    fn a_failing_accept_does_not_starve_the_steps_in_flight() {
        // Two connections accepted, then the raw accept fails for good (as with
        // EMFILE until a connection ends): the two are still handed out.
        let mut in_flight: InFlight<Step> = InFlight::default();
        let accepts = Cell::new(0u32);
        let mut poll = || {
            let mut cx = Context::from_waker(Waker::noop());
            in_flight.poll_next(
                &mut cx,
                || -> Step {
                    accepts.set(accepts.get() + 1);
                    match accepts.get() {
                        n @ 1..=2 => Box::pin(ready(Ok(n))),
                        _ => Box::pin(ready(Err(io::Error::from_raw_os_error(24)))),
                    }
                },
                starting(|i| -> Step { Box::pin(ready(Ok(i))) }),
                |_| panic!("no step fails"),
            )
        };
        let mut got = Vec::new();
        for _ in 0..4 {
            match poll() {
                Poll::Ready(Ok(i)) => got.push(i),
                Poll::Ready(Err(e)) => assert_eq!(e.raw_os_error(), Some(24)),
                Poll::Pending => panic!("the accept fails at once"),
            }
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    }

    #[test]
    fn an_accept_error_is_returned_as_is() {
        let mut in_flight: InFlight<Step> = InFlight::default();
        let mut cx = Context::from_waker(Waker::noop());
        let got = in_flight.poll_next(
            &mut cx,
            || -> Step { Box::pin(ready(Err(io::ErrorKind::ConnectionAborted.into()))) },
            starting(|i| -> Step { Box::pin(ready(Ok(i))) }),
            |_| panic!("no step ran"),
        );
        match got {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted),
            other => panic!("{other:?}"),
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Counter {
        fn count(&self) -> usize {
            self.0.load(Ordering::Relaxed)
        }
    }

    type SendStep = Pin<Box<dyn Future<Output = io::Result<u32>> + Send>>;

    #[test]
    fn dropping_an_accept_wakes_the_other_waiters() {
        // The raw accept keeps only the waker of the last task that polled it, as a
        // socket does: when that task's accept is dropped, the first one must still
        // be woken, or it would sleep through the next connection.
        let shared: Shared<SendStep> = Shared::default();
        let held: Arc<Mutex<Option<Waker>>> = Arc::default();
        let accept = || -> SendStep {
            let held = held.clone();
            Box::pin(poll_fn(move |cx| {
                *held.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }))
        };
        let step = |i| -> Start<SendStep, u32, io::Error> { Start::Step(Box::pin(ready(Ok(i)))) };
        let (first, second) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        let (first_waker, second_waker) = (Waker::from(first.clone()), Waker::from(second.clone()));

        // Polls `accept` with `waker`: it waits, and the raw accept now holds `waker`.
        let wait = |accept: &mut Accept<'_, SendStep, SendStep, _, _, _>, waker: &Waker| {
            let got = Pin::new(accept).poll(&mut Context::from_waker(waker));
            assert!(got.is_pending(), "{got:?}");
            let inner = held.lock().unwrap().take();
            assert!(
                inner.is_some_and(|w| w.will_wake(waker)),
                "the raw accept holds it"
            );
        };

        let failed = |e: io::Error| panic!("no step fails: {e}");
        let mut one = shared.accept(accept, step, failed);
        let mut two = shared.accept(accept, step, failed);
        // Send with Send steps: tokio's `serve` spawns its accept loop.
        fn is_send<T: Send>(_: &T) {}
        is_send(&one);
        wait(&mut one, &first_waker);
        wait(&mut two, &second_waker);
        assert_eq!((first.count(), second.count()), (0, 0));

        drop(two);
        assert_eq!(first.count(), 1, "the first waiter was handed the wait");
        // Woken, the first polls again and takes over the raw accept.
        wait(&mut one, &first_waker);
    }
}
