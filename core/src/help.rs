//! Ready-made help texts that list the description types, one example each, for a
//! program's `--help` (clap's `long_help`, or any other argument parser).
//!
//! ```
//! let help = strports_core::help::SERVER;
//! assert!(help.lines().any(|l| l.trim_start().starts_with("tcp:8080")));
//! // Each listed example parses.
//! for line in strports_core::help::CLIENT.lines().filter(|l| l.starts_with("  ")) {
//!     let example = line.split_whitespace().next().unwrap();
//!     example.parse::<strports_core::ClientDescription>().unwrap();
//! }
//! ```

/// The first line of every help text: the grammar in one sentence.
macro_rules! grammar {
    () => {
        "A description is TYPE:ARG:...:KEY=VALUE; a backslash escapes the next character (write IPv6 addresses as \\:\\:1).\n"
    };
}

/// The `process:` line.
macro_rules! process_line {
    () => {
        "  process:ssh:host:nc\\:localhost\\:80      run a program: its stdin and stdout are the connection; argv as positionals; path, env (inherit), errFlag (log)\n"
    };
}

/// The network client types.
macro_rules! client_lines {
    () => {
        concat!(
            "Client types, by example:\n",
            "  tcp:example.com:80                      TCP: host, port; timeout (30 s), bindAddress\n",
            "  ssl:example.com:443                     TLS over TCP, certificate and host name verified: as tcp, plus hostname, certKey, privateKey, caCertsDir, alpn\n",
            "  unix:/run/app.sock                      UNIX socket: path (@name: abstract); timeout, lockfile\n",
            "  tls:example.com:443                     TLS, verified: host, port, timeout, bindAddress, certificate, privateKey, trustRoots, endpoint (another client description to run TLS over), alpn\n",
        )
    };
}

/// Every server type (`SERVER_TYPES`), an example and its parameters (defaults in
/// parentheses), for `long_help`.
pub const SERVER: &str = concat!(
    grammar!(),
    "Server types, by example:\n",
    "  tcp:8080:interface=127.0.0.1            TCP over IPv4: port, interface (all), backlog (50)\n",
    "  tcp6:8080:interface=\\:\\:1               TCP over IPv6: port, backlog (50), interface (::)\n",
    "  unix:/run/app.sock:mode=660             UNIX socket: path (@name: abstract), mode (666), backlog (50), lockfile (on)\n",
    "  ssl:8443:privateKey=key.pem             TLS over TCP: port, privateKey (server.pem), certKey, sslmethod, interface, backlog, extraCertChain, alpn\n",
    "  tls:/etc/certs:8443                     TLS, certificates chosen by SNI from the *.pem files of a directory: path, port (443), backlog, interface (::), alpn\n",
    "  systemd:domain=INET:index=0             a socket passed by systemd socket activation: domain (INET, INET6, UNIX), index or name\n",
    "  stdio                                   one connection over standard input and output\n",
    "  fd:3:domain=INET                        an inherited listening socket: fileno, domain\n",
    "  haproxy:tcp:8080                        a PROXY protocol v1/v2 header before each connection's data, over any server description\n",
);

/// Every network client type (`CLIENT_TYPES`: what a plain parse knows), an example
/// and its parameters, for `long_help`.
pub const CLIENT: &str = concat!(grammar!(), client_lines!());

/// [`CLIENT`] and the program type `process:`, for a client argument parsed with
/// programs allowed ([`Registry::with_programs`](crate::Registry::with_programs)).
pub const CLIENT_WITH_PROGRAMS: &str = concat!(grammar!(), client_lines!(), process_line!());
