//! Example descriptions of Twisted's endpoint description language (tokenizer,
//! `_parse`, quoting, argument binding, type selection, server and client types, and
//! its surprises), with the meaning strports gives them.
//!
//! Every description that parses is also checked to survive the canonical print:
//! `parse(d.to_string()) == d`. Where strports deliberately differs from Twisted the
//! test asserts the strports behaviour and says `DIFFERENCE` in a comment
//! (`differences.rs` has one test per difference, with messages and offsets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strports_core::grammar::parse_raw;
use strports_core::{
    ClientDescription, DEFAULT_BACKLOG, DEFAULT_TIMEOUT, DEFAULT_UNIX_MODE, Domain, FieldValue,
    ParseError, ParseErrorKind, ServerDescription, SslClient, SslMethod, SslServer,
    SystemdSelector, SystemdServer, TcpClient, TcpServer, TlsClient, TlsServer, UnixAddress,
    UnixClient, UnixServer, quote,
};

// Helpers ---------------------------------------------------------------------------

/// Raw parse: positionals and keywords (as a map; the parse keeps one entry per key).
fn raw(d: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let r = parse_raw(d).unwrap_or_else(|e| panic!("raw {d:?} should parse: {e}"));
    let args: Vec<String> = r.args().map(str::to_owned).collect();
    let kwargs: BTreeMap<String, String> = r
        .kwargs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(kwargs.len(), r.kwargs().len(), "{d:?}: one entry per key");
    (args, kwargs)
}

fn kw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Parses a server description and checks the canonical round trip.
fn server(d: &str) -> ServerDescription {
    let v: ServerDescription = d
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("server {d:?} should parse: {e}"));
    let printed = v.to_string();
    let back: ServerDescription = printed
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("canonical {printed:?} of {d:?}: {e}"));
    assert_eq!(back, v, "round trip of {d:?} through {printed:?}");
    assert_eq!(back.to_string(), printed, "printing is stable for {d:?}");
    v
}

/// Parses a client description and checks the canonical round trip.
fn client(d: &str) -> ClientDescription {
    let v: ClientDescription = d
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("client {d:?} should parse: {e}"));
    let printed = v.to_string();
    let back: ClientDescription = printed
        .parse()
        .unwrap_or_else(|e: ParseError| panic!("canonical {printed:?} of {d:?}: {e}"));
    assert_eq!(back, v, "round trip of {d:?} through {printed:?}");
    assert_eq!(back.to_string(), printed, "printing is stable for {d:?}");
    v
}

#[track_caller]
fn server_err(d: &str, kind: ParseErrorKind, offset: usize) -> ParseError {
    match d.parse::<ServerDescription>() {
        Ok(v) => panic!("server {d:?} should fail with {kind:?}, got {v:?}"),
        Err(e) => {
            assert_eq!((e.kind(), e.offset()), (kind, offset), "{d:?}: {e}");
            e
        }
    }
}

#[track_caller]
fn client_err(d: &str, kind: ParseErrorKind, offset: usize) -> ParseError {
    match d.parse::<ClientDescription>() {
        Ok(v) => panic!("client {d:?} should fail with {kind:?}, got {v:?}"),
        Err(e) => {
            assert_eq!((e.kind(), e.offset()), (kind, offset), "{d:?}: {e}");
            e
        }
    }
}

fn tcp(port: u16, interface: &str, backlog: u32) -> TcpServer {
    TcpServer {
        port,
        interface: interface.to_owned(),
        backlog,
    }
}

fn unix_path(p: &str, mode: u32, backlog: u32, lockfile: bool) -> ServerDescription {
    ServerDescription::Unix(UnixServer {
        address: UnixAddress::Path(p.into()),
        mode,
        backlog,
        lockfile,
    })
}

fn tcp_client(host: &str, port: u16, timeout: u32, bind: Option<&str>) -> ClientDescription {
    ClientDescription::Tcp(tcp_client_fields(host, port, timeout, bind))
}

fn tcp_client_fields(host: &str, port: u16, timeout: u32, bind: Option<&str>) -> TcpClient {
    TcpClient {
        host: host.to_owned(),
        port,
        timeout,
        bind_address: bind.map(str::to_owned),
    }
}

fn ssl_server(port: u16) -> SslServer {
    SslServer {
        port,
        private_key: PathBuf::from("server.pem"),
        cert_key: None,
        sslmethod: None,
        interface: String::new(),
        backlog: DEFAULT_BACKLOG,
        extra_cert_chain: None,
        dh_parameters: None,
        alpn: Vec::new(),
    }
}

fn tls_client(host: &str, port: u16) -> TlsClient {
    TlsClient {
        host: host.to_owned(),
        port,
        timeout: DEFAULT_TIMEOUT,
        bind_address: None,
        certificate: None,
        private_key: None,
        trust_roots: None,
        endpoint: None,
        alpn: Vec::new(),
    }
}

fn ssl_client(host: &str, port: u16) -> SslClient {
    SslClient {
        tcp: tcp_client_fields(host, port, DEFAULT_TIMEOUT, None),
        hostname: None,
        cert_key: None,
        private_key: None,
        ca_certs_dir: None,
        alpn: Vec::new(),
    }
}

// Tokenizer ----------------------------------------------------------------------------

#[test]
fn s2_empty_input_is_one_empty_string() {
    assert_eq!(raw(""), (vec![String::new()], kw(&[])));
    // As a description it names the empty (unknown) type.
    server_err("", ParseErrorKind::UnknownType, 0);
    client_err("", ParseErrorKind::UnknownType, 0);
}

#[test]
fn s2_only_the_first_equals_of_a_segment_is_an_operator() {
    assert_eq!(raw("a=b=c"), (vec![], kw(&[("a", "b=c")])));
    assert_eq!(raw("=="), (vec![], kw(&[("", "=")])));
    // A `:` always ends the segment, even directly after `=`.
    assert_eq!(
        raw("t:a=:b"),
        (vec!["t".into(), "b".into()], kw(&[("a", "")]))
    );
    // Typed: a later `=` is part of the value.
    assert_eq!(
        server("tcp:80:interface=a=b"),
        ServerDescription::Tcp(tcp(80, "a=b", 50))
    );
}

#[test]
fn s2_backslash_escapes_the_next_character_verbatim() {
    assert_eq!(raw(r"\n").0, ["n"]);
    assert_eq!(raw(r"\a\b").0, ["ab"]);
    assert_eq!(raw(r"a\\b").0, [r"a\b"]);
    assert_eq!(raw(r"a\:b").0, ["a:b"]);
    assert_eq!(raw(r"x:\é").0, ["x", "é"]);
    // An escaped `=` is the only way to put `=` in a positional or a keyword name.
    assert_eq!(raw(r"a\=b").0, ["a=b"]);
    assert_eq!(raw(r"k\=1=v").1, kw(&[("k=1", "v")]));
    assert_eq!(
        server(r"unix:/tmp/a\=b"),
        unix_path("/tmp/a=b", 0o666, 50, true)
    );
    // Windows paths need escaped colons (Twisted's serverFromString docstring).
    let ServerDescription::Ssl(s) = server(r"ssl:443:privateKey=C\:/key.pem:certKey=C\:/cert.pem")
    else {
        panic!()
    };
    assert_eq!(s.private_key, Path::new("C:/key.pem"));
    assert_eq!(s.cert_key.as_deref(), Some(Path::new("C:/cert.pem")));
}

#[test]
fn s2_trailing_backslash() {
    // DIFFERENCE: Twisted raises RuntimeError (a leaked StopIteration); strports
    // reports a ParseError at the backslash.
    for d in [r"tcp:80\", r"\", r"x\\\"] {
        let e = parse_raw(d).unwrap_err();
        assert_eq!(e.kind(), ParseErrorKind::TrailingBackslash);
        assert_eq!(e.offset(), d.len() - 1);
        server_err(d, ParseErrorKind::TrailingBackslash, d.len() - 1);
    }
}

#[test]
fn s2_nothing_is_trimmed_or_normalised() {
    assert_eq!(raw(" tcp : 80\0").0, [" tcp ", " 80\0"]);
    assert_eq!(raw("t:k= v ").1, kw(&[("k", " v ")]));
    // So ` tcp` is not a type name, and ` 80` is not a port.
    server_err(" tcp:80", ParseErrorKind::UnknownType, 0);
    // DIFFERENCE: Twisted's int() strips whitespace, so `tcp: 80 ` is port 80.
    server_err("tcp: 80 ", ParseErrorKind::InvalidPort, 4);
    // Unicode values pass through untouched (no NFC or case mapping).
    assert_eq!(
        server("tcp:80:interface=e\u{301}"),
        ServerDescription::Tcp(tcp(80, "e\u{301}", 50))
    );
}

#[test]
fn s2_empty_segments_are_kept() {
    assert_eq!(raw("::").0, ["", "", ""]);
    assert_eq!(raw("a::b").0, ["a", "", "b"]);
}

#[test]
fn s2_ipv6_literals_need_every_colon_escaped() {
    assert_eq!(
        server(r"tcp6:80:interface=\:\:1"),
        ServerDescription::Tcp6(tcp(80, "::1", 50))
    );
    assert_eq!(
        server(r"tcp:80:interface=\:\:1"),
        ServerDescription::Tcp(tcp(80, "::1", 50))
    );
    // Unescaped, `interface=::1` is `interface=""` plus positionals "" and "1"; the
    // "1" lands on tcp6's third positional (interface), given by keyword too.
    assert_eq!(
        raw("tcp6:80:interface=::1"),
        (
            vec!["tcp6".into(), "80".into(), "".into(), "1".into()],
            kw(&[("interface", "")])
        )
    );
    server_err(
        "tcp6:80:interface=::1",
        ParseErrorKind::DuplicateParameter,
        20,
    );
    // Brackets have no meaning.
    assert_eq!(
        server(r"tcp6:80:interface=[\:\:1]"),
        ServerDescription::Tcp6(tcp(80, "[::1]", 50))
    );
    assert_eq!(
        client(r"tcp:\:\:1:443"),
        tcp_client("::1", 443, DEFAULT_TIMEOUT, None)
    );
}

// _parse -------------------------------------------------------------------------------

#[test]
fn s3_positionals_and_keywords_interleave() {
    assert_eq!(
        raw("a:b:d=1:c"),
        (vec!["a".into(), "b".into(), "c".into()], kw(&[("d", "1")]))
    );
    assert_eq!(raw("=x"), (vec![], kw(&[("", "x")])));
}

#[test]
fn s3_repeated_keyword_last_wins_first_position_kept() {
    let r = parse_raw("t:a=1:b=2:a=3").unwrap();
    assert_eq!(r.kwargs().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
    assert_eq!(
        server("tcp:80:backlog=1:backlog=7"),
        ServerDescription::Tcp(tcp(80, "", 7))
    );
}

#[test]
fn s3_keyword_names_must_be_ascii() {
    let e = parse_raw("tcp:pört=1").unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ParseErrorKind::NonAsciiKeyword, 4));
    assert_eq!(
        e.to_string(),
        r#"non-ascii keyword "pört" at offset 4: keyword names must be ascii"#
    );
    // Values and positionals may contain anything.
    assert_eq!(
        raw("t:é:k=é"),
        (vec!["t".into(), "é".into()], kw(&[("k", "é")]))
    );
}

#[test]
fn s3_type_is_the_first_positional_wherever_it_is() {
    assert_eq!(
        server("port=80:tcp"),
        ServerDescription::Tcp(tcp(80, "", 50))
    );
    assert_eq!(server("port=80:tcp").to_string(), "tcp:80");
    assert_eq!(
        server("interface=127.0.0.1:tcp:80"),
        ServerDescription::Tcp(tcp(80, "127.0.0.1", 50))
    );
    assert_eq!(
        client("port=80:tcp:host=h"),
        tcp_client("h", 80, DEFAULT_TIMEOUT, None)
    );
    // All-keyword descriptions have no type (Twisted: IndexError).
    let e = server_err("port=80", ParseErrorKind::MissingType, 0);
    assert_eq!(
        e.to_string(),
        "missing endpoint type at offset 0: a server description starts with its type, e.g. tcp:8080"
    );
    client_err("host=h:port=80", ParseErrorKind::MissingType, 0);
}

// quoteStringArgument ------------------------------------------------------------------

#[test]
fn s4_quote() {
    // Twisted escapes `\` and `:`. DIFFERENCE: strports escapes `=` too.
    assert_eq!(quote(r"a:b\c"), r"a\:b\\c");
    assert_eq!(quote("a=b"), r"a\=b");
    for v in ["", "x", "a:b", r"C:\x", "k=v", "é", "::==\\\\"] {
        let (_, kwargs) = raw(&format!("t:k={}", quote(v)));
        assert_eq!(kwargs, kw(&[("k", v)]), "keyword value {v:?}");
        // DIFFERENCE: in Twisted this fails for `v` containing `=`.
        let (args, _) = raw(&format!("x:{}", quote(v)));
        assert_eq!(args, ["x", v], "positional {v:?}");
    }
}

// Argument binding and coercion --------------------------------------------------------

#[test]
fn s5_1_binding_errors() {
    // Too many positionals.
    server_err("tcp:80:i:5:x", ParseErrorKind::SurplusPositional, 11);
    // Positionally and by keyword.
    server_err("tcp:80:port=80", ParseErrorKind::DuplicateParameter, 4);
    // Missing required.
    server_err("tcp", ParseErrorKind::MissingParameter, 0);
    // Keyword names match exactly.
    server_err("tcp:80: backlog=1", ParseErrorKind::UnknownKeyword, 7);
    server_err("tcp:80:Backlog=1", ParseErrorKind::UnknownKeyword, 7);
    // Hidden implementation parameters are plain unknown keywords in strports
    // (Twisted: "got multiple values").
    server_err("tcp:80:factory=f", ParseErrorKind::UnknownKeyword, 7);
    server_err("unix:/x:factory=f", ParseErrorKind::UnknownKeyword, 8);
    server_err("tcp6:80:reactor=r", ParseErrorKind::UnknownKeyword, 8);
    server_err("tcp6:80:self=s", ParseErrorKind::UnknownKeyword, 8);
    server_err("stdio:self=s", ParseErrorKind::UnknownKeyword, 6);
    server_err("stdio:reactor=r", ParseErrorKind::UnknownKeyword, 6);
    client_err("tcp:h:1:reactor=r", ParseErrorKind::UnknownKeyword, 8);
    client_err("tls:h:1:self=s", ParseErrorKind::UnknownKeyword, 8);
}

#[test]
fn s5_2_numbers() {
    // Leading zeros are fine.
    assert_eq!(server("tcp:0080"), ServerDescription::Tcp(tcp(80, "", 50)));
    // DIFFERENCE: Python int() accepts all of these as 80; strports wants ASCII digits.
    for (d, offset) in [
        ("tcp:8_0", 4),
        ("tcp: 80 ", 4),
        ("tcp:+80", 4),
        ("tcp:٨٠", 4),
    ] {
        server_err(d, ParseErrorKind::InvalidPort, offset);
    }
    // Rejected by both.
    server_err("tcp:0x50", ParseErrorKind::InvalidPort, 4);
    server_err("tcp:0o120", ParseErrorKind::InvalidPort, 4);
    client_err("tcp:h:1:timeout=1.5", ParseErrorKind::InvalidNumber, 16);
    // DIFFERENCE: Twisted does no range checks at parse time.
    server_err("tcp:-1", ParseErrorKind::InvalidPort, 4);
    server_err("tcp:65536", ParseErrorKind::InvalidPort, 4);
    server_err("tcp:99999999999999", ParseErrorKind::InvalidPort, 4);
    server_err("tcp:80:backlog=-1", ParseErrorKind::InvalidNumber, 15);
    client_err("tcp:h:1:timeout=-1", ParseErrorKind::InvalidNumber, 16);
    // Mode: base 8 with an optional 0o prefix. DIFFERENCE: `0o_7` and `-1` pass int().
    assert_eq!(
        server("unix:/x:mode=0o660"),
        unix_path("/x", 0o660, 50, true)
    );
    server_err("unix:/x:mode=0o_7", ParseErrorKind::InvalidMode, 13);
    server_err("unix:/x:mode=-1", ParseErrorKind::InvalidMode, 13);
    // Booleans. DIFFERENCE: Twisted's bool(int()) rejects `true` and takes `2` as true.
    assert_eq!(
        server("unix:/x:lockfile=false"),
        unix_path("/x", 0o666, 50, false)
    );
    server_err("unix:/x:lockfile=2", ParseErrorKind::InvalidBoolean, 17);
}

#[test]
fn s5_3_present_but_empty_is_not_absent() {
    // `interface=` gives "" (which for tcp is also the default).
    assert_eq!(
        server("tcp:80:interface="),
        ServerDescription::Tcp(tcp(80, "", 50))
    );
    // For tcp6 "" is not the default "::".
    assert_eq!(
        server("tcp6:80:interface="),
        ServerDescription::Tcp6(tcp(80, "", 50))
    );
    assert_eq!(
        server("tcp6:80:interface=").to_string(),
        "tcp6:80:interface="
    );
    // DIFFERENCE: Twisted turns `bindAddress=` into ("", 0); strports rejects it.
    client_err("tcp:h:80:bindAddress=", ParseErrorKind::EmptyValue, 21);
    // An empty selector counts as given: both index and name → error (as Twisted).
    server_err(
        "systemd:domain=INET:index=:name=x",
        ParseErrorKind::SystemdSelector,
        32,
    );
}

// Type selection -----------------------------------------------------------------------

#[test]
fn s6_1_server_type_selection() {
    assert_eq!(server("tcp:80"), ServerDescription::Tcp(tcp(80, "", 50)));
    // DIFFERENCE: Twisted's built-in server types are case-sensitive (`TCP:80` is an
    // unknown type); strports matches every type ASCII case-insensitively.
    assert_eq!(server("TCP:80"), ServerDescription::Tcp(tcp(80, "", 50)));
    // Plugins are case-insensitive in Twisted too.
    assert_eq!(
        server("TCP6:80"),
        ServerDescription::Tcp6(tcp(80, "::", 50))
    );
    assert_eq!(server("STDIO"), ServerDescription::Stdio);
    assert_eq!(server("stdio"), ServerDescription::Stdio);
    // No default type.
    let e = server_err("80", ParseErrorKind::UnknownType, 0);
    assert_eq!(
        e.to_string(),
        r#"unknown server type "80" at offset 0: known types are tcp, tcp6, unix, ssl, tls, systemd, stdio, fd, haproxy; hint: did you mean tcp:80?"#
    );
}

#[test]
fn s6_2_client_type_selection() {
    assert_eq!(
        client("TCP:h:80"),
        tcp_client("h", 80, DEFAULT_TIMEOUT, None)
    );
    assert_eq!(
        client("Ssl:h:443"),
        ClientDescription::Ssl(ssl_client("h", 443))
    );
    // DIFFERENCE: Twisted upper-cases with Unicode rules, so `ßl` and `ſſl` are SSL,
    // `unıx` is UNIX and `tlſ` is tls. strports folds ASCII only.
    for d in [
        "ßl:h:443",
        "ſſl:h:443",
        "unıx:/x",
        "tlſ:h:443",
        "Straße:h:1",
    ] {
        client_err(d, ParseErrorKind::UnknownType, 0);
    }
    // Server-only types are unknown to clients.
    for d in [
        "tcp6:h:80",
        "stdio",
        "systemd:domain=INET:index=0",
        "haproxy:tcp:h:1",
    ] {
        client_err(d, ParseErrorKind::UnknownType, 0);
    }
}

// Server endpoint types ----------------------------------------------------------------

#[test]
fn s7_1_tcp() {
    assert_eq!(server("tcp:80"), ServerDescription::Tcp(tcp(80, "", 50)));
    assert_eq!(
        server("tcp:80:127.0.0.1:10"),
        ServerDescription::Tcp(tcp(80, "127.0.0.1", 10))
    );
    assert_eq!(
        server("tcp:80:interface=127.0.0.1"),
        ServerDescription::Tcp(tcp(80, "127.0.0.1", 50))
    );
    assert_eq!(
        server("tcp:port=80:backlog=5"),
        ServerDescription::Tcp(tcp(80, "", 5))
    );
}

#[test]
fn s7_1_tcp_interface_is_not_validated() {
    assert_eq!(
        server("tcp:80:not-an-address"),
        ServerDescription::Tcp(tcp(80, "not-an-address", 50))
    );
    let d = server("tcp:80:interface=127.0.0.1:backlog=10");
    assert_eq!(d.to_string(), "tcp:80:interface=127.0.0.1:backlog=10");
    assert_eq!(
        d.fields(),
        [
            ("port", FieldValue::Int(80)),
            ("interface", FieldValue::Str("127.0.0.1".into())),
            ("backlog", FieldValue::Int(10)),
        ]
    );
}

#[test]
fn s7_2_tcp6_positional_order_differs_from_tcp() {
    // `tcp:80:10` means interface "10"; `tcp6:80:10` means backlog 10.
    assert_eq!(
        server("tcp:80:10"),
        ServerDescription::Tcp(tcp(80, "10", 50))
    );
    assert_eq!(
        server("tcp6:80:10"),
        ServerDescription::Tcp6(tcp(80, "::", 10))
    );
    assert_eq!(
        server(r"tcp6:80:10:\:\:1"),
        ServerDescription::Tcp6(tcp(80, "::1", 10))
    );
    assert_eq!(
        server("tcp6:80"),
        ServerDescription::Tcp6(tcp(80, "::", 50))
    );
}

#[test]
fn s7_3_unix() {
    assert_eq!(
        server("unix:/x"),
        unix_path("/x", DEFAULT_UNIX_MODE, 50, true)
    );
    assert_eq!(
        server("unix:/x:660:10:0"),
        unix_path("/x", 0o660, 10, false)
    );
    assert_eq!(
        server("unix:/var/run/finger:mode=660"),
        unix_path("/var/run/finger", 0o660, 50, true)
    );
    assert_eq!(
        server("unix:/x:lockfile=0:backlog=5"),
        unix_path("/x", 0o666, 5, false)
    );
    // Relative paths stay relative; NUL and odd characters are fine.
    assert_eq!(
        server("unix:run/app.sock"),
        unix_path("run/app.sock", 0o666, 50, true)
    );
    // Linux abstract addresses (leading NUL) must be used with lockfile=0 in Twisted.
    // DIFFERENCE: strports also spells them `@name`, and the lock file is off by default.
    let abstract_ = ServerDescription::Unix(UnixServer {
        address: UnixAddress::Abstract("name".into()),
        mode: 0o666,
        backlog: 50,
        lockfile: false,
    });
    assert_eq!(server("unix:\0name:lockfile=0"), abstract_);
    assert_eq!(server("unix:\0name"), abstract_);
    assert_eq!(server("unix:@name"), abstract_);
    assert_eq!(abstract_.to_string(), "unix:@name");
    // DIFFERENCE: Twisted accepts an empty address.
    server_err("unix:", ParseErrorKind::EmptyValue, 5);
}

#[test]
fn s7_4_ssl() {
    // Defaults: privateKey server.pem, certKey = privateKey.
    let ServerDescription::Ssl(s) = server("ssl:443") else {
        panic!()
    };
    assert_eq!(s, ssl_server(443));
    assert_eq!(s.cert_key_path(), Path::new("server.pem"));
    let ServerDescription::Ssl(s) = server("ssl:443:privateKey=key.pem:certKey=crt.pem") else {
        panic!()
    };
    assert_eq!(
        (s.private_key.as_path(), s.cert_key_path()),
        (Path::new("key.pem"), Path::new("crt.pem"))
    );
    let ServerDescription::Ssl(s) = server("ssl:443:privateKey=both.pem") else {
        panic!()
    };
    assert_eq!(s.cert_key_path(), Path::new("both.pem"));
    // Every positional, in order.
    let d = "ssl:443:k.pem:c.pem:TLS_METHOD:127.0.0.1:5:chain.pem:dh.pem";
    let ServerDescription::Ssl(s) = server(d) else {
        panic!()
    };
    assert_eq!(
        s,
        SslServer {
            port: 443,
            private_key: "k.pem".into(),
            cert_key: Some("c.pem".into()),
            sslmethod: Some(SslMethod::Tls),
            interface: "127.0.0.1".into(),
            backlog: 5,
            extra_cert_chain: Some("chain.pem".into()),
            dh_parameters: Some("dh.pem".into()),
            alpn: Vec::new(),
        }
    );
    // Method names are case-sensitive.
    server_err(
        "ssl:443:sslmethod=tls_method",
        ParseErrorKind::InvalidSslMethod,
        18,
    );
    // DIFFERENCE: Twisted accepts any attribute of OpenSSL.SSL (`OP_NO_SSLv2`,
    // `Context`) at first and every TLS version; strports has an allow-list.
    for m in [
        "OP_NO_SSLv2",
        "Context",
        "TLSv1_METHOD",
        "TLSv1_1_METHOD",
        "TLS_CLIENT_METHOD",
        "DTLS_METHOD",
        "DTLS_SERVER_METHOD",
        "DTLS_CLIENT_METHOD",
    ] {
        server_err(
            &format!("ssl:443:sslmethod={m}"),
            ParseErrorKind::InvalidSslMethod,
            18,
        );
    }
    for (m, method) in [
        ("SSLv23_METHOD", SslMethod::SslV23),
        ("TLSv1_2_METHOD", SslMethod::TlsV1_2),
        ("TLS_METHOD", SslMethod::Tls),
        ("TLS_SERVER_METHOD", SslMethod::TlsServer),
    ] {
        let ServerDescription::Ssl(s) = server(&format!("ssl:443:sslmethod={m}")) else {
            panic!()
        };
        assert_eq!(s.sslmethod, Some(method));
    }
    // DIFFERENCE: Twisted reads the files while parsing; strports does not.
    server("ssl:443:privateKey=/nonexistent/key.pem");
}

#[test]
fn s7_5_stdio() {
    assert_eq!(server("stdio"), ServerDescription::Stdio);
    // DIFFERENCE: Twisted ignores any arguments; strports takes none.
    server_err("stdio:", ParseErrorKind::SurplusPositional, 6);
    server_err("STDIO:a:b=c", ParseErrorKind::UnknownKeyword, 8);
}

#[test]
fn s7_6_systemd() {
    let sd = |domain, selector| ServerDescription::Systemd(SystemdServer { domain, selector });
    assert_eq!(
        server("systemd:domain=INET:index=0"),
        sd(Domain::Inet, SystemdSelector::Index(0))
    );
    assert_eq!(
        server("systemd:INET6:1"),
        sd(Domain::Inet6, SystemdSelector::Index(1))
    );
    assert_eq!(
        server("systemd:domain=UNIX:name=web"),
        sd(Domain::Unix, SystemdSelector::Name("web".into()))
    );
    // Twisted binds positionals by place, so an empty one still counts as given and
    // this names both an index and a name.
    server_err("systemd:UNIX::web", ParseErrorKind::SystemdSelector, 14);
    // Neither / both.
    server_err("systemd:domain=INET", ParseErrorKind::SystemdSelector, 0);
    server_err(
        "systemd:domain=INET:index=0:name=web",
        ParseErrorKind::SystemdSelector,
        33,
    );
    // DIFFERENCE: Twisted's domain is `getattr(socket, "AF_" + domain)`, case-sensitive
    // and any AF_* name; strports takes INET, INET6, UNIX in any ASCII case.
    assert_eq!(
        server("systemd:domain=inet:index=0"),
        sd(Domain::Inet, SystemdSelector::Index(0))
    );
    server_err(
        "systemd:domain=UNSPEC:index=0",
        ParseErrorKind::InvalidDomain,
        15,
    );
    server_err(
        "systemd:domain=PACKET:index=0",
        ParseErrorKind::InvalidDomain,
        15,
    );
    // DIFFERENCE: negative indices (count from the end in Twisted) are rejected.
    server_err(
        "systemd:domain=INET:index=-1",
        ParseErrorKind::InvalidNumber,
        26,
    );
}

#[test]
fn s7_7_tls_server() {
    let ServerDescription::Tls(t) = server("tls:/etc/certs") else {
        panic!()
    };
    assert_eq!(
        t,
        TlsServer {
            path: "/etc/certs".into(),
            port: 443,
            backlog: 50,
            interface: "::".into(),
            alpn: Vec::new(),
        }
    );
    let ServerDescription::Tls(t) = server(r"tls:/etc/certs:8443:10:\:\:1") else {
        panic!()
    };
    assert_eq!((t.port, t.backlog, t.interface.as_str()), (8443, 10, "::1"));
    // A missing directory is fine at parse time (as in Twisted).
    server("tls:/nonexistent");
}

#[test]
fn s7_8_haproxy() {
    let ServerDescription::Haproxy(inner) = server("haproxy:tcp:8080") else {
        panic!()
    };
    assert_eq!(*inner, ServerDescription::Tcp(tcp(8080, "", 50)));
    // Nesting works.
    let ServerDescription::Haproxy(h) = server("haproxy:haproxy:tcp:80") else {
        panic!()
    };
    assert!(matches!(*h, ServerDescription::Haproxy(_)));
    // Keywords anywhere belong to the inner description.
    assert_eq!(
        server("backlog=5:haproxy:tcp:80").to_string(),
        "haproxy:tcp:80:backlog=5"
    );
    // DIFFERENCE: Twisted re-serialises the inner description without escaping `=`,
    // so `haproxy:tcp:8\=0` becomes the keyword `8=0` (TypeError). strports keeps the
    // positional "8=0", which is then not a port.
    server_err(r"haproxy:tcp:8\=0", ParseErrorKind::InvalidPort, 12);
    let ServerDescription::Haproxy(inner) = server(r"haproxy:unix:a\=b") else {
        panic!()
    };
    assert_eq!(*inner, unix_path("a=b", 0o666, 50, true));
}

#[test]
fn s7_9_no_default_type() {
    server_err("80", ParseErrorKind::UnknownType, 0);
    server_err("8080:interface=127.0.0.1", ParseErrorKind::UnknownType, 0);
}

// Client endpoint types ----------------------------------------------------------------

#[test]
fn s8_1_tcp_client() {
    let plain = tcp_client("h", 80, DEFAULT_TIMEOUT, None);
    assert_eq!(client("tcp:h:80"), plain);
    assert_eq!(client("tcp:host=h:port=80"), plain);
    // One positional: the port if host= was given, else the host.
    assert_eq!(client("tcp:host=h:80"), plain);
    assert_eq!(client("tcp:h:port=80"), plain);
    assert_eq!(
        client("tcp:h:80:timeout=5:bindAddress=10.0.0.1"),
        tcp_client("h", 80, 5, Some("10.0.0.1"))
    );
    // The host is neither validated nor normalised.
    assert_eq!(
        client("tcp:Bad_Host.EXAMPLE:1"),
        tcp_client("Bad_Host.EXAMPLE", 1, DEFAULT_TIMEOUT, None)
    );
    // DIFFERENCE: with two positionals Twisted silently overrides host=/port=, and with
    // three or more it silently drops them all. strports rejects both.
    client_err("tcp:h:80:port=81", ParseErrorKind::DuplicateParameter, 6);
    client_err(
        "tcp:a:b:c:host=h:port=1",
        ParseErrorKind::SurplusPositional,
        4,
    );
    client_err("tcp:h:80:x", ParseErrorKind::SurplusPositional, 9);
    // Missing host/port; unknown keywords.
    client_err("tcp:port=80", ParseErrorKind::MissingParameter, 0);
    client_err("tcp:h:80:interface=x", ParseErrorKind::UnknownKeyword, 9);
}

#[test]
fn s8_2_unix_client() {
    let plain = ClientDescription::Unix(UnixClient {
        path: UnixAddress::Path("/x".into()),
        timeout: DEFAULT_TIMEOUT,
        lockfile: false,
    });
    assert_eq!(client("unix:/x"), plain);
    assert_eq!(client("unix:path=/x"), plain);
    assert_eq!(client("unix:/x:lockfile=0"), plain);
    let ClientDescription::Unix(u) = client("unix:/x:lockfile=1:timeout=9") else {
        panic!()
    };
    assert_eq!((u.lockfile, u.timeout), (true, 9));
    // DIFFERENCE: Twisted passes `checkPID=` through raw, so `checkPID=0` is truthy.
    // strports treats checkPID as another name for lockfile, coerced the same way.
    assert_eq!(client("unix:/x:checkPID=0"), plain);
    let ClientDescription::Unix(u) = client("unix:/x:checkPID=1") else {
        panic!()
    };
    assert!(u.lockfile);
    // DIFFERENCE: surplus positionals are ignored by Twisted.
    client_err("unix:/x:/y", ParseErrorKind::SurplusPositional, 8);
    client_err("unix:/x:mode=660", ParseErrorKind::UnknownKeyword, 8);
}

#[test]
fn s8_3_ssl_client() {
    assert_eq!(
        client("ssl:h:443"),
        ClientDescription::Ssl(ssl_client("h", 443))
    );
    // Twisted IDNA-decodes `hostname` (`Example.COM` → `example.com`); strports keeps
    // the text as given and validates it.
    let ClientDescription::Ssl(s) = client("ssl:10.0.0.1:443:hostname=Example.COM") else {
        panic!()
    };
    assert_eq!(s.hostname.as_deref(), Some("Example.COM"));
    assert_eq!(s.verification_name(), "Example.COM");
    assert_eq!(s.tcp.host, "10.0.0.1");
    // Twisted turns `xn--…` into Unicode; strports keeps the A-label as written.
    let ClientDescription::Ssl(s) = client("ssl:h:443:hostname=xn--bcher-kva.example") else {
        panic!()
    };
    assert_eq!(s.verification_name(), "xn--bcher-kva.example");
    let d = "ssl:h:443:certKey=c.pem:privateKey=k.pem:caCertsDir=/etc/ca:timeout=5:bindAddress=b";
    let ClientDescription::Ssl(s) = client(d) else {
        panic!()
    };
    assert_eq!(
        s,
        SslClient {
            tcp: tcp_client_fields("h", 443, 5, Some("b")),
            hostname: None,
            cert_key: Some("c.pem".into()),
            private_key: Some("k.pem".into()),
            ca_certs_dir: Some("/etc/ca".into()),
            alpn: Vec::new(),
        }
    );
    // `sslmethod` is not a client keyword (both).
    client_err(
        "ssl:h:443:sslmethod=TLS_METHOD",
        ParseErrorKind::UnknownKeyword,
        10,
    );
    // DIFFERENCE: Twisted ignores privateKey without certKey.
    client_err("ssl:h:443:privateKey=k.pem", ParseErrorKind::Conflict, 21);
    // IDNA rejects `_` (as Twisted's hostname decoding does).
    client_err(
        "ssl:h:443:hostname=bad_name.example",
        ParseErrorKind::InvalidHostname,
        19,
    );
}

#[test]
fn s8_4_tls_client() {
    assert_eq!(
        client("tls:example.com:443"),
        ClientDescription::Tls(tls_client("example.com", 443))
    );
    // Every positional, in order.
    let d = r"tls:h:443:5:10.0.0.2:c.pem:k.pem:/etc/ca:tcp\:10.0.0.1\:443";
    let ClientDescription::Tls(t) = client(d) else {
        panic!()
    };
    assert_eq!(
        t,
        TlsClient {
            host: "h".into(),
            port: 443,
            timeout: 5,
            bind_address: Some("10.0.0.2".into()),
            certificate: Some("c.pem".into()),
            private_key: Some("k.pem".into()),
            trust_roots: Some("/etc/ca".into()),
            endpoint: Some(Box::new(tcp_client("10.0.0.1", 443, DEFAULT_TIMEOUT, None))),
            alpn: Vec::new(),
        }
    );
    // More than 8 positionals.
    client_err(
        r"tls:h:443:5:b:c:k:t:tcp\:h\:1:x",
        ParseErrorKind::SurplusPositional,
        30,
    );
    // Nested descriptions need one more level of escaping per level.
    let ClientDescription::Tls(t) = client(r"tls:h:443:endpoint=tcp\:1.2.3.4\:443") else {
        panic!()
    };
    assert_eq!(
        t.endpoint.as_deref(),
        Some(&tcp_client("1.2.3.4", 443, DEFAULT_TIMEOUT, None))
    );
    let three = r"tls:a:1:endpoint=tls\:b\:2\:endpoint=tcp\\\:1.2.3.4\\\:443";
    let ClientDescription::Tls(outer) = client(three) else {
        panic!()
    };
    let Some(ClientDescription::Tls(middle)) = outer.endpoint.as_deref() else {
        panic!()
    };
    assert_eq!(middle.host, "b");
    assert_eq!(
        middle.endpoint.as_deref(),
        Some(&tcp_client("1.2.3.4", 443, DEFAULT_TIMEOUT, None))
    );
    // Any client type may be nested.
    let ClientDescription::Tls(t) = client(r"tls:example.com:443:endpoint=unix\:/run/x.sock")
    else {
        panic!()
    };
    assert!(matches!(
        t.endpoint.as_deref(),
        Some(ClientDescription::Unix(_))
    ));
    // DIFFERENCE: Twisted fails IDNA for an IPv6 literal host unless endpoint= is
    // given; strports accepts IP literals as hosts (verified as IP addresses).
    assert_eq!(
        client(r"tls:\:\:1:443"),
        ClientDescription::Tls(tls_client("::1", 443))
    );
    assert_eq!(
        client("tls:1.2.3.4:443"),
        ClientDescription::Tls(tls_client("1.2.3.4", 443))
    );
    // Hosts are kept as typed (case preserved); IDNA validation as in Twisted.
    assert_eq!(
        client("tls:éxample.com:443"),
        ClientDescription::Tls(tls_client("éxample.com", 443))
    );
    client_err("tls:bad_name:443", ParseErrorKind::InvalidHostname, 4);
    client_err("tls:a..b:443", ParseErrorKind::InvalidHostname, 4);
    // Unknown keywords (Twisted: "unrecognized keyword arguments present").
    client_err("tls:h:443:bogus=1", ParseErrorKind::UnknownKeyword, 10);
    // Errors in nested descriptions point into the outer text.
    client_err(
        r"tls:h:443:endpoint=tcp\:h\:x",
        ParseErrorKind::InvalidPort,
        27,
    );
    // DIFFERENCE: privateKey without certificate is ignored by Twisted.
    client_err("tls:h:443:privateKey=k.pem", ParseErrorKind::Conflict, 21);
}

// Surprises and warts ------------------------------------------------------------------

#[test]
fn s16_listed_surprises() {
    // 1: only the first `=` is an operator; `\` escapes anything.
    assert_eq!(raw(r"k=a=b\:c").1, kw(&[("k", "a=b:c")]));
    // 2: the type is the first positional.
    assert_eq!(
        server("port=80:tcp"),
        ServerDescription::Tcp(tcp(80, "", 50))
    );
    // 4: positional orders.
    assert_eq!(
        server("tcp:80:10"),
        ServerDescription::Tcp(tcp(80, "10", 50))
    );
    assert_eq!(
        server("tcp6:80:10"),
        ServerDescription::Tcp6(tcp(80, "::", 10))
    );
    // 5. DIFFERENCE: no Python int().
    for d in [
        "tcp:8_0",
        "tcp: 80 ",
        "tcp:+80",
        "tcp:٨٠",
        "tcp:-1",
        "tcp:70000",
    ] {
        server_err(d, ParseErrorKind::InvalidPort, 4);
    }
    client_err("tcp:h:1:timeout=1.5", ParseErrorKind::InvalidNumber, 16);
    // 7: unix server lock file on by default (kept), client checkPID coerced
    // (DIFFERENCE).
    assert_eq!(server("unix:/x"), unix_path("/x", 0o666, 50, true));
    assert_eq!(
        client("unix:/x:checkPID=0").to_string(),
        "unix:/x",
        "checkPID=0 is off"
    );
}
