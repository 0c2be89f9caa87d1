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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_rustls::{TlsAcceptor, TlsConnector, TlsStream};
use strports_core::endpoint::{Address, Resolver};
use strports_core::tls::default_provider;
use strports_core::tls::rustls::pki_types::ServerName;
use strports_core::tls::rustls::{ClientConfig, ServerConfig};
use strports_core::{ClientDescription, ServerDescription};
use strports_sys::in_flight::Shared;
use strports_sys::tls::{ClientTls, ClientTlsCache, ClientTransport, handshake_outcome};

use crate::listen::{Accepting, accepting};
use crate::{Listener, Stream};

pub use strports_sys::tls::DEFAULT_HANDSHAKE_TIMEOUT;

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
    /// [`handshake_outcome`]; a peer too slow fails with [`io::ErrorKind::TimedOut`].
    pub async fn handshake(&self, raw: Stream) -> io::Result<Stream> {
        let outcome = timeout(self.timeout, self.acceptor.accept(raw)).await;
        let s = handshake_outcome(outcome, self.timeout)?;
        Ok(Stream::Tls(Box::new(TlsStream::Server(s))))
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

/// What a [`TlsListener`] does with each raw connection before handing it out.
pub(crate) type ConnectionStep = Arc<
    dyn Fn(Stream, Address) -> Pin<Box<dyn Future<Output = io::Result<(Stream, Address)>> + Send>>
        + Send
        + Sync,
>;

/// A listener whose connections go through a per-connection step (the TLS handshake)
/// before [`accept`](TlsListener::accept) returns them: the `ssl:` and `tls:` servers.
///
/// Handshakes run concurrently, inside `accept`: each call accepts every raw
/// connection that is ready (up to 256 in flight) and polls the unfinished
/// handshakes that were woken, so a slow peer, or one sending garbage, never holds up the others. A
/// failed or timed-out handshake is logged (`tracing`, debug level), counted
/// ([`failed_handshakes`](TlsListener::failed_handshakes)), and its connection
/// dropped. Handshakes progress only while someone is in `accept` (as `serve`
/// always is). Cancel-safe: a dropped `accept` loses no connection.
pub struct TlsListener {
    raw: Arc<Listener>,
    step: ConnectionStep,
    /// The raw accept in progress and the handshakes in flight (at most
    /// [`strports_sys::in_flight::MAX_IN_FLIGHT`]; beyond it, new connections wait in the kernel's backlog).
    state: Shared<Accepting>,
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
            state: Shared::default(),
            failed: AtomicU64::new(0),
        }
    }

    /// The next connection whose handshake succeeded, with the peer's address.
    pub async fn accept(&self) -> io::Result<(Stream, Address)> {
        let accept = || accepting(&self.raw);
        let failed = |e: io::Error| {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "strports: tls handshake failed; connection dropped");
        };
        self.state
            .accept(accept, |(stream, peer)| (self.step)(stream, peer), failed)
            .await
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

/// `listen` for `ssl:` and `tls:`: [`plain_listen`], then a [`TlsListener`] whose
/// handshakes may take `timeout`.
pub(crate) async fn listen(desc: &ServerDescription, timeout: Duration) -> io::Result<Listener> {
    let (raw, step) = plain_listen(desc).await?;
    Ok(Listener::Tls(TlsListener::new(
        raw,
        step.with_timeout(timeout),
    )))
}

/// The two halves of an `ssl:` or `tls:` server: its plain TCP listener and the TLS
/// step to run on each connection, both set up on the blocking pool (config files,
/// a named interface). Wrappers that must see the raw bytes first (`haproxy:ssl:`
/// reads the PROXY header before the handshake) wrap the listener, then give it to
/// [`TlsListener::new`] with the step.
pub(crate) async fn plain_listen(
    desc: &ServerDescription,
) -> io::Result<(Listener, TlsAcceptorStep)> {
    let owned = desc.clone();
    let (raw, config) =
        unblock(move || strports_sys::tls::listen(&owned, default_provider())).await?;
    let raw = Async::new_nonblocking(raw)
        .map_err(|e| strports_sys::context(e, format_args!("cannot listen on {desc}")))?;
    Ok((Listener::Tcp(raw), TlsAcceptorStep::new(config)))
}

async fn unblock<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    blocking::unblock(f).await
}

/// The client's TLS config: from `cache` if built already, else built now on the
/// blocking pool (it reads files) and kept there.
async fn client_tls(
    desc: &ClientDescription,
    cache: &ClientTlsCache,
) -> io::Result<Arc<ClientTls>> {
    if let Some(tls) = cache.get() {
        return Ok(tls);
    }
    let owned = desc.clone();
    let tls = unblock(move || strports_sys::tls::client_tls(&owned, default_provider())).await?;
    Ok(cache.set(tls))
}

/// `connect` for `ssl:` and `tls:`: the config (from `cache`, or built now), the inner
/// stream ([`strports_sys::tls::client_plan`]: TCP through the backend's TCP connect,
/// or `endpoint=`), then the client handshake, bounded by the description's `timeout`.
pub(crate) async fn connect(
    desc: &ClientDescription,
    resolver: &dyn Resolver,
    cache: &ClientTlsCache,
) -> io::Result<Stream> {
    let tls = client_tls(desc, cache).await?;
    let plan = strports_sys::tls::client_plan(desc)?;
    let inner = match plan.transport {
        ClientTransport::Tcp(target) => {
            Stream::Tcp(crate::connect::tcp_stream(&target, resolver).await?)
        }
        ClientTransport::Endpoint(inner) => nested(inner, resolver).await?,
    };
    let (config, name) = (tls.config.clone(), tls.server_name.clone());
    client_handshake(inner, config, name, plan.handshake_timeout).await
}

/// Connects to a nested `endpoint=`: boxed, as the nesting can be any depth.
fn nested<'a>(
    desc: &'a ClientDescription,
    resolver: &'a dyn Resolver,
) -> Pin<Box<dyn Future<Output = io::Result<Stream>> + Send + 'a>> {
    // Its own TLS config, if any, is built at each connect, as by `connect`.
    Box::pin(async move {
        let tls = ClientTlsCache::default();
        crate::connect::connect_with(desc, resolver, &tls).await
    })
}

/// The client handshake over any stream: verification as `config` says, against
/// `name`. Errors come from [`handshake_outcome`]: untrusted certificate,
/// host-name mismatch, expired certificate, or handshake failure.
pub(crate) async fn client_handshake(
    inner: Stream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    limit: Duration,
) -> io::Result<Stream> {
    let connector = TlsConnector::from(config);
    let outcome = timeout(limit, connector.connect(name, inner)).await;
    let s = handshake_outcome(outcome, limit)?;
    Ok(Stream::Tls(Box::new(TlsStream::Client(s))))
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
    Pin::new(s)
        .poll_read(cx, buf)
        .map_err(strports_sys::tls::describe_tls_failure)
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

fn push_buffered(s: &mut TlsStream<Stream>, cx: &mut Context<'_>) {
    use futures_io::AsyncWrite;
    if s.get_ref().1.wants_write() {
        // Pending registers for writability; errors surface on the next write.
        let _ = Pin::new(s).poll_flush(cx);
    }
}
