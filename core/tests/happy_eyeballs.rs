//! Happy Eyeballs (RFC 8305) policy on a fake clock: no sockets, no sleeping.
//!
//! Each test drives the state machine the way a backend driver does (a timer fired
//! exactly at every `poll_timeout`), records every action with the millisecond it
//! was issued, and compares the whole log with the expected one.

#![allow(missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use strports_core::endpoint::Lookup;
use strports_core::happy_eyeballs::{
    Action, AttemptId, ConnectError, DEFAULT_ATTEMPT_DELAY, DEFAULT_ATTEMPT_TIMEOUT,
    DEFAULT_RESOLUTION_DELAY, Event, HappyEyeballs, HappyEyeballsConfig, MAX_ATTEMPT_DELAY,
    MIN_ATTEMPT_DELAY,
};

const V6_1: &str = "[2001:db8::1]:443";
const V6_2: &str = "[2001:db8::2]:443";
const V6_3: &str = "[2001:db8::3]:443";
const V4_1: &str = "192.0.2.1:443";
const V4_2: &str = "192.0.2.2:443";
const V4_3: &str = "192.0.2.3:443";

const RESOLVE: [(u64, &str); 2] = [(0, "resolve ipv6"), (0, "resolve ipv4")];

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn refused() -> io::Error {
    io::ErrorKind::ConnectionRefused.into()
}

fn config(f: impl FnOnce(&mut HappyEyeballsConfig)) -> HappyEyeballsConfig {
    let mut c = HappyEyeballsConfig::default();
    f(&mut c);
    c
}

/// A fake driver: performs nothing, records everything.
struct Sim {
    he: HappyEyeballs,
    t0: Instant,
    now: Instant,
    log: Vec<(u64, String)>,
    ids: HashMap<SocketAddr, AttemptId>,
    addrs: Vec<SocketAddr>,
    error: Option<ConnectError>,
    finished: bool,
}

impl Sim {
    /// Connects to `example.com:443` through both lookups.
    fn new(config: HappyEyeballsConfig) -> Sim {
        Sim::start(|t0| HappyEyeballs::new("example.com", 443, config, t0))
    }

    /// Connects to `example.com:443` with these addresses already known.
    fn known(addrs: &[&str], config: HappyEyeballsConfig) -> Sim {
        let addrs: Vec<SocketAddr> = addrs.iter().map(|a| addr(a)).collect();
        Sim::start(|t0| HappyEyeballs::with_addresses("example.com", 443, addrs, config, t0))
    }

    fn start(f: impl FnOnce(Instant) -> HappyEyeballs) -> Sim {
        let t0 = Instant::now();
        let mut sim = Sim {
            he: f(t0),
            t0,
            now: t0,
            log: Vec::new(),
            ids: HashMap::new(),
            addrs: Vec::new(),
            error: None,
            finished: false,
        };
        sim.drain();
        sim
    }

    fn elapsed(&self) -> u64 {
        u64::try_from((self.now - self.t0).as_millis()).expect("short test")
    }

    /// Lets time pass until `t` ms, firing the timer at each deadline on the way.
    fn until(&mut self, t: u64) {
        let target = self.t0 + ms(t);
        assert!(target >= self.now, "the fake clock only goes forward");
        while let Some(deadline) = self.he.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = deadline;
            self.he.handle_timeout(deadline);
            self.drain();
        }
        self.now = target;
    }

    fn resolve(&mut self, t: u64, lookup: Lookup, addrs: &[&str]) {
        self.until(t);
        let addrs = addrs.iter().map(|a| addr(a)).collect();
        self.he.handle_resolved(lookup, Ok(addrs), self.now);
        self.drain();
    }

    fn resolve_err(&mut self, t: u64, lookup: Lookup, message: &str) {
        self.until(t);
        let error = io::Error::other(message.to_string());
        self.he.handle_resolved(lookup, Err(error), self.now);
        self.drain();
    }

    fn fail(&mut self, t: u64, a: &str, error: io::Error) {
        self.until(t);
        self.he.handle_failed(self.ids[&addr(a)], error, self.now);
        self.drain();
    }

    fn refuse(&mut self, t: u64, a: &str) {
        self.fail(t, a, refused());
    }

    fn connect(&mut self, t: u64, a: &str) {
        self.until(t);
        self.he.handle_connected(self.ids[&addr(a)], self.now);
        self.drain();
    }

    /// Performs (records) every action and the final event, checking the protocol.
    fn drain(&mut self) {
        while let Some(action) = self.he.poll_action() {
            let line = match action {
                Action::Resolve(Lookup::Ipv6) => "resolve ipv6".to_string(),
                Action::Resolve(Lookup::Ipv4) => "resolve ipv4".to_string(),
                Action::Connect { id, addr } => {
                    assert_eq!(id.index(), self.addrs.len(), "attempts numbered in order");
                    assert!(self.ids.insert(addr, id).is_none(), "{addr} tried twice");
                    self.addrs.push(addr);
                    format!("connect {addr}")
                }
                Action::Cancel { id } => format!("cancel {}", self.addrs[id.index()]),
                other => panic!("unexpected action {other:?}"),
            };
            assert!(!self.finished, "{line} after the final event");
            let at = self.elapsed();
            self.log.push((at, line));
        }
        if let Some(event) = self.he.poll_event() {
            assert!(!self.finished, "a second final event: {event:?}");
            self.finished = true;
            let line = match event {
                Event::Done { id, addr } => {
                    assert_eq!(self.addrs[id.index()], addr);
                    format!("done {addr}")
                }
                Event::Failed(e) => {
                    let line = format!("failed: {e}");
                    self.error = Some(e);
                    line
                }
                other => panic!("unexpected event {other:?}"),
            };
            let at = self.elapsed();
            self.log.push((at, line));
        }
        assert_eq!(self.he.is_finished(), self.finished);
        if let Some(t) = self.he.poll_timeout() {
            assert!(t > self.now, "poll_timeout in the past");
        }
    }

    #[track_caller]
    fn check(&self, expected: &[(u64, &str)]) {
        let expected: Vec<(u64, String)> =
            expected.iter().map(|(t, s)| (*t, s.to_string())).collect();
        assert_eq!(
            self.log, expected,
            "\nactual:   {:#?}\nexpected: {expected:#?}",
            self.log
        );
    }

    fn error(&self) -> &ConnectError {
        self.error.as_ref().expect("the connect failed")
    }
}

/// `RESOLVE` followed by `rest`.
fn resolving<'a>(rest: &[(u64, &'a str)]) -> Vec<(u64, &'a str)> {
    RESOLVE.iter().chain(rest).copied().collect()
}

// ---------------------------------------------------------------------------------
// Resolution: separate answers, the resolution delay
// ---------------------------------------------------------------------------------

#[test]
fn aaaa_first_starts_at_once() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv6, &[V6_1, V6_2]);
    sim.resolve(20, Lookup::Ipv4, &[V4_1, V4_2]);
    sim.until(2000);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (260, "connect 192.0.2.1:443"),
        (510, "connect [2001:db8::2]:443"),
        (760, "connect 192.0.2.2:443"),
    ]));
}

#[test]
fn a_first_then_aaaa_within_resolution_delay() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    assert_eq!(sim.he.poll_timeout(), Some(sim.t0 + ms(60)));
    sim.resolve(40, Lookup::Ipv6, &[V6_1]);
    sim.until(2000);
    sim.check(&resolving(&[
        (40, "connect [2001:db8::1]:443"),
        (290, "connect 192.0.2.1:443"),
    ]));
}

#[test]
fn a_first_and_aaaa_never_starts_ipv4_after_resolution_delay() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1, V4_2]);
    sim.until(2000);
    sim.check(&resolving(&[
        (60, "connect 192.0.2.1:443"),
        (310, "connect 192.0.2.2:443"),
    ]));
    assert!(
        !sim.he.is_finished(),
        "still waiting for AAAA and the attempts"
    );
}

#[test]
fn resolution_delay_is_configurable() {
    let mut sim = Sim::new(config(|c| c.resolution_delay = ms(100)));
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.until(500);
    sim.check(&resolving(&[(110, "connect 192.0.2.1:443")]));

    let mut sim = Sim::new(config(|c| c.resolution_delay = Duration::ZERO));
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.check(&resolving(&[(10, "connect 192.0.2.1:443")]));
}

#[test]
fn negative_aaaa_ends_the_resolution_delay() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.resolve_err(30, Lookup::Ipv6, "no such host");
    sim.check(&resolving(&[(30, "connect 192.0.2.1:443")]));

    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.resolve(25, Lookup::Ipv6, &[]);
    sim.check(&resolving(&[(25, "connect 192.0.2.1:443")]));
}

#[test]
fn a_after_negative_aaaa_starts_at_once() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve_err(10, Lookup::Ipv6, "no such host");
    sim.resolve(20, Lookup::Ipv4, &[V4_1]);
    sim.refuse(30, V4_1);
    sim.check(&resolving(&[
        (20, "connect 192.0.2.1:443"),
        (
            30,
            "failed: cannot connect to example.com:443: 192.0.2.1:443: connection refused",
        ),
    ]));
    let failures = sim.error().resolve_failures();
    assert_eq!(failures.len(), 1, "the ipv6 failure is kept, not fatal");
    assert_eq!(failures[0].lookup, Lookup::Ipv6);
    assert_eq!(
        failures[0]
            .error
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("no such host")
    );
}

#[test]
fn a_error_while_ipv6_succeeds_is_not_fatal() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv6, &[V6_1, V6_2]);
    sim.resolve_err(20, Lookup::Ipv4, "no such host");
    sim.until(1000);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (260, "connect [2001:db8::2]:443"),
    ]));
}

#[test]
fn both_lookups_failing_names_the_host() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve_err(10, Lookup::Ipv6, "No such host");
    sim.resolve_err(20, Lookup::Ipv4, "No such host");
    sim.check(&resolving(&[(
        20,
        "failed: cannot resolve example.com: no such host",
    )]));
    assert!(sim.error().attempts().is_empty());
    assert_eq!(
        sim.error().kind(),
        io::ErrorKind::Other,
        "the resolver's kind"
    );

    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[]);
    sim.resolve(20, Lookup::Ipv6, &[]);
    sim.check(&resolving(&[(
        20,
        "failed: cannot resolve example.com: no addresses",
    )]));
    assert_eq!(sim.error().kind(), io::ErrorKind::NotFound);

    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve_err(10, Lookup::Ipv6, "no such host");
    sim.resolve(20, Lookup::Ipv4, &[]);
    sim.check(&resolving(&[(
        20,
        "failed: cannot resolve example.com: ipv6: no such host; ipv4: no addresses",
    )]));
    assert_eq!(sim.error().kind(), io::ErrorKind::NotFound);
}

#[test]
fn one_combined_answer_covers_both_lookups() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Any, &[V4_1, V6_1, V4_1, V6_1]);
    sim.refuse(20, V6_1);
    sim.refuse(30, V4_1);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (20, "connect 192.0.2.1:443"),
        (
            30,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: connection refused; \
             192.0.2.1:443: connection refused",
        ),
    ]));
    assert_eq!(sim.error().kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn repeated_answers_are_ignored() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv6, &[V6_1]);
    sim.resolve(20, Lookup::Ipv6, &[V6_2]);
    sim.resolve(30, Lookup::Ipv4, &[V4_1]);
    sim.resolve(40, Lookup::Ipv4, &[V4_2]);
    sim.until(2000);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (260, "connect 192.0.2.1:443"),
    ]));
}

// ---------------------------------------------------------------------------------
// Interleaving (RFC 8305 §4)
// ---------------------------------------------------------------------------------

#[test]
fn interleaves_three_ipv6_and_three_ipv4() {
    let expected = [
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (500, "connect [2001:db8::2]:443"),
        (750, "connect 192.0.2.2:443"),
        (1000, "connect [2001:db8::3]:443"),
        (1250, "connect 192.0.2.3:443"),
    ];
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(0, Lookup::Ipv4, &[V4_1, V4_2, V4_3]);
    sim.resolve(0, Lookup::Ipv6, &[V6_1, V6_2, V6_3]);
    sim.until(5000);
    sim.check(&resolving(&expected));

    // Known addresses in any order are sorted the same way.
    let mut sim = Sim::known(
        &[V4_1, V4_2, V6_1, V4_3, V6_2, V6_3],
        HappyEyeballsConfig::default(),
    );
    sim.until(5000);
    sim.check(&expected);
}

#[test]
fn first_address_family_count_two() {
    let mut sim = Sim::new(config(|c| c.first_address_family_count = 2));
    sim.resolve(0, Lookup::Ipv6, &[V6_1, V6_2, V6_3]);
    sim.resolve(0, Lookup::Ipv4, &[V4_1, V4_2, V4_3]);
    sim.until(5000);
    sim.check(&resolving(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect [2001:db8::2]:443"),
        (500, "connect 192.0.2.1:443"),
        (750, "connect [2001:db8::3]:443"),
        (1000, "connect 192.0.2.2:443"),
        (1250, "connect 192.0.2.3:443"),
    ]));
    assert_eq!(sim.he.config().first_address_family_count, 2);
}

#[test]
fn first_address_family_count_zero_counts_as_one() {
    let c = config(|c| c.first_address_family_count = 0);
    let mut sim = Sim::known(&[V6_1, V6_2, V4_1], c);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (500, "connect [2001:db8::2]:443"),
    ]);
    assert_eq!(sim.he.config().first_address_family_count, 1);
}

#[test]
fn one_family_only_keeps_resolver_order() {
    let mut sim = Sim::known(&[V4_3, V4_1, V4_2], HappyEyeballsConfig::default());
    sim.until(5000);
    sim.check(&[
        (0, "connect 192.0.2.3:443"),
        (250, "connect 192.0.2.1:443"),
        (500, "connect 192.0.2.2:443"),
    ]);
}

#[test]
fn late_aaaa_is_tried_next_then_families_alternate() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1, V4_2, V4_3]);
    sim.resolve(100, Lookup::Ipv6, &[V6_1, V6_2]);
    sim.until(5000);
    sim.check(&resolving(&[
        (60, "connect 192.0.2.1:443"),
        (310, "connect [2001:db8::1]:443"),
        (560, "connect 192.0.2.2:443"),
        (810, "connect [2001:db8::2]:443"),
        (1060, "connect 192.0.2.3:443"),
    ]));
}

#[test]
fn late_a_joins_the_untried_ipv6_addresses() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv6, &[V6_1, V6_2, V6_3]);
    sim.until(300); // [2001:db8::2] started at 260
    sim.resolve(300, Lookup::Ipv4, &[V4_1, V4_2]);
    sim.until(5000);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (260, "connect [2001:db8::2]:443"),
        (510, "connect 192.0.2.1:443"),
        (760, "connect [2001:db8::3]:443"),
        (1010, "connect 192.0.2.2:443"),
    ]));
}

#[test]
fn late_answer_after_every_attempt_failed_starts_at_once() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.refuse(70, V4_1);
    assert!(!sim.he.is_finished(), "AAAA may still bring addresses");
    assert_eq!(
        sim.he.poll_timeout(),
        None,
        "nothing to wait for but the lookup"
    );
    sim.resolve(200, Lookup::Ipv6, &[V6_1]);
    sim.refuse(210, V6_1);
    sim.check(&resolving(&[
        (60, "connect 192.0.2.1:443"),
        (200, "connect [2001:db8::1]:443"),
        (
            210,
            "failed: cannot connect to example.com:443: 192.0.2.1:443: connection refused; \
             [2001:db8::1]:443: connection refused",
        ),
    ]));
}

// ---------------------------------------------------------------------------------
// Connection attempt delay
// ---------------------------------------------------------------------------------

fn attempt_times(attempt_delay: Duration) -> (Vec<(u64, String)>, HappyEyeballsConfig) {
    let c = config(|c| c.attempt_delay = attempt_delay);
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], c);
    sim.until(10_000);
    (sim.log, sim.he.config().clone())
}

#[track_caller]
fn assert_attempts_at(attempt_delay: Duration, times: [u64; 3], effective: Duration) {
    let (log, config) = attempt_times(attempt_delay);
    let expected: Vec<(u64, String)> = [V6_1, V4_1, V6_2]
        .iter()
        .zip(times)
        .map(|(a, t)| (t, format!("connect {a}")))
        .collect();
    assert_eq!(log, expected);
    assert_eq!(config.attempt_delay, effective);
}

#[test]
fn attempt_delay_default_is_250ms() {
    assert_eq!(DEFAULT_ATTEMPT_DELAY, ms(250));
    assert_attempts_at(DEFAULT_ATTEMPT_DELAY, [0, 250, 500], ms(250));
}

#[test]
fn attempt_delay_is_configurable() {
    assert_attempts_at(ms(100), [0, 100, 200], ms(100));
    assert_attempts_at(ms(1500), [0, 1500, 3000], ms(1500));
}

#[test]
fn attempt_delay_is_clamped() {
    assert_eq!((MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY), (ms(10), ms(2000)));
    assert_attempts_at(ms(5), [0, 10, 20], ms(10));
    assert_attempts_at(Duration::ZERO, [0, 10, 20], ms(10));
    assert_attempts_at(Duration::from_secs(5), [0, 2000, 4000], ms(2000));
}

#[test]
fn defaults() {
    let c = HappyEyeballsConfig::default();
    assert_eq!(c.resolution_delay, DEFAULT_RESOLUTION_DELAY);
    assert_eq!(c.resolution_delay, ms(50));
    assert_eq!(c.attempt_delay, ms(250));
    assert_eq!(c.first_address_family_count, 1);
    assert_eq!(c.attempt_timeout, Some(DEFAULT_ATTEMPT_TIMEOUT));
    assert_eq!(DEFAULT_ATTEMPT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(c.overall_timeout, None);
}

#[test]
fn failure_brings_the_next_attempt_forward() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2, V4_2], HappyEyeballsConfig::default());
    sim.refuse(100, V6_1);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
        // The delay runs from the latest start.
        (350, "connect [2001:db8::2]:443"),
        (600, "connect 192.0.2.2:443"),
    ]);
}

#[test]
fn failure_of_an_older_attempt_also_brings_the_next_forward() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], HappyEyeballsConfig::default());
    sim.refuse(300, V6_1); // [V4_1] has been running since 250
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (300, "connect [2001:db8::2]:443"),
    ]);
}

#[test]
fn immediate_failures_cascade_without_waiting() {
    let unreachable = || io::Error::from(io::ErrorKind::NetworkUnreachable);
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], HappyEyeballsConfig::default());
    sim.fail(0, V6_1, unreachable());
    sim.fail(0, V4_1, unreachable());
    sim.connect(40, V6_2);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (0, "connect 192.0.2.1:443"),
        (0, "connect [2001:db8::2]:443"),
        (40, "done [2001:db8::2]:443"),
    ]);
}

// ---------------------------------------------------------------------------------
// Winning, timeouts, the combined error
// ---------------------------------------------------------------------------------

#[test]
fn success_cancels_every_other_running_attempt() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2, V4_2], HappyEyeballsConfig::default());
    sim.connect(600, V4_1);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (500, "connect [2001:db8::2]:443"),
        (600, "cancel [2001:db8::1]:443"),
        (600, "cancel [2001:db8::2]:443"),
        (600, "done 192.0.2.1:443"),
    ]);
    assert_eq!(sim.he.poll_timeout(), None);
}

#[test]
fn success_does_not_cancel_failed_attempts() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2, V4_2], HappyEyeballsConfig::default());
    sim.refuse(100, V6_1);
    sim.connect(700, V6_2);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
        (350, "connect [2001:db8::2]:443"),
        (600, "connect 192.0.2.2:443"),
        (700, "cancel 192.0.2.1:443"),
        (700, "cancel 192.0.2.2:443"),
        (700, "done [2001:db8::2]:443"),
    ]);
}

#[test]
fn success_before_the_other_lookup_answers() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(10, Lookup::Ipv6, &[V6_1]);
    sim.connect(30, V6_1);
    sim.resolve(40, Lookup::Ipv4, &[V4_1]);
    sim.check(&resolving(&[
        (10, "connect [2001:db8::1]:443"),
        (30, "done [2001:db8::1]:443"),
    ]));
}

#[test]
fn per_attempt_timeout() {
    let c = config(|c| c.attempt_timeout = Some(Duration::from_secs(1)));
    let mut sim = Sim::known(&[V6_1, V4_1], c);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (1000, "cancel [2001:db8::1]:443"),
        (1250, "cancel 192.0.2.1:443"),
        (
            1250,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: timed out; \
             192.0.2.1:443: timed out",
        ),
    ]);
    assert_eq!(sim.error().kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        sim.error().timed_out_after(),
        None,
        "not the overall timeout"
    );
}

#[test]
fn per_attempt_timeout_shorter_than_attempt_delay_starts_the_next_at_once() {
    let c = config(|c| c.attempt_timeout = Some(ms(100)));
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], c);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "cancel [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
        (200, "cancel 192.0.2.1:443"),
        (200, "connect [2001:db8::2]:443"),
        (300, "cancel [2001:db8::2]:443"),
        (
            300,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: timed out; \
             192.0.2.1:443: timed out; [2001:db8::2]:443: timed out",
        ),
    ]);
}

#[test]
fn zero_attempt_timeout_times_out_every_attempt_at_once() {
    // Found by the property test: a just-started attempt may already be out of time.
    let c = config(|c| c.attempt_timeout = Some(Duration::ZERO));
    let sim = Sim::known(&[V6_1, V4_1], c);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (0, "cancel [2001:db8::1]:443"),
        (0, "connect 192.0.2.1:443"),
        (0, "cancel 192.0.2.1:443"),
        (
            0,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: timed out; \
             192.0.2.1:443: timed out",
        ),
    ]);
}

#[test]
fn default_attempt_timeout_is_30s() {
    let mut sim = Sim::known(&[V4_1], HappyEyeballsConfig::default());
    sim.until(60_000);
    sim.check(&[
        (0, "connect 192.0.2.1:443"),
        (30_000, "cancel 192.0.2.1:443"),
        (
            30_000,
            "failed: cannot connect to example.com:443: 192.0.2.1:443: timed out",
        ),
    ]);
}

#[test]
fn overall_timeout_cancels_running_attempts() {
    let c = config(|c| {
        c.attempt_timeout = None;
        c.overall_timeout = Some(ms(600));
    });
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2, V4_2], c);
    sim.refuse(100, V6_1);
    sim.until(5000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
        (350, "connect [2001:db8::2]:443"),
        (600, "cancel 192.0.2.1:443"),
        (600, "cancel [2001:db8::2]:443"),
        (
            600,
            "failed: cannot connect to example.com:443 within 600ms: [2001:db8::1]:443: \
             connection refused; 192.0.2.1:443: timed out; [2001:db8::2]:443: timed out",
        ),
    ]);
    assert_eq!(sim.error().kind(), io::ErrorKind::TimedOut);
    assert_eq!(sim.error().timed_out_after(), Some(ms(600)));
}

#[test]
fn overall_timeout_while_resolving() {
    let c = config(|c| c.overall_timeout = Some(Duration::from_secs(1)));
    let mut sim = Sim::new(c.clone());
    sim.until(5000);
    sim.check(&resolving(&[(
        1000,
        "failed: cannot resolve example.com within 1s",
    )]));

    let mut sim = Sim::new(c.clone());
    sim.resolve_err(10, Lookup::Ipv6, "no such host");
    sim.until(5000);
    sim.check(&resolving(&[(
        1000,
        "failed: cannot resolve example.com within 1s: ipv6: no such host",
    )]));

    // Addresses known, but the resolution delay outlasts the timeout.
    let c = config(|c| c.overall_timeout = Some(ms(30)));
    let mut sim = Sim::new(c);
    sim.resolve(10, Lookup::Ipv4, &[V4_1]);
    sim.until(5000);
    sim.check(&resolving(&[(
        30,
        "failed: cannot connect to example.com:443 within 30ms",
    )]));
    assert_eq!(sim.error().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn zero_overall_timeout_with_a_name_fails_at_once_without_lookups() {
    // Found by the property test in CI: the deadline was `now` itself, so
    // `poll_timeout` returned a time not after `now` while lookups were asked for.
    let c = config(|c| c.overall_timeout = Some(Duration::ZERO));
    let mut sim = Sim::new(c);
    assert_eq!(sim.he.poll_timeout(), None);
    sim.until(5000);
    sim.check(&[(0, "failed: cannot resolve example.com within 0ns")]);
    assert_eq!(sim.error().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn all_failing_lists_every_address_in_attempt_order() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], HappyEyeballsConfig::default());
    sim.until(500);
    sim.refuse(600, V6_2);
    sim.fail(700, V4_1, io::ErrorKind::TimedOut.into());
    sim.fail(800, V6_1, io::ErrorKind::HostUnreachable.into());
    let message = "cannot connect to example.com:443: [2001:db8::1]:443: host unreachable; \
                   192.0.2.1:443: timed out; [2001:db8::2]:443: connection refused";
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect 192.0.2.1:443"),
        (500, "connect [2001:db8::2]:443"),
        (800, &format!("failed: {message}")),
    ]);
    let err = sim.error.take().expect("failed");
    let tried: Vec<SocketAddr> = err.attempts().iter().map(|a| a.addr).collect();
    assert_eq!(tried, [addr(V6_1), addr(V4_1), addr(V6_2)]);
    assert_eq!((err.host(), err.port()), ("example.com", 443));
    // Mixed kinds: the last failure's (as Twisted reports the last failure).
    assert_eq!(err.kind(), io::ErrorKind::HostUnreachable);

    let io_err = io::Error::from(err);
    assert_eq!(io_err.kind(), io::ErrorKind::HostUnreachable);
    assert_eq!(io_err.to_string(), message);
    let inner = io_err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ConnectError>());
    assert_eq!(inner.map(|e| e.attempts().len()), Some(3));
}

#[test]
fn error_messages_are_lowercased_but_acronyms_kept() {
    let mut sim = Sim::known(&[V6_1, V4_1], HappyEyeballsConfig::default());
    let os_style = io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "Connection refused (os error 111)",
    );
    sim.fail(0, V6_1, io::Error::other("IPv6 is disabled"));
    sim.fail(5, V4_1, os_style);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (0, "connect 192.0.2.1:443"),
        (
            5,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: IPv6 is disabled; \
             192.0.2.1:443: connection refused (os error 111)",
        ),
    ]);
    let err = sim.error();
    assert!(
        std::error::Error::source(err).is_none(),
        "everything is in the message"
    );
}

// ---------------------------------------------------------------------------------
// Known addresses and IP literals
// ---------------------------------------------------------------------------------

#[test]
fn ip_literals_connect_without_resolving() {
    for (host, target, shown) in [
        ("192.0.2.1", V4_1, "192.0.2.1:443"),
        ("2001:db8::1", V6_1, "[2001:db8::1]:443"),
        ("[2001:db8::1]", V6_1, "[2001:db8::1]:443"),
    ] {
        let mut sim =
            Sim::start(|t0| HappyEyeballs::new(host, 443, HappyEyeballsConfig::default(), t0));
        sim.refuse(20, target);
        sim.check(&[
            (0, &format!("connect {target}")),
            (
                20,
                &format!("failed: cannot connect to {shown}: {target}: connection refused"),
            ),
        ]);
    }
    let sim =
        Sim::start(|t0| HappyEyeballs::new("fe80::1%2", 80, HappyEyeballsConfig::default(), t0));
    sim.check(&[(0, "connect [fe80::1%2]:80")]);
    let sim =
        Sim::start(|t0| HappyEyeballs::new("fe80::1%eth0", 80, HappyEyeballsConfig::default(), t0));
    sim.check(&RESOLVE); // named scopes need the resolver
}

#[test]
fn no_known_addresses_fails_at_once() {
    let sim = Sim::known(&[], HappyEyeballsConfig::default());
    sim.check(&[(0, "failed: cannot connect to example.com:443: no addresses")]);
    assert_eq!(sim.error().kind(), io::ErrorKind::NotFound);
}

// ---------------------------------------------------------------------------------
// Robustness: inputs in any order
// ---------------------------------------------------------------------------------

#[test]
fn inputs_after_done_are_ignored() {
    let mut sim = Sim::new(HappyEyeballsConfig::default());
    sim.resolve(0, Lookup::Ipv6, &[V6_1, V6_2]);
    sim.until(300);
    sim.connect(300, V6_1);
    let (first, second) = (sim.ids[&addr(V6_1)], sim.ids[&addr(V6_2)]);
    let now = sim.t0 + ms(400);
    sim.he
        .handle_resolved(Lookup::Ipv4, Ok(vec![addr(V4_1)]), now);
    sim.he.handle_failed(first, refused(), now);
    sim.he.handle_connected(second, now);
    sim.he.handle_connected(first, now);
    sim.he.handle_timeout(now + Duration::from_secs(60));
    sim.drain();
    sim.check(&resolving(&[
        (0, "connect [2001:db8::1]:443"),
        (250, "connect [2001:db8::2]:443"),
        (300, "cancel [2001:db8::2]:443"),
        (300, "done [2001:db8::1]:443"),
    ]));
    assert_eq!(sim.he.poll_timeout(), None);
    assert!(sim.he.poll_event().is_none());
}

#[test]
fn unknown_and_stale_attempt_ids_are_ignored() {
    // Ids from a machine with more attempts than this one has.
    let t = Instant::now();
    let many: Vec<SocketAddr> = (1..=5)
        .map(|i| SocketAddr::from(([192, 0, 2, i], 443)))
        .collect();
    let mut other =
        HappyEyeballs::with_addresses("x", 443, many, HappyEyeballsConfig::default(), t);
    let mut foreign = Vec::new();
    while let Some(action) = other.poll_action() {
        if let Action::Connect { id, .. } = action {
            foreign.push(id);
            other.handle_failed(id, refused(), t);
        }
    }
    assert_eq!(foreign.len(), 5);

    let c = config(|c| c.attempt_timeout = Some(ms(100)));
    let mut sim = Sim::known(&[V6_1, V4_1], c);
    let unknown = foreign[4];
    sim.he.handle_failed(unknown, refused(), sim.now);
    sim.he.handle_connected(unknown, sim.now);
    sim.drain();
    sim.until(150); // [V6_1] timed out at 100
    sim.connect(150, V6_1); // too late: ignored, the driver drops that connection
    sim.refuse(160, V6_1); // already over: ignored
    sim.until(1000);
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "cancel [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
        (200, "cancel 192.0.2.1:443"),
        (
            200,
            "failed: cannot connect to example.com:443: [2001:db8::1]:443: timed out; \
             192.0.2.1:443: timed out",
        ),
    ]);
}

#[test]
fn a_success_wins_over_a_timer_not_yet_fired() {
    let c = config(|c| c.attempt_timeout = Some(ms(100)));
    let mut sim = Sim::known(&[V6_1], c);
    // The driver saw the connection complete before its timer fired.
    let id = sim.ids[&addr(V6_1)];
    sim.now = sim.t0 + ms(150);
    sim.he.handle_connected(id, sim.now);
    sim.drain();
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (150, "done [2001:db8::1]:443"),
    ]);
}

#[test]
fn a_late_timer_processes_every_deadline_passed() {
    let mut sim = Sim::known(&[V6_1, V4_1, V6_2], HappyEyeballsConfig::default());
    // The driver's timer fires late, at 600 instead of 250.
    sim.now = sim.t0 + ms(600);
    sim.he.handle_timeout(sim.now);
    sim.drain();
    assert_eq!(sim.he.poll_timeout(), Some(sim.t0 + ms(850)));
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (600, "connect 192.0.2.1:443"),
    ]);
}

#[test]
fn time_going_backwards_counts_as_the_latest_time() {
    let mut sim = Sim::known(&[V6_1, V4_1], HappyEyeballsConfig::default());
    sim.until(100);
    sim.he.handle_timeout(sim.t0);
    sim.he
        .handle_failed(sim.ids[&addr(V6_1)], refused(), sim.t0);
    sim.drain();
    sim.check(&[
        (0, "connect [2001:db8::1]:443"),
        (100, "connect 192.0.2.1:443"),
    ]);
    assert_eq!(
        sim.he.poll_timeout(),
        Some(sim.t0 + Duration::from_secs(30))
    );
}

// ---------------------------------------------------------------------------------
// Properties: random inputs in random order
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Let time pass, firing timers like a driver.
    Wait(u16),
    Answer(Lookup),
    /// Fail the n-th started attempt (modulo), running or not.
    Fail(u8),
    /// Report the n-th started attempt (modulo) connected, running or not.
    Connect(u8),
    /// `handle_timeout` at the current time (possibly before any deadline).
    Tick,
    /// `handle_timeout` with a time earlier than the latest one.
    Backwards(u16),
    /// Reports for an id this machine never issued.
    Foreign,
}

#[derive(Debug, Clone)]
struct Scenario {
    known: bool,
    v6: Vec<u8>,
    v4: Vec<u8>,
    v6_error: bool,
    v4_error: bool,
    resolution_delay: u16,
    attempt_delay: u16,
    family_count: usize,
    attempt_timeout: Option<u16>,
    overall_timeout: Option<u16>,
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u16..600).prop_map(Op::Wait),
        2 => prop::sample::select(vec![Lookup::Ipv6, Lookup::Ipv4, Lookup::Any]).prop_map(Op::Answer),
        4 => any::<u8>().prop_map(Op::Fail),
        1 => any::<u8>().prop_map(Op::Connect),
        1 => Just(Op::Tick),
        1 => (0u16..300).prop_map(Op::Backwards),
        1 => Just(Op::Foreign),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (
            any::<bool>(),
            prop::collection::vec(1u8..5, 0..4),
            prop::collection::vec(1u8..5, 0..4),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..200,
            0u16..3000,
            0usize..4,
        ),
        (prop::option::of(0u16..1500), prop::option::of(0u16..4000)),
        prop::collection::vec(op(), 0..40),
    )
        .prop_map(
            |((known, v6, v4), (v6_error, v4_error, rd, ad, fc), (at, ot), ops)| Scenario {
                known,
                v6,
                v4,
                v6_error,
                v4_error,
                resolution_delay: rd,
                attempt_delay: ad,
                family_count: fc,
                attempt_timeout: at,
                overall_timeout: ot,
                ops,
            },
        )
}

/// A driver that checks every output against what it has seen so far.
struct Checker {
    he: HappyEyeballs,
    now: Instant,
    v6: Vec<SocketAddr>,
    v4: Vec<SocketAddr>,
    v6_error: bool,
    v4_error: bool,
    /// Lookups asked for and not yet answered.
    lookups: BTreeSet<&'static str>,
    offered: BTreeSet<SocketAddr>,
    started: Vec<SocketAddr>,
    /// The ids the machine issued, by index (ids cannot be made up).
    ids: Vec<AttemptId>,
    running: BTreeSet<usize>,
    event: Option<Result<usize, ConnectError>>,
    foreign: AttemptId,
}

impl Checker {
    fn new(s: &Scenario) -> Checker {
        let t0 = Instant::now();
        let mut config = HappyEyeballsConfig::default();
        config.resolution_delay = ms(s.resolution_delay.into());
        config.attempt_delay = ms(s.attempt_delay.into());
        config.first_address_family_count = s.family_count;
        config.attempt_timeout = s.attempt_timeout.map(|t| ms(t.into()));
        config.overall_timeout = s.overall_timeout.map(|t| ms(t.into()));
        let v6: Vec<SocketAddr> =
            s.v6.iter()
                .map(|&i| SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, i.into()], 443)))
                .collect();
        let v4: Vec<SocketAddr> =
            s.v4.iter()
                .map(|&i| SocketAddr::from(([192, 0, 2, i], 443)))
                .collect();
        let (he, offered) = if s.known {
            let all: Vec<SocketAddr> = v4.iter().chain(&v6).copied().collect();
            let he = HappyEyeballs::with_addresses("example.com", 443, all.clone(), config, t0);
            (he, all.into_iter().collect())
        } else {
            (
                HappyEyeballs::new("example.com", 443, config, t0),
                BTreeSet::new(),
            )
        };
        // An id with an index this machine never reaches (at most 8 addresses).
        let many = (0..=20).map(|i| SocketAddr::from(([198, 51, 100, i], 1)));
        let mut other =
            HappyEyeballs::with_addresses("x", 1, many, HappyEyeballsConfig::default(), t0);
        let mut foreign = None;
        while let Some(action) = other.poll_action() {
            if let Action::Connect { id, .. } = action {
                foreign = Some(id);
                other.handle_failed(id, refused(), t0);
            }
        }
        let mut c = Checker {
            he,
            now: t0,
            v6,
            v4,
            v6_error: s.v6_error,
            v4_error: s.v4_error,
            lookups: BTreeSet::new(),
            offered,
            started: Vec::new(),
            ids: Vec::new(),
            running: BTreeSet::new(),
            event: None,
            foreign: foreign.expect("20 attempts"),
        };
        c.drain();
        c
    }

    fn drain(&mut self) {
        let before = self.event.is_some();
        let mut cancelled = BTreeSet::new();
        while let Some(action) = self.he.poll_action() {
            assert!(!before, "{action:?} after the final event");
            match action {
                Action::Resolve(Lookup::Ipv6) => assert!(self.lookups.insert("ipv6")),
                Action::Resolve(Lookup::Ipv4) => assert!(self.lookups.insert("ipv4")),
                Action::Connect { id, addr } => {
                    assert_eq!(id.index(), self.started.len());
                    assert!(self.offered.contains(&addr), "{addr} was never offered");
                    assert!(!self.started.contains(&addr), "{addr} tried twice");
                    self.started.push(addr);
                    self.ids.push(id);
                    self.running.insert(id.index());
                }
                Action::Cancel { id } => {
                    // Only attempts started, still running, and at most once.
                    assert!(
                        self.running.remove(&id.index()),
                        "cancel of {id} not running"
                    );
                    cancelled.insert(id.index());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if let Some(event) = self.he.poll_event() {
            assert!(self.event.is_none(), "a second final event {event:?}");
            match event {
                Event::Done { id, addr } => {
                    assert_eq!(self.started[id.index()], addr);
                    assert!(!cancelled.contains(&id.index()), "the winner was cancelled");
                    // Everything else that was running got cancelled.
                    assert_eq!(self.running, BTreeSet::from([id.index()]));
                    self.running.clear();
                    self.event = Some(Ok(id.index()));
                }
                Event::Failed(e) => {
                    assert!(self.running.is_empty(), "failed with attempts running");
                    let tried: Vec<SocketAddr> = e.attempts().iter().map(|a| a.addr).collect();
                    assert_eq!(
                        tried, self.started,
                        "the error lists every attempt in order"
                    );
                    assert!(e.to_string().starts_with("cannot "));
                    self.event = Some(Err(e));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(self.he.is_finished(), self.event.is_some());
        match self.he.poll_timeout() {
            Some(t) => {
                assert!(self.event.is_none());
                assert!(t > self.now, "poll_timeout not after the latest now");
            }
            // Nothing to wait for would be a hang.
            None => assert!(
                self.event.is_some() || !self.lookups.is_empty() || !self.running.is_empty(),
                "stalled"
            ),
        }
    }

    fn wait(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.he.poll_timeout().filter(|&t| t <= target) {
            self.now = t;
            self.he.handle_timeout(t);
            self.drain();
        }
        self.now = target;
    }

    fn answer(&mut self, lookup: Lookup) {
        let (v6, v4) = match lookup {
            Lookup::Ipv6 => (true, false),
            Lookup::Ipv4 => (false, true),
            _ => (true, true),
        };
        let mut addrs = Vec::new();
        let mut ok = false;
        if v6 {
            self.lookups.remove("ipv6");
            if !self.v6_error {
                addrs.extend(&self.v6);
                ok = true;
            }
        }
        if v4 {
            self.lookups.remove("ipv4");
            if !self.v4_error {
                addrs.extend(&self.v4);
                ok = true;
            }
        }
        self.offered.extend(&addrs);
        let result = if ok {
            Ok(addrs)
        } else {
            Err(io::Error::other("no such host"))
        };
        self.he.handle_resolved(lookup, result, self.now);
        self.drain();
    }

    fn nth(&self, n: u8) -> Option<AttemptId> {
        (!self.ids.is_empty()).then(|| self.ids[usize::from(n) % self.ids.len()])
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Wait(t) => self.wait(ms(t.into())),
            Op::Answer(lookup) => self.answer(lookup),
            Op::Fail(n) => {
                if let Some(id) = self.nth(n) {
                    self.running.remove(&id.index());
                    self.he.handle_failed(id, refused(), self.now);
                    self.drain();
                }
            }
            Op::Connect(n) => {
                if let Some(id) = self.nth(n) {
                    let was_running = self.running.contains(&id.index());
                    let had_event = self.event.is_some();
                    self.he.handle_connected(id, self.now);
                    self.drain();
                    let won = !had_event && matches!(self.event, Some(Ok(i)) if i == id.index());
                    assert_eq!(won, was_running, "exactly a running attempt wins");
                }
            }
            Op::Tick => {
                self.he.handle_timeout(self.now);
                self.drain();
            }
            Op::Backwards(t) => {
                let then = self.now.checked_sub(ms(t.into())).unwrap_or(self.now);
                self.he.handle_timeout(then);
                self.drain();
            }
            Op::Foreign => {
                let had_event = self.event.is_some();
                self.he.handle_connected(self.foreign, self.now);
                self.he.handle_failed(self.foreign, refused(), self.now);
                // Nothing due at `now` is left, so an unknown id changes nothing.
                let running = self.running.clone();
                let started = self.started.len();
                self.drain();
                assert_eq!(self.event.is_some(), had_event);
                assert_eq!((&self.running, self.started.len()), (&running, started));
            }
        }
    }

    /// Answers every lookup and fails every attempt until the machine ends.
    fn finish(&mut self) {
        for _ in 0..200 {
            if self.event.is_some() {
                return;
            }
            for lookup in [Lookup::Ipv6, Lookup::Ipv4] {
                let name = if lookup == Lookup::Ipv6 {
                    "ipv6"
                } else {
                    "ipv4"
                };
                if self.lookups.contains(name) {
                    self.answer(lookup);
                }
            }
            while let Some(&i) = self.running.iter().next() {
                self.running.remove(&i);
                let id = self.ids[i];
                self.he.handle_failed(id, refused(), self.now);
                self.drain();
            }
            if let Some(t) = self.he.poll_timeout() {
                self.now = t;
                self.he.handle_timeout(t);
                self.drain();
            }
        }
        panic!("the machine did not terminate");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_inputs_keep_the_invariants(s in scenario()) {
        let mut c = Checker::new(&s);
        for op in &s.ops {
            c.run(op);
        }
        c.finish();
        prop_assert!(c.event.is_some());
    }
}
