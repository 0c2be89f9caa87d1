//! [`Io`]: a non-blocking descriptor (a socket or a pipe) registered with the
//! runtime, read and written through [`futures_io`]'s traits. Every socket stream,
//! listener and pipe of this crate is one.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::runtime::{Descriptor, Interest, Runtime};

/// A descriptor `T` registered with runtime `R`'s reactor. Reads and writes (on
/// sockets and pipes: `T` is a [`TcpStream`], a [`UnixStream`] or a [`File`]) go
/// straight to the descriptor, waiting for readiness in between: no buffering, no
/// extra copy, vectored writes as one `writev`.
pub struct Io<R: Runtime, T: Descriptor> {
    inner: R::Registered<T>,
    /// The directions ([`READ`], [`WRITE`]) whose first operation is tried before
    /// the reactor has reported any readiness.
    assumed: AtomicU8,
}

/// Bits of [`Io::assumed`].
const READ: u8 = 1;
const WRITE: u8 = 2;

impl<R: Runtime, T: Descriptor> Io<R, T> {
    /// Registers `io`, which must already be non-blocking, for `interest`.
    pub fn new(io: T, interest: Interest) -> io::Result<Self> {
        Ok(Io {
            inner: R::register(io, interest)?,
            assumed: AtomicU8::new(0),
        })
    }

    /// [`new`](Io::new) for a connection just accepted: its first read and its
    /// first write are tried at once, before the reactor reports readiness (a
    /// client's first bytes are usually there already, and the send buffer is
    /// empty), which saves a turn of the reactor per connection, as tokio's own
    /// accepted streams do. A try that would block waits as usual.
    pub fn accepted(io: T) -> io::Result<Self> {
        let io = Io::new(io, Interest::Both)?;
        io.assumed.store(READ | WRITE, Ordering::Relaxed);
        Ok(io)
    }

    /// The descriptor.
    #[inline]
    pub fn get_ref(&self) -> &T {
        R::get_ref(&self.inner)
    }

    /// Runs `op` until it does not fail with `WouldBlock` (see [`Runtime::poll_io`]).
    pub fn poll_io<U>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<U>,
    ) -> Poll<io::Result<U>> {
        R::poll_io(&self.inner, cx, interest, op, |_| false)
    }

    /// A read or write of `len` bytes: a shorter one drained the descriptor.
    #[inline]
    fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let bit = if interest == Interest::Read {
            READ
        } else {
            WRITE
        };
        if self.assumed.load(Ordering::Relaxed) & bit != 0 {
            self.assumed.fetch_and(!bit, Ordering::Relaxed);
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
        R::poll_io(&self.inner, cx, interest, op, |&n| n > 0 && n < len)
    }

    /// Waits until `op` does not fail with `WouldBlock` (see [`Runtime::io`]).
    pub fn io<U>(
        &self,
        interest: Interest,
        op: impl FnMut(&T) -> io::Result<U> + Send,
    ) -> impl Future<Output = io::Result<U>> + Send {
        R::io(&self.inner, interest, op)
    }
}

impl<R: Runtime, T: Descriptor + fmt::Debug> fmt::Debug for Io<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get_ref().fmt(f)
    }
}

impl<R: Runtime, T: Descriptor> AsFd for Io<R, T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<R: Runtime, T: Descriptor> AsRawFd for Io<R, T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

/// A descriptor that reads and writes through a shared reference (std's sockets
/// and files do), and can shut its write side down.
pub trait Duplex: Descriptor {
    /// `read(2)`.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// `readv(2)`.
    fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize>;
    /// `recv(2)` on a socket, `read(2)` on a pipe, into memory that need not be
    /// initialized; gives how many bytes it wrote at the start of `buf`.
    fn read_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize>;
    /// `write(2)`.
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    /// `writev(2)`.
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Shuts the write side down (`shutdown(SHUT_WR)` on a socket); a no-op for a
    /// pipe, which closes its write side only when dropped.
    fn shutdown_write(&self) -> io::Result<()>;
}

/// `recv(2)` (`socket`) or `read(2)` into `buf`.
#[inline]
fn read_raw(fd: RawFd, buf: &mut [MaybeUninit<u8>], socket: bool) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and the call writes at
    // most that many; the caller's descriptor is open while it borrows it.
    let n = unsafe {
        if socket {
            libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0)
        } else {
            libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
        }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

macro_rules! duplex {
    ($type:ty, $socket:expr, |$this:ident| $shutdown:expr) => {
        impl Duplex for $type {
            #[inline]
            fn read_uninit(&self, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
                read_raw(self.as_raw_fd(), buf, $socket)
            }
            #[inline]
            fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                Read::read(&mut &*self, buf)
            }
            #[inline]
            fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                Read::read_vectored(&mut &*self, bufs)
            }
            #[inline]
            fn write(&self, buf: &[u8]) -> io::Result<usize> {
                Write::write(&mut &*self, buf)
            }
            #[inline]
            fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                Write::write_vectored(&mut &*self, bufs)
            }
            fn shutdown_write(&self) -> io::Result<()> {
                let $this = self;
                $shutdown
            }
        }
    };
}

duplex!(TcpStream, true, |s| s.shutdown(Shutdown::Write));
duplex!(UnixStream, true, |s| s.shutdown(Shutdown::Write));
duplex!(File, false, |_f| Ok(()));

impl<R: Runtime, T: Duplex> Io<R, T> {
    /// Reads into memory that need not be initialized (`read(2)` writes it), for
    /// runtimes whose read buffers may be uninitialized (tokio's `ReadBuf`). Gives
    /// how many bytes are now initialized and filled at the start of `buf`.
    #[inline]
    pub fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_transfer(cx, Interest::Read, len, |io| io.read_uninit(buf))
    }
}

impl<R: Runtime, T: Duplex> AsyncRead for Io<R, T> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_transfer(cx, Interest::Read, len, |io| io.read(buf))
    }

    #[inline]
    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.poll_transfer(cx, Interest::Read, len, |io| io.read_vectored(bufs))
    }
}

impl<R: Runtime, T: Duplex> AsyncWrite for Io<R, T> {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_transfer(cx, Interest::Write, buf.len(), |io| io.write(buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.poll_transfer(cx, Interest::Write, len, |io| io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the descriptor.
        Poll::Ready(Ok(()))
    }

    /// Shuts the write side down (a half-close: the peer reads EOF).
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_ref().shutdown_write())
    }
}
