//! The endpoint traits, mirroring Twisted's `IStreamServerEndpoint`,
//! `IListeningPort` and `IStreamClientEndpoint`, without tying them to a runtime.
//!
//! Each backend implements them with its runtime's own stream types. The futures
//! are `Send` so that listeners and connects can run on multi-threaded executors.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::common::UnixAddress;

/// Where a connection comes from or a listener listens (Twisted's `IAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address (IPv4 or IPv6).
    Tcp(SocketAddr),
    /// A UNIX socket address; `None` for an unnamed socket (a typical client).
    Unix(Option<UnixAddress>),
    /// The process's standard input and output (Twisted's `PipeAddress`).
    Stdio,
    /// A child process, by process id (Twisted's `_ProcessAddress`).
    Process(u32),
}

impl Address {
    /// The TCP port of a TCP address (for `tcp:0`, the port the system chose);
    /// `None` for other addresses.
    ///
    /// ```
    /// use strports_core::Address;
    /// assert_eq!(Address::Tcp("127.0.0.1:8080".parse().unwrap()).port(), Some(8080));
    /// assert_eq!(Address::Stdio.port(), None);
    /// ```
    pub fn port(&self) -> Option<u16> {
        match self {
            Address::Tcp(a) => Some(a.port()),
            _ => None,
        }
    }

    /// The TCP socket address, if this is one.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Address::Tcp(a) => Some(*a),
            _ => None,
        }
    }

    /// The file system path of a UNIX socket address (not an abstract name or an
    /// unnamed socket).
    ///
    /// ```
    /// use strports_core::{Address, UnixAddress};
    /// let a = Address::Unix(Some(UnixAddress::Path("/run/app.sock".into())));
    /// assert_eq!(a.unix_path(), Some(std::path::Path::new("/run/app.sock")));
    /// assert_eq!(Address::Stdio.unix_path(), None);
    /// ```
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        match self {
            Address::Unix(Some(UnixAddress::Path(p))) => Some(p),
            _ => None,
        }
    }
}

/// `127.0.0.1:8080`, `[::1]:443`, a UNIX path or `@name`, `stdio`, `process 42`.
/// Control characters in a UNIX path (which a peer chooses, e.g. in a PROXY header)
/// are escaped (`\n`, `\x1b`; see [`escape_control`](crate::escape_control)), so a
/// logged address cannot forge a log line or drive a terminal.
///
/// ```
/// use strports_core::{Address, UnixAddress};
/// let a = Address::Unix(Some(UnixAddress::Path("/tmp/x\nINFO forged\x1b[31m".into())));
/// assert_eq!(a.to_string(), r"/tmp/x\nINFO forged\x1b[31m");
/// ```
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "{a}"),
            Address::Unix(Some(a)) => write!(f, "{a}"),
            Address::Unix(None) => f.write_str("(unnamed unix socket)"),
            Address::Stdio => f.write_str("stdio"),
            Address::Process(pid) => write!(f, "process {pid}"),
        }
    }
}

/// A listening port: accepts connections (Twisted's `IListeningPort` plus the
/// factory's `buildProtocol`).
pub trait Listener: Send + Sync {
    /// The connection type (the runtime's own stream type).
    type Stream: Send;

    /// Waits for the next connection; returns it with the peer's address.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, Address)>> + Send;

    /// The address actually listened on (port 0 resolved to the real port).
    fn local_addr(&self) -> io::Result<Address>;
}

/// Something that can listen (Twisted's `IStreamServerEndpoint`).
pub trait ServerEndpoint {
    /// The listener `listen` gives.
    type Listener: Listener;

    /// Starts listening.
    fn listen(&self) -> impl Future<Output = io::Result<Self::Listener>> + Send;
}

/// Something that can connect (Twisted's `IStreamClientEndpoint`).
pub trait ClientEndpoint {
    /// The connection type (the runtime's own stream type).
    type Stream: Send;

    /// Connects.
    fn connect(&self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Which addresses a name lookup asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lookup {
    /// IPv4 and IPv6, in the resolver's order.
    Any,
    /// IPv4 only (A records).
    Ipv4,
    /// IPv6 only (AAAA records).
    Ipv6,
}

/// A boxed future returned by [`Resolver::resolve`].
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name into addresses. Backends use the system resolver by default
/// (run off the async threads); a program can pass its own, for example a DNS client
/// or a fixed table in tests.
///
/// ```
/// use std::net::SocketAddr;
/// use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};
///
/// /// Resolves every name to the loopback addresses.
/// struct Loopback;
/// impl Resolver for Loopback {
///     fn resolve(&self, _host: &str, port: u16, lookup: Lookup) -> ResolveFuture {
///         let v4 = SocketAddr::from(([127, 0, 0, 1], port));
///         let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
///         let out = match lookup {
///             Lookup::Ipv4 => vec![v4],
///             Lookup::Ipv6 => vec![v6],
///             _ => vec![v6, v4],
///         };
///         Box::pin(async move { Ok(out) })
///     }
/// }
/// ```
pub trait Resolver: Send + Sync {
    /// Looks up `host` and returns socket addresses with `port`. An empty list or an
    /// error means the name does not resolve.
    fn resolve(&self, host: &str, port: u16, lookup: Lookup) -> ResolveFuture;
}
