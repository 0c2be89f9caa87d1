//! The `haproxy:` server wrapper (Twisted's `haproxy` plugin, spec §7.8): every
//! accepted connection must start with a PROXY protocol v1 or v2 header, which is
//! read and taken off before the application sees the connection.
//!
//! The policy (timeout, limits, which addresses a connection reports, what is a
//! rejection) is `strports_core::proxy_protocol`'s; this module only drives it.
//! Headers are read concurrently by the accept machine `strports_sys::in_flight`
//! (the one [`TlsListener`](crate::TlsListener) runs its handshakes with), with
//! reading one header as the per-connection step, at most
//! [`HaproxyOptions::max_pending`] at once; this module supplies the step, under the
//! header timeout of the runtime's timer. The tokio backend's `haproxy.rs` has the
//! same shape.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use strports_core::ServerDescription;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{
    self, Decoded, Decoder, HEADER_READ_SIZE, HaproxyOptions, ProxyHeader, Rejection,
};
use strports_sys::in_flight::Shared;

use crate::listen::{Accepting, accepting};
use crate::{Listener, Stream};

/// A boxed `listen` future (boxed because `haproxy:` nests).
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// One connection's header being read, under the header timeout; a failure says why
/// and who the transport's peer was.
type Handshake = Pin<Box<dyn Future<Output = Result<Proxied, (Rejection, Address)>> + Send>>;

/// Listens as `desc` says, with `options` for every `haproxy:` wrapper in it and
/// `tls_timeout` for the handshakes of an `ssl:` or `tls:` server in it.
///
/// The wrapper applies to the raw accepted transport: for `haproxy:ssl:...` the
/// PROXY header comes before the TLS handshake, so TLS must wrap the
/// [`ProxyListener`]'s streams rather than the other way round.
pub(crate) fn listen_with(
    desc: &ServerDescription,
    options: HaproxyOptions,
    tls_timeout: Duration,
) -> BoxFuture<'_, Listener> {
    Box::pin(async move {
        let inner = match desc {
            ServerDescription::Ssl(_) | ServerDescription::Tls(_) => {
                return crate::tls::listen(desc, tls_timeout).await;
            }
            ServerDescription::Haproxy(inner) => inner,
            _ => return crate::listen(desc).await,
        };
        if let ServerDescription::Ssl(_) | ServerDescription::Tls(_) = &**inner {
            // The header comes before the TLS handshake: read it on the plain
            // transport, then run the handshake on the proxied streams.
            let (raw, step) = crate::tls::plain_listen(inner).await?;
            let proxied = Listener::Haproxy(Box::new(ProxyListener::new(raw, options)));
            let step = step.with_timeout(tls_timeout);
            return Ok(Listener::Tls(crate::TlsListener::new(proxied, step)));
        }
        let inner = listen_with(inner, options, tls_timeout).await?;
        Ok(Listener::Haproxy(Box::new(ProxyListener::new(
            inner, options,
        ))))
    })
}

/// A listener whose connections start with a PROXY header: the `haproxy:` wrapper
/// around another [`Listener`]. Reach it as [`Listener::Haproxy`].
///
/// Headers are read concurrently, each under the header timeout, inside
/// [`Listener::accept`] (the accept machine of `strports_sys::in_flight`, shared
/// with [`TlsListener`](crate::TlsListener)): each call accepts every connection that
/// is ready, up to [`HaproxyOptions::max_pending`] headers in flight (beyond it, new
/// connections wait in the kernel's backlog until a header is done), and polls the
/// unfinished headers that have bytes or timed out, so a slow client never holds up
/// the others. Headers progress
/// only while someone is in `accept` (as [`serve`](crate::serve) always is). A
/// connection whose header is missing, malformed, too slow or for a datagram flow
/// is closed, logged (`tracing`, target `strports::haproxy`) and counted in
/// [`ProxyListener::rejections`]; `accept` only returns connections with a valid
/// header, as [`Stream::Proxied`]. Cancel-safe: accepted connections and headers in
/// flight wait in the listener, so a dropped `accept` loses none.
pub struct ProxyListener {
    inner: Arc<Listener>,
    options: HaproxyOptions,
    /// The raw accept in progress and the headers being read (at most
    /// `options.max_pending()`).
    state: Shared<Accepting, Handshake>,
    rejections: AtomicU64,
}

impl fmt::Debug for ProxyListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyListener")
            .field("inner", &self.inner)
            .field("options", &self.options)
            .field("rejections", &self.rejections())
            .finish_non_exhaustive()
    }
}

impl ProxyListener {
    fn new(inner: Listener, options: HaproxyOptions) -> ProxyListener {
        ProxyListener {
            inner: Arc::new(inner),
            options,
            state: Shared::with_limit(options.max_pending()),
            rejections: AtomicU64::new(0),
        }
    }

    /// The wrapped listener (the raw transport).
    pub fn inner(&self) -> &Listener {
        &self.inner
    }

    /// The options it runs with.
    pub fn options(&self) -> HaproxyOptions {
        self.options
    }

    /// How many connections it has closed for a bad or missing header.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// Accepts connections and reads their headers until one is complete.
    /// Cancel-safe: accepted connections wait in the listener, not in the future.
    pub(crate) async fn accept(&self) -> io::Result<(Stream, Address)> {
        let timeout = self.options.header_timeout();
        let accept = || accepting(&self.inner);
        let step = |(stream, peer)| -> Handshake { Box::pin(handshake(stream, peer, timeout)) };
        let rejected = |(why, peer): (Rejection, Address)| {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "strports::haproxy", %peer, "closed connection: {why}");
        };
        let proxied = self.state.accept(accept, step, rejected).await?;
        let source = proxied.source.clone();
        Ok((Stream::Proxied(Box::new(proxied)), source))
    }
}

impl Listener {
    /// How many connections the `haproxy:` wrappers of this listener have closed
    /// for a missing, malformed or too slow header (0 for other listeners).
    pub fn proxy_rejections(&self) -> u64 {
        match self {
            Listener::Haproxy(l) => l.rejections() + l.inner.proxy_rejections(),
            Listener::Tls(l) => l.raw().proxy_rejections(),
            _ => 0,
        }
    }
}

impl Stream {
    /// The PROXY header a connection from a `haproxy:` listener started with (also
    /// under TLS, for `haproxy:ssl:`); `None` for other connections.
    pub fn proxy_header(&self) -> Option<&ProxyHeader> {
        match self {
            Stream::Proxied(p) => Some(p.header()),
            Stream::Tls(s) => s.get_ref().0.proxy_header(),
            _ => None,
        }
    }
}

impl crate::Server {
    /// This server with `options` for its `haproxy:` wrappers (the header timeout,
    /// [`DEFAULT_HEADER_TIMEOUT`](strports_core::proxy_protocol::DEFAULT_HEADER_TIMEOUT)
    /// by default). Descriptions without `haproxy:` ignore them.
    ///
    /// ```
    /// use std::time::Duration;
    /// use strports_core::ServerEndpoint;
    /// use strports_smol::{HaproxyOptions, Server};
    ///
    /// # smol::block_on(async {
    /// let options = HaproxyOptions::default().with_header_timeout(Duration::from_secs(1));
    /// let server = Server::new("haproxy:tcp:0:interface=127.0.0.1".parse()?)
    ///     .with_haproxy_options(options);
    /// let listener = server.listen().await?;
    /// assert_eq!(listener.proxy_rejections(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn with_haproxy_options(mut self, options: HaproxyOptions) -> Self {
        self.haproxy = options;
        self
    }
}

impl AsFd for ProxyListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

async fn handshake(
    stream: Stream,
    peer: Address,
    timeout: Duration,
) -> Result<Proxied, (Rejection, Address)> {
    let timer = async {
        Timer::after(timeout).await;
        Err(Rejection::TimedOut(timeout))
    };
    match futures_lite::future::or(read_header(stream, &peer), timer).await {
        Ok(proxied) => Ok(proxied),
        Err(why) => Err((why, peer)),
    }
}

/// Reads until the header is complete; keeps the bytes read after it.
async fn read_header(mut stream: Stream, peer: &Address) -> Result<Proxied, Rejection> {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; HEADER_READ_SIZE];
    loop {
        let n = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await?;
        if n == 0 {
            return Err(Rejection::Closed {
                received: decoder.buffered(),
            });
        }
        if let Decoded::Done { header, consumed } = decoder.feed(&buf[..n])? {
            let (source, destination) =
                proxy_protocol::endpoints(&header, peer.clone(), || stream.local_address())?;
            buf.truncate(n);
            buf.drain(..consumed);
            if buf.is_empty() {
                buf = Vec::new();
            }
            return Ok(Proxied {
                inner: stream,
                leftover: buf,
                read: 0,
                header,
                source,
                destination,
            });
        }
    }
}

/// A connection accepted by a `haproxy:` listener: the transport, the header it
/// started with, and the bytes that came after the header in the same read (given
/// to the first reads, then dropped; reads after that go straight to the transport).
/// Reach it as [`Stream::Proxied`]; its [`Stream::peer_address`] and
/// [`Stream::local_address`] are the header's source and destination.
#[derive(Debug)]
pub struct Proxied {
    inner: Stream,
    leftover: Vec<u8>,
    read: usize,
    header: ProxyHeader,
    source: Address,
    destination: Address,
}

impl Proxied {
    /// The PROXY header the connection started with (TLVs included).
    pub fn header(&self) -> &ProxyHeader {
        &self.header
    }

    /// The underlying connection (from the load balancer).
    pub fn transport(&self) -> &Stream {
        &self.inner
    }

    /// The original client's address: the header's source, or the transport's peer
    /// for a LOCAL or `UNKNOWN` header.
    pub fn source(&self) -> &Address {
        &self.source
    }

    /// The address the original client connected to: the header's destination, or
    /// the transport's local address for a LOCAL or `UNKNOWN` header.
    pub fn destination(&self) -> &Address {
        &self.destination
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.leftover.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        Poll::Ready(Ok(self.take_leftover(buf)))
    }

    pub(crate) fn poll_read_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.leftover.is_empty() {
            return Pin::new(&mut self.inner).poll_read_vectored(cx, bufs);
        }
        let Some(buf) = bufs.iter_mut().find(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        Poll::Ready(Ok(self.take_leftover(buf)))
    }

    /// Copies leftover bytes into `buf`; frees them once all are taken.
    fn take_leftover(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.leftover.len() - self.read);
        buf[..n].copy_from_slice(&self.leftover[self.read..self.read + n]);
        self.read += n;
        if self.read == self.leftover.len() {
            self.leftover = Vec::new();
            self.read = 0;
        }
        n
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    pub(crate) fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl AsFd for Proxied {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}
