//! End-to-end tests of `strports parse` and `strports quote`, run as a subprocess.

use std::process::{Command, Output};

use serde_json::{Value, json};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strports"))
        .args(args)
        .output()
        .expect("the strports binary runs")
}

fn stdout(out: &Output) -> &str {
    std::str::from_utf8(&out.stdout).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> &str {
    std::str::from_utf8(&out.stderr).expect("stderr is UTF-8")
}

/// Runs `strports parse <flag> <desc> --json`, checks success and that stdout is
/// exactly one line holding one JSON object, and returns it.
fn parse_json(flag: &str, desc: &str) -> Value {
    let out = run(&["parse", flag, desc, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{desc}: {}", stderr(&out));
    one_json_line(&out)
}

fn one_json_line(out: &Output) -> Value {
    let text = stdout(out);
    assert!(text.ends_with('\n'), "{text:?}");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    let value: Value = serde_json::from_str(text).expect("valid JSON");
    assert!(value.is_object(), "{text}");
    value
}

fn server(desc: &str) -> Value {
    parse_json("--server", desc)
}

fn client(desc: &str) -> Value {
    parse_json("--client", desc)
}

/// The keys of a JSON object in output order (read from the text, since
/// `serde_json::Value` sorts them).
fn key_order(out: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(out).expect("valid JSON");
    let mut keys: Vec<(usize, String)> = value
        .as_object()
        .expect("object")
        .keys()
        .map(|k| {
            let needle = format!("\"{k}\":");
            (out.find(&needle).expect("key in text"), k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn tcp_server_json_is_exact_and_ordered() {
    let out = run(&["parse", "--server", "tcp:80", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "{\"type\":\"tcp\",\"port\":80,\"interface\":\"\",\"backlog\":50,\"canonical\":\"tcp:80\"}\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn tcp_server_with_keywords() {
    let v = server("tcp:8080:interface=127.0.0.1:backlog=10");
    assert_eq!(
        v,
        json!({"type": "tcp", "port": 8080, "interface": "127.0.0.1", "backlog": 10,
               "canonical": "tcp:8080:interface=127.0.0.1:backlog=10"})
    );
}

#[test]
fn tcp6_server() {
    assert_eq!(
        server("tcp6:8080"),
        json!({"type": "tcp6", "port": 8080, "interface": "::", "backlog": 50,
               "canonical": "tcp6:8080"})
    );
    let v = server(r"tcp6:443:interface=\:\:1");
    assert_eq!(v["interface"], "::1");
    assert_eq!(v["canonical"], r"tcp6:443:interface=\:\:1");
}

#[test]
fn unix_server_mode_is_an_integer_and_lockfile_a_bool() {
    let v = server("unix:/run/app.sock");
    assert_eq!(
        v,
        json!({"type": "unix", "address": "/run/app.sock", "mode": 438, "backlog": 50,
               "lockfile": true, "canonical": "unix:/run/app.sock"})
    );
    let v = server("unix:/run/app.sock:mode=660:lockfile=no");
    assert_eq!(v["mode"], 0o660);
    assert_eq!(v["lockfile"], false);
    let v = server("unix:@app");
    assert_eq!(v["address"], "@app");
    assert_eq!(v["lockfile"], false);
}

#[test]
fn ssl_server_has_every_key_with_defaults() {
    let out = run(&["parse", "--server", "ssl:443", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        key_order(stdout(&out)),
        [
            "type",
            "port",
            "interface",
            "backlog",
            "privateKey",
            "certKey",
            "sslmethod",
            "extraCertChain",
            "dhParameters",
            "canonical"
        ]
    );
    assert_eq!(
        one_json_line(&out),
        json!({"type": "ssl", "port": 443, "interface": "", "backlog": 50,
               "privateKey": "server.pem", "certKey": "server.pem", "sslmethod": null,
               "extraCertChain": null, "dhParameters": null, "canonical": "ssl:443"})
    );
}

#[test]
fn ssl_server_cert_key_defaults_to_private_key() {
    let v = server("ssl:443:privateKey=key.pem:extraCertChain=chain.pem");
    assert_eq!(v["privateKey"], "key.pem");
    assert_eq!(v["certKey"], "key.pem");
    assert_eq!(v["extraCertChain"], "chain.pem");
    let v = server("ssl:443:privateKey=key.pem:certKey=cert.pem");
    assert_eq!(v["certKey"], "cert.pem");
}

#[test]
fn tls_server() {
    assert_eq!(
        server("tls:/etc/certs:8443"),
        json!({"type": "tls", "path": "/etc/certs", "port": 8443, "backlog": 50,
               "interface": "::", "canonical": "tls:/etc/certs:port=8443"})
    );
    let v = server("tls:/etc/certs");
    assert_eq!(v["port"], 443);
}

#[test]
fn systemd_server_index_or_name() {
    assert_eq!(
        server("systemd:domain=INET:index=0"),
        json!({"type": "systemd", "domain": "INET", "index": 0,
               "canonical": "systemd:domain=INET:index=0"})
    );
    let v = server("systemd:domain=UNIX:name=web");
    assert_eq!(v["name"], "web");
    assert!(v.get("index").is_none());
}

#[test]
fn haproxy_server_nests_the_wrapped_description() {
    let v = server("haproxy:tcp:8080:interface=127.0.0.1");
    assert_eq!(v["type"], "haproxy");
    assert_eq!(v["canonical"], "haproxy:tcp:8080:interface=127.0.0.1");
    let wrapped = &v["wrapped"];
    assert_eq!(wrapped["type"], "tcp");
    assert_eq!(wrapped["port"], 8080);
    assert_eq!(wrapped["interface"], "127.0.0.1");
    assert_eq!(wrapped["backlog"], 50);
}

#[test]
fn tcp_client() {
    assert_eq!(
        client("tcp:example.com:80"),
        json!({"type": "tcp", "host": "example.com", "port": 80, "timeout": 30,
               "bindAddress": null, "canonical": "tcp:example.com:80"})
    );
    let v = client("tcp:host=10.0.0.1:port=22:timeout=5:bindAddress=10.0.0.2");
    assert_eq!(v["timeout"], 5);
    assert_eq!(v["bindAddress"], "10.0.0.2");
}

#[test]
fn unix_client() {
    assert_eq!(
        client("unix:/run/app.sock"),
        json!({"type": "unix", "path": "/run/app.sock", "timeout": 30, "lockfile": false,
               "canonical": "unix:/run/app.sock"})
    );
    let v = client("unix:/run/app.sock:checkPID=1:timeout=3");
    assert_eq!(v["lockfile"], true);
    assert_eq!(v["timeout"], 3);
}

#[test]
fn ssl_client() {
    assert_eq!(
        client("ssl:example.com:443"),
        json!({"type": "ssl", "host": "example.com", "port": 443, "timeout": 30,
               "bindAddress": null, "hostname": null, "certKey": null, "privateKey": null,
               "caCertsDir": null, "canonical": "ssl:example.com:443"})
    );
    let v = client("ssl:10.0.0.1:443:hostname=example.com:caCertsDir=/etc/ssl/certs");
    assert_eq!(v["hostname"], "example.com");
    assert_eq!(v["caCertsDir"], "/etc/ssl/certs");
}

#[test]
fn tls_client_without_endpoint() {
    assert_eq!(
        client("tls:example.com:443"),
        json!({"type": "tls", "host": "example.com", "port": 443, "timeout": 30,
               "bindAddress": null, "certificate": null, "privateKey": null,
               "trustRoots": null, "endpoint": null, "canonical": "tls:example.com:443"})
    );
}

#[test]
fn tls_client_with_nested_endpoint() {
    let v = client(r"tls:example.com:443:endpoint=unix\:/run/proxy.sock\:timeout=5");
    assert_eq!(v["type"], "tls");
    assert_eq!(
        v["canonical"],
        r"tls:example.com:443:endpoint=unix\:/run/proxy.sock\:timeout\=5"
    );
    let endpoint = &v["endpoint"];
    assert_eq!(endpoint["type"], "unix");
    assert_eq!(endpoint["path"], "/run/proxy.sock");
    assert_eq!(endpoint["timeout"], 5);
    assert_eq!(endpoint["lockfile"], false);
}

#[test]
fn process_client_argv_is_an_array() {
    let v = client("process:cat:-n");
    assert_eq!(v["argv"], json!(["cat", "-n"]));
    assert_eq!(v["path"], Value::Null);
}

#[test]
fn raw_json_keeps_keyword_order() {
    let out = run(&[
        "parse",
        "--raw",
        r"tcp:80:zeta=1:interface=\:\:1:a=b=c:zeta=2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "{\"args\":[\"tcp\",\"80\"],\"kwargs\":{\"zeta\":\"2\",\"interface\":\"::1\",\"a\":\"b=c\"}}\n"
    );
}

#[test]
fn raw_accepts_unknown_types_and_keywords() {
    assert_eq!(
        parse_json("--raw", "nosuchtype::x:k="),
        json!({"args": ["nosuchtype", "", "x"], "kwargs": {"k": ""}})
    );
}

#[test]
fn error_json_on_stdout_with_exit_1() {
    let out = run(&["parse", "--server", "tcp:70000", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_json_line(&out),
        json!({"error": {"kind": "InvalidPort", "offset": 4,
                         "message": "invalid port \"70000\" at offset 4: must be 0-65535"}})
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn error_json_kinds() {
    for (flag, desc, kind, offset) in [
        ("--server", "nope:1", "UnknownType", 0),
        ("--server", "tcp:80:backlog=x", "InvalidNumber", 15),
        ("--server", "unix:/x:mode=9", "InvalidMode", 13),
        ("--client", "tcp:example.com", "MissingParameter", 0),
        ("--client", "unix:/x:lockfile=maybe", "InvalidBoolean", 17),
        ("--raw", r"tcp:80\", "TrailingBackslash", 6),
    ] {
        let out = run(&["parse", flag, desc, "--json"]);
        assert_eq!(out.status.code(), Some(1), "{desc}");
        let v = one_json_line(&out);
        assert_eq!(v["error"]["kind"], kind, "{desc}: {v}");
        if kind != "MissingParameter" {
            assert_eq!(v["error"]["offset"], offset, "{desc}: {v}");
        }
        assert!(v["error"]["message"].is_string(), "{desc}: {v}");
    }
}

#[test]
fn human_error_has_caret_under_offending_byte() {
    let desc = "tcp:80:backlog=x";
    let out = run(&["parse", "--server", desc]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(lines[0], desc);
    assert_eq!(lines[1], format!("{}^", " ".repeat(15)));
    assert_eq!(
        lines[2],
        "error: invalid backlog \"x\" at offset 15: must be ascii digits"
    );
}

#[test]
fn human_error_caret_inside_nested_description() {
    let desc = r"tls:example.com:443:endpoint=tcp\:10.0.0.1\:99999";
    let out = run(&["parse", "--client", desc]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    let column = lines[1].find('^').expect("caret");
    assert_eq!(&desc[column..], "99999");
    assert!(lines[2].starts_with("error: invalid port \"99999\""));
}

#[test]
fn human_output_lists_fields() {
    let out = run(&["parse", "--server", "tcp:8080:interface=127.0.0.1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "tcp:8080:interface=127.0.0.1\n  port: 8080\n  interface: \"127.0.0.1\"\n  backlog: 50\n"
    );
    let out = run(&[
        "parse",
        "--client",
        "tls:example.com:443:endpoint=tcp\\:h\\:1",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("\n  endpoint: tcp:h:1\n    host: \"h\"\n"),
        "{text}"
    );
    assert!(text.contains("\n  bindAddress: none\n"), "{text}");
}

#[test]
fn human_raw_output() {
    let out = run(&["parse", "--raw", r"tcp:80:interface=\:\:1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "tcp:80:interface=\\:\\:1\n  args: [\"tcp\", \"80\"]\n  kwargs:\n    interface: \"::1\"\n"
    );
}

#[test]
fn quote_escapes_and_round_trips() {
    let value = r"C:\keys\a=b::c\\=";
    let out = run(&["quote", value]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let quoted = text.strip_suffix('\n').expect("ends with a newline");
    assert_eq!(quoted, r"C\:\\keys\\a\=b\:\:c\\\\\=");
    let raw = parse_json("--raw", &format!("x:{quoted}"));
    assert_eq!(raw["args"][1], value);
    let raw = parse_json("--raw", &format!("x:k={quoted}"));
    assert_eq!(raw["kwargs"]["k"], value);
}

#[test]
fn quote_leaves_plain_values_alone() {
    let out = run(&["quote", "plain.pem"]);
    assert_eq!(stdout(&out), "plain.pem\n");
    let out = run(&["quote", "--", "-x:1"]);
    assert_eq!(stdout(&out), "-x\\:1\n");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["parse"][..],
        &["parse", "--server", "tcp:80", "--client", "tcp:h:80"],
        &["parse", "--json"],
        &["quote"],
        &["frobnicate"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn help_shows_examples() {
    for args in [&["--help"][..], &["parse", "--help"], &["quote", "--help"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = stdout(&out);
        assert!(text.contains("Examples:"), "{args:?}: {text}");
    }
    let out = run(&["quote", "--help"]);
    let text = stdout(&out);
    assert!(text.contains('\\') && text.contains(':') && text.contains('='));
}
