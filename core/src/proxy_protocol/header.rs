//! The values of the PROXY protocol: headers, their parts, and what decoding gives.
//! The parent module re-exports them; the codecs (`v1`, `v2`) build and read them.

use std::net::SocketAddr;

use super::tlv::{SslTlv, Tlv};
use crate::common::UnixAddress;
use crate::endpoint::Address;

/// The longest v1 header, CRLF included.
pub const V1_MAX_LEN: usize = 107;

/// The 12 bytes every v2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part of a v2 header: signature, version and command, family, length.
pub const V2_FIXED_LEN: usize = 16;

/// The longest v2 header: the fixed part plus the largest length field.
pub const V2_MAX_LEN: usize = V2_FIXED_LEN + u16::MAX as usize;

/// The shortest header of either version (`PROXY UNKNOWN\r\n`).
pub(super) const MIN_LEN: usize = 15;

/// The header's protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The text format (`PROXY TCP4 ...\r\n`).
    V1,
    /// The binary format.
    V2,
}

/// What the sender says the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// v2 LOCAL: the proxy opened the connection itself (a health check); use the
    /// connection's real endpoints.
    Local,
    /// Relayed on behalf of a client (every v1 header, including `UNKNOWN`).
    Proxy,
}

/// The original endpoints a header announces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addresses {
    /// None: a LOCAL command, v1 `UNKNOWN` or v2 `UNSPEC`. Use the connection's
    /// real endpoints.
    Unspecified,
    /// A stream connection: TCP over IPv4 or IPv6 ([`Address::Tcp`]) or a UNIX
    /// stream socket ([`Address::Unix`]).
    Stream {
        /// Where the client connected from.
        source: Address,
        /// Where the client connected to.
        destination: Address,
    },
    /// A datagram flow: UDP over IPv4 or IPv6 (given as [`Address::Tcp`], which
    /// here just carries the IP address and port) or a UNIX datagram socket. Only v2
    /// can say this; a stream server should refuse such a connection.
    Datagram {
        /// Where the datagrams come from.
        source: Address,
        /// Where they were sent to.
        destination: Address,
    },
}

impl Addresses {
    /// TCP from `source` to `destination`.
    pub fn tcp(source: SocketAddr, destination: SocketAddr) -> Self {
        Addresses::Stream {
            source: Address::Tcp(source),
            destination: Address::Tcp(destination),
        }
    }

    /// UDP from `source` to `destination` (v2 only).
    pub fn udp(source: SocketAddr, destination: SocketAddr) -> Self {
        Addresses::Datagram {
            source: Address::Tcp(source),
            destination: Address::Tcp(destination),
        }
    }

    /// A UNIX stream connection (v2 only); `None` is an unnamed socket.
    pub fn unix(source: Option<UnixAddress>, destination: Option<UnixAddress>) -> Self {
        Addresses::Stream {
            source: Address::Unix(source),
            destination: Address::Unix(destination),
        }
    }
}

/// A decoded PROXY protocol header (or one to encode).
///
/// ```
/// use strports_core::proxy_protocol::{decode, encode_v2, Addresses, Decoded, ProxyHeader, Tlv};
///
/// let sent = ProxyHeader::v2(
///     Addresses::tcp("[2001:db8::1]:40000".parse().unwrap(), "[2001:db8::2]:443".parse().unwrap()),
/// )
/// .with_tlv(Tlv::new(Tlv::ALPN, b"h2".to_vec()))
/// .with_tlv(Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec()));
/// let bytes = encode_v2(&sent)?;
/// let Decoded::Done { header, consumed } = decode(&bytes)? else { panic!() };
/// assert_eq!(consumed, bytes.len());
/// assert_eq!(header, sent);
/// assert_eq!(header.alpn(), Some(&b"h2"[..]));
/// assert_eq!(header.authority(), Some("example.com"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProxyHeader {
    /// The format it was decoded from (and [`ProxyHeader::encode`] writes).
    pub version: Version,
    /// LOCAL or PROXY (always PROXY for v1).
    pub command: Command,
    /// The announced endpoints ([`Addresses::Unspecified`] for LOCAL, whatever the
    /// header carried).
    pub addresses: Addresses,
    /// v2 TLVs in header order (always empty for v1).
    pub tlvs: Vec<Tlv>,
}

impl ProxyHeader {
    /// A v1 header (`Addresses::Unspecified` is `PROXY UNKNOWN`).
    pub fn v1(addresses: Addresses) -> Self {
        ProxyHeader {
            version: Version::V1,
            command: Command::Proxy,
            addresses,
            tlvs: Vec::new(),
        }
    }

    /// A v2 PROXY header without TLVs.
    pub fn v2(addresses: Addresses) -> Self {
        ProxyHeader {
            version: Version::V2,
            command: Command::Proxy,
            addresses,
            tlvs: Vec::new(),
        }
    }

    /// A v2 LOCAL header (a health check) without TLVs.
    pub fn local() -> Self {
        ProxyHeader {
            version: Version::V2,
            command: Command::Local,
            addresses: Addresses::Unspecified,
            tlvs: Vec::new(),
        }
    }

    /// The header a proxy sends for a connection from `source` to `destination`
    /// (what it accepted: the peer and its own address), in `version`'s format:
    /// TCP over IPv4 or IPv6 (an IPv4 address next to an IPv6 one is given
    /// IPv4-mapped, as the two must be of one family), UNIX stream sockets (v2
    /// only), and for anything else, or UNIX in v1, no addresses (v1
    /// `PROXY UNKNOWN`, v2 LOCAL-less `UNSPEC`): the receiver then uses the
    /// connection's own.
    ///
    /// ```
    /// use strports_core::endpoint::Address;
    /// use strports_core::proxy_protocol::{ProxyHeader, Version};
    ///
    /// let client = Address::Tcp("192.0.2.1:5000".parse()?);
    /// let us = Address::Tcp("[2001:db8::1]:443".parse()?);
    /// let header = ProxyHeader::for_connection(Version::V1, &client, &us);
    /// assert_eq!(header.encode()?, b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 5000 443\r\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_connection(version: Version, source: &Address, destination: &Address) -> Self {
        let addresses = match (source, destination) {
            (Address::Tcp(s), Address::Tcp(d)) => {
                let (mut s, mut d) = (*s, *d);
                if s.is_ipv4() != d.is_ipv4() {
                    for a in [&mut s, &mut d] {
                        if let std::net::SocketAddr::V4(v4) = *a {
                            *a = std::net::SocketAddr::new(
                                v4.ip().to_ipv6_mapped().into(),
                                v4.port(),
                            );
                        }
                    }
                }
                Addresses::tcp(s, d)
            }
            (Address::Unix(s), Address::Unix(d)) if version == Version::V2 => {
                Addresses::unix(s.clone(), d.clone())
            }
            _ => Addresses::Unspecified,
        };
        match version {
            Version::V1 => ProxyHeader::v1(addresses),
            Version::V2 => ProxyHeader::v2(addresses),
        }
    }

    /// The header with `tlv` appended.
    pub fn with_tlv(mut self, tlv: Tlv) -> Self {
        self.tlvs.push(tlv);
        self
    }

    /// The original client's address, if the header names one (streams and
    /// datagrams alike: check [`ProxyHeader::addresses`] to tell them apart).
    pub fn source(&self) -> Option<&Address> {
        match &self.addresses {
            Addresses::Stream { source, .. } | Addresses::Datagram { source, .. } => Some(source),
            Addresses::Unspecified => None,
        }
    }

    /// The address the original client connected to, if the header names one.
    pub fn destination(&self) -> Option<&Address> {
        match &self.addresses {
            Addresses::Stream { destination, .. } | Addresses::Datagram { destination, .. } => {
                Some(destination)
            }
            Addresses::Unspecified => None,
        }
    }

    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|t| t.kind == kind)
            .map(|t| t.value.as_slice())
    }

    /// The `ALPN` TLV: the application protocol the client negotiated (`h2`).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(Tlv::ALPN)
    }

    /// The `AUTHORITY` TLV: the host name the client asked for (TLS SNI).
    pub fn authority(&self) -> Option<&str> {
        self.tlv(Tlv::AUTHORITY)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The `UNIQUE_ID` TLV: the proxy's identifier for the connection.
    pub fn unique_id(&self) -> Option<&[u8]> {
        self.tlv(Tlv::UNIQUE_ID)
    }

    /// The `SSL` TLV: how the client connected to the proxy over TLS.
    pub fn ssl(&self) -> Option<SslTlv<'_>> {
        self.tlv(Tlv::SSL).and_then(SslTlv::parse)
    }
}

/// What [`decode`](fn.decode.html) or [`Decoder::feed`](struct.Decoder.html#method.feed)
/// made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decoded {
    /// The bytes are a valid start of a header; at least `at_least` (≥ 1) more are
    /// needed. The header is at least that much longer, so a reader that reads no
    /// more than `at_least` bytes never reads past the header's end.
    NeedMore {
        /// A lower bound on the bytes still missing.
        at_least: usize,
    },
    /// A complete header.
    Done {
        /// The header.
        header: ProxyHeader,
        /// The header's length for [`decode`](fn.decode.html); for
        /// [`Decoder::feed`](struct.Decoder.html#method.feed), how many bytes
        /// of the last chunk it took. Everything after is the application's data.
        consumed: usize,
    },
}
