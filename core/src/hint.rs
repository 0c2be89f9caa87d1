//! Hints for the usual mistakes, appended to a parse error's message as
//! `; hint: ...`. The message before the hint (what and where) is unchanged, and so
//! are the error's kind and offset.
//!
//! A hint that proposes a corrected description proposes it only if that description
//! parses (with the same registry); otherwise the hint is general or left out.

use std::net::Ipv6Addr;

use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::{RawDescription, quote};

/// Which kind of description was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

const SEPARATOR: &str = "; hint: ";

/// Adds a hint to `err`, an error from parsing `raw` as a `side` description, if it
/// looks like one of the usual mistakes. `parses` tells whether a corrected
/// description parses (without hints).
pub(crate) fn add(
    err: ParseError,
    raw: &RawDescription<'_>,
    side: Side,
    parses: &dyn Fn(&str) -> bool,
) -> ParseError {
    if err.message().contains(SEPARATOR) {
        return err;
    }
    let hint = ipv6(raw.input(), side, parses)
        .or_else(|| bare_port(&err, raw, side, parses))
        .or_else(|| missing_host(&err, raw, side, parses));
    match hint {
        Some(h) => err.with_hint(&h),
        None => err,
    }
}

/// The hint for an unknown keyword: the closest of the type's own keywords, if one is
/// close (the same but for case, or Damerau-Levenshtein distance at most 2 and less
/// than either length).
pub(crate) fn keyword(unknown: &str, known: &[&str]) -> Option<String> {
    let close = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(unknown))
        .or_else(|| {
            known
                .iter()
                .map(|k| (k, distance(unknown, k)))
                .filter(|&(k, d)| d <= 2 && d < unknown.chars().count().min(k.chars().count()))
                .min_by_key(|&(_, d)| d)
                .map(|(k, _)| k)
        })?;
    Some(format!("did you mean {close:?}?"))
}

/// Optimal string alignment distance (Damerau-Levenshtein with adjacent
/// transpositions, no substring edited twice), ASCII case-sensitive, over characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Keywords are short; anything long is not worth comparing.
    if a.len().abs_diff(b.len()) > 2 || a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

/// One `:`-separated segment of the description as written.
#[derive(Debug)]
struct Segment<'a> {
    /// The raw text, escapes included.
    raw: &'a str,
    /// Byte offset of the segment in the description.
    start: usize,
    /// Raw length of the keyword and its `=`, if the segment is a keyword argument.
    key_len: Option<usize>,
}

/// Splits the description on unescaped `:` (like the tokenizer, without unescaping).
fn segments(input: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut key_len = None;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' if key_len.is_none() => key_len = Some(i + 1 - start),
            ':' => {
                out.push(Segment {
                    raw: &input[start..i],
                    start,
                    key_len,
                });
                start = i + 1;
                key_len = None;
            }
            _ => {}
        }
    }
    out.push(Segment {
        raw: &input[start..],
        start,
        key_len,
    });
    out
}

/// Removes escapes (the text is already known to tokenize).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` is an IPv6 address, optionally in brackets and with a `%zone`.
fn is_ipv6(s: &str) -> bool {
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    let s = match s.split_once('%') {
        Some((addr, zone)) if !zone.is_empty() => addr,
        Some(_) => return false,
        None => s,
    };
    s.parse::<Ipv6Addr>().is_ok()
}

/// The longest text tried as an address (the longest IPv6 address with brackets is
/// 47 bytes; a zone name adds a few more). Bounds the work on long descriptions.
const MAX_ADDRESS: usize = 80;
/// The most corrected descriptions parsed to find one that works.
const MAX_REPARSES: usize = 16;

const QUOTE_NOTE: &str = "(strports quote escapes a value)";

/// An IPv6 address split by unescaped colons (`interface=::1`, `tcp:[::1]:80`).
fn ipv6(input: &str, side: Side, parses: &dyn Fn(&str) -> bool) -> Option<String> {
    let segs = segments(input);
    let mut found = false;
    let mut brackets = false;
    let mut reparses = 0;
    // Segment 0 is the type.
    for i in 1..segs.len() {
        let (prefix, first) = match segs[i].key_len {
            Some(k) => segs[i].raw.split_at(k),
            None => ("", segs[i].raw),
        };
        let mut joined = unescape(first);
        let mut ends = Vec::new();
        for (j, seg) in segs.iter().enumerate().skip(i + 1) {
            if seg.key_len.is_some() || joined.len() > MAX_ADDRESS {
                break;
            }
            joined.push(':');
            joined.push_str(&unescape(seg.raw));
            if j >= i + 2 && is_ipv6(&joined) {
                ends.push((j, joined.clone()));
            }
        }
        // Longest first: the first correction that parses wins.
        for (j, addr) in ends.iter().rev() {
            found = true;
            let bare = addr
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(addr);
            brackets |= bare.len() != addr.len();
            if reparses >= MAX_REPARSES {
                break;
            }
            // Everything before segment `i`, its `:` included.
            let head = input.get(..segs[i].start).unwrap_or_default();
            // Everything from segment `from` on, with the `:` before it.
            let tail = |from: usize| -> &str {
                segs.get(from)
                    .and_then(|s| s.start.checked_sub(1))
                    .and_then(|at| input.get(at..))
                    .unwrap_or_default()
            };
            let mut candidates = vec![format!("{head}{prefix}{}{}", quote(bare), tail(j + 1))];
            // A server's `[::1]:80`: the port first, the address as the interface.
            if let Some(port) = segs.get(j + 1) {
                let digits = port.key_len.is_none()
                    && !port.raw.is_empty()
                    && port.raw.bytes().all(|b| b.is_ascii_digit());
                if side == Side::Server && bare.len() != addr.len() && digits {
                    candidates.push(format!(
                        "{head}{}:interface={}{}",
                        port.raw,
                        quote(bare),
                        tail(j + 2)
                    ));
                }
            }
            let budget = &mut reparses;
            let fixed = candidates.into_iter().find(|c| {
                *budget += 1;
                parses(c)
            });
            if let Some(fixed) = fixed {
                let why = if bare.len() != addr.len() {
                    "colons in a value must be escaped and an address takes no brackets"
                } else {
                    "colons in a value must be escaped"
                };
                return Some(format!("{why}: did you mean {fixed}? {QUOTE_NOTE}"));
            }
        }
        if reparses >= MAX_REPARSES {
            break;
        }
    }
    let bracketed = segs
        .iter()
        .skip(1)
        .any(|s| s.key_len.is_none() && s.raw.starts_with('['));
    if !found && !bracketed {
        return None;
    }
    let example = match side {
        Side::Server => r"interface=\:\:1",
        Side::Client => r"tcp:\:\:1:80",
    };
    let why = if brackets || bracketed {
        "colons in a value must be escaped and an address takes no brackets"
    } else {
        "colons in a value must be escaped"
    };
    Some(format!("{why}, e.g. {example} {QUOTE_NOTE}"))
}

/// A port where the type should be: `9000`.
fn bare_port(
    err: &ParseError,
    raw: &RawDescription<'_>,
    side: Side,
    parses: &dyn Fn(&str) -> bool,
) -> Option<String> {
    if err.kind() != ParseErrorKind::UnknownType {
        return None;
    }
    let t = raw
        .positional_texts()
        .iter()
        .find(|t| t.offset() == err.offset())?;
    let digits = t.as_str();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let input = raw.input();
    let at = err.offset();
    let insert = match side {
        Side::Server => "tcp:",
        Side::Client => "tcp:HOST:",
    };
    let fixed = format!("{}{insert}{}", input.get(..at)?, input.get(at..)?);
    parses(&fixed).then(|| format!("did you mean {fixed}?"))
}

/// A client `tcp:`, `ssl:` or `tls:` without a host (`tcp:9000`) or without anything.
fn missing_host(
    err: &ParseError,
    raw: &RawDescription<'_>,
    side: Side,
    parses: &dyn Fn(&str) -> bool,
) -> Option<String> {
    if side != Side::Client || err.kind() != ParseErrorKind::MissingParameter {
        return None;
    }
    let positionals = raw.positional_texts();
    let t = positionals.first()?;
    if t.offset() != err.offset() {
        return None;
    }
    let name = ["tcp", "ssl", "tls"]
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(t.as_str()))?;
    let keyword = |k: &str| {
        raw.kwargs()
            .find(|(key, _)| *key == k)
            .map(|(_, value)| value)
    };
    let is_port = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let fixed = match (positionals.get(1), keyword("host"), keyword("port")) {
        // `tcp:9000`: the port is where the host should be.
        (Some(p), None, None) if positionals.len() == 2 && is_port(p.as_str()) => {
            let input = raw.input();
            let at = p.offset();
            format!("{}localhost:{}", input.get(..at)?, input.get(at..)?)
        }
        // `tcp` or `tcp:port=9000`.
        (None, None, port) => {
            let port = port.filter(|p| is_port(p)).unwrap_or("80");
            format!("{name}:localhost:{port}")
        }
        _ => return None,
    };
    let article = if name == "ssl" { "an" } else { "a" };
    parses(&fixed).then(|| format!("{article} {name} client needs a host and a port, e.g. {fixed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("certkey", "certKey"), 1);
        assert_eq!(distance("backlgo", "backlog"), 1);
        assert_eq!(distance("intrface", "interface"), 1);
        assert_eq!(distance("ca", "abc"), 3);
        assert_eq!(distance("", "ab"), 2);
        assert_eq!(distance("x", "fd"), 2);
        assert_eq!(distance("a", "abcdef"), usize::MAX);
    }

    #[test]
    fn keyword_suggestions() {
        let known = ["port", "interface", "backlog"];
        assert_eq!(
            keyword("Backlog", &known).as_deref(),
            Some(r#"did you mean "backlog"?"#)
        );
        assert_eq!(
            keyword("interfce", &known).as_deref(),
            Some(r#"did you mean "interface"?"#)
        );
        assert_eq!(keyword("bogus", &known), None);
        assert_eq!(keyword("x", &known), None);
        assert_eq!(keyword("po", &known), None);
        assert_eq!(keyword("", &known), None);
        assert_eq!(keyword("port", &[]), None);
    }

    #[test]
    fn ipv6_pieces() {
        assert!(is_ipv6("::1"));
        assert!(is_ipv6("[::1]"));
        assert!(is_ipv6("fe80::1%eth0"));
        assert!(!is_ipv6("fe80::1%"));
        assert!(!is_ipv6("[::1"));
        assert!(!is_ipv6("/tmp/a::b"));
        let segs = segments(r"tcp:80:interface=a\:b:c\\:d");
        let raws: Vec<_> = segs.iter().map(|s| (s.raw, s.key_len)).collect();
        assert_eq!(
            raws,
            [
                ("tcp", None),
                ("80", None),
                (r"interface=a\:b", Some(10)),
                (r"c\\", None),
                ("d", None)
            ]
        );
        assert_eq!(unescape(r"a\:b\\"), r"a:b\");
    }
}
