//! Hints for the usual mistakes (issue "The first hour", item 5): the message keeps
//! its "what and where" part, kind and offset, and ends in `; hint: ...`. A hint that
//! proposes a corrected description proposes one that parses.

#![allow(missing_docs, clippy::unwrap_used)]

use std::fmt;

use strports_core::args::{Param, Positionals};
use strports_core::{ClientDescription, ParseError, ParseErrorKind, Registry, ServerDescription};

fn server_err(desc: &str) -> ParseError {
    desc.parse::<ServerDescription>().unwrap_err()
}

fn client_err(desc: &str) -> ParseError {
    desc.parse::<ClientDescription>().unwrap_err()
}

/// Checks kind, offset and the exact message, and that `err`'s message is `Display`.
fn check(err: &ParseError, kind: ParseErrorKind, offset: usize, message: &str) {
    assert_eq!(err.kind(), kind, "{err}");
    assert_eq!(err.offset(), offset, "{err}");
    assert_eq!(err.message(), message);
    assert_eq!(err.to_string(), message);
}

/// The description a hint proposes (`did you mean X?` or `e.g. X`).
fn proposed(err: &ParseError) -> &str {
    let hint = err.message().split_once("; hint: ").unwrap().1;
    if let Some((_, rest)) = hint.split_once("did you mean ") {
        rest.split_once('?').unwrap().0
    } else {
        hint.rsplit_once("e.g. ").unwrap().1
    }
}

#[test]
fn ipv6_interface_keyword_without_escapes() {
    let e = server_err("tcp:8080:interface=::1");
    check(
        &e,
        ParseErrorKind::DuplicateParameter,
        20,
        r#"parameter "interface" at offset 20: given both positionally and by keyword (tcp server); hint: colons in a value must be escaped: did you mean tcp:8080:interface=\:\:1? (strports quote escapes a value)"#,
    );
    assert!(proposed(&e).parse::<ServerDescription>().is_ok());

    let e = server_err("tcp:80:interface=2001:db8::1:backlog=5");
    check(
        &e,
        ParseErrorKind::DuplicateParameter,
        22,
        r#"parameter "interface" at offset 22: given both positionally and by keyword (tcp server); hint: colons in a value must be escaped: did you mean tcp:80:interface=2001\:db8\:\:1:backlog=5? (strports quote escapes a value)"#,
    );

    // A zone stays; the error is a different one, the hint the same.
    let e = server_err("ssl:443:interface=fe80::1%eth0");
    check(
        &e,
        ParseErrorKind::EmptyValue,
        23,
        r#"empty "privateKey" at offset 23: must not be empty; hint: colons in a value must be escaped: did you mean ssl:443:interface=fe80\:\:1%eth0? (strports quote escapes a value)"#,
    );

    let e = client_err("tcp:h:80:bindAddress=::1");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        22,
        r#"surplus positional argument "" at offset 22: tcp client takes at most 2 (host, port); hint: colons in a value must be escaped: did you mean tcp:h:80:bindAddress=\:\:1? (strports quote escapes a value)"#,
    );
}

#[test]
fn ipv6_positional_without_escapes() {
    let e = server_err("tcp:80:::1");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        9,
        r#"surplus positional argument "1" at offset 9: tcp server takes at most 3 (port, interface, backlog); hint: colons in a value must be escaped: did you mean tcp:80:\:\:1? (strports quote escapes a value)"#,
    );
    let e = client_err("tcp:::1:80");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        6,
        r#"surplus positional argument "1" at offset 6: tcp client takes at most 2 (host, port); hint: colons in a value must be escaped: did you mean tcp:\:\:1:80? (strports quote escapes a value)"#,
    );
    let e = client_err("ssl:fe80::1:443");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        10,
        r#"surplus positional argument "1" at offset 10: ssl client takes at most 2 (host, port); hint: colons in a value must be escaped: did you mean ssl:fe80\:\:1:443? (strports quote escapes a value)"#,
    );
    assert!(proposed(&e).parse::<ClientDescription>().is_ok());
}

#[test]
fn ipv6_in_brackets() {
    let e = client_err("tcp:[::1]:80");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        7,
        r#"surplus positional argument "1]" at offset 7: tcp client takes at most 2 (host, port); hint: colons in a value must be escaped and an address takes no brackets: did you mean tcp:\:\:1:80? (strports quote escapes a value)"#,
    );
    let e = client_err("tls:[::1]:443");
    check(
        &e,
        ParseErrorKind::InvalidPort,
        6,
        r#"invalid port "" at offset 6: must be ascii digits; hint: colons in a value must be escaped and an address takes no brackets: did you mean tls:\:\:1:443? (strports quote escapes a value)"#,
    );
    // On a server, an address with its port becomes the port and the interface.
    let e = server_err("tcp:[::1]:80");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        10,
        r#"surplus positional argument "80" at offset 10: tcp server takes at most 3 (port, interface, backlog); hint: colons in a value must be escaped and an address takes no brackets: did you mean tcp:80:interface=\:\:1? (strports quote escapes a value)"#,
    );
    assert!(proposed(&e).parse::<ServerDescription>().is_ok());
}

#[test]
fn ipv6_without_a_correction_that_parses_gets_the_general_hint() {
    // tcp6 takes the backlog second, so `tcp6:80:\:\:1` would not parse either.
    let e = server_err("tcp6:80:::1");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        10,
        r#"surplus positional argument "1" at offset 10: tcp6 server takes at most 3 (port, backlog, interface); hint: colons in a value must be escaped, e.g. interface=\:\:1 (strports quote escapes a value)"#,
    );
    // A positional in brackets that is not a whole address.
    let e = client_err("tcp:[::1:80");
    check(
        &e,
        ParseErrorKind::SurplusPositional,
        7,
        r#"surplus positional argument "1" at offset 7: tcp client takes at most 2 (host, port); hint: colons in a value must be escaped and an address takes no brackets, e.g. tcp:\:\:1:80 (strports quote escapes a value)"#,
    );
}

#[test]
fn escaped_ipv6_and_other_colons_get_no_hint() {
    assert!(
        r"tcp:8080:interface=\:\:1"
            .parse::<ServerDescription>()
            .is_ok()
    );
    assert!(r"tcp:\:\:1:80".parse::<ClientDescription>().is_ok());
    let e = server_err("unix:/tmp/a::b:mode=x");
    check(
        &e,
        ParseErrorKind::DuplicateParameter,
        12,
        r#"parameter "mode" at offset 12: given both positionally and by keyword (unix server)"#,
    );
    let e = client_err("tcp:h:80:5");
    assert!(!e.message().contains("hint"), "{e}");
}

#[test]
fn bare_port_on_a_server() {
    let e = server_err("9000");
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown server type "9000" at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy; hint: did you mean tcp:9000?"#,
    );
    let e = server_err("9000:interface=127.0.0.1");
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown server type "9000" at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy; hint: did you mean tcp:9000:interface=127.0.0.1?"#,
    );
    let e = server_err("haproxy:9000");
    check(
        &e,
        ParseErrorKind::UnknownType,
        8,
        r#"unknown server type "9000" at offset 8: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy; hint: did you mean haproxy:tcp:9000?"#,
    );
    // Not a port: no hint.
    let e = server_err("70000");
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown server type "70000" at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy"#,
    );
}

#[test]
fn bare_port_on_a_client() {
    let e = client_err("9000");
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown client type "9000" at offset 0: known types are tcp, ssl, unix, tls; hint: did you mean tcp:HOST:9000?"#,
    );
}

#[test]
fn client_without_a_host() {
    let e = client_err("tcp:9000");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "port" at offset 0: tcp client needs port; hint: a tcp client needs a host and a port, e.g. tcp:localhost:9000"#,
    );
    let e = client_err("ssl:9000");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "port" at offset 0: ssl client needs port; hint: an ssl client needs a host and a port, e.g. ssl:localhost:9000"#,
    );
    let e = client_err("TLS:9000:timeout=5");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "port" at offset 0: tls client needs port; hint: a tls client needs a host and a port, e.g. TLS:localhost:9000:timeout=5"#,
    );
    let e = client_err("tcp");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "host" at offset 0: tcp client needs host; hint: a tcp client needs a host and a port, e.g. tcp:localhost:80"#,
    );
    let e = client_err("tcp:port=9000");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "host" at offset 0: tcp client needs host; hint: a tcp client needs a host and a port, e.g. tcp:localhost:9000"#,
    );
    // A host without a port: the message says what is missing already.
    let e = client_err("tcp:example.com");
    check(
        &e,
        ParseErrorKind::MissingParameter,
        0,
        r#"missing parameter "port" at offset 0: tcp client needs port"#,
    );
}

#[test]
fn keyword_in_the_wrong_case() {
    let e = server_err("ssl:443:certkey=cert.pem");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        8,
        r#"unknown keyword "certkey" at offset 8: ssl server takes port, privateKey, certKey, sslmethod, interface, backlog, extraCertChain, dhParameters, alpn; hint: did you mean "certKey"?"#,
    );
    let e = server_err("tcp:80:Backlog=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        7,
        r#"unknown keyword "Backlog" at offset 7: tcp server takes port, interface, backlog; hint: did you mean "backlog"?"#,
    );
    let e = client_err("unix:/a:checkpid=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        8,
        r#"unknown keyword "checkpid" at offset 8: unix client takes path, timeout, lockfile, checkPID; hint: did you mean "checkPID"?"#,
    );
}

#[test]
fn keyword_misspelt() {
    let e = client_err("tcp:h:80:timeuot=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        9,
        r#"unknown keyword "timeuot" at offset 9: tcp client takes host, port, timeout, bindAddress; hint: did you mean "timeout"?"#,
    );
    let e = server_err("tcp:80:intreface=lo");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        7,
        r#"unknown keyword "intreface" at offset 7: tcp server takes port, interface, backlog; hint: did you mean "interface"?"#,
    );
    // Inside a nested description, with the offset moved to the outer description.
    let e = client_err(r"tls:h:443:endpoint=tcp\:h\:80\:timout\=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        31,
        r#"unknown keyword "timout" at offset 31: tcp client takes host, port, timeout, bindAddress; hint: did you mean "timeout"?"#,
    );
    // Nothing close: no hint.
    let e = server_err("tcp:80:bogus=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        7,
        r#"unknown keyword "bogus" at offset 7: tcp server takes port, interface, backlog"#,
    );
    // Only the type's own keywords are suggested (`mode` is a unix server's).
    let e = client_err("unix:/a:mode=1");
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        8,
        r#"unknown keyword "mode" at offset 8: unix client takes path, timeout, lockfile, checkPID"#,
    );
}

#[derive(Debug, PartialEq)]
struct Redis {
    port: u16,
}

impl fmt::Display for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis:{}", self.port)
    }
}

#[test]
fn hints_through_a_registry() {
    let mut registry = Registry::default();
    registry
        .add_server("redis", |args| {
            let b = args.bind(
                &[Param::positional("port"), Param::keyword("database")],
                Positionals::InOrder,
            )?;
            Ok(Redis {
                port: b.required("port", b.port("port")?)?,
            })
        })
        .unwrap();
    let e = registry.parse_server("redis:6379:Database=1").unwrap_err();
    check(
        &e,
        ParseErrorKind::UnknownKeyword,
        11,
        r#"unknown keyword "Database" at offset 11: redis server takes port, database; hint: did you mean "database"?"#,
    );
    let e = registry.parse_server("6379").unwrap_err();
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown server type "6379" at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy, redis; hint: did you mean tcp:6379?"#,
    );
    // Without the built-ins there is no tcp to propose.
    let mut empty = Registry::empty();
    empty
        .add_server("redis", |_| Ok(Redis { port: 1 }))
        .unwrap();
    let e = empty.parse_server("6379").unwrap_err();
    check(
        &e,
        ParseErrorKind::UnknownType,
        0,
        r#"unknown server type "6379" at offset 0: known types are redis"#,
    );
}

#[test]
fn long_descriptions_stay_fast_and_never_panic() {
    let long = format!("tcp:{}", "1::".repeat(50_000));
    let start = std::time::Instant::now();
    let _ = long.parse::<ServerDescription>().unwrap_err();
    let _ = long.parse::<ClientDescription>().unwrap_err();
    let keyword = format!("tcp:80:{}=1", "b".repeat(100_000));
    let _ = keyword.parse::<ServerDescription>().unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    for desc in [
        "[",
        "tcp:[",
        "tcp:]",
        ":::",
        "::1",
        "tcp:=::1",
        "é:::1",
        r"tcp:\é::1",
    ] {
        let _ = desc.parse::<ServerDescription>();
        let _ = desc.parse::<ClientDescription>();
    }
}
