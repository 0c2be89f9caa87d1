//! Listening: [`listen`], the [`Listener`] it gives, and [`Server`].

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;

use strports_core::ServerDescription;
use strports_core::endpoint::{Address, ServerEndpoint};
use strports_sys::adopt::AdoptedListener;
use strports_sys::unix::Cleanup;
use tokio::net::{TcpListener, UnixListener};

use crate::Stream;
use crate::stdio::StdioListener;
use crate::tls::TlsListener;

/// Starts listening as `desc` says: `tcp`, `tcp6`, `unix` (paths and abstract
/// names), `systemd`, `fd`, `stdio`, `ssl` and `tls` (a [`TlsListener`]: its config is
/// read and built here, once, on the blocking pool), and `haproxy:` around any of them.
/// Extension types from a `Registry` fail with [`io::ErrorKind::Unsupported`].
///
/// The socket is set up by `strports-sys` (the same code as the smol backend) and
/// then registered with tokio's reactor. A `tcp` interface that is a host name is
/// resolved on tokio's blocking thread pool. Must run inside a tokio runtime with
/// I/O enabled.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// println!("listening on {}", listener.local_address()?);
/// # Ok(())
/// # }
/// ```
pub async fn listen(desc: &ServerDescription) -> io::Result<Listener> {
    match desc {
        ServerDescription::Tcp(tcp) | ServerDescription::Tcp6(tcp) => {
            let ipv6 = matches!(desc, ServerDescription::Tcp6(_));
            let listener = if strports_sys::tcp::listen_blocks(tcp) {
                let tcp = tcp.clone();
                tokio::task::spawn_blocking(move || strports_sys::tcp::listen(&tcp, ipv6))
                    .await
                    .map_err(|e| {
                        failed(io::Error::other(format!("listen task failed: {e}")), desc)
                    })??
            } else {
                strports_sys::tcp::listen(tcp, ipv6)?
            };
            Listener::from_tcp(listener, desc)
        }
        ServerDescription::Unix(unix) => {
            let (listener, cleanup) = strports_sys::unix::listen(unix)?;
            let listener = UnixListener::from_std(listener).map_err(|e| failed(e, desc))?;
            Ok(Listener::Unix(listener, cleanup))
        }
        ServerDescription::Systemd(systemd) => {
            Listener::adopted(strports_sys::adopt::systemd(systemd)?, desc)
        }
        ServerDescription::Adopted(fd) => Listener::adopted(strports_sys::adopt::fd(fd)?, desc),
        ServerDescription::Stdio => Ok(Listener::Stdio(
            StdioListener::new().map_err(|e| failed(e, desc))?,
        )),
        ServerDescription::Haproxy(_) => {
            crate::haproxy::listen_with(
                desc,
                strports_core::proxy_protocol::HaproxyOptions::default(),
                crate::DEFAULT_HANDSHAKE_TIMEOUT,
            )
            .await
        }
        ServerDescription::Ssl(_) | ServerDescription::Tls(_) => {
            crate::tls::listen(desc, crate::DEFAULT_HANDSHAKE_TIMEOUT).await
        }
        other => Err(strports_sys::unsupported(other.type_name())),
    }
}

fn failed(e: io::Error, desc: &ServerDescription) -> io::Error {
    strports_sys::context(e, format_args!("cannot listen on {desc}"))
}

/// A listening socket, from [`listen`] or [`Server`]. Dropping it stops listening;
/// for a `unix` path it then removes the socket file and releases the lock file.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// A TCP listener (`tcp`, `tcp6`, or an adopted `INET`/`INET6` socket).
    Tcp(TcpListener),
    /// A UNIX listener, with the guard that removes its socket file and lock file
    /// when dropped (`None` for abstract names and adopted sockets, which strports
    /// did not create). The listener is declared first, so it closes before the
    /// guard removes the file.
    Unix(UnixListener, Option<Cleanup>),
    /// Standard input and output (`stdio`): one connection, then
    /// [`io::ErrorKind::NotConnected`] (see [`StdioListener`]).
    Stdio(StdioListener),
    /// `haproxy:<description>`: the listener for `<description>`, behind the PROXY
    /// protocol wrapper (see [`ProxyListener`](crate::ProxyListener)).
    Haproxy(Box<crate::haproxy::ProxyListener>),
    /// An `ssl:` or `tls:` server: TCP connections that `accept` hands out once their
    /// TLS handshake succeeded (handshakes run concurrently; see [`TlsListener`]).
    Tls(TlsListener),
}

/// A raw accept on a listener a wrapper ([`TlsListener`], the `haproxy:` wrapper)
/// runs its per-connection steps over: it owns the listener, so it can wait in the
/// wrapper's `in_flight` state between `accept` calls.
pub(crate) type Accepting = Pin<Box<dyn Future<Output = io::Result<(Stream, Address)>> + Send>>;

/// [`Listener::accept`] on `raw`, as an [`Accepting`]. A function, not a closure in
/// the wrappers' `async fn accept`: coercing to `dyn Future + Send` there would ask
/// whether their own future is `Send` (it awaits this one), a cycle rustc rejects.
pub(crate) fn accepting(raw: &Arc<Listener>) -> Accepting {
    let raw = raw.clone();
    Box::pin(async move { raw.accept().await })
}

impl Listener {
    fn from_tcp(listener: std::net::TcpListener, desc: &ServerDescription) -> io::Result<Listener> {
        let listener = TcpListener::from_std(listener).map_err(|e| failed(e, desc))?;
        Ok(Listener::Tcp(listener))
    }

    fn adopted(adopted: AdoptedListener, desc: &ServerDescription) -> io::Result<Listener> {
        match adopted {
            AdoptedListener::Tcp(l) => Listener::from_tcp(l, desc),
            AdoptedListener::Unix(l) => Ok(Listener::Unix(
                UnixListener::from_std(l).map_err(|e| failed(e, desc))?,
                None,
            )),
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
    pub async fn accept(&self) -> io::Result<(Stream, Address)> {
        let accepted = match self {
            Listener::Haproxy(l) => return l.accept().await,
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                // Best effort: a peer that already reset the connection makes this
                // fail, and the first read or write reports that anyway.
                let _ = s.set_nodelay(true);
                (Stream::Tcp(s), Address::Tcp(peer))
            }),
            Listener::Unix(l, _) => l
                .accept()
                .await
                .map(|(s, peer)| (Stream::Unix(s), strports_sys::unix::address(&peer.into()))),
            Listener::Stdio(l) => l.accept(),
            // Handshake failures never reach here; raw accept errors are described.
            Listener::Tls(l) => return l.accept().await,
        };
        accepted.map_err(|e| strports_sys::context(e, "cannot accept a connection"))
    }

    /// The address listened on, with port 0 resolved to the real port.
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Listener::Haproxy(l) => l.inner().local_address(),
            Listener::Tcp(l) => l.local_addr().map(Address::Tcp),
            Listener::Unix(l, _) => l
                .local_addr()
                .map(|a| strports_sys::unix::address(&a.into())),
            Listener::Stdio(_) => Ok(Address::Stdio),
            Listener::Tls(l) => l.local_address(),
        }
    }
}

impl strports_core::Listener for Listener {
    type Stream = Stream;

    fn accept(&self) -> impl Future<Output = io::Result<(Stream, Address)>> + Send {
        Listener::accept(self)
    }

    fn local_address(&self) -> io::Result<Address> {
        Listener::local_address(self)
    }
}

impl AsFd for Listener {
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

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A server endpoint (Twisted's `IStreamServerEndpoint`): a description that can
/// [`listen`](ServerEndpoint::listen), possibly several times.
///
/// ```
/// use strports_core::ServerEndpoint;
/// use strports_tokio::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = Server::new("tcp:0:interface=127.0.0.1".parse()?);
/// let listener = server.listen().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    desc: ServerDescription,
    pub(crate) haproxy: strports_core::proxy_protocol::HaproxyOptions,
    tls_handshake_timeout: std::time::Duration,
}

impl Server {
    /// A server endpoint for `desc`.
    pub fn new(desc: ServerDescription) -> Server {
        Server {
            desc,
            haproxy: Default::default(),
            tls_handshake_timeout: crate::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// This server with `timeout` as the limit of each TLS handshake of an `ssl:` or
    /// `tls:` description (also under `haproxy:`), instead of
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT). Descriptions
    /// without TLS ignore it.
    pub fn with_tls_handshake_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// The description.
    pub fn description(&self) -> &ServerDescription {
        &self.desc
    }
}

impl ServerEndpoint for Server {
    type Listener = Listener;

    fn listen(&self) -> impl Future<Output = io::Result<Listener>> + Send {
        crate::haproxy::listen_with(&self.desc, self.haproxy, self.tls_handshake_timeout)
    }
}
