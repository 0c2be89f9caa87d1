//! [`Stream`]: one accepted or connected connection, and the stream types a
//! wrapper makes of another ([`Proxied`] for `haproxy:`, TLS for `ssl:`/`tls:`).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::ProxyHeader;

use strports_core::tls::rustls::{CommonState, ConnectionCommon, HandshakeKind};

use crate::io::{Duplex, Io};
use crate::process::ProcessStream;
use crate::runtime::{Descriptor, Interest, Runtime};
use crate::stdio::StdioStream;

/// A TLS stream (`ssl:`, `tls:`) over another [`Stream`], client or server side
/// (futures-rustls underneath).
///
/// Closing its write side sends TLS's `close_notify`, then half-closes the inner
/// stream. **Dropping it without that also ends it cleanly**, as far as the socket
/// takes it at once: the TLS bytes still buffered and a `close_notify` are written
/// without waiting (on a socket with room in its send buffer, the usual case, all
/// of it goes). So a handler that just returns gives its TLS peer the same clean end
/// as a TCP peer gets: no `UnexpectedEof` on the other side. To be sure every byte
/// and the `close_notify` left (a peer that does not read, a full buffer), close the
/// stream (`close().await`, tokio's `shutdown().await`) before dropping it.
pub struct TlsStream<R: Runtime> {
    inner: futures_rustls::TlsStream<Stream<R>>,
    /// Cleared by [`Stream::abort`]: then a drop sends nothing.
    clean: bool,
}

impl<R: Runtime> TlsStream<R> {
    pub(crate) fn new(inner: futures_rustls::TlsStream<Stream<R>>) -> Self {
        TlsStream { inner, clean: true }
    }

    /// The stream under TLS and rustls' connection state (ALPN protocol, SNI name,
    /// peer certificates, ...).
    pub fn get_ref(&self) -> (&Stream<R>, &CommonState) {
        self.inner.get_ref()
    }

    /// The stream under TLS and rustls' connection state, mutably.
    pub fn get_mut(&mut self) -> (&mut Stream<R>, &mut CommonState) {
        self.inner.get_mut()
    }

    /// The futures-rustls stream.
    pub fn get_tls(&self) -> &futures_rustls::TlsStream<Stream<R>> {
        &self.inner
    }

    /// Sends what rustls buffered as far as the socket takes it now (the rest goes
    /// on the next read, write or flush).
    fn push_buffered(&mut self, cx: &mut Context<'_>) {
        if self.inner.get_ref().1.wants_write() {
            // Pending registers for writability; errors surface on the next write.
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
    }
}

impl<R: Runtime> std::fmt::Debug for TlsStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

impl<R: Runtime> Drop for TlsStream<R> {
    fn drop(&mut self) {
        if !self.clean {
            return;
        }
        match &mut self.inner {
            futures_rustls::TlsStream::Client(s) => {
                let (io, conn) = s.get_mut();
                close_now(io, conn);
            }
            futures_rustls::TlsStream::Server(s) => {
                let (io, conn) = s.get_mut();
                close_now(io, conn);
            }
        }
    }
}

/// Queues `close_notify` (nothing if one or a fatal alert was sent already) and
/// writes what rustls has buffered to `io` without waiting, until the socket takes
/// no more.
fn close_now<R: Runtime, D>(io: &Stream<R>, conn: &mut ConnectionCommon<D>) {
    conn.send_close_notify();
    let mut now = WriteNow(io);
    while conn.wants_write() {
        match conn.write_tls(&mut now) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// Writes to a stream's descriptor without waiting (fails with `WouldBlock` when it
/// would): for [`TlsStream`]'s drop.
struct WriteNow<'a, R: Runtime>(&'a Stream<R>);

impl<R: Runtime> std::io::Write for WriteNow<'_, R> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_now(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection: a TCP or UNIX socket, a child process ([`ProcessStream`]), our
/// own standard input and output ([`StdioStream`]), a connection that started with
/// a PROXY header ([`Proxied`]), or TLS over any of these.
///
/// It implements [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] (and,
/// with the `tokio-io` feature, tokio's `AsyncRead` and `AsyncWrite`) by forwarding
/// to the inner stream (vectored writes included; no extra buffering, copying or
/// locking). Closing the write side (`close()` with futures-io, `shutdown()` with
/// tokio) shuts down the write side only: a half-close, so the peer reads EOF and
/// this side can still read the reply. Dropping the stream closes it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream<R: Runtime> {
    /// A TCP connection (`TCP_NODELAY` set, as Twisted does).
    Tcp(Io<R, TcpStream>),
    /// A UNIX socket connection.
    Unix(Io<R, UnixStream>),
    /// A child process (`process:` clients): its stdin and stdout.
    Process(ProcessStream<R>),
    /// Our own standard input and output (the `stdio` server's one connection).
    Stdio(StdioStream<R>),
    /// A connection accepted by a `haproxy:` listener: the header's addresses and
    /// the transport (see [`Proxied`]).
    Proxied(Box<Proxied<R>>),
    /// TLS (`ssl:`, `tls:`) over another stream: TCP, or any `endpoint=` of a `tls:`
    /// client. Boxed: one allocation per connection, none per read or write. Writes
    /// are pushed to the socket as far as it takes them, and any TLS bytes still
    /// buffered are sent on the next read, write or flush; closing the write side
    /// sends TLS's `close_notify` and then half-closes the inner stream.
    ///
    /// A read gives EOF only after the peer's `close_notify`: a peer that closes the
    /// connection without it (it crashed, or was killed) makes the read after the
    /// last bytes fail with [`io::ErrorKind::UnexpectedEof`], so a truncated stream
    /// never passes for a complete one; a reset fails with
    /// [`io::ErrorKind::ConnectionReset`].
    Tls(Box<TlsStream<R>>),
}

impl<R: Runtime> Stream<R> {
    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.source().clone()),
            Stream::Tls(s) => s.get_ref().0.peer_addr(),
            Stream::Tcp(s) => s.get_ref().peer_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .get_ref()
                .peer_addr()
                .map(|a| strports_sys::unix::address(&a)),
            Stream::Process(s) => Ok(s.peer_addr()),
            Stream::Stdio(_) => Ok(Address::Stdio),
        }
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.destination().clone()),
            Stream::Tls(s) => s.get_ref().0.local_addr(),
            Stream::Tcp(s) => s.get_ref().local_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .get_ref()
                .local_addr()
                .map(|a| strports_sys::unix::address(&a)),
            Stream::Process(_) => Ok(Address::Process(std::process::id())),
            Stream::Stdio(_) => Ok(Address::Stdio),
        }
    }

    /// The application protocol negotiated by ALPN (`alpn=`) on a TLS stream; `None`
    /// for other streams and when none was agreed.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            Stream::Tls(s) => s.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }

    /// How the TLS handshake of this stream went, as rustls says: `Full`,
    /// `FullWithHelloRetryRequest`, or `Resumed` when the client resumed a session
    /// of an earlier connection (the accepted and the connected stream both say so).
    /// `None` for streams that are not TLS.
    ///
    /// A [`Client`](crate::Client) keeps the TLS config of its first connect, and
    /// with it rustls' session store, so its later connects resume when the server
    /// lets them (`ssl:`/`tls:` servers do: rustls' defaults, TLS 1.3 tickets backed
    /// by an in-memory store of 256 sessions). One-shot [`connect`](crate::connect())s
    /// share the config of the process-wide cache, so they resume too, except while
    /// that config is rebuilt at each connect because its files changed less than
    /// two seconds before it was built. A TLS 1.3 client stores a session when it
    /// reads the server's ticket, which comes just after the handshake: a client that
    /// closes without reading stores none.
    ///
    /// ```
    /// use strports_core::tls::rustls::HandshakeKind;
    /// fn resumed<R: strports_endpoints::Runtime>(s: &strports_endpoints::Stream<R>) -> bool {
    ///     s.handshake_kind() == Some(HandshakeKind::Resumed)
    /// }
    /// ```
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        match self {
            Stream::Tls(s) => s.get_ref().1.handshake_kind(),
            _ => None,
        }
    }

    /// For a `process:` stream, the child's exit status once a read has reached the
    /// end of the stream (see [`ProcessStream`]); `None` otherwise.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        match self {
            Stream::Process(s) => s.exit_status(),
            _ => None,
        }
    }

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

impl<R: Runtime> Stream<R> {
    /// Drops the connection at once, as Twisted's `abortConnection()` does: nothing
    /// buffered is sent, and a TLS stream sends no `close_notify` (its peer reads an
    /// error, not EOF). A plain drop instead ends a TLS stream cleanly (see
    /// [`TlsStream`]). Set `SO_LINGER` to 0 on the socket first to make the peer see
    /// a reset.
    pub fn abort(mut self) {
        self.set_unclean();
    }

    fn set_unclean(&mut self) {
        match self {
            Stream::Tls(s) => {
                s.clean = false;
                s.inner.get_mut().0.set_unclean();
            }
            Stream::Proxied(p) => p.inner.set_unclean(),
            _ => {}
        }
    }

    /// Writes `header`, a PROXY protocol header, and flushes it: what a proxy sends
    /// on a connection it opened to a server behind it before any other byte (as
    /// HAProxy's `send-proxy` and `send-proxy-v2` do), so that the server learns the
    /// original client. [`ProxyHeader::for_connection`] builds the header from an
    /// accepted connection's peer and local addresses. Works on any stream; call it
    /// first.
    ///
    /// [`ProxyHeader::for_connection`]: strports_core::proxy_protocol::ProxyHeader::for_connection
    pub async fn send_proxy_header(&mut self, header: &ProxyHeader) -> io::Result<()> {
        let bytes = header.encode().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot encode the proxy header: {e}"),
            )
        })?;
        let mut written = 0;
        while written < bytes.len() {
            let n =
                std::future::poll_fn(|cx| Pin::new(&mut *self).poll_write(cx, &bytes[written..]))
                    .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += n;
        }
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Waits until a read would not wait: bytes (or EOF) have arrived from the
    /// peer. Nothing is taken from the stream. Used to bound how long a peer may stay
    /// silent before its first byte; streams that are not sockets (and TLS
    /// streams) are ready at once.
    pub(crate) async fn readable(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => readable(s).await,
            Stream::Unix(s) => readable(s).await,
            Stream::Proxied(p) if p.leftover.is_empty() => Box::pin(p.inner.readable()).await,
            _ => Ok(()),
        }
    }

    /// Writes what the descriptor takes now, without waiting.
    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.get_ref().write(buf),
            Stream::Unix(s) => s.get_ref().write(buf),
            Stream::Proxied(p) => p.inner.write_now(buf),
            Stream::Process(p) => p.write_now(buf),
            Stream::Stdio(_) | Stream::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// Waits until `io` has bytes (or EOF) to read, taking none. Tried at once first: a
/// client's first bytes have usually arrived with the connection, and waiting on
/// the reactor would cost it a turn.
async fn readable<R: Runtime, T: Descriptor>(io: &Io<R, T>) -> io::Result<()> {
    let peek = |s: &T| strports_sys::tcp::peek_readable(s);
    match peek(io.get_ref()) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            io.io(Interest::Read, peek).await.map(drop)
        }
        first => first.map(drop),
    }
}

impl<R: Runtime> AsyncRead for Stream<R> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Process(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Stdio(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Proxied(s) => s.poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_read_vectored(cx, bufs),
            other => match bufs.iter_mut().find(|b| !b.is_empty()) {
                Some(buf) => Pin::new(other).poll_read(cx, buf),
                None => Pin::new(other).poll_read(cx, &mut []),
            },
        }
    }
}

impl<R: Runtime> AsyncWrite for Stream<R> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Process(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Stdio(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Proxied(s) => Pin::new(&mut s.inner).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Process(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Stdio(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Proxied(s) => Pin::new(&mut s.inner).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(_) | Stream::Unix(_) => Poll::Ready(Ok(())),
            Stream::Process(s) => Pin::new(s).poll_flush(cx),
            Stream::Stdio(s) => Pin::new(s).poll_flush(cx),
            Stream::Proxied(s) => Pin::new(&mut s.inner).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    /// Shuts down the write side (`shutdown(SHUT_WR)`): a half-close. Sockets have no
    /// user-space buffer, so there is nothing to flush first. A TLS stream sends
    /// `close_notify` first; a process stream closes the child's stdin; a stdio
    /// stream its copy of fd 1.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Process(s) => Pin::new(s).poll_close(cx),
            Stream::Stdio(s) => Pin::new(s).poll_close(cx),
            Stream::Proxied(s) => Pin::new(&mut s.inner).poll_close(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}

impl<R: Runtime> AsyncRead for TlsStream<R> {
    /// Reads, first pushing out TLS bytes a write left buffered (so a peer waiting
    /// for them is never stalled by a reader waiting for its answer).
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.push_buffered(cx);
        Pin::new(&mut this.inner)
            .poll_read(cx, buf)
            .map_err(strports_sys::tls::describe_tls_failure)
    }
}

impl<R: Runtime> AsyncWrite for TlsStream<R> {
    /// Writes, then sends what rustls buffered as far as the socket takes it now.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.push_buffered(cx);
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.push_buffered(cx);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// Sends `close_notify`, then half-closes the inner stream.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// The socket; for a process or stdio stream, the descriptor reads come from.
impl<R: Runtime> AsFd for Stream<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Process(s) => s.as_fd(),
            Stream::Stdio(s) => s.as_fd(),
            Stream::Proxied(s) => s.inner.as_fd(),
            Stream::Tls(s) => s.get_ref().0.as_fd(),
        }
    }
}

impl<R: Runtime> AsRawFd for Stream<R> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A connection accepted by a `haproxy:` listener: the transport, the header it
/// started with, and the bytes that came after the header in the same read (given
/// to the first reads, then dropped; reads after that go straight to the transport).
/// Reach it as [`Stream::Proxied`]; its [`Stream::peer_addr`] and
/// [`Stream::local_addr`] are the header's source and destination.
#[derive(Debug)]
pub struct Proxied<R: Runtime> {
    inner: Stream<R>,
    leftover: Vec<u8>,
    read: usize,
    header: ProxyHeader,
    source: Address,
    destination: Address,
}

impl<R: Runtime> Proxied<R> {
    /// A proxied connection over `inner`, whose first bytes after the header are
    /// `leftover`.
    pub(crate) fn new(
        inner: Stream<R>,
        leftover: Vec<u8>,
        header: ProxyHeader,
        source: Address,
        destination: Address,
    ) -> Self {
        Proxied {
            inner,
            leftover,
            read: 0,
            header,
            source,
            destination,
        }
    }

    /// The PROXY header the connection started with (TLVs included).
    pub fn header(&self) -> &ProxyHeader {
        &self.header
    }

    /// The underlying connection (from the load balancer).
    pub fn transport(&self) -> &Stream<R> {
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

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.leftover.is_empty() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        let n = buf.len().min(self.leftover.len() - self.read);
        buf[..n].copy_from_slice(&self.leftover[self.read..self.read + n]);
        self.read += n;
        if self.read == self.leftover.len() {
            self.leftover = Vec::new();
            self.read = 0;
        }
        Poll::Ready(Ok(n))
    }
}

#[cfg(feature = "tokio-io")]
mod tokio_io {
    //! tokio's I/O traits on [`Stream`], for `strports-tokio`.

    use super::*;
    use tokio::io::ReadBuf;

    impl<R: Runtime> tokio::io::AsyncRead for Stream<R> {
        #[inline]
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = match self.get_mut() {
                // Straight into the (maybe uninitialized) buffer: no zeroing first.
                Stream::Tcp(s) => ready!(read_uninit(s, cx, buf))?,
                Stream::Unix(s) => ready!(read_uninit(s, cx, buf))?,
                other => ready!(AsyncRead::poll_read(
                    Pin::new(other),
                    cx,
                    buf.initialize_unfilled()
                ))?,
            };
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
    }

    /// Reads from a socket into `buf`'s unfilled part, marking what it wrote as
    /// initialized; gives the count for `advance`.
    #[inline]
    fn read_uninit<R: Runtime, T: crate::io::Duplex>(
        io: &Io<R, T>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `poll_read_uninit` only writes into the slice (never de-initializes
        // it), and `assume_init` covers exactly the bytes it reports written.
        let n = ready!(io.poll_read_uninit(cx, unsafe { buf.unfilled_mut() }))?;
        unsafe { buf.assume_init(n) };
        Poll::Ready(Ok(n))
    }

    impl<R: Runtime> tokio::io::AsyncWrite for Stream<R> {
        #[inline]
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            match self.get_mut() {
                Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
                Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
                other => AsyncWrite::poll_write(Pin::new(other), cx, buf),
            }
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            AsyncWrite::poll_write_vectored(self, cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            matches!(self, Stream::Tcp(_) | Stream::Unix(_) | Stream::Tls(_))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            AsyncWrite::poll_flush(self, cx)
        }

        /// Shuts down the write side, as futures-io's `poll_close` (see [`Stream`]).
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            AsyncWrite::poll_close(self, cx)
        }
    }
}
