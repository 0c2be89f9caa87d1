//! The v1 text format: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::error::{EncodeError, ProxyError, ProxyErrorKind as Kind, quoted};
use super::header::{Addresses, Command, Decoded, MIN_LEN, ProxyHeader, V1_MAX_LEN};
use crate::endpoint::Address;

const PROXY: &[u8] = b"PROXY ";

/// The latest offset of the CR: the CRLF must end within `V1_MAX_LEN` bytes.
const LAST_CR: usize = V1_MAX_LEN - 2;

/// The shortest `TCP4` and `TCP6` lines (`0.0.0.0`, `::`, port `0`).
const MIN_TCP4: usize = 32;
const MIN_TCP6: usize = 22;

/// Decodes a v1 header; `bytes` starts with `P`.
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded, ProxyError> {
    let known = bytes.len().min(5);
    if bytes[..known] != PROXY[..known] {
        return Err(ProxyError::not_proxy(bytes));
    }
    if let Some(&b) = bytes.get(5).filter(|&&b| b != b' ') {
        return Err(ProxyError::v1(
            Kind::V1Syntax,
            5,
            format!("expected a space after \"PROXY\", found {}", quoted(&[b])),
        ));
    }
    let window = &bytes[..bytes.len().min(LAST_CR + 1)];
    // Problems are reported in byte order, so that feeding the bytes in any chunks
    // gives the same kind of error (if anything, earlier).
    match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) if bytes[i] == b'\n' => {
            parse_line(&bytes[..i], false)?;
            Err(ProxyError::v1(
                Kind::V1LineEnding,
                i,
                format!("line feed without carriage return at offset {i}"),
            ))
        }
        Some(i) => {
            // Validated before the LF arrives, so a bad line fails as early as possible.
            let addresses = match parse_line(&bytes[..i], true)? {
                Line::Complete(addresses) => addresses,
                Line::Partial { .. } => Addresses::Unspecified, // not returned for complete lines
            };
            match bytes.get(i + 1) {
                None => Ok(Decoded::NeedMore { at_least: 1 }),
                Some(b'\n') => Ok(Decoded::Done {
                    header: ProxyHeader::v1(addresses),
                    consumed: i + 2,
                }),
                Some(&b) => Err(ProxyError::v1(
                    Kind::V1LineEnding,
                    i + 1,
                    format!(
                        "carriage return at offset {i} followed by {} instead of a line feed",
                        quoted(&[b])
                    ),
                )),
            }
        }
        None => {
            let min_total = match parse_line(window, false)? {
                Line::Partial { min_total } => min_total,
                Line::Complete(_) => window.len() + 2, // not returned for partial lines
            };
            if bytes.len() > LAST_CR {
                return Err(ProxyError::v1(
                    Kind::V1TooLong,
                    LAST_CR + 1,
                    format!("no crlf within the first {V1_MAX_LEN} bytes"),
                ));
            }
            Ok(Decoded::NeedMore {
                at_least: min_total.saturating_sub(bytes.len()).max(1),
            })
        }
    }
}

enum Line {
    /// A valid line.
    Complete(Addresses),
    /// A valid start of a line; a whole header is at least `min_total` bytes.
    Partial { min_total: usize },
}

/// One space-separated field.
enum Token<'a> {
    /// Followed by a space.
    Spaced(&'a [u8]),
    /// The last field of a complete line.
    Last(&'a [u8]),
    /// The last field received so far; more may follow.
    Partial(&'a [u8]),
}

struct Tokens<'a> {
    line: &'a [u8],
    pos: usize,
    complete: bool,
}

impl<'a> Tokens<'a> {
    /// The next field and its offset.
    fn next(&mut self) -> (usize, Token<'a>) {
        let start = self.pos;
        let rest = self.line.get(start..).unwrap_or_default();
        match rest.iter().position(|&b| b == b' ') {
            Some(len) => {
                self.pos = start + len + 1;
                (start, Token::Spaced(&rest[..len]))
            }
            None => {
                self.pos = self.line.len();
                let token = if self.complete {
                    Token::Last(rest)
                } else {
                    Token::Partial(rest)
                };
                (start, token)
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Field {
    Source,
    Destination,
    SourcePort,
    DestinationPort,
}

const FIELDS: [Field; 4] = [
    Field::Source,
    Field::Destination,
    Field::SourcePort,
    Field::DestinationPort,
];

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Source => "source address",
            Field::Destination => "destination address",
            Field::SourcePort => "source port",
            Field::DestinationPort => "destination port",
        }
    }

    fn min_len(self, v6: bool) -> usize {
        match self {
            Field::Source | Field::Destination if v6 => 2,
            Field::Source | Field::Destination => 7,
            Field::SourcePort | Field::DestinationPort => 1,
        }
    }
}

/// Checks a line without its CRLF (`complete`) or the start of one.
fn parse_line(line: &[u8], complete: bool) -> Result<Line, ProxyError> {
    if line.len() < PROXY.len() {
        if complete {
            return Err(ProxyError::v1(Kind::V1Syntax, line.len(), "line too short"));
        }
        return Ok(Line::Partial { min_total: MIN_LEN });
    }
    let mut tokens = Tokens {
        line,
        pos: PROXY.len(),
        complete,
    };
    let (at, token) = tokens.next();
    let (protocol, spaced) = match token {
        Token::Partial(word) => {
            let min_total = [
                (&b"TCP4"[..], MIN_TCP4),
                (b"TCP6", MIN_TCP6),
                (b"UNKNOWN", MIN_LEN),
            ]
            .into_iter()
            .filter(|(name, _)| name.starts_with(word))
            .map(|(_, min)| min)
            .min()
            .ok_or_else(|| unknown_protocol(word, at))?;
            return Ok(Line::Partial {
                min_total: min_total.max(line.len() + 2),
            });
        }
        Token::Spaced(word) => (word, true),
        Token::Last(word) => (word, false),
    };
    let v6 = match protocol {
        b"UNKNOWN" if spaced && !complete => {
            // The rest of the line is ignored; only the CRLF is still needed.
            return Ok(Line::Partial {
                min_total: line.len() + 2,
            });
        }
        b"UNKNOWN" => return Ok(Line::Complete(Addresses::Unspecified)),
        b"TCP4" => false,
        b"TCP6" => true,
        b"" => return Err(missing("protocol", at, spaced)),
        _ => return Err(unknown_protocol(protocol, at)),
    };
    if !spaced {
        return Err(missing(Field::Source.name(), line.len(), false));
    }

    let mut ips = [None; 2];
    let mut ports = [0u16; 2];
    for (index, field) in FIELDS.into_iter().enumerate() {
        let (at, token) = tokens.next();
        let (text, spaced) = match token {
            Token::Partial(text) => {
                check_prefix(field, v6, text, at)?;
                let this = if text.is_empty() {
                    field.min_len(v6)
                } else {
                    0
                };
                let later: usize = FIELDS[index + 1..].iter().map(|f| 1 + f.min_len(v6)).sum();
                return Ok(Line::Partial {
                    min_total: line.len() + this + later + 2,
                });
            }
            Token::Spaced(text) => (text, true),
            Token::Last(text) => (text, false),
        };
        if text.is_empty() {
            return Err(missing(field.name(), at, spaced));
        }
        match field {
            Field::Source => ips[0] = Some(address(field, v6, text, at)?),
            Field::Destination => ips[1] = Some(address(field, v6, text, at)?),
            Field::SourcePort => ports[0] = port(field, text, at)?,
            Field::DestinationPort => ports[1] = port(field, text, at)?,
        }
        match FIELDS.get(index + 1) {
            Some(next) if !spaced => return Err(missing(next.name(), line.len(), false)),
            None if spaced => {
                let end = at + text.len();
                return Err(ProxyError::v1(
                    Kind::V1Syntax,
                    end,
                    format!(
                        "expected crlf after the destination port at offset {end}, found a space"
                    ),
                ));
            }
            _ => {}
        }
    }
    match ips {
        [Some(source), Some(destination)] => Ok(Line::Complete(Addresses::tcp(
            SocketAddr::new(source, ports[0]),
            SocketAddr::new(destination, ports[1]),
        ))),
        // Every field was parsed above.
        _ => Err(missing(Field::Source.name(), line.len(), false)),
    }
}

fn unknown_protocol(word: &[u8], at: usize) -> ProxyError {
    ProxyError::v1(
        Kind::V1Protocol,
        at,
        format!(
            "unknown protocol {}: expected TCP4, TCP6 or UNKNOWN",
            quoted(word)
        ),
    )
}

/// A field that is empty: a double space (`spaced`) or the end of the line.
fn missing(what: &str, at: usize, spaced: bool) -> ProxyError {
    let found = if spaced { "a space" } else { "crlf" };
    ProxyError::v1(
        Kind::V1Syntax,
        at,
        format!("expected the {what} at offset {at}, found {found}"),
    )
}

/// Whether `text` can start a valid `field`: rejects what can never become valid
/// without waiting for the CRLF.
fn check_prefix(field: Field, v6: bool, text: &[u8], at: usize) -> Result<(), ProxyError> {
    match field {
        Field::Source | Field::Destination => {
            // 45: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
            let ok = if v6 {
                text.len() <= 45
                    && text
                        .iter()
                        .all(|b| b.is_ascii_hexdigit() || *b == b':' || *b == b'.')
            } else {
                text.len() <= 15 && text.iter().all(|b| b.is_ascii_digit() || *b == b'.')
            };
            if ok {
                Ok(())
            } else {
                Err(bad_address(field, v6, text, at))
            }
        }
        Field::SourcePort | Field::DestinationPort if text.is_empty() => Ok(()),
        // Whatever is wrong with a port stays wrong as digits are added.
        Field::SourcePort | Field::DestinationPort => port(field, text, at).map(drop),
    }
}

fn address(field: Field, v6: bool, text: &[u8], at: usize) -> Result<IpAddr, ProxyError> {
    let text_str = std::str::from_utf8(text).ok();
    let ip = if v6 {
        text_str
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6)
    } else {
        text_str
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .map(IpAddr::V4)
    };
    ip.ok_or_else(|| bad_address(field, v6, text, at))
}

fn bad_address(field: Field, v6: bool, text: &[u8], at: usize) -> ProxyError {
    let family = if v6 { "ipv6" } else { "ipv4" };
    ProxyError::v1(
        Kind::V1Address,
        at,
        format!(
            "{} {} is not an {family} address",
            field.name(),
            quoted(text)
        ),
    )
}

fn port(field: Field, text: &[u8], at: usize) -> Result<u16, ProxyError> {
    let why = if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        "is not a decimal number"
    } else if text.len() > 1 && text[0] == b'0' {
        "has a leading zero"
    } else {
        let value = text
            .iter()
            .take(6)
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        match u16::try_from(value) {
            Ok(port) if text.len() <= 5 => return Ok(port),
            _ => "out of range",
        }
    };
    Err(ProxyError::v1(
        Kind::V1Port,
        at,
        format!("{} {} {why}", field.name(), quoted(text)),
    ))
}

/// Writes a v1 line.
pub(super) fn encode(header: &ProxyHeader) -> Result<Vec<u8>, EncodeError> {
    if !header.tlvs.is_empty() {
        return Err(EncodeError::NotInV1("tlvs"));
    }
    if header.command == Command::Local {
        return Ok(b"PROXY UNKNOWN\r\n".to_vec());
    }
    let (source, destination) = match &header.addresses {
        Addresses::Unspecified => return Ok(b"PROXY UNKNOWN\r\n".to_vec()),
        Addresses::Datagram { .. } => return Err(EncodeError::NotInV1("datagram addresses")),
        Addresses::Stream {
            source: Address::Tcp(source),
            destination: Address::Tcp(destination),
        } => (source, destination),
        Addresses::Stream {
            source: Address::Unix(_),
            destination: Address::Unix(_),
        } => return Err(EncodeError::NotInV1("unix addresses")),
        Addresses::Stream {
            source,
            destination,
        } => {
            return Err(EncodeError::UnsupportedAddress(format!(
                "source {source} and destination {destination}"
            )));
        }
    };
    let line = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => format!("PROXY TCP4 {s} {d}"),
        (s, d) => format!("PROXY TCP6 {} {}", ipv6(s), ipv6(d)),
    };
    Ok(format!("{line} {} {}\r\n", source.port(), destination.port()).into_bytes())
}

pub(super) fn ipv6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
