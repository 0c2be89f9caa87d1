//! Errors: bad key material ([`TlsMaterialError`]) and classified handshake failures
//! ([`TlsError`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustls::{AlertDescription, CertificateError};

/// What is wrong with the certificates or keys given to an endpoint.
///
/// Every variant names the file at fault; messages are lowercase, e.g.
/// `key in "key.pem" does not match certificate in "cert.pem"`. Converts into an
/// [`io::Error`] of kind [`InvalidData`](io::ErrorKind::InvalidData) that keeps this
/// value as its inner error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsMaterialError {
    /// The file is not valid PEM (a section without its end line, bad base64, ...).
    InvalidPem {
        /// The file.
        file: PathBuf,
        /// What the PEM parser found.
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
        /// What the provider said.
        reason: String,
    },
    /// A certificate that cannot be parsed.
    InvalidCertificate {
        /// The file holding it.
        file: PathBuf,
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

fn q(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

impl fmt::Display for TlsMaterialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TlsMaterialError::*;
        match self {
            InvalidPem { file, reason } => write!(f, "invalid pem in {}: {reason}", q(file)),
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
            UnsupportedKey { file, reason } => {
                write!(f, "unsupported key type in {}: {reason}", q(file))
            }
            InvalidCertificate { file, reason } => {
                write!(f, "invalid certificate in {}: {reason}", q(file))
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
            InvalidHostname { host } => write!(
                f,
                "invalid host name \"{host}\": must be an ip address or a valid dns name"
            ),
            Config { reason } => write!(f, "cannot build tls configuration: {reason}"),
        }
    }
}

impl std::error::Error for TlsMaterialError {}

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

/// A TLS failure with its [`TlsErrorKind`]: the inner error of the [`io::Error`]s made by
/// [`describe_tls_error`]. Its `source()` is the rustls error.
#[derive(Debug, Clone)]
pub struct TlsError {
    kind: TlsErrorKind,
    error: rustls::Error,
}

impl TlsError {
    /// Classifies `error`.
    pub fn new(error: rustls::Error) -> TlsError {
        TlsError {
            kind: TlsErrorKind::of(&error),
            error,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TlsErrorKind {
        self.kind
    }

    /// The rustls error.
    pub fn rustls_error(&self) -> &rustls::Error {
        &self.error
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
/// as a reader would write it.
fn presented_name(p: &str) -> &str {
    if let Some(name) = p
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        return name;
    }
    if let Some(ip) = p
        .strip_prefix("IpAddress(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return ip;
    }
    p
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

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustls::Error as E;
        match (&self.kind, &self.error) {
            (TlsErrorKind::UntrustedCertificate, _) => f.write_str(
                "untrusted certificate: the peer's certificate is not issued by a trusted certificate authority",
            ),
            (
                TlsErrorKind::HostnameMismatch,
                E::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                }),
            ) => {
                let expected = match expected {
                    rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_owned(),
                    rustls::pki_types::ServerName::IpAddress(ip) => {
                        std::net::IpAddr::from(*ip).to_string()
                    }
                    other => format!("{other:?}"),
                };
                write!(
                    f,
                    "host-name mismatch: the peer's certificate is not valid for \"{expected}\""
                )?;
                if presented.is_empty() {
                    f.write_str(" (it names no host)")
                } else {
                    let names: Vec<&str> = presented.iter().map(|p| presented_name(p)).collect();
                    write!(f, " (it is valid for {})", names.join(", "))
                }
            }
            (TlsErrorKind::HostnameMismatch, _) => f.write_str(
                "host-name mismatch: the peer's certificate is not valid for the name we verify",
            ),
            (
                TlsErrorKind::ExpiredCertificate,
                E::InvalidCertificate(CertificateError::ExpiredContext { time, not_after }),
            ) => write!(
                f,
                "expired certificate: the peer's certificate expired at {} (now {})",
                utc(not_after.as_secs()),
                utc(time.as_secs())
            ),
            (TlsErrorKind::ExpiredCertificate, _) => {
                f.write_str("expired certificate: the peer's certificate has expired")
            }
            (
                TlsErrorKind::NotYetValidCertificate,
                E::InvalidCertificate(CertificateError::NotValidYetContext { time, not_before }),
            ) => write!(
                f,
                "certificate not yet valid: the peer's certificate is valid from {} (now {})",
                utc(not_before.as_secs()),
                utc(time.as_secs())
            ),
            (TlsErrorKind::NotYetValidCertificate, _) => {
                f.write_str("certificate not yet valid: the peer's certificate is not valid yet")
            }
            (TlsErrorKind::InvalidCertificate, e) => write!(f, "invalid certificate: {e}"),
            (_, E::AlertReceived(a)) if rejected_certificate_alert(*a) => write!(
                f,
                "tls handshake failed: the peer rejected our certificate or its absence (alert {a:?})"
            ),
            (_, E::AlertReceived(a)) => {
                write!(f, "tls handshake failed: the peer aborted it (alert {a:?})")
            }
            (_, E::NoApplicationProtocol) => f.write_str(
                "tls handshake failed: no application protocol (alpn) in common with the peer",
            ),
            (_, e) => write!(f, "tls handshake failed: {e}"),
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
