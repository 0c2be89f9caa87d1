//! Server descriptions: what `serverFromString` accepts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::args::{Arguments, Bound, Param, Positionals};
use crate::common::{
    Domain, Mode, Printer, SERVER_TYPES, SslMethod, UnixAddress, alpn, display_path, missing_type,
    path_text, write_display,
};
use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{RawDescription, parse_raw, raw_offset};
use crate::hint::{self, Side};
use crate::registry::{Extension, Registry, unknown_type};

/// The default `backlog` of every listening type: 50, as in Twisted.
pub const DEFAULT_BACKLOG: u32 = 50;
/// The largest `backlog` accepted (the kernel takes a C `int`).
pub const MAX_BACKLOG: u64 = i32::MAX as u64;
/// The default `mode` of a `unix:` server socket: `0o666`.
pub const DEFAULT_UNIX_MODE: u32 = 0o666;
/// The most `haproxy:` wrappers one server description may have. Each level is a
/// recursive parse, print, compare and drop, so unbounded nesting would let a long
/// description (`haproxy:` repeated) overflow the stack.
const MAX_NESTING: usize = 32;

/// A parsed server description: where and how to listen.
///
/// Parse with [`str::parse`] (built-in types) or [`Registry::parse_server`] (with
/// extension types); print with [`Display`](fmt::Display), which gives the canonical
/// form that parses back to an equal value.
///
/// ```
/// use strports_core::ServerDescription;
/// let desc: ServerDescription = "tcp:8080:interface=127.0.0.1".parse().unwrap();
/// let ServerDescription::Tcp(tcp) = &desc else { panic!() };
/// assert_eq!((tcp.port, tcp.interface.as_str(), tcp.backlog), (8080, "127.0.0.1", 50));
/// assert_eq!(desc.to_string(), "tcp:8080:interface=127.0.0.1");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerDescription {
    /// `tcp:port[:interface[:backlog]]`: TCP over IPv4 (Twisted's `TCP4ServerEndpoint`).
    ///
    /// `interface` defaults to `""` (all IPv4 addresses). Example: `tcp:8080:interface=127.0.0.1`.
    Tcp(TcpServer),
    /// `tcp6:port[:backlog[:interface]]`: TCP over IPv6 (`TCP6ServerEndpoint`). Note the
    /// positional order differs from `tcp`. `interface` defaults to `::`.
    /// Example: `tcp6:8080:interface=\:\:1`.
    Tcp6(TcpServer),
    /// `unix:address[:mode[:backlog[:lockfile]]]`: a UNIX socket (`UNIXServerEndpoint`).
    /// Example: `unix:/run/app.sock:mode=660`.
    Unix(UnixServer),
    /// `ssl:port[:privateKey[:certKey[:sslmethod[:interface[:backlog[:extraCertChain[:dhParameters]]]]]]]`:
    /// TLS over IPv4 TCP (`SSL4ServerEndpoint`). Example: `ssl:443:privateKey=key.pem:certKey=cert.pem`.
    Ssl(SslServer),
    /// `tls:path[:port[:backlog[:interface]]]`: TLS over IPv6 TCP with certificates
    /// chosen by SNI from a directory of PEM files. Example: `tls:/etc/certs:8443`.
    Tls(TlsServer),
    /// `systemd:domain[:index[:name]]`: a socket passed by systemd socket activation.
    /// Example: `systemd:domain=INET:index=0`.
    Systemd(SystemdServer),
    /// `stdio`: one connection over standard input and output. Takes no arguments.
    Stdio,
    /// `fd:fileno:domain`: adopt an inherited listening socket (strports extension;
    /// Twisted's `AdoptedStreamServerEndpoint`). Example: `fd:3:domain=INET6`.
    Adopted(AdoptedServer),
    /// `haproxy:<server description>`: every accepted connection starts with a PROXY
    /// protocol header. Example: `haproxy:tcp:8080`.
    Haproxy(Box<ServerDescription>),
    /// A type added to a [`Registry`].
    Extension(Extension),
}

/// Parameters of `tcp:` and `tcp6:` servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpServer {
    /// `port`: the port to listen on, 0-65535 (0 picks a free port). Required.
    pub port: u16,
    /// `interface`: the local address to bind; `""` (tcp) means all IPv4 addresses,
    /// `"::"` (the tcp6 default) all IPv6 addresses.
    pub interface: String,
    /// `backlog`: the listen queue length. Default 50.
    pub backlog: u32,
}

/// Parameters of a `unix:` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixServer {
    /// `address`: the socket path, or `@name` for a Linux abstract name. Required.
    pub address: UnixAddress,
    /// `mode`: permissions of the socket file, octal (`660`, `0o660`). Default `666`.
    /// Applied before the socket accepts connections. An abstract name has no file
    /// and no permissions (anyone on the host can connect): giving `mode` with one
    /// is a parse error, and this field is then ignored (and not printed).
    pub mode: u32,
    /// `backlog`: the listen queue length. Default 50.
    pub backlog: u32,
    /// `lockfile`: hold `<address>.lock` while listening, so that a stale socket of a
    /// dead owner can be reclaimed safely. Default on for paths, off (and not allowed)
    /// for abstract names.
    pub lockfile: bool,
}

/// Parameters of an `ssl:` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslServer {
    /// `port`: the port to listen on. Required.
    pub port: u16,
    /// `privateKey`: PEM file with the private key. Default `server.pem`.
    pub private_key: PathBuf,
    /// `certKey`: PEM file with the certificate (and possibly the key). Default: the
    /// `privateKey` file. See [`SslServer::cert_key_path`].
    pub cert_key: Option<PathBuf>,
    /// `sslmethod`: protocol versions (deprecated in Twisted). Default: TLS 1.2 and 1.3.
    pub sslmethod: Option<SslMethod>,
    /// `interface`: the local IPv4 address to bind; `""` means all.
    pub interface: String,
    /// `backlog`: the listen queue length. Default 50.
    pub backlog: u32,
    /// `extraCertChain`: PEM file with intermediate certificates sent after the
    /// server's own.
    pub extra_cert_chain: Option<PathBuf>,
    /// `dhParameters`: accepted for compatibility and not read: rustls uses ECDHE,
    /// which gives forward secrecy without DH parameters.
    pub dh_parameters: Option<PathBuf>,
    /// `alpn`: application protocols offered, in preference order (strports
    /// extension; see [`TlsServer::alpn`]). Default: none.
    pub alpn: Vec<String>,
}

impl SslServer {
    /// The certificate file: `certKey` if given, else `privateKey`.
    pub fn cert_key_path(&self) -> &std::path::Path {
        self.cert_key.as_deref().unwrap_or(&self.private_key)
    }
}

/// Parameters of a `tls:` server (certificates from a directory, chosen by SNI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsServer {
    /// `path`: directory scanned (recursively) for `*.pem` files holding
    /// certificates and keys. Required.
    pub path: PathBuf,
    /// `port`: default 443.
    pub port: u16,
    /// `backlog`: default 50.
    pub backlog: u32,
    /// `interface`: default `::` (all IPv6 addresses, and IPv4 where the system maps it).
    pub interface: String,
    /// `alpn`: application protocols offered, in preference order, as a comma-separated
    /// keyword (`alpn=h2,http/1.1`; a strports extension). Default: none (no ALPN).
    pub alpn: Vec<String>,
}

/// Parameters of a `systemd:` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdServer {
    /// `domain`: the family the inherited socket must have (`INET`, `INET6`, `UNIX`).
    pub domain: Domain,
    /// Which inherited socket: `index=` or `name=` (exactly one).
    pub selector: SystemdSelector,
}

/// How a `systemd:` server picks its inherited socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdSelector {
    /// `index=N`: the N-th passed descriptor (fd `3 + N`), counting from 0.
    Index(u32),
    /// `name=NAME`: the descriptor named `NAME` in `LISTEN_FDNAMES`
    /// (`FileDescriptorName=` in the socket unit).
    Name(String),
}

/// Parameters of an `fd:` server (adopt an inherited listening socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedServer {
    /// `fileno`: the descriptor number. Required.
    pub fileno: i32,
    /// `domain`: the family the socket must have (`INET`, `INET6`, `UNIX`). Required.
    pub domain: Domain,
}

const TCP: &[Param] = &[
    Param::positional("port"),
    Param::positional("interface"),
    Param::positional("backlog"),
];
const TCP6: &[Param] = &[
    Param::positional("port"),
    Param::positional("backlog"),
    Param::positional("interface"),
];
const UNIX: &[Param] = &[
    Param::positional("address"),
    Param::positional("mode"),
    Param::positional("backlog"),
    Param::positional("lockfile"),
];
const SSL: &[Param] = &[
    Param::positional("port"),
    Param::positional("privateKey"),
    Param::positional("certKey"),
    Param::positional("sslmethod"),
    Param::positional("interface"),
    Param::positional("backlog"),
    Param::positional("extraCertChain"),
    Param::positional("dhParameters"),
    Param::keyword("alpn"),
];
const TLS: &[Param] = &[
    Param::positional("path"),
    Param::positional("port"),
    Param::positional("backlog"),
    Param::positional("interface"),
    Param::keyword("alpn"),
];
const SYSTEMD: &[Param] = &[
    Param::positional("domain"),
    Param::positional("index"),
    Param::positional("name"),
];
const FD: &[Param] = &[Param::positional("fileno"), Param::positional("domain")];

impl FromStr for ServerDescription {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let raw = parse_raw(s)?;
        parse_server_hinted(&raw, None)
    }
}

impl Registry {
    /// Parses a server description with this registry's types.
    pub fn parse_server(&self, description: &str) -> Result<ServerDescription, ParseError> {
        let raw = parse_raw(description)?;
        parse_server_hinted(&raw, Some(self))
    }
}

/// Parses a whole server description; an error gets a hint for the usual mistakes.
fn parse_server_hinted(
    raw: &RawDescription<'_>,
    registry: Option<&Registry>,
) -> Result<ServerDescription, ParseError> {
    parse_server(raw, 0, registry).map_err(|e| {
        let parses = |fixed: &str| {
            parse_raw(fixed)
                .and_then(|raw| parse_server(&raw, 0, registry))
                .is_ok()
        };
        hint::add(e, raw, Side::Server, &parses)
    })
}

/// Parses the server description whose type is positional `type_index` of `raw`.
fn parse_server(
    raw: &RawDescription<'_>,
    type_index: usize,
    registry: Option<&Registry>,
) -> Result<ServerDescription, ParseError> {
    let Some(type_text) = raw.positionals.get(type_index) else {
        return Err(missing_type(raw, "server"));
    };
    let args = Arguments::at(raw, type_index, "");
    let name = type_text.as_str();
    let is = |t: &str| name.eq_ignore_ascii_case(t);
    let builtins = registry.is_none_or(Registry::has_builtins);
    if builtins {
        if is("tcp") {
            return tcp(args.with_what("tcp server"), TCP, "");
        } else if is("tcp6") {
            return tcp(args.with_what("tcp6 server"), TCP6, "::");
        } else if is("unix") {
            return unix(args.with_what("unix server"));
        } else if is("ssl") {
            return ssl(args.with_what("ssl server"));
        } else if is("tls") {
            return tls(args.with_what("tls server"));
        } else if is("systemd") {
            return systemd(args.with_what("systemd server"));
        } else if is("stdio") {
            args.with_what("stdio server")
                .bind(&[], Positionals::InOrder)?;
            return Ok(ServerDescription::Stdio);
        } else if is("fd") {
            return adopted(args.with_what("fd server"));
        } else if is("haproxy") {
            return haproxy(raw, type_index, registry);
        }
    }
    if let Some(registry) = registry {
        if let Some(ext) = registry.parse_server_extension(name, args)? {
            return Ok(ServerDescription::Extension(ext));
        }
    }
    Err(unknown_type(type_text, "server", registry, SERVER_TYPES))
}

fn backlog(b: &Bound<'_, '_>) -> Result<u32, ParseError> {
    Ok(b.number("backlog", MAX_BACKLOG)?.unwrap_or(DEFAULT_BACKLOG))
}

fn tcp(
    args: Arguments<'_, '_>,
    params: &'static [Param],
    default_interface: &str,
) -> Result<ServerDescription, ParseError> {
    let b = args.bind(params, Positionals::InOrder)?;
    let port = b.required("port", b.port("port")?)?;
    let server = TcpServer {
        port,
        interface: b
            .string("interface")
            .unwrap_or_else(|| default_interface.to_owned()),
        backlog: backlog(&b)?,
    };
    Ok(if default_interface.is_empty() {
        ServerDescription::Tcp(server)
    } else {
        ServerDescription::Tcp6(server)
    })
}

fn unix(args: Arguments<'_, '_>) -> Result<ServerDescription, ParseError> {
    let b = args.bind(UNIX, Positionals::InOrder)?;
    let text = b.required("address", b.non_empty("address")?)?;
    let address = UnixAddress::from_text(&text);
    if let (UnixAddress::Abstract(_), Some(t)) = (&address, b.text("mode")) {
        let at = t.offset();
        return Err(ParseError::new(
            ParseErrorKind::Conflict,
            at,
            format!(
                "conflicting mode at offset {at}: an abstract socket name has no file, so no permissions restrict it and anyone on the host (in its network namespace) can connect; use a socket path to restrict access"
            ),
        ));
    }
    let mode = b.mode("mode")?.unwrap_or(DEFAULT_UNIX_MODE);
    let backlog = backlog(&b)?;
    let lockfile = b.boolean("lockfile")?;
    let lockfile = match (&address, lockfile) {
        (UnixAddress::Abstract(_), Some(true)) => {
            let t = b.text("lockfile").map_or(0, |t| t.offset());
            return Err(ParseError::new(
                ParseErrorKind::Conflict,
                t,
                format!(
                    "conflicting lockfile at offset {t}: abstract socket names have no file to lock"
                ),
            ));
        }
        (UnixAddress::Abstract(_), _) => false,
        (UnixAddress::Path(_), l) => l.unwrap_or(true),
    };
    Ok(ServerDescription::Unix(UnixServer {
        address,
        mode,
        backlog,
        lockfile,
    }))
}

fn ssl(args: Arguments<'_, '_>) -> Result<ServerDescription, ParseError> {
    let b = args.bind(SSL, Positionals::InOrder)?;
    let port = b.required("port", b.port("port")?)?;
    Ok(ServerDescription::Ssl(SslServer {
        port,
        private_key: b
            .path("privateKey")?
            .unwrap_or_else(|| PathBuf::from("server.pem")),
        cert_key: b.path("certKey")?,
        sslmethod: SslMethod::from_bound(&b)?,
        interface: b.string("interface").unwrap_or_default(),
        backlog: backlog(&b)?,
        extra_cert_chain: b.path("extraCertChain")?,
        dh_parameters: b.path("dhParameters")?,
        alpn: alpn(&b)?,
    }))
}

fn tls(args: Arguments<'_, '_>) -> Result<ServerDescription, ParseError> {
    let b = args.bind(TLS, Positionals::InOrder)?;
    Ok(ServerDescription::Tls(TlsServer {
        path: b.required("path", b.path("path")?)?,
        port: b.port("port")?.unwrap_or(443),
        backlog: backlog(&b)?,
        interface: b.string("interface").unwrap_or_else(|| "::".to_owned()),
        alpn: alpn(&b)?,
    }))
}

fn systemd(args: Arguments<'_, '_>) -> Result<ServerDescription, ParseError> {
    let b = args.bind(SYSTEMD, Positionals::InOrder)?;
    let domain = b.required("domain", Domain::from_bound(&b, "domain")?)?;
    let selector = match (b.text("index"), b.text("name")) {
        (Some(_), None) => SystemdSelector::Index(
            b.required("index", b.number("index", u64::from(i32::MAX as u32) - 3)?)?,
        ),
        (None, Some(_)) => SystemdSelector::Name(b.required("name", b.non_empty("name")?)?),
        (Some(_), Some(n)) => return Err(selector_error(n.offset())),
        (None, None) => return Err(selector_error(args.type_text().offset())),
    };
    Ok(ServerDescription::Systemd(SystemdServer {
        domain,
        selector,
    }))
}

fn selector_error(offset: usize) -> ParseError {
    ParseError::new(
        ParseErrorKind::SystemdSelector,
        offset,
        format!("systemd selector at offset {offset}: specify exactly one of index and name"),
    )
}

fn adopted(args: Arguments<'_, '_>) -> Result<ServerDescription, ParseError> {
    let b = args.bind(FD, Positionals::InOrder)?;
    Ok(ServerDescription::Adopted(AdoptedServer {
        fileno: b.required("fileno", b.number("fileno", i32::MAX as u64)?)?,
        domain: b.required("domain", Domain::from_bound(&b, "domain")?)?,
    }))
}

fn haproxy(
    raw: &RawDescription<'_>,
    type_index: usize,
    registry: Option<&Registry>,
) -> Result<ServerDescription, ParseError> {
    let t = &raw.positionals[type_index];
    if type_index >= MAX_NESTING {
        let at = t.offset();
        return Err(ParseError::new(
            ParseErrorKind::NestingTooDeep,
            at,
            format!(
                "nesting too deep at offset {at}: at most {MAX_NESTING} haproxy wrappers are allowed"
            ),
        ));
    }
    if raw.positionals.len() <= type_index + 1 {
        // The end of the type as written (it may contain escapes).
        let end = raw_offset(raw.input(), t.offset(), t.as_str().len());
        return Err(ParseError::new(
            ParseErrorKind::MissingType,
            end,
            format!(
                "missing endpoint type at offset {end}: haproxy wraps another server description, e.g. haproxy:tcp:8080"
            ),
        ));
    }
    let inner = parse_server(raw, type_index + 1, registry)?;
    Ok(ServerDescription::Haproxy(Box::new(inner)))
}

/// The canonical description with control characters escaped (`\n`, `\x1b`; see
/// [`escape_control`](crate::escape_control)), so that logging a description cannot
/// forge a line. Without control characters (the usual case) this is exactly
/// [`ServerDescription::canonical`], which parses back to an equal value.
impl fmt::Display for ServerDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f, Mode::Escaped)
    }
}

impl ServerDescription {
    /// The canonical description, exactly: it parses back to an equal value, control
    /// characters included (use it to store or send a description; `Display`
    /// escapes control characters for logs).
    ///
    /// ```
    /// use strports_core::ServerDescription;
    /// let desc: ServerDescription = "unix:/tmp/a\nb".parse().unwrap();
    /// assert_eq!(desc.canonical(), "unix:/tmp/a\nb");
    /// assert_eq!(desc.to_string(), r"unix:/tmp/a\nb");
    /// assert_eq!(desc.canonical().parse::<ServerDescription>().unwrap(), desc);
    /// ```
    pub fn canonical(&self) -> String {
        /// Prints the exact form.
        struct Exact<'a>(&'a ServerDescription);
        impl fmt::Display for Exact<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_to(f, Mode::Exact)
            }
        }
        Exact(self).to_string()
    }

    fn write_to(&self, f: &mut fmt::Formatter<'_>, mode: Mode) -> fmt::Result {
        match self {
            ServerDescription::Tcp(s) => Printer::new(f, mode, "tcp")
                .pos(&s.port.to_string())
                .kw_if(!s.interface.is_empty(), "interface", &s.interface)
                .kw_if(s.backlog != DEFAULT_BACKLOG, "backlog", s.backlog)
                .finish(),
            ServerDescription::Tcp6(s) => Printer::new(f, mode, "tcp6")
                .pos(&s.port.to_string())
                .kw_if(s.backlog != DEFAULT_BACKLOG, "backlog", s.backlog)
                .kw_if(s.interface != "::", "interface", &s.interface)
                .finish(),
            ServerDescription::Unix(s) => {
                let is_path = matches!(s.address, UnixAddress::Path(_));
                let default_lock = is_path;
                Printer::new(f, mode, "unix")
                    .pos(&s.address.to_description_text())
                    .kw_if(
                        is_path && s.mode != DEFAULT_UNIX_MODE,
                        "mode",
                        format!("{:o}", s.mode),
                    )
                    .kw_if(s.backlog != DEFAULT_BACKLOG, "backlog", s.backlog)
                    .kw_if(s.lockfile != default_lock, "lockfile", u8::from(s.lockfile))
                    .finish()
            }
            ServerDescription::Ssl(s) => {
                let key = path_text(&s.private_key);
                Printer::new(f, mode, "ssl")
                    .pos(&s.port.to_string())
                    .kw_if(key != "server.pem", "privateKey", &key)
                    .kw_opt("certKey", display_path(&s.cert_key))
                    .kw_opt("sslmethod", s.sslmethod)
                    .kw_if(!s.interface.is_empty(), "interface", &s.interface)
                    .kw_if(s.backlog != DEFAULT_BACKLOG, "backlog", s.backlog)
                    .kw_opt("extraCertChain", display_path(&s.extra_cert_chain))
                    .kw_opt("dhParameters", display_path(&s.dh_parameters))
                    .kw_if(!s.alpn.is_empty(), "alpn", s.alpn.join(","))
                    .finish()
            }
            ServerDescription::Tls(s) => Printer::new(f, mode, "tls")
                .pos(&path_text(&s.path))
                .kw_if(s.port != 443, "port", s.port)
                .kw_if(s.backlog != DEFAULT_BACKLOG, "backlog", s.backlog)
                .kw_if(s.interface != "::", "interface", &s.interface)
                .kw_if(!s.alpn.is_empty(), "alpn", s.alpn.join(","))
                .finish(),
            ServerDescription::Systemd(s) => {
                let mut p = Printer::new(f, mode, "systemd");
                p.kw("domain", s.domain.name());
                match &s.selector {
                    SystemdSelector::Index(i) => p.kw("index", &i.to_string()),
                    SystemdSelector::Name(n) => p.kw("name", n),
                };
                p.finish()
            }
            ServerDescription::Stdio => f.write_str("stdio"),
            ServerDescription::Adopted(s) => Printer::new(f, mode, "fd")
                .pos(&s.fileno.to_string())
                .kw("domain", s.domain.name())
                .finish(),
            ServerDescription::Haproxy(inner) => {
                f.write_str("haproxy:")?;
                inner.write_to(f, mode)
            }
            ServerDescription::Extension(e) => write_display(f, mode, e),
        }
    }
}

impl ServerDescription {
    /// The type name as printed (`tcp`, `unix`, `haproxy`, or an extension's prefix).
    pub fn type_name(&self) -> &str {
        match self {
            ServerDescription::Tcp(_) => "tcp",
            ServerDescription::Tcp6(_) => "tcp6",
            ServerDescription::Unix(_) => "unix",
            ServerDescription::Ssl(_) => "ssl",
            ServerDescription::Tls(_) => "tls",
            ServerDescription::Systemd(_) => "systemd",
            ServerDescription::Stdio => "stdio",
            ServerDescription::Adopted(_) => "fd",
            ServerDescription::Haproxy(_) => "haproxy",
            ServerDescription::Extension(e) => e.name(),
        }
    }
}
