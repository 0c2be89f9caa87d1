//! Bad input, table-driven (issue 9): malformed descriptions of every error kind, on
//! both sides, at nested positions (`endpoint=`, `haproxy:`), after escapes and after
//! non-ASCII text, each with its exact kind and byte offset; hostile systemd
//! variables; malformed PEM material through `core::tls` (feature `tls`), including a
//! proptest that arbitrary bytes never make the builders panic.

#![allow(missing_docs, clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::HashSet;

use strports_core::ParseErrorKind::{self, *};
use strports_core::systemd::{ListenFds, SystemdError};
use strports_core::{ParseError, Registry, ServerDescription, SystemdSelector};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    /// Parsed as a [`ServerDescription`].
    S,
    /// Parsed as a [`strports_core::ClientDescription`].
    C,
}
use Side::{C, S};

/// (side, description, kind, byte offset, text the message must quote).
type Row = (
    Side,
    &'static str,
    ParseErrorKind,
    usize,
    Option<&'static str>,
);
/// A [`Row`] whose description may be built at run time.
type OwnedRow = (
    Side,
    Cow<'static, str>,
    ParseErrorKind,
    usize,
    Option<&'static str>,
);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    (S, r"\", TrailingBackslash, 0, None),
    (S, r"tcp:80\", TrailingBackslash, 6, None),
    (S, r"haproxy:tcp:80\", TrailingBackslash, 14, None),
    (S, r"unix:/tmp/ü\", TrailingBackslash, 12, None),
    (S, r"unix:/a\:b\", TrailingBackslash, 10, None),
    (C, r"tcp:host:80:bindAddress=x\", TrailingBackslash, 25, None),
    (C, r"unix:/tmp/sock\", TrailingBackslash, 14, None),
    (C, r"tls:h:443:endpoint=tcp\:h\:80\\", TrailingBackslash, 29, None),
    (S, "tcp:80:ü=1", NonAsciiKeyword, 7, Some(r"ü")),
    (S, "tcp:80:interfacé=lo", NonAsciiKeyword, 7, Some(r"interfacé")),
    (C, "tcp:h:80:bäcklog=1", NonAsciiKeyword, 9, Some(r"bäcklog")),
    (S, r"unix:/a\:b:ß=1", NonAsciiKeyword, 11, Some(r"ß")),
    (S, "haproxy:tcp:80:ö=1", NonAsciiKeyword, 15, Some(r"ö")),
    (C, r"tls:h:443:endpoint=tcp\:h\:80\:é\=1", NonAsciiKeyword, 31, Some(r"é")),
    (S, "port=80", MissingType, 0, None),
    (S, "", UnknownType, 0, Some(r"")),
    (S, ":80", UnknownType, 0, Some(r"")),
    (S, "haproxy", MissingType, 7, None),
    (S, "haproxy:port=80", MissingType, 7, None),
    (S, "haproxy:haproxy", MissingType, 15, None),
    (C, "host=h:port=80", MissingType, 0, None),
    (C, "", UnknownType, 0, Some(r"")),
    (C, r"tls:h:443:endpoint=port\=80", MissingType, 19, None),
    (C, "tls:h:443:endpoint=", UnknownType, 19, Some(r"")),
    (S, "tcp4:80", UnknownType, 0, Some(r"tcp4")),
    (S, "haproxy:udp:80", UnknownType, 8, Some(r"udp")),
    (S, r"\u\dp:80", UnknownType, 0, Some(r"udp")),
    (S, "ü:80", UnknownType, 0, Some(r"ü")),
    (S, "process:cat", UnknownType, 0, Some(r"process")),
    (C, "ssh:h:22", UnknownType, 0, Some(r"ssh")),
    (C, "haproxy:tcp:h:80", UnknownType, 0, Some(r"haproxy")),
    (C, r"tls:h:443:endpoint=udp\:h\:80", UnknownType, 19, Some(r"udp")),
    (C, "stdio", UnknownType, 0, Some(r"stdio")),
    (C, r"tls:h:443:endpoint=tls\:h\:1\:endpoint=x\\\:1", UnknownType, 39, Some(r"x")),
    (S, "tcp:80:foo=1", UnknownKeyword, 7, Some(r"foo")),
    (S, "tcp:80:Backlog=1", UnknownKeyword, 7, Some(r"Backlog")),
    (S, "unix:/é:bogus=1", UnknownKeyword, 9, Some(r"bogus")),
    (S, "haproxy:tcp:80:x=1", UnknownKeyword, 15, Some(r"x")),
    (S, "ssl:443:hostname=h", UnknownKeyword, 8, Some(r"hostname")),
    (S, "systemd:INET:index=0:fd=3", UnknownKeyword, 21, Some(r"fd")),
    (C, "tcp:h:80:endpoint=x", UnknownKeyword, 9, Some(r"endpoint")),
    (C, "unix:/a:mode=1", UnknownKeyword, 8, Some(r"mode")),
    (C, "process:cat:timeout=1", UnknownKeyword, 12, Some(r"timeout")),
    (C, r"tls:h:443:endpoint=tcp\:h\:80\:mode\=1", UnknownKeyword, 31, Some(r"mode")),
    (S, "tcp:80:lo:5:extra", SurplusPositional, 12, Some(r"extra")),
    (S, "stdio:x", SurplusPositional, 6, Some(r"x")),
    (S, "fd:3:INET:x", SurplusPositional, 10, Some(r"x")),
    (S, "haproxy:tcp:80:i:5:x", SurplusPositional, 19, Some(r"x")),
    (S, r"tcp6:80:5:\:\:1:x", SurplusPositional, 16, Some(r"x")),
    (S, "systemd:INET:0:n:x", SurplusPositional, 17, Some(r"x")),
    (C, "tcp:h:80:5", SurplusPositional, 9, Some(r"5")),
    (C, "unix:/a:1", SurplusPositional, 8, Some(r"1")),
    (C, "ssl:h:443:x", SurplusPositional, 10, Some(r"x")),
    (C, r"tls:h:443:endpoint=unix\:/s\:x", SurplusPositional, 29, Some(r"x")),
    (S, "tcp:80:port=81", DuplicateParameter, 4, Some(r"port")),
    (S, "unix:/a:address=/b", DuplicateParameter, 5, Some(r"address")),
    (S, "haproxy:tcp:80:port=1", DuplicateParameter, 12, Some(r"port")),
    (C, "unix:/a:lockfile=1:checkPID=1", DuplicateParameter, 28, Some(r"checkPID")),
    (C, "tcp:h:80:host=x", DuplicateParameter, 6, Some(r"host")),
    (C, "tls:h:443:port=1", DuplicateParameter, 6, Some(r"port")),
    (C, r"tls:h:443:endpoint=tcp\:h\:80\:port\=1", DuplicateParameter, 27, Some(r"port")),
    (S, "tcp", MissingParameter, 0, Some(r"port")),
    (S, "tcp:interface=lo", MissingParameter, 0, Some(r"port")),
    (S, "unix", MissingParameter, 0, Some(r"address")),
    (S, "ssl", MissingParameter, 0, Some(r"port")),
    (S, "tls", MissingParameter, 0, Some(r"path")),
    (S, "fd:3", MissingParameter, 0, Some(r"domain")),
    (S, "fd", MissingParameter, 0, Some(r"fileno")),
    (S, "systemd:index=0", MissingParameter, 0, Some(r"domain")),
    (S, "haproxy:tcp", MissingParameter, 8, Some(r"port")),
    (C, "tcp:h", MissingParameter, 0, Some(r"port")),
    (C, "tcp", MissingParameter, 0, Some(r"host")),
    (C, "process", MissingParameter, 7, None),
    (C, "tls:h", MissingParameter, 0, Some(r"port")),
    (C, "ssl:port=443", MissingParameter, 0, Some(r"host")),
    (C, "unix", MissingParameter, 0, Some(r"path")),
    (C, r"tls:h:443:endpoint=tcp\:h", MissingParameter, 19, Some(r"port")),
    (S, "tcp:70000", InvalidPort, 4, Some(r"70000")),
    (S, "tcp:-1", InvalidPort, 4, Some(r"-1")),
    (S, "tcp:port=x", InvalidPort, 9, Some(r"x")),
    (S, "tcp:", InvalidPort, 4, Some(r"")),
    (S, "tcp:+80", InvalidPort, 4, Some(r"+80")),
    (S, "tls:/d:99999", InvalidPort, 7, Some(r"99999")),
    (S, "ssl:abc", InvalidPort, 4, Some(r"abc")),
    (S, "haproxy:tcp:99999", InvalidPort, 12, Some(r"99999")),
    (S, "unix:/ü:mode=1:backlog=1:x", DuplicateParameter, 26, Some(r"mode")),
    (C, "tcp:h:65536", InvalidPort, 6, Some(r"65536")),
    (C, "tcp:é:8o", InvalidPort, 7, Some(r"8o")),
    (C, r"tls:h:443:endpoint=tcp\:h\:99999", InvalidPort, 27, Some(r"99999")),
    (C, r"ssl:h\:1:port=x", InvalidPort, 14, Some(r"x")),
    (S, "tcp:80:backlog=x", InvalidNumber, 15, Some(r"x")),
    (S, "tcp:80:backlog=2147483648", InvalidNumber, 15, Some(r"2147483648")),
    (S, "tcp:80:lo:-5", InvalidNumber, 10, Some(r"-5")),
    (S, "fd:x:INET", InvalidNumber, 3, Some(r"x")),
    (S, "fd:2147483648:INET", InvalidNumber, 3, Some(r"2147483648")),
    (S, "systemd:INET:index=-1", InvalidNumber, 19, Some(r"-1")),
    (S, "systemd:INET:index=2147483645", InvalidNumber, 19, Some(r"2147483645")),
    (C, "tcp:h:80:timeout=0", InvalidNumber, 17, Some(r"0")),
    (C, "tcp:h:80:timeout=-1", InvalidNumber, 17, Some(r"-1")),
    (C, "unix:/a:timeout=x", InvalidNumber, 16, Some(r"x")),
    (C, "tls:h:443:1.5", InvalidNumber, 10, Some(r"1.5")),
    (C, r"tls:h:443:endpoint=tcp\:h\:80\:timeout\=0", InvalidNumber, 40, Some(r"0")),
    (S, "unix:/a:mode=888", InvalidMode, 13, Some(r"888")),
    (S, "unix:/a:mode=10000", InvalidMode, 13, Some(r"10000")),
    (S, "unix:/a:mode=0x1", InvalidMode, 13, Some(r"0x1")),
    (S, "unix:/a:mode=", InvalidMode, 13, Some(r"")),
    (S, r"unix:/ü\:x:mode=9", InvalidMode, 17, Some(r"9")),
    (S, "haproxy:unix:/a:mode=0o8", InvalidMode, 21, Some(r"0o8")),
    (S, "unix:/a:lockfile=maybe", InvalidBoolean, 17, Some(r"maybe")),
    (S, "unix:/a:644:50:2", InvalidBoolean, 15, Some(r"2")),
    (C, "unix:/a:checkPID=2", InvalidBoolean, 17, Some(r"2")),
    (C, "unix:/a:lockfile=", InvalidBoolean, 17, Some(r"")),
    (S, "unix:", EmptyValue, 5, Some(r"address")),
    (S, "unix:address=", EmptyValue, 13, Some(r"address")),
    (S, "systemd:INET:name=", EmptyValue, 18, Some(r"name")),
    (C, "tcp::80", EmptyValue, 4, Some(r"host")),
    (C, "process:", EmptyValue, 8, Some(r"program")),
    (C, "unix:", EmptyValue, 5, Some(r"path")),
    (C, "ssl:h:443:hostname=", EmptyValue, 19, Some(r"hostname")),
    (C, "tcp:h:80:bindAddress=", EmptyValue, 21, Some(r"bindAddress")),
    (C, r"tls:h:443:endpoint=unix\:", EmptyValue, 25, Some(r"path")),
    (S, "systemd:INET", SystemdSelector, 0, None),
    (S, "systemd:INET:index=0:name=x", SystemdSelector, 26, None),
    (S, "systemd:INET:0:x", SystemdSelector, 15, None),
    (S, "haproxy:systemd:INET6", SystemdSelector, 8, None),
    (S, "systemd:domain=INET:name=a:index=1", SystemdSelector, 25, None),
    (S, "systemd:INET7:index=0", InvalidDomain, 8, Some(r"INET7")),
    (S, "fd:3:domain=", InvalidDomain, 12, Some(r"")),
    (S, "fd:3:INET4", InvalidDomain, 5, Some(r"INET4")),
    (S, "systemd:UNIX6:index=0", InvalidDomain, 8, Some(r"UNIX6")),
    (S, "ssl:443:sslmethod=SSLv3_METHOD", InvalidSslMethod, 18, Some(r"SSLv3_METHOD")),
    (S, "ssl:443:k.pem:c.pem:foo", InvalidSslMethod, 20, Some(r"foo")),
    (S, "ssl:443:sslmethod=", InvalidSslMethod, 18, Some(r"")),
    (S, "haproxy:ssl:443:sslmethod=TLSv1_9_METHOD", InvalidSslMethod, 26, Some(r"TLSv1_9_METHOD")),
    (C, "ssl:bad_host:443", InvalidHostname, 4, Some(r"bad_host")),
    (C, "tls:bad host:443", InvalidHostname, 4, Some(r"bad host")),
    (C, "ssl:h:443:hostname=a..b", InvalidHostname, 19, Some(r"a..b")),
    (C, "tls:ü_ö:443", InvalidHostname, 4, Some(r"ü_ö")),
    (C, r"tls:h:443:endpoint=ssl\:x_y\:1", InvalidHostname, 24, Some(r"x_y")),
    (S, "unix:@abs:lockfile=1", Conflict, 19, None),
    (C, "unix:@abs:lockfile=1", Conflict, 19, None),
    (C, "unix:@abs:checkPID=yes", Conflict, 19, None),
    (C, "ssl:h:443:privateKey=k.pem", Conflict, 21, Some(r"privateKey")),
    (C, "tls:h:443:privateKey=k.pem", Conflict, 21, Some(r"privateKey")),
    (C, r"tls:h:443:endpoint=ssl\:h\:1\:privateKey\=k", Conflict, 42, Some(r"privateKey")),
    (S, "ssl:443:alpn=", InvalidValue, 13, Some(r"")),
    (S, "tls:/d:alpn=h2,,x", InvalidValue, 12, Some(r"h2,,x")),
    (S, "ssl:443:alpn=h2,", InvalidValue, 13, Some(r"h2,")),
    (C, "process:cat:env=x", InvalidValue, 16, Some(r"x")),
    (C, "process:cat:errFlag=y", InvalidValue, 20, Some(r"y")),
    (C, "ssl:h:443:alpn=,", InvalidValue, 15, Some(r",")),
    // Non-ASCII and escapes before the error, more kinds.
    (C, "tls:bücher.example:443:timeout=0", InvalidNumber, 32, Some("0")),
    (S, "unix:/tmp/ñ.sock:mode=9", InvalidMode, 23, Some("9")),
    (S, "tls:/cërts:443:alpn=", InvalidValue, 21, Some("")),
    (C, "tcp:日本.example:80:bogus=1", UnknownKeyword, 22, Some("bogus")),
    (S, "fd:3:domain=ÏNET", InvalidDomain, 12, Some("ÏNET")),
    (C, "unix:/ü:lockfile=2", InvalidBoolean, 18, Some("2")),
    (S, r"ssl:443:c\:é.pem:k.pem:TLSv1_METHOD", InvalidSslMethod, 24, Some("TLSv1_METHOD")),
    (C, "process:ünïcode:env=bad", InvalidValue, 22, Some("bad")),
    (S, r"systemd:UNIX:name=é\:1:index=0", SystemdSelector, 18, None),
    (C, "unix:@ümlaut:lockfile=1", Conflict, 23, None),
    (C, r"ssl:a\:b:443", InvalidHostname, 4, Some("a:b")),
    (C, "tcp:ö.example:80:bindAddress=", EmptyValue, 30, Some("bindAddress")),
    (S, "haproxy:haproxy:unix", MissingParameter, 16, Some("address")),
    (S, r"haproxy:t\cp:8\0x", InvalidPort, 13, Some("80x")),
    (S, "haproxy:ünix:/a", UnknownType, 8, Some("ünix")),
    (C, r"tls:h:443:endpoint=tcp\:ü\:1\:timeout\=x", InvalidNumber, 40, Some("x")),
];

/// Every variant of [`ParseErrorKind`] (non-exhaustive, so listed by hand: a new
/// variant must be added here and to the table).
const ALL_KINDS: &[ParseErrorKind] = &[
    TrailingBackslash,
    NonAsciiKeyword,
    MissingType,
    UnknownType,
    UnknownKeyword,
    SurplusPositional,
    DuplicateParameter,
    MissingParameter,
    InvalidPort,
    InvalidNumber,
    InvalidMode,
    InvalidBoolean,
    EmptyValue,
    SystemdSelector,
    InvalidDomain,
    InvalidSslMethod,
    InvalidHostname,
    Conflict,
    InvalidValue,
    NestingTooDeep,
];

/// The table plus the rows too long to write out: more than 32 `haproxy:` wrappers.
fn all_rows() -> Vec<OwnedRow> {
    let mut rows: Vec<_> = ROWS
        .iter()
        .map(|&(side, desc, kind, offset, quote)| (side, Cow::Borrowed(desc), kind, offset, quote))
        .collect();
    let deep =
        |prefix: &str, n: usize, inner: &str| format!("{prefix}{}{inner}", "haproxy:".repeat(n));
    // The 33rd wrapper is refused where it starts.
    rows.push((S, deep("", 33, "tcp:80").into(), NestingTooDeep, 256, None));
    rows.push((
        S,
        deep("", 40, "tcp:99999").into(),
        NestingTooDeep,
        256,
        None,
    ));
    rows.push((S, deep("", 33, "").into(), NestingTooDeep, 256, None));
    // An escape in the first wrapper moves the offset by one byte.
    rows.push((
        S,
        deep(r"ha\proxy:", 32, "tcp:80").into(),
        NestingTooDeep,
        257,
        None,
    ));
    rows
}

fn parse(side: Side, desc: &str) -> Result<String, ParseError> {
    match side {
        S => desc.parse::<ServerDescription>().map(|d| d.to_string()),
        // With `process:` allowed: the rows check its parameters (the default
        // registry's refusal is tested in `differences.rs`, row `o_`).
        C => Registry::with_programs()
            .parse_client(desc)
            .map(|d| d.to_string()),
    }
}

/// What is wrong with one row, if anything.
fn check_row(
    side: Side,
    desc: &str,
    kind: ParseErrorKind,
    offset: usize,
    quote: Option<&str>,
) -> Option<String> {
    let err = match parse(side, desc) {
        Ok(printed) => return Some(format!("parsed, as {printed:?}")),
        Err(e) => e,
    };
    let mut problems = Vec::new();
    if err.kind() != kind {
        problems.push(format!("kind {:?}, expected {kind:?}", err.kind()));
    }
    if err.offset() != offset {
        problems.push(format!("offset {}, expected {offset}", err.offset()));
    }
    let message = err.message();
    if !message.contains(&format!("at offset {}", err.offset())) {
        problems.push("message lacks \"at offset N\"".to_owned());
    }
    if let Some(q) = quote {
        if !message.contains(&format!("{q:?}")) {
            problems.push(format!("message does not quote {q:?}"));
        }
    }
    if message.starts_with(|c: char| c.is_uppercase()) || message.ends_with('.') {
        problems.push("message is not a lowercase phrase".to_owned());
    }
    if err.to_string() != message {
        problems.push("Display differs from message()".to_owned());
    }
    if err.offset() > desc.len() || !desc.is_char_boundary(err.offset()) {
        problems.push("offset is not a character boundary of the input".to_owned());
    } else {
        // The caret sits under the offending character, counted in characters.
        let caret = err.caret(desc);
        let column = desc[..err.offset()].chars().count();
        let caret_line = caret.lines().nth(desc.lines().count().max(1)).unwrap_or("");
        if caret_line != format!("{:column$}^", "") {
            problems.push(format!("caret line {caret_line:?}"));
        }
    }
    (!problems.is_empty()).then(|| format!("{}; message: {message:?}", problems.join(", ")))
}

#[test]
fn malformed_descriptions_report_kind_offset_and_quote() {
    let rows = all_rows();
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|(side, desc, kind, offset, quote)| {
            check_row(*side, desc, *kind, *offset, *quote)
                .map(|why| format!("{side:?} {desc:?}: {why}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_kind_side_and_position() {
    let rows = all_rows();
    assert!(rows.len() >= 100, "{} rows", rows.len());
    let descs: HashSet<(Side, &str)> = rows.iter().map(|r| (r.0, r.1.as_ref())).collect();
    assert_eq!(descs.len(), rows.len(), "duplicate rows");
    let kinds: HashSet<ParseErrorKind> = rows.iter().map(|r| r.2).collect();
    for kind in ALL_KINDS {
        assert!(kinds.contains(kind), "no row for {kind:?}");
    }
    // Kinds that both sides can produce have rows on both sides.
    let server_only = [
        NestingTooDeep,
        SystemdSelector,
        InvalidDomain,
        InvalidSslMethod,
        InvalidMode,
    ];
    let client_only = [InvalidHostname];
    for kind in ALL_KINDS {
        for side in [S, C] {
            let expected = match side {
                S => !client_only.contains(kind),
                C => !server_only.contains(kind),
            };
            let present = rows.iter().any(|r| r.0 == side && r.2 == *kind);
            assert_eq!(present, expected, "{kind:?} on {side:?}");
        }
    }
    let before = |r: &OwnedRow| r.1.get(..r.3).unwrap_or("").to_owned();
    let count =
        |f: &dyn Fn(&str, &str) -> bool| rows.iter().filter(|r| f(&r.1, &before(r))).count();
    assert!(
        count(&|_, b| b.contains('\\')) >= 15,
        "escapes before the error"
    );
    assert!(
        count(&|_, b| !b.is_ascii()) >= 15,
        "non-ASCII before the error"
    );
    assert!(
        count(&|d, b| b.contains("endpoint=") && d.starts_with("tls:")) >= 15,
        "nested endpoint="
    );
    assert!(
        count(&|_, b| b.starts_with("haproxy:") || b.starts_with(r"ha\proxy:")) >= 15,
        "haproxy:"
    );
}

#[test]
fn thirty_two_haproxy_wrappers_are_allowed() {
    let desc = format!("{}tcp:80", "haproxy:".repeat(32));
    assert_eq!(parse(S, &desc).unwrap(), desc);
}

// ------------------------------------------------------------------ systemd

/// Hostile `LISTEN_*` values through the public API (the module's unit tests cover
/// more); every one is a typed error, never a panic or a wrong descriptor.
#[test]
fn hostile_systemd_variables() {
    let pid = 4242;
    let invalid = |var: &str, value: &str| SystemdError::Invalid {
        variable: if var == "LISTEN_PID" {
            "LISTEN_PID"
        } else {
            "LISTEN_FDS"
        },
        value: value.to_owned(),
    };
    #[rustfmt::skip]
    let rows: &[(Option<&str>, Option<&str>, SystemdError)] = &[
        // LISTEN_FDS huge, negative, not a number.
        (Some("4242"), Some("18446744073709551616"), invalid("LISTEN_FDS", "18446744073709551616")),
        (Some("4242"), Some("4294967297"), invalid("LISTEN_FDS", "4294967297")),
        (Some("4242"), Some("65537"), invalid("LISTEN_FDS", "65537")),
        (Some("4242"), Some("-1"), invalid("LISTEN_FDS", "-1")),
        (Some("4242"), Some("-0"), invalid("LISTEN_FDS", "-0")),
        (Some("4242"), Some("three"), invalid("LISTEN_FDS", "three")),
        (Some("4242"), Some("0x3"), invalid("LISTEN_FDS", "0x3")),
        (Some("4242"), Some("3 "), invalid("LISTEN_FDS", "3 ")),
        (Some("4242"), Some("+3"), invalid("LISTEN_FDS", "+3")),
        (Some("4242"), Some(""), invalid("LISTEN_FDS", "")),
        (Some("4242"), Some("٣"), invalid("LISTEN_FDS", "٣")),
        // LISTEN_PID not ours, or not a pid.
        (Some("4243"), Some("1"), SystemdError::OtherProcess { listen_pid: "4243".into(), pid }),
        (Some("1"), Some("1"), SystemdError::OtherProcess { listen_pid: "1".into(), pid }),
        (Some("-4242"), Some("1"), invalid("LISTEN_PID", "-4242")),
        (Some("4242x"), Some("1"), invalid("LISTEN_PID", "4242x")),
        (Some("99999999999999999999"), Some("1"), invalid("LISTEN_PID", "99999999999999999999")),
        (Some(""), Some("1"), invalid("LISTEN_PID", "")),
        // Not activated.
        (None, Some("1"), SystemdError::NotActivated),
        (Some("4242"), None, SystemdError::NotActivated),
    ];
    for (listen_pid, listen_fds, expected) in rows {
        let got = ListenFds::from_values(*listen_pid, *listen_fds, Some("a"), pid);
        assert_eq!(
            got.as_ref().err(),
            Some(expected),
            "{listen_pid:?} {listen_fds:?}"
        );
        let message = expected.to_string();
        if let SystemdError::Invalid { value, .. }
        | SystemdError::OtherProcess {
            listen_pid: value, ..
        } = expected
        {
            assert!(message.contains(&format!("{value:?}")), "{message}");
        }
    }
}

#[test]
fn listen_fdnames_count_mismatch_breaks_only_names() {
    let pid = 7;
    for (count, names) in [("2", "a:b:c"), ("3", "a:b"), ("1", "::"), ("2", "a")] {
        let fds = ListenFds::from_values(Some("7"), Some(count), Some(names), pid).unwrap();
        // index= still works.
        assert_eq!(fds.select(&SystemdSelector::Index(0)).unwrap(), 3);
        let err = fds.select(&SystemdSelector::Name("a".into())).unwrap_err();
        assert!(
            matches!(err, SystemdError::NoNames { .. }),
            "{count} {names}: {err}"
        );
        assert!(err.to_string().contains("names for"), "{err}");
    }
    // More names than MAX_LISTEN_FDS descriptors, and an index beyond the count.
    let many = vec!["x"; 70_000].join(":");
    let fds = ListenFds::from_values(Some("7"), Some("1"), Some(&many), pid).unwrap();
    assert!(fds.select(&SystemdSelector::Name("x".into())).is_err());
    assert!(matches!(
        fds.select(&SystemdSelector::Index(u32::MAX)),
        Err(SystemdError::IndexOutOfRange {
            index: u32::MAX,
            count: 1
        })
    ));
}

// ------------------------------------------------------------------ PEM material

/// Malformed certificates and keys through `core::tls`: each is a typed
/// [`TlsMaterialError`] naming the file at fault.
#[cfg(feature = "tls")]
mod pem {
    use std::io;
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};
    use std::time::Instant;

    use proptest::prelude::*;
    use rcgen::{
        BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ECDSA_P384_SHA384,
        PKCS_ED25519,
    };
    use strports_core::tls::rustls::crypto::CryptoProvider;
    use strports_core::tls::{
        self, CertDirectory, PemFile, SniResolver, SslServerFiles, TlsMaterialError,
    };

    struct Material {
        cert: String,
        key: String,
        other_key: String,
        ca_cert: String,
        ca_key: String,
        leaf_cert: String,
        leaf_key: String,
    }

    fn material() -> &'static Material {
        static M: OnceLock<Material> = OnceLock::new();
        M.get_or_init(|| {
            let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca_key = KeyPair::generate().unwrap();
            let ca_cert = ca_params.self_signed(&ca_key).unwrap().pem();
            let ca_key_pem = ca_key.serialize_pem();
            let issuer = Issuer::new(ca_params, ca_key);
            let leaf_key = KeyPair::generate().unwrap();
            let leaf_cert = CertificateParams::new(vec!["a.example".to_owned()])
                .unwrap()
                .signed_by(&leaf_key, &issuer)
                .unwrap()
                .pem();
            Material {
                cert: ck.cert.pem(),
                key: ck.signing_key.serialize_pem(),
                other_key: KeyPair::generate().unwrap().serialize_pem(),
                ca_cert,
                ca_key: ca_key_pem,
                leaf_cert,
                leaf_key: leaf_key.serialize_pem(),
            }
        })
    }

    fn provider() -> Arc<CryptoProvider> {
        static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
        P.get_or_init(tls::default_provider).clone()
    }

    fn file(path: &str, contents: impl Into<Vec<u8>>) -> PemFile {
        PemFile::new(path, contents)
    }

    /// `text` cut in half (mid-base64, no end line).
    fn truncated(text: &str) -> String {
        text[..text.len() / 2].to_owned()
    }

    /// `text` without its second base64 line: still well-formed PEM, but the DER
    /// inside is cut short.
    fn short_der(text: &str) -> String {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(2);
        lines.join("\n") + "\n"
    }

    fn section(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn certified(
        cert: &PemFile,
        key: Option<&PemFile>,
        chain: Option<&PemFile>,
    ) -> Result<(), TlsMaterialError> {
        tls::certified_key(cert, key, chain, &provider()).map(drop)
    }

    fn ssl_server(
        cert_key: &PemFile,
        private_key: Option<&PemFile>,
        extra_cert_chain: Option<&PemFile>,
    ) -> Result<(), TlsMaterialError> {
        let files = SslServerFiles {
            cert_key,
            private_key,
            extra_cert_chain,
        };
        tls::ssl_server_config(files, None, Vec::new(), provider()).map(drop)
    }

    #[derive(Debug)]
    struct Dir(Vec<PemFile>);

    impl CertDirectory for Dir {
        fn scan(&self) -> io::Result<Vec<PemFile>> {
            Ok(self.0.clone())
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
    }

    fn sni(files: Vec<PemFile>) -> Result<(), TlsMaterialError> {
        match SniResolver::new(Box::new(Dir(files)), provider()) {
            Ok(_) => Ok(()),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
                Err(e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<TlsMaterialError>())
                    .unwrap_or_else(|| panic!("not a TlsMaterialError: {e}"))
                    .clone())
            }
        }
    }

    /// The variant's name and the files (or directory) it names.
    fn describe(err: &TlsMaterialError) -> (&'static str, Vec<PathBuf>) {
        use TlsMaterialError as E;
        match err {
            E::InvalidPem { file, .. } => ("InvalidPem", vec![file.clone()]),
            E::NoCertificate { file } => ("NoCertificate", vec![file.clone()]),
            E::NoPrivateKey { file } => ("NoPrivateKey", vec![file.clone()]),
            E::EncryptedKey { file } => ("EncryptedKey", vec![file.clone()]),
            E::KeyMismatch {
                key_file,
                cert_file,
            } => ("KeyMismatch", vec![key_file.clone(), cert_file.clone()]),
            E::UnsupportedKey { file, .. } => ("UnsupportedKey", vec![file.clone()]),
            E::InvalidCertificate { file, .. } => ("InvalidCertificate", vec![file.clone()]),
            E::NoChainCertificates { file } => ("NoChainCertificates", vec![file.clone()]),
            E::NoRootCertificates { file } => ("NoRootCertificates", vec![file.clone()]),
            E::EmptyTrustRoots { dir } => ("EmptyTrustRoots", vec![dir.clone()]),
            other => panic!("not a key-material error: {other:?}"),
        }
    }

    /// (what, the builder's result, the expected variant, the files it must name).
    type PemCase = (
        &'static str,
        Result<(), TlsMaterialError>,
        &'static str,
        &'static [&'static str],
    );

    #[test]
    fn malformed_pem_files_are_typed_errors_naming_the_file() {
        let m = material();
        let good_cert = || file("cert.pem", m.cert.clone());
        let good_key = || file("key.pem", m.key.clone());
        let bad_b64_cert = section("CERTIFICATE", "MIIB!!!not*base64???");
        let bad_b64_key = section("PRIVATE KEY", "@@@@");
        let junk_der_cert = section(
            "CERTIFICATE",
            &base64(b"\x30\x03\x02\x01\x01 not a certificate"),
        );
        let junk_der_key = section("PRIVATE KEY", &base64(b"\x30\x03\x02\x01\x00 not a key"));
        let encrypted = section("ENCRYPTED PRIVATE KEY", &base64(b"\x30\x00"));
        let mismatched_end = m.cert.replace("END CERTIFICATE", "END PRIVATE KEY");
        #[rustfmt::skip]
        let cases: Vec<PemCase> = vec![
            // Empty files.
            ("empty certKey", certified(&file("cert.pem", ""), None, None), "NoCertificate", &["cert.pem"]),
            ("empty privateKey", certified(&good_cert(), Some(&file("key.pem", "")), None), "NoPrivateKey", &["key.pem"]),
            ("empty extraCertChain", certified(&file("s.pem", format!("{}{}", m.cert, m.key)), None, Some(&file("chain.pem", ""))), "NoChainCertificates", &["chain.pem"]),
            ("empty ssl: server file", ssl_server(&file("server.pem", ""), None, None), "NoCertificate", &["server.pem"]),
            // Truncated.
            ("truncated certificate", certified(&file("cert.pem", truncated(&m.cert)), Some(&good_key()), None), "InvalidPem", &["cert.pem"]),
            ("truncated key", certified(&good_cert(), Some(&file("key.pem", truncated(&m.key))), None), "InvalidPem", &["key.pem"]),
            ("truncated chain", certified(&file("s.pem", format!("{}{}", m.cert, m.key)), None, Some(&file("chain.pem", truncated(&m.ca_cert)))), "InvalidPem", &["chain.pem"]),
            ("certificate DER cut short", certified(&file("cert.pem", short_der(&m.cert)), Some(&good_key()), None), "InvalidCertificate", &["cert.pem"]),
            ("key DER cut short", certified(&good_cert(), Some(&file("key.pem", short_der(&m.key))), None), "UnsupportedKey", &["key.pem"]),
            ("end line of another type", certified(&file("cert.pem", mismatched_end), Some(&good_key()), None), "InvalidPem", &["cert.pem"]),
            // Wrong type.
            ("key where the certificate belongs", certified(&file("cert.pem", m.key.clone()), Some(&good_key()), None), "NoCertificate", &["cert.pem"]),
            ("certificate where the key belongs", certified(&good_cert(), Some(&file("key.pem", m.cert.clone())), None), "NoPrivateKey", &["key.pem"]),
            ("key where the chain belongs", certified(&file("s.pem", format!("{}{}", m.cert, m.key)), None, Some(&file("chain.pem", m.key.clone()))), "NoChainCertificates", &["chain.pem"]),
            ("another certificate's key", certified(&good_cert(), Some(&file("key.pem", m.other_key.clone())), None), "KeyMismatch", &["key.pem", "cert.pem"]),
            ("the CA's key for the leaf", certified(&file("leaf.pem", m.leaf_cert.clone()), Some(&file("ca-key.pem", m.ca_key.clone())), None), "KeyMismatch", &["ca-key.pem", "leaf.pem"]),
            // Key without certificate, certificate without key.
            ("key without certificate (privateKey only)", ssl_server(&file("server.pem", m.key.clone()), None, None), "NoCertificate", &["server.pem"]),
            ("key without certificate (both files keys)", ssl_server(&file("cert.pem", m.key.clone()), Some(&file("key.pem", m.other_key.clone())), None), "NoCertificate", &["cert.pem"]),
            ("certificate without key", ssl_server(&good_cert(), None, None), "NoPrivateKey", &["cert.pem"]),
            ("encrypted key", certified(&good_cert(), Some(&file("key.pem", encrypted)), None), "EncryptedKey", &["key.pem"]),
            // Garbage.
            ("garbage base64 certificate", certified(&file("cert.pem", bad_b64_cert.clone()), Some(&good_key()), None), "InvalidPem", &["cert.pem"]),
            ("garbage base64 key", certified(&good_cert(), Some(&file("key.pem", bad_b64_key)), None), "InvalidPem", &["key.pem"]),
            ("garbage base64 chain", certified(&file("s.pem", format!("{}{}", m.cert, m.key)), None, Some(&file("chain.pem", bad_b64_cert.clone()))), "InvalidPem", &["chain.pem"]),
            ("not a certificate inside", certified(&file("cert.pem", junk_der_cert.clone()), Some(&good_key()), None), "InvalidCertificate", &["cert.pem"]),
            ("not a key inside", certified(&good_cert(), Some(&file("key.pem", junk_der_key.clone())), None), "UnsupportedKey", &["key.pem"]),
            ("binary junk", certified(&file("cert.pem", vec![0xff, 0xfe, 0x00, 0x80, b'-', b'-']), None, None), "NoCertificate", &["cert.pem"]),
            // Trust roots (caCertsDir / trustRoots).
            ("CA file with no certificates", tls::trust_roots("ca".as_ref(), &[file("ca/a.pem", m.ca_cert.clone()), file("ca/keys.pem", m.key.clone())]).map(drop), "NoRootCertificates", &["ca/keys.pem"]),
            ("empty CA file", tls::trust_roots("ca".as_ref(), &[file("ca/empty.pem", "")]).map(drop), "NoRootCertificates", &["ca/empty.pem"]),
            ("truncated CA file", tls::trust_roots("ca".as_ref(), &[file("ca/t.pem", truncated(&m.ca_cert))]).map(drop), "InvalidPem", &["ca/t.pem"]),
            ("garbage base64 CA file", tls::trust_roots("ca".as_ref(), &[file("ca/b.pem", bad_b64_cert)]).map(drop), "InvalidPem", &["ca/b.pem"]),
            ("CA file that is not a certificate inside", tls::trust_roots("ca".as_ref(), &[file("ca/x.pem", junk_der_cert.clone())]).map(drop), "InvalidCertificate", &["ca/x.pem"]),
            ("CA directory without files", tls::trust_roots("ca".as_ref(), &[]).map(drop), "EmptyTrustRoots", &["ca"]),
            // tls: server directory (SNI).
            ("truncated file in a tls: directory", sni(vec![file("certs/a.pem", format!("{}{}", m.cert, m.key)), file("certs/b.pem", truncated(&m.leaf_cert))]), "InvalidPem", &["certs/b.pem"]),
            ("bad certificate in a tls: directory", sni(vec![file("certs/x.pem", junk_der_cert)]), "InvalidCertificate", &["certs/x.pem"]),
            ("bad key in a tls: directory", sni(vec![file("certs/k.pem", junk_der_key)]), "UnsupportedKey", &["certs/k.pem"]),
        ];
        let mut failures = Vec::new();
        for (label, result, variant, files) in &cases {
            let Err(err) = result else {
                failures.push(format!("{label}: accepted"));
                continue;
            };
            let (got, named) = describe(err);
            let expected: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
            if got != *variant || named != expected {
                failures.push(format!(
                    "{label}: {got} {named:?}, expected {variant} {expected:?} ({err})"
                ));
            }
            let message = err.to_string();
            for f in *files {
                if !message.contains(&format!("\"{f}\"")) {
                    failures.push(format!("{label}: {message:?} does not name {f:?}"));
                }
            }
            if io::Error::from(err.clone()).kind() != io::ErrorKind::InvalidData {
                failures.push(format!("{label}: io::Error kind"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        // The good material itself loads (so the cases above fail for their reason).
        certified(&good_cert(), Some(&good_key()), None).unwrap();
        certified(
            &file("leaf.pem", m.leaf_cert.clone()),
            Some(&file("k.pem", m.leaf_key.clone())),
            Some(&file("chain.pem", m.ca_cert.clone())),
        )
        .unwrap();
        tls::trust_roots("ca".as_ref(), &[file("ca/a.pem", m.ca_cert.clone())]).unwrap();
    }

    // ------------------------------------------------------------ proptest

    /// Files that are mostly bytes, PEM sections with random bodies, or the good
    /// material damaged.
    fn pem_bytes() -> impl Strategy<Value = Vec<u8>> {
        let labels = prop::sample::select(vec![
            "CERTIFICATE",
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "X509 CRL",
            "PUBLIC KEY",
            "CERTIFICATE REQUEST",
        ]);
        let good = prop::sample::select(vec![0usize, 1, 2, 3, 4, 5]);
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            (labels, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(l, body)| section(
                l,
                &base64(&body)
            )
            .into_bytes()),
            (
                good,
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                any::<prop::sample::Index>(),
                any::<bool>()
            )
                .prop_map(|(which, edits, cut, do_cut)| {
                    let m = material();
                    let text = [
                        &m.cert,
                        &m.key,
                        &m.other_key,
                        &m.ca_cert,
                        &m.leaf_cert,
                        &m.leaf_key,
                    ][which];
                    let mut bytes = text.clone().into_bytes();
                    for (at, b) in edits {
                        let i = at.index(bytes.len());
                        bytes[i] = b;
                    }
                    if do_cut {
                        bytes.truncate(cut.index(bytes.len() + 1));
                    }
                    bytes
                }),
        ]
    }

    fn check_named(err: &TlsMaterialError, files: &[PemFile], dir: &str) {
        let (_, named) = describe(err);
        let message = err.to_string();
        for p in named {
            assert!(
                files.iter().any(|f| f.path == p) || p.as_path() == std::path::Path::new(dir),
                "{err:?} names {p:?}, which it was not given"
            );
            assert!(
                message.contains(&format!("\"{}\"", p.display())),
                "{message}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Arbitrary bytes as certKey / privateKey / extraCertChain, trust-root and
        /// tls: directory files: the builders never panic, and every error names a
        /// file they were given.
        #[test]
        fn arbitrary_pem_material_never_panics(
            parts in prop::collection::vec(pem_bytes(), 1..4),
            with_key in any::<bool>(),
            with_chain in any::<bool>(),
        ) {
            let files: Vec<PemFile> = parts
                .iter()
                .enumerate()
                .map(|(i, p)| file(&format!("dir/f{i}.pem"), p.clone()))
                .collect();
            let m = material();
            // Pair each damaged file with good material in the other positions too.
            let good = file("good.pem", format!("{}{}", m.cert, m.key));
            let mut all = files.clone();
            all.push(good.clone());
            let key = if with_key { files.get(1) } else { None };
            let chain = if with_chain { files.get(2) } else { None };
            for result in [
                certified(&files[0], key, chain),
                certified(&good, Some(&files[0]), None),
                certified(&good, None, Some(&files[0])),
                ssl_server(&files[0], key, chain),
                tls::trust_roots("dir".as_ref(), &files).map(drop),
                sni(files.clone()),
            ] {
                if let Err(e) = result {
                    check_named(&e, &all, "dir");
                }
            }
        }
    }

    // ------------------------------------------------------------ fuzz seeds

    /// Writes the seed corpus of the `pem_material` fuzz target (core/fuzz) into the
    /// directory named by `STRPORTS_WRITE_PEM_SEEDS` (relative to `core/`, where tests
    /// run):
    ///
    /// ```text
    /// STRPORTS_WRITE_PEM_SEEDS=fuzz/corpus/pem_material \
    ///     cargo test -p strports-core --features tls --test bad_input -- --ignored write_pem_fuzz_seeds
    /// ```
    ///
    /// Format: a flags byte (1: privateKey, 2: extraCertChain, 4: ssl_server_config,
    /// 8: empty trust-root directory, 16: tls: directory), then the files separated by
    /// `\n--8<--\n`.
    #[test]
    #[ignore = "writes the fuzz seed corpus; run by hand"]
    fn write_pem_fuzz_seeds() {
        let Ok(dir) = std::env::var("STRPORTS_WRITE_PEM_SEEDS") else {
            return;
        };
        let m = material();
        let other_alg = |alg| {
            let key = KeyPair::generate_for(alg).unwrap();
            let cert = CertificateParams::new(vec!["*.b.example".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (p384_cert, p384_key) = other_alg(&PKCS_ECDSA_P384_SHA384);
        let (ed_cert, ed_key) = other_alg(&PKCS_ED25519);
        let both = format!("{}{}", m.cert, m.key);
        #[rustfmt::skip]
        let seeds: Vec<(&str, u8, Vec<String>)> = vec![
            ("combined", 0x1f, vec![both.clone()]),
            ("cert-key", 0x15, vec![m.cert.clone(), m.key.clone()]),
            ("leaf-key-chain", 0x17, vec![m.leaf_cert.clone(), m.leaf_key.clone(), m.ca_cert.clone()]),
            ("sni-dir", 0x14, vec![m.ca_cert.clone(), format!("{}{}", m.leaf_cert, m.leaf_key), both.clone()]),
            ("trust-roots", 0x00, vec![m.ca_cert.clone(), m.cert.clone()]),
            ("empty-roots", 0x08, vec![both.clone()]),
            ("mismatch", 0x15, vec![m.cert.clone(), m.other_key.clone()]),
            ("encrypted", 0x05, vec![m.cert.clone(), section("ENCRYPTED PRIVATE KEY", &base64(b"\x30\x00"))]),
            ("pkcs1-header", 0x05, vec![m.cert.clone(), m.key.replace("PRIVATE KEY", "RSA PRIVATE KEY")]),
            ("sec1-header", 0x05, vec![m.cert.clone(), m.key.replace("PRIVATE KEY", "EC PRIVATE KEY")]),
            ("truncated", 0x1f, vec![truncated(&both)]),
            ("short-der", 0x15, vec![short_der(&m.cert), m.key.clone()]),
            ("bad-base64", 0x15, vec![section("CERTIFICATE", "MIIB!!!"), section("PRIVATE KEY", "@@@")]),
            ("other-sections", 0x1f, vec![format!("{}{}{}", section("X509 CRL", "MAA="), section("PUBLIC KEY", "MAA="), both)]),
            ("p384", 0x15, vec![p384_cert.clone(), p384_key.clone()]),
            ("ed25519", 0x15, vec![ed_cert.clone(), ed_key.clone()]),
            ("wildcard-sni", 0x10, vec![format!("{p384_cert}{p384_key}"), format!("{ed_cert}{ed_key}")]),
            ("crlf", 0x15, vec![m.cert.replace('\n', "\r\n"), m.key.replace('\n', "\r\n")]),
            ("text-around", 0x1f, vec![format!("subject=CN=x\nissuer=CN=x\n{}\nBag Attributes\n{}", m.cert, m.key)]),
            ("empty", 0x17, vec![String::new(), String::new(), String::new()]),
        ];
        std::fs::create_dir_all(&dir).unwrap();
        for (name, flags, files) in seeds {
            let mut bytes = vec![flags];
            bytes.extend_from_slice(files.join("\n--8<--\n").as_bytes());
            std::fs::write(
                std::path::Path::new(&dir).join(format!("seed-{name}")),
                bytes,
            )
            .unwrap();
        }
    }
}
