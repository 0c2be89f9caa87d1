//! Twisted's tokenizer and raw parse, plus quoting.
//!
//! A description is split on unescaped `:` into segments. Within a segment the first
//! unescaped `=` splits a keyword from its value; later `=` are literal. A backslash
//! escapes any character (`\n` is just `n`). Empty segments are kept. Positional
//! segments keep their order; a repeated keyword overwrites the earlier value (last
//! wins) but keeps its first position. This is exactly Twisted's `_tokenize` and
//! `_parse`, except that a trailing lone backslash is a [`ParseError`] instead of a
//! crash.
//!
//! ```
//! use strports_core::grammar::{parse_raw, quote};
//! let raw = parse_raw(r"tcp:80:interface=\:\:1:a=b=c").unwrap();
//! assert_eq!(raw.args().collect::<Vec<_>>(), ["tcp", "80"]);
//! assert_eq!(raw.kwargs().collect::<Vec<_>>(), [("interface", "::1"), ("a", "b=c")]);
//! assert_eq!(quote("a:b=c\\"), r"a\:b\=c\\");
//! ```

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

/// A piece of text from a description, with escapes removed, and the byte offset of
/// its first (raw) character in the description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a> {
    text: Cow<'a, str>,
    offset: usize,
}

impl<'a> Text<'a> {
    /// The unescaped text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Byte offset of the text's first raw character in the description.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// The result of the raw parse: positional arguments in order, keyword arguments in
/// first-insertion order with the last value of a repeated keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDescription<'a> {
    input: &'a str,
    pub(crate) positionals: Vec<Text<'a>>,
    pub(crate) keywords: Vec<(Text<'a>, Text<'a>)>,
}

impl<'a> RawDescription<'a> {
    /// The description this was parsed from.
    pub fn input(&self) -> &'a str {
        self.input
    }

    /// Positional arguments (the first is the endpoint type), unescaped.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &str> {
        self.positionals.iter().map(Text::as_str)
    }

    /// Keyword arguments `(name, value)`, unescaped, last value wins.
    pub fn kwargs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.keywords.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Positional arguments with their offsets.
    pub fn positional_texts(&self) -> &[Text<'a>] {
        &self.positionals
    }

    /// Keyword arguments with their offsets.
    pub fn keyword_texts(&self) -> &[(Text<'a>, Text<'a>)] {
        &self.keywords
    }
}

/// Splits a description into positional and keyword arguments (Twisted's `_parse`).
///
/// Fails only for a trailing lone backslash and for a non-ASCII keyword name (both
/// errors in Twisted too).
///
/// ```
/// use strports_core::grammar::parse_raw;
/// let raw = parse_raw("port=80:tcp::x=1:x=2").unwrap();
/// assert_eq!(raw.args().collect::<Vec<_>>(), ["tcp", ""]);
/// assert_eq!(raw.kwargs().collect::<Vec<_>>(), [("port", "80"), ("x", "2")]);
/// ```
pub fn parse_raw(input: &str) -> Result<RawDescription<'_>, ParseError> {
    let mut raw = RawDescription {
        input,
        positionals: Vec::with_capacity(4),
        keywords: Vec::new(),
    };
    let bytes = input.as_bytes();
    let mut pos = 0;
    loop {
        let (first, mut stop) = scan(input, pos, true)?;
        if stop < bytes.len() && bytes[stop] == b'=' {
            let (value, end) = scan(input, stop + 1, false)?;
            stop = end;
            if !first.as_str().is_ascii() {
                return Err(ParseError::quoting(
                    ParseErrorKind::NonAsciiKeyword,
                    first.offset,
                    "non-ascii keyword",
                    first.as_str(),
                    "keyword names must be ascii",
                ));
            }
            match raw
                .keywords
                .iter_mut()
                .find(|(k, _)| eq_short(k.as_str(), first.as_str()))
            {
                Some(slot) => slot.1 = value,
                None => raw.keywords.push((first, value)),
            }
        } else {
            raw.positionals.push(first);
        }
        if stop >= bytes.len() {
            return Ok(raw);
        }
        pos = stop + 1; // skip the ':'
    }
}

/// String equality for the short names of descriptions, inlined (a `memcmp` call
/// costs more than comparing a few bytes).
#[inline]
pub(crate) fn eq_short(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Scans one string token from `start`; returns it and the index of the operator that
/// ended it (or `input.len()`).
fn scan(input: &str, start: usize, eq_is_op: bool) -> Result<(Text<'_>, usize), ParseError> {
    let bytes = input.as_bytes();
    let mut i = find_op(bytes, start, eq_is_op);
    // Fast path: no escapes, borrow.
    if i >= bytes.len() || bytes[i] != b'\\' {
        return Ok((borrowed(input, start, i), i));
    }
    let mut owned = String::with_capacity(i - start + 8);
    owned.push_str(&input[start..i]);
    while i < bytes.len() && bytes[i] == b'\\' {
        let Some(c) = input[i + 1..].chars().next() else {
            return Err(trailing_backslash(i));
        };
        owned.push(c);
        i += 1 + c.len_utf8();
        // Copy the run of ordinary bytes up to the next operator at once (all
        // operators are ASCII, so stopping at them never splits a UTF-8 sequence).
        let run_end = find_op(bytes, i, eq_is_op);
        owned.push_str(&input[i..run_end]);
        i = run_end;
    }
    Ok((
        Text {
            text: Cow::Owned(owned),
            offset: start,
        },
        i,
    ))
}

#[cold]
fn trailing_backslash(i: usize) -> ParseError {
    ParseError::new(
        ParseErrorKind::TrailingBackslash,
        i,
        format!(
            "trailing backslash at offset {i}: a backslash must be followed by the character it escapes"
        ),
    )
}

/// The index of the first operator at or after `i`: `:` or `\`, and `=` if `eq_is_op`
/// (after a keyword's `=`, later `=` are literal). `bytes.len()` if there is none.
#[inline]
fn find_op(bytes: &[u8], mut i: usize, eq_is_op: bool) -> usize {
    // Eight bytes at a time: a byte equal to `b` is a zero byte of `x ^ splat(b)`,
    // and the lowest flagged byte of the classic zero-byte test is exact.
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    fn matches(x: u64, b: u8) -> u64 {
        let y = x ^ (LO * u64::from(b));
        y.wrapping_sub(LO) & !y & HI
    }
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let mut m = matches(x, b':') | matches(x, b'\\');
        if eq_is_op {
            m |= matches(x, b'=');
        }
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() {
        match bytes[i] {
            b':' | b'\\' => return i,
            b'=' if eq_is_op => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn borrowed(input: &str, start: usize, end: usize) -> Text<'_> {
    Text {
        text: Cow::Borrowed(&input[start..end]),
        offset: start,
    }
}

/// Escapes `\`, `:` and `=` so that any string survives as a positional or keyword
/// value (unlike Twisted's `quoteStringArgument`, which leaves `=` alone).
///
/// ```
/// use strports_core::grammar::{parse_raw, quote};
/// let value = r"C:\key=1.pem";
/// let text = format!("ssl:{}", quote(value));
/// let raw = parse_raw(&text).unwrap();
/// assert_eq!(raw.args().nth(1), Some(value));
/// ```
pub fn quote(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(needs_escape) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    quote_into(&mut out, value);
    Cow::Owned(out)
}

/// Appends the quoted form of `value` to `out` (see [`quote`]).
pub fn quote_into(out: &mut String, value: &str) {
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        if needs_escape(b) {
            out.push_str(&value[last..i]);
            out.push('\\');
            last = i;
        }
    }
    out.push_str(&value[last..]);
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'\\' | b':' | b'=')
}

/// Maps an offset into an unescaped value back to an offset into the raw description
/// (used to report errors inside nested descriptions such as `endpoint=`).
pub(crate) fn raw_offset(input: &str, value_start: usize, unescaped_offset: usize) -> usize {
    let bytes = input.as_bytes();
    let mut i = value_start;
    let mut n = 0;
    while n < unescaped_offset && i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 1;
        }
        let len = input[i..].chars().next().map_or(1, char::len_utf8);
        i += len;
        n += len;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> (Vec<String>, Vec<(String, String)>) {
        let raw = parse_raw(s).expect("parses");
        (
            raw.args().map(str::to_owned).collect(),
            raw.kwargs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    #[test]
    fn twisted_tokenizer_rules() {
        assert_eq!(split(""), (vec!["".into()], vec![]));
        assert_eq!(split("::"), (vec!["".into(), "".into(), "".into()], vec![]));
        assert_eq!(split("a=b=c").1, vec![("a".into(), "b=c".into())]);
        assert_eq!(split("==").1, vec![("".into(), "=".into())]);
        assert_eq!(split("=x").1, vec![("".into(), "x".into())]);
        assert_eq!(split(r"\n\a\b").0, vec!["nab".to_string()]);
        assert_eq!(split(r"a\=b").0, vec!["a=b".to_string()]);
        assert_eq!(split(r"a\:b:c").0, vec!["a:b".to_string(), "c".into()]);
        assert_eq!(split(r"k\=1=v").1, vec![("k=1".into(), "v".into())]);
        assert_eq!(split(r"x:\é").0, vec!["x".to_string(), "é".into()]);
        assert_eq!(split("a:b:d=1:c").0, vec!["a", "b", "c"]);
        assert_eq!(split("k=:x").1, vec![("k".into(), "".into())]);
        assert_eq!(split("k=a\\=b").1, vec![("k".into(), "a=b".into())]);
        assert_eq!(split("k=a=\\:b").1, vec![("k".into(), "a=:b".into())]);
        // Last wins, first position kept.
        let (_, kw) = split("t:a=1:b=2:a=3");
        assert_eq!(kw, vec![("a".into(), "3".into()), ("b".into(), "2".into())]);
        // Whitespace and NUL are ordinary characters.
        assert_eq!(split(" tcp : 80\0").0, vec![" tcp ", " 80\0"]);
    }

    #[test]
    fn trailing_backslash_is_an_error() {
        for s in ["\\", "tcp:80\\", "a=\\", "x\\\\\\"] {
            let err = parse_raw(s).unwrap_err();
            assert_eq!(err.kind(), ParseErrorKind::TrailingBackslash, "{s}");
            assert_eq!(err.offset(), s.len() - 1);
        }
        assert!(parse_raw("x\\\\").is_ok());
    }

    #[test]
    fn non_ascii_keyword_is_an_error() {
        let err = parse_raw("tcp:pört=1").unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::NonAsciiKeyword);
        assert_eq!(err.offset(), 4);
    }

    #[test]
    fn offsets_point_at_raw_text() {
        let raw = parse_raw(r"tcp:\:1:k=v").unwrap();
        assert_eq!(raw.positional_texts()[1].offset(), 4);
        assert_eq!(raw.keyword_texts()[0].1.offset(), 10);
    }

    #[test]
    fn quote_round_trips() {
        for v in ["", "a", ":", "=", "\\", r"a\:b=c", "é:=\\x", "::=="] {
            let text = format!("t:{}:k={}", quote(v), quote(v));
            let raw = parse_raw(&text).unwrap();
            assert_eq!(raw.args().nth(1), Some(v));
            assert_eq!(raw.kwargs().next(), Some(("k", v)));
        }
    }

    #[test]
    fn raw_offset_skips_escapes() {
        let input = r"x:k=a\:b\:c";
        assert_eq!(raw_offset(input, 4, 0), 4);
        assert_eq!(raw_offset(input, 4, 2), 7);
        assert_eq!(raw_offset(input, 4, 4), 10);
    }
}
