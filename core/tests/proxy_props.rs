//! Property tests for the PROXY protocol decoder: arbitrary input never panics,
//! encoded headers decode back to themselves however the bytes are split.

#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::sample::Index;
use strports_core::UnixAddress;
use strports_core::proxy_protocol::{
    Addresses, Decoded, Decoder, ProxyError, ProxyHeader, Tlv, V2_SIGNATURE, decode, encode_v1,
    encode_v2,
};

// ---------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        // Mostly-zero addresses print with "::" and exercise the compressed form.
        (any::<u16>(), any::<u16>())
            .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(a, 0, 0, 0, 0, 0, 0, b))),
        ipv4().prop_map(|ip| match ip {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            v6 => v6,
        }),
    ]
}

/// Two socket addresses of the same family.
fn socket_pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    let pair = |ip: BoxedStrategy<IpAddr>| {
        (ip.clone(), any::<u16>(), ip, any::<u16>())
            .prop_map(|(a, p, b, q)| (SocketAddr::new(a, p), SocketAddr::new(b, q)))
    };
    prop_oneof![pair(ipv4().boxed()), pair(ipv6().boxed())]
}

fn unix_address() -> impl Strategy<Value = Option<UnixAddress>> {
    prop_oneof![
        1 => Just(None),
        3 => "[a-zA-Z0-9/._ -]{1,108}".prop_map(|p| Some(UnixAddress::Path(PathBuf::from(p)))),
        2 => "\\PC{1,27}"
            .prop_filter("fits", |p| p.len() <= 108)
            .prop_map(|p| Some(UnixAddress::Path(PathBuf::from(p)))),
        3 => prop::collection::vec(any::<char>(), 1..26)
            .prop_map(|c| c.into_iter().collect::<String>())
            .prop_filter("fits and round-trips", |n| n.len() <= 107 && !n.ends_with('\0'))
            .prop_map(|n| Some(UnixAddress::Abstract(n))),
    ]
}

fn addresses() -> impl Strategy<Value = Addresses> {
    prop_oneof![
        1 => Just(Addresses::Unspecified),
        4 => socket_pair().prop_map(|(s, d)| Addresses::tcp(s, d)),
        1 => socket_pair().prop_map(|(s, d)| Addresses::udp(s, d)),
        2 => (unix_address(), unix_address()).prop_map(|(s, d)| Addresses::unix(s, d)),
        1 => (unix_address(), unix_address()).prop_map(|(s, d)| Addresses::Datagram {
            source: strports_core::endpoint::Address::Unix(s),
            destination: strports_core::endpoint::Address::Unix(d),
        }),
    ]
}

fn tlv() -> impl Strategy<Value = Tlv> {
    let opaque = any::<u8>().prop_filter("types with a checked form", |k| {
        ![Tlv::AUTHORITY, Tlv::CRC32C, Tlv::UNIQUE_ID, Tlv::SSL].contains(k)
    });
    let sub =
        (0x21u8..0x26, prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(k, v)| Tlv::new(k, v));
    prop_oneof![
        4 => (opaque, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(k, v)| Tlv::new(k, v)),
        1 => "\\PC{0,20}".prop_map(|s| Tlv::new(Tlv::AUTHORITY, s.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..=128).prop_map(|v| Tlv::new(Tlv::UNIQUE_ID, v)),
        1 => (any::<u8>(), any::<u32>(), prop::collection::vec(sub, 0..4))
            .prop_map(|(c, v, subs)| Tlv::ssl(c, v, &subs).expect("small")),
    ]
}

fn v2_header() -> impl Strategy<Value = ProxyHeader> {
    (
        any::<bool>(),
        addresses(),
        prop::collection::vec(tlv(), 0..6),
    )
        .prop_map(|(local, addresses, tlvs)| {
            let mut header = if local {
                ProxyHeader::local()
            } else {
                ProxyHeader::v2(addresses)
            };
            header.tlvs = tlvs;
            header
        })
}

fn v1_header() -> impl Strategy<Value = ProxyHeader> {
    prop_oneof![
        1 => Just(ProxyHeader::v1(Addresses::Unspecified)),
        6 => socket_pair().prop_map(|(s, d)| ProxyHeader::v1(Addresses::tcp(s, d))),
    ]
}

/// Bytes that often start like a header, to get past the first checks.
fn header_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let tail = prop::collection::vec(any::<u8>(), 0..300);
    let v1_text = "[PROXYTCUNKOW46 0-9a-fA-F:.\r\n+]{0,120}".prop_map(String::into_bytes);
    prop_oneof![
        2 => tail.clone(),
        3 => v1_text.prop_map(|t| [&b"PROXY "[..], &t].concat()),
        3 => (any::<[u8; 4]>(), tail).prop_map(|(fixed, rest)| {
            let mut out = V2_SIGNATURE.to_vec();
            out.extend_from_slice(&fixed[..2]);
            // A length that usually fits what follows.
            let len = (u16::from_be_bytes([fixed[2], fixed[3]]) as usize) % (rest.len() + 8);
            out.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&rest);
            out
        }),
    ]
}

// ---------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------

fn check_error(input: &[u8], err: &ProxyError) {
    let message = err.to_string();
    assert!(err.offset() <= input.len(), "{err:?}");
    assert!(!message.ends_with('.'), "{message}");
    assert!(
        message.starts_with("invalid proxy v1 header: ")
            || message.starts_with("invalid proxy v2 header: ")
            || message.starts_with("not a proxy protocol header: "),
        "{message}"
    );
}

/// Decodes `input` all at once, and in the chunks `cuts` makes; both agree.
fn decode_checked(input: &[u8], cuts: &[Index]) -> Result<Decoded, ProxyError> {
    let whole = decode(input);
    match &whole {
        Ok(Decoded::Done { consumed, .. }) => assert!(*consumed <= input.len()),
        Ok(Decoded::NeedMore { at_least }) => assert!(*at_least >= 1),
        Err(e) => check_error(input, e),
    }
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    let mut decoder = Decoder::new();
    let mut last = Ok(Decoded::NeedMore { at_least: 1 });
    for pair in points.windows(2) {
        last = decoder.feed(&input[pair[0]..pair[1]]);
        match &last {
            Ok(Decoded::NeedMore { .. }) => {}
            Ok(Decoded::Done { header, consumed }) => {
                let Ok(Decoded::Done {
                    header: expected,
                    consumed: total,
                }) = &whole
                else {
                    panic!("chunked decode finished, whole did not: {whole:?}");
                };
                assert_eq!(header, expected);
                assert_eq!(pair[0] + consumed, *total);
                return whole;
            }
            Err(e) => {
                // Chunked feeding may fail earlier, never differently.
                let Err(expected) = &whole else {
                    panic!("chunked decode failed ({e}), whole did not: {whole:?}");
                };
                assert_eq!(e.kind(), expected.kind(), "{e} / {expected}");
                return whole;
            }
        }
    }
    if let (Ok(Decoded::NeedMore { .. }), Ok(Decoded::NeedMore { .. })) = (&last, &whole) {
    } else if !input.is_empty() {
        panic!("chunked {last:?} / whole {whole:?}");
    }
    whole
}

/// A valid encoded header followed by a payload: decodes to `expected` all at
/// once, in any chunks, and every prefix asks for no more than is missing.
fn check_encoded(bytes: &[u8], expected: &ProxyHeader, payload: &[u8], cuts: &[Index]) {
    let input = [bytes, payload].concat();
    match decode_checked(&input, cuts) {
        Ok(Decoded::Done { header, consumed }) => {
            assert_eq!(&header, expected);
            assert_eq!(consumed, bytes.len());
        }
        other => panic!("{:?}: {other:?}", bytes.escape_ascii().to_string()),
    }
    for cut in cuts {
        let len = cut.index(bytes.len());
        match decode(&input[..len]) {
            Ok(Decoded::NeedMore { at_least }) => assert!(len + at_least <= bytes.len()),
            other => panic!("prefix {len}: {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        input in prop::collection::vec(any::<u8>(), 0..400),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let _ = decode_checked(&input, &cuts);
    }

    #[test]
    fn header_like_bytes_never_panic(
        input in header_like_bytes(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let _ = decode_checked(&input, &cuts);
    }

    #[test]
    fn v2_round_trip(
        header in v2_header(),
        payload in prop::collection::vec(any::<u8>(), 0..32),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let bytes = encode_v2(&header).expect("encodes");
        prop_assert_eq!(&header.encode().expect("encodes"), &bytes);
        check_encoded(&bytes, &header, &payload, &cuts);
    }

    #[test]
    fn v2_local_ignores_addresses(
        addresses in addresses(),
        tlvs in prop::collection::vec(tlv(), 0..4),
        cuts in prop::collection::vec(any::<Index>(), 0..4),
    ) {
        // A LOCAL header sent with addresses decodes to no addresses, same TLVs.
        let mut sent = ProxyHeader::local();
        sent.addresses = addresses;
        sent.tlvs = tlvs.clone();
        let mut expected = ProxyHeader::local();
        expected.tlvs = tlvs;
        check_encoded(&encode_v2(&sent).expect("encodes"), &expected, b"", &cuts);
    }

    #[test]
    fn v1_round_trip(
        header in v1_header(),
        payload in prop::collection::vec(any::<u8>(), 0..32),
        cuts in prop::collection::vec(any::<Index>(), 0..6),
    ) {
        let bytes = encode_v1(&header).expect("encodes");
        prop_assert!(bytes.len() <= 104);
        check_encoded(&bytes, &header, &payload, &cuts);
    }

    #[test]
    fn mutated_headers_never_panic(
        header in v2_header(),
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(any::<Index>(), 0..4),
    ) {
        let mut bytes = encode_v2(&header).expect("encodes");
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_checked(&bytes, &cuts);
    }

    #[test]
    fn truncated_headers_need_more(header in v2_header(), cut in any::<Index>()) {
        let bytes = encode_v2(&header).expect("encodes");
        let len = cut.index(bytes.len());
        let decoded = decode(&bytes[..len]);
        prop_assert!(matches!(decoded, Ok(Decoded::NeedMore { .. })), "{:?}", decoded);
    }
}
