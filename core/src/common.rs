//! Values shared by several description types, and the canonical printer.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::args::Bound;
use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{RawDescription, quote_into};

/// Names of the built-in server types, in the order they are documented.
pub const SERVER_TYPES: &[&str] = &[
    "tcp", "tcp6", "unix", "ssl", "tls", "systemd", "stdio", "fd", "haproxy",
];

/// Names of the built-in network client types: what a plain parse
/// (`"...".parse::<ClientDescription>()`) knows.
pub const CLIENT_TYPES: &[&str] = &["tcp", "ssl", "unix", "tls"];

/// Names of the client types that run a program (`process`): only a registry that
/// allows them ([`Registry::with_programs`](crate::Registry::with_programs)) parses
/// them.
pub const PROGRAM_CLIENT_TYPES: &[&str] = &["process"];

/// A UNIX socket address: a filesystem path or a Linux abstract name.
///
/// In a description, an address starting with `@` (or, as in Twisted, with a NUL
/// character) is an abstract name; write `./@name` for a file whose name starts with `@`.
///
/// ```
/// use strports_core::{ServerDescription, UnixAddress};
/// let ServerDescription::Unix(server) = "unix:@app".parse().unwrap() else { panic!() };
/// assert_eq!(server.address, UnixAddress::Abstract("app".into()));
/// assert!(!server.lockfile); // abstract names have no lock file
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddress {
    /// A socket file. A relative path is relative to the working directory at listen
    /// or connect time.
    Path(PathBuf),
    /// A Linux abstract socket name (without the leading NUL).
    Abstract(String),
}

impl UnixAddress {
    pub(crate) fn from_text(s: &str) -> UnixAddress {
        if let Some(name) = s.strip_prefix('@').or_else(|| s.strip_prefix('\0')) {
            UnixAddress::Abstract(name.to_owned())
        } else {
            UnixAddress::Path(PathBuf::from(s))
        }
    }

    /// The path, for a filesystem address.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            UnixAddress::Path(p) => Some(p),
            UnixAddress::Abstract(_) => None,
        }
    }

    /// The address as written in a description (`@name` for abstract names).
    pub fn to_description_text(&self) -> String {
        match self {
            UnixAddress::Abstract(name) => format!("@{name}"),
            UnixAddress::Path(p) => {
                let s = p.to_string_lossy();
                if s.starts_with('@') || s.starts_with('\0') {
                    format!("./{s}")
                } else {
                    s.into_owned()
                }
            }
        }
    }
}

/// Prints [`to_description_text`](UnixAddress::to_description_text) with control
/// characters escaped (see [`escape_control`]): a peer's path (from a PROXY header,
/// say) cannot start a new log line.
impl fmt::Display for UnixAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.to_description_text())
    }
}

/// Whether `c` is escaped by [`escape_control`].
fn needs_escape(c: char) -> bool {
    c.is_control()
        // Line and paragraph separators: some log viewers break lines there.
        || matches!(c, '\u{2028}' | '\u{2029}')
        // Bidirectional overrides and isolates: they reorder what a terminal shows.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes `text` with control characters escaped as Rust escapes them (`\n`, `\r`,
/// `\t`, `\0`), other ASCII control characters as `\x1b` and the rest (C1 controls,
/// line separators, bidirectional overrides) as `\u{85}`; everything else, including
/// backslashes and non-ASCII text, is written as it is.
fn write_escaped(out: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(needs_escape) {
        out.write_str(&rest[..at])?;
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\0' => out.write_str("\\0")?,
            c if c.is_ascii() => write!(out, "\\x{:02x}", u32::from(c))?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `text` for a log line or a terminal: control characters escaped (`\n`, ESC as
/// `\x1b`, C1 controls, line separators and bidirectional overrides as `\u{...}`),
/// everything else as it is, so that ordinary paths and names stay readable. Used by
/// the `Display` of [`Address`](crate::Address), [`UnixAddress`] and the
/// descriptions; use it for other text that comes from a peer.
///
/// ```
/// let shown = strports_core::escape_control("/tmp/a\n2026-01-01 INFO forged\x1b[2J");
/// assert_eq!(shown.to_string(), r"/tmp/a\n2026-01-01 INFO forged\x1b[2J");
/// assert_eq!(strports_core::escape_control("/run/café.sock").to_string(), "/run/café.sock");
/// ```
pub fn escape_control(text: &str) -> impl fmt::Display + '_ {
    struct Escaped<'a>(&'a str);
    impl fmt::Display for Escaped<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_escaped(f, self.0)
        }
    }
    Escaped(text)
}

/// How a description is printed: exactly (its canonical text) or for a log line
/// (`Display`: control characters escaped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Exact,
    Escaped,
}

/// Writes `value`'s `Display` through `f`, escaping control characters in
/// [`Mode::Escaped`].
pub(crate) fn write_display(
    f: &mut fmt::Formatter<'_>,
    mode: Mode,
    value: &dyn fmt::Display,
) -> fmt::Result {
    match mode {
        Mode::Exact => value.fmt(f),
        Mode::Escaped => {
            /// A writer that escapes what passes through it.
            struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
            impl fmt::Write for Escaping<'_, '_> {
                fn write_str(&mut self, s: &str) -> fmt::Result {
                    write_escaped(self.0, s)
                }
            }
            fmt::write(&mut Escaping(f), format_args!("{value}"))
        }
    }
}

/// An address family, as named by `systemd:domain=` and `fd:domain=` (Twisted's
/// `AF_*` names without the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Domain {
    /// `INET`: IPv4.
    Inet,
    /// `INET6`: IPv6.
    Inet6,
    /// `UNIX`: UNIX domain sockets.
    Unix,
}

impl Domain {
    /// The name as written in descriptions: `INET`, `INET6` or `UNIX`.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Inet => "INET",
            Domain::Inet6 => "INET6",
            Domain::Unix => "UNIX",
        }
    }

    pub(crate) fn from_bound(b: &Bound<'_, '_>, name: &str) -> Result<Option<Domain>, ParseError> {
        let Some(t) = b.text(name) else {
            return Ok(None);
        };
        let s = t.as_str();
        let domain = if s.eq_ignore_ascii_case("INET") {
            Domain::Inet
        } else if s.eq_ignore_ascii_case("INET6") {
            Domain::Inet6
        } else if s.eq_ignore_ascii_case("UNIX") {
            Domain::Unix
        } else {
            return Err(ParseError::quoting(
                ParseErrorKind::InvalidDomain,
                t.offset(),
                "invalid domain",
                s,
                "must be INET, INET6 or UNIX",
            ));
        };
        Ok(Some(domain))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `sslmethod` of an `ssl:` server, from an explicit allow-list of pyOpenSSL names.
///
/// Only methods that give TLS 1.2 or newer are accepted; SSLv3, TLS 1.0, TLS 1.1 and
/// DTLS names are parse errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslMethod {
    /// `SSLv23_METHOD`: TLS 1.2 and 1.3.
    SslV23,
    /// `TLS_METHOD`: TLS 1.2 and 1.3.
    Tls,
    /// `TLS_SERVER_METHOD`: TLS 1.2 and 1.3.
    TlsServer,
    /// `TLSv1_2_METHOD`: TLS 1.2 only.
    TlsV1_2,
}

impl SslMethod {
    const ALL: [SslMethod; 4] = [
        SslMethod::SslV23,
        SslMethod::Tls,
        SslMethod::TlsServer,
        SslMethod::TlsV1_2,
    ];

    /// The pyOpenSSL name, e.g. `TLS_METHOD`.
    pub fn name(self) -> &'static str {
        match self {
            SslMethod::SslV23 => "SSLv23_METHOD",
            SslMethod::Tls => "TLS_METHOD",
            SslMethod::TlsServer => "TLS_SERVER_METHOD",
            SslMethod::TlsV1_2 => "TLSv1_2_METHOD",
        }
    }

    /// Whether TLS 1.3 is allowed (it is for every method but `TLSv1_2_METHOD`).
    pub fn allows_tls13(self) -> bool {
        self != SslMethod::TlsV1_2
    }

    pub(crate) fn from_bound(b: &Bound<'_, '_>) -> Result<Option<SslMethod>, ParseError> {
        let Some(t) = b.text("sslmethod") else {
            return Ok(None);
        };
        let s = t.as_str();
        if let Some(m) = SslMethod::ALL.into_iter().find(|m| m.name() == s) {
            return Ok(Some(m));
        }
        let why = match s {
            "SSLv2_METHOD" | "SSLv3_METHOD" | "TLSv1_METHOD" | "TLSv1_1_METHOD" => {
                "protocol versions before tls 1.2 are not supported; use TLS_METHOD or TLSv1_2_METHOD"
            }
            "DTLS_METHOD" | "DTLS_SERVER_METHOD" | "DTLS_CLIENT_METHOD" => {
                "dtls is not a stream protocol; use TLS_METHOD or TLSv1_2_METHOD"
            }
            "TLS_CLIENT_METHOD" => "a server cannot use a client method; use TLS_METHOD",
            _ => "must be TLS_METHOD, SSLv23_METHOD, TLS_SERVER_METHOD or TLSv1_2_METHOD",
        };
        Err(ParseError::quoting(
            ParseErrorKind::InvalidSslMethod,
            t.offset(),
            "invalid sslmethod",
            s,
            why,
        ))
    }
}

impl fmt::Display for SslMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks that `host` is an IP literal or a valid (IDNA) DNS name, as TLS needs.
pub(crate) fn check_hostname(b: &Bound<'_, '_>, name: &str) -> Result<(), ParseError> {
    let Some(t) = b.text(name) else {
        return Ok(());
    };
    if is_dns_name(t.as_str()) {
        Ok(())
    } else {
        Err(ParseError::quoting(
            ParseErrorKind::InvalidHostname,
            t.offset(),
            &format!("invalid {name}"),
            t.as_str(),
            "must be an ip address or a valid dns name",
        ))
    }
}

/// The ASCII (IDNA) form of a host name for TLS verification and SNI, or the literal
/// itself for an IP address; `None` if `host` is neither. An absolute name's trailing
/// dot (`example.com.`, which DNS and Twisted accept) is dropped: certificates and SNI
/// name hosts without it.
///
/// ```
/// assert_eq!(strports_core::dns_name("Bücher.example").as_deref(), Some("xn--bcher-kva.example"));
/// assert_eq!(strports_core::dns_name("example.com.").as_deref(), Some("example.com"));
/// assert_eq!(strports_core::dns_name("example.com.."), None);
/// assert_eq!(strports_core::dns_name("::1").as_deref(), Some("::1"));
/// assert_eq!(strports_core::dns_name("bad_name.example"), None);
/// ```
pub fn dns_name(host: &str) -> Option<String> {
    if is_plain_dns_name(host) {
        return Some(host.to_owned());
    }
    dns_name_slow(host)
}

/// Whether [`dns_name`] is `Some`, without building the name.
pub(crate) fn is_dns_name(host: &str) -> bool {
    is_plain_dns_name(host) || dns_name_slow(host).is_some()
}

/// A fast path for the common case: lowercase ASCII letters, digits, `.` and single
/// `-` inside labels, no `xn--` labels and no trailing dot. Such names are their own
/// IDNA form and valid, so `true` means [`dns_name_slow`] gives `Some(host)`; `false`
/// means "ask it".
fn is_plain_dns_name(host: &str) -> bool {
    let bytes = host.as_bytes();
    if bytes.is_empty() || bytes.len() > 253 {
        return false;
    }
    let mut label_len = 0;
    let mut prev = b'.';
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => label_len += 1,
            // No leading, doubled (`xn--`, `ab--`) or trailing hyphens.
            b'-' if prev != b'.' && prev != b'-' => label_len += 1,
            b'.' if prev != b'.' && prev != b'-' => label_len = 0,
            _ => return false,
        }
        if label_len > 63 {
            return false;
        }
        prev = b;
    }
    prev != b'.' && prev != b'-'
}

fn dns_name_slow(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Some(host.to_owned());
    }
    // An absolute name: the same host without its root label's dot.
    let relative = host.strip_suffix('.').unwrap_or(host);
    let ascii = idna::domain_to_ascii_strict(relative).ok()?;
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    valid.then_some(ascii)
}

pub(crate) fn missing_type(raw: &RawDescription<'_>, side: &str) -> ParseError {
    let _ = raw;
    ParseError::new(
        ParseErrorKind::MissingType,
        0,
        format!(
            "missing endpoint type at offset 0: a {side} description starts with its type, e.g. tcp:8080"
        ),
    )
}

/// The longest ALPN protocol name TLS allows, in bytes.
const MAX_ALPN_NAME: usize = 255;

/// The `alpn=` keyword of the TLS types (a strports extension): comma-separated
/// protocol names in preference order, each 1-255 bytes.
pub(crate) fn alpn(b: &Bound<'_, '_>) -> Result<Vec<String>, ParseError> {
    let Some(t) = b.text("alpn") else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for name in t.as_str().split(',') {
        let why = if name.is_empty() {
            "protocol names must not be empty, e.g. alpn=h2,http/1.1"
        } else if name.len() > MAX_ALPN_NAME {
            "a protocol name is at most 255 bytes"
        } else {
            names.push(name.to_owned());
            continue;
        };
        return Err(ParseError::quoting(
            ParseErrorKind::InvalidValue,
            t.offset(),
            "invalid alpn",
            t.as_str(),
            why,
        ));
    }
    Ok(names)
}

/// Builds canonical description strings, written exactly or escaped (see [`Mode`]).
pub(crate) struct Printer<'f, 'g> {
    f: &'f mut fmt::Formatter<'g>,
    mode: Mode,
    buf: String,
}

impl<'f, 'g> Printer<'f, 'g> {
    pub(crate) fn new(f: &'f mut fmt::Formatter<'g>, mode: Mode, type_name: &str) -> Self {
        let mut buf = String::with_capacity(48);
        buf.push_str(type_name);
        Printer { f, mode, buf }
    }

    pub(crate) fn pos(&mut self, value: &str) -> &mut Self {
        self.buf.push(':');
        quote_into(&mut self.buf, value);
        self
    }

    pub(crate) fn kw(&mut self, name: &str, value: &str) -> &mut Self {
        self.buf.push(':');
        self.buf.push_str(name);
        self.buf.push('=');
        quote_into(&mut self.buf, value);
        self
    }

    pub(crate) fn kw_if(&mut self, cond: bool, name: &str, value: impl fmt::Display) -> &mut Self {
        if cond {
            self.kw(name, &value.to_string());
        }
        self
    }

    pub(crate) fn kw_opt(&mut self, name: &str, value: Option<impl fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.kw(name, &v.to_string());
        }
        self
    }

    pub(crate) fn finish(&mut self) -> fmt::Result {
        match self.mode {
            Mode::Exact => self.f.write_str(&self.buf),
            Mode::Escaped => write_escaped(self.f, &self.buf),
        }
    }
}

pub(crate) fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub(crate) fn display_path(p: &Option<PathBuf>) -> Option<String> {
    p.as_deref().map(path_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path never accepts what the IDNA path would reject or change.
    #[test]
    fn plain_dns_names_agree_with_idna() {
        let alphabet = [b'a', b'z', b'0', b'9', b'-', b'.', b'x', b'n', b'A', b'_'];
        let mut accepted = 0;
        let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
        while let Some(s) = stack.pop() {
            let host = std::str::from_utf8(&s).expect("ascii");
            if is_plain_dns_name(host) {
                accepted += 1;
                assert_eq!(dns_name_slow(host).as_deref(), Some(host), "{host:?}");
            }
            if s.len() < 5 {
                for &b in &alphabet {
                    let mut t = s.clone();
                    t.push(b);
                    stack.push(t);
                }
            }
        }
        assert!(accepted > 1000);
        let label63 = "a".repeat(63);
        let label64 = "a".repeat(64);
        let long = [label63.as_str(); 4].join(".")[..253].to_owned();
        let too_long = format!("{long}a");
        for host in [
            label63.as_str(),
            label64.as_str(),
            &long,
            &too_long,
            "xn--bcher-kva.example",
            "a--b.example",
            "example.com.",
            "1.2.3",
            "1.2.3.4",
            "999.1.1.1",
        ] {
            if is_plain_dns_name(host) {
                assert_eq!(dns_name_slow(host).as_deref(), Some(host), "{host:?}");
            }
            assert_eq!(dns_name(host), dns_name_slow(host), "{host:?}");
        }
    }
}
