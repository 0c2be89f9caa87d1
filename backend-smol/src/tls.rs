//! TLS over futures-rustls: `ssl:` and `tls:` servers ([`TlsListener`], built on the
//! reusable per-connection [`TlsAcceptorStep`]) and clients (any inner stream,
//! including a nested `endpoint=`).
//!
//! Configs (certificates, keys, trust roots) are read and built once per endpoint on
//! the [`blocking`] thread pool: at [`listen`](crate::listen) for servers, at the first
//! connect of a [`Client`](crate::Client) (every [`connect`](crate::connect) call for
//! the free function). The crypto provider is always
//! [`strports_core::tls::default_provider`], passed explicitly.

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use strports_core::endpoint::{Address, Resolver};
use strports_core::tls::rustls::pki_types::ServerName;
use strports_core::tls::rustls::{ClientConfig, ServerConfig};
use strports_core::tls::{default_provider, describe_handshake_error};
use strports_core::{ClientDescription, ServerDescription, TcpServer};
use strports_sys::in_flight::InFlight;
use strports_sys::tls::ClientTls;

use crate::{Listener, Stream};

/// How long a server gives each connection to complete its TLS handshake unless told
/// otherwise ([`TlsAcceptorStep::with_timeout`]): 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server side of a TLS handshake, applied to one raw accepted stream: a
/// `ServerConfig` and a time limit. Cheap to clone.
///
/// [`TlsListener`] runs it on every connection; other wrappers (a PROXY-protocol
/// listener reading its header first, for `haproxy:ssl:`) can run it on any stream
/// they accepted themselves.
#[derive(Clone)]
pub struct TlsAcceptorStep {
    acceptor: TlsAcceptor,
    timeout: Duration,
}

impl TlsAcceptorStep {
    /// A step serving with `config`, with [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptorStep {
        TlsAcceptorStep {
            acceptor: TlsAcceptor::from(config),
            timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// The same step with another handshake time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> TlsAcceptorStep {
        self.timeout = timeout;
        self
    }

    /// The handshake time limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the server handshake on `raw`; gives [`Stream::Tls`]. Errors are those of
    /// [`describe_handshake_error`]; a peer too slow fails with
    /// [`io::ErrorKind::TimedOut`].
    pub async fn handshake(&self, raw: Stream) -> io::Result<Stream> {
        match timeout(self.timeout, self.acceptor.accept(raw)).await {
            Some(Ok(s)) => Ok(Stream::Tls(Box::new(TlsStream::Server(s)))),
            Some(Err(e)) => Err(describe_handshake_error(e)),
            None => Err(handshake_timed_out(self.timeout)),
        }
    }
}

impl fmt::Debug for TlsAcceptorStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptorStep")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `future`'s output, or `None` if it takes longer than `limit`.
async fn timeout<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    let timer = async {
        Timer::after(limit).await;
        None
    };
    futures_lite::future::or(async { Some(future.await) }, timer).await
}

fn handshake_timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("tls handshake failed: not completed within {limit:?}"),
    )
}

/// What a [`TlsListener`] does with each raw connection before handing it out.
pub(crate) type ConnectionStep = Arc<
    dyn Fn(Stream, Address) -> Pin<Box<dyn Future<Output = io::Result<(Stream, Address)>> + Send>>
        + Send
        + Sync,
>;

type Accepting = Pin<Box<dyn Future<Output = io::Result<(Stream, Address)>> + Send>>;

/// A listener whose connections go through a per-connection step (the TLS handshake)
/// before [`accept`](TlsListener::accept) returns them: the `ssl:` and `tls:` servers.
///
/// Handshakes run concurrently, inside `accept`: each call accepts every raw
/// connection that is ready (up to 256 in flight) and polls all unfinished
/// handshakes, so a slow peer, or one sending garbage, never holds up the others. A
/// failed or timed-out handshake is logged (`tracing`, debug level), counted
/// ([`failed_handshakes`](TlsListener::failed_handshakes)), and its connection
/// dropped. Handshakes progress only while someone is in `accept` (as `serve`
/// always is). Cancel-safe: a dropped `accept` loses no connection.
pub struct TlsListener {
    raw: Arc<Listener>,
    step: ConnectionStep,
    /// The raw accept in progress and the handshakes in flight (at most
    /// [`strports_sys::in_flight::MAX_IN_FLIGHT`]; beyond it, new connections wait in the kernel's backlog).
    state: Mutex<InFlight<Accepting>>,
    failed: AtomicU64,
}

impl TlsListener {
    /// Runs `step`'s handshake on every connection `raw` accepts.
    pub fn new(raw: Listener, step: TlsAcceptorStep) -> TlsListener {
        TlsListener::with_step(
            raw,
            Arc::new(move |stream, peer| {
                let step = step.clone();
                Box::pin(async move { Ok((step.handshake(stream).await?, peer)) })
            }),
        )
    }

    /// Runs any `step` on every connection `raw` accepts (for wrappers such as
    /// `haproxy:ssl:`: read the PROXY header, then [`TlsAcceptorStep::handshake`]).
    pub(crate) fn with_step(raw: Listener, step: ConnectionStep) -> TlsListener {
        TlsListener {
            raw: Arc::new(raw),
            step,
            state: Mutex::new(InFlight::default()),
            failed: AtomicU64::new(0),
        }
    }

    /// The next connection whose handshake succeeded, with the peer's address.
    pub async fn accept(&self) -> io::Result<(Stream, Address)> {
        Accept { listener: self }.await
    }

    /// The address listened on.
    pub fn local_address(&self) -> io::Result<Address> {
        self.raw.local_address()
    }

    /// The listener under TLS (for `haproxy:ssl:`, the PROXY protocol wrapper).
    pub fn raw(&self) -> &Listener {
        &self.raw
    }

    /// How many connections were dropped because their handshake failed or timed out.
    pub fn failed_handshakes(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, InFlight<Accepting>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, Address)>> {
        self.lock().poll_next(
            cx,
            || -> Accepting {
                let raw = self.raw.clone();
                Box::pin(async move { raw.accept().await })
            },
            |(stream, peer)| (self.step)(stream, peer),
            |e| {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "strports: tls handshake failed; connection dropped");
            },
        )
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("raw", &self.raw)
            .field("failed_handshakes", &self.failed_handshakes())
            .finish_non_exhaustive()
    }
}

impl AsFd for TlsListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

struct Accept<'a> {
    listener: &'a TlsListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<(Stream, Address)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.listener.poll_accept(cx)
    }
}

impl Drop for Accept<'_> {
    // The inner futures may hold this task's waker only: hand the wait to the others.
    fn drop(&mut self) {
        self.listener.lock().hand_over();
    }
}

/// The raw TCP server under an `ssl:` (IPv4) or `tls:` (IPv6, as `tcp6:`) server.
fn raw_server(desc: &ServerDescription) -> Option<(TcpServer, bool)> {
    match desc {
        ServerDescription::Ssl(s) => Some((
            TcpServer {
                port: s.port,
                interface: s.interface.clone(),
                backlog: s.backlog,
            },
            false,
        )),
        ServerDescription::Tls(s) => Some((
            TcpServer {
                port: s.port,
                interface: s.interface.clone(),
                backlog: s.backlog,
            },
            true,
        )),
        _ => None,
    }
}

/// The server config of an `ssl:` or `tls:` description, read and built on the
/// blocking pool (it reads files). `None` for other types.
pub(crate) async fn server_config(desc: &ServerDescription) -> io::Result<Arc<ServerConfig>> {
    let desc = desc.clone();
    unblock(move || match &desc {
        ServerDescription::Ssl(s) => strports_sys::tls::ssl_server_config(s, default_provider()),
        ServerDescription::Tls(s) => strports_sys::tls::tls_server_config(s, default_provider()),
        other => Err(strports_sys::unsupported(other.type_name())),
    })
    .await
}

/// `listen` for `ssl:` and `tls:`: [`plain_listen`], then a [`TlsListener`].
pub(crate) async fn listen(desc: &ServerDescription) -> io::Result<Listener> {
    let (raw, step) = plain_listen(desc).await?;
    Ok(Listener::Tls(TlsListener::new(raw, step)))
}

/// The two halves of an `ssl:` or `tls:` server: its plain TCP listener and the TLS
/// step to run on each connection, both set up on the blocking pool (config files,
/// a named interface). Wrappers that must see the raw bytes first (`haproxy:ssl:`
/// reads the PROXY header before the handshake) wrap the listener, then give it to
/// [`TlsListener::new`] with the step.
pub(crate) async fn plain_listen(
    desc: &ServerDescription,
) -> io::Result<(Listener, TlsAcceptorStep)> {
    let Some((tcp, ipv6)) = raw_server(desc) else {
        return Err(strports_sys::unsupported(desc.type_name()));
    };
    let config = server_config(desc).await?;
    let raw = unblock(move || {
        strports_sys::tcp::listen_as(&tcp, ipv6, strports_sys::tcp::TypeNames::TLS)
    })
    .await?;
    let raw = Async::new_nonblocking(raw)
        .map_err(|e| strports_sys::context(e, format_args!("cannot listen on {desc}")))?;
    Ok((Listener::Tcp(raw), TlsAcceptorStep::new(config)))
}

async fn unblock<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    blocking::unblock(f).await
}

/// A client's TLS config, built at the first connect of a [`Client`](crate::Client)
/// and reused by its later connects.
#[derive(Clone, Default)]
pub(crate) struct ClientTlsCache(Arc<Mutex<Option<Arc<ClientTls>>>>);

impl ClientTlsCache {
    async fn get(&self, desc: &ClientDescription) -> io::Result<Arc<ClientTls>> {
        if let Some(tls) = &*self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(tls.clone());
        }
        // Two first connects at once may both build it; the files are read twice then.
        let tls = client_tls(desc).await?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(tls.clone());
        Ok(tls)
    }
}

impl fmt::Debug for ClientTlsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTlsCache")
    }
}

async fn client_tls(desc: &ClientDescription) -> io::Result<Arc<ClientTls>> {
    let desc = desc.clone();
    unblock(move || {
        match &desc {
            ClientDescription::Ssl(c) => {
                strports_sys::tls::ssl_client_config(c, default_provider())
            }
            ClientDescription::Tls(c) => {
                strports_sys::tls::tls_client_config(c, default_provider())
            }
            other => Err(strports_sys::unsupported(other.type_name())),
        }
        .map(Arc::new)
    })
    .await
}

/// `connect` for `ssl:` and `tls:`: the config (from `cache`, or built now), the inner
/// stream (TCP through the backend's TCP connect, or `endpoint=`), then the client
/// handshake, bounded by the description's `timeout`.
pub(crate) async fn connect(
    desc: &ClientDescription,
    resolver: &dyn Resolver,
    cache: Option<&ClientTlsCache>,
) -> io::Result<Stream> {
    let tls = match cache {
        Some(cache) => cache.get(desc).await?,
        None => client_tls(desc).await?,
    };
    let (inner, timeout) = match desc {
        ClientDescription::Ssl(c) => {
            let tcp = &c.tcp;
            let bind = tcp.bind_address.as_deref();
            let s = crate::connect::tcp_stream(&tcp.host, tcp.port, bind, tcp.timeout, resolver)
                .await?;
            (Stream::Tcp(s), tcp.timeout)
        }
        ClientDescription::Tls(c) => match &c.endpoint {
            Some(inner) => (nested(inner, resolver).await?, c.timeout),
            None => {
                let bind = c.bind_address.as_deref();
                let s =
                    crate::connect::tcp_stream(&c.host, c.port, bind, c.timeout, resolver).await?;
                (Stream::Tcp(s), c.timeout)
            }
        },
        other => return Err(strports_sys::unsupported(other.type_name())),
    };
    let limit = Duration::from_secs(u64::from(timeout));
    client_handshake(inner, tls.config.clone(), tls.server_name.clone(), limit).await
}

/// Connects to a nested `endpoint=`: boxed, as the nesting can be any depth.
fn nested<'a>(
    desc: &'a ClientDescription,
    resolver: &'a dyn Resolver,
) -> Pin<Box<dyn Future<Output = io::Result<Stream>> + Send + 'a>> {
    Box::pin(crate::connect::connect_with(desc, resolver))
}

/// The client handshake over any stream: verification as `config` says, against
/// `name`. Errors come from [`describe_handshake_error`]: untrusted certificate,
/// host-name mismatch, expired certificate, or handshake failure.
pub(crate) async fn client_handshake(
    inner: Stream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    limit: Duration,
) -> io::Result<Stream> {
    let connector = TlsConnector::from(config);
    match timeout(limit, connector.connect(name, inner)).await {
        Some(Ok(s)) => Ok(Stream::Tls(Box::new(TlsStream::Client(s)))),
        Some(Err(e)) => Err(describe_handshake_error(e)),
        None => Err(handshake_timed_out(limit)),
    }
}

/// Reads from a TLS stream, first pushing out TLS bytes a write left buffered (so a
/// peer waiting for them is never stalled by a reader waiting for its answer).
pub(crate) fn poll_read(
    s: &mut TlsStream<Stream>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    use futures_io::AsyncRead;
    push_buffered(s, cx);
    Pin::new(s).poll_read(cx, buf).map_err(describe_tls_failure)
}

/// [`poll_read`] into the first non-empty buffer (TLS records are decrypted into
/// one buffer anyway).
pub(crate) fn poll_read_vectored(
    s: &mut TlsStream<Stream>,
    cx: &mut Context<'_>,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> Poll<io::Result<usize>> {
    match bufs.iter_mut().find(|b| !b.is_empty()) {
        Some(buf) => poll_read(s, cx, buf),
        None => poll_read(s, cx, &mut []),
    }
}

/// Writes to a TLS stream, then sends what rustls buffered as far as the socket
/// takes it now (the rest goes on the next read, write or flush).
pub(crate) fn poll_write(
    s: &mut TlsStream<Stream>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    use futures_io::AsyncWrite;
    let written = std::task::ready!(Pin::new(&mut *s).poll_write(cx, buf))?;
    push_buffered(s, cx);
    Poll::Ready(Ok(written))
}

/// [`poll_write`] for several buffers.
pub(crate) fn poll_write_vectored(
    s: &mut TlsStream<Stream>,
    cx: &mut Context<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    use futures_io::AsyncWrite;
    let written = std::task::ready!(Pin::new(&mut *s).poll_write_vectored(cx, bufs))?;
    push_buffered(s, cx);
    Poll::Ready(Ok(written))
}

/// A TLS error after the handshake (in TLS 1.3 a server refusing our client
/// certificate says so only then) described like handshake errors; other errors as
/// they are.
fn describe_tls_failure(e: io::Error) -> io::Error {
    match e.get_ref() {
        Some(inner) if inner.is::<strports_core::tls::rustls::Error>() => {
            describe_handshake_error(e)
        }
        _ => e,
    }
}

fn push_buffered(s: &mut TlsStream<Stream>, cx: &mut Context<'_>) {
    use futures_io::AsyncWrite;
    if s.get_ref().1.wants_write() {
        // Pending registers for writability; errors surface on the next write.
        let _ = Pin::new(s).poll_flush(cx);
    }
}
