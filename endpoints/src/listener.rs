//! [`Listener`]: what `listen` gives, every server type behind one type.

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::Arc;

use strports_core::ServerDescription;
use strports_core::endpoint::Address;
use strports_sys::adopt::AdoptedListener;
use strports_sys::unix::Cleanup;

use crate::haproxy::ProxyListener;
use crate::io::Io;
use crate::reload::Reloader;
use crate::runtime::{Interest, Runtime};
use crate::stdio::StdioListener;
use crate::stream::Stream;
use crate::tls::TlsListener;
use crate::wrap::{Accepting, Wrapped};

/// A listening socket, from `listen` or a `Server`. Dropping it stops listening;
/// for a `unix` path it then removes the socket file and releases the lock file.
#[non_exhaustive]
pub enum Listener<R: Runtime> {
    /// A TCP listener (`tcp`, `tcp6`, or an adopted `INET`/`INET6` socket).
    Tcp(Io<R, TcpListener>),
    /// A UNIX listener, with the guard that removes its socket file and lock file
    /// when dropped (`None` for abstract names and adopted sockets, which strports
    /// did not create). The listener is declared first, so it closes before the
    /// guard removes the file.
    Unix(Io<R, UnixListener>, Option<Cleanup>),
    /// Standard input and output (`stdio`): one connection, then
    /// [`io::ErrorKind::NotConnected`] (see [`StdioListener`]).
    Stdio(StdioListener<R>),
    /// `haproxy:<description>`: the listener for `<description>`, behind the PROXY
    /// protocol wrapper (see [`ProxyListener`]).
    Haproxy(Box<ProxyListener<R, Listener<R>>>),
    /// An `ssl:` or `tls:` server: TCP connections that `accept` hands out once their
    /// TLS handshake succeeded (handshakes run concurrently; see [`TlsListener`]).
    Tls(TlsListener<R, Listener<R>>),
}

impl<R: Runtime> fmt::Debug for Listener<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Tcp(l) => f.debug_tuple("Tcp").field(l).finish(),
            Listener::Unix(l, c) => f.debug_tuple("Unix").field(l).field(c).finish(),
            Listener::Stdio(l) => f.debug_tuple("Stdio").field(l).finish(),
            Listener::Haproxy(l) => f.debug_tuple("Haproxy").field(l).finish(),
            Listener::Tls(l) => f.debug_tuple("Tls").field(l).finish(),
        }
    }
}

pub(crate) fn failed(e: io::Error, desc: &ServerDescription) -> io::Error {
    strports_sys::context(e, format_args!("cannot listen on {desc}"))
}

impl<R: Runtime> Listener<R> {
    /// Registers a bound, listening, non-blocking TCP socket.
    pub(crate) fn from_tcp(listener: TcpListener, desc: &ServerDescription) -> io::Result<Self> {
        let listener = Io::new(listener, Interest::Read).map_err(|e| failed(e, desc))?;
        Ok(Listener::Tcp(listener))
    }

    /// Registers a bound, listening, non-blocking UNIX socket.
    pub(crate) fn from_unix(
        listener: UnixListener,
        cleanup: Option<Cleanup>,
        desc: &ServerDescription,
    ) -> io::Result<Self> {
        let listener = Io::new(listener, Interest::Read).map_err(|e| failed(e, desc))?;
        Ok(Listener::Unix(listener, cleanup))
    }

    /// Registers an adopted listening socket (`fd:`, `systemd:`).
    pub(crate) fn adopted(adopted: AdoptedListener, desc: &ServerDescription) -> io::Result<Self> {
        match adopted {
            AdoptedListener::Tcp(l) => Listener::from_tcp(l, desc),
            AdoptedListener::Unix(l) => Listener::from_unix(l, None, desc),
            #[allow(unreachable_patterns)]
            other => Err(failed(
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("adopted socket {other:?} has an unsupported family"),
                ),
                desc,
            )),
        }
    }

    /// Waits for the next connection; returns it with the peer's address. TCP
    /// connections get `TCP_NODELAY`. Cancel-safe: dropping the future before it
    /// completes loses no connection.
    pub async fn accept(&self) -> io::Result<(Stream<R>, Address)> {
        let accepted = match self {
            Listener::Haproxy(l) => return l.accept().await,
            // Handshake failures never reach here; raw accept errors are described.
            Listener::Tls(l) => return l.accept().await,
            Listener::Tcp(l) => l
                .io(Interest::Read, strports_sys::tcp::accept)
                .await
                .and_then(|(s, peer)| Ok((Stream::Tcp(Io::accepted(s)?), Address::Tcp(peer)))),
            Listener::Unix(l, _) => l
                .io(Interest::Read, strports_sys::unix::accept)
                .await
                .and_then(|(s, peer)| Ok((Stream::Unix(Io::accepted(s)?), peer))),
            Listener::Stdio(l) => l.accept().map(|(s, peer)| (Stream::Stdio(s), peer)),
        };
        accepted.map_err(|e| strports_sys::context(e, "cannot accept a connection"))
    }

    /// The address listened on, with port 0 resolved to the real port.
    pub fn local_addr(&self) -> io::Result<Address> {
        match self {
            Listener::Haproxy(l) => l.inner().local_addr(),
            Listener::Tcp(l) => l.get_ref().local_addr().map(Address::Tcp),
            Listener::Unix(l, _) => l
                .get_ref()
                .local_addr()
                .map(|a| strports_sys::unix::address(&a)),
            Listener::Stdio(_) => Ok(Address::Stdio),
            Listener::Tls(l) => l.local_addr(),
        }
    }

    /// How many connections the `haproxy:` wrappers of this listener have closed
    /// for a missing, malformed or too slow header (0 for other listeners).
    pub fn proxy_rejections(&self) -> u64 {
        match self {
            Listener::Haproxy(l) => l.all_rejections(),
            Listener::Tls(l) => l.raw().proxy_rejections(),
            _ => 0,
        }
    }

    /// A handle that re-reads the certificates of an `ssl:` or `tls:` listener
    /// (also under `haproxy:`) and serves them to new handshakes, while open
    /// connections go on (see [`Reloader`]). Take it before the listener moves into
    /// `serve`. Listeners without certificate files give one that does nothing.
    pub fn reloader(&self) -> Reloader<R> {
        match self {
            Listener::Tls(l) => l.reloader(),
            Listener::Haproxy(l) => l.inner().reloader(),
            _ => Reloader::default(),
        }
    }

    /// How many connections an `ssl:`/`tls:` listener dropped because their
    /// handshake failed or timed out; `None` for other listeners.
    pub fn failed_handshakes(&self) -> Option<u64> {
        match self {
            Listener::Tls(l) => Some(l.failed_handshakes()),
            _ => None,
        }
    }
}

impl<R: Runtime> Wrapped<R> for Listener<R> {
    fn accepting(self: &Arc<Self>) -> Accepting<R> {
        let raw = self.clone();
        Box::pin(async move { raw.accept().await })
    }

    fn local_addr(&self) -> io::Result<Address> {
        Listener::local_addr(self)
    }

    fn proxy_rejections(&self) -> u64 {
        Listener::proxy_rejections(self)
    }
}

impl<R: Runtime> strports_core::Listener for Listener<R> {
    type Stream = Stream<R>;

    fn accept(&self) -> impl Future<Output = io::Result<(Stream<R>, Address)>> + Send {
        Listener::accept(self)
    }

    fn local_addr(&self) -> io::Result<Address> {
        Listener::local_addr(self)
    }
}

impl<R: Runtime> AsFd for Listener<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Haproxy(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
            Listener::Stdio(l) => l.as_fd(),
            Listener::Tls(l) => l.as_fd(),
        }
    }
}

impl<R: Runtime> AsRawFd for Listener<R> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}
