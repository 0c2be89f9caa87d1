//! What the `haproxy:` server wrapper does with each accepted connection, decided
//! once for every backend: how long a header may take, how many may be read at
//! once, which addresses the connection then reports, and what gets it closed.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::error::ProxyError;
use super::header::{Addresses, ProxyHeader};
use super::tlv::Tlv;
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

/// How long a client may stay silent after its connection is accepted before the
/// first byte of its PROXY header (or, on TLS servers, of its ClientHello) arrives,
/// unless the options say otherwise: 3 seconds. A load balancer or a TLS client
/// sends at once; a connection that is still silent after this is turned away well
/// before the whole header's (or handshake's) limit, so idle connections cannot
/// hold the pending slots for long.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(3);

/// How many connections from one source (an IPv4 address, or an IPv6 /64 network)
/// may be waiting for their PROXY header at once, unless
/// [`HaproxyOptions::with_max_pending_per_source`] says otherwise: 64. A connection
/// beyond it is closed at once, so one source cannot take every pending slot. It
/// applies when every peer is believed (no trust list): the sources a trust list
/// names are the operator's load balancers, and only [`DEFAULT_MAX_PENDING`] (or
/// [`HaproxyOptions::with_max_pending`]) bounds them.
pub const DEFAULT_MAX_PENDING_PER_SOURCE: usize = 64;

/// How many bytes of v2 TLVs (type, length and value, `NOOP` padding not counted)
/// a connection keeps, unless [`HaproxyOptions::with_max_tlv_bytes`] says
/// otherwise: 4096. A header with more is rejected ([`Rejection::TlvsTooLarge`]):
/// HAProxy's own TLVs (`ALPN`, `AUTHORITY`, `UNIQUE_ID`, `SSL`) take a few hundred.
pub const DEFAULT_MAX_TLV_BYTES: usize = 4096;

/// What the `haproxy:` wrapper does with a connection from a source outside its
/// trusted networks ([`HaproxyOptions::with_trusted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Untrusted {
    /// Close it at once, before it takes a pending slot, and count it as a
    /// rejection (the default).
    #[default]
    Reject,
    /// Serve it as a direct connection: no header is read (its bytes reach the
    /// application as they are) and it reports its real address, as nginx does for
    /// sources outside `set_real_ip_from`. For listeners that take both a load
    /// balancer's connections and direct ones.
    Direct,
}

/// Settings of the `haproxy:` server wrapper that a description does not carry
/// (descriptions stay as Twisted reads them). Backends take them when listening
/// (`Server::with_haproxy_options`); [`listen`]ing without them uses the defaults.
///
/// **Trust.** By default a header is believed from any peer, as Twisted and
/// HAProxy's `accept-proxy` do: anyone who can connect can claim any address. Name
/// the load balancers' networks with [`with_trusted`](HaproxyOptions::with_trusted)
/// and a peer outside them is turned away before its header is read (or, with
/// [`Untrusted::Direct`], served with its own address). Peers on UNIX sockets have
/// no network address and are always trusted: the socket's `mode` says who may
/// connect.
///
/// [`listen`]: crate::endpoint::ServerEndpoint::listen
///
/// ```
/// use std::time::Duration;
/// use strports_core::endpoint::Address;
/// use strports_core::proxy_protocol::{HaproxyOptions, DEFAULT_HEADER_TIMEOUT};
///
/// assert_eq!(HaproxyOptions::default().header_timeout(), DEFAULT_HEADER_TIMEOUT);
/// let quick = HaproxyOptions::default().with_header_timeout(Duration::from_millis(500));
/// assert_eq!(quick.header_timeout(), Duration::from_millis(500));
///
/// let lb = HaproxyOptions::default().with_trusted(["10.0.0.0/8".parse()?]);
/// assert!(lb.trusts(&Address::Tcp("10.1.2.3:5000".parse()?)));
/// assert!(!lb.trusts(&Address::Tcp("203.0.113.66:4444".parse()?)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HaproxyOptions {
    header_timeout: Duration,
    first_byte_timeout: Duration,
    max_pending: usize,
    max_pending_per_source: usize,
    max_tlv_bytes: usize,
    /// `None`: every source is trusted.
    trusted: Option<Arc<[IpNet]>>,
    untrusted: Untrusted,
}

impl Default for HaproxyOptions {
    fn default() -> Self {
        HaproxyOptions {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            max_pending_per_source: DEFAULT_MAX_PENDING_PER_SOURCE,
            max_tlv_bytes: DEFAULT_MAX_TLV_BYTES,
            trusted: None,
            untrusted: Untrusted::Reject,
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

    /// These options with `timeout` as the time the header's first byte may take
    /// (see [`DEFAULT_FIRST_BYTE_TIMEOUT`]; the header timeout still bounds the
    /// whole header, and the shorter of the two applies to the first byte).
    pub fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// These options with at most `max` connections waiting for their header at
    /// once (at least 1; see [`DEFAULT_MAX_PENDING`]).
    pub fn with_max_pending(mut self, max: usize) -> Self {
        self.max_pending = max.max(1);
        self
    }

    /// These options with at most `max` connections from one source waiting for
    /// their header at once (at least 1; see [`DEFAULT_MAX_PENDING_PER_SOURCE`]).
    pub fn with_max_pending_per_source(mut self, max: usize) -> Self {
        self.max_pending_per_source = max.max(1);
        self
    }

    /// These options keeping at most `max` bytes of TLVs per connection (see
    /// [`DEFAULT_MAX_TLV_BYTES`]); a header with more is rejected.
    pub fn with_max_tlv_bytes(mut self, max: usize) -> Self {
        self.max_tlv_bytes = max;
        self
    }

    /// These options believing headers only from peers in `networks` (an address
    /// is a network of one: `IpNet::from(addr)`); see the type's documentation. An
    /// empty list trusts no network peer.
    pub fn with_trusted(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted = Some(networks.into_iter().map(|n| n.trunc()).collect());
        self
    }

    /// These options doing `what` with peers outside the trusted networks.
    pub fn with_untrusted(mut self, what: Untrusted) -> Self {
        self.untrusted = what;
        self
    }

    /// How long a client may take to send its header.
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// How long a client may take to send the header's first byte (never more than
    /// the header timeout).
    pub fn first_byte_timeout(&self) -> Duration {
        self.first_byte_timeout.min(self.header_timeout)
    }

    /// How many connections may wait for their header at once.
    pub fn max_pending(&self) -> usize {
        self.max_pending
    }

    /// How many connections from one source may wait for their header at once.
    pub fn max_pending_per_source(&self) -> usize {
        self.max_pending_per_source
    }

    /// How many bytes of TLVs a connection may keep.
    pub fn max_tlv_bytes(&self) -> usize {
        self.max_tlv_bytes
    }

    /// The trusted networks (`None`: every peer is trusted).
    pub fn trusted(&self) -> Option<&[IpNet]> {
        self.trusted.as_deref()
    }

    /// What happens to peers outside the trusted networks.
    pub fn untrusted(&self) -> Untrusted {
        self.untrusted
    }

    /// Whether a header from `peer` (the transport's peer) is believed: always
    /// without a trust list and for peers without a network address (UNIX); otherwise when the address, IPv4
    /// addresses mapped into IPv6 included, is in a trusted network.
    pub fn trusts(&self, peer: &Address) -> bool {
        let Some(trusted) = &self.trusted else {
            return true;
        };
        match peer {
            Address::Tcp(addr) => {
                let ip = addr.ip().to_canonical();
                trusted.iter().any(|net| net.contains(&ip))
            }
            Address::Unix(_) | Address::Stdio | Address::Process(_) => true,
        }
    }

    /// Takes what a connection keeps of `header`'s TLVs: `NOOP` padding is dropped,
    /// and the rest must fit in [`max_tlv_bytes`](Self::max_tlv_bytes).
    ///
    /// ```
    /// use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader, Tlv};
    ///
    /// let mut header = ProxyHeader::local()
    ///     .with_tlv(Tlv::new(Tlv::NOOP, vec![0; 60_000]))
    ///     .with_tlv(Tlv::new(Tlv::ALPN, b"h2".to_vec()));
    /// HaproxyOptions::default().keep_tlvs(&mut header)?;
    /// assert_eq!(header.tlvs, [Tlv::new(Tlv::ALPN, b"h2".to_vec())]);
    ///
    /// let mut big = ProxyHeader::local().with_tlv(Tlv::new(Tlv::AUTHORITY, vec![b'a'; 5000]));
    /// assert!(HaproxyOptions::default().keep_tlvs(&mut big).is_err());
    /// # Ok::<(), strports_core::proxy_protocol::Rejection>(())
    /// ```
    pub fn keep_tlvs(&self, header: &mut ProxyHeader) -> Result<(), Rejection> {
        keep_tlvs(header, self.max_tlv_bytes)
    }
}

/// [`HaproxyOptions::keep_tlvs`] with the limit given: drops `NOOP` padding, and
/// rejects a header whose other TLVs (type, length and value) take more than
/// `max_bytes`.
pub fn keep_tlvs(header: &mut ProxyHeader, max_bytes: usize) -> Result<(), Rejection> {
    header.tlvs.retain(|tlv| tlv.kind != Tlv::NOOP);
    let len: usize = header.tlvs.iter().map(|tlv| 3 + tlv.value.len()).sum();
    if len > max_bytes {
        return Err(Rejection::TlvsTooLarge {
            len,
            limit: max_bytes,
        });
    }
    header.tlvs.shrink_to_fit();
    Ok(())
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
    /// Not one byte of the header arrived within the first-byte timeout.
    Silent(Duration),
    /// The peer is outside the trusted networks
    /// ([`HaproxyOptions::with_trusted`]).
    Untrusted,
    /// The peer's source already had as many headers pending as allowed
    /// ([`HaproxyOptions::with_max_pending_per_source`]).
    SourceBusy {
        /// The limit per source.
        limit: usize,
    },
    /// The header's TLVs (without `NOOP`) were longer than allowed
    /// ([`HaproxyOptions::with_max_tlv_bytes`]).
    TlvsTooLarge {
        /// Their length, in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
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
            Rejection::Silent(t) => write!(f, "no proxy header byte within {t:?}"),
            Rejection::Untrusted => f.write_str("peer is not a trusted proxy"),
            Rejection::SourceBusy { limit } => write!(
                f,
                "too many proxy headers pending from this source (limit {limit})"
            ),
            Rejection::TlvsTooLarge { len, limit } => write!(
                f,
                "proxy header tlvs too large ({len} bytes, limit {limit})"
            ),
            Rejection::Datagram => f.write_str("proxy header announces a datagram flow"),
            Rejection::Io(e) => write!(f, "cannot read the proxy header: {e}"),
        }
    }
}

impl Rejection {
    /// A short name of the kind of rejection (`"malformed"`, `"timed out"`,
    /// `"untrusted"`, ...), for counting and rate-limiting logs by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Closed { .. } => "closed",
            Rejection::TimedOut(_) => "timed out",
            Rejection::Silent(_) => "silent",
            Rejection::Untrusted => "untrusted",
            Rejection::SourceBusy { .. } => "source busy",
            Rejection::TlvsTooLarge { .. } => "tlvs too large",
            Rejection::Datagram => "datagram",
            Rejection::Io(_) => "io",
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
