//! The file side of TLS endpoints (feature `tls`): reads the PEM files and directories
//! that `ssl:` and `tls:` descriptions name, loads the platform's trust roots, and
//! builds the rustls configs with `strports_core::tls`.
//!
//! Everything here blocks (file reads, directory walks); backends call it when they
//! open an endpoint, once per endpoint, never per connection. Errors name the file:
//! `cannot read private key file "key.pem": no such file or directory`.
//!
//! ```no_run
//! use strports_core::{ClientDescription, tls::default_provider};
//! let ClientDescription::Tls(desc) = "tls:example.com:443".parse().unwrap() else { panic!() };
//! let client = strports_sys::tls::tls_client_config(&desc, default_provider())?;
//! // connector = TlsConnector::from(client.config); connector.connect(client.server_name, tcp)
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strports_core::tls::rustls::crypto::CryptoProvider;
use strports_core::tls::rustls::pki_types::ServerName;
use strports_core::tls::rustls::sign::CertifiedKey;
use strports_core::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use strports_core::tls::{self, CertDirectory, PemFile, SniResolver, SslServerFiles};
use strports_core::{
    ClientDescription, ServerDescription, SslClient, SslServer, TcpServer, TlsClient, TlsServer,
};

use crate::tcp::TypeNames;

/// An io error's text without the `" (os error N)"` suffix std adds.
fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    let s = match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => &s[..i],
        _ => &s[..],
    };
    // Messages start in lower case: `No such file...` from the OS reads `no such file`.
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => first
            .to_lowercase()
            .chain(s[first.len_utf8()..].chars())
            .collect(),
        _ => s.to_owned(),
    }
}

/// Reads one PEM file; `what` says what it should hold, for the error message:
/// `cannot read <what> file "<path>": <reason>`.
pub fn read_pem(path: &Path, what: &str) -> io::Result<PemFile> {
    match fs::read(path) {
        Ok(contents) => Ok(PemFile::new(path, contents)),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!(
                "cannot read {what} file \"{}\": {}",
                path.display(),
                reason(&e)
            ),
        )),
    }
}

fn has_pem_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pem"))
}

/// The `*.pem` files directly in `dir` (a `caCertsDir` / `trustRoots` directory), by
/// name: the extension is matched case-insensitively, subdirectories are not entered,
/// and entries that are not regular files (directories, dangling symlinks) are skipped.
/// A directory that cannot be listed, or a file that cannot be read, is an error naming
/// it.
pub fn ca_dir_files(dir: &Path) -> io::Result<Vec<PemFile>> {
    let list_error = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot list trust roots directory \"{}\": {}",
                dir.display(),
                reason(&e)
            ),
        )
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let path = entry.map_err(list_error)?.path();
        if has_pem_extension(&path) && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| read_pem(p, "trust root")).collect()
}

/// The trust roots of a `caCertsDir` / `trustRoots` directory (see
/// [`tls::trust_roots`] for the rules).
pub fn dir_roots(dir: &Path) -> io::Result<Arc<RootCertStore>> {
    Ok(Arc::new(tls::trust_roots(dir, &ca_dir_files(dir)?)?))
}

/// The platform's trust roots, loaded with `rustls-native-certs` (which also honours
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`) the first time and shared afterwards.
/// Certificates rustls cannot use are skipped; an error if none load.
pub fn platform_roots() -> io::Result<Arc<RootCertStore>> {
    static ROOTS: Mutex<Option<Arc<RootCertStore>>> = Mutex::new(None);
    let mut cached = ROOTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(roots) = &*cached {
        return Ok(roots.clone());
    }
    let loaded = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _unusable) = store.add_parsable_certificates(loaded.certs);
    if added == 0 {
        let why: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no trust roots: no certificate could be loaded from the platform's trust store{}{} (name a directory with caCertsDir= or trustRoots=)",
                if why.is_empty() { "" } else { ": " },
                why.join("; ")
            ),
        ));
    }
    let store = Arc::new(store);
    *cached = Some(store.clone());
    Ok(store)
}

/// A client certificate from `certificate` and optional `private_key` files (the key
/// defaults to the certificate file).
fn client_cert(
    certificate: Option<&Path>,
    private_key: Option<&Path>,
    provider: &CryptoProvider,
) -> io::Result<Option<Arc<CertifiedKey>>> {
    let Some(cert_path) = certificate else {
        return Ok(None);
    };
    let cert = read_pem(cert_path, "certificate")?;
    let key = match private_key {
        Some(k) if k != cert_path => Some(read_pem(k, "private key")?),
        _ => None,
    };
    Ok(Some(tls::certified_key(
        &cert,
        key.as_ref(),
        None,
        provider,
    )?))
}

/// What a TLS client needs to connect: the config, and the name to verify (and send as
/// SNI unless it is an IP address).
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// Verification always on, trust roots, client certificate, ALPN.
    pub config: Arc<ClientConfig>,
    /// The name the server's certificate must be valid for.
    pub server_name: ServerName<'static>,
}

fn build_client_tls(
    name: &str,
    roots_dir: Option<&Path>,
    certificate: Option<&Path>,
    private_key: Option<&Path>,
    alpn: Vec<Vec<u8>>,
    provider: Arc<CryptoProvider>,
) -> io::Result<ClientTls> {
    let roots = match roots_dir {
        Some(dir) => dir_roots(dir)?,
        None => platform_roots()?,
    };
    let cert = client_cert(certificate, private_key, &provider)?;
    let server_name = tls::server_name(name)?;
    let config = tls::client_config(roots, cert, alpn, provider)?;
    Ok(ClientTls {
        config,
        server_name,
    })
}

/// The client TLS of an `ssl:` client: verified against `hostname` (default `host`),
/// roots from `caCertsDir` or the platform, client certificate from `certKey` (key
/// from `privateKey`, default the `certKey` file).
pub fn ssl_client_config(desc: &SslClient, provider: Arc<CryptoProvider>) -> io::Result<ClientTls> {
    build_client_tls(
        desc.verification_name(),
        desc.ca_certs_dir.as_deref(),
        desc.cert_key.as_deref(),
        desc.private_key.as_deref(),
        alpn_of(&desc.alpn),
        provider,
    )
}

/// The client TLS of a `tls:` client: verified against `host`, roots from
/// `trustRoots` or the platform, client certificate from `certificate` (key from
/// `privateKey`, default the `certificate` file). `endpoint=` is the backend's business.
pub fn tls_client_config(desc: &TlsClient, provider: Arc<CryptoProvider>) -> io::Result<ClientTls> {
    build_client_tls(
        &desc.host,
        desc.trust_roots.as_deref(),
        desc.certificate.as_deref(),
        desc.private_key.as_deref(),
        alpn_of(&desc.alpn),
        provider,
    )
}

/// The server config of an `ssl:` server: reads `certKey` (default `privateKey`), then
/// `privateKey` if it is another file, then `extraCertChain`; `dhParameters` is not
/// read (see [`tls::ssl_server_config`]).
pub fn ssl_server_config(
    desc: &SslServer,
    provider: Arc<CryptoProvider>,
) -> io::Result<Arc<ServerConfig>> {
    let cert_path = desc.cert_key_path();
    let cert_key = read_pem(cert_path, "certificate")?;
    let private_key = if desc.private_key.as_path() == cert_path {
        None
    } else {
        Some(read_pem(&desc.private_key, "private key")?)
    };
    let extra = match &desc.extra_cert_chain {
        Some(p) => Some(read_pem(p, "certificate chain")?),
        None => None,
    };
    let files = SslServerFiles {
        cert_key: &cert_key,
        private_key: private_key.as_ref(),
        extra_cert_chain: extra.as_ref(),
    };
    Ok(tls::ssl_server_config(
        files,
        desc.sslmethod,
        alpn_of(&desc.alpn),
        provider,
    )?)
}

/// A `tls:` server's certificate directory on disk, for [`SniResolver`].
#[derive(Debug, Clone)]
pub struct FsCertDirectory {
    root: PathBuf,
}

impl FsCertDirectory {
    /// The directory `root`, scanned recursively.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FsCertDirectory { root: root.into() }
    }

    fn walk(&self, dir: &Path, out: &mut Vec<PemFile>) -> io::Result<()> {
        let list_error = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot list certificate directory \"{}\": {}",
                    dir.display(),
                    reason(&e)
                ),
            )
        };
        for entry in fs::read_dir(dir).map_err(list_error)? {
            let entry = entry.map_err(list_error)?;
            let path = entry.path();
            // Symlinked directories are not followed (no loops); symlinked files are.
            if entry.file_type().map_err(list_error)?.is_dir() {
                self.walk(&path, out)?;
            } else if has_pem_extension(&path) && fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                out.push(read_pem(&path, "certificate")?);
            }
        }
        Ok(())
    }
}

impl CertDirectory for FsCertDirectory {
    /// Every `*.pem` regular file under the root, recursively; no files if the root does
    /// not exist (as in Twisted).
    fn scan(&self) -> io::Result<Vec<PemFile>> {
        let mut out = Vec::new();
        match fs::metadata(&self.root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            _ => self.walk(&self.root, &mut out)?,
        }
        Ok(out)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    /// Runs the rescan on a thread of its own, named [`RESCAN_THREAD`], so that the
    /// handshake that asked for an unknown name (and the async runtime thread under
    /// it) never waits for the directory to be read; the resolver runs at most one at
    /// a time. If no thread can be started, the rescan is skipped (logged); a later
    /// unknown name tries again.
    fn spawn_rescan(&self, rescan: Box<dyn FnOnce() + Send>) {
        let started = std::thread::Builder::new()
            .name(RESCAN_THREAD.to_owned())
            .spawn(rescan);
        if let Err(e) = started {
            tracing::warn!(
                directory = %self.root.display(),
                error = %e,
                "strports: cannot start a thread to rescan the certificate directory"
            );
        }
    }
}

/// The name of the thread on which an [`FsCertDirectory`] rescans, when a `tls:`
/// server's handshake asked for a name none of its certificates has.
pub const RESCAN_THREAD: &str = "strports-sni-rescan";

/// The server config of a `tls:` server: an [`SniResolver`] over the directory
/// `path` (scanned now, rescanned on a thread of its own when an unknown name is
/// asked for: see [`FsCertDirectory`]), TLS 1.2 and 1.3.
///
/// **Layout.** Every regular file under `path` (subdirectories too) whose name ends in
/// `.pem` is read; each may hold certificates and private keys (PEM `CERTIFICATE`,
/// `PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY` sections). A certificate is served
/// with the private key that matches it, from the same or another `.pem` file, so
/// `a.pem` with both, or `a.pem` + `a-key.pem`, work; files with other names (`a.key`,
/// `a.crt`) are not read.
///
/// Fails with [`TlsMaterialError::NoServerCertificate`](tls::TlsMaterialError) (kind
/// [`io::ErrorKind::InvalidData`]) when the directory yields no certificate with its
/// key, missing directory included, e.g. `no certificate with its private key in
/// "/etc/certs" (tls: server): the directory has no .pem file; a tls: server reads ...`;
/// the message names the files found and any not read.
pub fn tls_server_config(
    desc: &TlsServer,
    provider: Arc<CryptoProvider>,
) -> io::Result<Arc<ServerConfig>> {
    tls_server_tls(desc, provider).map(|tls| tls.config)
}

/// A server's TLS: its config and, for a `tls:` server, the resolver that picks its
/// certificate by SNI (a handshake asking for a name it does not know can wait for
/// the rescan it starts, off the runtime thread).
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The rustls config.
    pub config: Arc<ServerConfig>,
    /// The SNI resolver inside `config`, for `tls:` servers.
    pub sni: Option<Arc<SniResolver>>,
}

/// [`server_config`], with the SNI resolver of a `tls:` server. Blocking.
pub fn server_tls(
    desc: &ServerDescription,
    provider: Arc<CryptoProvider>,
) -> io::Result<ServerTls> {
    match desc {
        ServerDescription::Tls(s) => tls_server_tls(s, provider),
        other => Ok(ServerTls {
            config: server_config(other, provider)?,
            sni: None,
        }),
    }
}

/// [`tls_server_config`] with its resolver.
fn tls_server_tls(desc: &TlsServer, provider: Arc<CryptoProvider>) -> io::Result<ServerTls> {
    let resolver = SniResolver::new(Box::new(FsCertDirectory::new(&desc.path)), provider.clone())?;
    let counts = resolver.counts();
    if counts.served == 0 {
        return Err(tls::TlsMaterialError::NoServerCertificate {
            dir: desc.path.clone(),
            exists: fs::metadata(&desc.path).is_ok(),
            pem_files: counts.pem_files,
            certificates: counts.certificates,
            private_keys: counts.private_keys,
            not_read: not_pem_files(&desc.path, 5),
        }
        .into());
    }
    let resolver = Arc::new(resolver);
    let config = tls::tls_server_config(resolver.clone(), alpn_of(&desc.alpn), provider)?;
    Ok(ServerTls {
        config,
        sni: Some(resolver),
    })
}

/// Up to `limit` regular files under `dir` (recursively, as [`FsCertDirectory`] walks)
/// that are not read because their name does not end in `.pem`, sorted; unreadable
/// entries are skipped (this only adds detail to an error).
fn not_pem_files(dir: &Path, limit: usize) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, budget: &mut usize) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            // Bounded work on a huge tree.
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => walk(&path, out, budget),
                _ if !has_pem_extension(&path)
                    && fs::metadata(&path).is_ok_and(|m| m.is_file()) =>
                {
                    out.push(path)
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    let mut budget = 10_000;
    walk(dir, &mut out, &mut budget);
    out.sort();
    out.truncate(limit);
    out
}

/// The client TLS of an `ssl:` ([`ssl_client_config`]) or `tls:`
/// ([`tls_client_config`]) description; other types fail with
/// [`crate::error::unsupported`]. Blocking (it reads files).
pub fn client_tls(
    desc: &ClientDescription,
    provider: Arc<CryptoProvider>,
) -> io::Result<ClientTls> {
    match desc {
        ClientDescription::Ssl(c) => ssl_client_config(c, provider),
        ClientDescription::Tls(c) => tls_client_config(c, provider),
        other => Err(crate::error::unsupported(other.type_name())),
    }
}

/// The server config of an `ssl:` ([`ssl_server_config`]) or `tls:`
/// ([`tls_server_config`]) description; other types fail with
/// [`crate::error::unsupported`]. Blocking (it reads files).
pub fn server_config(
    desc: &ServerDescription,
    provider: Arc<CryptoProvider>,
) -> io::Result<Arc<ServerConfig>> {
    match desc {
        ServerDescription::Ssl(s) => ssl_server_config(s, provider),
        ServerDescription::Tls(s) => tls_server_config(s, provider),
        other => Err(crate::error::unsupported(other.type_name())),
    }
}

/// The raw TCP server under an `ssl:` or `tls:` server, and whether it listens on
/// IPv6: `ssl:` on IPv4 (as `tcp:`), `tls:` on IPv6 (as `tcp6:`). `None` for other
/// types.
///
/// ```
/// use strports_core::ServerDescription;
/// let desc: ServerDescription = "tls:/etc/certs:443".parse().unwrap();
/// let (tcp, ipv6) = strports_sys::tls::raw_server(&desc).unwrap();
/// assert_eq!((tcp.port, ipv6), (443, true));
/// ```
pub fn raw_server(desc: &ServerDescription) -> Option<(TcpServer, bool)> {
    let (port, interface, backlog, ipv6) = match desc {
        ServerDescription::Ssl(s) => (s.port, &s.interface, s.backlog, false),
        ServerDescription::Tls(s) => (s.port, &s.interface, s.backlog, true),
        _ => return None,
    };
    let tcp = TcpServer {
        port,
        interface: interface.clone(),
        backlog,
    };
    Some((tcp, ipv6))
}

/// Everything blocking an `ssl:` or `tls:` server needs before it accepts: its
/// config ([`server_config`], read first), then its listening socket
/// ([`raw_server`] through [`crate::tcp::listen_as`], messages naming `ssl`/`tls`).
/// Other types fail with [`crate::error::unsupported`]. Run it off the async threads; the
/// backend hands the listener to its runtime and runs the handshake per connection.
pub fn listen(
    desc: &ServerDescription,
    provider: Arc<CryptoProvider>,
) -> io::Result<(TcpListener, ServerTls)> {
    let Some((tcp, ipv6)) = raw_server(desc) else {
        return Err(crate::error::unsupported(desc.type_name()));
    };
    let config = server_tls(desc, provider)?;
    let raw = crate::tcp::listen_as(&tcp, ipv6, TypeNames::TLS)?;
    Ok((raw, config))
}

/// How long a server gives each connection to complete its TLS handshake unless told
/// otherwise: 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The error of a TLS handshake (server or client) not completed within `limit`:
/// kind [`io::ErrorKind::TimedOut`].
///
/// ```
/// let e = strports_sys::tls::handshake_timed_out(std::time::Duration::from_secs(10));
/// assert_eq!(e.to_string(), "tls handshake failed: not completed within 10s");
/// ```
pub fn handshake_timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("tls handshake failed: not completed within {limit:?}"),
    )
}

/// The result of a handshake run under the time limit `limit`, from what the
/// backend's timer gave: `None` if the limit ran out ([`handshake_timed_out`]),
/// else the handshake's own result, its error described by
/// [`tls::describe_handshake_error`].
pub fn handshake_outcome<S>(outcome: Option<io::Result<S>>, limit: Duration) -> io::Result<S> {
    match outcome {
        Some(Ok(s)) => Ok(s),
        Some(Err(e)) => Err(tls::describe_handshake_error(e)),
        None => Err(handshake_timed_out(limit)),
    }
}

/// A TLS error after the handshake (in TLS 1.3 a server refusing our client
/// certificate says so only then) described like handshake errors; other errors as
/// they are.
pub fn describe_tls_failure(e: io::Error) -> io::Error {
    match e.get_ref() {
        Some(inner) if inner.is::<strports_core::tls::rustls::Error>() => {
            tls::describe_handshake_error(e)
        }
        _ => e,
    }
}

/// Where an `ssl:` / `tls:` client's handshake failures happen, for their messages:
/// `peer` (the address connected to, as text), the name verified (`tls.server_name`),
/// and the parameters that set the trust roots (`caCertsDir` / `trustRoots`) and the
/// name (`hostname` for `ssl:`, the host for `tls:`).
pub fn client_error_context(
    desc: &ClientDescription,
    tls: &ClientTls,
    peer: Option<String>,
) -> tls::TlsClientContext {
    let ctx = tls::TlsClientContext::new(peer, tls::server_name_text(&tls.server_name));
    match desc {
        ClientDescription::Ssl(c) => ctx
            .with_roots("caCertsDir", c.ca_certs_dir.as_deref())
            .with_name_parameter("hostname"),
        ClientDescription::Tls(c) => ctx
            .with_roots("trustRoots", c.trust_roots.as_deref())
            .with_name_parameter("host"),
        _ => ctx,
    }
}

/// A client handshake's error with `context` ([`client_error_context`]) in its
/// message, kind kept: a [`tls::TlsError`] names the peer, the name verified and the
/// parameter to set (`untrusted certificate: the certificate of 127.0.0.1:8443
/// (verified for "localhost") is not issued by a trusted certificate authority: ...`);
/// the other `tls handshake failed: CAUSE` errors (end of stream, reset, time limit)
/// become `tls handshake failed with ADDR (verifying "NAME"): CAUSE`. Anything else
/// is returned unchanged.
pub fn describe_client_failure(e: io::Error, context: tls::TlsClientContext) -> io::Error {
    if let Some(t) = tls::TlsError::from_io(&e) {
        return io::Error::new(e.kind(), t.clone().with_context(context));
    }
    let message = e.to_string();
    if message.starts_with("tls handshake failed: ") {
        return io::Error::new(e.kind(), context.describe(&message));
    }
    e
}

/// The `alpn=` protocols of a description, as rustls wants them.
fn alpn_of(alpn: &[String]) -> Vec<Vec<u8>> {
    alpn.iter().map(|p| p.as_bytes().to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(s: &str) -> ClientDescription {
        s.parse().unwrap()
    }

    fn server(s: &str) -> ServerDescription {
        s.parse().unwrap()
    }

    #[test]
    fn other_clients_have_no_tls_plan_or_config() {
        let desc = client("tcp:example.com:80");
        let e = client_tls(&desc, tls::default_provider()).unwrap_err();
        assert_eq!(e.to_string(), "tcp endpoints are not supported here");
    }

    #[test]
    fn the_raw_server_of_ssl_is_ipv4_and_of_tls_ipv6() {
        let (tcp, ipv6) = raw_server(&server(
            "ssl:8443:privateKey=k.pem:interface=127.0.0.1:backlog=7",
        ))
        .unwrap();
        assert_eq!(
            (tcp.port, tcp.interface.as_str(), tcp.backlog, ipv6),
            (8443, "127.0.0.1", 7, false)
        );
        let (tcp, ipv6) = raw_server(&server(r"tls:certs:443:interface=\:\:1")).unwrap();
        assert_eq!((tcp.port, tcp.interface.as_str(), ipv6), (443, "::1", true));
        assert!(raw_server(&server("tcp:80")).is_none());
    }

    #[test]
    fn other_servers_cannot_listen_as_tls() {
        let desc = server("tcp:0");
        for e in [
            listen(&desc, tls::default_provider())
                .map(|_| ())
                .unwrap_err(),
            server_config(&desc, tls::default_provider())
                .map(|_| ())
                .unwrap_err(),
        ] {
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            assert_eq!(e.to_string(), "tcp endpoints are not supported here");
        }
    }

    #[test]
    fn handshake_outcomes() {
        let limit = Duration::from_millis(1500);
        assert_eq!(handshake_outcome(Some(Ok(3)), limit).unwrap(), 3);
        let e = handshake_outcome::<()>(None, limit).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            e.to_string(),
            "tls handshake failed: not completed within 1.5s"
        );
        let plain = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let e = handshake_outcome::<()>(Some(Err(plain)), limit).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }
}
