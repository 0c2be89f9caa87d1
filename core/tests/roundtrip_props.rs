//! Property tests: printing a description and parsing it back gives the same value,
//! arbitrary input never panics, and errors point into the input.

#![allow(missing_docs)]

use std::path::PathBuf;

use proptest::prelude::*;
use strports_core::grammar::{parse_raw, quote};
use strports_core::{
    AdoptedServer, ClientDescription, Domain, MAX_BACKLOG, ParseError, ParseErrorKind,
    ProcessClient, ProcessEnv, Registry, ServerDescription, SslClient, SslMethod, SslServer,
    StderrPolicy, SystemdSelector, SystemdServer, TcpClient, TcpServer, TlsClient, TlsServer,
    UnixAddress, UnixClient, UnixServer, dns_name, escape_control,
};

/// Parses a client description with `process:` allowed (the generated descriptions
/// include it; that the default parse refuses it is tested in `differences.rs`, row `o_`).
fn parse_client(text: &str) -> Result<ClientDescription, ParseError> {
    Registry::with_programs().parse_client(text)
}

// ---------------------------------------------------------------------------------
// Value strategies
// ---------------------------------------------------------------------------------

/// Text full of the grammar's operators, spaces and non-ASCII characters.
fn nasty_char() -> BoxedStrategy<char> {
    prop_oneof![
        6 => prop::sample::select(vec![
            ':', '=', '\\', ' ', '@', '\0', '/', '.', 'a', 'z', '0', '9', 'é', 'ß', '中',
            '😀', '\t', '\n', '"', '\'', '-', '_',
        ]),
        2 => any::<char>(),
    ]
    .boxed()
}

/// Arbitrary text (possibly empty).
fn text() -> BoxedStrategy<String> {
    prop::collection::vec(nasty_char(), 0..12)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

/// Non-empty arbitrary text.
fn non_empty_text() -> BoxedStrategy<String> {
    prop::collection::vec(nasty_char(), 1..12)
        .prop_map(|v| v.into_iter().collect())
        .boxed()
}

/// A non-empty path.
fn path() -> BoxedStrategy<PathBuf> {
    non_empty_text().prop_map(PathBuf::from).boxed()
}

/// A non-empty path that is not read as an abstract name (no leading `@` or NUL).
fn unix_path() -> BoxedStrategy<PathBuf> {
    non_empty_text()
        .prop_filter("abstract prefix", |s| {
            !s.starts_with('@') && !s.starts_with('\0')
        })
        .prop_map(PathBuf::from)
        .boxed()
}

fn unix_address() -> BoxedStrategy<UnixAddress> {
    prop_oneof![
        unix_path().prop_map(UnixAddress::Path),
        text().prop_map(UnixAddress::Abstract),
    ]
    .boxed()
}

fn backlog() -> BoxedStrategy<u32> {
    prop_oneof![
        Just(strports_core::DEFAULT_BACKLOG),
        0..=MAX_BACKLOG as u32,
        Just(MAX_BACKLOG as u32),
    ]
    .boxed()
}

fn port() -> BoxedStrategy<u16> {
    prop_oneof![Just(0u16), Just(443), Just(u16::MAX), any::<u16>()].boxed()
}

fn timeout() -> BoxedStrategy<u32> {
    prop_oneof![
        Just(strports_core::DEFAULT_TIMEOUT),
        Just(u32::MAX),
        1..=u32::MAX
    ]
    .boxed()
}

fn domain() -> BoxedStrategy<Domain> {
    prop::sample::select(vec![Domain::Inet, Domain::Inet6, Domain::Unix]).boxed()
}

/// A host name or IP literal that TLS accepts (`dns_name` is `Some`).
fn dns_host() -> BoxedStrategy<String> {
    let label = "[a-z0-9]{1,12}";
    let name = prop::collection::vec(label, 1..5).prop_map(|labels| labels.join("."));
    let unicode = prop::collection::vec(
        prop::sample::select(vec![
            "bücher",
            "例え",
            "straße",
            "xn--bcher-kva",
            "a-b",
            "münchen",
        ]),
        1..3,
    )
    .prop_map(|labels| format!("{}.example", labels.join(".")));
    prop_oneof![
        4 => name,
        1 => unicode,
        1 => any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
        2 => any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
        1 => Just("::".to_owned()),
        1 => Just("::1".to_owned()),
        1 => Just("fe80::1".to_owned()),
    ]
    .prop_filter("not a valid dns name", |h| dns_name(h).is_some())
    .boxed()
}

fn ssl_method() -> BoxedStrategy<Option<SslMethod>> {
    prop::option::of(prop::sample::select(vec![
        SslMethod::SslV23,
        SslMethod::Tls,
        SslMethod::TlsServer,
        SslMethod::TlsV1_2,
    ]))
    .boxed()
}

fn tcp_server() -> BoxedStrategy<TcpServer> {
    (port(), text(), backlog())
        .prop_map(|(port, interface, backlog)| TcpServer {
            port,
            interface,
            backlog,
        })
        .boxed()
}

fn unix_server() -> BoxedStrategy<UnixServer> {
    (unix_address(), 0..=0o7777u32, backlog(), any::<bool>())
        .prop_map(|(address, mode, backlog, lockfile)| {
            let is_path = matches!(address, UnixAddress::Path(_));
            let lockfile = lockfile && is_path;
            // An abstract name takes no mode (it has no file).
            let mode = if is_path {
                mode
            } else {
                strports_core::DEFAULT_UNIX_MODE
            };
            UnixServer {
                address,
                mode,
                backlog,
                lockfile,
            }
        })
        .boxed()
}

/// ALPN protocol lists: names are 1-255 bytes without commas; quoting-sensitive
/// characters included.
fn alpn() -> BoxedStrategy<Vec<String>> {
    prop::collection::vec("[a-z0-9/.:=\\\\ -]{1,12}", 0..3).boxed()
}

fn ssl_server() -> BoxedStrategy<SslServer> {
    (
        port(),
        prop_oneof![Just(PathBuf::from("server.pem")), path()],
        prop::option::of(path()),
        ssl_method(),
        text(),
        backlog(),
        prop::option::of(path()),
        prop::option::of(path()),
        alpn(),
    )
        .prop_map(
            |(port, private_key, cert_key, sslmethod, interface, backlog, extra, dh, alpn)| {
                SslServer {
                    port,
                    private_key,
                    cert_key,
                    sslmethod,
                    interface,
                    backlog,
                    extra_cert_chain: extra,
                    dh_parameters: dh,
                    alpn,
                }
            },
        )
        .boxed()
}

fn tls_server() -> BoxedStrategy<TlsServer> {
    (
        path(),
        port(),
        backlog(),
        prop_oneof![Just("::".to_owned()), text()],
        alpn(),
    )
        .prop_map(|(path, port, backlog, interface, alpn)| TlsServer {
            path,
            port,
            backlog,
            interface,
            alpn,
        })
        .boxed()
}

fn systemd_server() -> BoxedStrategy<SystemdServer> {
    let selector = prop_oneof![
        (0..=i32::MAX as u32 - 3).prop_map(SystemdSelector::Index),
        non_empty_text().prop_map(SystemdSelector::Name),
    ];
    (domain(), selector)
        .prop_map(|(domain, selector)| SystemdServer { domain, selector })
        .boxed()
}

fn leaf_server() -> BoxedStrategy<ServerDescription> {
    prop_oneof![
        tcp_server().prop_map(ServerDescription::Tcp),
        tcp_server().prop_map(ServerDescription::Tcp6),
        unix_server().prop_map(ServerDescription::Unix),
        ssl_server().prop_map(ServerDescription::Ssl),
        tls_server().prop_map(ServerDescription::Tls),
        systemd_server().prop_map(ServerDescription::Systemd),
        Just(ServerDescription::Stdio),
        (0..=i32::MAX, domain()).prop_map(|(fileno, domain)| ServerDescription::Adopted(
            AdoptedServer { fileno, domain }
        )),
    ]
    .boxed()
}

fn server() -> BoxedStrategy<ServerDescription> {
    prop_oneof![
        6 => leaf_server(),
        2 => leaf_server().prop_map(|s| ServerDescription::Haproxy(Box::new(s))),
        1 => leaf_server().prop_map(|s| {
            ServerDescription::Haproxy(Box::new(ServerDescription::Haproxy(Box::new(s))))
        }),
    ]
    .boxed()
}

fn tcp_client_with(host: BoxedStrategy<String>) -> BoxedStrategy<TcpClient> {
    (host, port(), timeout(), prop::option::of(non_empty_text()))
        .prop_map(|(host, port, timeout, bind_address)| TcpClient {
            host,
            port,
            timeout,
            bind_address,
        })
        .boxed()
}

fn ssl_client() -> BoxedStrategy<SslClient> {
    // With `hostname`, `host` may be any text; without it, `host` is verified.
    let with_hostname = (tcp_client_with(non_empty_text()), dns_host().prop_map(Some));
    let without = (tcp_client_with(dns_host()), Just(None));
    (
        prop_oneof![with_hostname, without],
        prop::option::of((path(), prop::option::of(path()))),
        prop::option::of(path()),
        alpn(),
    )
        .prop_map(|((tcp, hostname), creds, ca_certs_dir, alpn)| {
            let (cert_key, private_key) = match creds {
                Some((cert, key)) => (Some(cert), key),
                None => (None, None),
            };
            SslClient {
                tcp,
                hostname,
                cert_key,
                private_key,
                ca_certs_dir,
                alpn,
            }
        })
        .boxed()
}

fn unix_client() -> BoxedStrategy<UnixClient> {
    (unix_address(), timeout(), any::<bool>())
        .prop_map(|(path, timeout, lockfile)| {
            let lockfile = lockfile && matches!(path, UnixAddress::Path(_));
            UnixClient {
                path,
                timeout,
                lockfile,
            }
        })
        .boxed()
}

fn process_client() -> BoxedStrategy<ProcessClient> {
    (
        non_empty_text(),
        prop::collection::vec(text(), 0..4),
        prop::option::of(path()),
        prop::sample::select(vec![ProcessEnv::Inherit, ProcessEnv::Clear]),
        prop::sample::select(vec![
            StderrPolicy::Log,
            StderrPolicy::Drop,
            StderrPolicy::Inherit,
        ]),
    )
        .prop_map(|(argv0, rest, path, env, err_flag)| {
            let mut argv = vec![argv0];
            argv.extend(rest);
            ProcessClient {
                argv,
                path,
                env,
                err_flag,
            }
        })
        .boxed()
}

fn leaf_client() -> BoxedStrategy<ClientDescription> {
    prop_oneof![
        tcp_client_with(non_empty_text()).prop_map(ClientDescription::Tcp),
        ssl_client().prop_map(ClientDescription::Ssl),
        unix_client().prop_map(ClientDescription::Unix),
        process_client().prop_map(ClientDescription::Process),
    ]
    .boxed()
}

fn tls_client(endpoint: BoxedStrategy<ClientDescription>) -> BoxedStrategy<TlsClient> {
    (
        dns_host(),
        port(),
        timeout(),
        prop::option::of(non_empty_text()),
        prop::option::of((path(), prop::option::of(path()))),
        prop::option::of(path()),
        prop::option::of(endpoint),
        alpn(),
    )
        .prop_map(
            |(host, port, timeout, bind_address, creds, trust_roots, endpoint, alpn)| {
                let (certificate, private_key) = match creds {
                    Some((cert, key)) => (Some(cert), key),
                    None => (None, None),
                };
                TlsClient {
                    host,
                    port,
                    timeout,
                    bind_address,
                    certificate,
                    private_key,
                    trust_roots,
                    endpoint: endpoint.map(Box::new),
                    alpn,
                }
            },
        )
        .boxed()
}

fn client() -> BoxedStrategy<ClientDescription> {
    leaf_client()
        .prop_recursive(2, 8, 1, |inner| {
            prop_oneof![
                3 => leaf_client(),
                2 => tls_client(inner).prop_map(ClientDescription::Tls),
            ]
        })
        .boxed()
}

// ---------------------------------------------------------------------------------
// Input strategies
// ---------------------------------------------------------------------------------

/// Strings biased to the grammar's alphabet and to real type prefixes.
fn description_like() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            ":", "=", "\\", "a", "b", "0", "é", "1", "80", "@", "::1", "\\:", "\\=", "\\\\",
        ])
        .prop_map(str::to_owned),
        2 => prop::sample::select(vec![
            "tcp:", "tcp6:", "unix:", "ssl:", "tls:", "haproxy:", "systemd:", "stdio", "fd:",
            "process:", "TCP:", "interface=", "backlog=", "mode=", "lockfile=", "checkPID=",
            "privateKey=", "certKey=", "sslmethod=TLS_METHOD", "domain=INET", "index=",
            "name=", "timeout=", "bindAddress=", "hostname=", "caCertsDir=", "certificate=",
            "trustRoots=", "endpoint=", "endpoint=tcp\\:h\\:1", "env=clear", "errFlag=drop",
            "path=", "port=", "host=", "example.com", "::", "0o777", "yes", "off",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..14)
        .prop_map(|v| v.concat())
        .boxed()
}

/// A type name and segments drawn from real parameter names and plausible values,
/// so that a good share of inputs parse.
fn structured() -> BoxedStrategy<String> {
    let type_name = prop::sample::select(vec![
        "tcp",
        "tcp6",
        "unix",
        "ssl",
        "tls",
        "systemd",
        "stdio",
        "fd",
        "haproxy",
        "process",
        "TCP",
        "Unix",
        "haproxy:tcp",
        "haproxy:unix",
        "haproxy:haproxy:tcp6",
        "nope",
        "",
    ]);
    let keyword = prop::sample::select(vec![
        "port",
        "interface",
        "backlog",
        "address",
        "mode",
        "lockfile",
        "privateKey",
        "certKey",
        "sslmethod",
        "extraCertChain",
        "dhParameters",
        "path",
        "domain",
        "index",
        "name",
        "fileno",
        "host",
        "timeout",
        "bindAddress",
        "hostname",
        "caCertsDir",
        "checkPID",
        "certificate",
        "trustRoots",
        "endpoint",
        "env",
        "errFlag",
        "alpn",
        "bogus",
    ]);
    let value = prop_oneof![
        3 => prop::sample::select(vec![
            "0", "1", "80", "443", "65535", "65536", "50", "2147483647", "2147483648", "660",
            "0o777", "7777", "10000", "yes", "no", "on", "TRUE", "INET", "inet6", "UNIX",
            "TLS_METHOD", "SSLv3_METHOD", "example.com", "Bücher.example", "\\:\\:1",
            "127.0.0.1", "/run/app.sock", "@abstract", "./@x", "key.pem", "C\\:\\\\k.pem",
            "tcp\\:h\\:80", "unix\\:/x", "tls\\:h\\:1\\:endpoint=tcp\\\\\\:h\\\\\\:2",
            "process\\:cat", "clear", "drop", "inherit", "log", "", "é", "a b",
            "h2,http/1.1", "h2,", ",",
        ])
        .prop_map(str::to_owned),
        1 => "[:=\\\\ab0é @]{0,6}".prop_filter("trailing backslash", |s| !s.ends_with('\\')),
    ];
    let segment = prop_oneof![
        2 => value.clone(),
        2 => (keyword, value).prop_map(|(k, v)| format!("{k}={v}")),
    ];
    (type_name, prop::collection::vec(segment, 0..6))
        .prop_map(|(t, segments)| {
            let mut s = t.to_owned();
            for seg in segments {
                s.push(':');
                s.push_str(&seg);
            }
            s
        })
        .boxed()
}

/// A canonical description with a few random edits.
fn mutated() -> BoxedStrategy<String> {
    let printed = prop_oneof![
        server().prop_map(|d| d.canonical()),
        client().prop_map(|d| d.canonical()),
    ];
    let edit = (any::<prop::sample::Index>(), 0..3u8, nasty_char());
    (printed, prop::collection::vec(edit, 0..3))
        .prop_map(|(s, edits)| {
            let mut chars: Vec<char> = s.chars().collect();
            for (at, op, c) in edits {
                let i = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(i, c),
                    1 if i < chars.len() => {
                        chars.remove(i);
                    }
                    _ if i < chars.len() => chars[i] = c,
                    _ => chars.push(c),
                }
            }
            chars.into_iter().collect()
        })
        .boxed()
}

fn any_input() -> BoxedStrategy<String> {
    prop_oneof![
        3 => structured(),
        2 => mutated(),
        2 => description_like(),
        1 => any::<String>(),
        1 => "[:=\\\\ab0é]{0,16}",
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------

fn check_error(input: &str, err: &ParseError) -> Result<(), TestCaseError> {
    prop_assert!(
        err.offset() <= input.len(),
        "offset {} past the end of {input:?}",
        err.offset()
    );
    prop_assert!(
        input.is_char_boundary(err.offset()),
        "offset {} not on a char boundary in {input:?}",
        err.offset()
    );
    let first = err.message().chars().next();
    prop_assert!(first.is_some(), "empty message for {input:?}");
    prop_assert!(
        !first.is_some_and(char::is_uppercase),
        "message not lowercase-initial: {:?}",
        err.message()
    );
    prop_assert!(
        err.message()
            .contains(&format!("at offset {}", err.offset())),
        "message does not name its offset {}: {:?}",
        err.offset(),
        err.message()
    );
    // The caret rendering must not panic.
    let _ = err.caret(input);
    Ok(())
}

/// `Display` is the canonical form with control characters escaped: no control
/// character, the same text where the canonical form has none.
fn check_display(shown: &str, canonical: &str) -> Result<(), TestCaseError> {
    prop_assert!(!shown.contains(char::is_control), "{:?}", shown);
    prop_assert_eq!(shown, escape_control(canonical).to_string());
    if !canonical
        .chars()
        .any(|c| c.is_control() || ('\u{2028}'..='\u{2069}').contains(&c))
    {
        prop_assert_eq!(shown, canonical);
    }
    Ok(())
}

fn check_server_input(input: &str) -> Result<(), TestCaseError> {
    match input.parse::<ServerDescription>() {
        Ok(desc) => {
            let printed = desc.canonical();
            let again: ServerDescription = printed
                .parse()
                .map_err(|e| TestCaseError::fail(format!("{input:?} -> {printed:?}: {e}")))?;
            prop_assert_eq!(&again, &desc, "{:?} printed as {:?}", input, printed);
            // The canonical form is a fixed point.
            prop_assert_eq!(again.canonical(), printed);
            check_display(&desc.to_string(), &desc.canonical())?;
        }
        Err(e) => check_error(input, &e)?,
    }
    Ok(())
}

fn check_client_input(input: &str) -> Result<(), TestCaseError> {
    match parse_client(input) {
        Ok(desc) => {
            let printed = desc.canonical();
            let again: ClientDescription = parse_client(&printed)
                .map_err(|e| TestCaseError::fail(format!("{input:?} -> {printed:?}: {e}")))?;
            prop_assert_eq!(&again, &desc, "{:?} printed as {:?}", input, printed);
            prop_assert_eq!(again.canonical(), printed);
            check_display(&desc.to_string(), &desc.canonical())?;
        }
        Err(e) => check_error(input, &e)?,
    }
    Ok(())
}

fn check_raw_input(input: &str) -> Result<(), TestCaseError> {
    match parse_raw(input) {
        Ok(raw) => {
            // Re-quoting every argument gives a description with the same raw parse.
            let mut printed: Vec<String> = raw.args().map(|a| quote(a).into_owned()).collect();
            printed.extend(
                raw.kwargs()
                    .map(|(k, v)| format!("{}={}", quote(k), quote(v))),
            );
            let printed = printed.join(":");
            let again = parse_raw(&printed)
                .map_err(|e| TestCaseError::fail(format!("{input:?} -> {printed:?}: {e}")))?;
            prop_assert!(again.args().eq(raw.args()), "{:?} -> {:?}", input, printed);
            prop_assert!(
                again.kwargs().eq(raw.kwargs()),
                "{:?} -> {:?}",
                input,
                printed
            );
            for t in raw.positional_texts() {
                prop_assert!(input.is_char_boundary(t.offset()) && t.offset() <= input.len());
            }
        }
        Err(e) => check_error(input, &e)?,
    }
    Ok(())
}

/// Twisted's `_tokenize` and `_parse`, transcribed character by character: the
/// reference for `parse_raw` (positionals and keywords with offsets, or the error
/// kind and offset).
#[allow(clippy::type_complexity)]
fn reference_parse_raw(
    input: &str,
) -> Result<(Vec<(String, usize)>, Vec<(String, String, usize)>), (ParseErrorKind, usize)> {
    // Segments split on unescaped `:`; within one, the first unescaped `=` splits.
    struct Segment {
        parts: Vec<(String, usize)>,
    }
    let mut segments = vec![Segment {
        parts: vec![(String::new(), 0)],
    }];
    let mut chars = input.char_indices();
    let mut trailing = None;
    while let Some((i, c)) = chars.next() {
        let seg = segments.last_mut().expect("a segment");
        match c {
            ':' => segments.push(Segment {
                parts: vec![(String::new(), i + 1)],
            }),
            '=' if seg.parts.len() == 1 => seg.parts.push((String::new(), i + 1)),
            '\\' => match chars.next() {
                Some((_, e)) => seg.parts.last_mut().expect("a part").0.push(e),
                None => trailing = Some(i),
            },
            _ => seg.parts.last_mut().expect("a part").0.push(c),
        }
    }
    let mut args = Vec::new();
    let mut kwargs: Vec<(String, String, usize)> = Vec::new();
    let last = segments.len() - 1;
    for (n, seg) in segments.into_iter().enumerate() {
        if n == last {
            if let Some(i) = trailing {
                return Err((ParseErrorKind::TrailingBackslash, i));
            }
        }
        let mut parts = seg.parts.into_iter();
        let (first, at) = parts.next().expect("a part");
        match parts.next() {
            None => args.push((first, at)),
            Some((value, value_at)) => {
                if !first.is_ascii() {
                    return Err((ParseErrorKind::NonAsciiKeyword, at));
                }
                match kwargs.iter_mut().find(|(k, _, _)| *k == first) {
                    Some(slot) => {
                        slot.1 = value;
                        slot.2 = value_at;
                    }
                    None => kwargs.push((first, value, value_at)),
                }
            }
        }
    }
    Ok((args, kwargs))
}

fn check_raw_against_reference(input: &str) -> Result<(), TestCaseError> {
    let expected = reference_parse_raw(input);
    match parse_raw(input) {
        Ok(raw) => {
            let args: Vec<(String, usize)> = raw
                .positional_texts()
                .iter()
                .map(|t| (t.as_str().to_owned(), t.offset()))
                .collect();
            let kwargs: Vec<(String, String, usize)> = raw
                .keyword_texts()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned(), v.offset()))
                .collect();
            prop_assert_eq!(Ok((args, kwargs)), expected, "{:?}", input);
        }
        Err(e) => prop_assert_eq!(Err((e.kind(), e.offset())), expected, "{:?}", input),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn server_print_parse_round_trips(desc in server()) {
        check_display(&desc.to_string(), &desc.canonical())?;
        let printed = desc.canonical();
        let parsed: ServerDescription = printed
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{desc:?} printed as {printed:?}: {e}")))?;
        prop_assert_eq!(&parsed, &desc, "printed as {:?}", printed);
    }

    #[test]
    fn client_print_parse_round_trips(desc in client()) {
        check_display(&desc.to_string(), &desc.canonical())?;
        let printed = desc.canonical();
        let parsed: ClientDescription = parse_client(&printed)
            .map_err(|e| TestCaseError::fail(format!("{desc:?} printed as {printed:?}: {e}")))?;
        prop_assert_eq!(&parsed, &desc, "printed as {:?}", printed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_as_server(input in any_input()) {
        check_server_input(&input)?;
    }

    #[test]
    fn arbitrary_input_as_client(input in any_input()) {
        check_client_input(&input)?;
    }

    #[test]
    fn arbitrary_input_raw(input in any_input()) {
        check_raw_input(&input)?;
        check_raw_against_reference(&input)?;
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Long runs without operators exercise the eight-bytes-at-a-time search.
    #[test]
    fn raw_parse_matches_twisted_tokenizer(
        input in "([a-zé]{0,20}[:=\\\\]?){0,6}",
    ) {
        check_raw_against_reference(&input)?;
    }

    /// Any value survives quoting as a positional and as a keyword value.
    #[test]
    fn quote_round_trips(value in any::<String>(), biased in "[:=\\\\ab0é ]{0,16}") {
        for v in [&value, &biased] {
            let text = format!("t:{}:k={}:{}", quote(v), quote(v), quote(v));
            let raw = parse_raw(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            prop_assert_eq!(raw.args().collect::<Vec<_>>(), vec!["t", v.as_str(), v.as_str()]);
            prop_assert_eq!(raw.kwargs().collect::<Vec<_>>(), vec![("k", v.as_str())]);
            // A quoted keyword name survives too (when it is ASCII).
            if v.is_ascii() {
                let text = format!("t:{}={}", quote(v), quote(v));
                let raw = parse_raw(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
                prop_assert_eq!(raw.kwargs().collect::<Vec<_>>(), vec![(v.as_str(), v.as_str())]);
            }
        }
    }

    /// Values inside a nested `endpoint=` survive two levels of quoting.
    #[test]
    fn nested_endpoint_quoting(desc in leaf_client(), host in dns_host()) {
        let text = format!("tls:{}:443:endpoint={}", quote(&host), quote(&desc.canonical()));
        let parsed: ClientDescription = parse_client(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let ClientDescription::Tls(tls) = parsed else {
            return Err(TestCaseError::fail("not tls"));
        };
        prop_assert_eq!(tls.endpoint.as_deref(), Some(&desc));
    }
}

// ---------------------------------------------------------------------------------
// Regressions
// ---------------------------------------------------------------------------------

/// `haproxy:` repeated used to recurse once per wrapper and overflow the stack
/// (an abort, not a panic) for long descriptions.
#[test]
fn deep_haproxy_nesting_is_an_error_not_a_stack_overflow() {
    const MAX_NESTING: usize = 32;

    let deepest = format!("{}tcp:80", "haproxy:".repeat(MAX_NESTING));
    let desc: ServerDescription = deepest.parse().expect("MAX_NESTING wrappers parse");
    assert_eq!(desc.to_string(), deepest);

    let too_deep = format!("{}tcp:80", "haproxy:".repeat(MAX_NESTING + 1));
    let err = too_deep.parse::<ServerDescription>().unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::NestingTooDeep);
    assert_eq!(err.offset(), MAX_NESTING * "haproxy:".len());
    assert!(
        err.message()
            .contains(&format!("at offset {}", err.offset()))
    );

    let huge = format!("{}stdio", "haproxy:".repeat(1 << 17));
    let err = huge.parse::<ServerDescription>().unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::NestingTooDeep);
}

/// An escaped type name (`\haproxy` is `haproxy`) used to put "missing ... at the end
/// of the type" errors inside the type instead of after it.
#[test]
fn missing_after_escaped_type_points_after_the_raw_type() {
    let err = r"\haproxy".parse::<ServerDescription>().unwrap_err();
    assert_eq!(err.offset(), 8);
    assert!(err.message().contains("at offset 8"), "{}", err.message());
    let err = parse_client(r"pro\cess").unwrap_err();
    assert_eq!(err.offset(), 8);
    let err = parse_client(r"pro\cess:path=x").unwrap_err();
    assert_eq!(err.offset(), 8);
    // Nested in `endpoint=`, the offset is mapped back through both levels of escaping.
    let input = r"tls:h:1:endpoint=pro\\\cess";
    let err = parse_client(input).unwrap_err();
    assert_eq!(err.offset(), input.len());
}
