//! v2 type-length-value extensions.

use std::fmt;

use super::error::{EncodeError, ProxyError, ProxyErrorKind};

/// A v2 TLV: a type byte and its value.
///
/// ```
/// use strports_core::proxy_protocol::Tlv;
/// let ssl = Tlv::ssl(Tlv::CLIENT_SSL, 0, &[Tlv::new(Tlv::SSL_VERSION, b"TLSv1.3".to_vec())])?;
/// assert_eq!(ssl.kind, Tlv::SSL);
/// assert_eq!(ssl.value, b"\x01\0\0\0\0\x21\0\x07TLSv1.3");
/// # Ok::<(), strports_core::proxy_protocol::EncodeError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tlv {
    /// The type (`Tlv::ALPN`, ...).
    pub kind: u8,
    /// The value.
    pub value: Vec<u8>,
}

impl Tlv {
    /// `PP2_TYPE_ALPN`: the application protocol (a TLS ALPN name).
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY`: the host name the client asked for, UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C`: a CRC32C of the whole header, big-endian.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP`: padding, ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID`: an opaque connection id of at most 128 bytes.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL`: TLS details, see [`SslTlv`].
    pub const SSL: u8 = 0x20;
    /// `PP2_SUBTYPE_SSL_VERSION` (inside `SSL`): the TLS version, US-ASCII.
    pub const SSL_VERSION: u8 = 0x21;
    /// `PP2_SUBTYPE_SSL_CN` (inside `SSL`): the client certificate's common name.
    pub const SSL_CN: u8 = 0x22;
    /// `PP2_SUBTYPE_SSL_CIPHER` (inside `SSL`): the cipher name.
    pub const SSL_CIPHER: u8 = 0x23;
    /// `PP2_SUBTYPE_SSL_SIG_ALG` (inside `SSL`): the certificate's signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// `PP2_SUBTYPE_SSL_KEY_ALG` (inside `SSL`): the certificate's key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// `PP2_TYPE_NETNS`: the network namespace's name.
    pub const NETNS: u8 = 0x30;

    /// `PP2_CLIENT_SSL`: the client connected over TLS.
    pub const CLIENT_SSL: u8 = 0x01;
    /// `PP2_CLIENT_CERT_CONN`: the client sent a certificate on this connection.
    pub const CLIENT_CERT_CONN: u8 = 0x02;
    /// `PP2_CLIENT_CERT_SESS`: the client sent a certificate in this TLS session.
    pub const CLIENT_CERT_SESS: u8 = 0x04;

    /// The longest `UNIQUE_ID` value.
    pub const MAX_UNIQUE_ID_LEN: usize = 128;

    /// A TLV.
    pub fn new(kind: u8, value: Vec<u8>) -> Self {
        Tlv { kind, value }
    }

    /// An `SSL` TLV: the `client` flags (`Tlv::CLIENT_*`), `verify` (0 when a
    /// client certificate was verified) and sub-TLVs (`Tlv::SSL_*`).
    pub fn ssl(client: u8, verify: u32, sub_tlvs: &[Tlv]) -> Result<Tlv, EncodeError> {
        let mut value = vec![client];
        value.extend_from_slice(&verify.to_be_bytes());
        for tlv in sub_tlvs {
            tlv.write(&mut value)?;
        }
        Ok(Tlv::new(Tlv::SSL, value))
    }

    /// Appends the TLV in wire form.
    pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = u16::try_from(self.value.len()).map_err(|_| EncodeError::TlvTooLong {
            kind: self.kind,
            len: self.value.len(),
        })?;
        out.push(self.kind);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.value);
        Ok(())
    }
}

impl fmt::Debug for Tlv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tlv(0x{:02x}, b\"{}\")",
            self.kind,
            self.value.escape_ascii()
        )
    }
}

/// Splits `bytes` into `(type, value)` pairs; a TLV that does not fit gives
/// `Err(its offset)` and ends the iteration.
fn split(bytes: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), usize>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
        let item = match *rest {
            [kind, hi, lo, ref tail @ ..] => {
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                match tail.get(..len) {
                    Some(value) => {
                        pos += 3 + len;
                        Ok((kind, value))
                    }
                    None => Err(pos),
                }
            }
            _ => Err(pos),
        };
        if item.is_err() {
            pos = bytes.len();
        }
        Some(item)
    })
}

/// Parses the TLVs filling `bytes` (which starts `base` bytes into the header);
/// returns them and the header offset of the CRC32C value, if any.
pub(super) fn parse_all(
    bytes: &[u8],
    base: usize,
) -> Result<(Vec<Tlv>, Option<usize>), ProxyError> {
    let mut tlvs = Vec::new();
    let mut crc_at = None;
    let mut pos = base;
    for item in split(bytes) {
        let (kind, value) = item.map_err(|at| {
            let at = base + at;
            let left = base + bytes.len() - at;
            ProxyError::v2(
                ProxyErrorKind::V2Tlv,
                at,
                format!("tlv at offset {at} does not fit in the {left} bytes left in the header"),
            )
        })?;
        check_value(kind, value, pos)?;
        if kind == Tlv::CRC32C {
            if crc_at.is_some() {
                return Err(ProxyError::v2(
                    ProxyErrorKind::V2Tlv,
                    pos,
                    format!("second crc32c tlv at offset {pos}"),
                ));
            }
            crc_at = Some(pos + 3);
        }
        tlvs.push(Tlv::new(kind, value.to_vec()));
        pos += 3 + value.len();
    }
    Ok((tlvs, crc_at))
}

/// Checks the values whose form the specification fixes.
fn check_value(kind: u8, value: &[u8], at: usize) -> Result<(), ProxyError> {
    let bad = |why: String| Err(ProxyError::v2(ProxyErrorKind::V2Tlv, at, why));
    match kind {
        Tlv::CRC32C if value.len() != 4 => bad(format!(
            "crc32c tlv at offset {at} is {} bytes long: must be 4",
            value.len()
        )),
        Tlv::AUTHORITY if std::str::from_utf8(value).is_err() => bad(format!(
            "authority tlv at offset {at} is not utf-8: {}",
            super::error::quoted(value)
        )),
        Tlv::UNIQUE_ID if value.len() > Tlv::MAX_UNIQUE_ID_LEN => bad(format!(
            "unique id tlv at offset {at} is {} bytes long: at most 128 allowed",
            value.len()
        )),
        Tlv::SSL if SslTlv::parse(value).is_none() => bad(format!(
            "ssl tlv at offset {at} is malformed: needs 5 bytes of flags and verify result, \
             then sub-tlvs that exactly fill it"
        )),
        _ => Ok(()),
    }
}

/// The value of an `SSL` TLV: client flags, verification result, sub-TLVs.
///
/// ```
/// use strports_core::proxy_protocol::{SslTlv, Tlv};
/// let tlv = Tlv::ssl(
///     Tlv::CLIENT_SSL | Tlv::CLIENT_CERT_CONN,
///     0,
///     &[Tlv::new(Tlv::SSL_VERSION, b"TLSv1.3".to_vec()), Tlv::new(Tlv::SSL_CN, b"alice".to_vec())],
/// )?;
/// let ssl = SslTlv::parse(&tlv.value).unwrap();
/// assert!(ssl.is_ssl() && ssl.verified());
/// assert_eq!(ssl.version(), Some("TLSv1.3"));
/// assert_eq!(ssl.common_name(), Some("alice"));
/// # Ok::<(), strports_core::proxy_protocol::EncodeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslTlv<'a> {
    client: u8,
    verify: u32,
    sub_tlvs: &'a [u8],
}

impl<'a> SslTlv<'a> {
    /// Parses an `SSL` TLV's value; `None` if it is shorter than 5 bytes or its
    /// sub-TLVs do not exactly fill it.
    pub fn parse(value: &'a [u8]) -> Option<Self> {
        let (&[client, v0, v1, v2, v3], sub_tlvs) = value.split_first_chunk::<5>()?;
        if split(sub_tlvs).any(|item| item.is_err()) {
            return None;
        }
        Some(SslTlv {
            client,
            verify: u32::from_be_bytes([v0, v1, v2, v3]),
            sub_tlvs,
        })
    }

    /// The `client` bit field (`Tlv::CLIENT_SSL`, `Tlv::CLIENT_CERT_CONN`,
    /// `Tlv::CLIENT_CERT_SESS`).
    pub fn client(&self) -> u8 {
        self.client
    }

    /// Whether the client connected over TLS (`Tlv::CLIENT_SSL`).
    pub fn is_ssl(&self) -> bool {
        self.client & Tlv::CLIENT_SSL != 0
    }

    /// The `verify` field: 0 when the client presented a certificate that was
    /// verified.
    pub fn verify(&self) -> u32 {
        self.verify
    }

    /// Whether `verify` is 0.
    pub fn verified(&self) -> bool {
        self.verify == 0
    }

    /// The sub-TLVs as `(type, value)` pairs.
    pub fn sub_tlvs(&self) -> SubTlvs<'a> {
        SubTlvs {
            rest: self.sub_tlvs,
        }
    }

    /// The value of the first sub-TLV of type `kind`.
    pub fn sub_tlv(&self, kind: u8) -> Option<&'a [u8]> {
        self.sub_tlvs().find(|(k, _)| *k == kind).map(|(_, v)| v)
    }

    fn text(&self, kind: u8) -> Option<&'a str> {
        self.sub_tlv(kind).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// `SSL_VERSION`: the TLS version (`TLSv1.3`).
    pub fn version(&self) -> Option<&'a str> {
        self.text(Tlv::SSL_VERSION)
    }

    /// `SSL_CN`: the client certificate's common name.
    pub fn common_name(&self) -> Option<&'a str> {
        self.text(Tlv::SSL_CN)
    }

    /// `SSL_CIPHER`: the cipher (`ECDHE-RSA-AES128-GCM-SHA256`).
    pub fn cipher(&self) -> Option<&'a str> {
        self.text(Tlv::SSL_CIPHER)
    }

    /// `SSL_SIG_ALG`: the server certificate's signature algorithm.
    pub fn signature_algorithm(&self) -> Option<&'a str> {
        self.text(Tlv::SSL_SIG_ALG)
    }

    /// `SSL_KEY_ALG`: the server certificate's key algorithm.
    pub fn key_algorithm(&self) -> Option<&'a str> {
        self.text(Tlv::SSL_KEY_ALG)
    }
}

/// The sub-TLVs of an [`SslTlv`], as `(type, value)` pairs.
#[derive(Debug, Clone)]
pub struct SubTlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for SubTlvs<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (kind, value) = split(self.rest).next()?.ok()?;
        self.rest = self.rest.get(3 + value.len()..).unwrap_or_default();
        Some((kind, value))
    }
}
