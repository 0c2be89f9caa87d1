//! UNIX socket listening (mode before listen, Twisted's lock-file semantics, abstract
//! names) and connecting.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use strports_core::endpoint::Address;
use strports_core::{UnixAddress, UnixServer};

use crate::lock::{Holder, LockFile, holder, lock_path};

/// Removes a listener's socket file (if it is still the one we bound) and then
/// releases its lock file, when dropped.
///
/// strports removes the socket file when the listener is dropped, as Twisted does when
/// a UNIX port stops listening; the lock file goes last, so no other process can take
/// the lock while our socket file still exists.
#[derive(Debug)]
pub struct Cleanup {
    path: PathBuf,
    identity: Option<(u64, u64)>,
    _lock: Option<LockFile>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if Some((meta.dev(), meta.ino())) == self.identity && meta.file_type().is_socket() {
                let _ = fs::remove_file(&self.path);
            }
        }
        // `_lock` drops after this body: the lock is released last.
    }
}

fn sockaddr(address: &UnixAddress) -> io::Result<SockAddr> {
    match address {
        UnixAddress::Path(p) => SockAddr::unix(p),
        UnixAddress::Abstract(name) => {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0u8);
            bytes.extend_from_slice(name.as_bytes());
            // socket2 treats a path starting with NUL as an abstract name.
            SockAddr::unix(Path::new(std::ffi::OsStr::from_bytes(&bytes)))
        }
    }
}

/// Binds and listens on a UNIX socket as `server` says:
///
/// 1. with `lockfile`, take `<path>.lock`; a live owner means
///    [`io::ErrorKind::AddrInUse`]. A stale lock (its owner is gone) is broken only
///    after a connect to the path is refused: if a server still accepts there (a
///    live server whose lock went stale, say one started with `lockfile=0`), listening
///    fails with [`io::ErrorKind::AddrInUse`] and neither the lock nor the socket is
///    touched. A leftover file at the path is then removed, but only if it is a
///    socket;
/// 2. bind; set `mode` on the file *before* listening, so nobody can connect while the
///    file has the default permissions (connecting to a bound socket that is not yet
///    listening is refused);
/// 3. listen with `backlog`, non-blocking, close-on-exec.
pub fn listen(server: &UnixServer) -> io::Result<(UnixListener, Option<Cleanup>)> {
    let shown = server.address.to_string();
    let result = || -> io::Result<(UnixListener, Option<Cleanup>)> {
        let mut lock = None;
        if let (UnixAddress::Path(path), true) = (&server.address, server.lockfile) {
            let lock_file = lock_path(path);
            let l = LockFile::acquire_checked(&lock_file, || no_live_server(path, &lock_file))?;
            if !l.was_clean() {
                remove_stale_socket(path)?;
            }
            lock = Some(l);
        }
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&sockaddr(&server.address)?)?;
        let mut cleanup = None;
        if let UnixAddress::Path(path) = &server.address {
            let meta = fs::symlink_metadata(path)?;
            cleanup = Some(Cleanup {
                path: path.clone(),
                identity: Some((meta.dev(), meta.ino())),
                _lock: lock,
            });
            fs::set_permissions(path, fs::Permissions::from_mode(server.mode))?;
        }
        socket.listen(server.backlog.min(i32::MAX as u32) as i32)?;
        socket.set_nonblocking(true)?;
        Ok((socket.into(), cleanup))
    };
    result().map_err(|e| crate::error::context(e, format_args!("cannot listen on unix:{shown}")))
}

/// Fails with [`io::ErrorKind::AddrInUse`] if a server accepts connections on the
/// socket `path` (whose lock file `lock` is stale): one non-blocking connect, closed
/// at once. Refused, or nothing at the path, is success; a full accept queue
/// (`EAGAIN`) means a live server too. Another error (no permission to connect, say)
/// fails as well, since nothing shows the socket is dead.
fn no_live_server(path: &Path, lock: &Path) -> io::Result<()> {
    let live = || {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "address in use: a live server listens on {} (its lock file {} names a process that is gone); leaving both alone",
                path.display(),
                lock.display()
            ),
        )
    };
    let socket = crate::tcp::nonblocking_stream_socket(Domain::UNIX, None)?;
    match socket.connect(&SockAddr::unix(path)?) {
        Ok(()) => Err(live()),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Err(live()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Err(live()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ECONNREFUSED | libc::ENOENT | libc::ENOTSOCK)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(crate::error::context(
            e,
            format_args!(
                "cannot check whether a server still listens on {} (its lock file {} is stale)",
                path.display(),
                lock.display()
            ),
        )),
    }
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not removing it",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Starts a non-blocking connect to a UNIX socket; with `lockfile`, first checks that
/// a live process holds `<path>.lock`. The caller waits until writable, then calls
/// [`finish_connect`].
pub fn start_connect(address: &UnixAddress, lockfile: bool) -> io::Result<UnixStream> {
    let result = || -> io::Result<UnixStream> {
        if let (UnixAddress::Path(path), true) = (address, lockfile) {
            let lock = lock_path(path);
            if !matches!(holder(&lock)?, Holder::Live(_)) {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("no running process holds {}", lock.display()),
                ));
            }
        }
        let socket = crate::tcp::nonblocking_stream_socket(Domain::UNIX, None)?;
        match socket.connect(&sockaddr(address)?) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the listener's accept queue is full",
                ));
            }
            Err(e) => return Err(e),
        }
        Ok(socket.into())
    };
    // The address is formatted only for an error: this runs at every connect.
    result().map_err(|e| crate::error::context(e, format_args!("cannot connect to unix:{address}")))
}

/// A UNIX socket address as connect errors name it: `unix:<address>` (formatted
/// only when an error needs it).
///
/// ```
/// use strports_core::UnixAddress;
/// let path = UnixAddress::Path("/run/app.sock".into());
/// assert_eq!(strports_sys::unix::UnixTarget(&path).to_string(), "unix:/run/app.sock");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UnixTarget<'a>(pub &'a UnixAddress);

impl std::fmt::Display for UnixTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unix:{}", self.0)
    }
}

/// Completes a connect started by [`start_connect`] once the socket is writable.
pub fn finish_connect(stream: &UnixStream, address: &UnixAddress) -> io::Result<()> {
    finish_connect_fd(stream, address)
}

/// [`finish_connect`] for any socket type that lends its descriptor (for runtimes
/// whose stream types do not give out a `&std::os::unix::net::UnixStream`).
pub fn finish_connect_fd(stream: &impl AsFd, address: &UnixAddress) -> io::Result<()> {
    let result = match SockRef::from(stream).take_error() {
        Ok(Some(e)) | Err(e) => Err(e),
        Ok(None) => Ok(()),
    };
    result.map_err(|e| crate::error::context(e, format_args!("cannot connect to unix:{address}")))
}

/// The strports address of a std UNIX socket address.
pub fn address(addr: &std::os::unix::net::SocketAddr) -> Address {
    if let Some(path) = addr.as_pathname() {
        return Address::Unix(Some(UnixAddress::Path(path.to_owned())));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        if let Some(name) = addr.as_abstract_name() {
            return Address::Unix(Some(UnixAddress::Abstract(
                String::from_utf8_lossy(name).into_owned(),
            )));
        }
    }
    Address::Unix(None)
}

/// Accepts one connection on a non-blocking UNIX listener (see
/// [`crate::tcp::accept_raw`]), with the peer's address.
pub fn accept(listener: &UnixListener) -> io::Result<(UnixStream, Address)> {
    let (fd, addr) = crate::tcp::accept_raw(listener)?;
    let peer = match addr.as_unix() {
        Some(addr) => address(&addr),
        None => Address::Unix(None),
    };
    Ok((UnixStream::from(fd), peer))
}
