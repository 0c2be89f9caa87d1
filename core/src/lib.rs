//! The sans-IO core of strports: Twisted's endpoint description language, typed.
//!
//! A *description* is one string that says where to listen or connect:
//! `tcp:8080:interface=127.0.0.1`, `unix:/run/app.sock:mode=660`,
//! `tls:example.com:443`. This crate parses descriptions into [`ServerDescription`]
//! and [`ClientDescription`] values, prints them back in a canonical form, and
//! reports bad ones with a [`ParseError`] that says what and where. It never opens
//! a socket, reads a file or a clock, or depends on an async runtime: the backends
//! (`strports-tokio`, `strports-smol`) do that.
//!
//! ```
//! use strports_core::{ClientDescription, ServerDescription};
//!
//! let server: ServerDescription = "unix:/run/app.sock:mode=660".parse()?;
//! assert_eq!(server.to_string(), "unix:/run/app.sock:mode=660");
//!
//! let client: ClientDescription = r"tls:example.com:443:endpoint=tcp\:10.0.0.1\:443".parse()?;
//! assert_eq!(client.type_name(), "tls");
//! # Ok::<(), strports_core::ParseError>(())
//! ```
#![forbid(unsafe_code)]

pub mod args;
#[cfg(feature = "axum")]
mod axum_impl;
mod client;
mod common;
pub mod endpoint;
mod error;
mod fields;
pub mod grammar;
pub mod happy_eyeballs;
pub mod help;
mod hint;
pub mod proxy_protocol;
mod registry;
#[cfg(feature = "serde")]
mod serde_impl;
mod server;
pub mod systemd;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "clap")]
pub mod value_parser;

pub use args::Arguments;
pub use client::{
    ClientDescription, DEFAULT_TIMEOUT, ProcessClient, ProcessEnv, SslClient, StderrPolicy,
    TcpClient, TlsClient, UnixClient,
};
pub use common::{
    CLIENT_TYPES, Domain, PROGRAM_CLIENT_TYPES, SERVER_TYPES, SslMethod, UnixAddress, dns_name,
    escape_control,
};
pub use endpoint::{Address, ClientEndpoint, Listener, ServerEndpoint};
pub use error::{ParseError, ParseErrorKind};
pub use fields::FieldValue;
pub use grammar::quote;
pub use registry::{Extension, ExtensionValue, Registry, RegistryError};
pub use server::{
    AdoptedServer, DEFAULT_BACKLOG, DEFAULT_UNIX_MODE, MAX_BACKLOG, ServerDescription, SslServer,
    SystemdSelector, SystemdServer, TcpServer, TlsServer, UnixServer,
};
