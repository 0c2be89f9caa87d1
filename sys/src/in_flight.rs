//! Accepting with a per-connection step run concurrently (the TLS handshake of
//! `ssl:`/`tls:` servers), for both backends: the runtime-free state a listener keeps
//! between `accept` calls. Each poll accepts every raw connection that is ready (up to
//! [`MAX_IN_FLIGHT`] steps in flight) and polls every unfinished step, so a slow or
//! hostile peer never holds up the others.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Steps in flight at most; beyond that, accepting waits for one to end.
pub const MAX_IN_FLIGHT: usize = 256;

/// The raw accept in progress, the steps in flight and the tasks waiting in `accept`.
pub struct InFlight<F> {
    accepting: Option<F>,
    steps: Vec<F>,
    /// Tasks waiting in `accept`: the inner futures only remember the last one, so
    /// the others are woken whenever that one leaves.
    waiters: Vec<Waker>,
}

impl<F> Default for InFlight<F> {
    fn default() -> Self {
        InFlight {
            accepting: None,
            steps: Vec::new(),
            waiters: Vec::new(),
        }
    }
}

impl<F> InFlight<F> {
    /// How many steps are in flight.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether no step is in flight.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl<F> InFlight<F> {
    /// Wakes every task waiting in `accept`: call it when an `accept` future is
    /// dropped, since the inner futures may hold that task's waker only.
    pub fn hand_over(&mut self) {
        for w in std::mem::take(&mut self.waiters) {
            w.wake();
        }
    }
}

impl<T, F: Future<Output = io::Result<T>> + Unpin> InFlight<F> {
    /// The next connection whose step succeeded. `accept` starts a raw accept, `step`
    /// starts the step on an accepted connection, and `failed` is told of each step
    /// that failed (its connection is dropped). A raw accept error is returned as is.
    pub fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        mut accept: impl FnMut() -> F,
        mut step: impl FnMut(T) -> F,
        mut failed: impl FnMut(io::Error),
    ) -> Poll<io::Result<T>> {
        let result = 'found: loop {
            // Whether accepting stopped at the limit, rather than with the listening
            // socket registered for a wake-up (`Pending`).
            let mut at_limit = true;
            while self.steps.len() < MAX_IN_FLIGHT {
                let accepting = self.accepting.get_or_insert_with(&mut accept);
                match Pin::new(accepting).poll(cx) {
                    Poll::Ready(Ok(accepted)) => {
                        self.accepting = None;
                        self.steps.push(step(accepted));
                    }
                    Poll::Ready(Err(e)) => {
                        self.accepting = None;
                        break 'found Err(e);
                    }
                    Poll::Pending => {
                        at_limit = false;
                        break;
                    }
                }
            }
            let mut i = 0;
            while i < self.steps.len() {
                match Pin::new(&mut self.steps[i]).poll(cx) {
                    Poll::Ready(Ok(done)) => {
                        drop(self.steps.swap_remove(i));
                        break 'found Ok(done);
                    }
                    Poll::Ready(Err(e)) => {
                        drop(self.steps.swap_remove(i));
                        failed(e);
                    }
                    Poll::Pending => i += 1,
                }
            }
            if at_limit && self.steps.len() < MAX_IN_FLIGHT {
                // Steps failed while the listening socket was not being polled:
                // accept again, or nothing would wake this listener for new
                // connections once the last step in flight is gone.
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

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};

    use super::*;

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
            |i| -> Step {
                if good(i) {
                    Box::pin(ready(Ok(i)))
                } else {
                    Box::pin(ready(Err(io::Error::other("bad handshake"))))
                }
            },
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

    #[test]
    fn an_accept_error_is_returned_as_is() {
        let mut in_flight: InFlight<Step> = InFlight::default();
        let mut cx = Context::from_waker(Waker::noop());
        let got = in_flight.poll_next(
            &mut cx,
            || -> Step { Box::pin(ready(Err(io::ErrorKind::ConnectionAborted.into()))) },
            |i| -> Step { Box::pin(ready(Ok(i))) },
            |_| panic!("no step ran"),
        );
        match got {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted),
            other => panic!("{other:?}"),
        }
    }
}
