//! Every socket systemd passed, at once: [`listen_systemd`].
//!
//! A `systemd:domain=INET:name=web` description opens one passed socket; a service
//! that is given several (one `.socket` unit with several `ListenStream=`, or
//! several units) can open them all with [`listen_systemd`], each with its index,
//! its name from `LISTEN_FDNAMES` and its family, and serve them together with
//! [`serve_many`](crate::serve_many()).

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use strports_core::systemd::LISTEN_FDS_START;
use strports_core::{Domain, ServerDescription, SystemdSelector, SystemdServer};

use crate::listener::Listener;
use crate::runtime::Runtime;

/// One socket systemd passed, as [`listen_systemd`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemdSocket {
    /// Its position among the passed sockets (descriptor `3 + index`): what
    /// `systemd:...:index=` selects.
    pub index: u32,
    /// Its name in `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`, by default the
    /// socket unit's name), if the names were passed (one per socket).
    pub name: Option<String>,
    /// Its family.
    pub domain: Domain,
}

impl SystemdSocket {
    /// The description that selects this socket alone:
    /// `systemd:domain=INET:index=0`.
    pub fn description(&self) -> ServerDescription {
        ServerDescription::Systemd(self.server())
    }

    fn server(&self) -> SystemdServer {
        SystemdServer {
            domain: self.domain,
            selector: SystemdSelector::Index(self.index),
        }
    }
}

impl fmt::Display for SystemdSocket {
    /// `systemd:domain=INET:index=0`, followed by ` (name "web")` when it has one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.description())?;
        if let Some(name) = &self.name {
            write!(f, " (name {name:?})")?;
        }
        Ok(())
    }
}

/// Opens every listening socket systemd passed to this process (socket
/// activation: `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, read once per process
/// by [`strports_sys::adopt::listen_fds`]), in index
/// order, each with its index, its name and its family (read from the socket
/// itself). Each is checked and adopted as `systemd:domain=...:index=...` would
/// (a stream socket, listening; duplicated close-on-exec, the original number
/// closed), and registered with the runtime's reactor.
///
/// Fails if this process was not socket-activated (kind
/// [`io::ErrorKind::NotFound`], as a `systemd:` server) or if any passed socket
/// cannot be served (a datagram socket, one not listening, a family other than
/// `INET`, `INET6`, `UNIX`), naming it; the sockets adopted before it are then
/// closed. Like `systemd:`, it can run once: adopting closes the passed numbers.
pub async fn listen_systemd<R: Runtime>() -> io::Result<Vec<(SystemdSocket, Listener<R>)>> {
    let fds = strports_sys::adopt::listen_fds().map_err(|e| {
        strports_sys::context(
            io::Error::from(e),
            "cannot listen on the sockets passed by systemd",
        )
    })?;
    let names = fds.names().filter(|n| n.len() == fds.count() as usize);
    let mut listeners = Vec::with_capacity(fds.count() as usize);
    for index in 0..fds.count() {
        let name = names.map(|n| n[index as usize].clone());
        let fd = LISTEN_FDS_START.saturating_add(RawFd::try_from(index).unwrap_or(RawFd::MAX));
        let domain = domain_of(fd).map_err(|e| {
            let named = name
                .as_ref()
                .map(|n| format!(", named {n:?}"))
                .unwrap_or_default();
            strports_sys::context(
                e,
                format_args!("cannot listen on systemd socket {index} (descriptor {fd}{named})"),
            )
        })?;
        let socket = SystemdSocket {
            index,
            name,
            domain,
        };
        let server = socket.server();
        let adopted = strports_sys::adopt::systemd(&server)?;
        let listener = Listener::adopted(adopted, &ServerDescription::Systemd(server))?;
        listeners.push((socket, listener));
    }
    Ok(listeners)
}

/// The family of the socket `fd` (`SO_DOMAIN`).
fn domain_of(fd: RawFd) -> io::Result<Domain> {
    let mut family: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt only writes an int into `family` (of `len` bytes); any
    // descriptor number is fine (a closed one or a non-socket gives an error).
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut family).cast(),
            &raw mut len,
        )
    };
    if got != 0 {
        let e = io::Error::last_os_error();
        let why = match e.raw_os_error() {
            Some(libc::EBADF) => "it is not open".to_owned(),
            Some(libc::ENOTSOCK) => "it is not a socket".to_owned(),
            _ => format!("cannot read its family: {e}"),
        };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    match family {
        libc::AF_INET => Ok(Domain::Inet),
        libc::AF_INET6 => Ok(Domain::Inet6),
        libc::AF_UNIX => Ok(Domain::Unix),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("its family ({other}) is not INET, INET6 or UNIX"),
        )),
    }
}
