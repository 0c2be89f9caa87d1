//! rustls configurations for `ssl:` and `tls:` endpoints, built from PEM *bytes*
//! (feature `tls`).
//!
//! This module never touches the filesystem or a clock: `strports-sys` reads the files
//! a description names and hands their contents here as [`PemFile`]s; the backends wrap
//! their streams with `tokio-rustls` / `futures-rustls` using the configs built here.
//!
//! The crypto provider is always passed explicitly (`builder_with_provider`): nothing
//! here installs or relies on rustls' process-wide default provider, so a program that
//! links two providers cannot panic because of strports. [`default_provider`] is the one
//! the backends pass unless told otherwise.
//!
//! | description | built by |
//! | --- | --- |
//! | `ssl:` server | [`ssl_server_config`] (certificate + the key that matches it) |
//! | `tls:` server | [`tls_server_config`] over a [`SniResolver`] (a directory, by SNI) |
//! | `ssl:` / `tls:` client | [`client_config`] with [`trust_roots`] or platform roots, [`certified_key`] for a client certificate, [`server_name`] to verify |
//!
//! Handshake failures are turned into distinct, readable errors by
//! [`describe_tls_error`] / [`describe_handshake_error`].
//!
//! ```
//! use strports_core::tls;
//! let provider = tls::default_provider();
//! let roots = std::sync::Arc::new(tls::rustls::RootCertStore::empty());
//! # // An empty store is refused by the verifier; a real caller loads roots first.
//! assert!(tls::client_config(roots, None, vec![b"h2".to_vec()], provider).is_err());
//! ```

mod client;
mod error;
mod pem;
mod server;
mod sni;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

pub use client::{client_config, server_name, trust_roots};
pub use error::{
    TlsClientContext, TlsError, TlsErrorKind, TlsMaterialError, describe_handshake_error,
    describe_tls_error, server_name_text,
};
pub use pem::PemFile;
pub use server::{
    SslServerFiles, certified_key, protocol_versions, server_config, ssl_server_config,
};
pub use sni::{CertDirectory, DEFAULT_RESCAN_INTERVAL, ScanCounts, SniResolver, tls_server_config};

/// The rustls version these configs are built with, for callers that need its types.
pub use rustls;

/// The crypto provider the backends pass by default: rustls' `ring` provider.
///
/// Why `ring` rather than `aws-lc-rs` (rustls' own default): `ring` builds with just a
/// C compiler in seconds on every target we care about, while `aws-lc-rs` compiles the
/// much larger AWS-LC C library (about 100 s here; CMake for some targets and for FIPS,
/// NASM on Windows). Both give TLS 1.2/1.3 with ECDHE and the usual signature schemes;
/// the published handshake figures (BENCHMARKS.md) were measured with `ring`.
/// Callers who want another provider pass their own `Arc<CryptoProvider>` everywhere.
///
/// Each call builds a fresh provider value; build configs once per endpoint.
pub fn default_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
