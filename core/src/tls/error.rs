//! Errors: bad key material ([`TlsMaterialError`]) and classified handshake failures
//! ([`TlsError`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustls::{AlertDescription, CertificateError};

use crate::common::escape_control;

/// What is wrong with the certificates or keys given to an endpoint.
///
/// Every variant names the file at fault; messages are lowercase, e.g.
/// `key in "key.pem" does not match certificate in "cert.pem"`. Errors about a
/// file's contents say where (line, byte offset) and why, but never quote the file,
/// which may hold a private key. Converts into an
/// [`io::Error`] of kind [`InvalidData`](io::ErrorKind::InvalidData) that keeps this
/// value as its inner error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMaterialError {
    /// The file is not valid PEM (a section without its end line, bad base64, ...).
    InvalidPem {
        /// The file.
        file: PathBuf,
        /// The line at fault (1-based): the malformed begin line, or the begin line
        /// of the section that cannot be read.
        line: usize,
        /// The byte offset of that line in the file.
        offset: usize,
        /// What is wrong, in words (never the file's contents).
        reason: String,
    },
    /// The certificate file holds no `CERTIFICATE` section.
    NoCertificate {
        /// The file expected to hold the certificate.
        file: PathBuf,
    },
    /// No private key in the key file (nor in the certificate file).
    NoPrivateKey {
        /// The file expected to hold the key.
        file: PathBuf,
    },
    /// The only keys found are encrypted, which is not supported.
    EncryptedKey {
        /// The file holding the encrypted key.
        file: PathBuf,
    },
    /// Keys were found, but none belongs to the certificate.
    KeyMismatch {
        /// The file the (last) key came from.
        key_file: PathBuf,
        /// The certificate file.
        cert_file: PathBuf,
    },
    /// A key the crypto provider cannot load (an unsupported algorithm or a malformed
    /// key).
    UnsupportedKey {
        /// The file holding the key.
        file: PathBuf,
        /// The line where the key's section begins (1-based).
        line: usize,
        /// What the provider said.
        reason: String,
    },
    /// A certificate that cannot be parsed.
    InvalidCertificate {
        /// The file holding it.
        file: PathBuf,
        /// The line where the certificate's section begins (1-based).
        line: usize,
        /// What the parser said.
        reason: String,
    },
    /// An `extraCertChain` file without any certificate.
    NoChainCertificates {
        /// The file.
        file: PathBuf,
    },
    /// A trust-root file (`caCertsDir` / `trustRoots`) without any certificate.
    NoRootCertificates {
        /// The file.
        file: PathBuf,
    },
    /// A trust-root directory without any `.pem` file: no server could be trusted.
    EmptyTrustRoots {
        /// The directory.
        dir: PathBuf,
    },
    /// A `tls:` server directory that yields no certificate together with its private
    /// key, so no handshake could succeed.
    NoServerCertificate {
        /// The directory.
        dir: PathBuf,
        /// False if the directory does not exist.
        exists: bool,
        /// How many `*.pem` files were read.
        pem_files: usize,
        /// How many certificates they hold.
        certificates: usize,
        /// How many private keys they hold.
        private_keys: usize,
        /// Some files under the directory that were not read because their name does not
        /// end in `.pem` (at most a few).
        not_read: Vec<PathBuf>,
    },
    /// A host that is neither an IP address nor a valid DNS name.
    InvalidHostname {
        /// The host as given.
        host: String,
    },
    /// rustls refused the configuration (for example, the crypto provider has no
    /// cipher suite for the requested protocol versions).
    Config {
        /// What rustls said.
        reason: String,
    },
}

/// A path in quotes, control characters escaped (see [`escape_control`]).
fn q(p: &Path) -> String {
    format!("\"{}\"", escape_control(&p.to_string_lossy()))
}

impl fmt::Display for TlsMaterialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TlsMaterialError::*;
        match self {
            InvalidPem {
                file,
                line,
                offset,
                reason,
            } => write!(
                f,
                "invalid pem in {} at line {line} (byte {offset}): {reason}",
                q(file)
            ),
            NoCertificate { file } => write!(f, "no certificate in {}", q(file)),
            NoPrivateKey { file } => write!(f, "no private key in {}", q(file)),
            EncryptedKey { file } => write!(
                f,
                "encrypted private key in {}: not supported, decrypt it first",
                q(file)
            ),
            KeyMismatch {
                key_file,
                cert_file,
            } => write!(
                f,
                "key in {} does not match certificate in {}",
                q(key_file),
                q(cert_file)
            ),
            UnsupportedKey { file, line, reason } => {
                write!(
                    f,
                    "unsupported key type in {} at line {line}: {reason}",
                    q(file)
                )
            }
            InvalidCertificate { file, line, reason } => {
                write!(
                    f,
                    "invalid certificate in {} at line {line}: {reason}",
                    q(file)
                )
            }
            NoChainCertificates { file } => {
                write!(f, "{} contains no certificates (extraCertChain)", q(file))
            }
            NoRootCertificates { file } => {
                write!(f, "{} contains no certificates (trust roots)", q(file))
            }
            EmptyTrustRoots { dir } => write!(
                f,
                "no trust roots: {} has no .pem files, so no server could be trusted",
                q(dir)
            ),
            NoServerCertificate {
                dir,
                exists,
                pem_files,
                certificates,
                private_keys,
                not_read,
            } => {
                write!(
                    f,
                    "no certificate with its private key in {} (tls: server): ",
                    q(dir)
                )?;
                if !exists {
                    f.write_str("the directory does not exist")?;
                } else if *pem_files == 0 {
                    f.write_str("the directory has no .pem file")?;
                } else {
                    write!(
                        f,
                        "found {} with {} and {}",
                        plural(*pem_files, ".pem file"),
                        plural(*certificates, "certificate"),
                        plural(*private_keys, "private key")
                    )?;
                    if *certificates > 0 && *private_keys > 0 {
                        f.write_str(", but no key matches a certificate")?;
                    }
                }
                if !not_read.is_empty() {
                    let names: Vec<String> = not_read.iter().map(|p| q(p)).collect();
                    write!(f, "; not read (not .pem): {}", names.join(", "))?;
                }
                f.write_str(
                    "; a tls: server reads every *.pem file under its directory (subdirectories too) and serves each certificate with the private key that matches it, from the same or another .pem file",
                )
            }
            InvalidHostname { host } => write!(
                f,
                "invalid host name \"{}\": must be an ip address or a valid dns name",
                escape_control(host)
            ),
            Config { reason } => write!(f, "cannot build tls configuration: {reason}"),
        }
    }
}

impl std::error::Error for TlsMaterialError {}

/// `n` and `what`, with an `s` unless `n` is 1.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

impl From<TlsMaterialError> for io::Error {
    fn from(e: TlsMaterialError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Which kind of handshake failure a [`TlsError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The handshake failed for a reason other than the peer's certificate: the peer
    /// sent an alert (for example, it rejected our client certificate), nothing in
    /// common (versions, ciphers, ALPN), or a protocol error.
    Handshake,
    /// The peer's certificate does not chain to a trusted root (`UnknownIssuer`).
    UntrustedCertificate,
    /// The peer's certificate is not valid for the name we verify (`NotValidForName`).
    HostnameMismatch,
    /// The peer's certificate has expired.
    ExpiredCertificate,
    /// The peer's certificate is not valid yet.
    NotYetValidCertificate,
    /// Another problem with the peer's certificate (bad signature, revoked, wrong
    /// purpose, bad encoding, ...).
    InvalidCertificate,
}

impl TlsErrorKind {
    /// The kind of `error`.
    pub fn of(error: &rustls::Error) -> TlsErrorKind {
        match error {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsErrorKind::UntrustedCertificate,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsErrorKind::HostnameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsErrorKind::ExpiredCertificate
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsErrorKind::NotYetValidCertificate
                }
                _ => TlsErrorKind::InvalidCertificate,
            },
            _ => TlsErrorKind::Handshake,
        }
    }
}

/// Where a client's TLS failure happened, for its message: the peer's address, the
/// name its certificate was verified against, and the description parameters that set
/// the trust roots and that name (so the message can say which one to change).
///
/// ```
/// use strports_core::tls::{TlsClientContext, TlsError, rustls};
/// let ctx = TlsClientContext::new(Some("127.0.0.1:8443".into()), "localhost")
///     .with_roots("caCertsDir", None)
///     .with_name_parameter("hostname");
/// let e = TlsError::new(rustls::Error::InvalidCertificate(
///     rustls::CertificateError::UnknownIssuer,
/// ))
/// .with_context(ctx);
/// assert_eq!(
///     e.to_string(),
///     "untrusted certificate: the certificate of 127.0.0.1:8443 (verified for \"localhost\") \
///      is not issued by a trusted certificate authority: its issuer is not in the platform's \
///      trust store (set caCertsDir= to a directory holding the issuer's certificate)"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientContext {
    peer: Option<String>,
    server_name: String,
    roots_parameter: Option<&'static str>,
    roots_dir: Option<PathBuf>,
    name_parameter: Option<&'static str>,
}

impl TlsClientContext {
    /// A failure talking to `peer` (an address as text, if known) while verifying its
    /// certificate for `server_name`.
    pub fn new(peer: Option<String>, server_name: impl Into<String>) -> Self {
        TlsClientContext {
            peer,
            server_name: server_name.into(),
            ..TlsClientContext::default()
        }
    }

    /// The trust roots came from the directory `dir` given as `parameter`
    /// (`caCertsDir`, `trustRoots`), or, when `dir` is `None`, from the platform (and
    /// `parameter` is what would name a directory instead).
    pub fn with_roots(mut self, parameter: &'static str, dir: Option<&Path>) -> Self {
        self.roots_parameter = Some(parameter);
        self.roots_dir = dir.map(Path::to_owned);
        self
    }

    /// The name verified is set by `parameter` (`hostname` for `ssl:`; for `tls:` it
    /// is the `host` itself).
    pub fn with_name_parameter(mut self, parameter: &'static str) -> Self {
        self.name_parameter = Some(parameter);
        self
    }

    /// `the certificate of ADDR` (or `the peer's certificate`).
    fn certificate(&self) -> String {
        match &self.peer {
            Some(p) => format!("the certificate of {p}"),
            None => "the peer's certificate".to_owned(),
        }
    }

    /// `the certificate of ADDR (verified for "NAME")`.
    fn certificate_for(&self) -> String {
        format!(
            "{} (verified for \"{}\")",
            self.certificate(),
            self.server_name
        )
    }

    /// `ADDR (verifying "NAME")`, for handshake failures.
    fn peer_verifying(&self) -> String {
        let peer = self.peer.as_deref().unwrap_or("the peer");
        format!("{peer} (verifying \"{}\")", self.server_name)
    }

    /// What to set for an untrusted issuer.
    fn roots_hint(&self) -> String {
        match (self.roots_parameter, &self.roots_dir) {
            (Some(p), Some(dir)) => format!(
                ": its issuer is not among the trust roots of {p}={} (add the issuer's certificate there as a .pem file)",
                q(dir)
            ),
            (Some(p), None) => format!(
                ": its issuer is not in the platform's trust store (set {p}= to a directory holding the issuer's certificate)"
            ),
            (None, _) => String::new(),
        }
    }

    /// What to set for a name mismatch.
    fn name_hint(&self) -> String {
        match self.name_parameter {
            Some("host") => {
                "; the tls: host must be one of its names (endpoint= can connect to another address)"
                    .to_owned()
            }
            Some(p) => format!("; set {p}= to one of its names"),
            None => String::new(),
        }
    }

    /// `message`, a handshake error without a [`TlsError`] (`tls handshake failed:
    /// CAUSE`), with this context: `tls handshake failed with ADDR (verifying "NAME"):
    /// CAUSE`.
    pub fn describe(&self, message: &str) -> String {
        match message.strip_prefix("tls handshake failed: ") {
            Some(cause) => format!(
                "tls handshake failed with {}: {cause}",
                self.peer_verifying()
            ),
            None => format!("{message} ({})", self.peer_verifying()),
        }
    }
}

/// A TLS failure with its [`TlsErrorKind`]: the inner error of the [`io::Error`]s made by
/// [`describe_tls_error`]. Its `source()` is the rustls error. A client's error also
/// has a [`TlsClientContext`], and its message names the peer, the name verified and
/// the parameter to change.
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    error: rustls::Error,
    context: Option<TlsClientContext>,
}

impl TlsError {
    /// Classifies `error`.
    pub fn new(error: rustls::Error) -> TlsError {
        TlsError {
            kind: TlsErrorKind::of(&error),
            error,
            context: None,
        }
    }

    /// The same error, described with `context`.
    pub fn with_context(mut self, context: TlsClientContext) -> TlsError {
        self.context = Some(context);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The rustls error.
    pub fn rustls_error(&self) -> &rustls::Error {
        &self.error
    }

    /// Where it happened, if known.
    pub fn context(&self) -> Option<&TlsClientContext> {
        self.context.as_ref()
    }

    /// The [`TlsError`] inside `e`, if `e` was made by [`describe_tls_error`].
    pub fn from_io(e: &io::Error) -> Option<&TlsError> {
        e.get_ref()?.downcast_ref::<TlsError>()
    }
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A name from webpki's `presented` list (`DnsName("a.example")`, `IpAddress(10.0.0.1)`)
/// as a reader would write it (IPv6 addresses in their short form: `::1`).
fn presented_name(p: &str) -> String {
    if let Some(name) = p
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        return name.to_owned();
    }
    if let Some(ip) = p
        .strip_prefix("IpAddress(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => ip.to_owned(),
        };
    }
    p.to_owned()
}

/// A server name as text: the DNS name or the IP address.
pub fn server_name_text(name: &rustls::pki_types::ServerName<'_>) -> String {
    match name {
        rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_owned(),
        rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

fn rejected_certificate_alert(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateRequired
            | AlertDescription::AccessDenied
    )
}

/// What is wrong with a certificate that is neither untrusted, for another name, nor
/// outside its validity period, in words (after "the certificate ... "), or `None` if
/// there are no better words than rustls'.
fn invalid_certificate_words(e: &CertificateError) -> Option<&'static str> {
    Some(match e {
        CertificateError::BadEncoding => "cannot be parsed",
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "has a bad signature (it does not verify with its issuer's key, or uses an unsupported algorithm)"
        }
        CertificateError::Revoked => "is revoked",
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "is not for server authentication (its extendedKeyUsage lacks serverAuth)"
        }
        CertificateError::Other(o) => match o.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => {
                "is a certificate authority's (basicConstraints CA:TRUE), not a server's: serve a certificate with CA:FALSE and a subjectAltName, issued by that authority"
            }
            Some(webpki::Error::EndEntityUsedAsCa) => {
                "is issued by a certificate that is not a certificate authority (basicConstraints CA:FALSE)"
            }
            Some(webpki::Error::UnsupportedCertVersion) => "is not an X.509 v3 certificate",
            _ => return None,
        },
        _ => return None,
    })
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustls::Error as E;
        let ctx = self.context.as_ref();
        // "the peer's certificate" or "the certificate of ADDR (verified for "NAME")".
        let who = || match ctx {
            Some(c) => c.certificate_for(),
            None => "the peer's certificate".to_owned(),
        };
        match (&self.kind, &self.error) {
            (TlsErrorKind::UntrustedCertificate, _) => {
                write!(
                    f,
                    "untrusted certificate: {} is not issued by a trusted certificate authority",
                    who()
                )?;
                match ctx {
                    Some(c) => f.write_str(&c.roots_hint()),
                    None => Ok(()),
                }
            }
            (
                TlsErrorKind::HostnameMismatch,
                E::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                }),
            ) => {
                let expected = server_name_text(expected);
                let cert = match ctx {
                    Some(c) => c.certificate(),
                    None => "the peer's certificate".to_owned(),
                };
                write!(
                    f,
                    "host-name mismatch: {cert} is not valid for \"{expected}\""
                )?;
                if presented.is_empty() {
                    f.write_str(" (it names no host)")?;
                } else {
                    let names: Vec<String> = presented.iter().map(|p| presented_name(p)).collect();
                    write!(f, " (it is valid for {})", names.join(", "))?;
                }
                match ctx {
                    Some(c) => f.write_str(&c.name_hint()),
                    None => Ok(()),
                }
            }
            (TlsErrorKind::HostnameMismatch, _) => match ctx {
                Some(c) => write!(
                    f,
                    "host-name mismatch: {} is not valid for \"{}\"{}",
                    c.certificate(),
                    c.server_name,
                    c.name_hint()
                ),
                None => f.write_str(
                    "host-name mismatch: the peer's certificate is not valid for the name we verify",
                ),
            },
            (
                TlsErrorKind::ExpiredCertificate,
                E::InvalidCertificate(CertificateError::ExpiredContext { time, not_after }),
            ) => write!(
                f,
                "expired certificate: {} expired at {} (now {})",
                who(),
                utc(not_after.as_secs()),
                utc(time.as_secs())
            ),
            (TlsErrorKind::ExpiredCertificate, _) => {
                write!(f, "expired certificate: {} has expired", who())
            }
            (
                TlsErrorKind::NotYetValidCertificate,
                E::InvalidCertificate(CertificateError::NotValidYetContext { time, not_before }),
            ) => write!(
                f,
                "certificate not yet valid: {} is valid from {} (now {})",
                who(),
                utc(not_before.as_secs()),
                utc(time.as_secs())
            ),
            (TlsErrorKind::NotYetValidCertificate, _) => {
                write!(f, "certificate not yet valid: {} is not valid yet", who())
            }
            (TlsErrorKind::InvalidCertificate, E::InvalidCertificate(c)) => {
                match invalid_certificate_words(c) {
                    Some(words) => write!(f, "invalid certificate: {} {words}", who()),
                    None => match ctx {
                        Some(c) => write!(f, "invalid certificate: {}: {}", c.certificate_for(), self.error),
                        None => write!(f, "invalid certificate: {}", self.error),
                    },
                }
            }
            (TlsErrorKind::InvalidCertificate, e) => match ctx {
                Some(c) => write!(f, "invalid certificate: {}: {e}", c.certificate_for()),
                None => write!(f, "invalid certificate: {e}"),
            },
            (_, e) => {
                f.write_str("tls handshake failed")?;
                if let Some(c) = ctx {
                    write!(f, " with {}", c.peer_verifying())?;
                }
                f.write_str(": ")?;
                match e {
                    E::AlertReceived(a) if rejected_certificate_alert(*a) => write!(
                        f,
                        "the peer rejected our certificate or its absence (alert {a:?})"
                    ),
                    E::AlertReceived(AlertDescription::HandshakeFailure) => f.write_str(
                        "the peer aborted it (alert HandshakeFailure: no protocol version, cipher suite or key exchange in common, or it wants a client certificate)",
                    ),
                    E::AlertReceived(AlertDescription::ProtocolVersion) => f.write_str(
                        "the peer aborted it (alert ProtocolVersion: no protocol version in common)",
                    ),
                    E::AlertReceived(a) => write!(f, "the peer aborted it (alert {a:?})"),
                    E::NoApplicationProtocol => f.write_str(
                        "no application protocol (alpn) in common with the peer",
                    ),
                    e => write!(f, "{e}"),
                }
            }
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A readable [`io::Error`] for a TLS failure, one message per kind of problem:
///
/// | rustls error | message starts with |
/// | --- | --- |
/// | `InvalidCertificate(UnknownIssuer)` | `untrusted certificate:` |
/// | `InvalidCertificate(NotValidForName…)` | `host-name mismatch:` |
/// | `InvalidCertificate(Expired…)` | `expired certificate:` |
/// | `InvalidCertificate(NotValidYet…)` | `certificate not yet valid:` |
/// | other `InvalidCertificate` | `invalid certificate:` |
/// | anything else | `tls handshake failed:` |
///
/// The kind is [`InvalidData`](io::ErrorKind::InvalidData) (as tokio-rustls uses); the
/// inner error is a [`TlsError`] (see [`TlsError::from_io`]).
///
/// ```
/// use strports_core::tls::{TlsError, TlsErrorKind, describe_tls_error, rustls};
/// let e = describe_tls_error(&rustls::Error::InvalidCertificate(
///     rustls::CertificateError::UnknownIssuer,
/// ));
/// assert!(e.to_string().starts_with("untrusted certificate:"));
/// assert_eq!(TlsError::from_io(&e).unwrap().kind(), TlsErrorKind::UntrustedCertificate);
/// ```
pub fn describe_tls_error(error: &rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, TlsError::new(error.clone()))
}

/// Rewrites an [`io::Error`] from a TLS stream's handshake (tokio-rustls,
/// futures-rustls): a wrapped rustls error becomes [`describe_tls_error`]'s message; an
/// end of stream becomes `tls handshake failed: the peer closed the connection during
/// the handshake`, and a reset or broken pipe `tls handshake failed: the peer reset the
/// connection during the handshake` (each keeping its [`io::ErrorKind`]); anything
/// else (another socket error, a timeout) is returned unchanged.
///
/// ```
/// use std::io;
/// use strports_core::tls::describe_handshake_error;
/// let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
/// assert!(describe_handshake_error(eof).to_string().contains("closed the connection"));
/// ```
pub fn describe_handshake_error(e: io::Error) -> io::Error {
    if TlsError::from_io(&e).is_some() {
        return e;
    }
    if let Some(r) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return describe_tls_error(r);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tls handshake failed: the peer closed the connection during the handshake",
        ),
        kind @ (io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) => io::Error::new(
            kind,
            "tls handshake failed: the peer reset the connection during the handshake",
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_in_a_handshake_say_so_and_keep_their_kind() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::UnexpectedEof,
        ] {
            let e = describe_handshake_error(io::Error::from(kind));
            assert_eq!(e.kind(), kind);
            assert!(
                e.to_string().starts_with("tls handshake failed: the peer "),
                "{e}"
            );
        }
        let other = describe_handshake_error(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(other.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(978_307_200), "2001-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn kinds_have_distinct_messages() {
        let msgs: Vec<String> = [
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            rustls::Error::InvalidCertificate(CertificateError::Expired),
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
        ]
        .iter()
        .map(|e| describe_tls_error(e).to_string())
        .collect();
        assert!(msgs[0].starts_with("untrusted certificate:"), "{}", msgs[0]);
        assert!(msgs[1].starts_with("host-name mismatch:"), "{}", msgs[1]);
        assert!(msgs[2].starts_with("expired certificate:"), "{}", msgs[2]);
        assert!(msgs[3].starts_with("tls handshake failed:"), "{}", msgs[3]);
    }

    #[test]
    fn wrapped_rustls_errors_are_described() {
        let raw = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let e = describe_handshake_error(raw);
        assert_eq!(
            TlsError::from_io(&e).map(TlsError::kind),
            Some(TlsErrorKind::ExpiredCertificate)
        );
        let other = describe_handshake_error(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(other.kind(), io::ErrorKind::ConnectionReset);
    }
}
