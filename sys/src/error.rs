//! The two error helpers every module uses.

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
