//! TCP listening and connecting sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use strports_core::endpoint::Lookup;
use strports_core::happy_eyeballs::HappyEyeballsConfig;
use strports_core::{TcpClient, TcpServer};

/// The description types that name a TCP server's two families in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeNames {
    /// The type that listens on IPv4 (`tcp`, `ssl`).
    pub ipv4: &'static str,
    /// The type that listens on IPv6 (`tcp6`, `tls`).
    pub ipv6: &'static str,
}

impl TypeNames {
    /// `tcp` and `tcp6`.
    pub const TCP: TypeNames = TypeNames {
        ipv4: "tcp",
        ipv6: "tcp6",
    };
    /// `ssl` (IPv4) and `tls` (IPv6) servers.
    pub const TLS: TypeNames = TypeNames {
        ipv4: "ssl",
        ipv6: "tls",
    };
}

/// The addresses a TCP server binds for `interface`: an IP literal as is, `""` as the
/// family's wildcard, a name resolved (blocking) to the family's addresses.
/// `ipv6` selects `tcp6` (IPv6 addresses) over `tcp` (IPv4 addresses); an IP literal
/// of the other family is an error that names the type for it (from `types`).
pub fn bind_addresses(
    interface: &str,
    port: u16,
    ipv6: bool,
    types: TypeNames,
) -> io::Result<Vec<SocketAddr>> {
    let family = if ipv6 { "IPv6" } else { "IPv4" };
    if interface.is_empty() {
        let ip: IpAddr = if ipv6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if let Ok(ip) = interface.parse::<IpAddr>() {
        if ip.is_ipv6() != ipv6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {interface:?}: not an {family} address (use {} for it)",
                    if ipv6 { types.ipv4 } else { types.ipv6 }
                ),
            ));
        }
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = if ipv6 { Lookup::Ipv6 } else { Lookup::Ipv4 };
    let addrs = crate::resolve::system_lookup(interface, port, lookup)?;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot listen on {interface:?}: it has no {family} address"),
        ));
    }
    Ok(addrs)
}

/// A listening, non-blocking, close-on-exec TCP socket with `SO_REUSEADDR` (as
/// Twisted sets it) and the given backlog.
pub fn listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let build = || -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog.min(i32::MAX as u32) as i32)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    build().map_err(|e| crate::error::context(e, format_args!("cannot listen on {addr}")))
}

/// Starts a non-blocking connect to `addr`, optionally from `bind` (port 0). The
/// caller waits until the socket is writable, then calls [`finish_connect`].
/// Errors name the address.
pub fn start_connect(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    attempt_socket(addr, bind)
        .map_err(|e| crate::error::context(e, format_args!("cannot connect to {addr}")))
}

/// [`start_connect`] with the bare OS error, for a Happy Eyeballs attempt: its
/// [`ConnectError`](strports_core::happy_eyeballs::ConnectError) lists each error
/// under its address already.
pub fn attempt_socket(addr: SocketAddr, bind: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = nonblocking_stream_socket(Domain::for_address(addr), Some(Protocol::TCP))?;
    if let Some(ip) = bind {
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// A non-blocking stream socket for an outgoing connection, made non-blocking when it
/// is created where the OS allows that (one system call instead of three).
pub(crate) fn nonblocking_stream_socket(
    domain: Domain,
    protocol: Option<Protocol>,
) -> io::Result<Socket> {
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd",
    ))]
    let socket = Socket::new(domain, Type::STREAM.nonblocking(), protocol)?;
    #[cfg(not(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd",
    )))]
    let socket = {
        let socket = Socket::new(domain, Type::STREAM, protocol)?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

/// Completes a connect started by [`start_connect`] once the socket is writable:
/// returns the connect's own error, if any.
pub fn finish_connect(stream: &TcpStream, addr: SocketAddr) -> io::Result<()> {
    finish_connect_fd(stream, addr)
}

/// [`finish_connect`] for any socket type that lends its descriptor (for runtimes
/// whose stream types do not give out a `&std::net::TcpStream`, such as tokio's).
pub fn finish_connect_fd(stream: &impl AsFd, addr: SocketAddr) -> io::Result<()> {
    attempt_outcome(stream)
        .map_err(|e| crate::error::context(e, format_args!("cannot connect to {addr}")))
}

/// [`finish_connect_fd`] with the bare OS error, for a socket from
/// [`attempt_socket`].
pub fn attempt_outcome(stream: &impl AsFd) -> io::Result<()> {
    let sock = SockRef::from(stream);
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => Err(e),
        Ok(None) => sock.peer_addr().map(|_| ()),
    }
}

/// Where a non-blocking connect stands, for a runtime's I/O loop (which retries on
/// [`io::ErrorKind::WouldBlock`] once the socket is writable): `Ok` once connected,
/// the connect's own error if it failed, `WouldBlock` while it is in progress.
pub fn connect_progress(stream: &impl AsFd) -> io::Result<()> {
    let sock = SockRef::from(stream);
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => Err(e),
        Ok(None) => match sock.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        },
    }
}

/// The Happy Eyeballs settings for a client description's `timeout` (seconds):
/// it bounds each connection attempt, as in Twisted's `HostnameEndpoint`; RFC
/// 8305's defaults otherwise.
///
/// ```
/// use std::time::Duration;
/// let config = strports_sys::tcp::race_config(5);
/// assert_eq!(config.attempt_timeout, Some(Duration::from_secs(5)));
/// assert_eq!(config.attempt_delay, Duration::from_millis(250));
/// ```
pub fn race_config(timeout: u32) -> HappyEyeballsConfig {
    let mut config = HappyEyeballsConfig::default();
    config.attempt_timeout = Some(seconds(timeout));
    config
}

/// A description's `timeout` (whole seconds) as a [`Duration`].
///
/// ```
/// assert_eq!(strports_sys::tcp::seconds(30), std::time::Duration::from_secs(30));
/// ```
pub fn seconds(timeout: u32) -> Duration {
    Duration::from_secs(u64::from(timeout))
}

/// Where a client connects over TCP: a `tcp:` client, the TCP under an `ssl:`
/// client, or a `tls:` client without `endpoint=`.
///
/// ```
/// use strports_core::ClientDescription;
/// use strports_sys::tcp::{TcpConnect, TcpTarget};
/// let ClientDescription::Tcp(c) = "tcp:127.0.0.1:80:timeout=5".parse().unwrap() else { panic!() };
/// let TcpConnect::Direct { addr, timeout, .. } = TcpTarget::from(&c).plan()? else { panic!() };
/// assert_eq!((addr.to_string(), timeout), ("127.0.0.1:80".to_owned(), 5));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTarget<'a> {
    /// The host: an IP literal (`[::1]` too) or a name.
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// `bindAddress`: the local IP to connect from, unparsed.
    pub bind_address: Option<&'a str>,
    /// `timeout` in seconds: it bounds each connection attempt.
    pub timeout: u32,
}

impl<'a> From<&'a TcpClient> for TcpTarget<'a> {
    fn from(c: &'a TcpClient) -> TcpTarget<'a> {
        TcpTarget {
            host: &c.host,
            port: c.port,
            bind_address: c.bind_address.as_deref(),
            timeout: c.timeout,
        }
    }
}

/// How a backend reaches a [`TcpTarget`] (see [`TcpTarget::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpConnect<'a> {
    /// The host is an IP literal: one connect to `addr` from `bind` (see
    /// [`start_connect`]), never through a resolver, waited for at most `timeout`
    /// seconds (the error then is [`timed_out`]).
    Direct {
        /// The address to connect to.
        addr: SocketAddr,
        /// The local IP to connect from.
        bind: Option<IpAddr>,
        /// Seconds to wait for the connect to complete.
        timeout: u32,
    },
    /// The host is a name: Happy Eyeballs over its addresses, with `config`.
    Race {
        /// The name to look up.
        host: &'a str,
        /// The port.
        port: u16,
        /// The local IP to connect from.
        bind: Option<IpAddr>,
        /// The racing settings for the target's `timeout` ([`race_config`]).
        config: HappyEyeballsConfig,
    },
}

impl<'a> TcpTarget<'a> {
    /// How to connect: an IP literal directly, a name by racing its addresses. Fails
    /// only on a `bindAddress` that is not an IP literal ([`bind_ip`]).
    pub fn plan(&self) -> io::Result<TcpConnect<'a>> {
        let bind = bind_ip(self.bind_address)?;
        Ok(match host_ip(self.host) {
            Some(ip) => TcpConnect::Direct {
                addr: SocketAddr::new(ip, self.port),
                bind,
                timeout: self.timeout,
            },
            None => TcpConnect::Race {
                host: self.host,
                port: self.port,
                bind,
                config: race_config(self.timeout),
            },
        })
    }
}

/// Whether a connect that [`start_connect`] (or [`crate::unix::start_connect`])
/// started has completed already (on loopback and UNIX sockets the kernel usually
/// finishes it inside `connect()`): then backends neither wait for writability nor
/// arm a timer.
pub fn connected_at_once(socket: &impl AsFd) -> bool {
    SockRef::from(socket).peer_addr().is_ok()
}

/// Parses a `bindAddress` value: an IP literal.
pub fn bind_ip(bind_address: Option<&str>) -> io::Result<Option<IpAddr>> {
    match bind_address {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid bindAddress {s:?}: must be an ip address"),
            )
        }),
    }
}

/// The timeout error every backend reports when a connect takes too long.
pub fn timed_out(target: impl std::fmt::Display, seconds: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("cannot connect to {target}: timed out after {seconds} s"),
    )
}

/// The IP address of a client `host` that is an IP literal (`127.0.0.1`, `::1`,
/// `[::1]`), connected to without any resolver; `None` for a name.
///
/// ```
/// use strports_sys::tcp::host_ip;
/// assert_eq!(host_ip("[::1]"), Some("::1".parse().unwrap()));
/// assert_eq!(host_ip("localhost"), None);
/// ```
pub fn host_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Whether [`listen`] on this server may block: its interface is a name, which is
/// resolved first. Backends run such a listen off their async threads.
///
/// ```
/// use strports_core::ServerDescription;
/// let ServerDescription::Tcp(named) = "tcp:80:interface=localhost".parse().unwrap() else { panic!() };
/// let ServerDescription::Tcp(any) = "tcp:80".parse().unwrap() else { panic!() };
/// assert!(strports_sys::tcp::listen_blocks(&named));
/// assert!(!strports_sys::tcp::listen_blocks(&any));
/// ```
pub fn listen_blocks(server: &TcpServer) -> bool {
    !server.interface.is_empty() && server.interface.parse::<IpAddr>().is_err()
}

/// Opens a `tcp:` (`ipv6 == false`) or `tcp6:` (`ipv6 == true`) server: the
/// [`bind_addresses`] of its interface, tried in order until one [`listener`] binds.
/// Blocking when the interface is a name: run it off the async threads.
pub fn listen(server: &TcpServer, ipv6: bool) -> io::Result<TcpListener> {
    listen_as(server, ipv6, TypeNames::TCP)
}

/// [`listen`] for a server whose types are named `types` in messages (the TCP under
/// `ssl:` and `tls:` servers: [`TypeNames::TLS`]).
pub fn listen_as(server: &TcpServer, ipv6: bool, types: TypeNames) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in bind_addresses(&server.interface, server.port, ipv6, types)? {
        match listener(addr, server.backlog) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot listen on {:?}: no address", server.interface),
        )
    }))
}

/// Accepts one connection on the non-blocking listening socket `listener`, as a
/// non-blocking, close-on-exec socket (one `accept4` call): the runtime's I/O
/// loop retries on [`io::ErrorKind::WouldBlock`].
pub fn accept_raw(listener: &impl AsFd) -> io::Result<(OwnedFd, SockAddr)> {
    let fd = listener.as_fd().as_raw_fd();
    // SAFETY: accept4 fills at most `len` bytes of the storage socket2 gives it and
    // sets `len`; the descriptor it returns is new and owned by nobody else.
    unsafe {
        SockAddr::try_init(|storage, len| {
            let new = libc::accept4(
                fd,
                storage.cast(),
                len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            );
            if new < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(OwnedFd::from_raw_fd(new))
            }
        })
    }
}

/// [`accept_raw`] on a TCP listener, with `TCP_NODELAY` set (best effort: a peer
/// that already reset the connection makes it fail, and the first read or write
/// reports that anyway).
pub fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (fd, addr) = accept_raw(listener)?;
    let stream = TcpStream::from(fd);
    let _ = stream.set_nodelay(true);
    let addr = match addr.as_socket() {
        Some(addr) => addr,
        None => stream.peer_addr()?,
    };
    Ok((stream, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_of_the_other_family_names_the_type_for_it() {
        let cases = [
            ("127.0.0.1", true, TypeNames::TCP, "use tcp for it"),
            ("::1", false, TypeNames::TCP, "use tcp6 for it"),
            ("127.0.0.1", true, TypeNames::TLS, "use ssl for it"),
            ("::1", false, TypeNames::TLS, "use tls for it"),
        ];
        for (interface, ipv6, types, expected) in cases {
            let e = bind_addresses(interface, 0, ipv6, types).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(expected), "{e}");
        }
        let ok = bind_addresses("127.0.0.1", 80, false, TypeNames::TLS).unwrap();
        assert_eq!(ok, vec![SocketAddr::from(([127, 0, 0, 1], 80))]);
    }

    fn target(host: &'static str, bind_address: Option<&'static str>) -> TcpTarget<'static> {
        TcpTarget {
            host,
            port: 443,
            bind_address,
            timeout: 7,
        }
    }

    #[test]
    fn an_ip_literal_is_connected_to_directly() {
        for (host, ip) in [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1")] {
            let plan = target(host, Some("10.0.0.1")).plan().unwrap();
            assert_eq!(
                plan,
                TcpConnect::Direct {
                    addr: SocketAddr::new(ip.parse().unwrap(), 443),
                    bind: Some("10.0.0.1".parse().unwrap()),
                    timeout: 7,
                }
            );
        }
    }

    #[test]
    fn a_name_is_raced_with_the_timeout_bounding_each_attempt() {
        let plan = target("example.com", None).plan().unwrap();
        assert_eq!(
            plan,
            TcpConnect::Race {
                host: "example.com",
                port: 443,
                bind: None,
                config: race_config(7),
            }
        );
        assert_eq!(race_config(7).attempt_timeout, Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_bind_address_that_is_not_an_ip_fails_the_plan() {
        let e = target("127.0.0.1", Some("localhost")).plan().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "invalid bindAddress \"localhost\": must be an ip address"
        );
    }

    #[test]
    fn a_tcp_client_is_its_own_target() {
        let strports_core::ClientDescription::Tcp(c) =
            "tcp:host:80:timeout=3:bindAddress=127.0.0.1"
                .parse()
                .unwrap()
        else {
            panic!("not tcp")
        };
        assert_eq!(
            TcpTarget::from(&c),
            TcpTarget {
                host: "host",
                port: 80,
                bind_address: Some("127.0.0.1"),
                timeout: 3,
            }
        );
    }
}
