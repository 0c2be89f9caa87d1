//! The file side of TLS endpoints (feature `tls`): reads the PEM files and directories
//! that `ssl:` and `tls:` descriptions name, loads the platform's trust roots, and
//! builds the rustls configs with `strports_core::tls`.
//!
//! Everything here blocks (file reads, directory walks); backends call it when they
//! open an endpoint, once per endpoint, never per connection. Errors name the file:
//! `cannot read private key file "key.pem": No such file or directory`.
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use strports_core::tls::rustls::crypto::CryptoProvider;
use strports_core::tls::rustls::pki_types::ServerName;
use strports_core::tls::rustls::sign::CertifiedKey;
use strports_core::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use strports_core::tls::{self, CertDirectory, PemFile, SniResolver, SslServerFiles};
use strports_core::{SslClient, SslServer, TlsClient, TlsServer};

/// An io error's text without the `" (os error N)"` suffix std adds.
fn reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_owned(),
        _ => s,
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

fn client_tls(
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
    client_tls(
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
    client_tls(
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
}

/// The server config of a `tls:` server: an [`SniResolver`] over the directory
/// `path` (scanned now, rescanned when an unknown name is asked for), TLS 1.2 and 1.3.
pub fn tls_server_config(
    desc: &TlsServer,
    provider: Arc<CryptoProvider>,
) -> io::Result<Arc<ServerConfig>> {
    let resolver = SniResolver::new(Box::new(FsCertDirectory::new(&desc.path)), provider.clone())?;
    Ok(tls::tls_server_config(
        Arc::new(resolver),
        alpn_of(&desc.alpn),
        provider,
    )?)
}

/// The `alpn=` protocols of a description, as rustls wants them.
fn alpn_of(alpn: &[String]) -> Vec<Vec<u8>> {
    alpn.iter().map(|p| p.as_bytes().to_vec()).collect()
}
