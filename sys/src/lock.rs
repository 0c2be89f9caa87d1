//! Lock files compatible with Twisted's `FilesystemLock`: a symbolic link whose
//! target is the owner's process id. A lock whose owner no longer runs is stale and
//! may be broken. Twisted and strports processes see each other's locks.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A held lock file; released (removed) on drop if it still names this process.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    pid: u32,
    clean: bool,
}

/// Who holds a lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the file does not exist.
    None,
    /// A live process.
    Live(u32),
    /// A process that no longer exists (or an unreadable lock).
    Stale,
}

impl LockFile {
    /// Takes the lock at `path`, breaking a stale one. Fails with
    /// [`io::ErrorKind::AddrInUse`] if a live process holds it.
    pub fn acquire(path: &Path) -> io::Result<LockFile> {
        LockFile::acquire_checked(path, || Ok(()))
    }

    /// [`acquire`](LockFile::acquire), calling `before_breaking` each time a stale
    /// lock is about to be broken: if it fails, the lock is left as it is and its
    /// error returned (a UNIX server checks there that no live server still answers
    /// on the socket path the stale lock guards).
    pub fn acquire_checked(
        path: &Path,
        mut before_breaking: impl FnMut() -> io::Result<()>,
    ) -> io::Result<LockFile> {
        let pid = std::process::id();
        let mut clean = true;
        // A few rounds: another process may break or take the lock between our steps.
        for _ in 0..5 {
            match symlink(pid.to_string(), path) {
                Ok(()) => {
                    return Ok(LockFile {
                        path: path.to_owned(),
                        pid,
                        clean,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match holder(path)? {
                    Holder::Live(owner) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!(
                                "address in use: lock file {} is held by running process {owner}",
                                path.display()
                            ),
                        ));
                    }
                    Holder::Stale => {
                        before_breaking()?;
                        clean = false;
                        match fs::remove_file(path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(crate::error::context(
                                    e,
                                    format_args!("cannot remove stale lock {}", path.display()),
                                ));
                            }
                        }
                    }
                    Holder::None => {}
                },
                Err(e) => {
                    return Err(crate::error::context(
                        e,
                        format_args!("cannot create lock file {}", path.display()),
                    ));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "address in use: lock file {} keeps changing hands",
                path.display()
            ),
        ))
    }

    /// Whether the lock was free (not broken from a dead owner) when taken.
    pub fn was_clean(&self) -> bool {
        self.clean
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        if let Ok(target) = fs::read_link(&self.path) {
            if target.as_os_str() == self.pid.to_string().as_str() {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Who holds the lock file at `path`.
pub fn holder(path: &Path) -> io::Result<Holder> {
    let target = match fs::read_link(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Holder::None),
        // Not a symlink (EINVAL): not a lock we understand; treat as stale like Twisted.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(Holder::Stale),
        Err(e) => {
            return Err(crate::error::context(
                e,
                format_args!("cannot read lock file {}", path.display()),
            ));
        }
    };
    let Some(pid) = target.to_str().and_then(|s| s.parse::<u32>().ok()) else {
        return Ok(Holder::Stale);
    };
    Ok(if process_alive(pid) {
        Holder::Live(pid)
    } else {
        Holder::Stale
    })
}

/// Whether a process with this id exists (`kill(pid, 0)`; EPERM means it exists).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `<path>.lock`, the lock file of a UNIX socket path.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut s = socket.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_release_and_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let lock = LockFile::acquire(&path).unwrap();
        assert!(lock.was_clean());
        assert_eq!(holder(&path).unwrap(), Holder::Live(std::process::id()));
        let again = LockFile::acquire(&path).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        assert!(again.to_string().contains("held by running process"));
        drop(lock);
        assert_eq!(holder(&path).unwrap(), Holder::None);
        // A lock naming a dead process is stale and is broken.
        symlink("999999999", &path).unwrap();
        assert_eq!(holder(&path).unwrap(), Holder::Stale);
        let lock = LockFile::acquire(&path).unwrap();
        assert!(!lock.was_clean());
    }
}
