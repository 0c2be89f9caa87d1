//! Admission control for the listeners that run a step on each connection before
//! handing it on (TLS handshakes, PROXY headers): how many steps one source may
//! have in flight, and logging rejections at most once per second per kind.
//!
//! The listeners' overall limit of steps in flight ([`crate::in_flight`]) keeps
//! memory and descriptors bounded; the per-source limit here keeps one source from
//! taking all of those slots. A source is an IPv4 address, or an IPv6 /64 network
//! (what one host or one customer usually has); IPv4 addresses mapped into IPv6 are
//! IPv4 addresses. Peers on UNIX sockets have no network address and are not
//! limited per source (the socket's permissions say who may connect).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strports_core::endpoint::Address;

/// One source, as the per-source limit counts them: an IPv4 address, or the first
/// 64 bits of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPv4 address (also when it came mapped into IPv6).
    V4([u8; 4]),
    /// An IPv6 /64 network.
    V6([u8; 8]),
}

impl Source {
    /// The source `peer` belongs to; `None` for peers without a network address.
    ///
    /// ```
    /// use strports_core::endpoint::Address;
    /// use strports_endpoints::admission::Source;
    ///
    /// let a = Source::of(&Address::Tcp("[2001:db8::1]:5000".parse()?));
    /// let b = Source::of(&Address::Tcp("[2001:db8::2:3]:6000".parse()?));
    /// assert_eq!(a, b); // the same /64
    /// let mapped = Source::of(&Address::Tcp("[::ffff:192.0.2.1]:1".parse()?));
    /// assert_eq!(mapped, Source::of(&Address::Tcp("192.0.2.1:2".parse()?)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(peer: &Address) -> Option<Source> {
        let Address::Tcp(addr) = peer else {
            return None;
        };
        Some(match addr.ip().to_canonical() {
            IpAddr::V4(ip) => Source::V4(ip.octets()),
            IpAddr::V6(ip) => {
                let o = ip.octets();
                Source::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
        })
    }
}

/// Counts the steps in flight per source and refuses a source at its limit.
/// Shared by a listener's accept calls; each admitted step holds a [`Ticket`].
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: Mutex<HashMap<Source, usize>>,
}

impl Admission {
    /// At most `limit` steps in flight per source (at least 1).
    pub fn new(limit: usize) -> Arc<Admission> {
        Arc::new(Admission {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// The limit per source.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many steps `source` has in flight.
    pub fn in_flight(&self, source: Source) -> usize {
        self.lock().get(&source).copied().unwrap_or(0)
    }

    /// A ticket for one more step of `peer`'s source, or `None` when that source is
    /// at the limit. Peers without a network address always get one.
    pub fn admit(self: &Arc<Self>, peer: &Address) -> Option<Ticket> {
        let Some(source) = Source::of(peer) else {
            return Some(Ticket(None));
        };
        let mut counts = self.lock();
        let count = counts.entry(source).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Ticket(Some((Arc::clone(self), source))))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Source, usize>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One admitted step: dropping it (the step ended, or was dropped) gives its
/// source's slot back.
#[derive(Debug)]
#[must_use = "the slot is given back when the ticket is dropped"]
pub struct Ticket(Option<(Arc<Admission>, Source)>);

impl Ticket {
    /// A ticket that counts against no source (for peers exempt from the
    /// per-source limit).
    pub fn exempt() -> Ticket {
        Ticket(None)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((admission, source)) = self.0.take() {
            let mut counts = admission.lock();
            if let Some(count) = counts.get_mut(&source) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&source);
                }
            }
        }
    }
}

/// How often a [`RateLimitedLog`] lets a line of one kind through: once a second.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Lets a log line of each kind through at most once per [`LOG_INTERVAL`], and
/// counts the ones held back, so that a burst of rejections gives one line per
/// second per kind (with the count) instead of one line per connection.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    kinds: Mutex<HashMap<&'static str, Kind>>,
}

#[derive(Debug)]
struct Kind {
    last: Instant,
    held_back: u64,
}

impl RateLimitedLog {
    /// A log with no line written yet.
    pub fn new() -> Self {
        RateLimitedLog::default()
    }

    /// Whether a line of `kind` may be written at `now`: `Some(n)` with the number
    /// of lines of that kind held back since the last one written, or `None` (this
    /// one is held back and counted).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use strports_endpoints::admission::RateLimitedLog;
    ///
    /// let log = RateLimitedLog::new();
    /// let t0 = Instant::now();
    /// assert_eq!(log.permit("untrusted", t0), Some(0));
    /// assert_eq!(log.permit("untrusted", t0 + Duration::from_millis(10)), None);
    /// assert_eq!(log.permit("timed out", t0 + Duration::from_millis(20)), Some(0));
    /// assert_eq!(log.permit("untrusted", t0 + Duration::from_millis(30)), None);
    /// assert_eq!(log.permit("untrusted", t0 + Duration::from_secs(1)), Some(2));
    /// ```
    pub fn permit(&self, kind: &'static str, now: Instant) -> Option<u64> {
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        match kinds.get_mut(kind) {
            Some(k) if now.saturating_duration_since(k.last) < LOG_INTERVAL => {
                k.held_back += 1;
                None
            }
            Some(k) => {
                k.last = now;
                Some(std::mem::take(&mut k.held_back))
            }
            None => {
                kinds.insert(
                    kind,
                    Kind {
                        last: now,
                        held_back: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(s: &str) -> Address {
        Address::Tcp(s.parse().expect("test address"))
    }

    #[test]
    fn a_source_at_its_limit_is_refused_until_a_ticket_is_dropped() {
        let admission = Admission::new(2);
        let a = admission.admit(&tcp("192.0.2.1:1")).expect("first");
        let _b = admission.admit(&tcp("192.0.2.1:2")).expect("second");
        assert!(admission.admit(&tcp("192.0.2.1:3")).is_none());
        // Another source is not affected.
        let _c = admission.admit(&tcp("192.0.2.2:1")).expect("other source");
        drop(a);
        assert!(admission.admit(&tcp("192.0.2.1:4")).is_some());
    }

    #[test]
    fn ipv6_sources_are_grouped_by_64_and_unix_peers_are_not_limited() {
        let admission = Admission::new(1);
        let _a = admission.admit(&tcp("[2001:db8:1:2::1]:1")).expect("first");
        assert!(admission.admit(&tcp("[2001:db8:1:2:ffff::9]:1")).is_none());
        assert!(admission.admit(&tcp("[2001:db8:1:3::1]:1")).is_some());
        let unix = Address::Unix(None);
        let _u1 = admission.admit(&unix).expect("unix");
        let _u2 = admission.admit(&unix).expect("unix again");
    }

    #[test]
    fn counts_are_removed_when_they_reach_zero() {
        let admission = Admission::new(3);
        let source = Source::of(&tcp("192.0.2.9:1")).expect("source");
        let t = admission.admit(&tcp("192.0.2.9:1")).expect("ticket");
        assert_eq!(admission.in_flight(source), 1);
        drop(t);
        assert_eq!(admission.in_flight(source), 0);
        assert!(admission.lock().is_empty());
    }
}
