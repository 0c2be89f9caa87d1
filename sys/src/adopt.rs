//! Adopting inherited listening sockets (systemd socket activation and `fd:`).

use std::io;
use std::net::TcpListener;
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::Mutex;

use socket2::{SockRef, Type};
use strports_core::Domain;
use strports_core::systemd::ListenFds;
use strports_core::{AdoptedServer, SystemdSelector, SystemdServer};

/// An adopted listening socket, ready for a runtime.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdoptedListener {
    /// An `INET` or `INET6` listener.
    Tcp(TcpListener),
    /// A `UNIX` listener.
    Unix(UnixListener),
}

/// Held while a descriptor is checked, duplicated and closed, so that two threads
/// adopting the same number cannot both take it (the second finds it closed).
static ADOPTING: Mutex<()> = Mutex::new(());

/// Adopts descriptor `fd` after checking that it is open, is a socket of family
/// `domain`, is a stream socket, and is listening. As Twisted's
/// `AdoptedStreamServerEndpoint` does, the socket is duplicated (close-on-exec, at
/// 3 or above) and the original number closed: adopting the same number again finds
/// it closed, and once the listener is dropped the number is free for anything,
/// including another adoption. The new descriptor is non-blocking. A descriptor that
/// fails a check is left open.
pub fn adopt(fd: RawFd, domain: Domain) -> io::Result<AdoptedListener> {
    let fail = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} {why}"),
        )
    };
    if fd < 0 {
        return Err(fail("is negative".to_owned()));
    }
    let _adopting = ADOPTING.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: F_GETFD only queries the descriptor table; any integer is fine.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(fail("is not open".to_owned()));
    }
    // SAFETY: the descriptor is open (checked above) and stays open while borrowed:
    // nothing closes it before we take ownership below.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let ty = sock
        .r#type()
        .map_err(|e| fail(format!("is not a socket ({e})")))?;
    if ty != Type::STREAM {
        let what = if ty == Type::DGRAM {
            "a datagram"
        } else {
            "not a stream"
        };
        return Err(fail(format!("is {what} socket; a stream socket is needed")));
    }
    let family = sock.domain()?;
    let expected = match domain {
        Domain::Inet => socket2::Domain::IPV4,
        Domain::Inet6 => socket2::Domain::IPV6,
        _ => socket2::Domain::UNIX,
    };
    if family != expected {
        return Err(fail(format!(
            "has family {}, not {}",
            family_name(family),
            domain.name()
        )));
    }
    if !sock.is_listener()? {
        return Err(fail("is not listening".to_owned()));
    }
    // The copy is ours from the start: close-on-exec, above the standard streams.
    let copy = borrowed
        .try_clone_to_owned()
        .map_err(|e| fail(format!("could not be duplicated ({e})")))?;
    // SAFETY: `fd` is open (checked above) and was handed to us to adopt; it is not
    // used again after this close, and the lock keeps another adoption from
    // closing it a second time.
    unsafe { libc::close(fd) };
    let sock = socket2::Socket::from(copy);
    sock.set_nonblocking(true)?;
    Ok(match domain {
        Domain::Unix => AdoptedListener::Unix(sock.into()),
        _ => AdoptedListener::Tcp(sock.into()),
    })
}

fn family_name(d: socket2::Domain) -> &'static str {
    if d == socket2::Domain::IPV4 {
        "INET"
    } else if d == socket2::Domain::IPV6 {
        "INET6"
    } else if d == socket2::Domain::UNIX {
        "UNIX"
    } else {
        "another family"
    }
}

/// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` now and picks the descriptor.
pub fn systemd_fd(selector: &SystemdSelector) -> io::Result<RawFd> {
    let var = |name: &str| std::env::var(name).ok();
    let fds = ListenFds::from_values(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?;
    Ok(fds.select(selector)?)
}

/// Opens a `systemd:` server: picks the descriptor from the environment as it is now
/// ([`systemd_fd`]) and [`adopt`]s it. Errors say `cannot listen on systemd:...`.
pub fn systemd(server: &SystemdServer) -> io::Result<AdoptedListener> {
    systemd_fd(&server.selector)
        .and_then(|fd| adopt(fd, server.domain))
        .map_err(|e| {
            crate::error::context(
                e,
                format_args!("cannot listen on {}", shown_systemd(server)),
            )
        })
}

/// Opens an `fd:` server: [`adopt`]s its descriptor. Errors say `cannot listen on fd:...`.
pub fn fd(server: &AdoptedServer) -> io::Result<AdoptedListener> {
    adopt(server.fileno, server.domain).map_err(|e| {
        crate::error::context(
            e,
            format_args!(
                "cannot listen on fd:{}:domain={}",
                server.fileno, server.domain
            ),
        )
    })
}

fn shown_systemd(server: &SystemdServer) -> String {
    match &server.selector {
        SystemdSelector::Index(i) => format!("systemd:domain={}:index={i}", server.domain),
        SystemdSelector::Name(n) => format!("systemd:domain={}:name={n}", server.domain),
    }
}
