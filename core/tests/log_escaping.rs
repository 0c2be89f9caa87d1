//! Text that reaches a log line through `Display` has its control characters
//! escaped: a peer's address (a UNIX path in a PROXY v2 header) and descriptions.
//! A peer must not be able to forge a log line (`\n`) or drive the operator's
//! terminal (ESC sequences).

use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{Decoded, V2_SIGNATURE, decode};
use strports_core::{ClientDescription, ServerDescription, UnixAddress, escape_control};

/// A PROXY v2 PROXY header, AF_UNIX stream, with these source and destination
/// paths (108 bytes each, NUL padded), then `payload`.
fn v2_unix(source: &[u8], destination: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x21); // version 2, PROXY
    out.push(0x31); // AF_UNIX, stream
    out.extend_from_slice(&216u16.to_be_bytes());
    for path in [source, destination] {
        let mut field = [0u8; 108];
        field[..path.len()].copy_from_slice(path);
        out.extend_from_slice(&field);
    }
    out.extend_from_slice(payload);
    out
}

/// Asserts `shown` has no control character (nor a line separator).
#[track_caller]
fn assert_no_control(shown: &str) {
    assert!(
        !shown
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
        "raw control character in {shown:?}"
    );
}

#[test]
fn proxy_v2_unix_source_cannot_forge_a_log_line() {
    let forged = b"/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1\x1b[2K\x1b]0;pwned\x07";
    let header = v2_unix(forged, b"/run/app.sock", b"GET /");
    let Decoded::Done { header, consumed } = decode(&header).expect("a valid v2 header") else {
        panic!("the whole header was given");
    };
    assert_eq!(consumed, 16 + 216);
    let source = header.source().expect("a source address");
    // The value itself is exact: the path as sent.
    let Address::Unix(Some(UnixAddress::Path(path))) = source else {
        panic!("not a unix path: {source:?}");
    };
    assert_eq!(path.as_os_str().as_encoded_bytes(), forged);
    // Its Display, which the CLI's summary line and `serve` handlers log, is one line.
    let shown = source.to_string();
    assert_no_control(&shown);
    assert_eq!(
        shown,
        r"/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1\x1b[2K\x1b]0;pwned\x07"
    );
    assert_eq!(
        header.destination().map(ToString::to_string).as_deref(),
        Some("/run/app.sock")
    );
    // `Debug` (`{:?}`) escapes too.
    assert_no_control(&format!("{source:?}"));
}

#[test]
fn abstract_names_and_other_controls_are_escaped() {
    let a = Address::Unix(Some(UnixAddress::Abstract(
        "x\r\ny\u{85}\u{2028}\u{202e}z\0".into(),
    )));
    assert_eq!(a.to_string(), r"@x\r\ny\u{85}\u{2028}\u{202e}z\0");
    // Ordinary paths, spaces, backslashes and non-ASCII text are shown as they are.
    for plain in ["/run/app.sock", "/tmp/my dir/café.sock", r"C:\odd\path"] {
        let a = Address::Unix(Some(UnixAddress::Path(plain.into())));
        assert_eq!(a.to_string(), plain);
        assert_eq!(escape_control(plain).to_string(), plain);
    }
    assert_eq!(
        Address::Tcp("[::1]:443".parse().expect("address")).to_string(),
        "[::1]:443"
    );
}

#[test]
fn descriptions_display_escaped_and_canonical_exactly() {
    let text = "unix:/tmp/a\nb\x1b[31m:mode=600";
    let server: ServerDescription = text.parse().expect("parses");
    assert_eq!(server.to_string(), r"unix:/tmp/a\nb\x1b[31m:mode=600");
    assert_eq!(server.canonical(), text);
    assert_eq!(server.canonical().parse::<ServerDescription>(), Ok(server));
    // Nested descriptions are quoted exactly, and the whole line escaped once.
    let nested = "tls:example.com:443:endpoint=unix\\:/tmp/x\ny";
    let client: ClientDescription = nested.parse().expect("parses");
    assert_eq!(
        client.to_string(),
        r"tls:example.com:443:endpoint=unix\:/tmp/x\ny"
    );
    assert_eq!(client.canonical(), nested);
    assert_eq!(client.canonical().parse::<ClientDescription>(), Ok(client));
    let wrapped: ServerDescription = "haproxy:unix:/a\u{7}".parse().expect("parses");
    assert_eq!(wrapped.to_string(), r"haproxy:unix:/a\x07");
    // Without control characters, Display is the canonical form.
    let plain: ServerDescription = r"tcp6:80:interface=\:\:1".parse().expect("parses");
    assert_eq!(plain.to_string(), plain.canonical());
}
