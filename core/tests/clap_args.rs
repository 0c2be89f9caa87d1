//! Descriptions as clap arguments (feature `clap`): typed values, errors that show
//! the caret, `process:` only when asked for, and help texts whose examples parse.
#![cfg(feature = "clap")]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use clap::error::ErrorKind;
use clap::{Arg, Command, Parser};
use strports_core::value_parser::{ClientDescriptionParser, ServerDescriptionParser};
use strports_core::{
    CLIENT_TYPES, ClientDescription, PROGRAM_CLIENT_TYPES, Registry, SERVER_TYPES,
    ServerDescription, help,
};

/// A derive user: plain fields of the description types.
#[derive(Debug, Parser)]
struct Plain {
    #[arg(long)]
    listen: ServerDescription,
    #[arg(long)]
    connect: Option<ClientDescription>,
}

fn command() -> Command {
    Command::new("t")
        .arg(
            Arg::new("server")
                .long("server")
                .value_name("DESC")
                .value_parser(ServerDescriptionParser::new()),
        )
        .arg(
            Arg::new("client")
                .long("client")
                .value_name("DESC")
                .value_parser(ClientDescriptionParser::with_programs()),
        )
}

#[test]
fn descriptions_parse_as_typed_values() {
    let args = Plain::try_parse_from(["t", "--listen", r"tcp6:80:interface=\:\:1"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(args.listen.type_name(), "tcp6");
    assert_eq!(args.connect, None);
    let m = command()
        .try_get_matches_from([
            "t",
            "--server",
            "unix:/run/a.sock",
            "--client",
            "process:cat",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let server = m
        .get_one::<ServerDescription>("server")
        .map(|d| d.canonical());
    assert_eq!(server.as_deref(), Some("unix:/run/a.sock"));
    let client = m
        .get_one::<ClientDescription>("client")
        .map(|d| d.type_name());
    assert_eq!(client, Some("process"));
}

#[test]
fn a_bad_value_shows_the_caret() {
    let err = Plain::try_parse_from(["t", "--listen", "tcp:80:backlog=x"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    let text = err.to_string();
    let expected = concat!(
        "error: invalid value for '--listen <LISTEN>':\n",
        "tcp:80:backlog=x\n",
        "               ^\n",
        "invalid backlog \"x\" at offset 15: must be ascii digits\n",
    );
    assert!(text.starts_with(expected), "{text}");
    // Nested: the caret points into the outer text.
    let nested = r"tls:h:443:endpoint=tcp\:h\:99999";
    let err = command()
        .try_get_matches_from(["t", "--client", nested])
        .unwrap_err();
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], nested, "{text}");
    assert_eq!(lines[2], format!("{:27}^", ""), "{text}");
}

#[test]
fn process_needs_the_programs_parser() {
    let err =
        Plain::try_parse_from(["t", "--listen", "tcp:80", "--connect", "process:id"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueValidation);
    assert!(
        err.to_string()
            .contains("runs a program, so it is not allowed unless enabled"),
        "{err}"
    );
    let mut registry = Registry::default();
    registry.add_programs();
    let parser = ClientDescriptionParser::with_registry(registry);
    let m = Command::new("t")
        .arg(Arg::new("c").value_parser(parser))
        .try_get_matches_from(["t", r"tls:h:443:endpoint=process\:id"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(m.get_one::<ClientDescription>("c").is_some());
}

#[test]
fn non_utf8_is_clap_s_error() {
    let bad = OsString::from_vec(b"tcp:\xff".to_vec());
    let err = Plain::try_parse_from([OsString::from("t"), "--listen".into(), bad]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUtf8);
}

/// The examples of a help text: the first word of each indented line.
fn examples(help: &str) -> Vec<&str> {
    help.lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn help_texts_list_every_type_with_an_example_that_parses() {
    let servers = examples(help::SERVER);
    for example in &servers {
        example
            .parse::<ServerDescription>()
            .unwrap_or_else(|e| panic!("{example}: {e}"));
    }
    let types: Vec<&str> = servers
        .iter()
        .map(|e| e.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(types, SERVER_TYPES);

    let programs = Registry::with_programs();
    for (help, listed) in [
        (help::CLIENT, CLIENT_TYPES.to_vec()),
        (
            help::CLIENT_WITH_PROGRAMS,
            [CLIENT_TYPES, PROGRAM_CLIENT_TYPES].concat(),
        ),
    ] {
        let clients = examples(help);
        for example in &clients {
            programs
                .parse_client(example)
                .unwrap_or_else(|e| panic!("{example}: {e}"));
        }
        let types: Vec<&str> = clients
            .iter()
            .map(|e| e.split(':').next().unwrap_or_default())
            .collect();
        assert_eq!(types, listed);
    }
    // The descriptions column lines up.
    for help in [help::SERVER, help::CLIENT_WITH_PROGRAMS] {
        for line in help.lines().filter(|l| l.starts_with("  ")) {
            let chars: Vec<char> = line.chars().collect();
            assert!(
                chars.len() > 42 && chars[41] == ' ' && chars[42] != ' ',
                "{line:?}"
            );
        }
    }
}
