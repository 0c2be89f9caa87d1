//! One test per deliberate difference between strports and Twisted's endpoint
//! description language, where Twisted has a wart worth fixing (the README's
//! "Differences from Twisted" table lists them).
//! Each test pins the strports behaviour: the error kind, the byte offset it points
//! at and, where it matters, the message.

use std::path::PathBuf;

use strports_core::grammar::parse_raw;
use strports_core::{
    CLIENT_TYPES, ClientDescription, Domain, PROGRAM_CLIENT_TYPES, ParseError, ParseErrorKind,
    Registry, SERVER_TYPES, ServerDescription, SslMethod, SystemdSelector, UnixAddress, quote,
};

fn server(d: &str) -> ServerDescription {
    let v: ServerDescription = d
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("server {d:?} should parse: {e}"));
    let printed = v.to_string();
    let back: ServerDescription = printed
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("canonical {printed:?} of {d:?}: {e}"));
    assert_eq!(back, v, "round trip of {d:?} through {printed:?}");
    v
}

/// Client descriptions are parsed with `process:` allowed (a strports extension,
/// covered here like the others; the opt-in is row `o_`).
fn client(d: &str) -> ClientDescription {
    let v: ClientDescription = programs()
        .parse_client(d)
        .unwrap_or_else(|e: ParseError| panic!("client {d:?} should parse: {e}"));
    let printed = v.to_string();
    let back: ClientDescription = programs()
        .parse_client(&printed)
        .unwrap_or_else(|e: ParseError| panic!("canonical {printed:?} of {d:?}: {e}"));
    assert_eq!(back, v, "round trip of {d:?} through {printed:?}");
    v
}

fn server_err(d: &str) -> ParseError {
    match d.parse::<ServerDescription>() {
        Ok(v) => panic!("server {d:?} should fail, got {v:?}"),
        Err(e) => e,
    }
}

fn programs() -> Registry {
    Registry::with_programs()
}

fn client_err(d: &str) -> ParseError {
    match programs().parse_client(d) {
        Ok(v) => panic!("client {d:?} should fail, got {v:?}"),
        Err(e) => e,
    }
}

/// Asserts kind and offset, and that the message names the offset it reports.
#[track_caller]
fn check(e: &ParseError, kind: ParseErrorKind, offset: usize) {
    assert_eq!(e.kind(), kind, "kind of {e}");
    assert_eq!(e.offset(), offset, "offset of {e}");
    assert!(
        e.message().contains(&format!("at offset {offset}")),
        "message should name offset {offset}: {e}"
    );
    assert_eq!(e.to_string(), e.message());
}

fn tcp_server(d: &str) -> strports_core::TcpServer {
    match server(d) {
        ServerDescription::Tcp(t) => t,
        other => panic!("{d:?} is not a tcp server: {other:?}"),
    }
}

fn unix_server(d: &str) -> strports_core::UnixServer {
    match server(d) {
        ServerDescription::Unix(u) => u,
        other => panic!("{d:?} is not a unix server: {other:?}"),
    }
}

fn unix_client(d: &str) -> strports_core::UnixClient {
    match client(d) {
        ClientDescription::Unix(u) => u,
        other => panic!("{d:?} is not a unix client: {other:?}"),
    }
}

fn tcp_client(d: &str) -> strports_core::TcpClient {
    match client(d) {
        ClientDescription::Tcp(t) => t,
        other => panic!("{d:?} is not a tcp client: {other:?}"),
    }
}

/// Upper-case, capitalised and alternating-case spellings of an ASCII type name.
fn spellings(name: &str) -> Vec<String> {
    let upper = name.to_ascii_uppercase();
    let mut cap = name.to_owned();
    cap[..1].make_ascii_uppercase();
    let alt: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    vec![name.to_owned(), upper, cap, alt]
}

// (a) ------------------------------------------------------------------------------

/// Twisted: server `tcp`/`unix`/`ssl` are case-sensitive (`TCP:80` is unknown), server
/// plugins match via `str.lower()`, client types via Unicode `upper()` (`ßl` → `SSL`).
/// strports: one rule for every type on both sides, ASCII case-insensitive.
#[test]
fn a_type_names_are_ascii_case_insensitive_for_every_type() {
    let server_examples = [
        ("tcp", "tcp:80"),
        ("tcp6", "tcp6:80"),
        ("unix", "unix:/x"),
        ("ssl", "ssl:443"),
        ("tls", "tls:/certs"),
        ("systemd", "systemd:domain=INET:index=0"),
        ("stdio", "stdio"),
        ("fd", "fd:3:domain=INET"),
        ("haproxy", "haproxy:tcp:80"),
    ];
    assert_eq!(
        server_examples.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        SERVER_TYPES,
        "every server type is covered"
    );
    for (name, example) in server_examples {
        let canonical = server(example);
        assert_eq!(canonical.type_name(), name);
        let rest = &example[name.len()..];
        for spelling in spellings(name) {
            let d = format!("{spelling}{rest}");
            assert_eq!(server(&d), canonical, "{d:?}");
            assert_eq!(server(&d).to_string(), canonical.to_string(), "{d:?}");
        }
    }
    let client_examples = [
        ("tcp", "tcp:h:80"),
        ("ssl", "ssl:h:443"),
        ("unix", "unix:/x"),
        ("tls", "tls:h:443"),
        ("process", "process:cat"),
    ];
    assert_eq!(
        client_examples.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        [CLIENT_TYPES, PROGRAM_CLIENT_TYPES].concat(),
        "every client type is covered"
    );
    for (name, example) in client_examples {
        let canonical = client(example);
        assert_eq!(canonical.type_name(), name);
        let rest = &example[name.len()..];
        for spelling in spellings(name) {
            let d = format!("{spelling}{rest}");
            assert_eq!(client(&d), canonical, "{d:?}");
        }
    }
    // The examples from the brief, spelled out.
    assert!(matches!(server("TCP:80"), ServerDescription::Tcp(t) if t.port == 80));
    assert!(matches!(server("Unix:/x"), ServerDescription::Unix(_)));
    assert_eq!(server("STDIO"), ServerDescription::Stdio);
    assert!(matches!(server("Tls:/certs:8443"), ServerDescription::Tls(t) if t.port == 8443));
    assert!(matches!(
        client("Tls:example.com:443"),
        ClientDescription::Tls(_)
    ));
    // Nested descriptions follow the same rule.
    let ClientDescription::Tls(t) = client(r"tls:h:443:endpoint=TCP\:10.0.0.1\:443") else {
        panic!()
    };
    assert!(matches!(
        t.endpoint.as_deref(),
        Some(ClientDescription::Tcp(_))
    ));
}

/// Twisted applies Unicode case mapping on the client side: `ßl`, `ſſl` → `SSL`,
/// `unıx` → `UNIX`, `tlſ` → `tls`. strports does not fold beyond ASCII.
#[test]
fn a_unicode_case_folding_is_not_applied() {
    for (d, ty) in [
        ("ßl:443", "ßl"),
        ("ſſl:443", "ſſl"),
        ("unıx:/x", "unıx"),
        ("tlſ:/certs", "tlſ"),
        ("ＴＣＰ:80", "ＴＣＰ"),
        ("TCP\u{0130}:80", "TCP\u{0130}"),
    ] {
        let e = server_err(d);
        check(&e, ParseErrorKind::UnknownType, 0);
        assert_eq!(
            e.to_string(),
            format!(
                "unknown server type {ty:?} at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy"
            )
        );
    }
    for d in [
        "ßl:h:443",
        "ſſl:h:443",
        "unıx:/x",
        "tlſ:h:443",
        "Straße:h:1",
    ] {
        let e = client_err(d);
        check(&e, ParseErrorKind::UnknownType, 0);
        assert!(
            e.message()
                .ends_with("known types are tcp, ssl, unix, tls, process"),
            "{e}"
        );
    }
    // Twisted reports `Straße` as 'strasse'; strports quotes the text as written.
    assert!(
        client_err("Straße:h:1")
            .message()
            .starts_with("unknown client type \"Straße\"")
    );
    // The offset is that of the type, wherever it is (keywords may come first).
    check(&server_err("port=80:ßl"), ParseErrorKind::UnknownType, 8);
}

// (b) ------------------------------------------------------------------------------

/// Twisted uses Python `int()`: `+80`, ` 80 `, `8_0`, `٨٠` are 80 and `-1`, `70000` are
/// accepted. strports: ASCII digits only, ports 0-65535.
#[test]
fn b_ports_are_ascii_digits_in_range() {
    for (d, port) in [("tcp:0", 0), ("tcp:65535", 65535), ("tcp:0080", 80)] {
        assert_eq!(tcp_server(d).port, port, "{d:?}");
    }
    for (text, why) in [
        ("+80", "must be ascii digits"),
        ("-1", "must be ascii digits"),
        ("8_0", "must be ascii digits"),
        (" 80", "must be ascii digits"),
        ("80 ", "must be ascii digits"),
        ("\t80", "must be ascii digits"),
        ("٨٠", "must be ascii digits"),
        ("８０", "must be ascii digits"),
        ("0x50", "must be ascii digits"),
        ("8.0", "must be ascii digits"),
        ("", "must be ascii digits"),
        ("70000", "must be 0-65535"),
        ("65536", "must be 0-65535"),
        ("99999999999999999999999", "must be 0-65535"),
    ] {
        for (ty, offset) in [("tcp", 4), ("tcp6", 5), ("ssl", 4)] {
            let d = format!("{ty}:{text}");
            let e = server_err(&d);
            check(&e, ParseErrorKind::InvalidPort, offset);
            assert_eq!(
                e.to_string(),
                format!("invalid port {text:?} at offset {offset}: {why}"),
                "{d:?}"
            );
        }
        // By keyword, and on the client side.
        let e = server_err(&format!("tcp:port={text}"));
        check(&e, ParseErrorKind::InvalidPort, 9);
        let e = client_err(&format!("tcp:h:{text}"));
        check(&e, ParseErrorKind::InvalidPort, 6);
        let e = client_err(&format!("tls:h:{text}"));
        check(&e, ParseErrorKind::InvalidPort, 6);
        let e = server_err(&format!("tls:/c:{text}"));
        check(&e, ParseErrorKind::InvalidPort, 7);
    }
    // Non-ASCII digits: offsets are in bytes.
    let e = client_err("tcp:é:٨٠");
    check(&e, ParseErrorKind::InvalidPort, 7);
}

/// Other numbers (backlog, timeout, systemd index, fd) follow the same ASCII rule.
#[test]
fn b_other_numbers_are_ascii_digits() {
    for (d, offset, name) in [
        ("tcp:80:backlog=+1", 15, "backlog"),
        ("tcp:80:backlog=-1", 15, "backlog"),
        ("tcp:80:backlog=1_0", 15, "backlog"),
        ("tcp6:80:٥", 8, "backlog"),
        ("unix:/x:660: 5", 12, "backlog"),
        ("systemd:domain=INET:index=٠", 26, "index"),
        ("fd:٣:domain=INET", 3, "fileno"),
    ] {
        let e = server_err(d);
        check(&e, ParseErrorKind::InvalidNumber, offset);
        assert!(
            e.message().starts_with(&format!("invalid {name} ")),
            "{d:?}: {e}"
        );
        assert!(e.message().ends_with("must be ascii digits"), "{d:?}: {e}");
    }
    let e = server_err("tcp:80:backlog=2147483648");
    check(&e, ParseErrorKind::InvalidNumber, 15);
    assert_eq!(
        e.to_string(),
        r#"invalid backlog "2147483648" at offset 15: must be 0-2147483647"#
    );
    assert_eq!(tcp_server("tcp:80:backlog=2147483647").backlog, 2147483647);
    for d in [
        "tcp:h:1:timeout= 1",
        "tcp:h:1:timeout=1.5",
        "tcp:h:1:timeout=-5",
    ] {
        check(&client_err(d), ParseErrorKind::InvalidNumber, 16);
    }
}

/// Twisted: `int(mode, 8)`, so `0o_7`, ` 660`, `-1` pass. strports: octal digits with an
/// optional `0o`/`0O` prefix, at most `7777`.
#[test]
fn b_mode_is_octal_with_optional_prefix() {
    for (d, mode) in [
        ("unix:/x:mode=0o660", 0o660),
        ("unix:/x:mode=0O660", 0o660),
        ("unix:/x:mode=660", 0o660),
        ("unix:/x:mode=0660", 0o660),
        ("unix:/x:0o600", 0o600),
        ("unix:/x:mode=0", 0),
        ("unix:/x:mode=7777", 0o7777),
        ("unix:/x:mode=0o7777", 0o7777),
    ] {
        let u = unix_server(d);
        assert_eq!(u.mode, mode, "{d:?}");
    }
    // The canonical form drops the prefix.
    assert_eq!(server("unix:/x:mode=0o660").to_string(), "unix:/x:mode=660");
    let octal = "must be octal digits 0-7, optionally after 0o";
    for (text, why) in [
        ("8", octal),
        ("0x1", octal),
        ("0o", octal),
        ("0o_7", octal),
        ("6_60", octal),
        ("", octal),
        ("-1", octal),
        ("+660", octal),
        (" 660", octal),
        ("٦٦٠", octal),
        ("0b1", octal),
        ("10000", "must be at most 7777"),
        ("0o10000", "must be at most 7777"),
        ("77777777777777777777777", "must be at most 7777"),
    ] {
        let d = format!("unix:/x:mode={text}");
        let e = server_err(&d);
        check(&e, ParseErrorKind::InvalidMode, 13);
        assert_eq!(
            e.to_string(),
            format!("invalid mode {text:?} at offset 13: {why}")
        );
    }
    // Positionally too.
    check(&server_err("unix:/x:9"), ParseErrorKind::InvalidMode, 8);
}

// (c) ------------------------------------------------------------------------------

/// Unknown keywords are errors in Twisted too, but strports lists the keywords the type
/// takes (Twisted: a Python `TypeError`); hidden parameters like `factory`, `reactor`,
/// `self` are just unknown keywords.
#[test]
fn c_unknown_keywords_are_errors() {
    let e = server_err("tcp:80:bogus=1");
    check(&e, ParseErrorKind::UnknownKeyword, 7);
    assert_eq!(
        e.to_string(),
        r#"unknown keyword "bogus" at offset 7: tcp server takes port, interface, backlog"#
    );
    for (d, offset) in [
        ("tcp:80:Backlog=1", 7),
        ("tcp:80: backlog=1", 7),
        ("tcp:80:factory=x", 7),
        ("tcp6:80:self=x", 8),
        ("unix:/x:wantPID=1", 8),
        ("ssl:443:reactor=x", 8),
        ("tls:/c:bogus=1", 7),
        ("systemd:domain=INET:index=0:bogus=1", 28),
        ("fd:3:domain=INET:bogus=1", 17),
        ("haproxy:tcp:80:bogus=1", 15),
    ] {
        check(&server_err(d), ParseErrorKind::UnknownKeyword, offset);
    }
    let e = client_err("ssl:h:443:sslmethod=TLS_METHOD");
    check(&e, ParseErrorKind::UnknownKeyword, 10);
    assert_eq!(
        e.to_string(),
        "unknown keyword \"sslmethod\" at offset 10: ssl client takes host, port, timeout, bindAddress, hostname, certKey, privateKey, caCertsDir, alpn"
    );
    let e = client_err("tls:h:1:self=1");
    check(&e, ParseErrorKind::UnknownKeyword, 8);
    assert_eq!(
        e.to_string(),
        "unknown keyword \"self\" at offset 8: tls client takes host, port, timeout, bindAddress, certificate, privateKey, trustRoots, endpoint, alpn"
    );
    check(
        &client_err("unix:/x:mode=1"),
        ParseErrorKind::UnknownKeyword,
        8,
    );
    check(
        &client_err("process:cat:bogus=1"),
        ParseErrorKind::UnknownKeyword,
        12,
    );
}

/// Surplus positionals: Twisted raises `TypeError` for servers but *silently drops*
/// them for the `tcp`, `ssl`, `unix` clients. strports rejects them everywhere.
#[test]
fn c_surplus_positionals_are_errors() {
    let e = server_err("tcp:80:127.0.0.1:50:extra");
    check(&e, ParseErrorKind::SurplusPositional, 20);
    assert_eq!(
        e.to_string(),
        r#"surplus positional argument "extra" at offset 20: tcp server takes at most 3 (port, interface, backlog)"#
    );
    check(
        &server_err("tcp6:80:5:\\:\\:1:x"),
        ParseErrorKind::SurplusPositional,
        16,
    );
    check(
        &server_err("unix:/x:660:5:1:x"),
        ParseErrorKind::SurplusPositional,
        16,
    );
    check(
        &server_err("ssl:1:k:c:TLS_METHOD:i:5:e:d:x"),
        ParseErrorKind::SurplusPositional,
        29,
    );
    check(
        &server_err("tls:/c:1:2:3:4"),
        ParseErrorKind::SurplusPositional,
        13,
    );
    check(
        &server_err("systemd:INET:0::x"),
        ParseErrorKind::SurplusPositional,
        16,
    );
    check(
        &server_err("fd:3:INET:x"),
        ParseErrorKind::SurplusPositional,
        10,
    );

    // Twisted: `tcp:h:1:extra` connects to h:1, dropping "extra". strports: error.
    let e = client_err("tcp:h:1:extra");
    check(&e, ParseErrorKind::SurplusPositional, 8);
    assert_eq!(
        e.to_string(),
        r#"surplus positional argument "extra" at offset 8: tcp client takes at most 2 (host, port)"#
    );
    check(
        &client_err("ssl:h:1:extra"),
        ParseErrorKind::SurplusPositional,
        8,
    );
    check(
        &client_err("unix:/x:extra"),
        ParseErrorKind::SurplusPositional,
        8,
    );
    check(
        &client_err("tls:h:1:2:b:c:k:t:tcp\\:h\\:1:x"),
        ParseErrorKind::SurplusPositional,
        28,
    );
    // Twisted ignores *all* positionals when there are three or more, so
    // `tcp:a:b:c:host=h:port=1` connects to h:1. strports: error at the first one
    // that has no parameter left.
    check(
        &client_err("tcp:a:b:c:host=h:port=1"),
        ParseErrorKind::SurplusPositional,
        4,
    );
}

/// A parameter given both positionally and by keyword: Twisted's servers raise
/// `TypeError`; its clients let the positional silently override the keyword
/// (`tcp:h:80:port=81` connects to port 80). strports rejects both.
#[test]
fn c_parameter_given_positionally_and_by_keyword_is_an_error() {
    let e = server_err("tcp:80:port=81");
    check(&e, ParseErrorKind::DuplicateParameter, 4);
    assert_eq!(
        e.to_string(),
        r#"parameter "port" at offset 4: given both positionally and by keyword (tcp server)"#
    );
    check(
        &server_err("tcp:80:127.0.0.1:interface=x"),
        ParseErrorKind::DuplicateParameter,
        7,
    );
    check(
        &server_err("tcp6:80:5:backlog=6"),
        ParseErrorKind::DuplicateParameter,
        8,
    );
    check(
        &server_err("unix:/x:address=/y"),
        ParseErrorKind::DuplicateParameter,
        5,
    );
    check(
        &server_err("tls:/c:443:port=1"),
        ParseErrorKind::DuplicateParameter,
        7,
    );
    check(
        &server_err("systemd:INET:domain=INET:index=0"),
        ParseErrorKind::DuplicateParameter,
        8,
    );

    let e = client_err("tcp:h:80:port=81");
    check(&e, ParseErrorKind::DuplicateParameter, 6);
    assert_eq!(
        e.to_string(),
        r#"parameter "port" at offset 6: given both positionally and by keyword (tcp client)"#
    );
    check(
        &client_err("tcp:h:80:host=x"),
        ParseErrorKind::DuplicateParameter,
        6,
    );
    check(
        &client_err("ssl:h:443:port=1"),
        ParseErrorKind::DuplicateParameter,
        6,
    );
    check(
        &client_err("unix:path=/x:/y"),
        ParseErrorKind::DuplicateParameter,
        13,
    );
    check(
        &client_err("tls:h:443:host=h"),
        ParseErrorKind::DuplicateParameter,
        4,
    );
    // `lockfile` and Twisted's `checkPID` name the same parameter.
    let e = client_err("unix:/x:lockfile=1:checkPID=1");
    check(&e, ParseErrorKind::DuplicateParameter, 28);
    assert_eq!(
        e.to_string(),
        r#"parameter "checkPID" at offset 28: is another name for lockfile, which is given too"#
    );
}

/// Twisted's client fill rule is kept: with `host=` given, the one positional is the
/// port (and with `port=` given, it is the host).
#[test]
fn c_client_fill_rule_is_kept() {
    for d in [
        "tcp:host=h:80",
        "tcp:port=80:h",
        "tcp:80:host=h",
        "port=80:tcp:host=h",
    ] {
        let t = tcp_client(d);
        assert_eq!((t.host.as_str(), t.port), ("h", 80), "{d:?}");
        assert_eq!(client(d).to_string(), "tcp:h:80");
    }
    let ClientDescription::Ssl(s) = client("ssl:host=h:443") else {
        panic!()
    };
    assert_eq!((s.tcp.host.as_str(), s.tcp.port), ("h", 443));
    assert_eq!(
        unix_client("unix:timeout=5:/x").path,
        UnixAddress::Path("/x".into())
    );
}

/// Twisted's `stdio` swallows every argument (except `self=`/`reactor=`). strports:
/// `stdio` takes none.
#[test]
fn c_stdio_takes_no_arguments() {
    assert_eq!(server("stdio"), ServerDescription::Stdio);
    let e = server_err("stdio:x");
    check(&e, ParseErrorKind::SurplusPositional, 6);
    assert_eq!(
        e.to_string(),
        r#"surplus positional argument "x" at offset 6: stdio server takes no positional arguments"#
    );
    let e = server_err("stdio:a=b");
    check(&e, ParseErrorKind::UnknownKeyword, 6);
    assert_eq!(
        e.to_string(),
        r#"unknown keyword "a" at offset 6: stdio server takes no arguments"#
    );
    // `stdio:` has one (empty) positional argument.
    check(&server_err("stdio:"), ParseErrorKind::SurplusPositional, 6);
    // Keywords are checked before positionals.
    check(
        &server_err("STDIO:a:b=c"),
        ParseErrorKind::UnknownKeyword,
        8,
    );
    check(
        &server_err("stdio:self=1"),
        ParseErrorKind::UnknownKeyword,
        6,
    );
}

// (d) ------------------------------------------------------------------------------

/// Twisted: `lockfile` is `bool(int(text))` (`true` fails, `2` is true) and client
/// `checkPID=` is passed raw (so `checkPID=0` is true). strports: one boolean rule.
#[test]
fn d_booleans_are_coerced_one_way_everywhere() {
    let words = [
        ("1", true),
        ("true", true),
        ("yes", true),
        ("on", true),
        ("TRUE", true),
        ("Yes", true),
        ("0", false),
        ("false", false),
        ("no", false),
        ("off", false),
        ("OFF", false),
    ];
    for (word, value) in words {
        assert_eq!(
            unix_server(&format!("unix:/x:lockfile={word}")).lockfile,
            value
        );
        assert_eq!(
            unix_server(&format!("unix:/x:660:50:{word}")).lockfile,
            value
        );
        assert_eq!(
            unix_client(&format!("unix:/x:lockfile={word}")).lockfile,
            value
        );
        assert_eq!(
            unix_client(&format!("unix:/x:checkPID={word}")).lockfile,
            value
        );
    }
    let why = "must be 0, 1, true, false, yes, no, on or off";
    for bad in ["2", "", "-1", "01", "y", "t", " 1", "١", "truee"] {
        let e = server_err(&format!("unix:/x:lockfile={bad}"));
        check(&e, ParseErrorKind::InvalidBoolean, 17);
        assert_eq!(
            e.to_string(),
            format!("invalid lockfile {bad:?} at offset 17: {why}")
        );
        let e = client_err(&format!("unix:/x:lockfile={bad}"));
        check(&e, ParseErrorKind::InvalidBoolean, 17);
        let e = client_err(&format!("unix:/x:checkPID={bad}"));
        check(&e, ParseErrorKind::InvalidBoolean, 17);
        assert_eq!(
            e.to_string(),
            format!("invalid checkPID {bad:?} at offset 17: {why}")
        );
    }
    // Defaults: on for server paths (as Twisted's strings), off for clients.
    assert!(unix_server("unix:/x").lockfile);
    assert!(!unix_client("unix:/x").lockfile);
    // The canonical client form spells checkPID as lockfile.
    assert_eq!(
        client("unix:/x:checkPID=on").to_string(),
        "unix:/x:lockfile=1"
    );
}

// (e) ------------------------------------------------------------------------------

/// Twisted: a trailing lone backslash leaks `StopIteration` → `RuntimeError`.
/// strports: a `ParseError` of kind `TrailingBackslash` at the backslash.
#[test]
fn e_trailing_backslash_is_a_parse_error() {
    for d in [
        "\\",
        "tcp:80\\",
        "tcp:80:interface=\\",
        "a=\\",
        "x\\\\\\",
        "tcp:é\\",
        "é=\\",
    ] {
        let offset = d.len() - 1;
        for e in [parse_raw(d).unwrap_err(), server_err(d), client_err(d)] {
            check(&e, ParseErrorKind::TrailingBackslash, offset);
            assert_eq!(
                e.to_string(),
                format!(
                    "trailing backslash at offset {offset}: a backslash must be followed by the character it escapes"
                )
            );
        }
    }
    // An even run is an escaped backslash, not an error.
    assert_eq!(
        unix_server("unix:/x\\\\").address,
        UnixAddress::Path("/x\\".into())
    );
    // Inside a nested description the offset points into the outer text.
    let e = client_err(r"tls:h:443:endpoint=x\\");
    check(&e, ParseErrorKind::TrailingBackslash, 20);
}

// (f) ------------------------------------------------------------------------------

/// Twisted's `quoteStringArgument` leaves `=` alone, so a quoted positional containing
/// `=` turns into a keyword. strports' `quote` escapes `=` too.
#[test]
fn f_quote_escapes_equals_so_positionals_round_trip() {
    assert_eq!(quote("a=b"), r"a\=b");
    assert_eq!(quote(r"a:b=c\"), r"a\:b\=c\\");
    assert_eq!(quote("plain"), "plain");
    for v in [
        "a=b",
        "=",
        "==",
        "k=v:w",
        r"C:\key=1.pem",
        "é=é",
        "",
        r"\=",
        "=:\\",
    ] {
        let d = format!("x:{}:k={}", quote(v), quote(v));
        let raw = parse_raw(&d).unwrap();
        assert_eq!(raw.args().collect::<Vec<_>>(), ["x", v], "{d:?}");
        assert_eq!(raw.kwargs().collect::<Vec<_>>(), [("k", v)], "{d:?}");
    }
    // And therefore typed values containing `=` print and parse back.
    let u = unix_server(r"unix:/tmp/a\=b.sock");
    assert_eq!(u.address, UnixAddress::Path("/tmp/a=b.sock".into()));
    assert_eq!(
        server(r"unix:/tmp/a\=b.sock").to_string(),
        r"unix:/tmp/a\=b.sock"
    );
    assert_eq!(
        tcp_server("tcp:80:interface=a=b").interface,
        "a=b",
        "later = in a keyword value are literal"
    );
    assert_eq!(
        server("tcp:80:interface=a=b").to_string(),
        r"tcp:80:interface=a\=b"
    );
    let ClientDescription::Process(p) = client(r"process:sh:-c:x\=1") else {
        panic!()
    };
    assert_eq!(p.argv, ["sh", "-c", "x=1"]);
}

// (g) ------------------------------------------------------------------------------

/// Twisted resolves `sslmethod` with `getattr(OpenSSL.SSL, name)`, so any attribute
/// passes the first check and TLS 1.0/1.1 methods work. strports: an allow-list.
#[test]
fn g_sslmethod_allow_list() {
    for (name, method) in [
        ("TLSv1_2_METHOD", SslMethod::TlsV1_2),
        ("TLS_METHOD", SslMethod::Tls),
        ("SSLv23_METHOD", SslMethod::SslV23),
        ("TLS_SERVER_METHOD", SslMethod::TlsServer),
    ] {
        let ServerDescription::Ssl(s) = server(&format!("ssl:443:sslmethod={name}")) else {
            panic!()
        };
        assert_eq!(s.sslmethod, Some(method));
        assert_eq!(method.name(), name);
    }
    let old =
        "protocol versions before tls 1.2 are not supported; use TLS_METHOD or TLSv1_2_METHOD";
    let dtls = "dtls is not a stream protocol; use TLS_METHOD or TLSv1_2_METHOD";
    let other = "must be TLS_METHOD, SSLv23_METHOD, TLS_SERVER_METHOD or TLSv1_2_METHOD";
    for (name, why) in [
        ("TLSv1_METHOD", old),
        ("TLSv1_1_METHOD", old),
        ("SSLv3_METHOD", old),
        ("SSLv2_METHOD", old),
        ("DTLS_METHOD", dtls),
        ("DTLS_SERVER_METHOD", dtls),
        ("DTLS_CLIENT_METHOD", dtls),
        (
            "TLS_CLIENT_METHOD",
            "a server cannot use a client method; use TLS_METHOD",
        ),
        ("OP_NO_SSLv2", other),
        ("Context", other),
        ("tls_method", other),
        ("", other),
    ] {
        let e = server_err(&format!("ssl:443:sslmethod={name}"));
        check(&e, ParseErrorKind::InvalidSslMethod, 18);
        assert_eq!(
            e.to_string(),
            format!("invalid sslmethod {name:?} at offset 18: {why}")
        );
    }
    // Positionally: ssl:port:privateKey:certKey:sslmethod.
    check(
        &server_err("ssl:443:k.pem:c.pem:TLSv1_METHOD"),
        ParseErrorKind::InvalidSslMethod,
        20,
    );
}

// (h) ------------------------------------------------------------------------------

/// Twisted silently ignores a client `privateKey` without its certificate. strports
/// rejects half-specified client credentials.
#[test]
fn h_private_key_without_certificate_is_rejected() {
    let e = client_err("ssl:h:443:privateKey=k.pem");
    check(&e, ParseErrorKind::Conflict, 21);
    assert_eq!(
        e.to_string(),
        r#"parameter "privateKey" at offset 21: needs certKey as well (half-specified client credentials)"#
    );
    let e = client_err("tls:h:443:privateKey=k.pem");
    check(&e, ParseErrorKind::Conflict, 21);
    assert_eq!(
        e.to_string(),
        r#"parameter "privateKey" at offset 21: needs certificate as well (half-specified client credentials)"#
    );
    // Positionally: tls:host:port:timeout:bindAddress:certificate:privateKey; an
    // empty certificate is given, but empty.
    let e = client_err("tls:h:443:30:b::k.pem");
    check(&e, ParseErrorKind::EmptyValue, 15);
    assert_eq!(
        e.to_string(),
        r#"empty "certificate" at offset 15: must not be empty"#
    );
    let e = client_err("tls:h:443:privateKey=k.pem:timeout=3");
    check(&e, ParseErrorKind::Conflict, 21);

    let ClientDescription::Ssl(s) = client("ssl:h:443:certKey=c.pem:privateKey=k.pem") else {
        panic!()
    };
    assert_eq!(s.cert_key, Some(PathBuf::from("c.pem")));
    assert_eq!(s.private_key, Some(PathBuf::from("k.pem")));
    let ClientDescription::Ssl(s) = client("ssl:h:443:certKey=both.pem") else {
        panic!()
    };
    assert_eq!(
        (s.cert_key.as_deref(), s.private_key),
        (Some("both.pem".as_ref()), None)
    );
    let ClientDescription::Tls(t) = client("tls:h:443:certificate=c.pem:privateKey=k.pem") else {
        panic!()
    };
    assert_eq!(t.certificate, Some(PathBuf::from("c.pem")));
    assert_eq!(t.private_key, Some(PathBuf::from("k.pem")));
}

// (i) ------------------------------------------------------------------------------

/// Twisted: negative `index` counts from the end (Python list indexing); an empty
/// value counts as given. strports: non-negative index, exactly one of index/name.
#[test]
fn i_systemd_selector_rules() {
    let e = server_err("systemd:domain=INET:index=-1");
    check(&e, ParseErrorKind::InvalidNumber, 26);
    assert_eq!(
        e.to_string(),
        r#"invalid index "-1" at offset 26: must be ascii digits"#
    );
    let e = server_err("systemd:domain=INET");
    check(&e, ParseErrorKind::SystemdSelector, 0);
    assert_eq!(
        e.to_string(),
        "systemd selector at offset 0: specify exactly one of index and name"
    );
    let e = server_err("systemd:domain=INET:index=0:name=x");
    check(&e, ParseErrorKind::SystemdSelector, 33);
    // An empty value counts as given (as in Twisted).
    check(
        &server_err("systemd:domain=INET:index=:name=x"),
        ParseErrorKind::SystemdSelector,
        32,
    );
    check(
        &server_err("systemd:INET:0:x"),
        ParseErrorKind::SystemdSelector,
        15,
    );
    // Exactly one given, but empty.
    check(
        &server_err("systemd:domain=INET:name="),
        ParseErrorKind::EmptyValue,
        25,
    );
    check(
        &server_err("systemd:domain=INET:index="),
        ParseErrorKind::InvalidNumber,
        26,
    );
    // Only the three families strports can adopt (Twisted: any AF_* name).
    let e = server_err("systemd:domain=UNSPEC:index=0");
    check(&e, ParseErrorKind::InvalidDomain, 15);
    assert_eq!(
        e.to_string(),
        r#"invalid domain "UNSPEC" at offset 15: must be INET, INET6 or UNIX"#
    );
    let ServerDescription::Systemd(s) = server("systemd:domain=inet6:name=web") else {
        panic!()
    };
    assert_eq!(s.domain, Domain::Inet6);
    assert_eq!(s.selector, SystemdSelector::Name("web".into()));
    let ServerDescription::Systemd(s) = server("systemd:UNIX:2") else {
        panic!()
    };
    assert_eq!(
        (s.domain, s.selector),
        (Domain::Unix, SystemdSelector::Index(2))
    );
}

// (j) ------------------------------------------------------------------------------

/// Twisted: an abstract name is spelled with a leading NUL and the string default
/// `lockfile=1` must be turned off by hand; `mode` is accepted. strports: `@name` (or
/// NUL), lock file off by default, and asking for one is a conflict; so is `mode`,
/// which means nothing for a name without a file (anyone on the host can connect).
#[test]
fn j_abstract_unix_names() {
    let u = unix_server("unix:@name");
    assert_eq!(u.address, UnixAddress::Abstract("name".into()));
    assert!(!u.lockfile);
    assert_eq!(server("unix:@name").to_string(), "unix:@name");
    assert_eq!(
        unix_server("unix:\0name:lockfile=0").address,
        UnixAddress::Abstract("name".into())
    );
    assert_eq!(server("unix:\0name").to_string(), "unix:@name");
    assert!(!unix_server("unix:@name:lockfile=0").lockfile);
    // A file whose name starts with `@`.
    let u = unix_server("unix:./@name");
    assert_eq!(u.address, UnixAddress::Path("./@name".into()));
    assert!(u.lockfile);

    for (d, offset) in [
        ("unix:@name:lockfile=1", 20),
        ("unix:@name:lockfile=yes", 20),
        ("unix:@name:backlog=50:lockfile=1", 31),
    ] {
        let e = server_err(d);
        check(&e, ParseErrorKind::Conflict, offset);
        assert_eq!(
            e.to_string(),
            format!(
                "conflicting lockfile at offset {offset}: abstract socket names have no file to lock"
            )
        );
    }
    for (d, offset) in [
        ("unix:@name:mode=600", 16),
        ("unix:@name:mode=666", 16),
        ("unix:@name:660:50:1", 11),
        ("unix:\0name:mode=0o600", 16),
        ("haproxy:unix:@name:mode=600", 24),
    ] {
        let e = server_err(d);
        check(&e, ParseErrorKind::Conflict, offset);
        assert_eq!(
            e.to_string(),
            format!(
                "conflicting mode at offset {offset}: an abstract socket name has no file, so no permissions restrict it and anyone on the host (in its network namespace) can connect; use a socket path to restrict access"
            )
        );
    }
    // A path keeps its mode; a mode set in code on an abstract name is not printed.
    assert_eq!(unix_server("unix:/x:mode=600").mode, 0o600);
    let mut abstract_server = unix_server("unix:@name");
    abstract_server.mode = 0o600;
    assert_eq!(
        ServerDescription::Unix(abstract_server).to_string(),
        "unix:@name"
    );
    let c = unix_client("unix:@name");
    assert_eq!(c.path, UnixAddress::Abstract("name".into()));
    check(
        &client_err("unix:@name:lockfile=1"),
        ParseErrorKind::Conflict,
        20,
    );
    check(
        &client_err("unix:@name:checkPID=1"),
        ParseErrorKind::Conflict,
        20,
    );
}

// (k) ------------------------------------------------------------------------------

/// Twisted reads PEM files (and scans `tls:` directories) while parsing. strports
/// parses without touching the file system.
#[test]
fn k_files_are_not_read_at_parse_time() {
    let ServerDescription::Ssl(s) = server("ssl:443:privateKey=/nonexistent/key.pem") else {
        panic!()
    };
    assert_eq!(s.private_key, PathBuf::from("/nonexistent/key.pem"));
    assert_eq!(s.cert_key, None);
    assert_eq!(
        s.cert_key_path(),
        std::path::Path::new("/nonexistent/key.pem")
    );
    // The default `server.pem` need not exist in the working directory either.
    let ServerDescription::Ssl(s) = server("ssl:443") else {
        panic!()
    };
    assert_eq!(s.private_key, PathBuf::from("server.pem"));
    server(
        "ssl:443:privateKey=/nope/k.pem:certKey=/nope/c.pem:extraCertChain=/nope/chain.pem:dhParameters=/nope/dh.pem",
    );
    server("tls:/nonexistent/certs");
    client("ssl:h:443:certKey=/nope/c.pem:privateKey=/nope/k.pem:caCertsDir=/nope");
    client("tls:h:443:certificate=/nope/c.pem:privateKey=/nope/k.pem:trustRoots=/nope");
}

// (l) ------------------------------------------------------------------------------

/// Twisted's `haproxy:` re-serialises its inner description with a quote that does
/// not escape `=`, so an escaped `=` in an inner positional turns into a keyword
/// (`haproxy:tcp:8\=0` → `TypeError`). strports parses the inner description directly.
#[test]
fn l_haproxy_keeps_escaped_equals() {
    let ServerDescription::Haproxy(inner) = server(r"haproxy:unix:a\=b") else {
        panic!()
    };
    let ServerDescription::Unix(u) = *inner else {
        panic!()
    };
    assert_eq!(u.address, UnixAddress::Path("a=b".into()));
    assert_eq!(
        server(r"haproxy:unix:a\=b").to_string(),
        r"haproxy:unix:a\=b"
    );
    // In Twisted this is a TypeError (unknown keyword "8"); here the port is "8=0".
    let e = server_err(r"haproxy:tcp:8\=0");
    check(&e, ParseErrorKind::InvalidPort, 12);
    assert_eq!(
        e.to_string(),
        r#"invalid port "8=0" at offset 12: must be ascii digits"#
    );
    // Nesting works, and errors point into the whole description.
    assert!(matches!(
        server("haproxy:haproxy:tcp:80"),
        ServerDescription::Haproxy(h) if matches!(*h, ServerDescription::Haproxy(_))
    ));
    check(
        &server_err("haproxy:tcp"),
        ParseErrorKind::MissingParameter,
        8,
    );
    check(&server_err("haproxy"), ParseErrorKind::MissingType, 7);
}

// (m) ------------------------------------------------------------------------------

/// Twisted accepts `timeout=0` (and negative timeouts). strports: at least 1 second.
#[test]
fn m_timeout_zero_is_rejected() {
    for (d, offset) in [
        ("tcp:h:1:timeout=0", 16),
        ("ssl:h:1:timeout=0", 16),
        ("unix:/x:timeout=0", 16),
        ("tls:h:1:timeout=0", 16),
        ("tls:h:1:0", 8),
        ("tcp:h:1:timeout=000", 16),
    ] {
        let e = client_err(d);
        check(&e, ParseErrorKind::InvalidNumber, offset);
        assert!(
            e.message()
                .ends_with(&format!("at offset {offset}: must be at least 1 second")),
            "{e}"
        );
    }
    assert_eq!(
        client_err("tcp:h:1:timeout=0").to_string(),
        r#"invalid timeout "0" at offset 16: must be at least 1 second"#
    );
    assert_eq!(tcp_client("tcp:h:1:timeout=1").timeout, 1);
    assert_eq!(tcp_client("tcp:h:1").timeout, 30);
}

// (n) ------------------------------------------------------------------------------

/// Twisted accepts empty values for required parameters (`unix:` listens on the path
/// ""; `bindAddress=` binds to ""). strports rejects them.
#[test]
fn n_empty_required_values_are_rejected() {
    for (d, offset, name) in [
        ("unix:", 5, "address"),
        ("unix::660", 5, "address"),
        ("unix:address=", 13, "address"),
        ("tls:", 4, "path"),
        ("ssl:443:privateKey=", 19, "privateKey"),
        ("ssl:443::c.pem", 8, "privateKey"),
        ("systemd:domain=INET:name=", 25, "name"),
    ] {
        let e = server_err(d);
        check(&e, ParseErrorKind::EmptyValue, offset);
        assert_eq!(
            e.to_string(),
            format!("empty {name:?} at offset {offset}: must not be empty")
        );
    }
    for (d, offset, name) in [
        ("unix:", 5, "path"),
        ("tcp::80", 4, "host"),
        ("ssl::443", 4, "host"),
        ("tls::443", 4, "host"),
        ("tcp:h:80:bindAddress=", 21, "bindAddress"),
        ("ssl:h:443:hostname=", 19, "hostname"),
        ("ssl:h:443:certKey=", 18, "certKey"),
        ("tls:h:443:trustRoots=", 21, "trustRoots"),
        ("process::x", 8, "program"),
        ("process:cat:path=", 17, "path"),
    ] {
        let e = client_err(d);
        check(&e, ParseErrorKind::EmptyValue, offset);
        assert_eq!(
            e.to_string(),
            format!("empty {name:?} at offset {offset}: must not be empty")
        );
    }
    // Empty numbers are invalid numbers.
    check(&server_err("tcp:"), ParseErrorKind::InvalidPort, 4);
    check(&client_err("tcp:h:"), ParseErrorKind::InvalidPort, 6);
    // Missing (rather than empty) required parameters.
    let e = server_err("unix");
    check(&e, ParseErrorKind::MissingParameter, 0);
    assert_eq!(
        e.to_string(),
        r#"missing parameter "address" at offset 0: unix server needs address"#
    );
    let e = client_err("tcp:host=h");
    check(&e, ParseErrorKind::MissingParameter, 0);
    assert_eq!(
        e.to_string(),
        r#"missing parameter "port" at offset 0: tcp client needs port"#
    );
    // An empty *optional* value that has a meaning is kept: `interface=` is "".
    assert_eq!(tcp_server("tcp:80:interface=").interface, "");
    let ServerDescription::Tcp6(t) = server("tcp6:80:interface=") else {
        panic!()
    };
    assert_eq!(t.interface, "");
}

#[test]
fn k_alpn_is_a_strports_extension() {
    // Twisted has no string form for ALPN; strports takes `alpn=` on every TLS type.
    let ServerDescription::Tls(t) = server("tls:/etc/certs:alpn=h2,http/1.1") else {
        panic!()
    };
    assert_eq!(t.alpn, ["h2", "http/1.1"]);
    let ClientDescription::Ssl(c) = client("ssl:example.com:443:alpn=h2") else {
        panic!()
    };
    assert_eq!(c.alpn, ["h2"]);
}

/// Twisted has no string form for `ProcessEndpoint`. strports has `process:`, but a
/// plain parse (`FromStr`, serde, `Registry::default()`) knows only network types:
/// running a program needs an explicit opt-in (`Registry::with_programs()`), and a
/// nested `endpoint=` follows the same rule as the outer parse.
#[test]
fn o_program_types_need_an_opt_in() {
    let e = "process:sh:-c:id".parse::<ClientDescription>().unwrap_err();
    check(&e, ParseErrorKind::ProgramNotAllowed, 0);
    assert_eq!(
        e.to_string(),
        r#"client type "process" at offset 0: runs a program, so it is not allowed unless enabled: parse with strports_core::Registry::with_programs() to enable program types"#
    );
    // Any spelling, and nested inside `tls:...:endpoint=` (offset into the outer text).
    check(
        &"PROCESS:cat".parse::<ClientDescription>().unwrap_err(),
        ParseErrorKind::ProgramNotAllowed,
        0,
    );
    let nested = r"tls:example.com:443:endpoint=process\:sh\:-c\:id";
    let e = nested.parse::<ClientDescription>().unwrap_err();
    check(&e, ParseErrorKind::ProgramNotAllowed, 29);
    let twice = r"tls:a:1:endpoint=tls\:b\:2\:endpoint=process\\\:id";
    let e = twice.parse::<ClientDescription>().unwrap_err();
    check(&e, ParseErrorKind::ProgramNotAllowed, 37);
    // The default registry and one with extensions refuse it too.
    let e = Registry::default().parse_client(nested).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::ProgramNotAllowed);
    assert!(!Registry::default().allows_programs());
    assert!(
        !Registry::default()
            .client_types()
            .contains(&"process".to_owned())
    );
    // An extension cannot take the name.
    assert!(
        Registry::default()
            .add_client("process", |_| Ok(String::new()))
            .is_err()
    );
    // With the opt-in, outer and nested parse.
    let programs = Registry::with_programs();
    assert!(programs.allows_programs());
    assert!(programs.client_types().contains(&"process".to_owned()));
    let ClientDescription::Process(p) = programs.parse_client("process:sh:-c:id").unwrap() else {
        panic!("not a process description")
    };
    assert_eq!(p.argv, ["sh", "-c", "id"]);
    let ClientDescription::Tls(t) = programs.parse_client(nested).unwrap() else {
        panic!("not a tls description")
    };
    assert!(matches!(
        t.endpoint.as_deref(),
        Some(ClientDescription::Process(_))
    ));
    assert!(programs.parse_client(twice).is_ok());
    let mut registry = Registry::default();
    registry.add_programs();
    assert!(registry.parse_client("process:cat").is_ok());
    // The unknown-type message lists the types of the registry used.
    let e = "nope:x".parse::<ClientDescription>().unwrap_err();
    assert!(
        e.to_string()
            .ends_with("known types are tcp, ssl, unix, tls"),
        "{e}"
    );
    let e = programs.parse_client("nope:x").unwrap_err();
    assert!(
        e.to_string()
            .ends_with("known types are tcp, ssl, unix, tls, process"),
        "{e}"
    );
}
