//! The `strports` command: inspect Twisted endpoint descriptions from the shell.
//!
//! Each subcommand lives in its own module; `main` only parses the command line
//! and dispatches. Subcommands return the process exit status:
//!
//! * `0`: success;
//! * `1`: the command ran but failed (for example, a description did not parse);
//! * `2`: a usage error, reported by clap.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod json;
mod parse_cmd;

/// Examples shown by `strports --help`.
const EXAMPLES: &str = "\
Examples:
  strports parse --server tcp:8080:interface=127.0.0.1
  strports parse --client 'tls:example.com:443' --json
  strports parse --raw 'tcp:80:interface=\\:\\:1'
  strports quote 'C:\\keys\\a=b.pem'";

/// Twisted's endpoint description language: parse, check and quote descriptions.
#[derive(Debug, Parser)]
#[command(name = "strports", version, about, after_help = EXAMPLES)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `strports`.
#[derive(Debug, Subcommand)]
enum Command {
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
    let cli = Cli::parse();
    match cli.command {
        Command::Parse(args) => parse_cmd::run_parse(&args),
        Command::Quote(args) => parse_cmd::run_quote(&args),
    }
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
