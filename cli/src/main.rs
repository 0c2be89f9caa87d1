//! The `strports` command: listen, connect and relay with Twisted endpoint
//! descriptions, on tokio or smol; parse and quote descriptions.
//!
//! Each subcommand lives in its own module; `main` only parses the command line
//! and dispatches. Subcommands return the process exit status:
//!
//! * `0`: success;
//! * `1`: the command ran but failed (a description did not parse, cannot listen or
//!   connect, a stdio session ended with an error);
//! * `2`: a usage error, reported by clap;
//! * `130`/`143`: a `connect` or `listen` stdio session ended by SIGINT/SIGTERM.
//!
//! The networking commands are written once (`session.rs`, `pipe.rs`,
//! `conns.rs`), generic over the endpoints library's `Runtime` trait and its
//! serve loop; the small `runtime::CliRuntime` trait adds what only the tool needs
//! (signals, running a session), implemented in `rt_tokio.rs` and `rt_smol.rs`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod conns;
mod json;
mod net_cmd;
mod notify;
mod parse_cmd;
mod pipe;
mod rt_smol;
mod rt_tokio;
mod runtime;
mod session;

/// Examples shown by `strports --help`.
const EXAMPLES: &str = "\
Examples:
  strports listen --echo unix:/tmp/echo.sock &
  echo hello | strports connect unix:/tmp/echo.sock
  strports relay tcp:8080 unix:/run/app.sock
  strports listen --exec 'tr a-z A-Z' tcp:9000:interface=127.0.0.1
  strports parse --server tcp:8080:interface=127.0.0.1
  strports parse --client 'tls:example.com:443' --json
  strports parse --raw 'tcp:80:interface=\\:\\:1'
  strports quote 'C:\\keys\\a=b.pem'";

/// `strports --help`'s epilogue: examples, then exit statuses.
fn concat_help() -> String {
    format!("{EXAMPLES}\n\n{}", net_cmd::EXIT_STATUSES)
}

/// Twisted's endpoint descriptions: listen, connect and relay between any two of
/// them (on tokio or smol), or parse and quote them.
#[derive(Debug, Parser)]
#[command(name = "strports", version, about, after_help = concat_help())]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The extension client type the tool adds, in the style of the core help texts.
const SOCKS5_HELP: &str = "  socks5:example.com:80:endpoint=tcp\\:127.0.0.1\\:1080   through a SOCKS5 proxy (strports-socks5): host, port, endpoint (how to reach the proxy)\n";

/// The subcommands of `strports`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Listen on a server description: relay the first connection to stdin/stdout
    /// (like `nc -l`), or echo (--echo) or run a command (--exec) per connection.
    #[command(
        after_help = format!("{}\n\n{}", net_cmd::LISTEN_EXAMPLES, net_cmd::EXIT_STATUSES),
        after_long_help = format!(
            "{}\n{}\n\n{}",
            strports_core::help::SERVER,
            net_cmd::LISTEN_EXAMPLES,
            net_cmd::EXIT_STATUSES
        )
    )]
    Listen(net_cmd::ListenArgs),
    /// Connect to a client description and relay stdin/stdout (like `nc`).
    #[command(
        after_help = format!("{}\n\n{}", net_cmd::CONNECT_EXAMPLES, net_cmd::EXIT_STATUSES),
        after_long_help = format!(
            "{}{}\n{}\n\n{}",
            strports_core::help::CLIENT_WITH_PROGRAMS,
            SOCKS5_HELP,
            net_cmd::CONNECT_EXAMPLES,
            net_cmd::EXIT_STATUSES
        )
    )]
    Connect(net_cmd::ConnectArgs),
    /// For every connection accepted on SERVER_DESC, connect CLIENT_DESC and copy
    /// both ways (bridges, TLS terminators, PROXY-protocol unwrappers, ...).
    #[command(
        after_help = format!("{}\n\n{}", net_cmd::RELAY_EXAMPLES, net_cmd::EXIT_STATUSES),
        after_long_help = format!(
            "{}\n{}{}\n{}\n\n{}",
            strports_core::help::SERVER,
            strports_core::help::CLIENT_WITH_PROGRAMS,
            SOCKS5_HELP,
            net_cmd::RELAY_EXAMPLES,
            net_cmd::EXIT_STATUSES
        )
    )]
    Relay(net_cmd::RelayArgs),
    /// Parse a server, client or raw description and show its fields.
    ///
    /// Prints the canonical form of the description, then every parameter by
    /// Twisted's name with defaults filled in. Exits with status 1 if the
    /// description is invalid, pointing at the offending text.
    #[command(after_help = parse_cmd::PARSE_EXAMPLES)]
    Parse(parse_cmd::ParseArgs),
    /// Quote a value for use inside a description.
    ///
    /// Escapes `\`, `:` and `=` with a backslash, so that the value survives as one
    /// positional argument or keyword value (including inside a nested description
    /// such as `tls:...:endpoint=`).
    #[command(after_help = parse_cmd::QUOTE_EXAMPLES)]
    Quote(parse_cmd::QuoteArgs),
}

fn main() -> ExitCode {
    // Before any thread exists: take the sockets systemd passed (if any) and remove
    // LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment, as
    // sd_listen_fds(1) does, so `--exec` children inherit neither; `systemd:`
    // descriptions find the sockets in the cache. Not being socket-activated is no
    // error here (a `systemd:` listen reports it).
    let _ = strports_sys::adopt::listen_fds();
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => parse_cmd::run_parse(&args),
        Command::Quote(args) => parse_cmd::run_quote(&args),
        Command::Listen(args) => exit(net_cmd::run_listen(args)),
        Command::Connect(args) => exit(net_cmd::run_connect(args)),
        Command::Relay(args) => exit(net_cmd::run_relay(args)),
    }
}

/// Ends the process with `status` right away: nothing is left to clean up (the
/// sessions closed their listeners and streams), and exiting here means no runtime
/// teardown can wait on a thread blocked reading a terminal.
fn exit(status: u8) -> ExitCode {
    std::process::exit(i32::from(status))
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
