//! Client descriptions: what `clientFromString` accepts, plus `process:` (only with a
//! registry that allows programs).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::args::{Arguments, Bound, Param, Positionals};
use crate::common::{
    CLIENT_TYPES, Mode, Printer, UnixAddress, alpn, check_hostname, display_path, missing_type,
    write_display,
};
use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{RawDescription, Text, parse_raw, raw_offset};
use crate::hint::{self, Side};
use crate::registry::{Extension, Registry, unknown_type};

/// The default client `timeout`: 30 seconds.
pub const DEFAULT_TIMEOUT: u32 = 30;

/// A parsed client description: where and how to connect.
///
/// [`str::parse`] knows the network types (`tcp`, `ssl`, `unix`, `tls`); `process:`,
/// which runs a program, parses only with a registry that allows programs
/// ([`Registry::with_programs`]), also inside `tls:...:endpoint=`.
///
/// ```
/// use strports_core::ClientDescription;
/// let desc: ClientDescription = "tcp:example.com:80".parse().unwrap();
/// let ClientDescription::Tcp(tcp) = &desc else { panic!() };
/// assert_eq!((tcp.host.as_str(), tcp.port, tcp.timeout), ("example.com", 80, 30));
/// assert_eq!(desc.to_string(), "tcp:example.com:80");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientDescription {
    /// `tcp:host:port`: TCP (Twisted's `TCP4ClientEndpoint`; strports connects to
    /// names through Happy Eyeballs). Keywords `timeout`, `bindAddress`.
    /// Example: `tcp:example.com:80:timeout=5`.
    Tcp(TcpClient),
    /// `ssl:host:port`: TLS over TCP (`SSL4ClientEndpoint`), always verified.
    /// Keywords as `tcp` plus `hostname`, `certKey`, `privateKey`, `caCertsDir`.
    /// Example: `ssl:example.com:443:caCertsDir=/etc/ssl/certs`.
    Ssl(SslClient),
    /// `unix:path`: a UNIX socket (`UNIXClientEndpoint`). Keywords `timeout`,
    /// `lockfile` (alias `checkPID`). Example: `unix:/run/app.sock`.
    Unix(UnixClient),
    /// `tls:host:port[:timeout[:bindAddress[:certificate[:privateKey[:trustRoots[:endpoint]]]]]]`:
    /// TLS to `host`, verified against `host`, optionally over another client
    /// description (`endpoint=`). Example: `tls:example.com:443`.
    Tls(TlsClient),
    /// `process:argv0[:arg...]`: run a program; its stdin/stdout are the connection
    /// (strports extension; Twisted's `ProcessEndpoint`). Example: `process:cat`.
    /// Parsed only by a registry that allows programs ([`Registry::with_programs`]).
    Process(ProcessClient),
    /// A type added to a [`Registry`].
    Extension(Extension),
}

/// Parameters of a `tcp:` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpClient {
    /// `host`: an IP literal or a host name. Required.
    pub host: String,
    /// `port`: 0-65535. Required.
    pub port: u16,
    /// `timeout`: seconds to wait for the connection, at least 1. Default 30.
    pub timeout: u32,
    /// `bindAddress`: local address to connect from (port chosen by the system).
    pub bind_address: Option<String>,
}

/// Parameters of an `ssl:` client. Certificates and host names are always verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslClient {
    /// `host`, `port`, `timeout`, `bindAddress`: the TCP connection.
    pub tcp: TcpClient,
    /// `hostname`: the name to verify and send as SNI. Default: `host`.
    pub hostname: Option<String>,
    /// `certKey`: PEM file with the client certificate (and its key, unless
    /// `privateKey` is given).
    pub cert_key: Option<PathBuf>,
    /// `privateKey`: PEM file with the client key; needs `certKey`.
    pub private_key: Option<PathBuf>,
    /// `caCertsDir`: directory whose `*.pem` files are the trusted CAs. Default: the
    /// platform's trust store.
    pub ca_certs_dir: Option<PathBuf>,
    /// `alpn`: application protocols offered, in preference order (`alpn=h2,http/1.1`;
    /// a strports extension). Default: none.
    pub alpn: Vec<String>,
}

impl SslClient {
    /// The name verified against the server's certificate: `hostname`, else `host`.
    pub fn verification_name(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.tcp.host)
    }
}

/// Parameters of a `unix:` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixClient {
    /// `path`: the socket path, or `@name` for a Linux abstract name. Required.
    pub path: UnixAddress,
    /// `timeout`: seconds to wait for the connection. Default 30.
    pub timeout: u32,
    /// `lockfile` (or Twisted's `checkPID`): refuse to connect unless `<path>.lock` is
    /// held by a live process. Default off.
    pub lockfile: bool,
}

/// Parameters of a `tls:` client.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsClient {
    /// `host`: name verified against the certificate and sent as SNI (not for IP
    /// literals), and the connect target unless `endpoint` is given. Required.
    pub host: String,
    /// `port`: required.
    pub port: u16,
    /// `timeout`: seconds per connection attempt, and the limit on the TLS handshake.
    /// Default 30. With `endpoint` it limits only the handshake (the inner endpoint's
    /// own `timeout` limits its connect; Twisted ignores this one there).
    pub timeout: u32,
    /// `bindAddress`: local address to connect from. Ignored with `endpoint`.
    pub bind_address: Option<String>,
    /// `certificate`: PEM file with a client certificate.
    pub certificate: Option<PathBuf>,
    /// `privateKey`: PEM file with the client key (default: the `certificate` file);
    /// needs `certificate`.
    pub private_key: Option<PathBuf>,
    /// `trustRoots`: directory whose `*.pem` files are the trusted CAs. Default: the
    /// platform's trust store.
    pub trust_roots: Option<PathBuf>,
    /// `endpoint`: another client description to run TLS over, e.g.
    /// `endpoint=unix\:/run/x.sock`.
    pub endpoint: Option<Box<ClientDescription>>,
    /// `alpn`: application protocols offered, in preference order (`alpn=h2,http/1.1`;
    /// a strports extension). Default: none.
    pub alpn: Vec<String>,
}

/// Parameters of a `process:` client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessClient {
    /// The positionals: the program and its arguments (`argv[0]` is looked up in
    /// `PATH`). At least one.
    pub argv: Vec<String>,
    /// `path`: working directory of the child. Default: ours.
    pub path: Option<PathBuf>,
    /// `env`: `inherit` (default) or `clear`.
    pub env: ProcessEnv,
    /// `errFlag`: what happens to the child's stderr: `log` (default), `drop`, `inherit`.
    pub err_flag: StderrPolicy,
}

/// The environment of a child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ProcessEnv {
    /// `env=inherit`: the child gets our environment (the default; Twisted's default is
    /// an empty environment).
    #[default]
    Inherit,
    /// `env=clear`: the child gets an empty environment.
    Clear,
}

/// What happens to a child process's standard error (Twisted's `errFlag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StderrPolicy {
    /// `errFlag=log`: each line is logged through `tracing` (Twisted's `LOG`, default).
    #[default]
    Log,
    /// `errFlag=drop`: discarded (Twisted's `DROP`).
    Drop,
    /// `errFlag=inherit`: passed through to our own stderr.
    Inherit,
}

const ENV_WORDS: &[&str] = &["inherit", "clear"];
const ERR_WORDS: &[&str] = &["log", "drop", "inherit"];

const TCP: &[Param] = &[
    Param::positional("host"),
    Param::positional("port"),
    Param::keyword("timeout"),
    Param::keyword("bindAddress"),
];
const SSL: &[Param] = &[
    Param::positional("host"),
    Param::positional("port"),
    Param::keyword("timeout"),
    Param::keyword("bindAddress"),
    Param::keyword("hostname"),
    Param::keyword("certKey"),
    Param::keyword("privateKey"),
    Param::keyword("caCertsDir"),
    Param::keyword("alpn"),
];
const UNIX: &[Param] = &[
    Param::positional("path"),
    Param::keyword("timeout"),
    Param::keyword("lockfile"),
    Param::keyword("checkPID"),
];
const TLS: &[Param] = &[
    Param::positional("host"),
    Param::positional("port"),
    Param::positional("timeout"),
    Param::positional("bindAddress"),
    Param::positional("certificate"),
    Param::positional("privateKey"),
    Param::positional("trustRoots"),
    Param::positional("endpoint"),
    Param::keyword("alpn"),
];
const PROCESS: &[Param] = &[
    Param::keyword("path"),
    Param::keyword("env"),
    Param::keyword("errFlag"),
];

impl FromStr for ClientDescription {
    type Err = ParseError;

    /// Parses with the built-in network types; `process:` is an error of kind
    /// [`ProgramNotAllowed`](ParseErrorKind::ProgramNotAllowed) (see
    /// [`Registry::with_programs`]).
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let raw = parse_raw(s)?;
        parse_client_hinted(&raw, None)
    }
}

impl Registry {
    /// Parses a client description with this registry's types (`process:` only if it
    /// [allows programs](Registry::allows_programs)).
    pub fn parse_client(&self, description: &str) -> Result<ClientDescription, ParseError> {
        let raw = parse_raw(description)?;
        parse_client_hinted(&raw, Some(self))
    }
}

/// Parses a whole client description; an error gets a hint for the usual mistakes.
fn parse_client_hinted(
    raw: &RawDescription<'_>,
    registry: Option<&Registry>,
) -> Result<ClientDescription, ParseError> {
    parse_client(raw, registry).map_err(|e| {
        let parses = |fixed: &str| {
            parse_raw(fixed)
                .and_then(|raw| parse_client(&raw, registry))
                .is_ok()
        };
        hint::add(e, raw, Side::Client, &parses)
    })
}

fn parse_client(
    raw: &RawDescription<'_>,
    registry: Option<&Registry>,
) -> Result<ClientDescription, ParseError> {
    let Some(type_text) = raw.positionals.first() else {
        return Err(missing_type(raw, "client"));
    };
    let args = Arguments::after_type(raw, "");
    let name = type_text.as_str();
    let is = |t: &str| name.eq_ignore_ascii_case(t);
    if registry.is_none_or(Registry::has_builtins) {
        if is("tcp") {
            let b = args
                .with_what("tcp client")
                .bind(TCP, Positionals::FillUnset)?;
            return Ok(ClientDescription::Tcp(tcp(&b)?));
        } else if is("ssl") {
            return ssl(args.with_what("ssl client"));
        } else if is("unix") {
            return unix(args.with_what("unix client"));
        } else if is("tls") {
            return tls(args.with_what("tls client"), registry);
        }
    }
    if is("process") {
        if registry.is_some_and(Registry::allows_programs) {
            return process(args.with_what("process client"));
        }
        return Err(program_not_allowed(type_text));
    }
    if let Some(registry) = registry {
        if let Some(ext) = registry.parse_client_extension(name, args)? {
            return Ok(ClientDescription::Extension(ext));
        }
    }
    Err(unknown_type(type_text, "client", registry, CLIENT_TYPES))
}

/// The error for a program type parsed without allowing programs.
fn program_not_allowed(t: &Text<'_>) -> ParseError {
    ParseError::quoting(
        ParseErrorKind::ProgramNotAllowed,
        t.offset(),
        "client type",
        t.as_str(),
        "runs a program, so it is not allowed unless enabled: parse with strports_core::Registry::with_programs() to enable program types",
    )
}

fn timeout(b: &Bound<'_, '_>) -> Result<u32, ParseError> {
    match b.number::<u32>("timeout", u64::from(u32::MAX))? {
        None => Ok(DEFAULT_TIMEOUT),
        Some(0) => {
            let t = b.text("timeout").map_or(0, |t| t.offset());
            Err(ParseError::quoting(
                ParseErrorKind::InvalidNumber,
                t,
                "invalid timeout",
                "0",
                "must be at least 1 second",
            ))
        }
        Some(n) => Ok(n),
    }
}

fn tcp(b: &Bound<'_, '_>) -> Result<TcpClient, ParseError> {
    let host = b.required("host", b.non_empty("host")?)?;
    let port = b.required("port", b.port("port")?)?;
    Ok(TcpClient {
        host,
        port,
        timeout: timeout(b)?,
        bind_address: b.non_empty("bindAddress")?,
    })
}

fn needs(b: &Bound<'_, '_>, name: &str, other: &str) -> Result<(), ParseError> {
    match (b.text(name), b.is_given(other)) {
        (Some(t), false) => Err(ParseError::quoting(
            ParseErrorKind::Conflict,
            t.offset(),
            "parameter",
            name,
            &format!("needs {other} as well (half-specified client credentials)"),
        )),
        _ => Ok(()),
    }
}

fn ssl(args: Arguments<'_, '_>) -> Result<ClientDescription, ParseError> {
    let b = args.bind(SSL, Positionals::FillUnset)?;
    let tcp = tcp(&b)?;
    needs(&b, "privateKey", "certKey")?;
    if b.is_given("hostname") {
        b.non_empty("hostname")?;
        check_hostname(&b, "hostname")?;
    } else {
        check_hostname(&b, "host")?;
    }
    Ok(ClientDescription::Ssl(SslClient {
        tcp,
        hostname: b.string("hostname"),
        cert_key: b.path("certKey")?,
        private_key: b.path("privateKey")?,
        ca_certs_dir: b.path("caCertsDir")?,
        alpn: alpn(&b)?,
    }))
}

fn unix(args: Arguments<'_, '_>) -> Result<ClientDescription, ParseError> {
    let b = args.bind(UNIX, Positionals::FillUnset)?;
    let path = UnixAddress::from_text(&b.required("path", b.non_empty("path")?)?);
    if let (Some(_), Some(t)) = (b.text("lockfile"), b.text("checkPID")) {
        return Err(ParseError::quoting(
            ParseErrorKind::DuplicateParameter,
            t.offset(),
            "parameter",
            "checkPID",
            "is another name for lockfile, which is given too",
        ));
    }
    let lockfile = match b.boolean("lockfile")? {
        Some(l) => l,
        None => b.boolean("checkPID")?.unwrap_or(false),
    };
    if lockfile && matches!(path, UnixAddress::Abstract(_)) {
        let offset = b
            .text("lockfile")
            .or(b.text("checkPID"))
            .map_or(0, |t| t.offset());
        return Err(ParseError::new(
            ParseErrorKind::Conflict,
            offset,
            format!(
                "conflicting lockfile at offset {offset}: abstract socket names have no file to lock"
            ),
        ));
    }
    Ok(ClientDescription::Unix(UnixClient {
        path,
        timeout: timeout(&b)?,
        lockfile,
    }))
}

impl Bound<'_, '_> {
    /// The client description nested in parameter `name`, as `tls:` takes one in
    /// `endpoint=` (its colons escaped one level), parsed with `registry` (so the
    /// same types, and the same opt-in to `process:`, apply inside); `None` when
    /// the parameter is not given. An error points into the outer description.
    ///
    /// ```
    /// use strports_core::args::{Param, Positionals};
    /// use strports_core::{ClientDescription, Registry};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Via(ClientDescription);
    /// impl std::fmt::Display for Via {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "via:endpoint={}", strports_core::quote(&self.0.to_string()))
    ///     }
    /// }
    /// let inner = Registry::default();
    /// let mut registry = Registry::default();
    /// registry.add_client("via", move |args| {
    ///     let b = args.bind(&[Param::keyword("endpoint")], Positionals::InOrder)?;
    ///     let nested = b.client_description("endpoint", &inner)?;
    ///     Ok(Via(b.required("endpoint", nested)?))
    /// }).unwrap();
    /// assert!(registry.parse_client(r"via:endpoint=tcp\:localhost\:80").is_ok());
    /// // The default registry knows no programs, inside either.
    /// let err = registry.parse_client(r"via:endpoint=process\:sh").unwrap_err();
    /// assert_eq!(err.offset(), 13);
    /// ```
    pub fn client_description(
        &self,
        name: &str,
        registry: &Registry,
    ) -> Result<Option<ClientDescription>, ParseError> {
        nested_client(self, name, Some(registry))
    }
}

/// The client description nested in parameter `name` (as in `tls:`'s `endpoint=`),
/// parsed with `registry` (the default when `None`); an error points into the
/// outer description.
pub(crate) fn nested_client(
    b: &Bound<'_, '_>,
    name: &str,
    registry: Option<&Registry>,
) -> Result<Option<ClientDescription>, ParseError> {
    let Some(t) = b.text(name) else {
        return Ok(None);
    };
    let input = b.arguments().raw().input();
    parse_raw(t.as_str())
        .and_then(|raw| parse_client(&raw, registry))
        .map(Some)
        .map_err(|e| {
            let at = raw_offset(input, t.offset(), e.offset());
            e.shifted(at)
        })
}

fn tls(
    args: Arguments<'_, '_>,
    registry: Option<&Registry>,
) -> Result<ClientDescription, ParseError> {
    let b = args.bind(TLS, Positionals::InOrder)?;
    let host = b.required("host", b.non_empty("host")?)?;
    let port = b.required("port", b.port("port")?)?;
    let timeout = timeout(&b)?;
    let bind_address = b.non_empty("bindAddress")?;
    let trust_roots = b.path("trustRoots")?;
    needs(&b, "privateKey", "certificate")?;
    let certificate = b.path("certificate")?;
    let private_key = b.path("privateKey")?;
    let alpn = alpn(&b)?;
    check_hostname(&b, "host")?;
    let endpoint = nested_client(&b, "endpoint", registry)?.map(Box::new);
    Ok(ClientDescription::Tls(TlsClient {
        host,
        port,
        timeout,
        bind_address,
        certificate,
        private_key,
        trust_roots,
        endpoint,
        alpn,
    }))
}

fn process(args: Arguments<'_, '_>) -> Result<ClientDescription, ParseError> {
    let b = args.bind_with_rest(PROCESS, Positionals::InOrder)?;
    let argv: Vec<String> = b.rest().iter().map(|t| t.as_str().to_owned()).collect();
    match argv.first() {
        None => {
            let t = args.type_text();
            // The end of the type as written (it may contain escapes).
            let end = raw_offset(args.raw().input(), t.offset(), t.as_str().len());
            return Err(ParseError::new(
                ParseErrorKind::MissingParameter,
                end,
                format!(
                    "missing program at offset {end}: process clients need the program and its arguments, e.g. process:cat"
                ),
            ));
        }
        Some(p) if p.is_empty() => {
            let offset = b.rest()[0].offset();
            return Err(ParseError::quoting(
                ParseErrorKind::EmptyValue,
                offset,
                "empty",
                "program",
                "must not be empty",
            ));
        }
        Some(_) => {}
    }
    let env = match b.choice("env", ENV_WORDS)? {
        Some(1) => ProcessEnv::Clear,
        _ => ProcessEnv::Inherit,
    };
    let err_flag = match b.choice("errFlag", ERR_WORDS)? {
        Some(1) => StderrPolicy::Drop,
        Some(2) => StderrPolicy::Inherit,
        _ => StderrPolicy::Log,
    };
    Ok(ClientDescription::Process(ProcessClient {
        argv,
        path: b.path("path")?,
        env,
        err_flag,
    }))
}

impl ProcessEnv {
    /// The word used in descriptions: `inherit` or `clear`.
    pub fn name(self) -> &'static str {
        match self {
            ProcessEnv::Inherit => "inherit",
            ProcessEnv::Clear => "clear",
        }
    }
}

impl StderrPolicy {
    /// The word used in descriptions: `log`, `drop` or `inherit`.
    pub fn name(self) -> &'static str {
        match self {
            StderrPolicy::Log => "log",
            StderrPolicy::Drop => "drop",
            StderrPolicy::Inherit => "inherit",
        }
    }
}

fn print_tcp<'p, 'f, 'g>(p: &'p mut Printer<'f, 'g>, t: &TcpClient) -> &'p mut Printer<'f, 'g> {
    p.pos(&t.host)
        .pos(&t.port.to_string())
        .kw_if(t.timeout != DEFAULT_TIMEOUT, "timeout", t.timeout)
        .kw_opt("bindAddress", t.bind_address.as_deref())
}

/// The canonical description with control characters escaped (`\n`, `\x1b`; see
/// [`escape_control`](crate::escape_control)), so that logging a description cannot
/// forge a line. Without control characters (the usual case) this is exactly
/// [`ClientDescription::canonical`], which parses back to an equal value.
impl fmt::Display for ClientDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f, Mode::Escaped)
    }
}

impl ClientDescription {
    /// The canonical description, exactly: it parses back to an equal value (with
    /// the same registry), control characters included (use it to store or send a
    /// description; `Display` escapes control characters for logs).
    ///
    /// ```
    /// use strports_core::ClientDescription;
    /// let desc: ClientDescription = "unix:/tmp/a\x1bb".parse().unwrap();
    /// assert_eq!(desc.canonical(), "unix:/tmp/a\x1bb");
    /// assert_eq!(desc.to_string(), r"unix:/tmp/a\x1bb");
    /// ```
    pub fn canonical(&self) -> String {
        /// Prints the exact form.
        struct Exact<'a>(&'a ClientDescription);
        impl fmt::Display for Exact<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_to(f, Mode::Exact)
            }
        }
        Exact(self).to_string()
    }

    fn write_to(&self, f: &mut fmt::Formatter<'_>, mode: Mode) -> fmt::Result {
        match self {
            ClientDescription::Tcp(t) => print_tcp(&mut Printer::new(f, mode, "tcp"), t).finish(),
            ClientDescription::Ssl(s) => print_tcp(&mut Printer::new(f, mode, "ssl"), &s.tcp)
                .kw_opt("hostname", s.hostname.as_deref())
                .kw_opt("certKey", display_path(&s.cert_key))
                .kw_opt("privateKey", display_path(&s.private_key))
                .kw_opt("caCertsDir", display_path(&s.ca_certs_dir))
                .kw_if(!s.alpn.is_empty(), "alpn", s.alpn.join(","))
                .finish(),
            ClientDescription::Unix(u) => Printer::new(f, mode, "unix")
                .pos(&u.path.to_description_text())
                .kw_if(u.timeout != DEFAULT_TIMEOUT, "timeout", u.timeout)
                .kw_if(u.lockfile, "lockfile", 1)
                .finish(),
            ClientDescription::Tls(t) => Printer::new(f, mode, "tls")
                .pos(&t.host)
                .pos(&t.port.to_string())
                .kw_if(t.timeout != DEFAULT_TIMEOUT, "timeout", t.timeout)
                .kw_opt("bindAddress", t.bind_address.as_deref())
                .kw_opt("certificate", display_path(&t.certificate))
                .kw_opt("privateKey", display_path(&t.private_key))
                .kw_opt("trustRoots", display_path(&t.trust_roots))
                // Nested exactly; the whole line is escaped once, in `finish`.
                .kw_opt(
                    "endpoint",
                    t.endpoint.as_deref().map(ClientDescription::canonical),
                )
                .kw_if(!t.alpn.is_empty(), "alpn", t.alpn.join(","))
                .finish(),
            ClientDescription::Process(p) => {
                let mut pr = Printer::new(f, mode, "process");
                for arg in &p.argv {
                    pr.pos(arg);
                }
                pr.kw_opt("path", display_path(&p.path))
                    .kw_if(p.env != ProcessEnv::Inherit, "env", p.env.name())
                    .kw_if(
                        p.err_flag != StderrPolicy::Log,
                        "errFlag",
                        p.err_flag.name(),
                    )
                    .finish()
            }
            ClientDescription::Extension(e) => write_display(f, mode, e),
        }
    }
}

impl ClientDescription {
    /// The type name as printed (`tcp`, `tls`, `process`, or an extension's prefix).
    pub fn type_name(&self) -> &str {
        match self {
            ClientDescription::Tcp(_) => "tcp",
            ClientDescription::Ssl(_) => "ssl",
            ClientDescription::Unix(_) => "unix",
            ClientDescription::Tls(_) => "tls",
            ClientDescription::Process(_) => "process",
            ClientDescription::Extension(e) => e.name(),
        }
    }
}
