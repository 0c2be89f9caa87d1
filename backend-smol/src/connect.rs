//! Connecting: [`connect`], [`Connector`] (with a replaceable resolver) and [`Client`].

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;

use async_io::{Async, Timer};
use strports_core::endpoint::{ClientEndpoint, Resolver};
use strports_core::{ClientDescription, UnixClient};
use strports_sys::connect::ClientRoute;
use strports_sys::tcp::{TcpConnect, TcpTarget};
use strports_sys::tls::ClientTlsCache;
use strports_sys::unix::UnixTarget;

use crate::{Stream, SystemResolver};

/// Connects as `desc` says, resolving host names with [`SystemResolver`]: `tcp`,
/// `unix`, `process`, `ssl` and `tls` (certificate and host name always verified; the
/// TLS config is built at each call: a [`Client`] builds it once, at its first
/// connect). Other types fail with [`io::ErrorKind::Unsupported`].
///
/// ```
/// # smol::block_on(async {
/// let listener = strports_smol::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let port = match listener.local_address()? {
///     strports_core::Address::Tcp(a) => a.port(),
///     _ => unreachable!(),
/// };
/// let stream = strports_smol::connect(&format!("tcp:127.0.0.1:{port}").parse()?).await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub async fn connect(desc: &ClientDescription) -> io::Result<Stream> {
    connect_with(desc, &SystemResolver, &ClientTlsCache::default()).await
}

/// Connects as `desc` says; an `ssl:` / `tls:` config comes from `tls` (built there
/// at the first connect: a fresh cache builds it at each call).
pub(crate) async fn connect_with(
    desc: &ClientDescription,
    resolver: &dyn Resolver,
    tls: &ClientTlsCache,
) -> io::Result<Stream> {
    match strports_sys::connect::route(desc)? {
        ClientRoute::Tls => crate::tls::connect(desc, resolver, tls).await,
        ClientRoute::Tcp(target) => Ok(Stream::Tcp(tcp_stream(&target, resolver).await?)),
        ClientRoute::Unix(unix) => connect_unix(unix).await,
        ClientRoute::Process(process) => crate::process::spawn(process).map(Stream::Process),
    }
}

/// Connects with a chosen [`Resolver`] for host names (the system resolver by
/// default). Cheap to clone; share one for many connections.
///
/// ```
/// use std::sync::Arc;
/// use strports_smol::{Connector, SystemResolver};
///
/// let connector = Connector::with_resolver(Arc::new(SystemResolver));
/// # let _ = connector;
/// ```
#[derive(Clone)]
pub struct Connector {
    resolver: Arc<dyn Resolver>,
}

impl Connector {
    /// A connector using [`SystemResolver`].
    pub fn new() -> Connector {
        Connector::with_resolver(Arc::new(SystemResolver))
    }

    /// A connector resolving host names with `resolver`.
    pub fn with_resolver(resolver: Arc<dyn Resolver>) -> Connector {
        Connector { resolver }
    }

    /// Connects as `desc` says (see [`connect`]). A `tcp` host that is an IP literal
    /// is connected to without asking the resolver, within the description's
    /// `timeout`. A name is looked up twice, AAAA and A separately
    /// ([`Lookup::Ipv6`](strports_core::endpoint::Lookup::Ipv6) and
    /// [`Lookup::Ipv4`](strports_core::endpoint::Lookup::Ipv4)), and its addresses are
    /// raced as RFC 8305 ("Happy Eyeballs") says: IPv6 first, families alternating,
    /// a new attempt every 250 ms or as soon as one fails, the first connection
    /// wins. `timeout` bounds each attempt. If every attempt fails, the error lists
    /// each address with its own error. Dropping the future closes every attempt.
    pub async fn connect(&self, desc: &ClientDescription) -> io::Result<Stream> {
        connect_with(desc, &*self.resolver, &ClientTlsCache::default()).await
    }
}

impl Default for Connector {
    fn default() -> Connector {
        Connector::new()
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

/// A client endpoint (Twisted's `IStreamClientEndpoint`): a description plus a
/// [`Connector`], which can [`connect`](ClientEndpoint::connect) any number of times.
///
/// ```
/// use strports_smol::Client;
/// let client = Client::new("unix:/run/app.sock".parse()?);
/// # let _ = client;
/// # Ok::<(), strports_core::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    desc: ClientDescription,
    connector: Connector,
    /// The TLS config of an `ssl:` / `tls:` description, built at the first connect.
    tls: ClientTlsCache,
}

impl Client {
    /// A client endpoint for `desc` using the system resolver.
    pub fn new(desc: ClientDescription) -> Client {
        Client::with_connector(desc, Connector::new())
    }

    /// A client endpoint for `desc` using `connector`.
    pub fn with_connector(desc: ClientDescription, connector: Connector) -> Client {
        Client {
            desc,
            connector,
            tls: ClientTlsCache::shared(),
        }
    }

    /// The description.
    pub fn description(&self) -> &ClientDescription {
        &self.desc
    }
}

impl ClientEndpoint for Client {
    type Stream = Stream;

    async fn connect(&self) -> io::Result<Stream> {
        connect_with(&self.desc, &*self.connector.resolver, &self.tls).await
    }
}

/// Runs `attempt`, failing with [`strports_sys::tcp::timed_out`] naming `target`
/// after `seconds`.
async fn within<T>(
    seconds: u32,
    target: &(dyn fmt::Display + Sync),
    attempt: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let timer = async {
        Timer::after(strports_sys::tcp::seconds(seconds)).await;
        Err(strports_sys::tcp::timed_out(target, seconds))
    };
    futures_lite::future::or(attempt, timer).await
}

/// A TCP connection to `target` (`TCP_NODELAY` set), for every client type that
/// connects to a host over TCP, as [`TcpTarget::plan`] says: an IP literal at once,
/// never through the resolver; a name through Happy Eyeballs
/// ([`happy_eyeballs::connect`](crate::happy_eyeballs::connect)).
pub(crate) async fn tcp_stream(
    target: &TcpTarget<'_>,
    resolver: &dyn Resolver,
) -> io::Result<Async<TcpStream>> {
    match target.plan()? {
        TcpConnect::Direct {
            addr,
            bind,
            timeout,
        } => connect_addr(addr, bind, timeout).await,
        TcpConnect::Race {
            host,
            port,
            bind,
            config,
        } => crate::happy_eyeballs::connect(host, port, bind, config, resolver).await,
    }
}

/// Connects to one address. A connect that completes at once (on loopback the
/// handshake is done inside `connect()`) is not waited for and arms no timer;
/// otherwise `timeout` (seconds) bounds the wait.
async fn connect_addr(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    timeout: u32,
) -> io::Result<Async<TcpStream>> {
    let socket = strports_sys::tcp::start_connect(addr, bind)?;
    let done = strports_sys::tcp::connected_at_once(&socket);
    let context = |e| strports_sys::context(e, format_args!("cannot connect to {addr}"));
    let stream = Async::new_nonblocking(socket).map_err(context)?;
    if !done {
        let wait = async {
            stream.writable().await.map_err(context)?;
            strports_sys::tcp::finish_connect(stream.get_ref(), addr)
        };
        within(timeout, &addr, wait).await?;
    }
    // Best effort, as on accepted connections.
    let _ = stream.get_ref().set_nodelay(true);
    Ok(stream)
}

/// Connects to a UNIX socket. A connect that completes at once (the usual case: the
/// kernel queues the connection for the listener inside `connect()`) is not waited
/// for and arms no timer; otherwise the description's `timeout` bounds the wait.
async fn connect_unix(client: &UnixClient) -> io::Result<Stream> {
    let socket = strports_sys::unix::start_connect(&client.path, client.lockfile)?;
    let done = strports_sys::tcp::connected_at_once(&socket);
    let target = UnixTarget(&client.path);
    let context = |e| strports_sys::context(e, format_args!("cannot connect to {target}"));
    let stream = Async::new_nonblocking(socket).map_err(context)?;
    if !done {
        let wait = async {
            stream.writable().await.map_err(context)?;
            strports_sys::unix::finish_connect(stream.get_ref(), &client.path)
        };
        within(client.timeout, &target, wait).await?;
    }
    Ok(Stream::Unix(stream))
}
