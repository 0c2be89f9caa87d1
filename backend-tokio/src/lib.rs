//! strports on tokio: listen and connect with Twisted-style endpoint descriptions,
//! using tokio's own socket types.
//!
//! A description is one string that says where to listen or connect
//! (`tcp:8080:interface=127.0.0.1`, `unix:/run/app.sock:mode=660`,
//! `systemd:domain=INET:index=0`); `strports-core` parses it, and this crate opens
//! it: [`listen`] gives a [`Listener`], [`connect`] a [`Stream`]. Streams wrap
//! tokio's [`TcpStream`](tokio::net::TcpStream) and
//! [`UnixStream`](tokio::net::UnixStream) behind [`tokio::io::AsyncRead`] and
//! [`tokio::io::AsyncWrite`], so every tokio I/O utility works on them. [`serve`]
//! runs one task per connection with [`tokio::spawn`].
//!
//! Supported: servers `tcp`, `tcp6`, `unix` (paths and Linux abstract names),
//! `systemd`, `fd`, `stdio`, `ssl`, `tls`, `haproxy`; clients `tcp`, `unix`, `process`, `ssl`,
//! `tls` (TLS over rustls: see [`TlsListener`] and [`Stream::Tls`]). Extension types fail with
//! [`std::io::ErrorKind::Unsupported`]. Everything here must run inside a tokio
//! runtime (I/O and time drivers enabled; current-thread or multi-thread). This crate
//! never uses async-io; `strports-smol` offers the same API on smol, and both pass
//! the same conformance suite.
//!
//! ```
//! use strports_core::Address;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
//! let Address::Tcp(addr) = listener.local_address()? else { unreachable!() };
//!
//! let client = tokio::spawn(async move {
//!     let desc = format!("tcp:127.0.0.1:{}", addr.port()).parse()?;
//!     let mut stream = strports_tokio::connect(&desc).await?;
//!     stream.write_all(b"ping").await?;
//!     stream.shutdown().await?; // half-close: the server sees EOF
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply).await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(reply)
//! });
//!
//! let (mut stream, _peer) = listener.accept().await?;
//! let mut request = Vec::new();
//! stream.read_to_end(&mut request).await?;
//! stream.write_all(&request).await?;
//! drop(stream);
//! assert_eq!(client.await?.map_err(|e| e.to_string())?, b"ping");
//! # Ok(())
//! # }
//! ```
//!
//! # PROXY protocol (`haproxy:`)
//!
//! `haproxy:<server description>` listens as the inner description says, and every
//! accepted connection must then start with a PROXY protocol v1 or v2 header (what a
//! load balancer such as HAProxy sends with `send-proxy` or `send-proxy-v2`). `accept`
//! returns a [`Stream::Proxied`] whose `peer_address` and `local_address` are the
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
//! its stdout, `shutdown()` closes its stdin. When its stdout ends, the final read
//! waits for the exit: status 0 is EOF; another status or a signal is an error
//! (`process "false" exited with status 1`), and [`Stream::exit_status`] has it.
//! Dropping the stream kills the child; tokio reaps it in the background while the
//! runtime runs. A program that cannot be started fails `connect` with
//! `cannot run "prog": <reason>`.
//!
//! `listen` on `stdio` gives a [`Listener::Stdio`] whose first `accept` is the one
//! connection over fd 0/fd 1 ([`StdioStream`]); the second fails with
//! [`std::io::ErrorKind::NotConnected`], which ends a [`serve`] loop. Pipes and
//! sockets are read and written through the reactor (non-blocking while the stream
//! exists, so `println!` may then fail with `WouldBlock` on a full pipe: write
//! through the stream); terminals and files are read on a thread and never made
//! non-blocking.

mod connect;
mod happy_eyeballs;
mod haproxy;
mod listen;
mod process;
mod resolve;
mod serve;
mod stdio;
mod stream;
mod tls;

pub use connect::{Client, Connector, connect};
pub use haproxy::{Proxied, ProxyListener};
pub use listen::{Listener, Server, listen};
pub use process::ProcessStream;
pub use resolve::SystemResolver;
pub use serve::{Serving, serve};
pub use stdio::{StdioListener, StdioStream};
pub use stream::Stream;
pub use strports_core::proxy_protocol::HaproxyOptions;
pub use tls::{DEFAULT_HANDSHAKE_TIMEOUT, TlsAcceptorStep, TlsListener};
