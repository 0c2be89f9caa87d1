//! What the `haproxy:` server wrapper does with each accepted connection, decided
//! once for every backend: how long a header may take, how many may be read at
//! once, which addresses the connection then reports, and what gets it closed.

use std::fmt;
use std::io;
use std::time::Duration;

use super::error::ProxyError;
use super::header::{Addresses, ProxyHeader};
use crate::endpoint::Address;

/// How long a client may take to send its whole PROXY header, from the moment its
/// connection is accepted, unless [`HaproxyOptions::with_header_timeout`] says
/// otherwise: 5 seconds. A load balancer sends the header at once; a client that
/// is still silent after this is not one.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// How many accepted connections may be waiting for their header at once, unless
/// [`HaproxyOptions::with_max_pending`] says otherwise: 1024. While that many wait,
/// the wrapper stops accepting (the kernel's backlog queues the rest), so silent
/// clients cannot use up memory or descriptors.
pub const DEFAULT_MAX_PENDING: usize = 1024;

/// How many bytes the wrapper asks for per read while a header is incomplete. A
/// read may return bytes after the header too; the connection yields those first.
pub const HEADER_READ_SIZE: usize = 512;

/// Settings of the `haproxy:` server wrapper that a description does not carry
/// (descriptions stay as Twisted reads them). Backends take them when listening
/// (`Server::with_haproxy_options`); [`listen`]ing without them uses the defaults.
///
/// [`listen`]: crate::endpoint::ServerEndpoint::listen
///
/// ```
/// use std::time::Duration;
/// use strports_core::proxy_protocol::{HaproxyOptions, DEFAULT_HEADER_TIMEOUT};
///
/// assert_eq!(HaproxyOptions::default().header_timeout(), DEFAULT_HEADER_TIMEOUT);
/// let quick = HaproxyOptions::default().with_header_timeout(Duration::from_millis(500));
/// assert_eq!(quick.header_timeout(), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HaproxyOptions {
    header_timeout: Duration,
    max_pending: usize,
}

impl Default for HaproxyOptions {
    fn default() -> Self {
        HaproxyOptions {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

impl HaproxyOptions {
    /// These options with the header timeout set to `timeout` (see
    /// [`DEFAULT_HEADER_TIMEOUT`]).
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// These options with at most `max` connections waiting for their header at
    /// once (at least 1; see [`DEFAULT_MAX_PENDING`]).
    pub fn with_max_pending(mut self, max: usize) -> Self {
        self.max_pending = max.max(1);
        self
    }

    /// How long a client may take to send its header.
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// How many connections may wait for their header at once.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }
}

/// Why the wrapper closed a connection instead of handing it to the application.
/// Each one is counted by the listener and logged; other connections are not
/// affected.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// The bytes are not a valid PROXY header.
    Malformed(ProxyError),
    /// The client closed the connection before the header was complete.
    Closed {
        /// How many header bytes had arrived.
        received: usize,
    },
    /// The header was not complete within the header timeout.
    TimedOut(Duration),
    /// A valid header for a datagram flow (v2 UDP or UNIX datagram): a stream
    /// server cannot take it.
    Datagram,
    /// Reading the header (or the connection's own addresses) failed.
    Io(io::Error),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(e) => write!(f, "{e}"),
            Rejection::Closed { received } => write!(
                f,
                "connection closed before the proxy header was complete ({received} bytes received)"
            ),
            Rejection::TimedOut(t) => write!(f, "no complete proxy header within {t:?}"),
            Rejection::Datagram => f.write_str("proxy header announces a datagram flow"),
            Rejection::Io(e) => write!(f, "cannot read the proxy header: {e}"),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Rejection::Malformed(e) => Some(e),
            Rejection::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProxyError> for Rejection {
    fn from(e: ProxyError) -> Self {
        Rejection::Malformed(e)
    }
}

impl From<io::Error> for Rejection {
    fn from(e: io::Error) -> Self {
        Rejection::Io(e)
    }
}

/// The `(source, destination)` a connection with `header` reports: the header's
/// stream addresses; for LOCAL, `UNKNOWN` and `UNSPEC` (a health check, or a proxy
/// that does not know) the connection's own: `peer`, and `local()` (only asked
/// then). A datagram header is a [`Rejection::Datagram`].
///
/// ```
/// use strports_core::endpoint::Address;
/// use strports_core::proxy_protocol::{endpoints, Addresses, ProxyHeader};
///
/// let peer = Address::Tcp("127.0.0.1:40000".parse().unwrap());
/// let local = || Ok(Address::Tcp("127.0.0.1:8080".parse().unwrap()));
/// let client = "192.0.2.1:5000".parse().unwrap();
/// let server = "198.51.100.1:443".parse().unwrap();
///
/// let relayed = ProxyHeader::v1(Addresses::tcp(client, server));
/// assert_eq!(endpoints(&relayed, peer.clone(), local)?, (Address::Tcp(client), Address::Tcp(server)));
/// let health_check = ProxyHeader::local();
/// assert_eq!(endpoints(&health_check, peer.clone(), local)?, (peer.clone(), local()?));
/// assert!(endpoints(&ProxyHeader::v2(Addresses::udp(client, server)), peer, local).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn endpoints(
    header: &ProxyHeader,
    peer: Address,
    local: impl FnOnce() -> io::Result<Address>,
) -> Result<(Address, Address), Rejection> {
    match &header.addresses {
        Addresses::Stream {
            source,
            destination,
        } => Ok((source.clone(), destination.clone())),
        Addresses::Datagram { .. } => Err(Rejection::Datagram),
        Addresses::Unspecified => Ok((peer, local()?)),
    }
}
