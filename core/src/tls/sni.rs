//! `tls:` servers: certificates from a directory of PEM files, chosen by SNI.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::error::TlsMaterialError;
use super::pem::{CertInfo, LoadedKey, PemFile, cert_info, load_key, sections};
use super::server::server_config;

/// Where a [`SniResolver`] gets its PEM files, and the time: the I/O and the clock it
/// needs, supplied by the caller (`strports-sys` reads the directory; tests use memory).
pub trait CertDirectory: fmt::Debug + Send + Sync {
    /// Every `*.pem` file now in the directory, recursively, with its contents. A
    /// missing directory is no files (as in Twisted), not an error.
    fn scan(&self) -> io::Result<Vec<PemFile>>;

    /// The current time, for rate-limiting rescans. Only differences matter.
    fn now(&self) -> Instant;

    /// Runs `rescan` (a [`scan`](CertDirectory::scan) of this source and the index
    /// built from it) for a handshake that asked for a name no certificate has. The
    /// handshake goes on at once with the certificates of before; handshakes that
    /// start after `rescan` finished see the new ones.
    ///
    /// The default runs `rescan` right away on the calling thread, which is right for
    /// a source without I/O (in memory, in tests): the asking handshake then finds a
    /// certificate it added. A source that reads files runs it elsewhere, so that no
    /// handshake, and no async runtime thread under it, waits for the disk:
    /// `strports-sys`' directory runs it on a thread of its own. Dropping `rescan`
    /// unrun (a thread that could not be started) is allowed: the next unknown name
    /// may then try again.
    fn spawn_rescan(&self, rescan: Box<dyn FnOnce() + Send>) {
        rescan();
    }
}

/// The shortest time between two rescans triggered by unknown names: one second.
pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(1);

/// The certificates of one scan, indexed by name.
#[derive(Debug, Default)]
struct CertSet {
    /// Lowercase DNS name or `*.suffix` wildcard → certificate chain and key.
    names: HashMap<String, Arc<CertifiedKey>>,
    /// The first certificate loaded that has a key: used without SNI, and when the
    /// name is unknown (the client then reports a host-name mismatch).
    default: Option<Arc<CertifiedKey>>,
    /// How many files, certificates and keys the scan found.
    counts: ScanCounts,
}

/// What the last scan of a [`SniResolver`]'s directory found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCounts {
    /// `*.pem` files read.
    pub pem_files: usize,
    /// Certificates in them.
    pub certificates: usize,
    /// Private keys in them.
    pub private_keys: usize,
    /// Certificates served: those whose key was found.
    pub served: usize,
}

impl CertSet {
    fn build(
        mut files: Vec<PemFile>,
        provider: &CryptoProvider,
    ) -> Result<CertSet, TlsMaterialError> {
        // A stable order makes "the first certificate" (the default) well defined.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut certs: Vec<CertInfo> = Vec::new();
        let mut keys: Vec<LoadedKey> = Vec::new();
        for file in &files {
            let s = sections(file)?;
            for cert in s.certs {
                certs.push(cert_info(&file.path, cert)?);
            }
            for key in &s.keys {
                keys.push(load_key(&file.path, key, provider)?);
            }
        }
        let key_for = |c: &CertInfo| {
            keys.iter()
                .find(|k| k.spki.as_deref() == Some(c.spki.as_slice()))
                .map(|k| k.key.clone())
        };
        let paired: Vec<bool> = certs.iter().map(|c| key_for(c).is_some()).collect();
        let mut set = CertSet {
            counts: ScanCounts {
                pem_files: files.len(),
                certificates: certs.len(),
                private_keys: keys.len(),
                served: 0,
            },
            ..CertSet::default()
        };
        for cert in &certs {
            let Some(key) = key_for(cert) else { continue };
            set.counts.served += 1;
            let chain = chain_for(cert, &certs, &paired);
            let certified = Arc::new(CertifiedKey::new(chain, key));
            if set.default.is_none() {
                set.default = Some(certified.clone());
            }
            for name in &cert.dns_names {
                set.names
                    .entry(name.clone())
                    .or_insert_with(|| certified.clone());
            }
        }
        Ok(set)
    }

    /// The certificate for `name`: an exact match, else the name with its first label
    /// replaced by `*`.
    fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.names.get(&name) {
            return Some(k.clone());
        }
        let (_, parent) = name.split_once('.')?;
        self.names.get(&format!("*.{parent}")).cloned()
    }
}

/// `leaf` followed by the unpaired certificates that issued it, by issuer name, up to
/// (not including) a self-signed root.
fn chain_for(
    leaf: &CertInfo,
    certs: &[CertInfo],
    paired: &[bool],
) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    let mut chain = vec![leaf.der.clone()];
    let mut current = leaf;
    // Bounded: a chain longer than this is a loop or nonsense.
    for _ in 0..8 {
        if current.issuer == current.subject {
            break;
        }
        let next = certs.iter().zip(paired).find(|(c, paired)| {
            !**paired
                && c.subject == current.issuer
                && c.issuer != c.subject
                && !chain.iter().any(|d| d.as_ref() == c.der.as_ref())
        });
        let Some((next, _)) = next else { break };
        chain.push(next.der.clone());
        current = next;
    }
    chain
}

/// Chooses a `tls:` server's certificate by SNI from a directory of PEM files, as
/// Twisted's `tls:` server endpoint does.
///
/// * Every `*.pem` file is split into certificates and private keys; keys are paired
///   with certificates by public key; each pair is served for the DNS names (exact
///   and `*.` wildcards) of its certificate's subjectAltName extension.
/// * Certificates without a key are chain intermediates: each pair's chain is built
///   by following issuer names through them (self-signed roots are not sent).
/// * Without SNI, or for a name no certificate has, the first certificate loaded is
///   served (files in path order, sections in file order); the client then reports a
///   host-name mismatch if it is not valid for its name.
/// * An unknown name triggers a rescan of the directory, so certificates added while
///   the server runs are picked up.
///
/// **Rescan policy.** Twisted rescans on every miss, inside the handshake, so a client
/// sending random names makes the server read the directory on every handshake, on
/// the thread serving it. Here a miss rescans only if the last miss-triggered rescan
/// started at least the rescan interval ([`DEFAULT_RESCAN_INTERVAL`], one second)
/// ago, and only one rescan runs at a time. A flood of unknown names costs at most
/// one directory scan per interval.
///
/// **Off the handshake.** rustls resolves certificates synchronously, inside the
/// handshake, so the scan is handed to the source
/// ([`CertDirectory::spawn_rescan`]): a directory on disk (`strports-sys`) scans on a
/// thread of its own, and [`resolve`](ResolvesServerCert::resolve) answers at once
/// with the certificates of before (for a new name, the default certificate). The
/// strports `tls:` server therefore reads the ClientHello first and, for a name it
/// does not [`know`](SniResolver::knows), starts the rescan and waits for it
/// ([`is_rescanning`](SniResolver::is_rescanning)) asynchronously before choosing
/// the certificate: the asking handshake gets the new certificate, other handshakes
/// go on, and no async runtime thread is blocked by a scan. A source without I/O
/// rescans at once.
///
/// If a rescan fails (unreadable file, bad PEM), the previous certificates stay in
/// use and the error is kept for [`SniResolver::last_rescan_error`].
pub struct SniResolver {
    /// What a rescan, running elsewhere, shares with the resolver.
    shared: Arc<Shared>,
    /// When the last miss-triggered rescan started.
    last_rescan: Mutex<Option<Instant>>,
    interval: Duration,
}

/// The parts of a [`SniResolver`] a rescan needs, wherever it runs.
struct Shared {
    source: Box<dyn CertDirectory>,
    provider: Arc<CryptoProvider>,
    set: RwLock<Arc<CertSet>>,
    /// A miss-triggered rescan was handed to the source and has not ended.
    rescanning: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn current(&self) -> Arc<CertSet> {
        match self.set.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn rescan(&self) -> io::Result<()> {
        let set = CertSet::build(self.source.scan()?, &self.provider)?;
        match self.set.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(())
    }
}

/// Ends a miss-triggered rescan when dropped: after it ran, or if it was dropped
/// unrun (or panicked), so that a later miss can rescan again.
struct RescanRunning(Arc<Shared>);

impl Drop for RescanRunning {
    fn drop(&mut self) {
        self.0.rescanning.store(false, Ordering::Release);
    }
}

impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.current();
        let mut names: Vec<&String> = set.names.keys().collect();
        names.sort();
        f.debug_struct("SniResolver")
            .field("source", &self.shared.source)
            .field("names", &names)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl SniResolver {
    /// Scans `source` once and indexes its certificates. Fails if the scan fails or a
    /// file holds bad material (the [`TlsMaterialError`] is the inner error).
    pub fn new(source: Box<dyn CertDirectory>, provider: Arc<CryptoProvider>) -> io::Result<Self> {
        let set = CertSet::build(source.scan()?, &provider)?;
        Ok(SniResolver {
            shared: Arc::new(Shared {
                source,
                provider,
                set: RwLock::new(Arc::new(set)),
                rescanning: AtomicBool::new(false),
                last_error: Mutex::new(None),
            }),
            last_rescan: Mutex::new(None),
            interval: DEFAULT_RESCAN_INTERVAL,
        })
    }

    /// The same, with another shortest interval between miss-triggered rescans
    /// (`Duration::ZERO` rescans on every miss, as Twisted does).
    pub fn with_rescan_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    fn current(&self) -> Arc<CertSet> {
        self.shared.current()
    }

    /// Rescans the directory now, on the calling thread (it blocks while the source
    /// reads), and replaces the certificates on success; on failure the old ones stay.
    pub fn rescan(&self) -> io::Result<()> {
        self.shared.rescan()
    }

    /// The error of the last failed miss-triggered rescan, if the last one failed.
    pub fn last_rescan_error(&self) -> Option<String> {
        self.shared.last_error.lock().ok().and_then(|g| g.clone())
    }

    /// Whether a miss-triggered rescan was handed to the source and has not ended.
    pub fn is_rescanning(&self) -> bool {
        self.shared.rescanning.load(Ordering::Acquire)
    }

    /// What the last successful scan found; `served` is 0 when the directory has no
    /// certificate with its key (every handshake would then fail).
    pub fn counts(&self) -> ScanCounts {
        self.current().counts
    }

    /// Whether `server_name` has a certificate of its own now (an exact name or a
    /// wildcard; the default certificate does not count). Never starts a rescan.
    pub fn knows(&self, server_name: &str) -> bool {
        self.current().lookup(server_name).is_some()
    }

    /// The DNS names (and wildcards) currently served, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.current().names.keys().cloned().collect();
        names.sort();
        names
    }

    /// Hands a rescan to the source ([`CertDirectory::spawn_rescan`]) if the policy
    /// allows one now: none running, and the interval passed since the last one
    /// started. Never waits for it.
    fn rescan_on_miss(&self) {
        let now = self.shared.source.now();
        {
            let mut last = match self.last_rescan.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.is_some_and(|t| now.saturating_duration_since(t) < self.interval) {
                return;
            }
            if self.shared.rescanning.swap(true, Ordering::AcqRel) {
                return; // one at a time
            }
            *last = Some(now);
        }
        let running = RescanRunning(self.shared.clone());
        self.shared.source.spawn_rescan(Box::new(move || {
            let shared = running.0.clone();
            let result = shared.rescan();
            if let Ok(mut e) = shared.last_error.lock() {
                *e = result.as_ref().err().map(ToString::to_string);
            }
            drop(running);
        }));
    }

    /// The certificate chain and key served for `server_name` (the client's SNI, or
    /// `None` without one), following the lookup and rescan rules above: an unknown
    /// name may start a rescan, and gets what the rescan found only if the source ran
    /// it at once; otherwise the default certificate. Never does I/O itself. `None`
    /// only when the directory has no certificate with a key.
    pub fn certified_key_for(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let set = self.current();
        let Some(name) = server_name else {
            return set.default.clone();
        };
        if let Some(k) = set.lookup(name) {
            return Some(k);
        }
        self.rescan_on_miss();
        // A source that rescans at once has the new certificates now.
        let set = self.current();
        set.lookup(name).or_else(|| set.default.clone())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.certified_key_for(client_hello.server_name())
    }
}

/// The config of a `tls:` server: certificates by SNI from `resolver` (see
/// [`SniResolver`]), TLS 1.2 and 1.3, and `alpn`.
pub fn tls_server_config(
    resolver: Arc<SniResolver>,
    alpn: Vec<Vec<u8>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsMaterialError> {
    server_config(resolver, None, alpn, None, provider)
}
