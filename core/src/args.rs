//! Binding a raw description's arguments to a type's parameters, and converting values.
//!
//! Built-in types and registered extension types use the same machinery, so every
//! type reports unknown keywords, surplus positionals and bad numbers the same way.

use std::path::PathBuf;

use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{RawDescription, Text, eq_short};

/// How a type binds positional arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positionals {
    /// Like a Python call: the n-th positional is the n-th positional parameter, and a
    /// parameter also given by keyword is an error.
    InOrder,
    /// Positionals fill the positional parameters *not* given by keyword, in order
    /// (Twisted's client `tcp`, `ssl` and `unix`: `tcp:host=h:80` means port 80).
    FillUnset,
}

/// A parameter of a description type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The keyword name, exactly as Twisted spells it (case-sensitive).
    pub name: &'static str,
    /// Whether the parameter may also be given positionally (positional parameters
    /// come first in a type's list, in positional order).
    pub positional: bool,
}

impl Param {
    /// A parameter that may be given positionally or by keyword.
    pub const fn positional(name: &'static str) -> Param {
        Param {
            name,
            positional: true,
        }
    }

    /// A parameter that may only be given by keyword.
    pub const fn keyword(name: &'static str) -> Param {
        Param {
            name,
            positional: false,
        }
    }
}

/// The arguments of one description after its type name: what a type's parser binds.
///
/// ```
/// use strports_core::args::{Param, Positionals};
/// use strports_core::grammar::parse_raw;
/// use strports_core::Arguments;
///
/// let raw = parse_raw("redis:6379:db=2").unwrap();
/// let args = Arguments::after_type(&raw, "redis server");
/// let params = [Param::positional("port"), Param::keyword("db")];
/// let bound = args.bind(&params, Positionals::InOrder).unwrap();
/// assert_eq!(bound.port("port").unwrap(), Some(6379));
/// assert_eq!(bound.number::<u32>("db", 15).unwrap(), Some(2));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Arguments<'r, 'a> {
    raw: &'r RawDescription<'a>,
    type_index: usize,
    what: &'r str,
}

impl<'r, 'a> Arguments<'r, 'a> {
    /// The arguments after the first positional (the type), described as `what`
    /// (for messages, e.g. `"tcp server"`).
    pub fn after_type(raw: &'r RawDescription<'a>, what: &'r str) -> Self {
        Arguments {
            raw,
            type_index: 0,
            what,
        }
    }

    /// The arguments after positional `type_index` (wrappers like `haproxy:` have
    /// another description's type after their own).
    pub(crate) fn at(raw: &'r RawDescription<'a>, type_index: usize, what: &'r str) -> Self {
        Arguments {
            raw,
            type_index,
            what,
        }
    }

    /// The same arguments, described differently in messages.
    pub(crate) fn with_what(self, what: &'r str) -> Self {
        Arguments { what, ..self }
    }

    /// The raw description these arguments come from.
    pub fn raw(&self) -> &'r RawDescription<'a> {
        self.raw
    }

    /// The type name as written, with its offset.
    pub fn type_text(&self) -> &'r Text<'a> {
        &self.raw.positionals[self.type_index]
    }

    /// Positional arguments after the type.
    pub fn positionals(&self) -> &'r [Text<'a>] {
        &self.raw.positionals[self.type_index + 1..]
    }

    /// Keyword arguments.
    pub fn keywords(&self) -> &'r [(Text<'a>, Text<'a>)] {
        &self.raw.keywords
    }

    /// What these arguments describe, for messages (e.g. `"tcp server"`).
    pub fn what(&self) -> &'r str {
        self.what
    }

    /// Binds positionals and keywords to `params`; errors for unknown keywords,
    /// surplus positionals and parameters given twice.
    pub fn bind(&self, params: &[Param], mode: Positionals) -> Result<Bound<'r, 'a>, ParseError> {
        self.bind_inner(params, mode, false)
    }

    /// Like [`bind`](Self::bind), but positionals beyond the positional parameters are
    /// collected (see [`Bound::rest`]) instead of rejected.
    pub fn bind_with_rest(
        &self,
        params: &[Param],
        mode: Positionals,
    ) -> Result<Bound<'r, 'a>, ParseError> {
        self.bind_inner(params, mode, true)
    }

    fn bind_inner(
        &self,
        params: &[Param],
        mode: Positionals,
        keep_rest: bool,
    ) -> Result<Bound<'r, 'a>, ParseError> {
        let mut bound = Slots::new(params);
        let slots = bound.as_mut_slice();
        for (key, value) in self.keywords() {
            let Some(i) = params.iter().position(|p| eq_short(p.name, key.as_str())) else {
                return Err(self.unknown_keyword(params, key));
            };
            slots[i].1 = Some(value);
        }
        let positional_params = params.iter().take_while(|p| p.positional).count();
        // With `FillUnset`, a positional that finds no free slot because a positional
        // parameter was given by keyword (`tcp:h:80:port=81`) is a duplicate, not a
        // surplus: the description has no more positionals than the type takes.
        let by_keyword = slots[..positional_params]
            .iter()
            .position(|(_, t)| t.is_some());
        let mut next = 0;
        let mut rest_start = None;
        for (n, text) in self.positionals().iter().enumerate() {
            if mode == Positionals::FillUnset {
                while next < positional_params && slots[next].1.is_some() {
                    next += 1;
                }
            }
            if next >= positional_params {
                if keep_rest {
                    rest_start = Some(n);
                    break;
                }
                match by_keyword {
                    Some(k)
                        if mode == Positionals::FillUnset
                            && self.positionals().len() <= positional_params =>
                    {
                        return Err(self.duplicate(params[k].name, text));
                    }
                    _ => return Err(self.surplus(params, positional_params, text)),
                }
            }
            if slots[next].1.is_some() {
                return Err(self.duplicate(params[next].name, text));
            }
            slots[next].1 = Some(text);
            next += 1;
        }
        let rest = match rest_start {
            Some(n) => &self.positionals()[n..],
            None => &[],
        };
        Ok(Bound {
            args: *self,
            slots: bound,
            rest,
        })
    }

    fn duplicate(&self, name: &str, text: &Text<'_>) -> ParseError {
        ParseError::quoting(
            ParseErrorKind::DuplicateParameter,
            text.offset(),
            "parameter",
            name,
            &format!("given both positionally and by keyword ({})", self.what),
        )
    }

    fn unknown_keyword(&self, params: &[Param], key: &Text<'_>) -> ParseError {
        let names: Vec<&str> = params.iter().map(|p| p.name).collect();
        let why = if names.is_empty() {
            format!("{} takes no arguments", self.what)
        } else {
            format!("{} takes {}", self.what, names.join(", "))
        };
        let err = ParseError::quoting(
            ParseErrorKind::UnknownKeyword,
            key.offset(),
            "unknown keyword",
            key.as_str(),
            &why,
        );
        match crate::hint::keyword(key.as_str(), &names) {
            Some(hint) => err.with_hint(&hint),
            None => err,
        }
    }

    fn surplus(&self, params: &[Param], positional: usize, text: &Text<'_>) -> ParseError {
        let names: Vec<&str> = params[..positional].iter().map(|p| p.name).collect();
        let why = if positional == 0 {
            format!("{} takes no positional arguments", self.what)
        } else {
            format!(
                "{} takes at most {positional} ({})",
                self.what,
                names.join(", ")
            )
        };
        ParseError::quoting(
            ParseErrorKind::SurplusPositional,
            text.offset(),
            "surplus positional argument",
            text.as_str(),
            &why,
        )
    }
}

/// Parameters bound inline (no allocation) by types with at most this many. Most
/// types have up to four; a larger inline array costs more to fill and move than the
/// one allocation it saves for `ssl:` and `tls:`.
const INLINE_PARAMS: usize = 4;

type Slot<'r, 'a> = (&'static str, Option<&'r Text<'a>>);

/// Each parameter's name and the text bound to it, if any.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // inline on purpose: binding should not allocate
enum Slots<'r, 'a> {
    Inline {
        len: usize,
        items: [Slot<'r, 'a>; INLINE_PARAMS],
    },
    Heap(Vec<Slot<'r, 'a>>),
}

impl<'r, 'a> Slots<'r, 'a> {
    fn new(params: &[Param]) -> Self {
        if params.len() <= INLINE_PARAMS {
            let mut items = [("", None); INLINE_PARAMS];
            for (item, p) in items.iter_mut().zip(params) {
                item.0 = p.name;
            }
            Slots::Inline {
                len: params.len(),
                items,
            }
        } else {
            Slots::Heap(params.iter().map(|p| (p.name, None)).collect())
        }
    }

    fn as_slice(&self) -> &[Slot<'r, 'a>] {
        match self {
            Slots::Inline { len, items } => &items[..*len],
            Slots::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Slot<'r, 'a>] {
        match self {
            Slots::Inline { len, items } => &mut items[..*len],
            Slots::Heap(v) => v,
        }
    }
}

/// Arguments bound to parameters; typed accessors convert and range-check values.
#[derive(Debug)]
pub struct Bound<'r, 'a> {
    args: Arguments<'r, 'a>,
    slots: Slots<'r, 'a>,
    rest: &'r [Text<'a>],
}

impl<'r, 'a> Bound<'r, 'a> {
    /// The text bound to `name`, if given.
    pub fn text(&self, name: &str) -> Option<&'r Text<'a>> {
        self.slots
            .as_slice()
            .iter()
            .find(|(n, _)| eq_short(n, name))
            .and_then(|(_, t)| *t)
    }

    /// Whether `name` was given (an empty value counts as given).
    pub fn is_given(&self, name: &str) -> bool {
        self.text(name).is_some()
    }

    /// Positionals beyond the positional parameters (with [`Arguments::bind_with_rest`]).
    pub fn rest(&self) -> &'r [Text<'a>] {
        self.rest
    }

    /// The value of `name` as a string, if given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.text(name).map(|t| t.as_str().to_owned())
    }

    /// The value of `name` as a non-empty string, if given.
    pub fn non_empty(&self, name: &str) -> Result<Option<String>, ParseError> {
        match self.text(name) {
            None => Ok(None),
            Some(t) if t.as_str().is_empty() => Err(ParseError::quoting(
                ParseErrorKind::EmptyValue,
                t.offset(),
                "empty",
                name,
                "must not be empty",
            )),
            Some(t) => Ok(Some(t.as_str().to_owned())),
        }
    }

    /// The value of `name` as a non-empty path, if given.
    pub fn path(&self, name: &str) -> Result<Option<PathBuf>, ParseError> {
        Ok(self.non_empty(name)?.map(PathBuf::from))
    }

    /// Fails with a "missing parameter" error if `name` was not given.
    pub fn required<T>(&self, name: &str, value: Option<T>) -> Result<T, ParseError> {
        value.ok_or_else(|| {
            let t = self.args.type_text();
            ParseError::quoting(
                ParseErrorKind::MissingParameter,
                t.offset(),
                "missing parameter",
                name,
                &format!("{} needs {name}", self.args.what()),
            )
        })
    }

    /// A port: ASCII digits, 0-65535.
    pub fn port(&self, name: &str) -> Result<Option<u16>, ParseError> {
        match self.text(name) {
            None => Ok(None),
            Some(t) => digits(t.as_str(), 65535)
                .map(|v| Some(v as u16))
                .map_err(|why| invalid(ParseErrorKind::InvalidPort, "port", t, why)),
        }
    }

    /// A non-negative decimal number up to `max`: ASCII digits only.
    pub fn number<T: TryFrom<u64>>(&self, name: &str, max: u64) -> Result<Option<T>, ParseError> {
        match self.text(name) {
            None => Ok(None),
            Some(t) => digits(t.as_str(), max)
                .and_then(|v| T::try_from(v).map_err(|_| NumberError::Range(max)))
                .map(Some)
                .map_err(|why| invalid(ParseErrorKind::InvalidNumber, name, t, why)),
        }
    }

    /// A UNIX permission mode: octal digits, optional `0o`/`0O` prefix, up to `0o7777`.
    pub fn mode(&self, name: &str) -> Result<Option<u32>, ParseError> {
        let Some(t) = self.text(name) else {
            return Ok(None);
        };
        let s = t.as_str();
        let digits = s
            .strip_prefix("0o")
            .or_else(|| s.strip_prefix("0O"))
            .unwrap_or(s);
        let fail = |why: &str| {
            ParseError::quoting(
                ParseErrorKind::InvalidMode,
                t.offset(),
                &format!("invalid {name}"),
                s,
                why,
            )
        };
        if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(fail("must be octal digits 0-7, optionally after 0o"));
        }
        let mut value: u32 = 0;
        for b in digits.bytes() {
            value = value.saturating_mul(8).saturating_add(u32::from(b - b'0'));
        }
        if value > 0o7777 {
            return Err(fail("must be at most 7777"));
        }
        Ok(Some(value))
    }

    /// A boolean: `1 true yes on` or `0 false no off` (ASCII case-insensitive).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ParseError> {
        let Some(t) = self.text(name) else {
            return Ok(None);
        };
        parse_bool(t.as_str()).map(Some).ok_or_else(|| {
            ParseError::quoting(
                ParseErrorKind::InvalidBoolean,
                t.offset(),
                &format!("invalid {name}"),
                t.as_str(),
                "must be 0, 1, true, false, yes, no, on or off",
            )
        })
    }

    /// One of a fixed set of words (ASCII case-insensitive); returns its index.
    pub fn choice(&self, name: &str, words: &[&str]) -> Result<Option<usize>, ParseError> {
        let Some(t) = self.text(name) else {
            return Ok(None);
        };
        match words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(t.as_str()))
        {
            Some(i) => Ok(Some(i)),
            None => Err(ParseError::quoting(
                ParseErrorKind::InvalidValue,
                t.offset(),
                &format!("invalid {name}"),
                t.as_str(),
                &format!("must be one of {}", words.join(", ")),
            )),
        }
    }

    /// The arguments these were bound from.
    pub fn arguments(&self) -> &Arguments<'r, 'a> {
        &self.args
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["1", "true", "yes", "on"];
    const FALSE: [&str; 4] = ["0", "false", "no", "off"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

enum NumberError {
    NotDigits,
    Range(u64),
}

fn digits(s: &str, max: u64) -> Result<u64, NumberError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotDigits);
    }
    let mut value: u64 = 0;
    for b in s.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(NumberError::Range(max))?;
        if value > max {
            return Err(NumberError::Range(max));
        }
    }
    Ok(value)
}

fn invalid(kind: ParseErrorKind, name: &str, t: &Text<'_>, why: NumberError) -> ParseError {
    let why = match why {
        NumberError::NotDigits => "must be ascii digits".to_owned(),
        NumberError::Range(max) => format!("must be 0-{max}"),
    };
    ParseError::quoting(
        kind,
        t.offset(),
        &format!("invalid {name}"),
        t.as_str(),
        &why,
    )
}
