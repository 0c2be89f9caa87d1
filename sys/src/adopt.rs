//! Adopting inherited listening sockets (systemd socket activation and `fd:`).
//!
//! [`adopt`] takes a descriptor the caller owns ([`OwnedFd`]). Descriptions name
//! descriptors by number instead (`fd:3`, `systemd:` through `LISTEN_FDS`): those go
//! through one place, [`fd`] and [`systemd`], which claims the number as an
//! [`OwnedFd`] because the process was given it to listen on (see the `SAFETY`
//! comment in `adopt_inherited`).
//!
//! The systemd environment is read once per process ([`listen_fds`]) and then
//! consumed as libsystemd's `sd_listen_fds(1)` does: every passed descriptor is made
//! close-on-exec and `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` are removed from
//! the environment, so child processes see neither.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::{Mutex, OnceLock};

use socket2::{SockRef, Type};
use strports_core::Domain;
use strports_core::systemd::{LISTEN_FDS_START, ListenFds, SystemdError};
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

/// Held while an inherited descriptor number is checked, claimed, duplicated and
/// closed, so that two threads adopting the same number cannot both take it (the
/// second finds it closed).
static ADOPTING: Mutex<()> = Mutex::new(());

/// The three variables of systemd socket activation.
const LISTEN_VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Checks that `fd` is a listening stream socket of family `domain`. Errors
/// (kind [`io::ErrorKind::InvalidInput`]) say `descriptor N is not a socket`, `is a
/// datagram socket; a stream socket is needed`, `has family INET, not UNIX`, `is not
/// listening`.
pub fn check(fd: BorrowedFd<'_>, domain: Domain) -> io::Result<()> {
    let number = fd.as_raw_fd();
    let sock = SockRef::from(&fd);
    let ty = sock
        .r#type()
        .map_err(|e| invalid(number, format!("is not a socket ({e})")))?;
    if ty != Type::STREAM {
        let what = if ty == Type::DGRAM {
            "a datagram"
        } else {
            "not a stream"
        };
        return Err(invalid(
            number,
            format!("is {what} socket; a stream socket is needed"),
        ));
    }
    let family = sock.domain()?;
    let expected = match domain {
        Domain::Inet => socket2::Domain::IPV4,
        Domain::Inet6 => socket2::Domain::IPV6,
        _ => socket2::Domain::UNIX,
    };
    if family != expected {
        return Err(invalid(
            number,
            format!("has family {}, not {}", family_name(family), domain.name()),
        ));
    }
    if !sock.is_listener()? {
        return Err(invalid(number, "is not listening".to_owned()));
    }
    Ok(())
}

/// Adopts the listening socket `fd` after [`check`]ing it. As Twisted's
/// `AdoptedStreamServerEndpoint` does, the socket is duplicated (close-on-exec, at 3
/// or above) and `fd` itself closed; the new descriptor is non-blocking. A
/// descriptor that fails the check is closed too (it was given away): [`check`] it
/// first to keep it on failure.
pub fn adopt(fd: OwnedFd, domain: Domain) -> io::Result<AdoptedListener> {
    check(fd.as_fd(), domain)?;
    // The copy is ours from the start: close-on-exec, above the standard streams.
    let copy = fd
        .try_clone()
        .map_err(|e| invalid(fd.as_raw_fd(), format!("could not be duplicated ({e})")))?;
    drop(fd);
    let sock = socket2::Socket::from(copy);
    sock.set_nonblocking(true)?;
    Ok(match domain {
        Domain::Unix => AdoptedListener::Unix(sock.into()),
        _ => AdoptedListener::Tcp(sock.into()),
    })
}

/// Adopts descriptor number `fd`, which this process inherited to listen on (`fd:N`,
/// or a socket systemd passed): checks it is open and a listening socket of
/// `domain`, then [`adopt`]s it. A descriptor that fails a check is left open.
fn adopt_inherited(fd: RawFd, domain: Domain) -> io::Result<AdoptedListener> {
    if fd < 0 {
        return Err(invalid(fd, "is negative".to_owned()));
    }
    let _adopting = ADOPTING.lock().unwrap_or_else(|p| p.into_inner());
    if !is_open(fd) {
        return Err(invalid(fd, "is not open".to_owned()));
    }
    // SAFETY: the one place where strports takes ownership of a descriptor by number.
    // `fd` is open (checked just above, under the lock that every adoption by number
    // holds, so no other adoption closes it meanwhile), and the process was given it
    // to listen on: the description naming it (`fd:N`, or `systemd:` through
    // LISTEN_FDS, whose descriptors belong to the process systemd started) says that
    // nothing else in the program owns it. It is either handed back unclosed below
    // (a failed check) or closed exactly once, by `adopt`.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Err(e) = check(owned.as_fd(), domain) {
        // Not ours to close: leave the descriptor as we found it.
        let _ = owned.into_raw_fd();
        return Err(e);
    }
    adopt(owned, domain)
}

/// Whether descriptor number `fd` is open.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table; any integer is fine.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn invalid(fd: RawFd, why: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("descriptor {fd} {why}"),
    )
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

/// The sockets systemd passed to this process, read from the environment the first
/// time this is called and cached: later calls, and every later `systemd:`
/// description, get the same answer.
///
/// The first call consumes the environment as libsystemd's `sd_listen_fds(1)` does:
/// when `LISTEN_PID` names this process, each passed descriptor (from 3, as many as
/// `LISTEN_FDS` says) is made close-on-exec; then `LISTEN_PID`, `LISTEN_FDS` and
/// `LISTEN_FDNAMES` are removed from the environment (whatever they held). So
/// children (`process:`, `strports listen --exec`, any `std::process::Command`)
/// inherit neither the sockets nor the variables.
///
/// Removing variables is only sound while no other thread reads the environment
/// outside `std::env` (C code calling `getenv`, such as `getaddrinfo` on a resolver
/// thread). `listen` calls this at the first `systemd:` description; a program
/// started by systemd should call it at the start of `main`, before it starts
/// threads (the `strports` tool does).
pub fn listen_fds() -> Result<&'static ListenFds, SystemdError> {
    static LISTEN_FDS: OnceLock<Result<ListenFds, SystemdError>> = OnceLock::new();
    LISTEN_FDS
        .get_or_init(take_systemd_environment)
        .as_ref()
        .map_err(Clone::clone)
}

/// Reads and consumes the systemd environment (see [`listen_fds`]); run once.
fn take_systemd_environment() -> Result<ListenFds, SystemdError> {
    let var = |name: &str| std::env::var(name).ok();
    let fds = ListenFds::from_values(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    if let Ok(fds) = &fds {
        for fd in (0..fds.count()).filter_map(|i| i32::try_from(i).ok()) {
            set_cloexec(LISTEN_FDS_START.saturating_add(fd));
        }
    }
    for name in LISTEN_VARIABLES {
        if std::env::var_os(name).is_some() {
            // SAFETY: runs once per process (inside `listen_fds`' OnceLock), and
            // std's own environment functions are synchronised with it. Other threads
            // reading the environment through C (`getenv`) at this moment would race
            // with it; `listen_fds` documents that a program calls it before starting
            // threads, as the `strports` tool does, and otherwise it runs at the first
            // `systemd:` listen, as libsystemd's `sd_listen_fds(1)` unsets them then.
            unsafe { std::env::remove_var(name) };
        }
    }
    fds
}

/// Sets close-on-exec on descriptor number `fd` if it is open (systemd's
/// descriptors come without it).
fn set_cloexec(fd: RawFd) {
    // SAFETY: F_GETFD/F_SETFD only read and set the descriptor flags of `fd`, a
    // descriptor systemd passed to this process; nothing is closed or moved.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// The descriptor number `selector` picks among the sockets systemd passed
/// ([`listen_fds`]: the environment is read once, at the first call).
pub fn systemd_fd(selector: &SystemdSelector) -> io::Result<RawFd> {
    Ok(listen_fds()?.select(selector)?)
}

/// Opens a `systemd:` server: picks the descriptor ([`systemd_fd`]) and adopts it as
/// [`adopt`] says (a descriptor that fails a check is left open). Errors say `cannot
/// listen on systemd:...`.
pub fn systemd(server: &SystemdServer) -> io::Result<AdoptedListener> {
    systemd_fd(&server.selector)
        .and_then(|fd| adopt_inherited(fd, server.domain))
        .map_err(|e| {
            crate::error::context(
                e,
                format_args!("cannot listen on {}", shown_systemd(server)),
            )
        })
}

/// Opens an `fd:` server: adopts its descriptor, which the process inherited, as
/// [`adopt`] says (a descriptor that fails a check is left open). Errors say `cannot
/// listen on fd:...`.
pub fn fd(server: &AdoptedServer) -> io::Result<AdoptedListener> {
    adopt_inherited(server.fileno, server.domain).map_err(|e| {
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
