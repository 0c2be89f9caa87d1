//! Errors for descriptions that cannot be parsed.

use std::fmt;

/// What was wrong with a description.
///
/// New kinds may be added in minor releases, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The description ends in a lone backslash (an escape with nothing to escape).
    TrailingBackslash,
    /// A keyword name contains non-ASCII characters.
    NonAsciiKeyword,
    /// No positional segment names the endpoint type (e.g. `port=80`).
    MissingType,
    /// The type is not a known server or client type.
    UnknownType,
    /// A keyword the type does not take.
    UnknownKeyword,
    /// More positional arguments than the type takes.
    SurplusPositional,
    /// A parameter given twice: positionally and by keyword, or through two aliases.
    DuplicateParameter,
    /// A required parameter is missing.
    MissingParameter,
    /// A port that is not ASCII digits in 0-65535.
    InvalidPort,
    /// Any other number that is not ASCII digits or out of its range.
    InvalidNumber,
    /// A `mode` that is not an octal number (optionally `0o`-prefixed) up to `0o7777`.
    InvalidMode,
    /// A boolean that is not one of `0 1 true false yes no on off`.
    InvalidBoolean,
    /// A value that must not be empty is empty.
    EmptyValue,
    /// `systemd:` needs exactly one of `index` and `name`.
    SystemdSelector,
    /// An address family name that is not `INET`, `INET6` or `UNIX`.
    InvalidDomain,
    /// An `sslmethod` that strports does not support.
    InvalidSslMethod,
    /// A host name that is neither an IP literal nor a valid DNS name.
    InvalidHostname,
    /// A combination of parameters that cannot work together.
    Conflict,
    /// A parameter value that is not one of the allowed words.
    InvalidValue,
    /// More than 32 wrappers (`haproxy:haproxy:...`) around one description.
    NestingTooDeep,
    /// A type that runs a program (`process:`), parsed without allowing programs
    /// (see [`Registry::with_programs`](crate::Registry::with_programs)).
    ProgramNotAllowed,
}

/// A description that could not be parsed: what, where (a byte offset into the
/// description) and a message that quotes the offending text.
///
/// ```
/// use strports_core::{ParseErrorKind, ServerDescription};
/// let err = "tcp:70000".parse::<ServerDescription>().unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::InvalidPort);
/// assert_eq!(err.offset(), 4);
/// assert_eq!(err.to_string(), r#"invalid port "70000" at offset 4: must be 0-65535"#);
/// ```
///
/// For the usual mistakes (an unescaped IPv6 address, a bare port, a client without
/// a host, a keyword in the wrong case or misspelt) the message ends in a hint; the
/// kind, the offset and the part before `; hint: ` are the same as without it:
///
/// ```
/// use strports_core::ClientDescription;
/// let err = "tcp:9000".parse::<ClientDescription>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"missing parameter "port" at offset 0: tcp client needs port; hint: a tcp client needs a host and a port, e.g. tcp:localhost:9000"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    offset: usize,
    message: String,
}

impl ParseError {
    /// Builds an error; `message` is the full lowercase message (no trailing period).
    pub fn new(kind: ParseErrorKind, offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            kind,
            offset,
            message: message.into(),
        }
    }

    /// Builds the usual `<what> "<text>" at offset <n>: <why>` error.
    pub fn quoting(kind: ParseErrorKind, offset: usize, what: &str, text: &str, why: &str) -> Self {
        let message = if why.is_empty() {
            format!("{what} {text:?} at offset {offset}")
        } else {
            format!("{what} {text:?} at offset {offset}: {why}")
        };
        ParseError::new(kind, offset, message)
    }

    /// What was wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// Byte offset into the description where the offending text starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The message, without a caret.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Renders the description with a caret under the offending byte, then the message:
    ///
    /// ```
    /// use strports_core::ServerDescription;
    /// let desc = "tcp:80:backlog=x";
    /// let err = desc.parse::<ServerDescription>().unwrap_err();
    /// assert_eq!(
    ///     err.caret(desc),
    ///     "tcp:80:backlog=x\n               ^\ninvalid backlog \"x\" at offset 15: must be ascii digits"
    /// );
    /// ```
    pub fn caret(&self, description: &str) -> String {
        format!("{}{}", self.caret_lines(description), self.message)
    }

    /// [`caret`](ParseError::caret) with `error: ` before the message: what the
    /// `strports` tool prints for a bad description.
    ///
    /// ```
    /// use strports_core::ServerDescription;
    /// let err = "tcp:70000".parse::<ServerDescription>().unwrap_err();
    /// assert_eq!(
    ///     err.report("tcp:70000"),
    ///     "tcp:70000\n    ^\nerror: invalid port \"70000\" at offset 4: must be 0-65535"
    /// );
    /// ```
    pub fn report(&self, description: &str) -> String {
        format!("{}error: {}", self.caret_lines(description), self.message)
    }

    /// The description and the caret line under the offending byte, each ended by a
    /// newline.
    fn caret_lines(&self, description: &str) -> String {
        // Column in characters, so the caret lines up for non-ASCII text.
        let end = self.offset.min(description.len());
        let column = description
            .char_indices()
            .take_while(|(i, _)| *i < end)
            .count();
        format!("{description}\n{:column$}^\n", "", column = column)
    }

    /// Appends a hint for a usual mistake: `<message>; hint: <hint>`.
    pub(crate) fn with_hint(mut self, hint: &str) -> Self {
        self.message.push_str("; hint: ");
        self.message.push_str(hint);
        self
    }

    /// Moves the error by `delta` bytes (used for nested descriptions).
    pub(crate) fn shifted(mut self, new_offset: usize) -> Self {
        // The position follows the quoted text, so replace the last occurrence (the
        // quoted text itself may contain "at offset").
        let old = format!("at offset {}", self.offset);
        if let Some(at) = self.message.rfind(&old) {
            self.message
                .replace_range(at..at + old.len(), &format!("at offset {new_offset}"));
        }
        self.offset = new_offset;
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}
