//! Blocking, runtime-free OS glue shared by the strports backends.
//!
//! Both `strports-tokio` and `strports-smol` turn descriptions into sockets the same
//! way: this crate creates, binds and configures the std sockets (through `socket2`),
//! holds UNIX lock files, checks adopted descriptors, and runs the system resolver.
//! The backends then hand the ready, non-blocking std sockets to their runtime. Keeping
//! this here means no socket-setup decision lives in only one backend (the same idea
//! as `quinn-udp` under quinn's runtimes). Nothing here blocks except [`resolve`] and
//! name-valued interfaces in [`tcp::bind_addresses`], which backends run off their
//! async threads. Two modules are not about the OS but runtime-free state both
//! backends drive: [`tasks`], the bookkeeping of a `serve` loop's connection tasks,
//! and [`in_flight`], a listener's concurrent per-connection steps (the TLS
//! handshakes of `ssl:`/`tls:`, the PROXY headers of `haproxy:`). The connect
//! decisions both backends follow are here too, as plans they execute with their
//! runtime: [`connect::route`] (which path a client type takes),
//! [`tcp::TcpTarget::plan`] (an IP literal directly, a name raced), and, with the
//! `tls` feature, `tls::client_plan` (what a TLS client runs its handshake over).

pub mod accept;
pub mod adopt;
pub mod connect;
pub mod in_flight;
pub mod lock;
pub mod process;
pub mod resolve;
pub mod stdio;
pub mod tasks;
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
pub mod unix;

use std::io;

/// Wraps an error with context, keeping its kind: `"<context>: <error>"`.
pub fn context(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// The error every backend gives for a description type it cannot open yet:
/// kind [`io::ErrorKind::Unsupported`], message `"<type> endpoints are not supported yet"`.
///
/// ```
/// let e = strports_sys::unsupported("stdio");
/// assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
/// assert_eq!(e.to_string(), "stdio endpoints are not supported yet");
/// ```
pub fn unsupported(type_name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{type_name} endpoints are not supported yet"),
    )
}
