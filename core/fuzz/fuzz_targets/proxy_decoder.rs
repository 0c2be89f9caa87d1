//! Decodes arbitrary bytes as a PROXY protocol header. Nothing may panic; errors
//! point into the input; every prefix of a decoded header asks for more without
//! overshooting it; chunked feeding agrees with decoding all at once; a decoded
//! header encodes and decodes back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use strports_core::proxy_protocol::{
    Decoded, Decoder, EncodeError, ProxyError, ProxyHeader, Tlv, V1_MAX_LEN, Version, decode,
};

fn check_error(input: &[u8], err: &ProxyError) {
    assert!(err.offset() <= input.len(), "{err:?}");
    let message = err.to_string();
    assert!(!message.ends_with('.'), "{message}");
    let first = message.chars().next().expect("non-empty message");
    assert!(first.is_lowercase(), "{message}");
}

/// Feeds `input` in chunks of the given sizes (cycled); returns the outcome and
/// the offset of the chunk it came from.
fn feed_in_chunks(input: &[u8], sizes: &[usize]) -> (Result<Decoded, ProxyError>, usize) {
    let mut decoder = Decoder::new();
    let mut at = 0;
    let mut last = Ok(Decoded::NeedMore { at_least: 1 });
    for &size in sizes.iter().cycle() {
        if at >= input.len() {
            break;
        }
        let end = (at + size).min(input.len());
        last = decoder.feed(&input[at..end]);
        if !matches!(last, Ok(Decoded::NeedMore { .. })) {
            return (last, at);
        }
        at = end;
    }
    (last, at)
}

fn check(input: &[u8]) {
    let whole = decode(input);
    for sizes in [&[1][..], &[7, 1, 300, 2], &[16, 13]] {
        let (chunked, at) = feed_in_chunks(input, sizes);
        match (&whole, &chunked) {
            (
                Ok(Decoded::Done { header, consumed }),
                Ok(Decoded::Done {
                    header: h,
                    consumed: c,
                }),
            ) => {
                assert_eq!(h, header);
                assert_eq!(at + c, *consumed);
            }
            (Ok(Decoded::NeedMore { .. }), Ok(Decoded::NeedMore { .. })) => {}
            // Chunked feeding may fail earlier, never differently.
            (Err(e), Err(c)) => assert_eq!(e.kind(), c.kind(), "{e} / {c}"),
            _ if input.is_empty() => {}
            (w, c) => panic!("whole {w:?} / chunked {c:?}"),
        }
    }
    let (header, consumed) = match whole {
        Ok(Decoded::Done { header, consumed }) => (header, consumed),
        Ok(Decoded::NeedMore { at_least }) => {
            assert!(at_least >= 1);
            return;
        }
        Err(e) => {
            check_error(input, &e);
            return;
        }
    };
    assert!(consumed <= input.len());
    // Prefixes need more, and no more than what is missing.
    let first = usize::from(input[0]);
    for len in [0, consumed - 1, consumed / 2, first % consumed] {
        match decode(&input[..len]) {
            Ok(Decoded::NeedMore { at_least }) => assert!(len + at_least <= consumed),
            other => panic!("prefix {len} of {consumed}: {other:?}"),
        }
    }
    // Re-encoding gives a header that decodes to the same (checksums aside: they
    // cover bytes that re-encoding may drop, like a LOCAL header's addresses).
    let mut expected: ProxyHeader = header.clone();
    expected.tlvs.retain(|t| t.kind != Tlv::CRC32C);
    let encoded = match expected.encode() {
        Ok(bytes) => bytes,
        // An abstract name that was not UTF-8 grows when made lossy.
        Err(EncodeError::UnixAddress(_)) => return,
        Err(e) => panic!("{header:?} does not encode: {e}"),
    };
    if header.version == Version::V1 {
        assert!(encoded.len() <= V1_MAX_LEN);
    }
    match decode(&encoded) {
        Ok(Decoded::Done {
            header: again,
            consumed,
        }) => {
            assert_eq!(again, expected);
            assert_eq!(consumed, encoded.len());
        }
        other => panic!("{expected:?} encoded as {encoded:?}: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| check(data));
