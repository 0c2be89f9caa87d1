//! Adopting inherited listening sockets (systemd socket activation and `fd:`).

use std::collections::HashSet;
use std::io;
use std::net::TcpListener;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
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

/// Descriptors adopted so far: each can be adopted once (like Twisted's
/// `AlreadyListened`), because after adoption the number belongs to us and may later
/// be reused for something else.
static ADOPTED: Mutex<Option<HashSet<RawFd>>> = Mutex::new(None);

/// Takes ownership of descriptor `fd` after checking that it is open, is a socket of
/// family `domain`, is a stream socket, and is listening; sets close-on-exec and
/// non-blocking.
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
    let mut adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
    let set = adopted.get_or_insert_with(HashSet::new);
    if set.contains(&fd) {
        return Err(fail("was already adopted by another listener".to_owned()));
    }
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
    // SAFETY: checked to be an open socket; from here on we own it (recorded in ADOPTED
    // so that no second listener takes the same number).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    set.insert(fd);
    drop(adopted);
    let sock = socket2::Socket::from(owned);
    sock.set_cloexec(true)?;
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
            crate::context(
                e,
                format_args!("cannot listen on {}", shown_systemd(server)),
            )
        })
}

/// Opens an `fd:` server: [`adopt`]s its descriptor. Errors say `cannot listen on fd:...`.
pub fn fd(server: &AdoptedServer) -> io::Result<AdoptedListener> {
    adopt(server.fileno, server.domain).map_err(|e| {
        crate::context(
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
