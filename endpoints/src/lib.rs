//! Every strports endpoint written once, generic over a small async [`Runtime`].
//!
//! `strports-core` parses descriptions (`tcp:8080:interface=127.0.0.1`,
//! `ssl:443:privateKey=key.pem`, `haproxy:unix:/run/app.sock`, ...); this crate opens
//! them: [`listen`] gives a [`Listener`], [`connect`] a [`Stream`], [`serve`] runs a
//! handler per connection. It is written against the [`Runtime`] trait (a reactor
//! for non-blocking descriptors, timers, spawning, blocking work, child processes),
//! which `strports-tokio` and `strports-smol` implement; use those crates, which
//! name these types for their runtime (`strports_tokio::Listener` is
//! `Listener<strports_tokio::Tokio>`). Streams implement [`futures_io`]'s traits,
//! and with the `tokio-io` feature tokio's too.
//!
//! The modules depend on each other one way only: the runtime trait and [`io`] at
//! the bottom; the transports ([`connect`](mod@connect) for TCP and UNIX clients,
//! [`process`], [`stdio`]) and [`stream`]; the wrappers ([`tls`], [`haproxy`]) over
//! any listener ([`wrap`]); [`listener`]; the recursive open of descriptions
//! ([`open`]); and [`serve`](mod@serve) on top.

pub mod accept;
pub mod connect;
mod happy_eyeballs;
pub mod haproxy;
pub mod in_flight;
pub mod io;
pub mod listener;
pub mod open;
pub mod process;
pub mod route;
pub mod runtime;
pub mod serve;
pub mod stdio;
pub mod stream;
pub mod tasks;
pub mod tls;
pub mod wrap;

pub use haproxy::ProxyListener;
pub use listener::Listener;
pub use open::{Client, Connector, Server, SystemResolver, connect, listen};
pub use process::ProcessStream;
pub use runtime::{Child, ChildStdio, Descriptor, Interest, Runtime, Spawn};
pub use serve::{ServeOptions, Serving, serve, serve_with};
pub use stdio::{StdioListener, StdioStream};
pub use stream::{Proxied, Stream, TlsStream};
pub use strports_core::proxy_protocol::HaproxyOptions;
pub use tls::{DEFAULT_HANDSHAKE_TIMEOUT, TlsAcceptorStep, TlsListener};
