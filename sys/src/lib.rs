//! Blocking, runtime-free OS glue shared by the strports backends.
//!
//! Both `strports-tokio` and `strports-smol` turn descriptions into sockets the same
//! way: this crate creates, binds and configures the std sockets (through `socket2`),
//! holds UNIX lock files, checks adopted descriptors, and runs the system resolver.
//! The backends then hand the ready, non-blocking std sockets to their runtime. Keeping
//! this here means no socket-setup decision lives in only one backend (the same idea
//! as `quinn-udp` under quinn's runtimes). Nothing here blocks except [`resolve`] and
//! name-valued interfaces in [`tcp::bind_addresses`], which backends run off their
//! async threads.

pub mod adopt;
pub mod lock;
pub mod resolve;
pub mod tcp;
pub mod unix;

use std::io;

/// Wraps an error with context, keeping its kind: `"<context>: <error>"`.
pub fn context(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}
