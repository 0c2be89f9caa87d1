//! The identity of files on disk, read with `stat` alone (never the contents): to
//! tell whether a file a config was built from may have changed since.
//!
//! An identity is the device, inode, type, size, modification time and status-change
//! time (`ctime`, which no one can set back: rewriting a file in place with the same
//! size and restoring its mtime still changes it). A file replaced by a rename has a
//! new inode; one edited in place a new mtime and ctime; a file added to or removed
//! from a directory changes the directory's mtime.
//!
//! Timestamps are coarse (a kernel tick, a second on some filesystems), so a file
//! changed again within the tick of its identity being taken can keep the same
//! identity ("racy git"). [`FileIds`] therefore vouches for nothing whose mtime or
//! ctime was less than [`FileIds::RACY_WINDOW`] old when it was taken.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What `stat` says about one path (following symlinks), or that it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    mode: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    /// Whether the mtime or the ctime is after `t` (seconds and nanoseconds since
    /// the epoch).
    fn changed_after(&self, t: (i64, i64)) -> bool {
        self.mtime > t || self.ctime > t
    }

    /// The identity of `path` (symlinks followed), or `None` if it cannot be
    /// stat'ed (missing, dangling link, no permission): a path that comes or goes
    /// is a change too. One `statx`; reads nothing.
    pub fn of(path: &Path) -> Option<FileId> {
        let m = fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The identities of a set of paths, taken together: [`FileIds::unchanged`] says
/// whether none of them changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIds {
    ids: Vec<(PathBuf, Option<FileId>)>,
    /// A path had changed less than the racy window before its identity was taken.
    recent: bool,
    window: Duration,
}

impl Default for FileIds {
    fn default() -> Self {
        FileIds::new()
    }
}

impl FileIds {
    /// How old a file's last change must be, when its identity is taken, for the
    /// identity to vouch for its contents: two seconds (timestamps are per second on
    /// some filesystems).
    pub const RACY_WINDOW: Duration = Duration::from_secs(2);

    /// No paths.
    pub fn new() -> FileIds {
        FileIds {
            ids: Vec::new(),
            recent: false,
            window: Self::RACY_WINDOW,
        }
    }

    /// Adds `path` with its identity now.
    pub fn push(&mut self, path: &Path) {
        let id = FileId::of(path);
        if let Some(id) = &id {
            let limit = SystemTime::now()
                .checked_sub(self.window)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or((0, 0), |d| {
                    (
                        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                        i64::from(d.subsec_nanos()),
                    )
                });
            self.recent |= id.changed_after(limit);
        }
        self.ids.push((path.to_owned(), id));
    }

    /// Adds a `caCertsDir` / `trustRoots` directory: the directory itself (entries
    /// added, removed or renamed change its mtime) and every `*.pem` entry in it,
    /// whatever it is (files edited in place, symlinks retargeted elsewhere). Lists
    /// the directory (no file is opened); an unlistable directory is recorded as
    /// it is.
    pub fn push_pem_dir(&mut self, dir: &Path) {
        self.push(dir);
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut pems: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| has_pem_extension(p))
            .collect();
        pems.sort();
        for p in pems {
            self.push(&p);
        }
    }

    /// How many paths.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether every path is known to be unchanged: false if one had changed
    /// within [`FileIds::RACY_WINDOW`] of its identity being taken (its identity
    /// may not tell a later change), else whether each still has the identity
    /// recorded (one `stat` per path, stopping at the first change).
    pub fn unchanged(&self) -> bool {
        !self.recent && self.ids.iter().all(|(p, id)| FileId::of(p) == *id)
    }
}

/// The rule of [`crate::tls::ca_dir_files`]: extension `pem`, any case.
fn has_pem_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Identities that vouch for files changed just now (the tests sleep between
    /// changes longer than a timestamp tick).
    fn fresh() -> FileIds {
        FileIds {
            window: Duration::ZERO,
            ..FileIds::new()
        }
    }

    #[test]
    fn a_file_changed_within_the_window_is_never_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = FileIds::new();
        ids.push(dir.path());
        assert!(!ids.unchanged());
        let mut old = FileIds::new();
        old.push(Path::new("/"));
        old.push(Path::new("/no/such/file"));
        assert!(old.unchanged());
    }

    #[test]
    fn edits_renames_and_new_entries_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.pem");
        fs::write(&a, "one").unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let mut ids = fresh();
        ids.push_pem_dir(dir.path());
        assert_eq!(ids.len(), 2);
        assert!(ids.unchanged());

        // Same size, mtime put back: the ctime still moves.
        let mtime = fs::metadata(&a).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&a, "two").unwrap();
        fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(!ids.unchanged());

        let mut ids = fresh();
        ids.push_pem_dir(dir.path());
        assert!(ids.unchanged());
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.path().join("b.PEM"), "three").unwrap();
        assert!(!ids.unchanged());

        let mut ids = fresh();
        ids.push_pem_dir(dir.path());
        let tmp = dir.path().join("a.tmp");
        fs::write(&tmp, "two").unwrap();
        let mut after = fresh();
        after.push(&a);
        fs::rename(&tmp, &a).unwrap();
        assert!(!ids.unchanged());
        assert!(!after.unchanged());
    }

    #[test]
    fn a_missing_path_is_recorded_and_its_arrival_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        let mut ids = fresh();
        ids.push(&p);
        assert!(ids.unchanged());
        fs::write(&p, "k").unwrap();
        assert!(!ids.unchanged());
    }
}
