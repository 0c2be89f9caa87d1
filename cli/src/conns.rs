//! Counting live connections: the `--max-connections` slots, waiting until all are
//! gone, and telling them all to stop when the grace period runs out.
//!
//! Runtime-independent (event-listener works under any executor).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use event_listener::Event;

/// The live connections of one server.
#[derive(Debug)]
pub(crate) struct Conns {
    limit: usize,
    live: AtomicUsize,
    /// Notified whenever a slot is freed.
    freed: Event,
    cancelled: AtomicBool,
    cancel: Event,
}

/// One connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Conns>);

impl Conns {
    /// At most `limit` connections at once (`None`: no limit).
    pub(crate) fn new(limit: Option<usize>) -> Arc<Conns> {
        Arc::new(Conns {
            limit: limit.unwrap_or(usize::MAX),
            live: AtomicUsize::new(0),
            freed: Event::new(),
            cancelled: AtomicBool::new(false),
            cancel: Event::new(),
        })
    }

    /// The number of live connections.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Whether every slot is taken.
    pub(crate) fn full(&self) -> bool {
        self.live() >= self.limit
    }

    /// Waits for a free slot and takes it.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            if let Some(slot) = self.try_acquire() {
                return slot;
            }
            // Listen first, then check again, so a slot freed in between is not missed.
            let freed = self.freed.listen();
            if let Some(slot) = self.try_acquire() {
                return slot;
            }
            freed.await;
        }
    }

    /// Waits until no connection is live.
    pub(crate) async fn all_done(&self) {
        loop {
            if self.live() == 0 {
                return;
            }
            let freed = self.freed.listen();
            if self.live() == 0 {
                return;
            }
            freed.await;
        }
    }

    /// Tells every connection to stop now.
    pub(crate) fn cancel_all(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.cancel.notify(usize::MAX);
    }

    /// Completes once [`cancel_all`](Conns::cancel_all) was called.
    pub(crate) async fn cancelled(&self) {
        loop {
            if self.cancelled.load(Ordering::Acquire) {
                return;
            }
            let cancel = self.cancel.listen();
            if self.cancelled.load(Ordering::Acquire) {
                return;
            }
            cancel.await;
        }
    }
}

impl Slot {
    /// The connections this slot belongs to.
    pub(crate) fn conns(&self) -> &Conns {
        &self.0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
        self.0.freed.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future;

    #[test]
    fn limit_blocks_until_a_slot_is_freed() {
        let conns = Conns::new(Some(1));
        let first = future::block_on(conns.acquire());
        assert!(conns.full());
        assert!(conns.try_acquire().is_none());
        drop(first);
        let _second = future::block_on(conns.acquire());
        assert_eq!(conns.live(), 1);
    }

    #[test]
    fn all_done_and_cancel() {
        let conns = Conns::new(None);
        future::block_on(conns.all_done());
        let slot = future::block_on(conns.acquire());
        assert!(future::block_on(future::poll_once(conns.all_done())).is_none());
        conns.cancel_all();
        future::block_on(slot.conns().cancelled());
        drop(slot);
        future::block_on(conns.all_done());
    }
}
