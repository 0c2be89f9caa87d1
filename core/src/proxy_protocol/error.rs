//! Why a PROXY header could not be decoded or encoded.

use std::fmt;

/// What was wrong with a PROXY protocol header.
///
/// New kinds may be added in minor releases, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The bytes start with neither the v1 (`PROXY `) nor the v2 signature: the peer
    /// does not speak the PROXY protocol (for example a plain HTTP request).
    NotProxy,
    /// v1: no CRLF within the first 107 bytes.
    V1TooLong,
    /// v1: a CR not followed by LF, or an LF without a CR.
    V1LineEnding,
    /// v1: a protocol other than `TCP4`, `TCP6` and `UNKNOWN`.
    V1Protocol,
    /// v1: missing or surplus fields, or separators other than single spaces.
    V1Syntax,
    /// v1: an address that is not an address of the announced family.
    V1Address,
    /// v1: a port that is not a decimal number in 0-65535 without sign or
    /// leading zeros.
    V1Port,
    /// v2: the version (high nibble of the 13th byte) is not 2.
    V2Version,
    /// v2: the command (low nibble of the 13th byte) is neither LOCAL nor PROXY.
    V2Command,
    /// v2: the address family or transport (the 14th byte) is not defined.
    V2Family,
    /// v2: the length field is too small for the announced addresses.
    V2Length,
    /// v2: a TLV that is truncated, runs past the header, or whose value is not
    /// what its type requires.
    V2Tlv,
    /// v2: the CRC32C TLV does not match the header.
    V2Checksum,
}

/// A malformed PROXY protocol header: what, where (a byte offset from the start of
/// the header) and a lowercase message that quotes the offending text.
///
/// ```
/// use strports_core::proxy_protocol::{decode, ProxyErrorKind};
/// let err = decode(b"PROXY TCP4 10.0.0.1 10.0.0.2 99999 80\r\n").unwrap_err();
/// assert_eq!(err.kind(), ProxyErrorKind::V1Port);
/// assert_eq!(err.offset(), 29);
/// assert_eq!(
///     err.to_string(),
///     r#"invalid proxy v1 header: source port "99999" out of range"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyError {
    kind: ProxyErrorKind,
    offset: usize,
    message: String,
}

impl ProxyError {
    pub(super) fn new(kind: ProxyErrorKind, offset: usize, message: String) -> Self {
        ProxyError {
            kind,
            offset,
            message,
        }
    }

    pub(super) fn v1(kind: ProxyErrorKind, offset: usize, detail: impl fmt::Display) -> Self {
        ProxyError::new(kind, offset, format!("invalid proxy v1 header: {detail}"))
    }

    pub(super) fn v2(kind: ProxyErrorKind, offset: usize, detail: impl fmt::Display) -> Self {
        ProxyError::new(kind, offset, format!("invalid proxy v2 header: {detail}"))
    }

    pub(super) fn not_proxy(input: &[u8]) -> Self {
        // "Starts with" says there may be more: no ellipsis, no trailing period.
        let shown = &input[..input.len().min(16)];
        ProxyError::new(
            ProxyErrorKind::NotProxy,
            0,
            format!("not a proxy protocol header: starts with {}", quoted(shown)),
        )
    }

    /// What was wrong.
    pub fn kind(&self) -> ProxyErrorKind {
        self.kind
    }

    /// Byte offset from the start of the header where the offending part starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The message (the same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProxyError {}

impl From<ProxyError> for std::io::Error {
    fn from(err: ProxyError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }
}

/// Bytes in double quotes, non-printable ones escaped (`"GET / \r\n"`).
pub(super) fn quoted(bytes: &[u8]) -> String {
    format!("\"{}\"", bytes.escape_ascii())
}

/// A header that cannot be written in the asked-for format.
///
/// New variants may be added in minor releases, so match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// v1 only carries TCP over IPv4 or IPv6 (or `UNKNOWN`): not UNIX addresses,
    /// datagram transports or TLVs.
    NotInV1(&'static str),
    /// An address the PROXY protocol has no encoding for (`Stdio`, `Process`), or a
    /// source and destination of different kinds (TCP and UNIX).
    UnsupportedAddress(String),
    /// A UNIX address that does not fit the 108-byte field or would not decode back
    /// to itself (empty, containing a NUL byte, an abstract name ending in NUL).
    UnixAddress(String),
    /// A TLV value longer than 65535 bytes.
    TlvTooLong {
        /// The TLV's type.
        kind: u8,
        /// Its value's length.
        len: usize,
    },
    /// Addresses and TLVs longer than the 65535 bytes the length field can say.
    TooLong(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NotInV1(what) => write!(f, "proxy v1 headers cannot carry {what}"),
            EncodeError::UnsupportedAddress(why) => {
                write!(f, "cannot encode addresses in a proxy header: {why}")
            }
            EncodeError::UnixAddress(why) => {
                write!(f, "cannot encode unix address in a proxy v2 header: {why}")
            }
            EncodeError::TlvTooLong { kind, len } => write!(
                f,
                "proxy v2 tlv 0x{kind:02x} is {len} bytes long: at most 65535 fit"
            ),
            EncodeError::TooLong(len) => write!(
                f,
                "proxy v2 addresses and tlvs take {len} bytes: at most 65535 fit"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}
