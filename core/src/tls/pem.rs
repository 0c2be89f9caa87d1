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

/// Where a section starts in its file: the 1-based line of its begin line and that
/// line's byte offset. Errors say where, never what the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    pub(super) line: usize,
    pub(super) offset: usize,
}

impl At {
    /// The position of byte `offset` of `data`. Lines end at `\n`, `\r\n` or a lone
    /// `\r` (the line breaks the PEM parser knows).
    fn of(data: &[u8], offset: usize) -> At {
        let before = &data[..offset.min(data.len())];
        let breaks = before
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')))
            .count();
        At {
            line: breaks + 1,
            offset,
        }
    }
}

/// A private key and where its section begins.
pub(super) struct Key {
    pub(super) der: PrivateKeyDer<'static>,
    pub(super) at: At,
}

/// A certificate and where its section begins.
pub(super) struct Cert {
    pub(super) der: CertificateDer<'static>,
    pub(super) at: At,
}

/// The certificates and keys of one PEM file, in file order. Other sections (CRLs,
/// public keys, DH parameters, ...) and text outside sections are ignored.
pub(super) struct Sections {
    pub(super) certs: Vec<Cert>,
    pub(super) keys: Vec<Key>,
    /// Whether the file has `ENCRYPTED PRIVATE KEY` sections (which PEM parsing skips).
    pub(super) encrypted_keys: bool,
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";

/// The label of a begin line (`-----BEGIN <label>-----`), as rustls' PEM parser reads
/// it: the line must end in exactly five dashes (spaces and line-break bytes between
/// and after them aside); `None` if it does not.
fn begin_label(line: &[u8]) -> Option<&[u8]> {
    let (mut trailer, mut pos) = (0, line.len());
    for (i, &b) in line.iter().enumerate().rev() {
        match b {
            b'-' => {
                trailer += 1;
                pos = i;
            }
            b'\n' | b'\r' | b' ' => continue,
            _ => break,
        }
    }
    (trailer == 5).then(|| line.get(BEGIN.len()..pos).unwrap_or_default())
}

/// Whether `line` ends the section labelled `label`.
fn is_end(label: &[u8], line: &[u8]) -> bool {
    line.strip_prefix(END)
        .and_then(|rest| rest.strip_prefix(label))
        .is_some_and(|rest| rest.starts_with(b"-----"))
}

/// A label fit to be quoted in a message: what PEM labels look like (`PRIVATE KEY`,
/// `X509 CRL`), short. Anything else (e.g. a whole key whose line breaks were
/// removed, which the parser takes for a label) is never shown.
fn shown_label(label: &[u8]) -> Option<&str> {
    let plain = !label.is_empty()
        && label.len() <= 40
        && label
            .iter()
            .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ');
    if plain {
        std::str::from_utf8(label).ok()
    } else {
        None
    }
}

/// An [`InvalidPem`](TlsMaterialError::InvalidPem) error at `at`.
fn invalid(file: &PemFile, at: At, reason: String) -> TlsMaterialError {
    TlsMaterialError::InvalidPem {
        file: file.path.clone(),
        line: at.line,
        offset: at.offset,
        reason,
    }
}

/// Splits `file` into its sections, with the semantics of rustls' PEM parser (which
/// decodes each section), and errors that say where and why but never quote the file:
/// it may hold a private key, and error messages end up in logs.
pub(super) fn sections(file: &PemFile) -> Result<Sections, TlsMaterialError> {
    let data = file.contents.as_slice();
    let mut out = Sections {
        certs: Vec::new(),
        keys: Vec::new(),
        encrypted_keys: false,
    };
    // The section being read (its label and where its begin line starts), and where
    // the parser's current run started (after the last end line): rustls decodes a
    // section from the body lines of every begin line since then.
    let mut open: Option<(&[u8], usize)> = None;
    let mut run_start = 0;
    let mut pos = 0;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        let next = (end + 1).min(data.len());
        if line.starts_with(BEGIN) {
            let Some(label) = begin_label(line) else {
                return Err(invalid(
                    file,
                    At::of(data, pos),
                    "malformed begin line: it must end in exactly five dashes, as in -----BEGIN CERTIFICATE-----"
                        .to_owned(),
                ));
            };
            if label == b"ENCRYPTED PRIVATE KEY" {
                out.encrypted_keys = true;
            }
            open = Some((label, pos));
        } else if let Some((label, begin)) = open {
            if is_end(label, line) {
                if let Ok(kind) = SectionKind::try_from(label) {
                    let at = At::of(data, begin);
                    decode(file, &data[run_start..next], kind, at, &mut out)?;
                }
                open = None;
                run_start = next;
            }
        }
        pos = next;
    }
    if let Some((label, begin)) = open {
        let reason = match shown_label(label) {
            Some(label) => format!(
                "the {label} section has no end line (-----END {label}-----); is the file cut short?"
            ),
            None if contains(label, b"-----") => "a section has no end line, and its begin line goes on after the label; were the line breaks removed?".to_owned(),
            None => "a section has no end line".to_owned(),
        };
        return Err(invalid(file, At::of(data, begin), reason));
    }
    Ok(out)
}

/// Decodes the section of kind `kind` that ends `run` (see [`sections`]) with rustls'
/// parser and adds it to `out` if it is a certificate or a key.
fn decode(
    file: &PemFile,
    run: &[u8],
    kind: SectionKind,
    at: At,
    out: &mut Sections,
) -> Result<(), TlsMaterialError> {
    let label = match kind {
        SectionKind::Certificate => "CERTIFICATE",
        SectionKind::PrivateKey => "PRIVATE KEY",
        SectionKind::RsaPrivateKey => "RSA PRIVATE KEY",
        SectionKind::EcPrivateKey => "EC PRIVATE KEY",
        SectionKind::PublicKey => "PUBLIC KEY",
        SectionKind::Crl => "X509 CRL",
        SectionKind::Csr => "CERTIFICATE REQUEST",
        _ => "PEM",
    };
    // The error's own text is never shown: rustls' messages quote the input.
    let (_, der) = <(SectionKind, Vec<u8>) as PemObject>::from_pem_slice(run).map_err(|e| {
        let why = match e {
            pem::Error::Base64Decode(_) => "is not valid base64",
            pem::Error::SectionTooLarge => "is larger than 256 MiB",
            _ => "cannot be decoded",
        };
        invalid(file, at, format!("the {label} section {why}"))
    })?;
    match kind {
        SectionKind::Certificate => out.certs.push(Cert {
            der: CertificateDer::from(der),
            at,
        }),
        SectionKind::PrivateKey => out.keys.push(Key {
            der: PrivateKeyDer::Pkcs8(der.into()),
            at,
        }),
        SectionKind::RsaPrivateKey => out.keys.push(Key {
            der: PrivateKeyDer::Pkcs1(der.into()),
            at,
        }),
        SectionKind::EcPrivateKey => out.keys.push(Key {
            der: PrivateKeyDer::Sec1(der.into()),
            at,
        }),
        // Other sections (CRLs, public keys, ...) are not used.
        _ => {}
    }
    Ok(())
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

pub(super) fn cert_info(file: &Path, cert: Cert) -> Result<CertInfo, TlsMaterialError> {
    let der = cert.der;
    let parsed = webpki::EndEntityCert::try_from(&der).map_err(|e| {
        TlsMaterialError::InvalidCertificate {
            file: file.to_owned(),
            line: cert.at.line,
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

/// Loads `key` (from `file`) with the provider. The provider's reason is kept (rustls'
/// providers say which key types they tried, never what the key holds).
pub(super) fn load_key(
    file: &Path,
    key: &Key,
    provider: &CryptoProvider,
) -> Result<LoadedKey, TlsMaterialError> {
    let key = provider
        .key_provider
        .load_private_key(key.der.clone_key())
        .map_err(|e| TlsMaterialError::UnsupportedKey {
            file: file.to_owned(),
            line: key.at.line,
            reason: e.to_string(),
        })?;
    let spki = key.public_key().map(|s| s.as_ref().to_vec());
    Ok(LoadedKey { key, spki })
}
