//! Absolute host names (`example.com.`, with the root label's dot) in TLS clients:
//! accepted, as Twisted and strports' `tcp:` accept them; the description keeps the
//! dot (name resolution gets the host as written), TLS verification and SNI use the
//! name without it.

use strports_core::{ClientDescription, ParseErrorKind, dns_name};

fn client(d: &str) -> ClientDescription {
    d.parse()
        .unwrap_or_else(|e| panic!("{d:?} should parse: {e}"))
}

#[test]
fn tls_and_ssl_clients_accept_a_trailing_dot() {
    let ClientDescription::Tls(t) = client("tls:example.com.:443") else {
        panic!("not tls")
    };
    assert_eq!(t.host, "example.com.");
    let ClientDescription::Ssl(s) = client("ssl:h:443:hostname=example.com.") else {
        panic!("not ssl")
    };
    assert_eq!(s.hostname.as_deref(), Some("example.com."));
    let ClientDescription::Ssl(s) = client("ssl:localhost.:443") else {
        panic!("not ssl")
    };
    assert_eq!(s.tcp.host, "localhost.");
    // IDNA names too: the canonical form keeps the dot.
    for d in ["tls:Bücher.example.:443", "tcp:example.com.:80"] {
        let desc = client(d);
        assert_eq!(desc.canonical(), d);
    }
    // Nested, and through printing.
    let d = r"tls:a.example.:443:endpoint=tls\:b.example.\:443\:endpoint=tcp\\\:10.0.0.1\\\:443";
    let desc = client(d);
    assert_eq!(desc.canonical().parse::<ClientDescription>(), Ok(desc));
}

#[test]
fn only_one_trailing_dot_of_a_valid_name() {
    for (d, offset) in [
        ("tls:example.com..:443", 4),
        ("tls:.:443", 4),
        ("tls:..:443", 4),
        ("ssl:h:443:hostname=bad_name.", 19),
        ("ssl:-x.example.:443", 4),
    ] {
        let e = d.parse::<ClientDescription>().unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::InvalidHostname, "{d}: {e}");
        assert_eq!(e.offset(), offset, "{d}: {e}");
    }
}

#[test]
fn verification_and_sni_use_the_name_without_the_dot() {
    assert_eq!(dns_name("example.com.").as_deref(), Some("example.com"));
    assert_eq!(
        dns_name("Bücher.Example.").as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(dns_name("localhost.").as_deref(), Some("localhost"));
    assert_eq!(dns_name("example.com..").as_deref(), None);
    assert_eq!(dns_name(".").as_deref(), None);
}

#[cfg(feature = "tls")]
#[test]
fn the_server_name_has_no_trailing_dot() {
    use strports_core::tls::{rustls::pki_types::ServerName, server_name};
    let name = server_name("localhost.").expect("a valid name");
    assert!(matches!(name, ServerName::DnsName(_)));
    assert_eq!(name.to_str(), "localhost");
    assert!(server_name("localhost..").is_err());
}
