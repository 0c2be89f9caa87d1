//! TCP listening and connecting sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use strports_core::TcpServer;
use strports_core::endpoint::Lookup;

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

/// Whether a connect that [`start_connect`] (or [`crate::unix::start_connect`])
/// started has completed already (on loopback and UNIX sockets the kernel usually
/// finishes it inside `connect()`): then backends neither wait for writability nor
/// arm a timer.
pub fn connected_at_once(socket: &impl AsFd) -> bool {
    SockRef::from(socket).peer_addr().is_ok()
}

/// Whether a byte can be read from a connected stream socket (TCP or UNIX) without
/// taking it: `Ok(true)` when data or EOF is waiting, `WouldBlock` while there is
/// nothing yet (a non-blocking socket), so a runtime's I/O loop can wait for a
/// peer's first byte without consuming it.
pub fn peek_readable(socket: &impl AsFd) -> io::Result<bool> {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit()];
    SockRef::from(socket).peek(&mut byte).map(|_| true)
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
}
