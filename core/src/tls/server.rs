//! `ssl:` servers (and client certificates): a certificate and the key that matches it.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls::{ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::CertificateDer;

use super::error::TlsMaterialError;
use super::pem::{PemFile, cert_info, load_key, sections};
use crate::common::SslMethod;

/// The protocol versions an `sslmethod` allows: TLS 1.2 only for `TLSv1_2_METHOD`,
/// TLS 1.3 and 1.2 otherwise (and when no method is given).
///
/// ```
/// use strports_core::{SslMethod, tls};
/// assert_eq!(tls::protocol_versions(Some(SslMethod::TlsV1_2)).len(), 1);
/// assert_eq!(tls::protocol_versions(None).len(), 2);
/// ```
pub fn protocol_versions(
    method: Option<SslMethod>,
) -> &'static [&'static SupportedProtocolVersion] {
    static BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
    match method {
        Some(m) if !m.allows_tls13() => TLS12,
        _ => BOTH,
    }
}

/// The files of an `ssl:` server, already read: what [`ssl_server_config`] builds from.
#[derive(Debug, Clone, Copy)]
pub struct SslServerFiles<'a> {
    /// `certKey` (or `privateKey` when `certKey` is not given): the certificate, and
    /// possibly keys and further chain certificates.
    pub cert_key: &'a PemFile,
    /// `privateKey` when it is a different file from `cert_key`.
    pub private_key: Option<&'a PemFile>,
    /// `extraCertChain`: certificates sent after the server's own.
    pub extra_cert_chain: Option<&'a PemFile>,
}

/// A certificate chain and the private key that matches its first certificate.
///
/// `cert_file`'s first certificate is the end-entity certificate; its further
/// certificates and those of `extra_chain` follow it in the chain (duplicates dropped).
/// The key is the one, among the keys of `cert_file` and then `key_file`, whose public
/// key equals the certificate's SubjectPublicKeyInfo (Twisted instead takes the first
/// key found, and fails when it does not match). Errors name the file at fault:
///
/// * no certificate in `cert_file` → [`TlsMaterialError::NoCertificate`];
/// * no key in either → [`TlsMaterialError::NoPrivateKey`] (naming `key_file` if
///   given), or [`TlsMaterialError::EncryptedKey`] if the only keys are encrypted;
/// * keys, none matching → [`TlsMaterialError::KeyMismatch`] (naming the file of the
///   last key: `key_file` if it has keys);
/// * a key the provider cannot load and none matching →
///   [`TlsMaterialError::UnsupportedKey`];
/// * `extra_chain` without certificates → [`TlsMaterialError::NoChainCertificates`].
///
/// Also used for client certificates (`certKey`/`privateKey`, `certificate`/`privateKey`).
pub fn certified_key(
    cert_file: &PemFile,
    key_file: Option<&PemFile>,
    extra_chain: Option<&PemFile>,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsMaterialError> {
    let cert_sections = sections(cert_file)?;
    let mut certs = cert_sections.certs.into_iter();
    let Some(leaf) = certs.next() else {
        return Err(TlsMaterialError::NoCertificate {
            file: cert_file.path.clone(),
        });
    };
    let leaf_info = cert_info(&cert_file.path, leaf)?;
    let mut chain: Vec<CertificateDer<'static>> = vec![leaf_info.der.clone()];
    chain.extend(certs.map(|c| c.der));
    let key_sections = key_file.map(sections).transpose()?;

    let mut candidates: Vec<(&Path, _)> = cert_sections
        .keys
        .iter()
        .map(|k| (cert_file.path.as_path(), k))
        .collect();
    if let (Some(file), Some(s)) = (key_file, &key_sections) {
        candidates.extend(s.keys.iter().map(|k| (file.path.as_path(), k)));
    }
    let mut matching: Option<Arc<dyn SigningKey>> = None;
    let mut unknown: Option<Arc<dyn SigningKey>> = None;
    let mut unsupported: Option<TlsMaterialError> = None;
    for (file, der) in &candidates {
        match load_key(file, der, provider) {
            Err(e) => {
                unsupported.get_or_insert(e);
            }
            Ok(loaded) => match loaded.spki {
                Some(spki) if spki == leaf_info.spki => {
                    matching = Some(loaded.key);
                    break;
                }
                Some(_) => {}
                // A provider that cannot tell a key's public half: use the key if
                // nothing better turns up, as rustls' own `CertifiedKey::from_der` does.
                None => {
                    unknown.get_or_insert(loaded.key);
                }
            },
        }
    }
    let key = match (matching.or(unknown), unsupported) {
        (Some(k), _) => k,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            let key_path = key_file.map_or(&cert_file.path, |f| &f.path);
            if let Some((last, _)) = candidates.last() {
                return Err(TlsMaterialError::KeyMismatch {
                    key_file: last.to_path_buf(),
                    cert_file: cert_file.path.clone(),
                });
            }
            let encrypted = key_sections.as_ref().is_some_and(|s| s.encrypted_keys)
                || cert_sections.encrypted_keys;
            return Err(if encrypted {
                TlsMaterialError::EncryptedKey {
                    file: key_path.clone(),
                }
            } else {
                TlsMaterialError::NoPrivateKey {
                    file: key_path.clone(),
                }
            });
        }
    };

    if let Some(file) = extra_chain {
        let extra = sections(file)?;
        if extra.certs.is_empty() {
            return Err(TlsMaterialError::NoChainCertificates {
                file: file.path.clone(),
            });
        }
        chain.extend(extra.certs.into_iter().map(|c| c.der));
    }
    let mut seen: Vec<&[u8]> = Vec::with_capacity(chain.len());
    let mut unique = Vec::with_capacity(chain.len());
    for c in &chain {
        if !seen.contains(&c.as_ref()) {
            seen.push(c.as_ref());
            unique.push(c.clone());
        }
    }
    Ok(Arc::new(CertifiedKey::new(unique, key)))
}

/// A server config over any certificate resolver: the protocol versions of `method`
/// (TLS 1.2 and 1.3 without one), the ALPN protocols offered (in preference order;
/// empty: no ALPN), and client-certificate verification if `client_verifier` is given
/// (Twisted's `ssl:`/`tls:` servers never ask for client certificates: `None`).
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    method: Option<SslMethod>,
    alpn: Vec<Vec<u8>>,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsMaterialError> {
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(protocol_versions(method))
        .map_err(|e| TlsMaterialError::Config {
            reason: e.to_string(),
        })?;
    let builder = match client_verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The config of an `ssl:` server: [`certified_key`] from its files, the protocol
/// versions of `sslmethod`, and `alpn`.
///
/// `dhParameters` is not needed: rustls only uses ECDHE key exchange, which gives
/// forward secrecy without DH parameters, so the backends ignore it (Twisted does not
/// read the file either until a handshake needs it).
pub fn ssl_server_config(
    files: SslServerFiles<'_>,
    method: Option<SslMethod>,
    alpn: Vec<Vec<u8>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, TlsMaterialError> {
    let key = certified_key(
        files.cert_key,
        files.private_key,
        files.extra_cert_chain,
        &provider,
    )?;
    server_config(
        Arc::new(SingleCertAndKey::from(key)),
        method,
        alpn,
        None,
        provider,
    )
}
