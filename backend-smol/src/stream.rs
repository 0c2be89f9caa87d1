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

/// A connection: a TCP or UNIX stream as async-io's own [`Async`] type.
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
    /// A connection accepted by a `haproxy:` listener: the header's addresses
    /// and the transport (see [`Proxied`](crate::Proxied)).
    Proxied(Box<crate::haproxy::Proxied>),
}

impl Stream {
    /// The address of the other end.
    pub fn peer_address(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.source().clone()),
            Stream::Tcp(s) => s.get_ref().peer_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .get_ref()
                .peer_addr()
                .map(|a| strports_sys::unix::address(&a)),
        }
    }

    /// The address of this end.
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Stream::Proxied(s) => Ok(s.destination().clone()),
            Stream::Tcp(s) => s.get_ref().local_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .get_ref()
                .local_addr()
                .map(|a| strports_sys::unix::address(&a)),
        }
    }

    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.get_ref().shutdown(Shutdown::Write),
            Stream::Unix(s) => s.get_ref().shutdown(Shutdown::Write),
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
            Stream::Proxied(s) => s.poll_read(cx, buf),
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
            Stream::Proxied(s) => s.poll_read_vectored(cx, bufs),
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
            Stream::Proxied(s) => s.poll_write(cx, buf),
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
            Stream::Proxied(s) => s.poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Proxied(s) => s.poll_flush(cx),
        }
    }

    /// Shuts down the write side (`shutdown(SHUT_WR)`): a half-close. Sockets have no
    /// user-space buffer, so there is nothing to flush first.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Proxied(s) => s.as_fd(),
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

impl From<Async<UnixStream>> for Stream {
    fn from(s: Async<UnixStream>) -> Stream {
        Stream::Unix(s)
    }
}
