//! PROXY protocol decoder and encoders: the specification's examples, limits and
//! malformed headers, each also fed one byte at a time.

#![allow(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;

use strports_core::UnixAddress;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{
    Addresses, Command, Decoded, Decoder, EncodeError, ProxyError, ProxyErrorKind, ProxyHeader,
    Tlv, V1_MAX_LEN, V2_MAX_LEN, V2_SIGNATURE, Version, decode, encode_v1, encode_v2,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn tcp(s: &str) -> Address {
    Address::Tcp(sa(s))
}

/// A v2 header from its version/command byte, family byte and the rest (the
/// length field is computed).
fn v2(ver_cmd: u8, family: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(family);
    out.extend_from_slice(&u16::try_from(rest.len()).expect("short").to_be_bytes());
    out.extend_from_slice(rest);
    out
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).expect("short").to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn unix_field(bytes: &[u8]) -> [u8; 108] {
    let mut field = [0; 108];
    field[..bytes.len()].copy_from_slice(bytes);
    field
}

fn done(bytes: &[u8]) -> (ProxyHeader, usize) {
    match decode(bytes) {
        Ok(Decoded::Done { header, consumed }) => (header, consumed),
        other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
    }
}

fn error(bytes: &[u8]) -> ProxyError {
    match decode(bytes) {
        Err(e) => e,
        other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
    }
}

/// Decodes `header ++ payload` all at once, prefix by prefix and through a
/// `Decoder` one byte at a time; all must agree, and the payload stays untouched.
fn check_valid(header: &[u8], expected: &ProxyHeader) {
    let payload = b"GET / HTTP/1.1\r\n\r\n\x00\x01";
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(payload);

    let (decoded, consumed) = done(&bytes);
    assert_eq!(&decoded, expected);
    assert_eq!(consumed, header.len());
    assert_eq!(&bytes[consumed..], payload);
    assert_eq!(done(header), (decoded.clone(), header.len()));

    // Every strict prefix needs more, and never claims more than what is missing.
    for len in 0..header.len() {
        match decode(&bytes[..len]) {
            Ok(Decoded::NeedMore { at_least }) => {
                assert!(at_least >= 1);
                assert!(
                    len + at_least <= header.len(),
                    "prefix {len} of {}: at_least {at_least}",
                    header.len()
                );
            }
            other => panic!("prefix {len}: {other:?}"),
        }
    }

    // One byte at a time.
    let mut decoder = Decoder::new();
    for (i, byte) in header.iter().enumerate() {
        match decoder.feed(std::slice::from_ref(byte)) {
            Ok(Decoded::NeedMore { .. }) if i + 1 < header.len() => {
                assert_eq!(decoder.buffered(), i + 1);
            }
            Ok(Decoded::Done {
                header: h,
                consumed,
            }) if i + 1 == header.len() => {
                assert_eq!(h, decoded);
                assert_eq!(consumed, 1);
                assert_eq!(decoder.buffered(), 0);
            }
            other => panic!("byte {i}: {other:?}"),
        }
    }

    // Split in two anywhere, the second chunk carrying the payload.
    for split in 0..header.len() {
        let mut decoder = Decoder::new();
        assert!(matches!(
            decoder.feed(&bytes[..split]),
            Ok(Decoded::NeedMore { .. })
        ));
        match decoder.feed(&bytes[split..]) {
            Ok(Decoded::Done {
                header: h,
                consumed,
            }) => {
                assert_eq!(h, decoded);
                assert_eq!(split + consumed, header.len());
            }
            other => panic!("split {split}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------

#[test]
fn v1_valid_headers() {
    let table: &[(&str, ProxyHeader)] = &[
        (
            // The specification's example.
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            ProxyHeader::v1(Addresses::tcp(
                sa("192.168.0.1:56324"),
                sa("192.168.0.11:443"),
            )),
        ),
        (
            "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
            ProxyHeader::v1(Addresses::tcp(
                sa("255.255.255.255:65535"),
                sa("255.255.255.255:65535"),
            )),
        ),
        (
            "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
            ProxyHeader::v1(Addresses::tcp(sa("0.0.0.0:0"), sa("0.0.0.0:0"))),
        ),
        (
            "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n",
            ProxyHeader::v1(Addresses::tcp(
                sa("[2001:db8::1]:40000"),
                sa("[2001:db8::2]:443"),
            )),
        ),
        (
            // The longest TCP6 line (104 bytes), upper-case hex.
            "PROXY TCP6 FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF \
             ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            ProxyHeader::v1(Addresses::tcp(
                sa("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
                sa("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
            )),
        ),
        (
            "PROXY TCP6 :: ::ffff:10.0.0.1 0 1\r\n",
            ProxyHeader::v1(Addresses::tcp(sa("[::]:0"), sa("[::ffff:10.0.0.1]:1"))),
        ),
        ("PROXY UNKNOWN\r\n", ProxyHeader::v1(Addresses::Unspecified)),
        (
            // After UNKNOWN anything up to the CRLF is ignored.
            "PROXY UNKNOWN ffff:f::1 whatever  you  like 99999\r\n",
            ProxyHeader::v1(Addresses::Unspecified),
        ),
        (
            "PROXY UNKNOWN \r\n",
            ProxyHeader::v1(Addresses::Unspecified),
        ),
    ];
    for (line, expected) in table {
        check_valid(line.as_bytes(), expected);
        assert_eq!(expected.version, Version::V1);
        assert_eq!(expected.command, Command::Proxy);
    }
    let (h, _) = done(table[0].0.as_bytes());
    assert_eq!(h.source(), Some(&tcp("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(&tcp("192.168.0.11:443")));
    let (h, _) = done(b"PROXY UNKNOWN\r\n");
    assert_eq!((h.source(), h.destination()), (None, None));
    assert!(h.tlvs.is_empty());
}

#[test]
fn v1_length_limit() {
    // "PROXY UNKNOWN " + filler + CRLF, exactly 107 bytes: the longest allowed.
    let filler = "x".repeat(V1_MAX_LEN - 16);
    let line = format!("PROXY UNKNOWN {filler}\r\n");
    assert_eq!(line.len(), 107);
    check_valid(line.as_bytes(), &ProxyHeader::v1(Addresses::Unspecified));

    // 108 bytes: rejected once the CRLF is overdue, without waiting for it.
    let line = format!("PROXY UNKNOWN {filler}x\r\n");
    assert_eq!(line.len(), 108);
    let err = error(line.as_bytes());
    assert_eq!(err.kind(), ProxyErrorKind::V1TooLong);
    assert_eq!(
        err.to_string(),
        "invalid proxy v1 header: no crlf within the first 107 bytes"
    );
    assert_eq!(
        error(&line.as_bytes()[..106]).kind(),
        ProxyErrorKind::V1TooLong
    );
    assert!(matches!(
        decode(&line.as_bytes()[..105]),
        Ok(Decoded::NeedMore { at_least: 2 })
    ));
    // And a long run of garbage without any CRLF at all.
    let err = error(format!("PROXY UNKNOWN {}", "y".repeat(500)).as_bytes());
    assert_eq!(err.kind(), ProxyErrorKind::V1TooLong);
}

#[test]
fn v1_errors() {
    use ProxyErrorKind::*;
    let table: &[(&str, ProxyErrorKind, usize, &str)] = &[
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 99999 80\r\n",
            V1Port,
            29,
            r#"source port "99999" out of range"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 80 65536\r\n",
            V1Port,
            32,
            r#"destination port "65536" out of range"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 +80 443\r\n",
            V1Port,
            29,
            r#"source port "+80" is not a decimal number"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 080 443\r\n",
            V1Port,
            29,
            r#"source port "080" has a leading zero"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1000000 443\r\n",
            V1Port,
            29,
            r#"source port "1000000" out of range"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 -1 443\r\n",
            V1Port,
            29,
            r#"source port "-1" is not a decimal number"#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.02 1 443\r\n",
            V1Address,
            20,
            r#"destination address "10.0.0.02" is not an ipv4 address"#,
        ),
        (
            "PROXY TCP4 10.0.0 10.0.0.2 1 443\r\n",
            V1Address,
            11,
            r#"source address "10.0.0" is not an ipv4 address"#,
        ),
        (
            "PROXY TCP4 ::1 10.0.0.2 1 443\r\n",
            V1Address,
            11,
            r#"source address "::1" is not an ipv4 address"#,
        ),
        (
            "PROXY TCP6 10.0.0.1 ::1 1 443\r\n",
            V1Address,
            11,
            r#"source address "10.0.0.1" is not an ipv6 address"#,
        ),
        (
            "PROXY TCP6 ::1 fe80::1%eth0 1 443\r\n",
            V1Address,
            15,
            r#"destination address "fe80::1%eth0" is not an ipv6 address"#,
        ),
        (
            "PROXY TCP5 ::1 ::1 1 443\r\n",
            V1Protocol,
            6,
            r#"unknown protocol "TCP5": expected TCP4, TCP6 or UNKNOWN"#,
        ),
        (
            "PROXY tcp4 ::1 ::1 1 443\r\n",
            V1Protocol,
            6,
            r#"unknown protocol "tcp4": expected TCP4, TCP6 or UNKNOWN"#,
        ),
        (
            "PROXY UNKNOWNX\r\n",
            V1Protocol,
            6,
            r#"unknown protocol "UNKNOWNX": expected TCP4, TCP6 or UNKNOWN"#,
        ),
        (
            "PROXY  TCP4 10.0.0.1 10.0.0.2 1 2\r\n",
            V1Syntax,
            6,
            "expected the protocol at offset 6, found a space",
        ),
        (
            "PROXY TCP4 10.0.0.1  10.0.0.2 1 2\r\n",
            V1Syntax,
            20,
            "expected the destination address at offset 20, found a space",
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 \r\n",
            V1Syntax,
            32,
            "expected crlf after the destination port at offset 32, found a space",
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 2 3\r\n",
            V1Syntax,
            32,
            "expected crlf after the destination port at offset 32, found a space",
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n",
            V1Syntax,
            30,
            "expected the destination port at offset 30, found crlf",
        ),
        (
            "PROXY TCP4\r\n",
            V1Syntax,
            10,
            "expected the source address at offset 10, found crlf",
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 \r\n",
            V1Syntax,
            31,
            "expected the destination port at offset 31, found crlf",
        ),
        (
            "PROXY\tTCP4 10.0.0.1 10.0.0.2 1 2\r\n",
            V1Syntax,
            5,
            r#"expected a space after "PROXY", found "\t""#,
        ),
        (
            "PROXY\r\n",
            V1Syntax,
            5,
            r#"expected a space after "PROXY", found "\r""#,
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n",
            V1LineEnding,
            32,
            "line feed without carriage return at offset 32",
        ),
        (
            "PROXY TCP4 10.0.0.1 10.0.0.2 1 2\rX",
            V1LineEnding,
            33,
            r#"carriage return at offset 32 followed by "X" instead of a line feed"#,
        ),
        (
            "PROXY UNKNOWN \rfoo\r\n",
            V1LineEnding,
            15,
            r#"carriage return at offset 14 followed by "f" instead of a line feed"#,
        ),
        (
            "PROXY UNKNOWN a\nb\r\n",
            V1LineEnding,
            15,
            "line feed without carriage return at offset 15",
        ),
    ];
    for &(line, kind, offset, detail) in table {
        let err = error(line.as_bytes());
        assert_eq!(err.kind(), kind, "{line:?}: {err}");
        assert_eq!(err.offset(), offset, "{line:?}: {err}");
        assert_eq!(
            err.to_string(),
            format!("invalid proxy v1 header: {detail}"),
            "{line:?}"
        );
        assert_eq!(err.message(), err.to_string());
        // Fed one byte at a time, the error comes no later, with the same kind.
        let mut decoder = Decoder::new();
        let first = line
            .as_bytes()
            .iter()
            .enumerate()
            .find_map(|(i, b)| decoder.feed(&[*b]).err().map(|e| (i, e)));
        let (at, early) = first.unwrap_or_else(|| panic!("{line:?} never failed"));
        assert_eq!(early.kind(), kind, "{line:?}: {early}");
        assert!(at < line.len());
    }
}

#[test]
fn v1_errors_are_early() {
    // Each of these is already hopeless and fails before any CRLF arrives.
    let table: &[(&str, ProxyErrorKind)] = &[
        ("PROXY X", ProxyErrorKind::V1Protocol),
        ("PROXY TCP7", ProxyErrorKind::V1Protocol),
        ("PROXY UNKNOWNN", ProxyErrorKind::V1Protocol),
        ("PROXY TCP4 1.2.3.x", ProxyErrorKind::V1Address),
        ("PROXY TCP4 1111111111111111", ProxyErrorKind::V1Address),
        ("PROXY TCP6 ::g", ProxyErrorKind::V1Address),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 01", ProxyErrorKind::V1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 65536", ProxyErrorKind::V1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 +", ProxyErrorKind::V1Port),
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", ProxyErrorKind::V1Syntax),
        ("PROXY TCP4  ", ProxyErrorKind::V1Syntax),
        // A bad line is rejected at its CR, before the LF arrives.
        ("PROXY TCP4 1.2.3.4 5.6.7.8 1\r", ProxyErrorKind::V1Syntax),
    ];
    for &(prefix, kind) in table {
        let err = error(prefix.as_bytes());
        assert_eq!(err.kind(), kind, "{prefix:?}: {err}");
    }
    // A good line at its CR needs exactly the LF.
    assert_eq!(
        decode(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"),
        Ok(Decoded::NeedMore { at_least: 1 })
    );
}

#[test]
fn need_more_hints() {
    let table: &[(&[u8], usize)] = &[
        (b"", 15),
        (b"P", 14),
        (b"PROXY ", 9),
        (b"PROXY T", 15),    // TCP6 :: :: 0 0 is 22 bytes
        (b"PROXY TCP4", 22), // TCP4 0.0.0.0 0.0.0.0 0 0 is 32
        (b"PROXY TCP4 ", 21),
        (b"PROXY TCP4 1.2.3.4", 14), // " 0.0.0.0 0 0\r\n"
        (b"PROXY TCP6 ::1 ::1 1 2", 2),
        (b"PROXY UNKNOWN", 2),
        (b"PROXY UNKNOWN whatever", 2),
        (b"\r", 15),
        (b"\r\n\r\n\0\r\nQUIT\n", 4),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11", 2),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 12),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x01\x00\x01\x02", 254),
        (b"\r\n\r\n\0\r\nQUIT\n\x20\x00\xff\xff", 65535),
    ];
    for &(bytes, at_least) in table {
        assert_eq!(
            decode(bytes),
            Ok(Decoded::NeedMore { at_least }),
            "{:?}",
            bytes.escape_ascii().to_string()
        );
    }
}

#[test]
fn garbage_is_rejected_at_once() {
    let table: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.1\r\n", r#""GET / HTTP/1.1\r\n""#),
        (b"G", r#""G""#),
        (b"\x16\x03\x01\x02\x00", r#""\x16\x03\x01\x02\x00""#),
        (b"SSH-2.0-OpenSSH_9.6\r\n", r#""SSH-2.0-OpenSSH_""#),
        (b"PROXx", r#""PROXx""#),
        (b"POST", r#""POST""#),
        (b"proxy TCP4", r#""proxy TCP4""#),
        (b"\r\n\r\n\0\r\nQUIX", r#""\r\n\r\n\x00\r\nQUIX""#),
        (b"\0", r#""\x00""#),
    ];
    for &(bytes, shown) in table {
        let err = error(bytes);
        assert_eq!(err.kind(), ProxyErrorKind::NotProxy);
        assert_eq!(err.offset(), 0);
        assert_eq!(
            err.to_string(),
            format!("not a proxy protocol header: starts with {shown}")
        );
    }
    // "\r\n" alone is still a valid start of the v2 signature.
    assert!(matches!(decode(b"\r\n\r"), Ok(Decoded::NeedMore { .. })));
}

// ---------------------------------------------------------------------------------
// v2
// ---------------------------------------------------------------------------------

fn ssl_value() -> Vec<u8> {
    // client = SSL | CERT_CONN, verify = 0, then VERSION and CN sub-TLVs.
    let mut value = vec![0x03, 0, 0, 0, 0];
    value.extend(tlv(0x21, b"TLSv1.3"));
    value.extend(tlv(0x22, b"client.example"));
    value
}

#[test]
fn v2_valid_headers() {
    let tcp4_block = [
        192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb, // 56324 -> 443
    ];
    let mut tcp6_block = Vec::new();
    tcp6_block.extend(
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .expect("ipv6")
            .octets(),
    );
    tcp6_block.extend("::1".parse::<std::net::Ipv6Addr>().expect("ipv6").octets());
    tcp6_block.extend([0x9c, 0x40, 0x00, 0x50]); // 40000 -> 80

    let tlvs: Vec<u8> = [
        tlv(0x01, b"h2"),
        tlv(0x02, b"example.com"),
        tlv(0x20, &ssl_value()),
        tlv(0x04, b""),
        tlv(0x05, &[7; 128]),
        tlv(0xe0, b"custom"),
    ]
    .concat();
    let expected_tlvs = vec![
        Tlv::new(Tlv::ALPN, b"h2".to_vec()),
        Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec()),
        Tlv::new(Tlv::SSL, ssl_value()),
        Tlv::new(Tlv::NOOP, Vec::new()),
        Tlv::new(Tlv::UNIQUE_ID, vec![7; 128]),
        Tlv::new(0xe0, b"custom".to_vec()),
    ];
    let with_tlvs = |mut header: ProxyHeader| {
        header.tlvs = expected_tlvs.clone();
        header
    };

    let unix_block = [
        unix_field(b"/run/client.sock"),
        unix_field(b"\0abstract-name"),
    ]
    .concat();
    // Bytes after a path's NUL are ignored; an all-NUL field is an unnamed socket.
    let unix_junk_block = [unix_field(b"/tmp/a\0junk"), [0; 108]].concat();

    let table: Vec<(Vec<u8>, ProxyHeader)> = vec![
        (
            v2(0x21, 0x11, &tcp4_block),
            ProxyHeader::v2(Addresses::tcp(
                sa("192.168.0.1:56324"),
                sa("192.168.0.11:443"),
            )),
        ),
        (
            v2(0x21, 0x11, &[&tcp4_block[..], &tlvs].concat()),
            with_tlvs(ProxyHeader::v2(Addresses::tcp(
                sa("192.168.0.1:56324"),
                sa("192.168.0.11:443"),
            ))),
        ),
        (
            v2(0x21, 0x21, &tcp6_block),
            ProxyHeader::v2(Addresses::tcp(sa("[2001:db8::1]:40000"), sa("[::1]:80"))),
        ),
        (
            v2(0x21, 0x21, &[&tcp6_block[..], &tlvs].concat()),
            with_tlvs(ProxyHeader::v2(Addresses::tcp(
                sa("[2001:db8::1]:40000"),
                sa("[::1]:80"),
            ))),
        ),
        (
            v2(0x21, 0x31, &[&unix_block[..], &tlvs].concat()),
            with_tlvs(ProxyHeader::v2(Addresses::unix(
                Some(UnixAddress::Path(PathBuf::from("/run/client.sock"))),
                Some(UnixAddress::Abstract("abstract-name".into())),
            ))),
        ),
        (
            v2(0x21, 0x31, &unix_junk_block),
            ProxyHeader::v2(Addresses::unix(
                Some(UnixAddress::Path(PathBuf::from("/tmp/a"))),
                None,
            )),
        ),
        // LOCAL: no addresses, whatever the family; TLVs still read.
        (v2(0x20, 0x00, &[]), ProxyHeader::local()),
        (v2(0x20, 0x00, &tlvs), with_tlvs(ProxyHeader::local())),
        (
            v2(0x20, 0x11, &[&tcp4_block[..], &tlvs].concat()),
            with_tlvs(ProxyHeader::local()),
        ),
        // LOCAL with a family but no room for its addresses, or an undefined family.
        (v2(0x20, 0x11, &[]), ProxyHeader::local()),
        (v2(0x20, 0xff, b"anything"), ProxyHeader::local()),
        // PROXY over UNSPEC: no addresses, TLVs follow at once.
        (
            v2(0x21, 0x00, &tlvs),
            with_tlvs(ProxyHeader::v2(Addresses::Unspecified)),
        ),
        // Half-unspecified family: accepted, block skipped (TLVs cannot be located).
        (
            v2(0x21, 0x10, b"\x01\x02\x03"),
            ProxyHeader::v2(Addresses::Unspecified),
        ),
        // Datagram families are decoded and reported as such.
        (
            v2(0x21, 0x12, &tcp4_block),
            ProxyHeader::v2(Addresses::udp(
                sa("192.168.0.1:56324"),
                sa("192.168.0.11:443"),
            )),
        ),
        (
            v2(0x21, 0x22, &tcp6_block),
            ProxyHeader::v2(Addresses::udp(sa("[2001:db8::1]:40000"), sa("[::1]:80"))),
        ),
        (
            v2(0x21, 0x32, &unix_block),
            ProxyHeader::v2(Addresses::Datagram {
                source: Address::Unix(Some(UnixAddress::Path("/run/client.sock".into()))),
                destination: Address::Unix(Some(UnixAddress::Abstract("abstract-name".into()))),
            }),
        ),
    ];
    for (bytes, expected) in &table {
        check_valid(bytes, expected);
    }

    let (h, _) = done(&table[1].0);
    assert_eq!(h.version, Version::V2);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.source(), Some(&tcp("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(&tcp("192.168.0.11:443")));
    assert_eq!(h.alpn(), Some(&b"h2"[..]));
    assert_eq!(h.authority(), Some("example.com"));
    assert_eq!(h.unique_id(), Some(&[7; 128][..]));
    assert_eq!(h.tlv(0xe0), Some(&b"custom"[..]));
    assert_eq!(h.tlv(0xe1), None);
    let ssl = h.ssl().expect("ssl tlv");
    assert!(ssl.is_ssl());
    assert_eq!(ssl.client(), Tlv::CLIENT_SSL | Tlv::CLIENT_CERT_CONN);
    assert!(ssl.verified());
    assert_eq!(ssl.version(), Some("TLSv1.3"));
    assert_eq!(ssl.common_name(), Some("client.example"));
    assert_eq!(ssl.cipher(), None);
    assert_eq!(
        ssl.sub_tlvs().collect::<Vec<_>>(),
        [(0x21, &b"TLSv1.3"[..]), (0x22, &b"client.example"[..])]
    );

    let (local, _) = done(&table[7].0);
    assert_eq!(local.command, Command::Local);
    assert_eq!((local.source(), local.destination()), (None, None));
    assert_eq!(local.authority(), Some("example.com"));

    let (udp, _) = done(&table[13].0);
    assert!(matches!(udp.addresses, Addresses::Datagram { .. }));
    assert_eq!(udp.source(), Some(&tcp("192.168.0.1:56324")));
}

#[test]
fn v2_largest_header() {
    // Length 0xffff: addresses plus one TLV filling the rest exactly.
    let value = vec![b'x'; 0xffff - 12 - 3];
    let bytes = v2(
        0x21,
        0x11,
        &[
            &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2][..],
            &tlv(0xe0, &value),
        ]
        .concat(),
    );
    assert_eq!(bytes.len(), V2_MAX_LEN);
    let (header, consumed) = done(&[&bytes[..], b"payload"].concat());
    assert_eq!(consumed, V2_MAX_LEN);
    assert_eq!(header.tlv(0xe0), Some(&value[..]));
    // Through the incremental decoder in a few big chunks.
    let mut decoder = Decoder::new();
    for chunk in bytes[..V2_MAX_LEN - 1].chunks(4096) {
        assert!(matches!(decoder.feed(chunk), Ok(Decoded::NeedMore { .. })));
    }
    assert_eq!(
        decoder.feed(b"xpq"),
        Ok(Decoded::Done {
            header,
            consumed: 1
        })
    );
}

#[test]
fn v2_errors() {
    use ProxyErrorKind::*;
    let tcp4_block = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
    let with_tlvs = |tlvs: &[u8]| v2(0x21, 0x11, &[&tcp4_block[..], tlvs].concat());
    let table: Vec<(Vec<u8>, ProxyErrorKind, usize, &str)> = vec![
        (
            v2(0x11, 0x11, &tcp4_block),
            V2Version,
            12,
            "unsupported version 1: expected 2",
        ),
        (
            v2(0x01, 0x11, &tcp4_block),
            V2Version,
            12,
            "unsupported version 0: expected 2",
        ),
        (
            v2(0xf1, 0x11, &tcp4_block),
            V2Version,
            12,
            "unsupported version 15: expected 2",
        ),
        (
            v2(0x22, 0x11, &tcp4_block),
            V2Command,
            12,
            "unknown command 0x2: expected 0x0 (local) or 0x1 (proxy)",
        ),
        (
            v2(0x2f, 0x11, &tcp4_block),
            V2Command,
            12,
            "unknown command 0xf: expected 0x0 (local) or 0x1 (proxy)",
        ),
        (
            v2(0x21, 0x41, &tcp4_block),
            V2Family,
            13,
            "unknown address family and transport 0x41",
        ),
        (
            v2(0x21, 0x13, &tcp4_block),
            V2Family,
            13,
            "unknown address family and transport 0x13",
        ),
        (
            v2(0x21, 0xff, &tcp4_block),
            V2Family,
            13,
            "unknown address family and transport 0xff",
        ),
        (
            v2(0x21, 0x11, &tcp4_block[..11]),
            V2Length,
            14,
            "length 11 is too small for tcp over ipv4 addresses (12 bytes)",
        ),
        (
            v2(0x21, 0x21, &[0; 12]),
            V2Length,
            14,
            "length 12 is too small for tcp over ipv6 addresses (36 bytes)",
        ),
        (
            v2(0x21, 0x32, &[0; 215]),
            V2Length,
            14,
            "length 215 is too small for unix datagram addresses (216 bytes)",
        ),
        (
            v2(0x21, 0x12, &[]),
            V2Length,
            14,
            "length 0 is too small for udp over ipv4 addresses (12 bytes)",
        ),
        (
            with_tlvs(&[0x01, 0x00]),
            V2Tlv,
            28,
            "tlv at offset 28 does not fit in the 2 bytes left in the header",
        ),
        (
            with_tlvs(&[0x01, 0x00, 0x05, b'a']),
            V2Tlv,
            28,
            "tlv at offset 28 does not fit in the 4 bytes left in the header",
        ),
        (
            with_tlvs(&[tlv(0x01, b"h2"), vec![0x04]].concat()),
            V2Tlv,
            33,
            "tlv at offset 33 does not fit in the 1 bytes left in the header",
        ),
        (
            with_tlvs(&tlv(0x03, &[0, 0, 0])),
            V2Tlv,
            28,
            "crc32c tlv at offset 28 is 3 bytes long: must be 4",
        ),
        (
            with_tlvs(&tlv(0x03, &[0, 0, 0, 0])),
            V2Checksum,
            31,
            "crc32c 0x00000000 does not match the header's 0x",
        ),
        (
            with_tlvs(&tlv(0x02, b"caf\xe9")),
            V2Tlv,
            28,
            r#"authority tlv at offset 28 is not utf-8: "caf\xe9""#,
        ),
        (
            with_tlvs(&tlv(0x05, &[0; 129])),
            V2Tlv,
            28,
            "unique id tlv at offset 28 is 129 bytes long: at most 128 allowed",
        ),
        (
            with_tlvs(&tlv(0x20, &[1, 0, 0, 0])),
            V2Tlv,
            28,
            "ssl tlv at offset 28 is malformed",
        ),
        (
            with_tlvs(&tlv(0x20, &[1, 0, 0, 0, 0, 0x21, 0, 9, b'x'])),
            V2Tlv,
            28,
            "ssl tlv at offset 28 is malformed",
        ),
        // LOCAL still checks the TLVs it can find.
        (
            v2(0x20, 0x00, &[0x01, 0x00, 0x01]),
            V2Tlv,
            16,
            "tlv at offset 16 does not fit in the 3 bytes left in the header",
        ),
    ];
    for (bytes, kind, offset, detail) in &table {
        let shown = bytes.escape_ascii().to_string();
        let err = error(bytes);
        assert_eq!(err.kind(), *kind, "{shown}: {err}");
        assert_eq!(err.offset(), *offset, "{shown}: {err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid proxy v2 header: {detail}")),
            "{shown}: {message}"
        );
    }
}

#[test]
fn v2_fixed_part_errors_come_early() {
    // Version, command and family are checked as soon as their byte arrives, and
    // the length as soon as it is complete, long before the addresses.
    let sig = V2_SIGNATURE.to_vec();
    let cases: &[(&[u8], ProxyErrorKind)] = &[
        (&[0x31], ProxyErrorKind::V2Version),
        (&[0x23], ProxyErrorKind::V2Command),
        (&[0x21, 0x51], ProxyErrorKind::V2Family),
        (&[0x21, 0x21, 0x00, 0x23], ProxyErrorKind::V2Length),
    ];
    for &(tail, kind) in cases {
        let bytes = [&sig[..], tail].concat();
        assert_eq!(error(&bytes).kind(), kind);
    }
}

#[test]
fn v2_crc32c() {
    // The encoder computes the checksum; the decoder verifies it.
    let header = ProxyHeader::v2(Addresses::tcp(sa("10.1.2.3:1000"), sa("10.3.2.1:2000")))
        .with_tlv(Tlv::new(Tlv::ALPN, b"http/1.1".to_vec()))
        .with_tlv(Tlv::new(Tlv::CRC32C, Vec::new()));
    let bytes = encode_v2(&header).expect("encodes");
    let (decoded, consumed) = done(&bytes);
    assert_eq!(consumed, bytes.len());
    let crc = decoded.tlv(Tlv::CRC32C).expect("crc tlv");
    assert_eq!(crc.len(), 4);
    assert_ne!(crc, [0; 4]);
    check_valid(&bytes, &decoded);

    // Any flipped byte after the signature is caught (by the checksum or earlier),
    // except the CRC32C TLV's type byte: without it there is no checksum to check.
    let crc_type_at = bytes.len() - 7;
    assert_eq!(bytes[crc_type_at], Tlv::CRC32C);
    for i in (12..bytes.len()).filter(|&i| i != crc_type_at) {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        assert!(
            !matches!(decode(&bad), Ok(Decoded::Done { .. })),
            "flipped byte {i} went unnoticed"
        );
    }
    // A second CRC32C TLV is malformed.
    let twice = header.with_tlv(Tlv::new(Tlv::CRC32C, Vec::new()));
    let err = error(&encode_v2(&twice).expect("encodes"));
    assert_eq!(err.kind(), ProxyErrorKind::V2Tlv);
    assert!(err.to_string().contains("second crc32c tlv"), "{err}");
}

#[test]
fn decoder_starts_over() {
    let mut decoder = Decoder::new();
    let header = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    assert!(matches!(
        decoder.feed(&header[..10]),
        Ok(Decoded::NeedMore { .. })
    ));
    assert_eq!(decoder.buffered(), 10);
    let Ok(Decoded::Done { consumed, .. }) = decoder.feed(&[&header[10..], b"data"].concat())
    else {
        panic!("not done");
    };
    assert_eq!(consumed, header.len() - 10);
    // After an error too.
    assert!(decoder.feed(b"PROXY TCP9").is_err());
    assert_eq!(decoder.buffered(), 0);
    assert!(matches!(
        decoder.feed(b"PROXY UNKNOWN\r\n"),
        Ok(Decoded::Done { consumed: 15, .. })
    ));
    // Errors found after buffering still report header offsets.
    let mut decoder = Decoder::new();
    assert!(decoder.feed(b"PROXY TCP4 1.2.3.4 ").is_ok());
    let err = decoder.feed(b"5.6.7.8 99999").unwrap_err();
    assert_eq!(err.offset(), 27);
}

#[test]
fn io_error_conversion() {
    let err = error(b"GET /");
    let io: std::io::Error = err.clone().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(io.to_string(), err.to_string());
}

// ---------------------------------------------------------------------------------
// Encoders
// ---------------------------------------------------------------------------------

#[test]
fn encode_v1_lines() {
    let table: &[(ProxyHeader, &str)] = &[
        (
            ProxyHeader::v1(Addresses::tcp(
                sa("192.168.0.1:56324"),
                sa("192.168.0.11:443"),
            )),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        ),
        (
            ProxyHeader::v1(Addresses::tcp(sa("[2001:db8::1]:1"), sa("[::]:0"))),
            "PROXY TCP6 2001:db8::1 :: 1 0\r\n",
        ),
        (
            // Mixed families: both as IPv6, as HAProxy sends them.
            ProxyHeader::v1(Addresses::tcp(sa("10.0.0.1:1"), sa("[2001:db8::2]:2"))),
            "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1 2\r\n",
        ),
        (ProxyHeader::v1(Addresses::Unspecified), "PROXY UNKNOWN\r\n"),
        (ProxyHeader::local(), "PROXY UNKNOWN\r\n"),
    ];
    for (header, line) in table {
        assert_eq!(encode_v1(header).expect("encodes"), line.as_bytes());
        assert_eq!(done(line.as_bytes()).1, line.len());
    }
    let mixed = done(table[2].1.as_bytes()).0;
    assert_eq!(mixed.source(), Some(&tcp("[::ffff:10.0.0.1]:1")));
}

#[test]
fn encode_errors() {
    let unix = |s: UnixAddress| Addresses::unix(Some(s), None);
    let cases: Vec<(Result<Vec<u8>, EncodeError>, &str)> = vec![
        (
            encode_v1(&ProxyHeader::v1(unix(UnixAddress::Path("/a".into())))),
            "proxy v1 headers cannot carry unix addresses",
        ),
        (
            encode_v1(&ProxyHeader::v1(Addresses::udp(
                sa("1.1.1.1:1"),
                sa("1.1.1.1:2"),
            ))),
            "proxy v1 headers cannot carry datagram addresses",
        ),
        (
            encode_v1(&ProxyHeader::local().with_tlv(Tlv::new(1, vec![]))),
            "proxy v1 headers cannot carry tlvs",
        ),
        (
            encode_v2(&ProxyHeader::v2(Addresses::Stream {
                source: Address::Stdio,
                destination: Address::Stdio,
            })),
            "cannot encode addresses in a proxy header: source stdio and destination stdio",
        ),
        (
            encode_v2(&ProxyHeader::v2(Addresses::Stream {
                source: tcp("1.1.1.1:1"),
                destination: Address::Unix(None),
            })),
            "cannot encode addresses in a proxy header: \
             source 1.1.1.1:1 and destination (unnamed unix socket)",
        ),
        (
            encode_v2(&ProxyHeader::v2(unix(UnixAddress::Path(
                "/".repeat(109).into(),
            )))),
            "is 109 bytes long: at most 108 fit",
        ),
        (
            encode_v2(&ProxyHeader::v2(unix(UnixAddress::Abstract(
                "a".repeat(108),
            )))),
            "is 108 bytes long: at most 107 fit",
        ),
        (
            encode_v2(&ProxyHeader::v2(unix(UnixAddress::Abstract("a\0".into())))),
            "ends with a nul byte",
        ),
        (
            encode_v2(&ProxyHeader::v2(unix(UnixAddress::Abstract(String::new())))),
            "is empty",
        ),
        (
            encode_v2(&ProxyHeader::v2(unix(UnixAddress::Path("a\0b".into())))),
            "contains a nul byte",
        ),
        (
            encode_v2(&ProxyHeader::local().with_tlv(Tlv::new(0xe0, vec![0; 65536]))),
            "proxy v2 tlv 0xe0 is 65536 bytes long: at most 65535 fit",
        ),
        (
            encode_v2(
                &ProxyHeader::local()
                    .with_tlv(Tlv::new(0xe0, vec![0; 40000]))
                    .with_tlv(Tlv::new(0xe1, vec![0; 40000])),
            ),
            "proxy v2 addresses and tlvs take 80006 bytes: at most 65535 fit",
        ),
    ];
    for (result, expected) in cases {
        let err = result.expect_err(expected);
        assert!(err.to_string().contains(expected), "{err} / {expected}");
    }
    // The longest unix addresses that fit do round-trip.
    let longest = ProxyHeader::v2(Addresses::unix(
        Some(UnixAddress::Path("p".repeat(108).into())),
        Some(UnixAddress::Abstract("a".repeat(107))),
    ));
    let bytes = encode_v2(&longest).expect("encodes");
    assert_eq!(done(&bytes).0, longest);
}

#[test]
fn encode_v2_bytes() {
    let header = ProxyHeader::v2(Addresses::tcp(
        sa("192.168.0.1:56324"),
        sa("192.168.0.11:443"),
    ))
    .with_tlv(Tlv::new(Tlv::ALPN, b"h2".to_vec()));
    let expected = v2(
        0x21,
        0x11,
        &[
            &[192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb][..],
            &tlv(0x01, b"h2"),
        ]
        .concat(),
    );
    assert_eq!(encode_v2(&header).expect("encodes"), expected);
    assert_eq!(header.encode().expect("encodes"), expected);
    // Mixed families: both IPv6.
    let mixed = ProxyHeader::v2(Addresses::tcp(sa("10.0.0.1:1"), sa("[::1]:2")));
    let bytes = encode_v2(&mixed).expect("encodes");
    assert_eq!(bytes[13], 0x21);
    assert_eq!(done(&bytes).0.source(), Some(&tcp("[::ffff:10.0.0.1]:1")));
    // SSL TLV helper.
    let ssl = Tlv::ssl(
        Tlv::CLIENT_SSL,
        0,
        &[Tlv::new(Tlv::SSL_VERSION, b"TLSv1.3".to_vec())],
    )
    .expect("ssl");
    assert_eq!(
        ssl.value,
        [&[1, 0, 0, 0, 0][..], &tlv(0x21, b"TLSv1.3")].concat()
    );
}
