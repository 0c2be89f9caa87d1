//! Connecting: [`connect`], [`Connector`] (with a replaceable resolver) and [`Client`].

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use strports_core::endpoint::{ClientEndpoint, Lookup, Resolver};
use strports_core::{ClientDescription, TcpClient, UnixAddress, UnixClient};
use tokio::net::{TcpStream, UnixStream};

use crate::{Stream, SystemResolver};

/// Connects as `desc` says, resolving host names with [`SystemResolver`]: `tcp`
/// and `unix`. Other types fail with [`io::ErrorKind::Unsupported`]. Must run inside
/// a tokio runtime with I/O and time enabled.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let port = match listener.local_address()? {
///     strports_core::Address::Tcp(a) => a.port(),
///     _ => unreachable!(),
/// };
/// let stream = strports_tokio::connect(&format!("tcp:127.0.0.1:{port}").parse()?).await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(desc: &ClientDescription) -> io::Result<Stream> {
    connect_with(desc, &SystemResolver).await
}

async fn connect_with(desc: &ClientDescription, resolver: &dyn Resolver) -> io::Result<Stream> {
    match desc {
        ClientDescription::Tcp(tcp) => connect_tcp(tcp, resolver).await,
        ClientDescription::Unix(unix) => connect_unix(unix).await,
        other => Err(strports_sys::unsupported(other.type_name())),
    }
}

/// Connects with a chosen [`Resolver`] for host names (the system resolver by
/// default). Cheap to clone; share one for many connections.
///
/// ```
/// use std::sync::Arc;
/// use strports_tokio::{Connector, SystemResolver};
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
    /// is connected to without asking the resolver; for a name, the resolver's
    /// addresses are tried in order until one connects. The whole connect, lookup
    /// included, is bounded by the description's `timeout`.
    pub async fn connect(&self, desc: &ClientDescription) -> io::Result<Stream> {
        connect_with(desc, &*self.resolver).await
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
/// use strports_tokio::Client;
/// let client = Client::new("unix:/run/app.sock".parse()?);
/// # let _ = client;
/// # Ok::<(), strports_core::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    desc: ClientDescription,
    connector: Connector,
}

impl Client {
    /// A client endpoint for `desc` using the system resolver.
    pub fn new(desc: ClientDescription) -> Client {
        Client::with_connector(desc, Connector::new())
    }

    /// A client endpoint for `desc` using `connector`.
    pub fn with_connector(desc: ClientDescription, connector: Connector) -> Client {
        Client { desc, connector }
    }

    /// The description.
    pub fn description(&self) -> &ClientDescription {
        &self.desc
    }
}

impl ClientEndpoint for Client {
    type Stream = Stream;

    fn connect(&self) -> impl Future<Output = io::Result<Stream>> + Send {
        self.connector.connect(&self.desc)
    }
}

/// Runs `attempt`, failing with [`strports_sys::tcp::timed_out`] naming `target`
/// after `seconds`.
async fn within<T>(
    seconds: u32,
    target: &(dyn fmt::Display + Sync),
    attempt: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let limit = Duration::from_secs(u64::from(seconds));
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(strports_sys::tcp::timed_out(target, seconds)),
    }
}

async fn connect_tcp(client: &TcpClient, resolver: &dyn Resolver) -> io::Result<Stream> {
    let bind = strports_sys::tcp::bind_ip(client.bind_address.as_deref())?;
    if let Some(ip) = strports_sys::tcp::host_ip(&client.host) {
        let addr = SocketAddr::new(ip, client.port);
        return within(client.timeout, &addr, connect_addr(addr, bind)).await;
    }
    let attempt = async {
        let addrs = resolver
            .resolve(&client.host, client.port, Lookup::Any)
            .await
            .map_err(|e| {
                strports_sys::context(
                    e,
                    format_args!("cannot connect to {}:{}", client.host, client.port),
                )
            })?;
        let mut errors = Vec::new();
        for addr in addrs {
            match connect_addr(addr, bind).await {
                Ok(stream) => return Ok(stream),
                Err(e) => errors.push(e),
            }
        }
        Err(strports_sys::tcp::all_failed(
            &client.host,
            client.port,
            errors,
        ))
    };
    let target = HostPort(&client.host, client.port);
    within(client.timeout, &target, attempt).await
}

async fn connect_addr(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<Stream> {
    let stream = strports_sys::tcp::start_connect(addr, bind)?;
    let context = |e| strports_sys::context(e, format_args!("cannot connect to {addr}"));
    let stream = TcpStream::from_std(stream).map_err(context)?;
    stream.writable().await.map_err(context)?;
    strports_sys::tcp::finish_connect_fd(&stream, addr)?;
    // Best effort, as on accepted connections.
    let _ = stream.set_nodelay(true);
    Ok(Stream::Tcp(stream))
}

async fn connect_unix(client: &UnixClient) -> io::Result<Stream> {
    let attempt = async {
        let stream = strports_sys::unix::start_connect(&client.path, client.lockfile)?;
        let context =
            |e| strports_sys::context(e, format_args!("cannot connect to unix:{}", client.path));
        let stream = UnixStream::from_std(stream).map_err(context)?;
        stream.writable().await.map_err(context)?;
        strports_sys::unix::finish_connect_fd(&stream, &client.path)?;
        Ok(Stream::Unix(stream))
    };
    within(client.timeout, &UnixTarget(&client.path), attempt).await
}

/// `unix:address`, shown only when an error needs it.
struct UnixTarget<'a>(&'a UnixAddress);

impl fmt::Display for UnixTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix:{}", self.0)
    }
}

/// `host:port`, shown only when an error needs it.
struct HostPort<'a>(&'a str, u16);

impl fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}
