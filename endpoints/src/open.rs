//! Opening descriptions: [`listen`] / [`Server`] and [`connect`] / [`Connector`] /
//! [`Client`]. The one recursive open of each side: transports first, then the
//! wrappers (`haproxy:`, TLS) around what a nested description opened.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use strports_core::endpoint::{ClientEndpoint, Lookup, ResolveFuture, Resolver, ServerEndpoint};
use strports_core::proxy_protocol::HaproxyOptions;
use strports_core::{ClientDescription, ServerDescription};

use crate::plan::{ClientTlsCache, ClientTransport};

use crate::extension::{
    ConnectNested, Dial, ListenNested, Nested, OpenClient, OpenServer, Openers,
};
use crate::haproxy::ProxyListener;
use crate::listener::{Listener, failed};
use crate::route::ClientRoute;
use crate::runtime::Runtime;
use crate::stdio::StdioListener;
use crate::stream::Stream;
use crate::tls::{TlsListener, TlsServerOptions};

/// A boxed future (boxed where descriptions nest).
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// Starts listening as `desc` says: `tcp`, `tcp6`, `unix` (paths and abstract
/// names), `systemd`, `fd`, `stdio`, `ssl` and `tls` (a [`TlsListener`]: its config
/// is read and built here, once, on the blocking pool), and `haproxy:` around any of
/// them, with default options (see [`Server`] for others). Extension types from a
/// `Registry` need an opener ([`Server::with_server_type`]); without one they fail
/// with [`io::ErrorKind::Unsupported`].
///
/// The socket is set up by `strports-sys` and then registered with the runtime's
/// reactor. A `tcp` interface that is a host name is resolved on the blocking pool.
pub async fn listen<R: Runtime>(desc: &ServerDescription) -> io::Result<Listener<R>> {
    listen_with(desc, &ServerSettings::default()).await
}

/// What a [`Server`] listens with besides its description: options for its
/// `haproxy:` wrappers and TLS handshakes, and the openers of extension types.
pub(crate) struct ServerSettings<R: Runtime> {
    haproxy: HaproxyOptions,
    tls: TlsServerOptions,
    openers: Openers<R>,
}

impl<R: Runtime> Default for ServerSettings<R> {
    fn default() -> Self {
        ServerSettings {
            haproxy: HaproxyOptions::default(),
            tls: TlsServerOptions::default(),
            openers: Openers::new(),
        }
    }
}

impl<R: Runtime> Clone for ServerSettings<R> {
    fn clone(&self) -> Self {
        ServerSettings {
            haproxy: self.haproxy.clone(),
            tls: self.tls,
            openers: self.openers.clone(),
        }
    }
}

/// Listens as `desc` says, with the settings' options for every `haproxy:` wrapper
/// in it and for the handshakes of an `ssl:` or `tls:` server in it, and its
/// openers for extension types.
///
/// The `haproxy:` wrapper applies to the raw accepted transport: for
/// `haproxy:ssl:...` the PROXY header comes before the TLS handshake, so TLS wraps
/// the [`ProxyListener`]'s streams rather than the other way round.
pub(crate) fn listen_with<'a, R: Runtime>(
    desc: &'a ServerDescription,
    settings: &'a ServerSettings<R>,
) -> BoxFuture<'a, Listener<R>> {
    let (options, tls) = (&settings.haproxy, settings.tls);
    Box::pin(async move {
        match desc {
            ServerDescription::Tcp(tcp) | ServerDescription::Tcp6(tcp) => {
                let ipv6 = matches!(desc, ServerDescription::Tcp6(_));
                let listener = if strports_sys::tcp::listen_blocks(tcp) {
                    let tcp = tcp.clone();
                    R::unblock(move || strports_sys::tcp::listen(&tcp, ipv6))
                        .await
                        .map_err(|e| failed(e, desc))??
                } else {
                    strports_sys::tcp::listen(tcp, ipv6)?
                };
                Listener::from_tcp(listener, desc)
            }
            ServerDescription::Unix(unix) => {
                let (listener, cleanup) = strports_sys::unix::listen(unix)?;
                Listener::from_unix(listener, cleanup, desc)
            }
            ServerDescription::Systemd(systemd) => {
                Listener::adopted(strports_sys::adopt::systemd(systemd)?, desc)
            }
            ServerDescription::Adopted(fd) => Listener::adopted(strports_sys::adopt::fd(fd)?, desc),
            ServerDescription::Stdio => Ok(Listener::Stdio(
                StdioListener::new().map_err(|e| failed(e, desc))?,
            )),
            ServerDescription::Ssl(_) | ServerDescription::Tls(_) => {
                let (raw, step) = crate::tls::plain_listen::<R>(desc).await?;
                let step = step.with_options(tls);
                Ok(Listener::Tls(
                    TlsListener::new(Listener::Tcp(raw), step).built_from(desc),
                ))
            }
            ServerDescription::Haproxy(inner) => {
                if let ServerDescription::Ssl(_) | ServerDescription::Tls(_) = &**inner {
                    // The header comes before the TLS handshake: read it on the plain
                    // transport, then run the handshake on the proxied streams.
                    let (raw, step) = crate::tls::plain_listen::<R>(inner).await?;
                    let proxied = ProxyListener::new(Listener::Tcp(raw), options.clone());
                    let step = step.with_options(tls);
                    return Ok(Listener::Tls(
                        TlsListener::new(Listener::Haproxy(Box::new(proxied)), step)
                            .built_from(inner),
                    ));
                }
                let inner = listen_with(inner, settings).await?;
                Ok(Listener::Haproxy(Box::new(ProxyListener::new(
                    inner,
                    options.clone(),
                ))))
            }
            ServerDescription::Extension(ext) => {
                let nested = Nested::new(settings);
                settings.openers.server(ext)?.listen(ext, nested).await
            }
            other => Err(strports_sys::unsupported(other.type_name())),
        }
    })
}

/// A server endpoint (Twisted's `IStreamServerEndpoint`): a description that can
/// [`listen`](ServerEndpoint::listen), possibly several times, with options for its
/// `haproxy:` wrappers and TLS handshakes.
pub struct Server<R: Runtime> {
    desc: ServerDescription,
    settings: ServerSettings<R>,
}

impl<R: Runtime> Clone for Server<R> {
    fn clone(&self) -> Self {
        Server {
            desc: self.desc.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("desc", &self.desc)
            .field("haproxy", &self.settings.haproxy)
            .field("tls", &self.settings.tls)
            .field("openers", &self.settings.openers)
            .finish()
    }
}

impl<R: Runtime> Server<R> {
    /// A server endpoint for `desc`.
    pub fn new(desc: ServerDescription) -> Self {
        Server {
            desc,
            settings: ServerSettings::default(),
        }
    }

    /// This server with `options` for its `haproxy:` wrappers (trusted networks,
    /// timeouts, the most headers read at once, in all and per source, TLV bytes
    /// kept). Descriptions without `haproxy:` ignore them.
    pub fn with_haproxy_options(mut self, options: HaproxyOptions) -> Self {
        self.settings.haproxy = options;
        self
    }

    /// This server with `timeout` as the limit of each TLS handshake of an `ssl:` or
    /// `tls:` description (also under `haproxy:`), instead of
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT). Descriptions without TLS ignore it.
    pub fn with_tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.settings.tls = self.settings.tls.with_handshake_timeout(timeout);
        self
    }

    /// This server with `options` for the handshakes of an `ssl:` or `tls:`
    /// description (also under `haproxy:`): time limits, and how many handshakes
    /// may run at once, in all and per source. Descriptions without TLS ignore them.
    pub fn with_tls_options(mut self, options: TlsServerOptions) -> Self {
        self.settings.tls = options;
        self
    }

    /// This server listening on descriptions of the extension type `name` (also
    /// nested, as in `haproxy:name:...`) with `opener` (see [`crate::extension`]).
    pub fn with_server_type(mut self, name: &str, opener: impl OpenServer<R>) -> Self {
        self.settings.openers.add_server(name, opener);
        self
    }

    /// This server with `openers` for extension types, replacing any it had.
    pub fn with_openers(mut self, openers: Openers<R>) -> Self {
        self.settings.openers = openers;
        self
    }

    /// The description.
    pub fn description(&self) -> &ServerDescription {
        &self.desc
    }

    /// Starts listening (see [`listen`]).
    pub fn listen(&self) -> impl Future<Output = io::Result<Listener<R>>> + Send + '_ {
        listen_with(&self.desc, &self.settings)
    }
}

impl<R: Runtime> ServerEndpoint for Server<R> {
    type Listener = Listener<R>;

    fn listen(&self) -> impl Future<Output = io::Result<Listener<R>>> + Send {
        Server::listen(self)
    }
}

/// Connects as `desc` says, resolving host names with [`SystemResolver`]: `tcp`,
/// `unix`, `process`, `ssl` and `tls` (certificate and host name always verified).
/// Other types fail with [`io::ErrorKind::Unsupported`].
///
/// The TLS config of an `ssl:`/`tls:` connect without a [`Client`] comes from a
/// process-wide cache (at most 64 configs, least recently used dropped first) keyed
/// by the description's TLS parameters (type, name verified, trust roots directory,
/// client certificate and key files, `alpn`) and checked at each connect, with `stat`
/// only, against the files it was built from; it is built again on the blocking pool
/// when one of them changed. One-shot connects with the same TLS parameters
/// therefore share one rustls `ClientConfig` and its session store, so they resume
/// TLS sessions when the server allows it (a [`Client`] keeps the config it got at
/// its first connect). Not while the files are fresh: a config built from files
/// changed less than two seconds before is built again at the next connect, with a
/// new, empty session store, so one-shot connects within two seconds of writing
/// the trust roots do full handshakes ([`Stream::handshake_kind`] tells).
pub async fn connect<R: Runtime>(desc: &ClientDescription) -> io::Result<Stream<R>> {
    connect_with::<R>(
        desc,
        &SystemResolver::<R>::new(),
        &Openers::new(),
        &ClientTlsCache::default(),
    )
    .await
}

/// Connects as `desc` says; an `ssl:` / `tls:` config comes from `tls` (built there
/// at the first connect: a fresh cache builds it at each call). Only a `tls:`
/// client's nested `endpoint=` is boxed (it can nest to any depth); other connects
/// allocate no future.
pub(crate) async fn connect_with<R: Runtime>(
    desc: &ClientDescription,
    resolver: &dyn Resolver,
    openers: &Openers<R>,
    tls: &ClientTlsCache,
) -> io::Result<Stream<R>> {
    match crate::route::route(desc)? {
        ClientRoute::Tcp(target) => Ok(Stream::Tcp(
            crate::connect::tcp::<R>(&target, resolver).await?,
        )),
        ClientRoute::Unix(unix) => Ok(Stream::Unix(crate::connect::unix::<R>(unix).await?)),
        ClientRoute::Process(process) => crate::process::spawn::<R>(process).map(Stream::Process),
        ClientRoute::Extension(ext) => {
            let via = Via { resolver, openers };
            openers.client(ext)?.connect(ext, Dial::new(&via)).await
        }
        ClientRoute::Tls => {
            let config = crate::tls::client_tls::<R>(desc, tls).await?;
            let plan = crate::plan::client_plan(desc)?;
            let inner = match plan.transport {
                ClientTransport::Tcp(target) => {
                    Stream::Tcp(crate::connect::tcp::<R>(&target, resolver).await?)
                }
                // Its own TLS config, if any, is built at each connect.
                ClientTransport::Endpoint(inner) => nested::<R>(inner, resolver, openers).await?,
            };
            // Failures name the peer and the name verified (and what to set).
            let peer = inner.peer_addr().ok().map(|a| a.to_string());
            crate::tls::client_handshake(inner, &config, plan.handshake_timeout)
                .await
                .map_err(|e| {
                    let context = strports_sys::tls::client_error_context(desc, &config, peer);
                    strports_sys::tls::describe_client_failure(e, context)
                })
        }
    }
}

/// [`connect_with`] for a nested `endpoint=`, boxed.
fn nested<'a, R: Runtime>(
    desc: &'a ClientDescription,
    resolver: &'a dyn Resolver,
    openers: &'a Openers<R>,
) -> BoxFuture<'a, Stream<R>> {
    Box::pin(
        async move { connect_with::<R>(desc, resolver, openers, &ClientTlsCache::default()).await },
    )
}

/// What an extension type's opener connects nested descriptions with (its
/// [`Dial`]): the resolver and openers of the connect in progress.
struct Via<'a, R: Runtime> {
    resolver: &'a dyn Resolver,
    openers: &'a Openers<R>,
}

impl<R: Runtime> ConnectNested<R> for Via<'_, R> {
    fn connect_nested<'d>(&'d self, desc: &'d ClientDescription) -> BoxFuture<'d, Stream<R>> {
        nested::<R>(desc, self.resolver, self.openers)
    }
}

impl<R: Runtime> ListenNested<R> for ServerSettings<R> {
    fn listen_nested<'d>(&'d self, desc: &'d ServerDescription) -> BoxFuture<'d, Listener<R>> {
        listen_with(desc, self)
    }
}

/// The system resolver (`getaddrinfo`, honouring `/etc/hosts`, `nsswitch.conf` and
/// the like). Each lookup runs on the runtime's blocking pool, so it never stalls
/// an async thread.
pub struct SystemResolver<R>(PhantomData<fn() -> R>);

impl<R: Runtime> SystemResolver<R> {
    /// The system resolver.
    pub const fn new() -> Self {
        SystemResolver(PhantomData)
    }
}

impl<R: Runtime> Default for SystemResolver<R> {
    fn default() -> Self {
        SystemResolver::new()
    }
}

impl<R> Clone for SystemResolver<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for SystemResolver<R> {}

impl<R> fmt::Debug for SystemResolver<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SystemResolver")
    }
}

impl<R: Runtime> Resolver for SystemResolver<R> {
    fn resolve(&self, host: &str, port: u16, lookup: Lookup) -> ResolveFuture {
        let host = host.to_owned();
        Box::pin(async move {
            R::unblock(move || strports_sys::resolve::system_lookup(&host, port, lookup))
                .await
                .map_err(|e| strports_sys::context(e, "name lookup failed"))?
        })
    }
}

/// Connects with a chosen [`Resolver`] for host names (the system resolver by
/// default). Cheap to clone; share one for many connections.
pub struct Connector<R: Runtime> {
    resolver: Arc<dyn Resolver>,
    openers: Openers<R>,
}

impl<R: Runtime> Clone for Connector<R> {
    fn clone(&self) -> Self {
        Connector {
            resolver: self.resolver.clone(),
            openers: self.openers.clone(),
        }
    }
}

impl<R: Runtime> Connector<R> {
    /// A connector using [`SystemResolver`].
    pub fn new() -> Self {
        Connector::with_resolver(Arc::new(SystemResolver::<R>::new()))
    }

    /// A connector resolving host names with `resolver`.
    pub fn with_resolver(resolver: Arc<dyn Resolver>) -> Self {
        Connector {
            resolver,
            openers: Openers::new(),
        }
    }

    /// This connector connecting descriptions of the extension type `name` (also
    /// nested, as in `tls:...:endpoint=name\:...`) with `opener` (see
    /// [`crate::extension`]).
    pub fn with_client_type(mut self, name: &str, opener: impl OpenClient<R>) -> Self {
        self.openers.add_client(name, opener);
        self
    }

    /// This connector with `openers` for extension types, replacing any it had.
    pub fn with_openers(mut self, openers: Openers<R>) -> Self {
        self.openers = openers;
        self
    }

    /// Connects as `desc` says (see [`connect`]). A `tcp` host that is an IP literal
    /// is connected to without asking the resolver, within the description's
    /// `timeout`. A name is looked up twice, AAAA and A separately
    /// ([`Lookup::Ipv6`] and [`Lookup::Ipv4`]), and its addresses are raced as RFC
    /// 8305 ("Happy Eyeballs") says: IPv6 first, families alternating, a new attempt
    /// every 250 ms or as soon as one fails, the first connection wins. `timeout`
    /// bounds each attempt. If every attempt fails, the error lists each address
    /// with its own error. Dropping the future closes every attempt.
    pub async fn connect(&self, desc: &ClientDescription) -> io::Result<Stream<R>> {
        connect_with::<R>(
            desc,
            &*self.resolver,
            &self.openers,
            &ClientTlsCache::default(),
        )
        .await
    }
}

impl<R: Runtime> Default for Connector<R> {
    fn default() -> Self {
        Connector::new()
    }
}

impl<R: Runtime> fmt::Debug for Connector<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

/// A client endpoint (Twisted's `IStreamClientEndpoint`): a description plus a
/// [`Connector`], which can [`connect`](ClientEndpoint::connect) any number of
/// times. An `ssl:`/`tls:` client builds its TLS config at its first connect and
/// keeps it (shared by its clones), so later connects resume TLS sessions.
pub struct Client<R: Runtime> {
    desc: ClientDescription,
    connector: Connector<R>,
    tls: ClientTlsCache,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            desc: self.desc.clone(),
            connector: self.connector.clone(),
            tls: self.tls.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("desc", &self.desc)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// A client endpoint for `desc` using the system resolver.
    pub fn new(desc: ClientDescription) -> Self {
        Client::with_connector(desc, Connector::new())
    }

    /// A client endpoint for `desc` using `connector`.
    pub fn with_connector(desc: ClientDescription, connector: Connector<R>) -> Self {
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

    /// Connects (see [`connect`]).
    pub async fn connect(&self) -> io::Result<Stream<R>> {
        connect_with::<R>(
            &self.desc,
            &*self.connector.resolver,
            &self.connector.openers,
            &self.tls,
        )
        .await
    }
}

impl<R: Runtime> ClientEndpoint for Client<R> {
    type Stream = Stream<R>;

    fn connect(&self) -> impl Future<Output = io::Result<Stream<R>>> + Send {
        Client::connect(self)
    }
}
