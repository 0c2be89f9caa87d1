//! The v2 binary format: signature, version and command, family, length,
//! addresses, TLVs.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::error::{EncodeError, ProxyError, ProxyErrorKind as Kind};
use super::header::{
    Addresses, Command, Decoded, ProxyHeader, V2_FIXED_LEN, V2_SIGNATURE, Version,
};
use super::tlv::{self, Tlv};
use super::v1::ipv6;
use crate::common::UnixAddress;
use crate::endpoint::Address;

/// The size of each UNIX address field (`sun_path`).
const UNIX_FIELD: usize = 108;

/// The 14th byte: address family (high nibble) and transport (low nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `0x00`: no addresses, TLVs follow at once.
    Unspec,
    /// TCP or UDP (`datagram`) over IPv4.
    Inet { datagram: bool },
    /// TCP or UDP over IPv6.
    Inet6 { datagram: bool },
    /// A UNIX stream or datagram socket.
    Unix { datagram: bool },
    /// Defined halves, one of them unspecified (`0x10`, `0x01`, ...): no usable
    /// addresses, and no telling where the TLVs start.
    Opaque,
    /// An undefined family or transport.
    Invalid,
}

impl Family {
    fn from_byte(byte: u8) -> Family {
        let (family, transport) = (byte >> 4, byte & 0x0f);
        let datagram = transport == 2;
        match (family, transport) {
            (4.., _) | (_, 3..) => Family::Invalid,
            (0, 0) => Family::Unspec,
            (0, _) | (_, 0) => Family::Opaque,
            (1, _) => Family::Inet { datagram },
            (2, _) => Family::Inet6 { datagram },
            _ => Family::Unix { datagram },
        }
    }

    /// The size of the address block.
    fn address_len(self) -> Option<usize> {
        match self {
            Family::Unspec => Some(0),
            Family::Inet { .. } => Some(12),
            Family::Inet6 { .. } => Some(36),
            Family::Unix { .. } => Some(2 * UNIX_FIELD),
            Family::Opaque | Family::Invalid => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Inet { datagram: false } => "tcp over ipv4",
            Family::Inet { datagram: true } => "udp over ipv4",
            Family::Inet6 { datagram: false } => "tcp over ipv6",
            Family::Inet6 { datagram: true } => "udp over ipv6",
            Family::Unix { datagram: false } => "unix stream",
            Family::Unix { datagram: true } => "unix datagram",
            Family::Unspec | Family::Opaque | Family::Invalid => "unspecified",
        }
    }
}

fn need(have: usize, total: usize) -> Result<Decoded, ProxyError> {
    Ok(Decoded::NeedMore {
        at_least: total.saturating_sub(have).max(1),
    })
}

/// Decodes a v2 header; `bytes` starts with CR.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, ProxyError> {
    let known = bytes.len().min(V2_SIGNATURE.len());
    if bytes[..known] != V2_SIGNATURE[..known] {
        return Err(ProxyError::not_proxy(bytes));
    }
    let Some(&version_command) = bytes.get(12) else {
        return need(bytes.len(), V2_FIXED_LEN);
    };
    let version = version_command >> 4;
    if version != 2 {
        return Err(ProxyError::v2(
            Kind::V2Version,
            12,
            format!("unsupported version {version}: expected 2"),
        ));
    }
    let command = match version_command & 0x0f {
        0 => Command::Local,
        1 => Command::Proxy,
        other => {
            return Err(ProxyError::v2(
                Kind::V2Command,
                12,
                format!("unknown command 0x{other:x}: expected 0x0 (local) or 0x1 (proxy)"),
            ));
        }
    };
    let Some(&family_byte) = bytes.get(13) else {
        return need(bytes.len(), V2_FIXED_LEN);
    };
    let family = Family::from_byte(family_byte);
    // LOCAL ignores the family byte, as the specification requires.
    if command == Command::Proxy && family == Family::Invalid {
        return Err(ProxyError::v2(
            Kind::V2Family,
            13,
            format!("unknown address family and transport 0x{family_byte:02x}"),
        ));
    }
    let Some(&[hi, lo]) = bytes.get(14..16) else {
        return need(bytes.len(), V2_FIXED_LEN);
    };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let address_len = family.address_len();
    if let (Command::Proxy, Some(address_len)) = (command, address_len) {
        if len < address_len {
            return Err(ProxyError::v2(
                Kind::V2Length,
                14,
                format!(
                    "length {len} is too small for {} addresses ({address_len} bytes)",
                    family.name()
                ),
            ));
        }
    }
    let total = V2_FIXED_LEN + len;
    let Some(header) = bytes.get(..total) else {
        return need(bytes.len(), total);
    };
    let block = &header[V2_FIXED_LEN..];
    let (addresses, tlv_start) = match (command, address_len) {
        // A LOCAL header may have been sent with a family but no addresses.
        (_, Some(address_len)) if address_len > len => (Addresses::Unspecified, None),
        (_, None) => (Addresses::Unspecified, None),
        (Command::Local, Some(address_len)) => (Addresses::Unspecified, Some(address_len)),
        (Command::Proxy, Some(address_len)) => {
            (addresses(family, &block[..address_len]), Some(address_len))
        }
    };
    let tlvs = match tlv_start {
        Some(start) => {
            let base = V2_FIXED_LEN + start;
            let (tlvs, crc_at) = tlv::parse_all(&block[start..], base)?;
            if let Some(at) = crc_at {
                check_crc(header, at)?;
            }
            tlvs
        }
        None => Vec::new(),
    };
    Ok(Decoded::Done {
        header: ProxyHeader {
            version: Version::V2,
            command,
            addresses,
            tlvs,
        },
        consumed: total,
    })
}

/// `N` bytes at `at`, zeros if out of range (never, given the length checks).
fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; N])
}

fn addresses(family: Family, block: &[u8]) -> Addresses {
    let ip_pair = |ip_len: usize, make: &dyn Fn(&[u8], usize) -> IpAddr| {
        let port = |at| u16::from_be_bytes(array(block, at));
        (
            Address::Tcp(SocketAddr::new(make(block, 0), port(2 * ip_len))),
            Address::Tcp(SocketAddr::new(make(block, ip_len), port(2 * ip_len + 2))),
        )
    };
    let v4 = |b: &[u8], at| IpAddr::V4(Ipv4Addr::from(array::<4>(b, at)));
    let v6 = |b: &[u8], at| IpAddr::V6(Ipv6Addr::from(array::<16>(b, at)));
    let ((source, destination), datagram) = match family {
        Family::Inet { datagram } => (ip_pair(4, &v4), datagram),
        Family::Inet6 { datagram } => (ip_pair(16, &v6), datagram),
        Family::Unix { datagram } => (
            (
                unix_address(block.get(..UNIX_FIELD).unwrap_or_default()),
                unix_address(block.get(UNIX_FIELD..).unwrap_or_default()),
            ),
            datagram,
        ),
        Family::Unspec | Family::Opaque | Family::Invalid => return Addresses::Unspecified,
    };
    if datagram {
        Addresses::Datagram {
            source,
            destination,
        }
    } else {
        Addresses::Stream {
            source,
            destination,
        }
    }
}

/// A 108-byte `sun_path`: a path up to its first NUL, an abstract name (leading
/// NUL) without trailing NULs, or nothing (all NULs).
fn unix_address(field: &[u8]) -> Address {
    match field.split_first() {
        Some((0, name)) => {
            let end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            if end == 0 {
                return Address::Unix(None);
            }
            let name = String::from_utf8_lossy(&name[..end]).into_owned();
            Address::Unix(Some(UnixAddress::Abstract(name)))
        }
        Some(_) => {
            let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
            Address::Unix(Some(UnixAddress::Path(path_from_bytes(&field[..end]))))
        }
        None => Address::Unix(None),
    }
}

#[cfg(unix)]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    Cow::Borrowed(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Cow<'_, [u8]> {
    match path.to_string_lossy() {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// The CRC32C (Castagnoli, reflected) lookup table.
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32C (RFC 4960 appendix B) of the concatenated `parts`.
pub(super) fn crc32c(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc = (crc >> 8) ^ CRC32C_TABLE[usize::from((crc as u8) ^ byte)];
        }
    }
    !crc
}

/// Checks the CRC32C whose value starts at `at`: computed over the header with
/// that value zeroed.
fn check_crc(header: &[u8], at: usize) -> Result<(), ProxyError> {
    let sent = u32::from_be_bytes(array(header, at));
    let before = header.get(..at).unwrap_or_default();
    let after = header.get(at + 4..).unwrap_or_default();
    let actual = crc32c(&[before, &[0; 4], after]);
    if sent == actual {
        Ok(())
    } else {
        Err(ProxyError::v2(
            Kind::V2Checksum,
            at,
            format!("crc32c 0x{sent:08x} does not match the header's 0x{actual:08x}"),
        ))
    }
}

/// Writes a v2 header.
pub(super) fn encode(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(V2_FIXED_LEN + 2 * UNIX_FIELD);
    out.extend_from_slice(&V2_SIGNATURE);
    out.push(match header.command {
        Command::Local => 0x20,
        Command::Proxy => 0x21,
    });
    match &header.addresses {
        Addresses::Unspecified => out.extend_from_slice(&[0x00, 0, 0]),
        Addresses::Stream {
            source,
            destination,
        } => address_block(&mut out, source, destination, 0x1)?,
        Addresses::Datagram {
            source,
            destination,
        } => address_block(&mut out, source, destination, 0x2)?,
    }
    let mut crc_at = None;
    for tlv in &header.tlvs {
        if tlv.kind == Tlv::CRC32C {
            // Zero while computing; only the first is filled in.
            crc_at.get_or_insert(out.len() + 3);
            Tlv::new(Tlv::CRC32C, vec![0; 4]).write(&mut out)?;
        } else {
            tlv.write(&mut out)?;
        }
    }
    let len = out.len() - V2_FIXED_LEN;
    let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
    out[14..16].copy_from_slice(&len16.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = crc32c(&[&out]);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    Ok(out)
}

/// Writes the family byte, a zero length (filled in later) and the addresses.
fn address_block(
    out: &mut Vec<u8>,
    source: &Address,
    destination: &Address,
    transport: u8,
) -> Result<(), EncodeError> {
    match (source, destination) {
        (Address::Tcp(s), Address::Tcp(d)) => {
            match (s.ip(), d.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&[0x10 | transport, 0, 0]);
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.extend_from_slice(&[0x20 | transport, 0, 0]);
                    out.extend_from_slice(&ipv6(s).octets());
                    out.extend_from_slice(&ipv6(d).octets());
                }
            }
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        (Address::Unix(s), Address::Unix(d)) => {
            out.extend_from_slice(&[0x30 | transport, 0, 0]);
            out.extend_from_slice(&unix_field(s.as_ref())?);
            out.extend_from_slice(&unix_field(d.as_ref())?);
        }
        (s, d) => {
            return Err(EncodeError::UnsupportedAddress(format!(
                "source {s} and destination {d}"
            )));
        }
    }
    Ok(())
}

/// A 108-byte `sun_path` that decodes back to `address`.
fn unix_field(address: Option<&UnixAddress>) -> Result<[u8; UNIX_FIELD], EncodeError> {
    let mut field = [0u8; UNIX_FIELD];
    let (bytes, at): (Cow<'_, [u8]>, usize) = match address {
        None => return Ok(field),
        Some(UnixAddress::Path(path)) => (path_bytes(path), 0),
        Some(UnixAddress::Abstract(name)) => (Cow::Borrowed(name.as_bytes()), 1),
    };
    let shown = address.map(UnixAddress::to_description_text);
    let fail = |why: &str| {
        Err(EncodeError::UnixAddress(format!(
            "{:?} {why}",
            shown.as_deref().unwrap_or_default()
        )))
    };
    if bytes.is_empty() {
        return fail("is empty");
    }
    if bytes.len() > UNIX_FIELD - at {
        return fail(&format!(
            "is {} bytes long: at most {} fit",
            bytes.len(),
            UNIX_FIELD - at
        ));
    }
    if at == 0 && bytes.contains(&0) {
        return fail("contains a nul byte");
    }
    if at == 1 && bytes.ends_with(&[0]) {
        return fail("ends with a nul byte");
    }
    field[at..at + bytes.len()].copy_from_slice(&bytes);
    Ok(field)
}

#[cfg(test)]
mod tests {
    use super::crc32c;

    #[test]
    fn crc32c_check_values() {
        // RFC 3720 B.4 and the usual "123456789" check value.
        assert_eq!(crc32c(&[b"123456789"]), 0xe306_9283);
        assert_eq!(crc32c(&[&[0; 32]]), 0x8a91_36aa);
        assert_eq!(crc32c(&[&[0xff; 32]]), 0x62a8_ab43);
        assert_eq!(crc32c(&[b"1234", b"", b"56789"]), 0xe306_9283);
    }
}
