//! RFC 8305 "Happy Eyeballs" connection racing as a pure state machine.
//!
//! [`HappyEyeballs`] decides which address to connect to and when; a backend's
//! driver does the I/O and tells it what happened. Time is always passed in
//! (`now: Instant`): the machine never reads a clock, so its policy is tested on a
//! fake clock.
//!
//! What it does, following RFC 8305:
//! - AAAA and A answers arrive separately (`Action::Resolve` for each); work starts
//!   on the first answer. If the A answer comes first, it waits the *resolution
//!   delay* (50 ms) for AAAA before connecting over IPv4.
//! - Addresses are interleaved (RFC 8305 §4): IPv6 first, then alternating
//!   families, with a configurable *first address family count*. Within a family
//!   the resolver's order (RFC 6724 sorting by the system resolver) is kept.
//!   Addresses that arrive late join the untried ones in the same pattern, so a
//!   late AAAA answer is tried next.
//! - A new attempt starts every *connection attempt delay* (250 ms, clamped to
//!   10 ms ... 2 s) while earlier ones keep running, and at once when an attempt
//!   fails.
//! - The first success wins and cancels every other attempt.
//! - Each attempt has its own timeout (strports' `timeout=`, as in Twisted's
//!   `HostnameEndpoint`), and there may be an overall one.
//! - When everything fails, one [`ConnectError`] lists every address tried with its
//!   own error. A resolution error for one family is not fatal while the other
//!   family has addresses.
//!
//! # Calling order
//!
//! Like `quinn-proto`, the driver feeds inputs, then drains outputs:
//!
//! 1. Create the machine with [`HappyEyeballs::new`] (a host name or IP literal) or
//!    [`HappyEyeballs::with_addresses`] (addresses already known).
//! 2. Drain [`poll_action`](HappyEyeballs::poll_action) until it returns `None`,
//!    performing each action: start a lookup ([`Action::Resolve`]), start a
//!    connection attempt ([`Action::Connect`]) or drop one ([`Action::Cancel`]).
//! 3. Check [`poll_event`](HappyEyeballs::poll_event): [`Event::Done`] hands over
//!    the winning attempt's connection, [`Event::Failed`] ends the connect. Either
//!    way the driver then drops every lookup and attempt still running.
//! 4. Otherwise arm one timer at [`poll_timeout`](HappyEyeballs::poll_timeout) (an
//!    absolute deadline; `None` means no timer) and wait for the timer, a lookup
//!    or an attempt. Report it with the matching `handle_*` method
//!    ([`handle_resolved`](HappyEyeballs::handle_resolved),
//!    [`handle_connected`](HappyEyeballs::handle_connected),
//!    [`handle_failed`](HappyEyeballs::handle_failed),
//!    [`handle_timeout`](HappyEyeballs::handle_timeout)) and go back to step 2.
//!
//! Every `handle_*` call also processes any deadline that has passed by `now`, so
//! a late timer never loses anything, and after any call `poll_timeout` lies after
//! the latest `now` seen. Inputs in any order are accepted: reports for unknown,
//! failed or cancelled attempts, repeated answers and anything after the final
//! event are ignored (a driver drops a connection that did not become
//! [`Event::Done`]). A `now` earlier than one seen before counts as the later one.
//!
//! ```
//! use std::io;
//! use std::time::{Duration, Instant};
//! use strports_core::endpoint::Lookup;
//! use strports_core::happy_eyeballs::{Action, Event, HappyEyeballs, HappyEyeballsConfig};
//!
//! let ms = Duration::from_millis;
//! let t0 = Instant::now(); // any instant: the machine only compares them
//! let mut he = HappyEyeballs::new("example.com", 443, HappyEyeballsConfig::default(), t0);
//! assert_eq!(he.poll_action(), Some(Action::Resolve(Lookup::Ipv6)));
//! assert_eq!(he.poll_action(), Some(Action::Resolve(Lookup::Ipv4)));
//! assert_eq!(he.poll_action(), None);
//!
//! // The A answer comes first: wait up to 50 ms for AAAA.
//! let v4 = "192.0.2.1:443".parse()?;
//! he.handle_resolved(Lookup::Ipv4, Ok(vec![v4]), t0 + ms(10));
//! assert_eq!(he.poll_action(), None);
//! assert_eq!(he.poll_timeout(), Some(t0 + ms(60)));
//!
//! // AAAA arrives in time: IPv6 goes first.
//! let v6 = "[2001:db8::1]:443".parse()?;
//! he.handle_resolved(Lookup::Ipv6, Ok(vec![v6]), t0 + ms(20));
//! let Some(Action::Connect { id: first, addr }) = he.poll_action() else { panic!() };
//! assert_eq!(addr, v6);
//! assert_eq!(he.poll_timeout(), Some(t0 + ms(270))); // the attempt delay
//!
//! // IPv6 is unreachable: IPv4 starts at once instead of at 270 ms.
//! let unreachable = io::Error::from(io::ErrorKind::NetworkUnreachable);
//! he.handle_failed(first, unreachable, t0 + ms(25));
//! let Some(Action::Connect { id: second, addr }) = he.poll_action() else { panic!() };
//! assert_eq!(addr, v4);
//!
//! he.handle_connected(second, t0 + ms(40));
//! assert_eq!(he.poll_action(), None);
//! assert!(matches!(he.poll_event(), Some(Event::Done { id, .. }) if id == second));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::endpoint::Lookup;

/// How long to wait for the AAAA answer once the A answer is in (RFC 8305 §3).
pub const DEFAULT_RESOLUTION_DELAY: Duration = Duration::from_millis(50);
/// The time between starting connection attempts (RFC 8305 §5).
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// The shortest connection attempt delay; shorter ones are raised to it (RFC 8305 §5).
pub const MIN_ATTEMPT_DELAY: Duration = Duration::from_millis(10);
/// The longest connection attempt delay; longer ones are lowered to it (RFC 8305 §5).
pub const MAX_ATTEMPT_DELAY: Duration = Duration::from_secs(2);
/// The default timeout of each attempt: the client descriptions' default `timeout`.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration =
    Duration::from_secs(crate::client::DEFAULT_TIMEOUT as u64);

/// Tuning for [`HappyEyeballs`]. Start from [`Default`] and change fields:
///
/// ```
/// use std::time::Duration;
/// use strports_core::happy_eyeballs::HappyEyeballsConfig;
///
/// let mut config = HappyEyeballsConfig::default();
/// config.attempt_timeout = Some(Duration::from_secs(5)); // `tcp:example.com:80:timeout=5`
/// config.overall_timeout = Some(Duration::from_secs(20));
/// assert_eq!(config.attempt_delay, Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HappyEyeballsConfig {
    /// How long to wait for the AAAA answer after the A answer. Default
    /// [`DEFAULT_RESOLUTION_DELAY`] (50 ms).
    pub resolution_delay: Duration,
    /// The time between starting connection attempts. Default
    /// [`DEFAULT_ATTEMPT_DELAY`] (250 ms); clamped to [`MIN_ATTEMPT_DELAY`] ...
    /// [`MAX_ATTEMPT_DELAY`] (10 ms ... 2 s).
    pub attempt_delay: Duration,
    /// How many IPv6 addresses to try before the first IPv4 one. Default 1; 0 counts
    /// as 1.
    pub first_address_family_count: usize,
    /// The timeout of each connection attempt; `None` for none. Default
    /// [`DEFAULT_ATTEMPT_TIMEOUT`] (30 s), the meaning of a description's `timeout`.
    pub attempt_timeout: Option<Duration>,
    /// The timeout of the whole connect, resolution included; `None` (the default)
    /// for none.
    pub overall_timeout: Option<Duration>,
}

impl Default for HappyEyeballsConfig {
    fn default() -> Self {
        HappyEyeballsConfig {
            resolution_delay: DEFAULT_RESOLUTION_DELAY,
            attempt_delay: DEFAULT_ATTEMPT_DELAY,
            first_address_family_count: 1,
            attempt_timeout: Some(DEFAULT_ATTEMPT_TIMEOUT),
            overall_timeout: None,
        }
    }
}

impl HappyEyeballsConfig {
    /// The values the machine really uses: attempt delay clamped, family count at
    /// least 1.
    fn effective(mut self) -> Self {
        self.attempt_delay = self
            .attempt_delay
            .clamp(MIN_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY);
        self.first_address_family_count = self.first_address_family_count.max(1);
        self
    }
}

/// Names one connection attempt of one [`HappyEyeballs`] machine. Attempts are
/// numbered from 0 in the order they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(usize);

impl AttemptId {
    /// The attempt's position in start order (0 for the first), handy as an index.
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}

/// Something the driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Start a lookup of the host with [`Resolver::resolve`](crate::endpoint::Resolver::resolve)
    /// and report its answer with [`HappyEyeballs::handle_resolved`].
    Resolve(Lookup),
    /// Start connecting to `addr`; report the outcome with `handle_connected` or
    /// `handle_failed` and this `id`.
    Connect {
        /// The attempt.
        id: AttemptId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Stop this attempt (timed out or lost the race) and close its socket.
    Cancel {
        /// The attempt.
        id: AttemptId,
    },
}

/// How the connect ended. Reported once.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// This attempt connected: its connection is the result.
    Done {
        /// The winning attempt.
        id: AttemptId,
        /// The address it connected to.
        addr: SocketAddr,
    },
    /// Nothing connected.
    Failed(ConnectError),
}

/// One failed connection attempt.
#[derive(Debug)]
#[non_exhaustive]
pub struct AttemptError {
    /// Where the attempt connected to.
    pub addr: SocketAddr,
    /// Why it failed (`TimedOut` for attempts the machine timed out).
    pub error: io::Error,
}

/// A lookup that gave no addresses.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResolveFailure {
    /// Which lookup.
    pub lookup: Lookup,
    /// The resolver's error, or `None` if it answered with no addresses.
    pub error: Option<io::Error>,
}

/// Connecting to a host failed: every address tried, each with its own error.
///
/// ```
/// # use std::io;
/// # use std::time::Instant;
/// # use strports_core::happy_eyeballs::{Action, Event, HappyEyeballs, HappyEyeballsConfig};
/// let addrs = ["[2001:db8::1]:443".parse()?, "192.0.2.1:443".parse()?];
/// let t0 = Instant::now();
/// let mut he = HappyEyeballs::with_addresses("example.com", 443, addrs, HappyEyeballsConfig::default(), t0);
/// let Some(Action::Connect { id, .. }) = he.poll_action() else { panic!() };
/// he.handle_failed(id, io::ErrorKind::ConnectionRefused.into(), t0);
/// let Some(Action::Connect { id, .. }) = he.poll_action() else { panic!() };
/// he.handle_failed(id, io::ErrorKind::TimedOut.into(), t0);
/// let Some(Event::Failed(err)) = he.poll_event() else { panic!() };
/// assert_eq!(
///     err.to_string(),
///     "cannot connect to example.com:443: [2001:db8::1]:443: connection refused; 192.0.2.1:443: timed out"
/// );
/// assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut); // the last failure's
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConnectError {
    host: String,
    port: u16,
    attempts: Vec<AttemptError>,
    last_failed: Option<usize>,
    resolution: Vec<ResolveFailure>,
    had_addresses: bool,
    timed_out_after: Option<Duration>,
}

impl ConnectError {
    /// The host connected to, as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port connected to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every attempt, in the order they started, with its error.
    pub fn attempts(&self) -> &[AttemptError] {
        &self.attempts
    }

    /// Lookups that gave no addresses (also those that did not matter because the
    /// other family had addresses).
    pub fn resolve_failures(&self) -> &[ResolveFailure] {
        &self.resolution
    }

    /// The overall timeout, if that is what ended the connect.
    pub fn timed_out_after(&self) -> Option<Duration> {
        self.timed_out_after
    }

    /// The [`io::ErrorKind`] this error converts into: `TimedOut` for the overall
    /// timeout; the attempts' kind if they agree, else the kind of the attempt that
    /// failed last; for failed resolution the resolver's kind if its errors agree,
    /// else `NotFound`.
    pub fn kind(&self) -> io::ErrorKind {
        if self.timed_out_after.is_some() {
            return io::ErrorKind::TimedOut;
        }
        if let Some(first) = self.attempts.first() {
            let kind = first.error.kind();
            if self.attempts.iter().all(|a| a.error.kind() == kind) {
                return kind;
            }
            let last = self.last_failed.and_then(|i| self.attempts.get(i));
            return last.map_or(kind, |a| a.error.kind());
        }
        let mut kinds = self
            .resolution
            .iter()
            .map(|r| r.error.as_ref().map(io::Error::kind));
        match kinds.next() {
            Some(Some(kind)) if kinds.all(|k| k == Some(kind)) => kind,
            _ => io::ErrorKind::NotFound,
        }
    }

    fn write_resolution(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self
            .resolution
            .iter()
            .map(|r| {
                r.error
                    .as_ref()
                    .map_or("no addresses".into(), lowercase_message)
            })
            .collect();
        // One message for both families needs no labels.
        let both =
            self.resolution.len() > 1 || self.resolution.iter().any(|r| r.lookup == Lookup::Any);
        if both && messages.windows(2).all(|w| w[0] == w[1]) {
            return write!(f, ": {}", messages[0]);
        }
        for (i, (r, message)) in self.resolution.iter().zip(&messages).enumerate() {
            let label = match r.lookup {
                Lookup::Ipv6 => "ipv6",
                Lookup::Ipv4 => "ipv4",
                Lookup::Any => "lookup",
            };
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{label}: {message}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = self.timed_out_after.map(|d| format!(" within {d:?}"));
        let within = within.as_deref().unwrap_or("");
        if self.attempts.is_empty() {
            if self.had_addresses {
                return write!(f, "cannot connect to {}{within}", HostPort(self));
            }
            if self.resolution.is_empty() && self.timed_out_after.is_none() {
                return write!(f, "cannot connect to {}: no addresses", HostPort(self));
            }
            write!(f, "cannot resolve {}{within}", self.host)?;
            return self.write_resolution(f);
        }
        write!(f, "cannot connect to {}{within}", HostPort(self))?;
        for (i, a) in self.attempts.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{}: {}", a.addr, lowercase_message(&a.error))?;
        }
        Ok(())
    }
}

/// The whole message is in `Display`, so there is no single source.
impl std::error::Error for ConnectError {}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// `host:port`, with brackets around an IPv6 literal.
struct HostPort<'a>(&'a ConnectError);

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port) = (&self.0.host, self.0.port);
        if host.contains(':') && !host.starts_with('[') {
            write!(f, "[{host}]:{port}")
        } else {
            write!(f, "{host}:{port}")
        }
    }
}

/// An error's message with a capitalised first word lowercased (`Connection refused
/// (os error 111)` → `connection refused (os error 111)`); acronyms stay.
fn lowercase_message(e: &io::Error) -> String {
    let s = e.to_string();
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => first
            .to_lowercase()
            .chain(s[first.len_utf8()..].chars())
            .collect(),
        _ => s,
    }
}

#[derive(Debug)]
enum AttemptState {
    Running,
    Failed(io::Error),
    Cancelled,
    Connected,
}

#[derive(Debug)]
struct Attempt {
    addr: SocketAddr,
    deadline: Option<Instant>,
    state: AttemptState,
}

/// The RFC 8305 connection race for one host and port. See the
/// [module documentation](self) for the rules and the calling order.
#[derive(Debug)]
pub struct HappyEyeballs {
    host: String,
    port: u16,
    config: HappyEyeballsConfig,
    /// The latest `now` seen.
    now: Instant,
    /// When the overall timeout expires (`None`: never).
    deadline: Option<Instant>,
    pending_v6: bool,
    pending_v4: bool,
    /// While set, IPv4 addresses wait for the AAAA answer.
    resolution_wait: Option<Instant>,
    resolution: Vec<ResolveFailure>,
    untried_v6: VecDeque<SocketAddr>,
    untried_v4: VecDeque<SocketAddr>,
    attempts: Vec<Attempt>,
    running: usize,
    last_failed: Option<usize>,
    /// The earliest time the next attempt may start (`None`: never).
    next_start: Option<Instant>,
    actions: VecDeque<Action>,
    event: Option<Event>,
    finished: bool,
}

impl HappyEyeballs {
    /// Starts connecting to `host` (a name or an IP literal, brackets allowed) on
    /// `port`. A name first asks for both lookups (`Action::Resolve`); an IP
    /// literal connects at once without resolving.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        config: HappyEyeballsConfig,
        now: Instant,
    ) -> Self {
        let host = host.into();
        if let Some(ip) = ip_literal(&host, port) {
            return Self::with_addresses(host, port, [ip], config, now);
        }
        let mut he = Self::empty(host, port, config, now);
        if he.deadline.is_some_and(|d| d <= now) {
            // A zero overall timeout: out of time before any lookup could answer.
            he.fail_overall();
            return he;
        }
        he.pending_v6 = true;
        he.pending_v4 = true;
        he.actions.push_back(Action::Resolve(Lookup::Ipv6));
        he.actions.push_back(Action::Resolve(Lookup::Ipv4));
        he
    }

    /// Starts connecting to addresses already known (IP literals, a cached
    /// answer). They are interleaved like resolved ones; `host` and `port` only
    /// name the target in errors. No addresses fail at once.
    pub fn with_addresses(
        host: impl Into<String>,
        port: u16,
        addrs: impl IntoIterator<Item = SocketAddr>,
        config: HappyEyeballsConfig,
        now: Instant,
    ) -> Self {
        let mut he = Self::empty(host.into(), port, config, now);
        he.add_addresses(addrs);
        he.advance();
        he
    }

    fn empty(host: String, port: u16, config: HappyEyeballsConfig, now: Instant) -> Self {
        let config = config.effective();
        HappyEyeballs {
            host,
            port,
            deadline: config.overall_timeout.and_then(|d| now.checked_add(d)),
            config,
            now,
            pending_v6: false,
            pending_v4: false,
            resolution_wait: None,
            resolution: Vec::new(),
            untried_v6: VecDeque::new(),
            untried_v4: VecDeque::new(),
            attempts: Vec::new(),
            running: 0,
            last_failed: None,
            next_start: Some(now),
            actions: VecDeque::new(),
            event: None,
            finished: false,
        }
    }

    /// The configuration in effect (attempt delay clamped, family count at least 1).
    pub fn config(&self) -> &HappyEyeballsConfig {
        &self.config
    }

    /// The host being connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the final event has been produced (it may still be waiting in
    /// [`poll_event`](Self::poll_event)).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Reports a lookup's answer. Addresses are sorted by their own family (an
    /// [`Lookup::Any`] answer covers both lookups); duplicates are dropped. An
    /// answer for a lookup already answered is ignored.
    pub fn handle_resolved(
        &mut self,
        lookup: Lookup,
        result: io::Result<Vec<SocketAddr>>,
        now: Instant,
    ) {
        self.observe(now);
        if self.finished {
            return;
        }
        let (v6, v4) = match lookup {
            Lookup::Ipv6 => (true, false),
            Lookup::Ipv4 => (false, true),
            Lookup::Any => (true, true),
        };
        if (v6 && self.pending_v6) || (v4 && self.pending_v4) {
            self.pending_v6 &= !v6;
            self.pending_v4 &= !v4;
            let (error, added) = match result {
                Ok(addrs) => (None, self.add_addresses(addrs)),
                Err(e) => (Some(e), 0),
            };
            if added == 0 {
                self.resolution.push(ResolveFailure { lookup, error });
            }
            if v6 {
                // Any AAAA answer, even a negative one, ends the wait for it.
                self.resolution_wait = None;
            } else if self.pending_v6 && self.attempts.is_empty() && added > 0 {
                self.resolution_wait = self.now.checked_add(self.config.resolution_delay);
            }
        }
        self.advance();
    }

    /// Reports that an attempt connected. If it is still running it wins (even if
    /// a deadline passed by `now` without `handle_timeout` being called), and every
    /// other running attempt is cancelled.
    pub fn handle_connected(&mut self, id: AttemptId, now: Instant) {
        self.observe(now);
        if self.finished {
            return;
        }
        let Some(winner) = self.attempts.get_mut(id.0) else {
            return self.advance();
        };
        if !matches!(winner.state, AttemptState::Running) {
            return self.advance();
        }
        winner.state = AttemptState::Connected;
        let addr = winner.addr;
        for (i, a) in self.attempts.iter_mut().enumerate() {
            if matches!(a.state, AttemptState::Running) {
                a.state = AttemptState::Cancelled;
                self.actions.push_back(Action::Cancel { id: AttemptId(i) });
            }
        }
        self.running = 0;
        self.finished = true;
        self.event = Some(Event::Done { id, addr });
    }

    /// Reports that an attempt failed; the next one starts at once.
    pub fn handle_failed(&mut self, id: AttemptId, error: io::Error, now: Instant) {
        self.observe(now);
        if self.finished {
            return;
        }
        if self
            .attempts
            .get(id.0)
            .is_some_and(|a| matches!(a.state, AttemptState::Running))
        {
            self.fail(id.0, error);
        }
        self.advance();
    }

    /// Processes every deadline that passed by `now`. Call it when the timer set at
    /// [`poll_timeout`](Self::poll_timeout) fires; calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        self.advance();
    }

    /// The next thing to do, or `None`. Drain it after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) at the latest: the
    /// earliest pending deadline, always after the latest `now` seen. `None` when
    /// only lookups or attempts can move things on, or after the final event.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let untried = !self.untried_v6.is_empty() || !self.untried_v4.is_empty();
        let start = match self.resolution_wait {
            Some(wait) => Some(wait),
            None if untried => self.next_start,
            None => None,
        };
        let attempts = self.attempts.iter().filter_map(|a| match a.state {
            AttemptState::Running => a.deadline,
            _ => None,
        });
        attempts.chain(start).chain(self.deadline).min()
    }

    /// The final event, once: the winner or the combined error.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.event.take()
    }

    fn observe(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Queues new addresses by family; returns how many were new.
    fn add_addresses(&mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> usize {
        let mut added = 0;
        for addr in addrs {
            let known = self.untried_v6.contains(&addr)
                || self.untried_v4.contains(&addr)
                || self.attempts.iter().any(|a| a.addr == addr);
            if known {
                continue;
            }
            if addr.is_ipv6() {
                self.untried_v6.push_back(addr);
            } else {
                self.untried_v4.push_back(addr);
            }
            added += 1;
        }
        added
    }

    /// Marks a running attempt failed and lets the next one start at once.
    fn fail(&mut self, index: usize, error: io::Error) {
        if let Some(a) = self.attempts.get_mut(index) {
            a.state = AttemptState::Failed(error);
            self.running -= 1;
            self.last_failed = Some(index);
            self.next_start = Some(self.now);
            self.start_due();
        }
    }

    /// Applies every rule due at `self.now`.
    fn advance(&mut self) {
        if self.finished {
            return;
        }
        let now = self.now;
        if self.deadline.is_some_and(|d| d <= now) {
            return self.fail_overall();
        }
        if self.resolution_wait.is_some_and(|t| t <= now) {
            self.resolution_wait = None;
        }
        loop {
            // One at a time: each timed-out attempt lets the next start at once.
            while let Some(i) = self.attempts.iter().position(|a| {
                matches!(a.state, AttemptState::Running) && a.deadline.is_some_and(|d| d <= now)
            }) {
                self.actions.push_back(Action::Cancel { id: AttemptId(i) });
                self.fail(i, io::ErrorKind::TimedOut.into());
            }
            let started = self.attempts.len();
            self.start_due();
            // A new attempt may already be out of time (a zero attempt timeout).
            if self.attempts.len() == started {
                break;
            }
        }
        let untried = !self.untried_v6.is_empty() || !self.untried_v4.is_empty();
        if self.running == 0 && !untried && !self.pending_v6 && !self.pending_v4 {
            self.finish_failed(None);
        }
    }

    /// Starts the next attempt if one is due.
    fn start_due(&mut self) {
        let due = self.next_start.is_some_and(|t| t <= self.now);
        if self.finished || self.resolution_wait.is_some() || !due {
            return;
        }
        let Some(addr) = self.next_address() else {
            return;
        };
        let id = AttemptId(self.attempts.len());
        let deadline = self
            .config
            .attempt_timeout
            .and_then(|d| self.now.checked_add(d));
        self.attempts.push(Attempt {
            addr,
            deadline,
            state: AttemptState::Running,
        });
        self.running += 1;
        self.next_start = self.now.checked_add(self.config.attempt_delay);
        self.actions.push_back(Action::Connect { id, addr });
    }

    /// RFC 8305 §4: `first_address_family_count` IPv6 addresses, then alternate
    /// families, continuing from the family of the last attempt; when one family is
    /// used up, the rest of the other.
    fn next_address(&mut self) -> Option<SocketAddr> {
        let leading_v6 = self.attempts.len() < self.config.first_address_family_count
            && self.attempts.iter().all(|a| a.addr.is_ipv6());
        let want_v6 = match self.attempts.last() {
            None => true,
            Some(_) if leading_v6 => true,
            Some(last) => last.addr.is_ipv4(),
        };
        let (first, second) = if want_v6 {
            (&mut self.untried_v6, &mut self.untried_v4)
        } else {
            (&mut self.untried_v4, &mut self.untried_v6)
        };
        first.pop_front().or_else(|| second.pop_front())
    }

    fn fail_overall(&mut self) {
        for (i, a) in self.attempts.iter_mut().enumerate() {
            if matches!(a.state, AttemptState::Running) {
                a.state = AttemptState::Failed(io::ErrorKind::TimedOut.into());
                self.actions.push_back(Action::Cancel { id: AttemptId(i) });
            }
        }
        self.running = 0;
        self.finish_failed(self.config.overall_timeout);
    }

    fn finish_failed(&mut self, timed_out_after: Option<Duration>) {
        let had_addresses =
            !self.attempts.is_empty() || !self.untried_v6.is_empty() || !self.untried_v4.is_empty();
        let attempts = std::mem::take(&mut self.attempts)
            .into_iter()
            .map(|a| AttemptError {
                addr: a.addr,
                error: match a.state {
                    AttemptState::Failed(e) => e,
                    _ => io::ErrorKind::TimedOut.into(),
                },
            })
            .collect();
        self.finished = true;
        self.event = Some(Event::Failed(ConnectError {
            host: self.host.clone(),
            port: self.port,
            attempts,
            last_failed: self.last_failed,
            resolution: std::mem::take(&mut self.resolution),
            had_addresses,
            timed_out_after,
        }));
    }
}

/// `host` as an IP address with `port`, if it is an IP literal (an IPv6 one may be
/// bracketed and carry a numeric scope, `fe80::1%2`).
fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    if bare.contains(':') {
        return format!("[{bare}]:{port}").parse().ok();
    }
    None
}
