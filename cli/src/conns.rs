//! What the tool counts beside the library's serve loop: the connection handlers
//! alive (for the logs, and to wait for those cut at shutdown to write their
//! summaries), and whether the loop has ended on its own.
//!
//! The limit and the cancelling are the library's (`ServeOptions`,
//! `Serving::stop`); this only observes. Runtime-independent (event-listener works
//! under any executor).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use event_listener::Event;

/// The live connection handlers of one server.
#[derive(Debug, Default)]
pub(crate) struct Conns {
    live: AtomicUsize,
    /// Set once the serve loop and every connection of it are gone.
    ended: AtomicBool,
    /// Notified whenever a handler ends, and when the loop has ended.
    changed: Event,
}

/// One running handler; dropping it counts it gone.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Conns>);

/// Owned by the serve loop's handler: dropped (and so marking the loop ended) once
/// the loop has stopped accepting and every connection task is gone.
#[derive(Debug)]
pub(crate) struct LoopGuard(Arc<Conns>);

impl Conns {
    /// The number of live handlers.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Counts one more live handler; returns its slot and the new count.
    pub(crate) fn enter(self: &Arc<Self>) -> (Slot, usize) {
        let live = self.live.fetch_add(1, Ordering::AcqRel) + 1;
        (Slot(self.clone()), live)
    }

    /// The guard to move into the serve loop's handler.
    pub(crate) fn loop_guard(self: &Arc<Self>) -> LoopGuard {
        LoopGuard(self.clone())
    }

    /// Waits until `done` holds, re-checking whenever something changed.
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        wait_until(&self.changed, || done(self)).await;
    }

    /// Waits until no handler is live.
    pub(crate) async fn all_done(&self) {
        self.until(|c| c.live() == 0).await;
    }

    /// Waits until the serve loop has ended on its own (its listener had no more
    /// connections) and every connection with it.
    pub(crate) async fn loop_ended(&self) {
        self.until(|c| c.ended.load(Ordering::Acquire)).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify(usize::MAX);
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.changed.notify(usize::MAX);
    }
}

/// Waits until `done` holds, re-checking whenever `changed` is notified.
pub(crate) async fn wait_until(changed: &Event, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        // Listen first, then check again, so a change in between is not missed.
        let listener = changed.listen();
        if done() {
            return;
        }
        listener.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    #[test]
    fn counts_handlers_and_the_end_of_the_loop() {
        let conns = Arc::new(Conns::default());
        future::block_on(conns.all_done());
        let (slot, live) = conns.enter();
        assert_eq!(live, 1);
        assert!(future::block_on(future::poll_once(conns.all_done())).is_none());
        drop(slot);
        future::block_on(conns.all_done());
        let guard = conns.loop_guard();
        assert!(future::block_on(future::poll_once(conns.loop_ended())).is_none());
        drop(guard);
        future::block_on(conns.loop_ended());
    }
}
