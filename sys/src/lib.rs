//! Blocking, runtime-free OS calls under the strports endpoints.
//!
//! `strports-endpoints` turns descriptions into sockets, pipes and processes; every
//! system call it needs outside an I/O loop is here: creating, binding and
//! configuring std sockets (through `socket2`), non-blocking `accept4`, UNIX lock
//! files, checking and adopting inherited descriptors (`fd:`, `systemd:`), the
//! system resolver, the pipes and standard streams of child processes and of
//! `stdio`, and (feature `tls`) reading PEM files and building rustls configs. The
//! endpoints then hand the ready, non-blocking descriptors to their runtime's
//! reactor. Nothing here blocks except [`resolve`], name-valued interfaces in
//! [`tcp::bind_addresses`], and the TLS file reads, which the endpoints run on their
//! runtime's blocking pool.

pub mod adopt;
pub mod file_id;
pub mod lock;
pub mod process;
pub mod resolve;
pub mod stdio;
pub mod tcp;
#[cfg(feature = "tls")]
pub mod tls;
pub mod unix;

mod error;

pub use error::{context, unsupported};
