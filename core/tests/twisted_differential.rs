//! Differential tests against real Twisted.
//!
//! `twisted_oracle.py` (next to this file) runs under a Python that has Twisted and
//! answers JSON-lines requests. All requests of this file go to ONE oracle process,
//! started once and shared by the tests here.
//!
//! * Raw grammar: for a corpus of hand-written and generated descriptions,
//!   Twisted's `twisted.internet.endpoints._parse(s)` and [`parse_raw`] must agree
//!   exactly on the positionals and the keywords (compared as maps), or both fail:
//!   a trailing backslash is Twisted's `RuntimeError` and our `TrailingBackslash`,
//!   a non-ASCII keyword name is Twisted's `UnicodeEncodeError` and our
//!   `NonAsciiKeyword`.
//! * Typed descriptions: for ordinary, valid server descriptions (`tcp`, `tcp6`,
//!   `unix`, `stdio`, `systemd`, `haproxy`) and client descriptions (`tcp`, `unix`),
//!   the endpoint `serverFromString`/`clientFromString` builds (its stored
//!   attributes) must match our typed description. `ssl`/`tls` are left out: Twisted
//!   reads PEM files at parse time and needs pyOpenSSL.
//!
//! Which Python: `STRPORTS_TWISTED_PYTHON` if set (CI sets it; then the oracle must
//! work), else `<workspace>/.venv/bin/python` if it can import Twisted, else the tests
//! print "skipped: no Twisted" and pass.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use strports_core::grammar::parse_raw;
use strports_core::{
    ClientDescription, ParseErrorKind, ServerDescription, SystemdSelector, UnixAddress,
};

const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twisted_oracle.py");

/// The descriptor names the oracle process pretends to have inherited from systemd
/// (descriptors 3, 4, 5); see `twisted_oracle.py`.
const SYSTEMD_NAMES: [&str; 3] = ["a", "b", "c"];

// Corpora -------------------------------------------------------------------------

/// Hand-written edge cases for the raw grammar.
const RAW_CASES: &[&str] = &[
    // Empty input and empty segments.
    "",
    ":",
    "::",
    ":::",
    "a::b",
    ":a:",
    "a:",
    ":a",
    "tcp:",
    "tcp::",
    "tcp:80:",
    "tcp:80::",
    // `=` rules: only the first `=` of a segment is an operator.
    "=",
    "==",
    "===",
    "=x",
    "x=",
    "a=b=c",
    "a==b",
    "a=b:c=d=e",
    ":=:",
    "=:=",
    "a:=",
    "=::",
    "a=:b",
    "a=:=b",
    "t:k=",
    "t:k==",
    "t:=",
    "t:=v",
    "a:b:d=1:c",
    "t:a=1:a=2",
    "a=1:t:a=2:b=3:a=4",
    "t:a=1:b=2:a=3:c=4:b=5",
    "port=80:tcp",
    "interface=127.0.0.1:tcp:80",
    "port=80",
    "a=1:b=2",
    // Escapes.
    r"\\",
    r"\:",
    r"\=",
    r"\n",
    r"\a\b",
    r"a\\:b",
    r"a\\\:b",
    r"\é",
    r"\ ",
    r"\\\\",
    r"a\=b",
    r"k\=1=v",
    r"k\:x=v",
    r"\=x=y",
    r"a=\=",
    r"a=\:",
    r"a=\\",
    r"a=b\=c",
    r"a=b=\:c",
    r"k=a\:b\:c",
    r"t:\:\:1",
    r"t:\=\=",
    r"\t\c\p:80",
    r"tcp\:80",
    r"x:\:",
    r"\::",
    r":\:",
    r"\\=\\",
    r"\==\=",
    r"=\==",
    r"\0",
    r"x\y\z=\1\2",
    // Trailing backslashes (Twisted: RuntimeError).
    "\\",
    "\\\\\\",
    "tcp:80\\",
    "a=\\",
    "x\\\\\\",
    "k=v\\",
    "tcp:80:interface=\\",
    "é\\",
    "k=é\\",
    "é=\\",
    ":\\",
    "=\\",
    "a:b:c\\",
    // Non-ASCII values, positionals and keyword names.
    "é",
    "tcp:é",
    "k=é",
    "é=1",
    "t:é=1",
    "t:pört=1",
    "ключ=1",
    "t:日本=x",
    "tcp:80:interface=日本",
    "t:\u{1F600}",
    "t:k=\u{1F600}",
    "\u{1F600}=1",
    "t:\u{FEFF}",
    "t:k=\u{FEFF}",
    "t:e\u{301}",
    "t:\u{202E}abc",
    "t:\u{0}",
    "t:a\u{0}b=1",
    "\u{0}=\u{0}",
    "t:\u{7F}=\u{80}",
    "t:\u{85}",
    r"\é=1",
    r"t:k\é=1",
    "ſſl:h:443",
    "ßl:h:443",
    "Straße:x",
    // Whitespace and control characters are ordinary.
    " tcp : 80 ",
    "tcp:80: backlog=1",
    "tcp:80:backlog =1",
    "tcp:80:backlog= 1",
    "\ttcp\t:\t80",
    "tcp:80\n",
    "tcp:80\r\n",
    "t:\u{3000}",
    "t:k\u{B}=v",
    // IPv6 literals.
    r"tcp6:80:interface=\:\:1",
    r"tcp:h\:\:1:80",
    r"tls:\:\:1:443",
    r"tcp6:80:interface=fe80\:\:1%eth0",
    r"tcp6:80:interface=[\:\:1]",
    "tcp6:80:interface=::1",
    "tcp:[::1]:80",
    r"tcp:\[\:\:1\]:80",
    r"tcp6:80:interface=2001\:db8\:\:1",
    // Every server type.
    "tcp:80",
    "tcp:80:127.0.0.1:50",
    "tcp:80:interface=127.0.0.1:backlog=10",
    "TCP:80",
    "tcp6:80:10",
    "TCP6:80:backlog=5",
    "unix:/var/run/finger",
    "unix:/var/run/finger:mode=660",
    "unix:/x:660:10:0",
    "unix:\u{0}abstract:lockfile=0",
    "unix:@abstract",
    "ssl:443",
    "ssl:443:privateKey=key.pem:certKey=crt.pem",
    r"ssl:443:privateKey=C\:/key.pem:certKey=C\:/cert.pem",
    "ssl:443:k.pem:c.pem:TLS_METHOD:127.0.0.1:5:chain.pem:dh.pem",
    "ssl:443:sslmethod=TLSv1_2_METHOD",
    "stdio",
    "stdio:",
    "STDIO:a:b=c",
    "systemd:domain=INET:index=0",
    "systemd:domain=INET6:name=web",
    "systemd:domain=INET:index=:name=x",
    "tls:/etc/certs",
    "tls:/etc/certs:8443:10:::",
    "haproxy:tcp:80",
    r"haproxy:tcp:8\=0",
    r"haproxy:unix:a\=b",
    "haproxy:haproxy:tcp:80",
    "fd:3:domain=INET",
    // Every client type.
    "tcp:example.com:80",
    "tcp:host=h:80",
    "tcp:h:80:port=81",
    "tcp:h:1:extra",
    "tcp:h:80:timeout=5:bindAddress=10.0.0.1",
    "unix:/x:lockfile=1",
    "unix:/x:checkPID=0",
    "ssl:example.com:443:hostname=Example.COM",
    "ssl:h:443:certKey=c.pem:privateKey=k.pem:caCertsDir=/etc/ca",
    "tls:example.com:443",
    r"tls:h:443:endpoint=tcp\:1.2.3.4\:443",
    r"tls:a:1:endpoint=tls\:b\:2\:endpoint=tcp\\\:1.2.3.4\\\:443",
    r"tls:h:443:5:b:c.pem:k.pem:/ca:tcp\:h\:1",
    "process:cat",
    r"process:sh:-c:echo a\=b",
    // Odd but legal.
    "tcp:80:=:==",
    "tcp:80:interface=a=b",
    "a:b=c:d=e:f",
    "x=1:x=2:x=3",
    "t:k=:k=v",
    "t:k=v:k=",
    "t:_=1:-=2:.=3",
    "t:0=1",
    "t:K=1:k=2",
    "t:a b=1",
    "t:\u{7}=bell",
];

/// Every string of length <= 4 over a small alphabet, plus pseudo-random longer ones
/// over a larger alphabet (a fixed linear congruential generator: deterministic).
fn generated_raw_cases() -> Vec<String> {
    let small = ['a', ':', '=', '\\', 'é', ' ', '0'];
    let mut out = vec![String::new()];
    let mut level = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::with_capacity(level.len() * small.len());
        for s in &level {
            for c in small {
                let mut t = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        out.extend(next.iter().cloned());
        level = next;
    }
    let large = [
        'a',
        'k',
        't',
        'c',
        'p',
        '8',
        '0',
        ':',
        ':',
        '=',
        '=',
        '\\',
        '\\',
        'é',
        ' ',
        '\0',
        '日',
        '\t',
        'K',
        '_',
        '\u{1F600}',
    ];
    let mut state: u64 = 0x5eed_cafe_f00d_d00d;
    let mut rand = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    for _ in 0..1500 {
        let len = 5 + rand(20) as usize;
        let s: String = (0..len)
            .map(|_| large[rand(large.len() as u64) as usize])
            .collect();
        out.push(s);
    }
    out
}

/// Ordinary, valid server descriptions on which Twisted and strports must agree.
const SERVER_CASES: &[&str] = &[
    "tcp:80",
    "tcp:0",
    "tcp:65535",
    "tcp:0080",
    "tcp:8080:127.0.0.1",
    "tcp:8080:127.0.0.1:10",
    "tcp:80:interface=127.0.0.1",
    "tcp:80:backlog=10",
    "tcp:80:interface=127.0.0.1:backlog=1",
    "tcp:port=8080",
    "tcp:port=8080:interface=0.0.0.0",
    "port=80:tcp",
    "interface=127.0.0.1:tcp:80",
    "backlog=7:tcp:80",
    r"tcp:80:interface=\:\:1",
    "tcp:80:interface=",
    "tcp:80:10",
    "tcp:80:interface=é",
    "tcp:80:interface=a=b",
    "tcp:80:backlog=1:backlog=2",
    "tcp6:80",
    "tcp6:80:10",
    r"tcp6:80:10:\:\:1",
    r"tcp6:80:interface=\:\:1",
    r"tcp6:80:interface=\:\:1:backlog=5",
    r"tcp6:80:interface=fe80\:\:1%lo",
    "tcp6:port=443:backlog=100",
    "tcp6:80:interface=",
    "tcp6:80:interface=127.0.0.1",
    "TCP6:443",
    "Tcp6:443",
    "unix:/tmp/x.sock",
    "unix:/var/run/finger",
    "unix:/var/run/finger:mode=660",
    "unix:/tmp/x.sock:660",
    "unix:/tmp/x.sock:0o660",
    "unix:/tmp/x.sock:mode=0o600",
    "unix:/tmp/x.sock:mode=0O600",
    "unix:/tmp/x.sock:mode=0",
    "unix:/tmp/x.sock:mode=7777",
    "unix:/tmp/x:mode=600:backlog=5:lockfile=0",
    "unix:/tmp/x:lockfile=1",
    "unix:/tmp/x:lockfile=0",
    "unix:/tmp/x:660:5:0",
    "unix:/tmp/x:660:5:1",
    "unix:relative.sock",
    "unix:./@at",
    r"unix:a\=b",
    r"unix:C\:\\x",
    "unix:/tmp/é.sock",
    "unix:address=/tmp/kw.sock",
    "unix:\u{0}abstract:lockfile=0",
    "unix:\u{0}:lockfile=0",
    "stdio",
    "STDIO",
    "Stdio",
    "systemd:domain=INET:index=0",
    "systemd:domain=INET:index=1",
    "systemd:domain=INET6:index=2",
    "systemd:domain=UNIX:index=0",
    "systemd:INET:1",
    "systemd:INET6:name=c",
    "systemd:domain=INET:name=a",
    "systemd:domain=INET6:name=b",
    "systemd:domain=UNIX:name=c",
    "SYSTEMD:domain=INET:index=00",
    "haproxy:tcp:80",
    "haproxy:tcp:80:interface=127.0.0.1",
    r"haproxy:tcp6:80:interface=\:\:1",
    "haproxy:unix:/tmp/x:mode=660",
    "haproxy:unix:/tmp/x:lockfile=0",
    "haproxy:stdio",
    "haproxy:systemd:domain=INET:index=1",
    "haproxy:haproxy:tcp:80",
    "HAPROXY:tcp:80:backlog=3",
    "port=80:haproxy:tcp",
];

/// Ordinary, valid client descriptions on which Twisted and strports must agree.
const CLIENT_CASES: &[&str] = &[
    "tcp:example.com:80",
    "tcp:h:0",
    "tcp:h:65535",
    "tcp:127.0.0.1:8080",
    r"tcp:\:\:1:80",
    "tcp:host=h:port=80",
    "tcp:host=h:80",
    "tcp:port=80:h",
    "tcp:h:port=80",
    "tcp:h:80:timeout=5",
    "tcp:h:80:timeout=0030",
    "tcp:h:80:bindAddress=10.0.0.1",
    "tcp:h:80:timeout=1:bindAddress=127.0.0.2",
    "tcp:Bad_Host.EXAMPLE:1",
    "tcp:é.example:1",
    "TCP:h:80",
    "Tcp:h:80",
    "timeout=9:tcp:h:80",
    "unix:/tmp/x.sock",
    "unix:path=/tmp/x.sock",
    "unix:/tmp/x.sock:timeout=3",
    "unix:/tmp/x.sock:lockfile=1",
    "unix:/tmp/x.sock:lockfile=0",
    "unix:/tmp/x.sock:lockfile=1:timeout=2",
    "unix:relative.sock",
    r"unix:a\=b",
    "unix:\u{0}abstract",
    "UNIX:/tmp/x.sock",
];

// The oracle ------------------------------------------------------------------------

struct Answers {
    twisted: String,
    by_request: HashMap<(String, String), Value>,
}

impl Answers {
    fn get(&self, op: &str, s: &str) -> &Value {
        self.by_request
            .get(&(op.to_owned(), s.to_owned()))
            .unwrap_or_else(|| panic!("no oracle answer for {op} {s:?}"))
    }
}

fn all_requests() -> Vec<(String, String)> {
    let mut reqs: Vec<(String, String)> = Vec::new();
    for s in RAW_CASES.iter().chain(SERVER_CASES).chain(CLIENT_CASES) {
        reqs.push(("raw".into(), (*s).to_owned()));
    }
    for s in generated_raw_cases() {
        reqs.push(("raw".into(), s));
    }
    for s in SERVER_CASES {
        reqs.push(("server".into(), (*s).to_owned()));
        if let Ok(d) = s.parse::<ServerDescription>() {
            reqs.push(("server".into(), d.to_string()));
        }
    }
    for s in CLIENT_CASES {
        reqs.push(("client".into(), (*s).to_owned()));
        if let Ok(d) = s.parse::<ClientDescription>() {
            reqs.push(("client".into(), d.to_string()));
        }
    }
    reqs.sort();
    reqs.dedup();
    reqs
}

/// The Python to use, or `None` (with the reason) if the tests should be skipped.
fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("STRPORTS_TWISTED_PYTHON").filter(|p| !p.is_empty()) {
        // Explicitly configured (CI): must work, so no probing here.
        return Ok(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if !venv.exists() {
        return Err(format!(
            "STRPORTS_TWISTED_PYTHON is unset and {} does not exist",
            venv.display()
        ));
    }
    let ok = Command::new(&venv)
        .args(["-c", "import twisted.internet.endpoints"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(venv)
    } else {
        Err(format!("{} cannot import twisted", venv.display()))
    }
}

fn run_oracle(python: &Path, reqs: &[(String, String)]) -> Answers {
    let mut child = Command::new(python)
        .arg(ORACLE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let mut input = String::from("{\"op\":\"hello\"}\n");
    for (op, s) in reqs {
        input.push_str(&json!({"op": op, "s": s}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Write from another thread so that neither side blocks on a full pipe.
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).expect("write to oracle");
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .collect::<Result<_, _>>()
        .expect("read oracle output");
    writer.join().expect("writer thread");
    let status = child.wait().expect("wait for oracle");
    assert!(status.success(), "oracle failed: {status}");
    assert_eq!(
        lines.len(),
        reqs.len() + 1,
        "one answer per request (and the hello)"
    );
    let hello: Value = serde_json::from_str(&lines[0]).expect("hello is json");
    let twisted = hello["twisted"]
        .as_str()
        .expect("hello names the Twisted version")
        .to_owned();
    let by_request = reqs
        .iter()
        .cloned()
        .zip(lines[1..].iter().map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad json {l:?}: {e}"))
        }))
        .collect();
    Answers {
        twisted,
        by_request,
    }
}

/// Runs the oracle once for all tests; `None` if Twisted is unavailable.
fn answers() -> Option<&'static Answers> {
    static ANSWERS: OnceLock<Option<Answers>> = OnceLock::new();
    ANSWERS
        .get_or_init(|| match find_python() {
            Ok(python) => {
                let a = run_oracle(&python, &all_requests());
                note(&format!(
                    "twisted differential: {} answers from Twisted {} ({})",
                    a.by_request.len(),
                    a.twisted,
                    python.display()
                ));
                Some(a)
            }
            Err(why) => {
                note(&format!(
                    "skipped: no Twisted ({why}); set STRPORTS_TWISTED_PYTHON to a python with twisted"
                ));
                None
            }
        })
        .as_ref()
}

/// Writes a line to the real stderr (not captured by the test harness), so that a
/// skip is visible in CI logs.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn report(what: &str, checked: usize, mismatches: &[String]) {
    if !mismatches.is_empty() {
        let shown: Vec<&str> = mismatches.iter().take(30).map(String::as_str).collect();
        panic!(
            "{what}: {} of {checked} disagree with Twisted:\n{}",
            mismatches.len(),
            shown.join("\n")
        );
    }
}

// Raw grammar -----------------------------------------------------------------------

fn compare_raw(s: &str, theirs: &Value) -> Result<(), String> {
    match (parse_raw(s), theirs.get("error").and_then(Value::as_str)) {
        (Ok(ours), None) => {
            let their_args: Vec<&str> = theirs["args"]
                .as_array()
                .ok_or("no args")?
                .iter()
                .map(|v| v.as_str().unwrap_or("<non-string>"))
                .collect();
            let their_kwargs: BTreeMap<&str, &str> = theirs["kwargs"]
                .as_object()
                .ok_or("no kwargs")?
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("<non-string>")))
                .collect();
            let our_args: Vec<&str> = ours.args().collect();
            let our_kwargs: BTreeMap<&str, &str> = ours.kwargs().collect();
            if our_kwargs.len() != ours.kwargs().len() {
                return Err(format!("{s:?}: a keyword appears twice in our kwargs"));
            }
            if our_args != their_args || our_kwargs != their_kwargs {
                return Err(format!(
                    "{s:?}: ours args={our_args:?} kwargs={our_kwargs:?}, Twisted args={their_args:?} kwargs={their_kwargs:?}"
                ));
            }
            Ok(())
        }
        (Err(e), Some(class)) => {
            let expected = match e.kind() {
                ParseErrorKind::TrailingBackslash => "RuntimeError",
                ParseErrorKind::NonAsciiKeyword => "UnicodeEncodeError",
                _ => "<no error: parse_raw fails only for these two>",
            };
            if class == expected {
                Ok(())
            } else {
                Err(format!("{s:?}: ours {:?} ({e}), Twisted {class}", e.kind()))
            }
        }
        (Ok(ours), Some(class)) => Err(format!(
            "{s:?}: ours parses (args={:?}), Twisted raises {class}: {}",
            ours.args().collect::<Vec<_>>(),
            theirs["message"]
        )),
        (Err(e), None) => Err(format!("{s:?}: ours fails ({e}), Twisted gives {theirs}")),
    }
}

#[test]
fn raw_grammar_agrees_with_twisted() {
    let Some(answers) = answers() else { return };
    let cases: Vec<String> = RAW_CASES
        .iter()
        .chain(SERVER_CASES)
        .chain(CLIENT_CASES)
        .map(|s| (*s).to_owned())
        .chain(generated_raw_cases())
        .collect();
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|s| compare_raw(s, answers.get("raw", s)).err())
        .collect();
    report("raw grammar", cases.len(), &mismatches);
}

#[test]
fn raw_corpus_covers_both_error_kinds() {
    // Guards the corpus itself: it must exercise both exceptions it tolerates.
    let kinds: Vec<ParseErrorKind> = RAW_CASES
        .iter()
        .filter_map(|s| parse_raw(s).err().map(|e| e.kind()))
        .collect();
    assert!(kinds.contains(&ParseErrorKind::TrailingBackslash));
    assert!(kinds.contains(&ParseErrorKind::NonAsciiKeyword));
    assert!(RAW_CASES.len() + SERVER_CASES.len() + CLIENT_CASES.len() >= 200);
}

// Typed descriptions ----------------------------------------------------------------

fn unix_text(a: &UnixAddress) -> String {
    match a {
        UnixAddress::Path(p) => p.to_str().expect("utf-8 path").to_owned(),
        // Twisted spells abstract names with a leading NUL.
        UnixAddress::Abstract(name) => format!("\0{name}"),
    }
}

/// What Twisted's endpoint for `d` looks like, in the oracle's terms.
fn expected_server(d: &ServerDescription) -> Value {
    match d {
        ServerDescription::Tcp(t) | ServerDescription::Tcp6(t) => json!({
            "class": if matches!(d, ServerDescription::Tcp(_)) {
                "TCP4ServerEndpoint"
            } else {
                "TCP6ServerEndpoint"
            },
            "port": t.port,
            "interface": t.interface,
            "backlog": t.backlog,
        }),
        ServerDescription::Unix(u) => json!({
            "class": "UNIXServerEndpoint",
            "address": unix_text(&u.address),
            "mode": u.mode,
            "backlog": u.backlog,
            "wantPID": u.lockfile,
        }),
        ServerDescription::Stdio => json!({"class": "StandardIOEndpoint"}),
        ServerDescription::Systemd(s) => {
            let index = match &s.selector {
                SystemdSelector::Index(i) => *i as usize,
                SystemdSelector::Name(n) => SYSTEMD_NAMES
                    .iter()
                    .position(|x| x == n)
                    .expect("corpus uses the oracle's names"),
            };
            json!({
                "class": "AdoptedStreamServerEndpoint",
                "fileno": 3 + index,
                "domain": s.domain.name(),
            })
        }
        ServerDescription::Haproxy(inner) => json!({
            "class": "_WrapperServerEndpoint",
            "wrapped": expected_server(inner),
            "wrapper": "HAProxyWrappingFactory",
        }),
        other => panic!("no Twisted equivalent in this test for {other:?}"),
    }
}

fn expected_client(d: &ClientDescription) -> Value {
    match d {
        ClientDescription::Tcp(t) => json!({
            "class": "TCP4ClientEndpoint",
            "host": t.host,
            "port": t.port,
            "timeout": t.timeout,
            "bindAddress": t.bind_address.as_ref().map(|b| json!([b, 0])),
        }),
        ClientDescription::Unix(u) => json!({
            "class": "UNIXClientEndpoint",
            "path": unix_text(&u.path),
            "timeout": u.timeout,
            "checkPID": u.lockfile,
        }),
        other => panic!("no Twisted equivalent in this test for {other:?}"),
    }
}

fn compare_typed<T: std::fmt::Debug>(
    s: &str,
    ours: Result<T, strports_core::ParseError>,
    theirs: &Value,
    expected: impl Fn(&T) -> Value,
) -> Result<(), String> {
    let ours = ours.map_err(|e| format!("{s:?}: ours fails: {e}"))?;
    let Some(endpoint) = theirs.get("endpoint") else {
        return Err(format!("{s:?}: Twisted fails: {theirs}"));
    };
    let want = expected(&ours);
    if &want == endpoint {
        Ok(())
    } else {
        Err(format!(
            "{s:?}: ours {ours:?} means {want}, Twisted built {endpoint}"
        ))
    }
}

#[test]
fn typed_servers_agree_with_twisted() {
    let Some(answers) = answers() else { return };
    let mismatches: Vec<String> = SERVER_CASES
        .iter()
        .filter_map(|s| {
            compare_typed(
                s,
                s.parse::<ServerDescription>(),
                answers.get("server", s),
                expected_server,
            )
            .err()
        })
        .collect();
    report("typed servers", SERVER_CASES.len(), &mismatches);
}

#[test]
fn typed_clients_agree_with_twisted() {
    let Some(answers) = answers() else { return };
    let mismatches: Vec<String> = CLIENT_CASES
        .iter()
        .filter_map(|s| {
            compare_typed(
                s,
                s.parse::<ClientDescription>(),
                answers.get("client", s),
                expected_client,
            )
            .err()
        })
        .collect();
    report("typed clients", CLIENT_CASES.len(), &mismatches);
}

/// Whether the canonical print is in Twisted's own language. It is, except for
/// abstract UNIX names: strports prints them as `@name`, which Twisted reads as a
/// file name (it spells them with a leading NUL).
fn canonical_is_twisted_syntax(text: &str) -> bool {
    !text.contains('@')
}

#[test]
fn canonical_forms_mean_the_same_to_twisted() {
    // Our canonical print of each typed case, given to Twisted, must build the same
    // endpoint as the original description.
    let Some(answers) = answers() else { return };
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let servers = SERVER_CASES.iter().map(|s| {
        let canonical = s.parse::<ServerDescription>().map(|d| d.to_string());
        ("server", *s, canonical.ok())
    });
    let clients = CLIENT_CASES.iter().map(|s| {
        let canonical = s.parse::<ClientDescription>().map(|d| d.to_string());
        ("client", *s, canonical.ok())
    });
    for (op, s, canonical) in servers.chain(clients) {
        let Some(canonical) = canonical else {
            mismatches.push(format!("{s:?}: ours fails to parse"));
            continue;
        };
        if canonical == s || !canonical_is_twisted_syntax(&canonical) {
            continue;
        }
        checked += 1;
        let original = answers.get(op, s);
        let printed = answers.get(op, &canonical);
        if original != printed {
            mismatches.push(format!(
                "{op} {s:?} → Twisted {original}; canonical {canonical:?} → Twisted {printed}"
            ));
        }
    }
    assert!(
        checked >= 20,
        "only {checked} canonical forms differ from their input"
    );
    report("canonical forms", checked, &mismatches);
}
