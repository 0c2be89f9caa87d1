//! PROXY protocol headers (HAProxy's `proxy-protocol.txt`, versions 1 and 2),
//! decoded incrementally from bytes and encoded for tests and tools.
//!
//! A load balancer that speaks the PROXY protocol starts every connection with a
//! header naming the original client (source) and the address it connected to
//! (destination). The `haproxy:` server wrapper (like Twisted's `haproxy` plugin,
//! which wraps any server description) reads that header before handing the
//! connection on. This module is the sans-IO part: it never touches a socket or a
//! clock (the header timeout belongs to the wrapper).
//!
//! Feed [`decode`] everything received so far, or feed each chunk as it arrives to
//! a [`Decoder`]. The answer is [`Decoded::NeedMore`] (with a lower bound on how
//! many more bytes the header needs), [`Decoded::Done`] (the header and how many
//! bytes it took; what follows is the application's data) or a [`ProxyError`].
//! Input that cannot be a PROXY header (`GET / HTTP/1.1`, a TLS hello) is rejected
//! from its first byte, without waiting for more.
//!
//! ```
//! use strports_core::endpoint::Address;
//! use strports_core::proxy_protocol::{decode, Decoded};
//!
//! let received = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
//! let Decoded::Done { header, consumed } = decode(received)? else { panic!() };
//! assert_eq!(header.source(), Some(&Address::Tcp("192.168.0.1:56324".parse().unwrap())));
//! assert_eq!(header.destination(), Some(&Address::Tcp("192.168.0.11:443".parse().unwrap())));
//! assert_eq!(&received[consumed..], b"GET / HTTP/1.1\r\n");
//!
//! // Too short to tell yet: at least 9 more bytes, and reading no more than that
//! // never reads past the end of the header.
//! assert_eq!(decode(b"PROXY ")?, Decoded::NeedMore { at_least: 9 });
//!
//! // Not a PROXY header at all: rejected at once.
//! let err = decode(b"GET / HT").unwrap_err();
//! assert_eq!(err.to_string(), r#"not a proxy protocol header: starts with "GET / HT""#);
//! # Ok::<(), strports_core::proxy_protocol::ProxyError>(())
//! ```
//!
//! What the decoder accepts, beyond the letter of the specification:
//! * v1: exactly single spaces and CRLF; IPv4 addresses as Rust parses them (no
//!   leading zeros), IPv6 addresses as Rust parses them (which includes an embedded
//!   IPv4 tail); ports without sign or leading zeros. After `UNKNOWN` anything up to
//!   the CRLF is ignored, as the specification requires.
//! * v2: the LOCAL command ignores the family byte and the addresses. Family bytes
//!   with one unspecified half (`0x10`, `0x01`, ...) are accepted as "no addresses"
//!   and their whole block is skipped (the TLVs cannot be found without knowing the
//!   address size). TLVs must exactly fill the rest of the header; `AUTHORITY` must be
//!   UTF-8, `UNIQUE_ID` at most 128 bytes, `SSL` well formed, and a `CRC32C` TLV must
//!   match.
//! * v2 UNIX addresses: a path ends at its first NUL; an abstract name (leading NUL)
//!   loses its trailing NULs, and a name that is not UTF-8 is converted lossily; an
//!   all-NUL field is an unnamed socket (`Address::Unix(None)`).

mod error;
mod header;
mod policy;
mod tlv;
mod v1;
mod v2;

pub use error::{EncodeError, ProxyError, ProxyErrorKind};
use header::MIN_LEN;
pub use header::{
    Addresses, Command, Decoded, ProxyHeader, V1_MAX_LEN, V2_FIXED_LEN, V2_MAX_LEN, V2_SIGNATURE,
    Version,
};
pub use ipnet::IpNet;
pub use policy::{
    DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_PENDING,
    DEFAULT_MAX_PENDING_PER_SOURCE, DEFAULT_MAX_TLV_BYTES, HEADER_READ_SIZE, HaproxyOptions,
    Rejection, Untrusted, endpoints, keep_tlvs,
};
pub use tlv::{SslTlv, SubTlvs, Tlv};

impl ProxyHeader {
    /// Encodes the header in its [`version`](ProxyHeader::version)'s format.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self.version {
            Version::V1 => encode_v1(self),
            Version::V2 => encode_v2(self),
        }
    }
}

/// Decodes a header at the start of `bytes` (everything received so far).
///
/// Bytes after the header are not looked at. Call again with more bytes after
/// [`Decoded::NeedMore`]; a prefix of a valid header always gives `NeedMore`, never
/// an error. Never panics, whatever the input.
pub fn decode(bytes: &[u8]) -> Result<Decoded, ProxyError> {
    match bytes.first() {
        None => Ok(Decoded::NeedMore { at_least: MIN_LEN }),
        Some(b'P') => v1::decode(bytes),
        Some(b'\r') => v2::decode(bytes),
        Some(_) => Err(ProxyError::not_proxy(bytes)),
    }
}

/// An incremental decoder that keeps the bytes of an unfinished header, for
/// callers that hand over each chunk as it arrives.
///
/// ```
/// use strports_core::proxy_protocol::{Decoded, Decoder};
///
/// let mut decoder = Decoder::new();
/// assert!(matches!(decoder.feed(b"PROXY TCP6 2001:db8::1 ")?, Decoded::NeedMore { .. }));
/// let chunk = b"2001:db8::2 40000 443\r\nhello";
/// let Decoded::Done { header, consumed } = decoder.feed(chunk)? else { panic!() };
/// assert_eq!(header.source().unwrap().to_string(), "[2001:db8::1]:40000");
/// assert_eq!(&chunk[consumed..], b"hello");
/// # Ok::<(), strports_core::proxy_protocol::ProxyError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    buffered: Vec<u8>,
}

impl Decoder {
    /// A decoder waiting for the first byte of a header.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Feeds the next chunk. On [`Decoded::Done`], `consumed` counts the bytes of
    /// *this* chunk that belong to the header. Error offsets count from the start
    /// of the header. After `Done` or an error the decoder starts over, ready for a
    /// new header.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Decoded, ProxyError> {
        if self.buffered.is_empty() {
            // Common case: the whole header in the first chunk, nothing copied.
            let decoded = decode(chunk)?;
            if let Decoded::NeedMore { .. } = decoded {
                self.buffered.extend_from_slice(chunk);
            }
            return Ok(decoded);
        }
        let before = self.buffered.len();
        // No header is longer than V2_MAX_LEN: the rest of the chunk is payload.
        let take = chunk.len().min(V2_MAX_LEN.saturating_sub(before));
        self.buffered.extend_from_slice(&chunk[..take]);
        match decode(&self.buffered) {
            Ok(Decoded::Done { header, consumed }) => {
                self.buffered.clear();
                Ok(Decoded::Done {
                    header,
                    consumed: consumed.saturating_sub(before),
                })
            }
            Ok(need) => Ok(need),
            Err(e) => {
                self.buffered.clear();
                Err(e)
            }
        }
    }

    /// How many bytes of an unfinished header are held.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }
}

/// Encodes `header` as a v1 line, whatever its `version`.
///
/// IPv4 and IPv6 endpoints mixed in one header are both written as IPv6 (IPv4
/// mapped), as HAProxy does. LOCAL and `Unspecified` become `PROXY UNKNOWN\r\n`.
/// UNIX addresses, datagrams and TLVs have no v1 form.
///
/// ```
/// use strports_core::proxy_protocol::{encode_v1, Addresses, ProxyHeader};
/// let header = ProxyHeader::v1(Addresses::tcp(
///     "192.168.0.1:56324".parse().unwrap(),
///     "192.168.0.11:443".parse().unwrap(),
/// ));
/// assert_eq!(encode_v1(&header)?, b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
/// # Ok::<(), strports_core::proxy_protocol::EncodeError>(())
/// ```
pub fn encode_v1(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    v1::encode(header)
}

/// Encodes `header` in the binary v2 format, whatever its `version`.
///
/// IPv4 and IPv6 endpoints mixed in one header are both written as IPv6 (IPv4
/// mapped). A LOCAL header's addresses are written if it has any (receivers ignore
/// them). A `CRC32C` TLV's value is computed here, whatever it held.
///
/// ```
/// use strports_core::proxy_protocol::{encode_v2, ProxyHeader, V2_SIGNATURE};
/// let bytes = encode_v2(&ProxyHeader::local())?;
/// assert_eq!(bytes[..12], V2_SIGNATURE);
/// assert_eq!(bytes[12..], [0x20, 0x00, 0, 0]);
/// # Ok::<(), strports_core::proxy_protocol::EncodeError>(())
/// ```
pub fn encode_v2(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    v2::encode(header)
}
