//! The two error helpers every module uses.

use std::fmt::Write as _;
use std::io;

/// Wraps an error with context, keeping its kind: `"<context>: <error>"`.
///
/// An OS error's description, which std capitalises, starts in lower case so that
/// the whole message reads as one lowercase phrase (only a capitalised word is
/// changed: `I/O` or `EOF` stay as they are):
///
/// ```
/// use std::io;
/// let e = io::Error::from_raw_os_error(2); // ENOENT
/// let e = strports_sys::context(e, "cannot run \"prog\"");
/// assert_eq!(e.kind(), io::ErrorKind::NotFound);
/// assert_eq!(
///     e.to_string(),
///     "cannot run \"prog\": no such file or directory (os error 2)"
/// );
/// // Other errors are quoted as they are.
/// let e = strports_sys::context(io::Error::other("Bad thing"), "cannot go");
/// assert_eq!(e.to_string(), "cannot go: Bad thing");
/// ```
pub fn context(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    let mut message = String::new();
    // Writing to a String cannot fail.
    let _ = write!(message, "{context}: ");
    let inner = e.to_string();
    if e.raw_os_error().is_some() {
        push_lowercase_first(&mut message, &inner);
    } else {
        message.push_str(&inner);
    }
    io::Error::new(e.kind(), message)
}

/// Appends `s` with its first character lower-cased if it starts with a capitalised
/// word (`Connection refused`); `EOF`, `I/O` and the like are kept.
fn push_lowercase_first(out: &mut String, s: &str) {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            out.extend(first.to_lowercase());
            out.push_str(&s[first.len_utf8()..]);
        }
        _ => out.push_str(s),
    }
}

/// The error for a description type a function cannot open (a `tcp:` description
/// given to a TLS function, say): kind [`io::ErrorKind::Unsupported`], message
/// `"<type> endpoints are not supported here"`.
///
/// ```
/// let e = strports_sys::unsupported("stdio");
/// assert_eq!(e.kind(), std::io::ErrorKind::Unsupported);
/// assert_eq!(e.to_string(), "stdio endpoints are not supported here");
/// ```
pub fn unsupported(type_name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{type_name} endpoints are not supported here"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_start_in_lower_case_and_keep_their_kind() {
        let e = context(
            io::Error::from_raw_os_error(2), // ENOENT
            format_args!("cannot read {:?}", "key.pem"),
        );
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "cannot read \"key.pem\": no such file or directory (os error 2)"
        );
        // Nested context lower-cases only the OS error itself.
        let e = context(io::Error::from_raw_os_error(13), "inner"); // EACCES
        let e = context(e, "Outer");
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "Outer: inner: permission denied (os error 13)"
        );
    }

    #[test]
    fn other_errors_are_unchanged() {
        let e = context(io::Error::new(io::ErrorKind::InvalidData, "Bad PEM"), "x");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "x: Bad PEM");
    }

    #[test]
    fn first_letter_rules() {
        let low = |s: &str| {
            let mut out = String::new();
            push_lowercase_first(&mut out, s);
            out
        };
        assert_eq!(low("Connection refused"), "connection refused");
        assert_eq!(low("EOF reached"), "EOF reached");
        assert_eq!(low("I/O error"), "I/O error");
        assert_eq!(low("Érreur"), "érreur");
        assert_eq!(low("A"), "A");
        assert_eq!(low(""), "");
        assert_eq!(low("already lower"), "already lower");
    }
}
