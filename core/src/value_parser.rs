//! Descriptions as clap arguments (feature `clap`): value parsers whose error shows
//! the description with a caret under the offending text.
//!
//! [`ServerDescription`] and [`ClientDescription`] implement clap's
//! `ValueParserFactory`, so a field of either type just works with clap's derive
//! (clients then know the network types only); [`ClientDescriptionParser::with_programs`]
//! also takes `process:`, and [`help`](crate::help) has `long_help` texts that list
//! the types.
//!
//! ```
//! use clap::Parser;
//! use strports_core::value_parser::ClientDescriptionParser;
//! use strports_core::{ClientDescription, ServerDescription, help};
//!
//! /// Relays every connection accepted on SERVER to CLIENT.
//! #[derive(Debug, Parser)]
//! struct Args {
//!     /// Where to listen.
//!     #[arg(value_name = "SERVER", long_help = help::SERVER)]
//!     server: ServerDescription,
//!     /// Where to connect (process: allowed: the user typed the command).
//!     #[arg(
//!         value_name = "CLIENT",
//!         value_parser = ClientDescriptionParser::with_programs(),
//!         long_help = help::CLIENT_WITH_PROGRAMS,
//!     )]
//!     client: ClientDescription,
//! }
//!
//! let args = Args::try_parse_from(["relay", "tcp:8080", "process:cat"])?;
//! assert_eq!(args.server.to_string(), "tcp:8080");
//! assert_eq!(args.client.type_name(), "process");
//!
//! let err = Args::try_parse_from(["relay", "tcp:70000", "tcp:h:80"]).unwrap_err();
//! assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
//! assert!(err.to_string().contains(concat!(
//!     "error: invalid value for '<SERVER>':\n",
//!     "tcp:70000\n",
//!     "    ^\n",
//!     "invalid port \"70000\" at offset 4: must be 0-65535\n",
//! )));
//! # Ok::<(), clap::Error>(())
//! ```

use std::ffi::OsStr;

use clap::builder::{TypedValueParser, ValueParserFactory};
use clap::error::{Error, ErrorKind};
use clap::{Arg, Command};

use crate::{ClientDescription, ParseError, Registry, ServerDescription};

/// The clap error for `text`, which failed to parse with `err`: the argument, then
/// the description with a caret under the offending byte and the message.
fn invalid(cmd: &Command, arg: Option<&Arg>, text: &str, err: &ParseError) -> Error {
    let what = match arg {
        Some(arg) => format!("invalid value for '{arg}'"),
        None => "invalid value".to_owned(),
    };
    Error::raw(
        ErrorKind::ValueValidation,
        format!("{what}:\n{}\n", err.caret(text)),
    )
    .with_cmd(cmd)
}

/// The text of an argument, or clap's error for one that is not UTF-8.
fn text<'a>(cmd: &Command, value: &'a OsStr) -> Result<&'a str, Error> {
    value
        .to_str()
        .ok_or_else(|| Error::new(ErrorKind::InvalidUtf8).with_cmd(cmd))
}

/// Parses server descriptions with a [`Registry`] (the built-in types by default).
#[derive(Debug, Clone, Default)]
pub struct ServerDescriptionParser {
    registry: Registry,
}

impl ServerDescriptionParser {
    /// The built-in server types.
    pub fn new() -> Self {
        Self::default()
    }

    /// The types of `registry` (extension types included).
    pub fn with_registry(registry: Registry) -> Self {
        ServerDescriptionParser { registry }
    }
}

impl TypedValueParser for ServerDescriptionParser {
    type Value = ServerDescription;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<ServerDescription, Error> {
        let text = text(cmd, value)?;
        self.registry
            .parse_server(text)
            .map_err(|e| invalid(cmd, arg, text, &e))
    }
}

impl ValueParserFactory for ServerDescription {
    type Parser = ServerDescriptionParser;

    fn value_parser() -> ServerDescriptionParser {
        ServerDescriptionParser::new()
    }
}

/// Parses client descriptions with a [`Registry`]: by default the network types only;
/// [`with_programs`](ClientDescriptionParser::with_programs) adds `process:`.
#[derive(Debug, Clone, Default)]
pub struct ClientDescriptionParser {
    registry: Registry,
}

impl ClientDescriptionParser {
    /// The built-in network client types (what `str::parse` knows).
    pub fn new() -> Self {
        Self::default()
    }

    /// The network types and the program types (`process:`): for a command line
    /// whose user writes the description ([`Registry::with_programs`]).
    pub fn with_programs() -> Self {
        ClientDescriptionParser {
            registry: Registry::with_programs(),
        }
    }

    /// The types of `registry`.
    pub fn with_registry(registry: Registry) -> Self {
        ClientDescriptionParser { registry }
    }
}

impl TypedValueParser for ClientDescriptionParser {
    type Value = ClientDescription;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<ClientDescription, Error> {
        let text = text(cmd, value)?;
        self.registry
            .parse_client(text)
            .map_err(|e| invalid(cmd, arg, text, &e))
    }
}

impl ValueParserFactory for ClientDescription {
    type Parser = ClientDescriptionParser;

    fn value_parser() -> ClientDescriptionParser {
        ClientDescriptionParser::new()
    }
}
