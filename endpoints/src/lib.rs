//! Every strports endpoint written once, generic over a small async [`Runtime`].
//!
//! `strports-core` parses descriptions (`tcp:8080:interface=127.0.0.1`,
//! `ssl:443:privateKey=key.pem`, `haproxy:unix:/run/app.sock`, ...); this crate opens
//! them: [`listen`] gives a [`Listener`], [`connect()`] a [`Stream`], [`serve()`] runs a
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
//!
//! # PROXY protocol (`haproxy:`)
//!
//! `haproxy:<server description>` listens as the inner description says, and every
//! accepted connection must then start with a PROXY protocol v1 or v2 header (what a
//! load balancer such as HAProxy sends with `send-proxy` or `send-proxy-v2`). `accept`
//! returns a [`Stream::Proxied`] whose `peer_addr` and `local_addr` are the
//! header's source and destination (the connection's own for a LOCAL or `UNKNOWN`
//! header); the bytes after the header reach the application unchanged. Headers are
//! read concurrently while `accept` is awaited, so a slow client holds up no other.
//! A connection whose header is missing, malformed, for a datagram flow or not
//! complete within the header timeout (5 s by default: [`HaproxyOptions`], set with
//! [`Server::with_haproxy_options`]) is closed, logged and counted
//! ([`Listener::proxy_rejections`]). For `haproxy:ssl:` and `haproxy:tls:` the header
//! comes first, then the TLS handshake.
//!
//! # UNIX sockets
//!
//! A `unix` path server takes Twisted's lock file `<path>.lock` (unless
//! `lockfile=0`), sets `mode` before the socket listens, and removes a stale socket
//! left by a dead owner. Dropping the [`Listener`] removes the socket file (if it is
//! still the one it bound) and then releases the lock file.
//!
//! # Processes and standard I/O
//!
//! `connect` on `process:prog:arg...` starts the program and gives a
//! [`Stream::Process`] ([`ProcessStream`]): writes go to its stdin, reads come from
//! its stdout, closing the write side (`close()`, tokio's `shutdown()`) closes its stdin. When its stdout ends, the final read
//! waits for the exit: status 0 is EOF; another status or a signal is an error
//! (`process "false" exited with status 1`), and [`Stream::exit_status`] has it.
//! The child leads a process group of its own: dropping the stream sends SIGTERM to
//! the group, then SIGKILL after a grace period ([`process::DEFAULT_KILL_GRACE`]), so
//! nothing it started outlives the stream; the runtime reaps the child in the
//! background. A program that cannot be started fails `connect` with
//! `cannot run "prog": <reason>`.
//!
//! `listen` on `stdio` gives a [`Listener::Stdio`] whose first `accept` is the one
//! connection over fd 0/fd 1 ([`StdioStream`]); the second fails with
//! [`std::io::ErrorKind::NotConnected`], which ends a [`serve()`] loop. Pipes and
//! sockets are read and written through the reactor (non-blocking while the stream
//! exists, so `println!` may then fail with `WouldBlock` on a full pipe: write
//! through the stream); terminals and files are read on a thread and never made
//! non-blocking.

pub mod accept;
pub mod admission;
#[cfg(feature = "axum")]
mod axum_listener;
pub mod connect;
pub mod extension;
mod happy_eyeballs;
pub mod haproxy;
pub mod in_flight;
pub mod io;
pub mod listener;
pub mod open;
pub mod plan;
pub mod process;
pub mod reload;
pub mod route;
pub mod runtime;
pub mod serve;
pub mod stdio;
pub mod stream;
pub mod systemd;
pub mod tasks;
pub mod tls;
mod tls_configs;
pub mod wrap;

pub use haproxy::ProxyListener;
pub use listener::Listener;
pub use open::{Client, Connector, Server, SystemResolver, connect, listen};
pub use process::ProcessStream;
pub use reload::{ReloadError, ReloadFailure, Reloader};
pub use runtime::{Child, ChildStdio, Descriptor, Interest, Runtime, Spawn};
pub use serve::{ServeOptions, Serving, serve, serve_many, serve_many_with, serve_with};
pub use stdio::{StdioListener, StdioStream};
pub use stream::{Proxied, Stream, TlsStream};
pub use strports_core::proxy_protocol::HaproxyOptions;
pub use systemd::{SystemdSocket, listen_systemd};
pub use tls::{DEFAULT_HANDSHAKE_TIMEOUT, TlsAcceptorStep, TlsListener, TlsServerOptions};

#[doc(hidden)]
pub use strports_core as __core;

/// The public API of a runtime's crate, for the runtime `$rt` (a type implementing
/// [`Runtime`]): `strports-core` re-exported as `core` (with `Address`, the
/// descriptions and `ParseError` at the root), the types of this crate named for
/// `$rt` (`Stream`, `Listener`, `Server`, `Client`, ...), and `listen`, `connect`,
/// `serve`, `serve_with` on `$rt`'s default spawner. `strports-tokio` and
/// `strports-smol` are this macro plus their [`Runtime`] implementation.
#[macro_export]
macro_rules! runtime_api {
    ($rt:ty) => {
        pub use $crate::__core as core;
        pub use $crate::__core::{Address, ClientDescription, ParseError, ServerDescription};
        pub use $crate::{
            DEFAULT_HANDSHAKE_TIMEOUT, HaproxyOptions, ReloadError, ReloadFailure, ServeOptions,
            SystemdSocket, TlsAcceptorStep,
        };

        /// The openers of extension types (see `strports_endpoints::extension`).
        pub type Openers = $crate::extension::Openers<$rt>;
        /// A connection (see `strports_endpoints::Stream`).
        pub type Stream = $crate::Stream<$rt>;
        /// A listening socket (see `strports_endpoints::Listener`).
        pub type Listener = $crate::Listener<$rt>;
        /// A server endpoint: a description with options, which can listen.
        pub type Server = $crate::Server<$rt>;
        /// A client endpoint: a description and a [`Connector`], which can connect.
        pub type Client = $crate::Client<$rt>;
        /// Connects with a chosen resolver.
        pub type Connector = $crate::Connector<$rt>;
        /// The system resolver, run on the runtime's blocking pool.
        pub type SystemResolver = $crate::SystemResolver<$rt>;
        /// A running [`serve`] loop.
        pub type Serving = $crate::Serving<$rt>;
        /// A `process:` client's child process.
        pub type ProcessStream = $crate::ProcessStream<$rt>;
        /// The `stdio` server's listener.
        pub type StdioListener = $crate::StdioListener<$rt>;
        /// The `stdio` server's one connection.
        pub type StdioStream = $crate::StdioStream<$rt>;
        /// A connection from a `haproxy:` listener.
        pub type Proxied = $crate::Proxied<$rt>;
        /// The `haproxy:` wrapper around a listener.
        pub type ProxyListener = $crate::ProxyListener<$rt, Listener>;
        /// An `ssl:` / `tls:` listener.
        pub type TlsListener = $crate::TlsListener<$rt, Listener>;
        /// Reloads the certificates of `ssl:` / `tls:` listeners (see
        /// `strports_endpoints::Reloader`).
        pub type Reloader = $crate::Reloader<$rt>;

        /// Starts listening as `desc` says (see `strports_endpoints::listen`).
        pub fn listen(
            desc: &ServerDescription,
        ) -> impl ::std::future::Future<Output = ::std::io::Result<Listener>> + Send + '_ {
            $crate::listen::<$rt>(desc)
        }

        /// Opens every socket systemd passed, with its index, name and family (see
        /// `strports_endpoints::listen_systemd`).
        pub fn listen_systemd() -> impl ::std::future::Future<
            Output = ::std::io::Result<::std::vec::Vec<(SystemdSocket, Listener)>>,
        > + Send {
            $crate::listen_systemd::<$rt>()
        }

        /// Connects as `desc` says (see `strports_endpoints::connect`).
        pub fn connect(
            desc: &ClientDescription,
        ) -> impl ::std::future::Future<Output = ::std::io::Result<Stream>> + Send + '_ {
            $crate::connect::<$rt>(desc)
        }

        /// Serves connections from `listener`, one task per connection running
        /// `handler(stream, peer)`, on the runtime's default spawner (see
        /// `strports_endpoints::serve_with`).
        pub fn serve<H, F>(listener: Listener, handler: H) -> Serving
        where
            H: Fn(Stream, Address) -> F + Send + Sync + 'static,
            F: ::std::future::Future<Output = ()> + Send + 'static,
        {
            $crate::serve(listener, handler)
        }

        /// [`serve`] with options: a connection limit and the grace period of a stop.
        pub fn serve_with<H, F>(listener: Listener, options: ServeOptions, handler: H) -> Serving
        where
            H: Fn(Stream, Address) -> F + Send + Sync + 'static,
            F: ::std::future::Future<Output = ()> + Send + 'static,
        {
            let spawner = <$rt as $crate::Runtime>::spawner();
            $crate::serve_with(&spawner, listener, options, handler)
        }

        /// Serves connections from several listeners in one loop, each connection
        /// running `handler(stream, peer, index)` (`index`: its listener's position
        /// in `listeners`), on the runtime's default spawner, with one stop for all
        /// (see `strports_endpoints::serve_many_with`).
        pub fn serve_many<H, F>(
            listeners: impl ::std::iter::IntoIterator<Item = Listener>,
            handler: H,
        ) -> Serving
        where
            H: Fn(Stream, Address, usize) -> F + Send + Sync + 'static,
            F: ::std::future::Future<Output = ()> + Send + 'static,
        {
            $crate::serve_many(listeners, handler)
        }

        /// [`serve_many`] with options: one connection limit for all the listeners,
        /// and the grace period of a stop.
        pub fn serve_many_with<H, F>(
            listeners: impl ::std::iter::IntoIterator<Item = Listener>,
            options: ServeOptions,
            handler: H,
        ) -> Serving
        where
            H: Fn(Stream, Address, usize) -> F + Send + Sync + 'static,
            F: ::std::future::Future<Output = ()> + Send + 'static,
        {
            let spawner = <$rt as $crate::Runtime>::spawner();
            $crate::serve_many_with(&spawner, listeners, options, handler)
        }
    };
}
