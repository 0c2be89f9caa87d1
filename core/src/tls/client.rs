//! `ssl:` and `tls:` clients: trust roots, client certificates, the name to verify.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{DnsName, ServerName};

use super::error::TlsMaterialError;
use super::pem::{PemFile, sections};

/// The trust roots in the `.pem` files of a `caCertsDir` / `trustRoots` directory.
///
/// Every certificate of every file becomes a trusted root (duplicates once). Unlike
/// Twisted, a bad file is never skipped silently: a file that is not PEM, holds no
/// certificate, or holds a certificate that cannot be a trust anchor is an error naming
/// it. A directory without any file is [`TlsMaterialError::EmptyTrustRoots`] (Twisted
/// would build a store that rejects every server). `dir` is only used in messages.
pub fn trust_roots(dir: &Path, files: &[PemFile]) -> Result<RootCertStore, TlsMaterialError> {
    if files.is_empty() {
        return Err(TlsMaterialError::EmptyTrustRoots {
            dir: dir.to_owned(),
        });
    }
    let mut store = RootCertStore::empty();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    for file in files {
        let s = sections(file)?;
        if s.certs.is_empty() {
            return Err(TlsMaterialError::NoRootCertificates {
                file: file.path.clone(),
            });
        }
        for cert in s.certs {
            if seen.iter().any(|d| d.as_slice() == cert.der.as_ref()) {
                continue;
            }
            seen.push(cert.der.as_ref().to_vec());
            store
                .add(cert.der)
                .map_err(|e| TlsMaterialError::InvalidCertificate {
                    file: file.path.clone(),
                    line: cert.at.line,
                    reason: e.to_string(),
                })?;
        }
    }
    Ok(store)
}

/// The name a client verifies the server's certificate against (and sends as SNI):
/// an IP literal becomes an IP-address name (rustls then sends no SNI, as TLS requires),
/// anything else its IDNA ASCII form via [`dns_name`](crate::common::dns_name).
///
/// ```
/// use strports_core::tls::{rustls::pki_types::ServerName, server_name};
/// assert!(matches!(server_name("127.0.0.1").unwrap(), ServerName::IpAddress(_)));
/// assert_eq!(server_name("Bücher.example").unwrap().to_str(), "xn--bcher-kva.example");
/// assert!(server_name("bad_name").is_err());
/// ```
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsMaterialError> {
    let invalid = || TlsMaterialError::InvalidHostname {
        host: host.to_owned(),
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    let ascii = crate::common::dns_name(host).ok_or_else(invalid)?;
    let name = DnsName::try_from(ascii).map_err(|_| invalid())?;
    Ok(ServerName::DnsName(name))
}

/// A client config: the server's certificate chain and name are always verified
/// against `roots` (webpki), TLS 1.2 and 1.3, the ALPN protocols to offer (empty: no
/// ALPN), and a client certificate if given (see
/// [`certified_key`](super::server::certified_key)).
///
/// There is deliberately no way to turn verification off. The roots come from
/// [`trust_roots`] or from the platform's store, which `strports-sys` loads with
/// `rustls-native-certs`. (We use rustls-native-certs rather than
/// rustls-platform-verifier: it just reads the system's CA bundle into a
/// [`RootCertStore`], so verification is the same webpki code on every platform and
/// the store is loaded once per endpoint; the platform verifier needs per-OS setup,
/// including a Java/JNI component on Android.)
pub fn client_config(
    roots: Arc<RootCertStore>,
    client_cert: Option<Arc<CertifiedKey>>,
    alpn: Vec<Vec<u8>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ClientConfig>, TlsMaterialError> {
    let config_error = |e: &dyn std::fmt::Display| TlsMaterialError::Config {
        reason: e.to_string(),
    };
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| config_error(&e))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(&e))?
        .with_webpki_verifier(verifier);
    let mut config = match client_cert {
        Some(key) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(key))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}
