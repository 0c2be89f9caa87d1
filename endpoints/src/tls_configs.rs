//! The process-wide cache of client TLS configs, for connects without a [`Client`]
//! of their own (the free `connect`, `Connector::connect`, a `tls:` client's nested
//! `endpoint=`) and for a `Client`'s first connect.
//!
//! An entry is keyed by everything of the description that goes into the config
//! (the type, the name verified, the trust roots directory, the client certificate
//! and key paths, the ALPN list) and remembers the identity ([`FileIds`]: device,
//! inode, size, mtime, ctime) of every file it was built from: the trust roots
//! directory and each `*.pem` entry in it, the certificate and key files. A lookup
//! that finds the entry checks those identities with `stat` alone; if one changed,
//! or an entry's files had changed within [`FileIds::RACY_WINDOW`] of it being built,
//! the config is built again (on the blocking pool, as before) and replaces the
//! entry. Platform roots (no directory named) are loaded once per process by
//! `strports-sys` and checked by nothing here. Failed builds are not kept. At most
//! [`CAPACITY`] entries, least recently used out first.
//!
//! The identity check runs on the async thread when it is at most
//! [`INLINE_STATS`] `stat` calls (about a microsecond each on a local filesystem,
//! less than the thread hop to the blocking pool and back), else on the blocking
//! pool.
//!
//! [`Client`]: crate::Client

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use strports_core::tls::default_provider;
use strports_core::{ClientDescription, SslClient, TlsClient};
use strports_sys::file_id::FileIds;
use strports_sys::tls::ClientTls;

use crate::runtime::Runtime;

/// The most configs kept.
pub(crate) const CAPACITY: usize = 64;

/// The most `stat` calls made on the async thread; more go to the blocking pool.
pub(crate) const INLINE_STATS: usize = 8;

/// Configs built (cache misses), for tests.
static BUILDS: AtomicU64 = AtomicU64::new(0);

/// Entries, most recently used first.
static CACHE: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

/// How many client TLS configs this process has built for lookups in the cache
/// (each one read its files).
pub(crate) fn builds() -> u64 {
    BUILDS.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ssl,
    Tls,
}

/// What of a description goes into its client config, borrowed from it.
#[derive(Debug, Clone, Copy)]
struct Params<'a> {
    kind: Kind,
    name: &'a str,
    roots: Option<&'a Path>,
    cert: Option<&'a Path>,
    key: Option<&'a Path>,
    alpn: &'a [String],
}

/// [`Params`], owned: an entry's key.
#[derive(Debug)]
struct Key {
    kind: Kind,
    name: String,
    roots: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    alpn: Vec<String>,
}

impl<'a> Params<'a> {
    /// The parameters of an `ssl:` or `tls:` client. The destructuring is
    /// exhaustive on purpose: a field added to the descriptions must be sorted
    /// here into the key or the transport.
    fn of(desc: &'a ClientDescription) -> Option<Params<'a>> {
        match desc {
            ClientDescription::Ssl(
                ssl @ SslClient {
                    tcp: _,
                    hostname: _,
                    cert_key,
                    private_key,
                    ca_certs_dir,
                    alpn,
                },
            ) => Some(Params {
                kind: Kind::Ssl,
                name: ssl.verification_name(),
                roots: ca_certs_dir.as_deref(),
                cert: cert_key.as_deref(),
                key: private_key.as_deref(),
                alpn,
            }),
            ClientDescription::Tls(TlsClient {
                host,
                port: _,
                timeout: _,
                bind_address: _,
                certificate,
                private_key,
                trust_roots,
                endpoint: _,
                alpn,
            }) => Some(Params {
                kind: Kind::Tls,
                name: host,
                roots: trust_roots.as_deref(),
                cert: certificate.as_deref(),
                key: private_key.as_deref(),
                alpn,
            }),
            _ => None,
        }
    }

    fn is(&self, key: &Key) -> bool {
        self.kind == key.kind
            && self.name == key.name
            && self.roots == key.roots.as_deref()
            && self.cert == key.cert.as_deref()
            && self.key == key.key.as_deref()
            && self.alpn == key.alpn.as_slice()
    }

    fn to_key(self) -> Key {
        Key {
            kind: self.kind,
            name: self.name.to_owned(),
            roots: self.roots.map(Path::to_owned),
            cert: self.cert.map(Path::to_owned),
            key: self.key.map(Path::to_owned),
            alpn: self.alpn.to_vec(),
        }
    }

    /// The identities of the files the config is built from, now (blocks: stats).
    fn files(&self) -> FileIds {
        let mut ids = FileIds::new();
        if let Some(dir) = self.roots {
            ids.push_pem_dir(dir);
        }
        for path in [self.cert, self.key].into_iter().flatten() {
            ids.push(path);
        }
        ids
    }
}

struct Entry {
    key: Key,
    files: FileIds,
    tls: Arc<ClientTls>,
}

fn lock() -> MutexGuard<'static, Vec<Arc<Entry>>> {
    // Entries are replaced whole: a panic elsewhere leaves the list consistent.
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The entry for `params`, moved to the front.
fn find(params: &Params<'_>) -> Option<Arc<Entry>> {
    let mut entries = lock();
    let i = entries.iter().position(|e| params.is(&e.key))?;
    let entry = entries.remove(i);
    entries.insert(0, entry.clone());
    Some(entry)
}

/// Keeps `entry` in front, in place of any entry with its key.
fn insert(entry: Arc<Entry>) {
    let mut entries = lock();
    entries.retain(|e| !Params::of_key(&e.key).is(&entry.key));
    entries.insert(0, entry);
    entries.truncate(CAPACITY);
}

impl Params<'_> {
    fn of_key(key: &Key) -> Params<'_> {
        Params {
            kind: key.kind,
            name: &key.name,
            roots: key.roots.as_deref(),
            cert: key.cert.as_deref(),
            key: key.key.as_deref(),
            alpn: &key.alpn,
        }
    }
}

/// The client TLS config of an `ssl:` or `tls:` description: the cached one if its
/// files are unchanged, else built now on the blocking pool and cached.
pub(crate) async fn client_tls<R: Runtime>(desc: &ClientDescription) -> io::Result<Arc<ClientTls>> {
    let Some(params) = Params::of(desc) else {
        // Not TLS: the builder gives the error.
        return Ok(Arc::new(strports_sys::tls::client_tls(
            desc,
            default_provider(),
        )?));
    };
    if let Some(entry) = find(&params) {
        let unchanged = if entry.files.len() <= INLINE_STATS {
            entry.files.unchanged()
        } else {
            let entry = entry.clone();
            R::unblock(move || entry.files.unchanged()).await?
        };
        if unchanged {
            return Ok(entry.tls.clone());
        }
    }
    let key = params.to_key();
    let owned = desc.clone();
    let entry = R::unblock(move || {
        BUILDS.fetch_add(1, Ordering::Relaxed);
        // Identities first: a file changed during the build makes the entry stale,
        // never a stale config look fresh.
        let files = Params::of_key(&key).files();
        let tls = strports_sys::tls::client_tls(&owned, default_provider())?;
        Ok::<_, io::Error>(Arc::new(Entry {
            key,
            files,
            tls: Arc::new(tls),
        }))
    })
    .await??;
    let tls = entry.tls.clone();
    insert(entry);
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params_key(s: &str) -> Key {
        let desc: ClientDescription = s.parse().unwrap();
        Params::of(&desc).unwrap().to_key()
    }

    fn same(a: &str, b: &str) -> bool {
        let desc: ClientDescription = a.parse().unwrap();
        Params::of(&desc).unwrap().is(&params_key(b))
    }

    #[test]
    fn the_key_is_what_goes_into_the_config() {
        // Transport fields are not part of it.
        assert!(same(
            "ssl:example.com:443:caCertsDir=/ca",
            "ssl:example.com:8443:caCertsDir=/ca:timeout=3:bindAddress=127.0.0.1"
        ));
        assert!(same(
            "tls:example.com:443:trustRoots=/ca",
            r"tls:example.com:1:trustRoots=/ca:endpoint=unix\:/x.sock"
        ));
        // The verified name is.
        assert!(same(
            "ssl:127.0.0.1:443:hostname=example.com",
            "ssl:127.0.0.2:443:hostname=example.com"
        ));
        assert!(!same("ssl:a.example:443", "ssl:b.example:443"));
        assert!(!same(
            "ssl:example.com:443:hostname=a.example",
            "ssl:example.com:443:hostname=b.example"
        ));
        // So are the files, ALPN (in order) and the type.
        assert!(!same(
            "ssl:example.com:443:caCertsDir=/a",
            "ssl:example.com:443:caCertsDir=/b"
        ));
        assert!(!same(
            "ssl:example.com:443",
            "ssl:example.com:443:caCertsDir=/a"
        ));
        assert!(!same(
            "ssl:example.com:443:certKey=/c.pem",
            "ssl:example.com:443:certKey=/c.pem:privateKey=/k.pem"
        ));
        assert!(!same(
            "tls:example.com:443:certificate=/c.pem",
            "tls:example.com:443:certificate=/d.pem"
        ));
        assert!(!same(
            "ssl:example.com:443:alpn=h2,http/1.1",
            "ssl:example.com:443:alpn=http/1.1,h2"
        ));
        assert!(!same("ssl:example.com:443", "tls:example.com:443"));
        assert!(Params::of(&"tcp:example.com:80".parse().unwrap()).is_none());
    }
}
