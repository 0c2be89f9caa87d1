//! `strports listen`, `strports connect` and `strports relay`: the command-line
//! side (arguments, logging, description errors, runtime choice). The work is in
//! `session.rs`, once for both runtimes.

use std::io::IsTerminal as _;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use std::net::IpAddr;

use clap::{Args, ValueEnum};
use strports_core::proxy_protocol::{
    DEFAULT_MAX_PENDING_PER_SOURCE, DEFAULT_MAX_TLV_BYTES, HaproxyOptions, IpNet, Untrusted,
    Version,
};
use strports_core::{ClientDescription, ParseError, ServerDescription, quote};
use strports_endpoints::TlsServerOptions;
use strports_endpoints::tls::DEFAULT_MAX_HANDSHAKES_PER_SOURCE;
use tracing_subscriber::EnvFilter;

use strports_smol::Smol;
use strports_tokio::Tokio;

use crate::parse_cmd::{client_registry, error_text};
use crate::runtime::CliRuntime;
use crate::session::{self, EXIT_FAILURE, Handler, ServeOptions};

/// Examples shown by `strports listen --help`.
pub(crate) const LISTEN_EXAMPLES: &str = "\
Examples:
  strports listen tcp:8080                      # like nc -l: first connection <-> stdin/stdout
  strports listen --echo unix:/tmp/echo.sock    # echo server
  strports listen --echo --max-connections 100 --idle-timeout 60 tcp:7:interface=127.0.0.1
  strports listen --exec 'tr a-z A-Z' tcp:8080  # each connection talks to its own `sh -c CMD`
  strports listen --echo tcp:7007 --listen unix:/tmp/echo.sock   # two listeners, one server
  systemd-socket-activate -l 127.0.0.1:8080 strports listen --echo systemd:domain=INET:index=0

Without --echo or --exec, listen accepts one connection, stops listening, copies
it to and from stdin/stdout, and exits once both directions are done. With --echo
or --exec it serves until SIGINT/SIGTERM; SIGHUP reloads the certificates of
ssl: and tls: servers (the others ignore it).";

/// Examples shown by `strports connect --help`.
pub(crate) const CONNECT_EXAMPLES: &str = "\
Examples:
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | strports connect tcp:example.com:80
  echo hello | strports connect unix:/tmp/echo.sock
  strports connect --runtime smol tcp:127.0.0.1:8080

When stdin ends, the connection's write side is shut down (the peer reads EOF);
when the peer closes, stdout is closed. connect exits once both are done.";

/// Examples shown by `strports relay --help`.
pub(crate) const RELAY_EXAMPLES: &str = "\
Examples:
  strports relay unix:/tmp/web.sock tcp:127.0.0.1:8080      # UNIX-to-TCP bridge
  strports relay tcp:8443 'unix:/run/app.sock'              # TCP-to-UNIX bridge
  strports relay ssl:443:privateKey=key.pem:certKey=cert.pem tcp:127.0.0.1:8080   # TLS terminator
  strports relay --proxy-trust 10.0.0.0/8 haproxy:tcp:8080 tcp:127.0.0.1:80   # PROXY-protocol unwrapper
  strports relay --send-proxy v2 tcp:8080 tcp:10.0.0.2:80   # tell the backend who the client is
  systemd-socket-activate -l 8080 strports relay systemd:domain=INET:index=0 tcp:10.0.0.2:80
  strports relay --listen tcp:8080 --listen unix:/tmp/web.sock tcp:127.0.0.1:80   # two listeners

Each accepted connection gets its own client connection; bytes are copied both
ways, and EOF in one direction is passed on as a half-close. relay serves until
SIGINT/SIGTERM; SIGHUP reloads the certificates of ssl: and tls: servers (the
others ignore it).";

/// Exit statuses, shown by `strports --help` and in the README.
pub(crate) const EXIT_STATUSES: &str = "\
Exit status:
  0    success (a server stopped by SIGINT/SIGTERM also exits 0)
  1    failure: a bad description (the error points at it), cannot listen or
       connect, or a connect/listen session that ended with an I/O error
  2    usage error (bad options)
  130  connect/listen session interrupted by SIGINT (143: SIGTERM)";

/// Which async runtime runs a networking command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio (current-thread runtime) with strports-tokio.
    Tokio,
    /// smol (one executor on the main thread) with strports-smol.
    Smol,
}

/// Options of every networking command.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// The async runtime (and strports backend) to run on; both behave the same.
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Tokio)]
    runtime: RuntimeChoice,
    /// Close a connection after SECS seconds without traffic in either direction.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    idle_timeout: Option<Duration>,
    /// More log output on stderr, one level per -v. Servers log at info by default
    /// (one summary line per connection: -v debug, -vv trace); `connect` is quiet
    /// like nc (warnings and errors only: -v gives its summary line). RUST_LOG, when
    /// set, overrides -v/-q (for example RUST_LOG=strports_endpoints=trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less log output, one level per -q (servers: -q warnings and errors only, -qq
    /// errors only, -qqq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "verbose", global = true)]
    quiet: u8,
}

/// Options of servers (`listen --echo`, `listen --exec`, `relay`).
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Servers (listen --echo/--exec, relay): handle at most N connections at once.
    /// Further connections are not refused:
    /// they wait in the kernel's listen backlog (not accepted) until a connection
    /// closes. Only refused by the kernel once the backlog is full. Default: what
    /// the open-files limit (ulimit -n) allows, counting the descriptors each
    /// connection needs (1 for --echo, 2 for relay, 3 for --exec) and those of
    /// TLS handshakes and PROXY headers under way, so that accepting never runs out
    /// of descriptors.
    #[arg(long, value_name = "N")]
    max_connections: Option<NonZeroUsize>,
    /// Servers (listen --echo/--exec, relay): on SIGINT/SIGTERM, stop accepting at
    /// once, give open connections SECS
    /// seconds to finish, then close them. A second signal closes them at once.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    grace: Duration,
    /// Servers (listen --echo/--exec, relay): accept and serve on N threads, each
    /// with its own runtime and its own copy of the listening socket (default: the
    /// available cores). --max-connections is divided between them (never more
    /// threads than connections). stdio, ssl: and tls: servers run on one thread.
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
    #[command(flatten)]
    admission: AdmissionArgs,
}

/// Options of servers that admit connections through a TLS handshake or a PROXY
/// header (`ssl:`, `tls:`, `haproxy:`): trust, time limits and per-source caps.
#[derive(Debug, Args)]
#[command(next_help_heading = "Admission (ssl:, tls:, haproxy:)")]
pub(crate) struct AdmissionArgs {
    /// haproxy: servers: believe PROXY headers only from this network (CIDR such as
    /// 10.0.0.0/8, or one address); repeat for several. Without it every peer is
    /// believed, as in Twisted: anyone who can connect can claim any address.
    /// UNIX-socket peers are always trusted.
    #[arg(long, value_name = "CIDR", value_parser = parse_network)]
    proxy_trust: Vec<IpNet>,
    /// haproxy: servers: what to do with a peer outside --proxy-trust: close it
    /// (reject), or serve it as a direct connection with its own address, no header
    /// read (direct).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = UntrustedChoice::Reject)]
    proxy_untrusted: UntrustedChoice,
    /// haproxy: servers: the time a whole PROXY header may take.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "5")]
    proxy_header_timeout: Duration,
    /// haproxy: servers: at most N headers pending from one source (an IPv4
    /// address or an IPv6 /64); more connections from it are closed at once. Not
    /// applied to the sources --proxy-trust names (your load balancers).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PENDING_PER_SOURCE)]
    max_headers_per_source: usize,
    /// haproxy: servers: the most bytes of v2 TLVs a connection keeps (NOOP padding
    /// is dropped and not counted); a header with more is rejected.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_TLV_BYTES)]
    proxy_max_tlv_bytes: usize,
    /// ssl:/tls: servers: the time a whole TLS handshake may take.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "10")]
    tls_handshake_timeout: Duration,
    /// ssl:/tls: servers: at most N handshakes under way from one source (an IPv4
    /// address or an IPv6 /64); more connections from it are closed at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_HANDSHAKES_PER_SOURCE)]
    max_handshakes_per_source: usize,
    /// ssl:, tls: and haproxy: servers: close a connection whose first byte (of
    /// its ClientHello or PROXY header) has not arrived after SECS seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "3")]
    first_byte_timeout: Duration,
}

/// `--send-proxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProxyVersion {
    /// The text header (`PROXY TCP4 ...`).
    V1,
    /// The binary header.
    V2,
}

/// `--proxy-untrusted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum UntrustedChoice {
    /// Close the connection.
    Reject,
    /// Serve it with its own address, without reading a header.
    Direct,
}

impl AdmissionArgs {
    /// The library's options for `haproxy:` wrappers and TLS handshakes.
    fn options(&self) -> (HaproxyOptions, TlsServerOptions) {
        let mut haproxy = HaproxyOptions::default()
            .with_header_timeout(self.proxy_header_timeout)
            .with_first_byte_timeout(self.first_byte_timeout)
            .with_max_pending_per_source(self.max_headers_per_source)
            .with_max_tlv_bytes(self.proxy_max_tlv_bytes)
            .with_untrusted(match self.proxy_untrusted {
                UntrustedChoice::Reject => Untrusted::Reject,
                UntrustedChoice::Direct => Untrusted::Direct,
            });
        if !self.proxy_trust.is_empty() {
            haproxy = haproxy.with_trusted(self.proxy_trust.iter().copied());
        }
        let tls = TlsServerOptions::default()
            .with_handshake_timeout(self.tls_handshake_timeout)
            .with_first_byte_timeout(self.first_byte_timeout)
            .with_max_handshakes_per_source(self.max_handshakes_per_source);
        (haproxy, tls)
    }
}

/// A network (`10.0.0.0/8`, `2001:db8::/32`) or one address (`192.0.2.1`).
fn parse_network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a network (10.0.0.0/8) or an ip address"))
}

/// Arguments of `strports listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Where to listen: a server description such as tcp:8080,
    /// unix:/tmp/s.sock, systemd:domain=INET:index=0, fd:3, ssl:443:...
    #[arg(value_name = "SERVER_DESC", required_unless_present = "listen")]
    server: Option<String>,
    /// Also listen on SERVER_DESC (repeat for more; with --echo or --exec): every
    /// listener is opened before any is served, and they share the connection
    /// limit and the shutdown.
    #[arg(short = 'l', long = "listen", value_name = "SERVER_DESC")]
    listen: Vec<String>,
    /// Echo every connection back to itself, until SIGINT/SIGTERM.
    #[arg(long, conflicts_with = "exec")]
    echo: bool,
    /// Connect each connection to a new `sh -c CMD` (its stdin and stdout; its
    /// stderr is ours). Shell rules apply: quoting, pipes, $VARS.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Arguments of `strports connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Where to connect: a client description such as tcp:example.com:80,
    /// unix:/tmp/s.sock, tls:example.com:443
    #[arg(value_name = "CLIENT_DESC")]
    client: String,
    #[command(flatten)]
    common: CommonArgs,
}

/// Arguments of `strports relay`.
#[derive(Debug, Args)]
#[command(override_usage = "strports relay [OPTIONS] [SERVER_DESC] <CLIENT_DESC>")]
pub(crate) struct RelayArgs {
    /// SERVER_DESC: where to listen (a server description; it may be left out when
    /// --listen gives the servers). CLIENT_DESC: where to connect for each
    /// accepted connection (a client description).
    #[arg(value_names = ["SERVER_DESC", "CLIENT_DESC"], num_args = 1..=2, required = true)]
    descriptions: Vec<String>,
    /// Also listen on SERVER_DESC (repeat for more): every listener is opened
    /// before any is served, and they share the connection limit and the
    /// shutdown.
    #[arg(short = 'l', long = "listen", value_name = "SERVER_DESC")]
    listen: Vec<String>,
    /// Start each upstream connection with a PROXY protocol header of this version
    /// naming the accepted client and the address it connected to (behind
    /// haproxy:, the client and address its own header named), as HAProxy's
    /// send-proxy (v1) and send-proxy-v2 (v2) do.
    #[arg(long, value_enum, value_name = "VERSION")]
    send_proxy: Option<ProxyVersion>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Seconds as a non-negative decimal number.
fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a valid duration"))
}

/// Parses a description, or prints the caret error and gives exit status 1.
fn description<T: FromStr<Err = ParseError>>(text: &str) -> Result<T, u8> {
    text.parse().map_err(|err: ParseError| {
        eprint!("{}", error_text(&err, text));
        EXIT_FAILURE
    })
}

/// Parses a client description with [`client_registry`]. Errors as
/// [`description`].
fn client_description(text: &str) -> Result<ClientDescription, u8> {
    client_registry().parse_client(text).map_err(|err| {
        eprint!("{}", error_text(&err, text));
        EXIT_FAILURE
    })
}

/// How much a command logs by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chatter {
    /// Servers: `info`, one summary line per connection.
    Summaries,
    /// `connect`: `warn`, silent unless something goes wrong (like `nc`); `-v` gives
    /// the summary line.
    Quiet,
}

/// The log level for `-v`/`-q` counts (`RUST_LOG` aside).
fn level(verbose: u8, quiet: u8, chatter: Chatter) -> &'static str {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let default: i32 = match chatter {
        Chatter::Summaries => 3,
        Chatter::Quiet => 2,
    };
    let at = (default + i32::from(verbose) - i32::from(quiet)).clamp(0, 5);
    LEVELS[at as usize]
}

/// Sets up `tracing` output on stderr.
fn init_logging(common: &CommonArgs, chatter: Chatter) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(level(common.verbose, common.quiet, chatter)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Descriptors a connection holds: its socket, and for a relay the upstream
/// socket, for --exec the child's stdin and stdout pipes.
fn descriptors_per_connection(handler: &Handler) -> usize {
    match handler {
        Handler::Echo => 1,
        Handler::Connect { name: "child", .. } => 3,
        Handler::Connect { .. } => 2,
    }
}

/// The open-files limit (soft), if there is one.
fn open_files_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into `limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    usize::try_from(limit.rlim_cur).ok()
}

/// The default `--max-connections` under `open_files` descriptors (as HAProxy
/// derives `maxconn` from `ulimit -n`): after a reserve for the process itself
/// (standard streams, listeners, logs, files read for TLS: 16 and a sixteenth of
/// the limit), the descriptors of the connections in a step (`steps`: TLS
/// handshakes and PROXY headers under way, at most a quarter of the rest, their
/// limits lowered to fit), and `per_connection` for each connection.
fn derived_limits(open_files: usize, per_connection: usize, steps: usize) -> (usize, usize) {
    let spare = open_files.saturating_sub(16 + open_files / 16);
    let steps = steps.min(spare / 4);
    let connections = (spare - steps) / per_connection.max(1);
    (connections.max(1), steps.max(1))
}

/// How many connections can be in a step (TLS handshake, PROXY header) at once in
/// `server`, with these options.
fn step_slots(server: &ServerDescription, options: &ServeOptions) -> usize {
    match server {
        ServerDescription::Haproxy(inner) => {
            options.haproxy.max_pending() + step_slots(inner, options)
        }
        ServerDescription::Ssl(_) | ServerDescription::Tls(_) => options.tls.max_handshakes(),
        _ => 0,
    }
}

/// Fills in the default connection limit from the open-files limit (see
/// [`derived_limits`]) unless `--max-connections` was given.
fn fit_open_files(servers: &[ServerDescription], handler: &Handler, options: &mut ServeOptions) {
    if options.max_connections.is_some() {
        return;
    }
    let Some(open_files) = open_files_limit() else {
        return;
    };
    let per_connection = descriptors_per_connection(handler);
    let steps = servers.iter().map(|s| step_slots(s, options)).sum();
    let (connections, steps_fit) = derived_limits(open_files, per_connection, steps);
    if steps_fit < steps {
        // Lower the step limits in proportion.
        let scale = |n: usize| (n * steps_fit / steps).max(1);
        options.haproxy = options
            .haproxy
            .clone()
            .with_max_pending(scale(options.haproxy.max_pending()));
        options.tls = options
            .tls
            .with_max_handshakes(scale(options.tls.max_handshakes()));
    }
    options.max_connections = Some(connections);
    tracing::debug!(
        "at most {connections} connections at once (open-files limit {open_files}, \
         {per_connection} per connection); --max-connections sets another"
    );
}

/// Whether `server` is a `haproxy:` server reachable over a network (not only
/// through a UNIX socket, whose `mode` says who may connect).
fn proxied_over_network(server: &ServerDescription) -> bool {
    fn on_unix(server: &ServerDescription) -> bool {
        match server {
            ServerDescription::Haproxy(inner) => on_unix(inner),
            ServerDescription::Unix(_) => true,
            _ => false,
        }
    }
    matches!(server, ServerDescription::Haproxy(_)) && !on_unix(server)
}

/// Warns when a `haproxy:` server on a network believes every peer's PROXY header
/// (no `--proxy-trust`): anyone who can connect can then claim any address.
fn warn_untrusted_proxies(servers: &[ServerDescription], options: &ServeOptions) {
    if options.haproxy.trusted().is_some() {
        return;
    }
    for server in servers.iter().filter(|s| proxied_over_network(s)) {
        tracing::warn!(
            server = %server,
            "PROXY headers are believed from any peer that can connect; name the load \
             balancers' networks with --proxy-trust CIDR"
        );
    }
}

fn serve_options(common: &CommonArgs, serve: &ServeArgs) -> ServeOptions {
    let (haproxy, tls) = serve.admission.options();
    ServeOptions {
        haproxy,
        tls,
        max_connections: serve.max_connections.map(NonZeroUsize::get),
        idle_timeout: common.idle_timeout,
        grace: serve.grace,
        threads: serve.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        ),
    }
}

/// The servers of `listen` and `relay`: `first` (the positional one, if given),
/// then each `--listen`, in order.
fn server_descriptions(
    first: Option<&String>,
    more: &[String],
) -> Result<Vec<ServerDescription>, u8> {
    first
        .into_iter()
        .chain(more)
        .map(|text| description(text))
        .collect()
}

/// Exit status of a usage error (as clap's).
const EXIT_USAGE: u8 = 2;

/// A usage error found after parsing (clap's status 2).
fn usage(message: &str) -> u8 {
    eprintln!("error: {message}\n\nFor more information, try '--help'.");
    EXIT_USAGE
}

/// Runs `strports listen`.
pub(crate) fn run_listen(args: ListenArgs) -> u8 {
    let mut servers = match server_descriptions(args.server.as_ref(), &args.listen) {
        Ok(d) => d,
        Err(status) => return status,
    };
    if !args.echo && args.exec.is_none() && servers.len() > 1 {
        return usage("listen takes one SERVER_DESC without --echo or --exec");
    }
    init_logging(&args.common, Chatter::Summaries);
    let handler = if args.echo {
        Some(Handler::Echo)
    } else if let Some(cmd) = &args.exec {
        match exec_description(cmd) {
            Ok(desc) => Some(Handler::Connect {
                desc,
                name: "child",
                send_proxy: None,
            }),
            Err(status) => return status,
        }
    } else {
        None
    };
    let mut options = serve_options(&args.common, &args.serve);
    if let Some(handler) = &handler {
        fit_open_files(&servers, handler, &mut options);
    }
    warn_untrusted_proxies(&servers, &options);
    let idle = args.common.idle_timeout;
    match (args.common.runtime, handler) {
        (RuntimeChoice::Tokio, Some(h)) => serve::<Tokio>(servers, h, options),
        (RuntimeChoice::Smol, Some(h)) => serve::<Smol>(servers, h, options),
        (runtime, None) => {
            let Some(server) = servers.pop() else {
                return usage("listen needs a SERVER_DESC");
            };
            match runtime {
                RuntimeChoice::Tokio => {
                    Tokio::run(|_| session::listen_stdio::<Tokio>(server, idle))
                }
                RuntimeChoice::Smol => Smol::run(|_| session::listen_stdio::<Smol>(server, idle)),
            }
        }
    }
}

/// `--exec CMD` as a `process:` client description running `sh -c CMD`, with the
/// child's stderr passed through to ours. When this server reports to systemd
/// (`NOTIFY_SOCKET`), the shell first unsets that variable: the service manager's
/// socket is the server's, not its children's (as the `LISTEN_*` variables, which
/// `main` removes).
fn exec_description(cmd: &str) -> Result<ClientDescription, u8> {
    let script = if std::env::var_os("NOTIFY_SOCKET").is_some() {
        format!("unset NOTIFY_SOCKET\n{cmd}")
    } else {
        cmd.to_owned()
    };
    client_description(&format!("process:sh:-c:{}:errFlag=inherit", quote(&script)))
}

/// Runs `strports connect`.
pub(crate) fn run_connect(args: ConnectArgs) -> u8 {
    let client: ClientDescription = match client_description(&args.client) {
        Ok(d) => d,
        Err(status) => return status,
    };
    init_logging(&args.common, Chatter::Quiet);
    let idle = args.common.idle_timeout;
    match args.common.runtime {
        RuntimeChoice::Tokio => Tokio::run(|_| session::connect::<Tokio>(client, idle)),
        RuntimeChoice::Smol => Smol::run(|_| session::connect::<Smol>(client, idle)),
    }
}

/// Runs `strports relay`.
pub(crate) fn run_relay(args: RelayArgs) -> u8 {
    let (server, client) = match args.descriptions.as_slice() {
        [server, client] => (Some(server), client),
        [client] if !args.listen.is_empty() => (None, client),
        _ => return usage("relay needs a SERVER_DESC (or --listen) and a CLIENT_DESC"),
    };
    let servers = match server_descriptions(server, &args.listen) {
        Ok(d) => d,
        Err(status) => return status,
    };
    let client: ClientDescription = match client_description(client) {
        Ok(d) => d,
        Err(status) => return status,
    };
    init_logging(&args.common, Chatter::Summaries);
    let handler = Handler::Connect {
        desc: client,
        name: "upstream",
        send_proxy: args.send_proxy.map(|v| match v {
            ProxyVersion::V1 => Version::V1,
            ProxyVersion::V2 => Version::V2,
        }),
    };
    let mut options = serve_options(&args.common, &args.serve);
    fit_open_files(&servers, &handler, &mut options);
    warn_untrusted_proxies(&servers, &options);
    match args.common.runtime {
        RuntimeChoice::Tokio => serve::<Tokio>(servers, handler, options),
        RuntimeChoice::Smol => serve::<Smol>(servers, handler, options),
    }
}

/// Runs a server on a fresh `R` runtime.
fn serve<R: CliRuntime>(
    servers: Vec<ServerDescription>,
    handler: Handler,
    options: ServeOptions,
) -> u8 {
    R::run(|spawner| session::serve::<R>(spawner, servers, handler, options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_is_quiet_by_default_and_servers_log_summaries() {
        assert_eq!(level(0, 0, Chatter::Quiet), "warn");
        assert_eq!(level(1, 0, Chatter::Quiet), "info");
        assert_eq!(level(0, 0, Chatter::Summaries), "info");
        assert_eq!(level(1, 0, Chatter::Summaries), "debug");
        assert_eq!(level(9, 0, Chatter::Summaries), "trace");
        assert_eq!(level(0, 1, Chatter::Summaries), "warn");
        assert_eq!(level(0, 3, Chatter::Summaries), "off");
        assert_eq!(level(0, 9, Chatter::Quiet), "off");
    }

    #[test]
    fn the_default_connection_limit_fits_the_open_files_limit() {
        // 1024 descriptors, relaying: 1024 - 16 - 64 = 944 spare, 472 connections.
        assert_eq!(derived_limits(1024, 2, 0), (472, 1));
        // A TLS server's 256 handshakes fit in a quarter of the spare ones.
        assert_eq!(derived_limits(1024, 1, 256), (944 - 236, 236));
        // Tiny limits still allow one connection.
        assert_eq!(derived_limits(8, 3, 1024), (1, 1));
        let big = derived_limits(1 << 20, 2, 1280);
        assert_eq!(big.1, 1280);
    }

    #[test]
    fn only_proxied_network_servers_need_a_trust_list() {
        let proxied = |text: &str| proxied_over_network(&text.parse().expect("description"));
        assert!(proxied("haproxy:tcp:8080"));
        assert!(proxied("haproxy:ssl:443"));
        assert!(!proxied("haproxy:haproxy:unix:/s"));
        assert!(!proxied("haproxy:unix:/run/s.sock"));
        assert!(!proxied("tcp:8080"));
    }

    #[test]
    fn networks_and_addresses_are_trusted_sources() {
        assert_eq!(
            parse_network("10.0.0.0/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".to_owned())
        );
        assert_eq!(
            parse_network("192.0.2.1").map(|n| n.to_string()),
            Ok("192.0.2.1/32".to_owned())
        );
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn exec_runs_the_command_through_sh() {
        let desc = exec_description("tr a-z A-Z | cat -n: x=1").expect("valid");
        let ClientDescription::Process(p) = desc else {
            panic!("not a process description");
        };
        assert_eq!(p.argv, ["sh", "-c", "tr a-z A-Z | cat -n: x=1"]);
    }
}
