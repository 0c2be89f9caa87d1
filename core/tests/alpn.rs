//! The `alpn=` keyword of the TLS types (a strports extension): parsing, canonical
//! printing, fields, errors.
#![allow(clippy::unwrap_used)]

use strports_core::{ClientDescription, FieldValue, ParseErrorKind, ServerDescription};

fn alpn_of_server(d: &str) -> Vec<String> {
    match d.parse::<ServerDescription>().unwrap() {
        ServerDescription::Ssl(s) => s.alpn,
        ServerDescription::Tls(t) => t.alpn,
        other => panic!("{other:?}"),
    }
}

fn alpn_of_client(d: &str) -> Vec<String> {
    match d.parse::<ClientDescription>().unwrap() {
        ClientDescription::Ssl(s) => s.alpn,
        ClientDescription::Tls(t) => t.alpn,
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_tls_type_takes_a_protocol_list() {
    let h2 = vec!["h2".to_owned(), "http/1.1".to_owned()];
    assert_eq!(alpn_of_server("ssl:443:alpn=h2,http/1.1"), h2);
    assert_eq!(alpn_of_server("tls:/etc/certs:alpn=h2,http/1.1"), h2);
    assert_eq!(alpn_of_client("ssl:example.com:443:alpn=h2,http/1.1"), h2);
    assert_eq!(alpn_of_client("tls:example.com:443:alpn=h2,http/1.1"), h2);
    assert!(alpn_of_client("tls:example.com:443").is_empty());
}

#[test]
fn the_canonical_form_keeps_the_list_and_round_trips() {
    for d in [
        "ssl:443:alpn=h2,http/1.1",
        "tls:/etc/certs:alpn=h2",
        r"ssl:example.com:443:alpn=x\:y,z",
        r"tls:example.com:443:endpoint=unix\:/run/x.sock:alpn=acme-tls/1",
    ] {
        let printed = if d.starts_with("tls:/") || d.starts_with("ssl:443") {
            d.parse::<ServerDescription>().unwrap().to_string()
        } else {
            d.parse::<ClientDescription>().unwrap().to_string()
        };
        assert_eq!(printed, d);
    }
    assert_eq!(alpn_of_client(r"ssl:h:443:alpn=x\:y,z"), ["x:y", "z"]);
}

#[test]
fn fields_show_the_list_only_when_given() {
    let d: ClientDescription = "tls:example.com:443:alpn=h2".parse().unwrap();
    assert_eq!(
        d.fields().last(),
        Some(&("alpn", FieldValue::List(vec!["h2".to_owned()])))
    );
    let d: ServerDescription = "ssl:443".parse().unwrap();
    assert!(d.fields().iter().all(|(name, _)| *name != "alpn"));
}

#[test]
fn empty_or_overlong_names_are_errors() {
    for (d, offset) in [
        ("ssl:443:alpn=", 13),
        ("ssl:443:alpn=h2,", 13),
        ("tls:/c:alpn=,h2", 12),
        ("tls:/c:alpn=h2,,http/1.1", 12),
    ] {
        let e = d.parse::<ServerDescription>().unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::InvalidValue, "{d}");
        assert_eq!(e.offset(), offset, "{d}");
        assert!(
            e.to_string().contains("protocol names must not be empty"),
            "{e}"
        );
    }
    let e = "tls:example.com:443:alpn=h2,,x"
        .parse::<ClientDescription>()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"invalid alpn "h2,,x" at offset 25: protocol names must not be empty, e.g. alpn=h2,http/1.1"#
    );
    let long = format!("ssl:h:443:alpn={}", "x".repeat(256));
    let e = long.parse::<ClientDescription>().unwrap_err();
    assert!(
        e.to_string()
            .ends_with("a protocol name is at most 255 bytes"),
        "{e}"
    );
    assert!(
        format!("ssl:h:443:alpn={}", "x".repeat(255))
            .parse::<ClientDescription>()
            .is_ok()
    );
}

#[test]
fn non_tls_types_do_not_take_it() {
    let e = "tcp:80:alpn=h2".parse::<ServerDescription>().unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnknownKeyword);
}
