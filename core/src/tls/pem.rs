//! PEM files as handed over by the caller ([`PemFile`]), split into certificates and
//! keys, and the facts we need about each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::error::TlsMaterialError;

/// A PEM file as read by the caller: where it came from (for error messages) and its
/// bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    /// The path, as named in the description (used in error messages only).
    pub path: PathBuf,
    /// The file's contents.
    pub contents: Vec<u8>,
}

impl PemFile {
    /// A file named `path` holding `contents`.
    ///
    /// ```
    /// let f = strports_core::tls::PemFile::new("server.pem", b"-----BEGIN ...".to_vec());
    /// assert_eq!(f.path.to_str(), Some("server.pem"));
    /// ```
    pub fn new(path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        PemFile {
            path: path.into(),
            contents: contents.into(),
        }
    }

    /// The path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for PemFile {
    // Key material must not end up in logs through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PemFile")
            .field("path", &self.path)
            .field("len", &self.contents.len())
            .finish()
    }
}

/// The certificates and keys of one PEM file, in file order. Other sections (CRLs,
/// public keys, DH parameters, ...) and text outside sections are ignored.
pub(super) struct Sections {
    pub(super) certs: Vec<CertificateDer<'static>>,
    pub(super) keys: Vec<PrivateKeyDer<'static>>,
    /// Whether the file has `ENCRYPTED PRIVATE KEY` sections (which PEM parsing skips).
    pub(super) encrypted_keys: bool,
}

fn pem_reason(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section has no end line ({})",
            String::from_utf8_lossy(end_marker).trim()
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed begin line ({})",
            String::from_utf8_lossy(line).trim()
        ),
        pem::Error::Base64Decode(e) => format!("bad base64 ({e})"),
        other => other.to_string(),
    }
}

pub(super) fn sections(file: &PemFile) -> Result<Sections, TlsMaterialError> {
    let mut out = Sections {
        certs: Vec::new(),
        keys: Vec::new(),
        encrypted_keys: false,
    };
    for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(&file.contents) {
        let (kind, der) = section.map_err(|e| TlsMaterialError::InvalidPem {
            file: file.path.clone(),
            reason: pem_reason(&e),
        })?;
        match kind {
            SectionKind::Certificate => out.certs.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => out.keys.push(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => out.keys.push(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => out.keys.push(PrivateKeyDer::Sec1(der.into())),
            _ => {}
        }
    }
    out.encrypted_keys = contains(&file.contents, b"-----BEGIN ENCRYPTED PRIVATE KEY-----");
    Ok(out)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What we need to know about a certificate to pair it with a key, name it for SNI and
/// build its chain.
pub(super) struct CertInfo {
    pub(super) der: CertificateDer<'static>,
    /// DER of the subject name (without the outer SEQUENCE).
    pub(super) subject: Vec<u8>,
    /// DER of the issuer name (without the outer SEQUENCE).
    pub(super) issuer: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER.
    pub(super) spki: Vec<u8>,
    /// The DNS names (and wildcards) of the subjectAltName extension, lowercase.
    pub(super) dns_names: Vec<String>,
}

pub(super) fn cert_info(
    file: &Path,
    der: CertificateDer<'static>,
) -> Result<CertInfo, TlsMaterialError> {
    let parsed = webpki::EndEntityCert::try_from(&der).map_err(|e| {
        TlsMaterialError::InvalidCertificate {
            file: file.to_owned(),
            reason: format!("cannot parse it ({e:?})"),
        }
    })?;
    let info = CertInfo {
        subject: parsed.subject().to_vec(),
        issuer: parsed.issuer().to_vec(),
        spki: parsed.subject_public_key_info().as_ref().to_vec(),
        dns_names: parsed
            .valid_dns_names()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        der: der.clone(),
    };
    Ok(info)
}

/// A private key loaded by the crypto provider, with its public key if the provider
/// can tell it.
pub(super) struct LoadedKey {
    pub(super) key: Arc<dyn SigningKey>,
    pub(super) spki: Option<Vec<u8>>,
}

pub(super) fn load_key(
    file: &Path,
    der: &PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<LoadedKey, TlsMaterialError> {
    let key = provider
        .key_provider
        .load_private_key(der.clone_key())
        .map_err(|e| TlsMaterialError::UnsupportedKey {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    let spki = key.public_key().map(|s| s.as_ref().to_vec());
    Ok(LoadedKey { key, spki })
}
