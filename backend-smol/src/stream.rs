//! [`Stream`]: one accepted or connected connection.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_io::Async;
use futures_io::{AsyncRead, AsyncWrite};
use strports_core::endpoint::Address;

use crate::process::ProcessStream;
use crate::stdio::StdioStream;

/// A connection: a TCP or UNIX stream as async-io's own [`Async`] type, a child
/// process ([`ProcessStream`]) or our own standard input and output
/// ([`StdioStream`]).
///
/// It implements [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] by
/// forwarding to the inner stream (vectored reads and writes included), so
/// `futures_lite::AsyncReadExt` / `AsyncWriteExt` work on it. `close()` shuts down
/// the write side only (a half-close: the peer reads EOF, and this side can still
/// read the reply); dropping the stream closes it.
///
/// Match on the variant to reach the runtime type (for example to split it with
/// `&Async<TcpStream>`, which is itself `AsyncRead + AsyncWrite`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection (`TCP_NODELAY` set, as Twisted does).
    Tcp(Async<TcpStream>),
    /// A UNIX socket connection.
    Unix(Async<UnixStream>),
    /// A child process (`process:` clients): its stdin and stdout.
    Process(ProcessStream),
    /// Our own standard input and output (the `stdio` server's one connection).
    Stdio(StdioStream),
    /// A connection accepted by a `haproxy:` listener: the header's addresses
    /// and the transport (see [`Proxied`](crate::Proxied)).
    Proxied(Box<crate::haproxy::Proxied>),
    /// TLS (`ssl:`, `tls:`) over another stream: TCP, or any `endpoint=` of a `tls:`
    /// client. Boxed: one allocation per connection, none per read or write. Writes
    /// are pushed to the socket as far as it takes them, and any TLS bytes still
    /// buffered are sent on the next read, write or flush; `close()` sends TLS's
    /// `close_notify` and then half-closes the inner stream.
    ///
    /// A read gives EOF only after the peer's `close_notify`: a peer that closes the
    /// connection without it (it crashed, or was killed) makes the read after the
    /// last bytes fail with [`io::ErrorKind::UnexpectedEof`], so a truncated stream
    /// never passes for a complete one; a reset fails with
    /// [`io::ErrorKind::ConnectionReset`] (conformance cases `fault_*`).
    Tls(Box<futures_rustls::TlsStream<Stream>>),
}

impl Stream {
    /// The address of the other end.
    pub fn peer_address(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.source().clone()),
            Stream::Tls(s) => s.get_ref().0.peer_address(),
            Stream::Tcp(s) => s.get_ref().peer_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .get_ref()
                .peer_addr()
                .map(|a| strports_sys::unix::address(&a)),
            Stream::Process(s) => Ok(s.peer_address()),
            Stream::Stdio(_) => Ok(Address::Stdio),
        }
    }

    /// The address of this end.
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.destination().clone()),
            Stream::Tls(s) => s.get_ref().0.local_address(),
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

    /// For a `process:` stream, the child's exit status once a read has reached the
    /// end of the stream (see [`ProcessStream`]); `None` otherwise.
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        match self {
            Stream::Process(s) => s.exit_status(),
            _ => None,
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.get_ref().shutdown(Shutdown::Write),
            Stream::Unix(s) => s.get_ref().shutdown(Shutdown::Write),
            // Closed in `poll_close` by their own `poll_close`.
            Stream::Process(_) | Stream::Stdio(_) | Stream::Tls(_) => Ok(()),
            Stream::Proxied(s) => s.transport().shutdown_write(),
        }
    }
}

impl AsyncRead for Stream {
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
            Stream::Tls(s) => crate::tls::poll_read(s, cx, buf),
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
            Stream::Process(s) => Pin::new(s).poll_read_vectored(cx, bufs),
            Stream::Stdio(s) => Pin::new(s).poll_read_vectored(cx, bufs),
            Stream::Proxied(s) => s.poll_read_vectored(cx, bufs),
            Stream::Tls(s) => crate::tls::poll_read_vectored(s, cx, bufs),
        }
    }
}

impl AsyncWrite for Stream {
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
            Stream::Proxied(s) => s.poll_write(cx, buf),
            Stream::Tls(s) => crate::tls::poll_write(s, cx, buf),
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
            Stream::Proxied(s) => s.poll_write_vectored(cx, bufs),
            Stream::Tls(s) => crate::tls::poll_write_vectored(s, cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Process(s) => Pin::new(s).poll_flush(cx),
            Stream::Stdio(s) => Pin::new(s).poll_flush(cx),
            Stream::Proxied(s) => s.poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    /// Shuts down the write side (`shutdown(SHUT_WR)`): a half-close. Sockets have no
    /// user-space buffer, so there is nothing to flush first.
    /// A process stream closes the child's stdin; a stdio stream its copy of fd 1.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Process(s) => Pin::new(s).poll_close(cx),
            Stream::Stdio(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_close(cx),
            other => Poll::Ready(other.shutdown_write()),
        }
    }
}

/// The socket; for a process or stdio stream, the descriptor reads come from.
impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Process(s) => s.as_fd(),
            Stream::Stdio(s) => s.as_fd(),
            Stream::Proxied(s) => s.as_fd(),
            Stream::Tls(s) => s.get_ref().0.as_fd(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl From<Async<TcpStream>> for Stream {
    fn from(s: Async<TcpStream>) -> Stream {
        Stream::Tcp(s)
    }
}

impl From<ProcessStream> for Stream {
    fn from(s: ProcessStream) -> Stream {
        Stream::Process(s)
    }
}

impl From<StdioStream> for Stream {
    fn from(s: StdioStream) -> Stream {
        Stream::Stdio(s)
    }
}

impl From<Async<UnixStream>> for Stream {
    fn from(s: Async<UnixStream>) -> Stream {
        Stream::Unix(s)
    }
}
