//! `strports parse` and `strports quote`: show what a description means, and
//! quote values for use inside one.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use strports_core::grammar::{RawDescription, parse_raw};
use strports_core::{
    ClientDescription, FieldValue, ParseError, Registry, ServerDescription, quote,
};

use crate::json::Json;

/// Examples shown by `strports parse --help`.
pub(crate) const PARSE_EXAMPLES: &str = "\
Examples:
  $ strports parse --server tcp:8080:interface=127.0.0.1
  tcp:8080:interface=127.0.0.1
    port: 8080
    interface: \"127.0.0.1\"
    backlog: 50

  $ strports parse --server tcp:80 --json
  {\"type\":\"tcp\",\"port\":80,\"interface\":\"\",\"backlog\":50,\"canonical\":\"tcp:80\"}

  $ strports parse --client 'tls:example.com:443:endpoint=unix\\:/run/proxy.sock' --json
  {\"type\":\"tls\",\"host\":\"example.com\",...,\"endpoint\":{\"type\":\"unix\",...},...}

  $ strports parse --raw 'tcp:80:interface=\\:\\:1' --json
  {\"args\":[\"tcp\",\"80\"],\"kwargs\":{\"interface\":\"::1\"}}

  $ strports parse --server tcp:70000
  tcp:70000
      ^
  error: invalid port \"70000\" at offset 4: must be 0-65535

With --json, an invalid description prints
  {\"error\":{\"kind\":\"InvalidPort\",\"offset\":4,\"message\":\"...\"}}
on standard output instead. Either way the exit status is 1.";

/// Examples shown by `strports quote --help`.
pub(crate) const QUOTE_EXAMPLES: &str = "\
Examples:
  $ strports quote 'C:\\keys\\server=1.pem'
  C\\:\\\\keys\\\\server\\=1.pem

  $ strports parse --server \"ssl:443:privateKey=$(strports quote \"$KEY\")\"

  $ strports quote 'unix:/run/proxy.sock'    # a description nested in endpoint=
  unix\\:/run/proxy.sock

Use `--` before a value that starts with `-`: strports quote -- -x";

/// Arguments of `strports parse`.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("description")
        .required(true)
        .multiple(false)
        .args(["server", "client", "raw"]),
))]
pub(crate) struct ParseArgs {
    /// Parse DESC as a server description (what to listen on), e.g. tcp:8080.
    #[arg(long, value_name = "DESC")]
    server: Option<String>,
    /// Parse DESC as a client description (what to connect to), e.g. tcp:example.com:80.
    #[arg(long, value_name = "DESC")]
    client: Option<String>,
    /// Only split DESC into positional and keyword arguments (Twisted's tokenizer),
    /// without checking the type or the parameters.
    #[arg(long, value_name = "DESC")]
    raw: Option<String>,
    /// Print one JSON object on one line instead of text.
    ///
    /// Servers and clients: {"type": ..., <parameters by Twisted's name>,
    /// "canonical": ...}. Raw: {"args": [...], "kwargs": {...}}. Errors:
    /// {"error": {"kind": ..., "offset": ..., "message": ...}}.
    #[arg(long)]
    json: bool,
}

/// Arguments of `strports quote`.
#[derive(Debug, Args)]
pub(crate) struct QuoteArgs {
    /// The text to quote: every `\`, `:` and `=` gets a backslash in front.
    #[arg(value_name = "VALUE")]
    value: String,
}

/// The successfully parsed description, whichever kind was asked for.
enum Parsed<'a> {
    Server(ServerDescription),
    Client(ClientDescription),
    Raw(RawDescription<'a>),
}

/// Runs `strports parse`.
/// The client types the tool knows: the built-ins with the program types
/// (`process:`) allowed (the user typed the command, so a description that runs a
/// program is theirs), and the `socks5:` extension type.
pub(crate) fn client_registry() -> Registry {
    let mut registry = Registry::with_programs();
    // A registry just made has no socks5 type: registering cannot fail.
    let _ = strports_socks5::register(&mut registry);
    registry
}

pub(crate) fn run_parse(args: &ParseArgs) -> ExitCode {
    let (desc, parsed) = match (&args.server, &args.client, &args.raw) {
        (Some(d), _, _) => (d.as_str(), d.parse().map(Parsed::Server)),
        // Clients as `connect` and `relay` take them (`process:`, `socks5:`).
        (_, Some(d), _) => (
            d.as_str(),
            client_registry().parse_client(d).map(Parsed::Client),
        ),
        (_, _, Some(d)) => (d.as_str(), parse_raw(d).map(Parsed::Raw)),
        // clap's required group makes this unreachable; treat it as a usage error.
        (None, None, None) => {
            let _ = writeln!(
                io::stderr(),
                "error: one of --server, --client or --raw is required"
            );
            return ExitCode::from(2);
        }
    };
    match parsed {
        Ok(parsed) => {
            let text = if args.json {
                let mut line = parsed_json(&parsed).to_string();
                line.push('\n');
                line
            } else {
                parsed_text(&parsed)
            };
            emit(&mut io::stdout(), &text, ExitCode::SUCCESS)
        }
        Err(err) if args.json => {
            let line = format!("{}\n", error_json(&err));
            emit(&mut io::stdout(), &line, ExitCode::FAILURE)
        }
        Err(err) => emit(
            &mut io::stderr(),
            &error_text(&err, desc),
            ExitCode::FAILURE,
        ),
    }
}

/// Runs `strports quote`.
pub(crate) fn run_quote(args: &QuoteArgs) -> ExitCode {
    let line = format!("{}\n", quote(&args.value));
    emit(&mut io::stdout(), &line, ExitCode::SUCCESS)
}

/// Writes `text` and returns `status`, or reports a write error and returns 1.
fn emit(out: &mut dyn io::Write, text: &str, status: ExitCode) -> ExitCode {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// JSON output

fn parsed_json(parsed: &Parsed<'_>) -> Json {
    match parsed {
        // JSON gets the exact canonical form (JSON escapes control characters); the
        // text output uses `Display`, which escapes them for the terminal.
        Parsed::Server(d) => described_json(d.type_name(), d.fields(), &d.canonical()),
        Parsed::Client(d) => described_json(d.type_name(), d.fields(), &d.canonical()),
        Parsed::Raw(raw) => Json::object([
            ("args", Json::Array(raw.args().map(Json::str).collect())),
            (
                "kwargs",
                Json::object(raw.kwargs().map(|(k, v)| (k, Json::str(v)))),
            ),
        ]),
    }
}

/// `{"type": ..., <fields>..., "canonical": ...}`.
fn described_json(type_name: &str, fields: Vec<(&str, FieldValue)>, canonical: &str) -> Json {
    let mut pairs = Vec::with_capacity(fields.len() + 2);
    pairs.push(("type".to_owned(), Json::str(type_name)));
    pairs.extend(
        fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), field_json(&value))),
    );
    pairs.push(("canonical".to_owned(), Json::str(canonical)));
    Json::Object(pairs)
}

fn field_json(value: &FieldValue) -> Json {
    match value {
        FieldValue::Null | FieldValue::Client(None) => Json::Null,
        FieldValue::Int(n) => Json::Int(*n),
        FieldValue::Str(s) => Json::str(s.as_str()),
        FieldValue::Bool(b) => Json::Bool(*b),
        FieldValue::List(items) => {
            Json::Array(items.iter().map(|s| Json::str(s.as_str())).collect())
        }
        FieldValue::Server(inner) => {
            described_json(inner.type_name(), inner.fields(), &inner.canonical())
        }
        FieldValue::Client(Some(inner)) => {
            described_json(inner.type_name(), inner.fields(), &inner.canonical())
        }
        // `FieldValue` is non-exhaustive: show a future kind of value as text.
        other => Json::Str(format!("{other:?}")),
    }
}

fn error_json(err: &ParseError) -> Json {
    let offset = i64::try_from(err.offset()).unwrap_or(i64::MAX);
    Json::object([(
        "error",
        Json::object([
            ("kind", Json::Str(format!("{:?}", err.kind()))),
            ("offset", Json::Int(offset)),
            ("message", Json::str(err.message())),
        ]),
    )])
}

// ---------------------------------------------------------------------------
// Text output

fn parsed_text(parsed: &Parsed<'_>) -> String {
    let mut out = String::new();
    match parsed {
        Parsed::Server(d) => {
            out.push_str(&d.to_string());
            out.push('\n');
            fields_text(&mut out, &d.fields(), 1);
        }
        Parsed::Client(d) => {
            out.push_str(&d.to_string());
            out.push('\n');
            fields_text(&mut out, &d.fields(), 1);
        }
        Parsed::Raw(raw) => {
            out.push_str(&requote(raw));
            out.push('\n');
            let args: Vec<String> = raw.args().map(|a| format!("{a:?}")).collect();
            let _ = writeln!(out, "  args: [{}]", args.join(", "));
            if raw.kwargs().len() == 0 {
                out.push_str("  kwargs: {}\n");
            } else {
                out.push_str("  kwargs:\n");
                for (k, v) in raw.kwargs() {
                    let _ = writeln!(out, "    {k}: {v:?}");
                }
            }
        }
    }
    out
}

/// The raw description written back with every argument quoted: positionals first,
/// then keywords, which Twisted's parser reads back to the same arguments.
fn requote(raw: &RawDescription<'_>) -> String {
    let mut parts: Vec<String> = raw.args().map(|a| quote(a).into_owned()).collect();
    parts.extend(
        raw.kwargs()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v))),
    );
    parts.join(":")
}

/// One `name: value` line per field; nested descriptions are shown by their
/// canonical form, followed by their own fields one level deeper.
fn fields_text(out: &mut String, fields: &[(&str, FieldValue)], depth: usize) {
    let indent = "  ".repeat(depth);
    for (name, value) in fields {
        match value {
            FieldValue::Null | FieldValue::Client(None) => {
                let _ = writeln!(out, "{indent}{name}: none");
            }
            FieldValue::Int(n) => {
                let _ = writeln!(out, "{indent}{name}: {n}");
            }
            FieldValue::Str(s) => {
                let _ = writeln!(out, "{indent}{name}: {s:?}");
            }
            FieldValue::Bool(b) => {
                let _ = writeln!(out, "{indent}{name}: {b}");
            }
            FieldValue::List(items) => {
                let items: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
                let _ = writeln!(out, "{indent}{name}: [{}]", items.join(", "));
            }
            FieldValue::Server(inner) => {
                let _ = writeln!(out, "{indent}{name}: {inner}");
                fields_text(out, &inner.fields(), depth + 1);
            }
            FieldValue::Client(Some(inner)) => {
                let _ = writeln!(out, "{indent}{name}: {inner}");
                fields_text(out, &inner.fields(), depth + 1);
            }
            other => {
                let _ = writeln!(out, "{indent}{name}: {other:?}");
            }
        }
    }
}

/// The description, a caret under the offending byte, and `error: <message>`
/// ([`ParseError::report`]), ended by a newline.
pub(crate) fn error_text(err: &ParseError, desc: &str) -> String {
    format!("{}\n", err.report(desc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requote_round_trips() {
        for desc in [
            r"tcp:80:interface=\:\:1",
            "a=b=c:x",
            r"k\=1=v\\:p\:q",
            "",
            "::",
        ] {
            let raw = parse_raw(desc).expect("parses");
            let again = requote(&raw);
            let back = parse_raw(&again).expect("parses again");
            assert!(back.args().eq(raw.args()), "{desc} -> {again}");
            assert!(back.kwargs().eq(raw.kwargs()), "{desc} -> {again}");
        }
    }

    #[test]
    fn error_text_puts_caret_under_offset() {
        let desc = "tcp:70000";
        let err = desc.parse::<ServerDescription>().expect_err("bad port");
        let text = error_text(&err, desc);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], desc);
        assert_eq!(lines[1], "    ^");
        assert!(lines[2].starts_with("error: invalid port"));
    }
}
