//! axum 0.8 on strports listeners (feature `axum`): the app of `examples/axum.rs`,
//! served by `axum::serve` over `tcp:`, `unix:`, `ssl:` and `haproxy:tcp:`, answers
//! a real HTTP/1.1 client (hyper's, over a strports connection), and the body names
//! the peer that `ConnectInfo<Address>` gave the handler; its `accept` backs off on
//! `EMFILE` and serves on once descriptors free up. The README's axum snippet is that
//! example's code.

use std::error::Error;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::TokioIo;
use strports_tokio::core::quote;
use strports_tokio::{Address, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// The example's `main` is unused here; its `serve` is what is tested.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/axum.rs"]
mod example;

#[allow(dead_code, unreachable_pub)]
#[path = "support/pki.rs"]
mod pki;

type TestResult = Result<(), Box<dyn Error + Send + Sync>>;

/// The bound on each test.
const LIMIT: Duration = Duration::from_secs(30);

/// `GET /` over `stream` with hyper's HTTP/1.1 client: the response's body.
async fn get(stream: Stream) -> Result<String, Box<dyn Error + Send + Sync>> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = Request::get("/")
        .header(HOST, "localhost")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_11);
    let body = response.into_body().collect().await?.to_bytes();
    drop(sender);
    driver.await??;
    Ok(String::from_utf8(body.to_vec())?)
}

/// Serves the example's app on `server` with `axum::serve`; connects with the
/// client description `client(port listened on)`, sends `preamble`, requests `/`
/// and checks that the body greets `peer` (the client's own address when `None`);
/// twice.
async fn check(
    server: &str,
    client: impl Fn(u16) -> String,
    preamble: &[u8],
    peer: Option<Address>,
) -> TestResult {
    let listener = strports_tokio::listen(&server.parse()?).await?;
    let port = listener.local_addr()?.port().unwrap_or_default();
    let serving = tokio::spawn(example::serve(listener));

    let client = client(port);
    // Two connections: the listener accepts on after the first.
    for _ in 0..2 {
        let mut stream = strports_tokio::connect(&client.parse()?).await?;
        let peer = match &peer {
            Some(peer) => peer.clone(),
            None => stream.local_addr()?,
        };
        stream.write_all(preamble).await?;
        let body = get(stream).await?;
        assert_eq!(body, format!("hello, {peer}\n"), "{server} <- {client}");
    }
    serving.abort();
    Ok(())
}

async fn bounded(test: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(LIMIT, test)
        .await
        .map_err(|_| format!("not done within {LIMIT:?}"))?
}

#[tokio::test]
async fn axum_serves_over_tcp_with_the_peer_as_connect_info() -> TestResult {
    bounded(check(
        "tcp:0:interface=127.0.0.1",
        |port| format!("tcp:127.0.0.1:{port}"),
        b"",
        None,
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serves_over_unix_with_the_peer_as_connect_info() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = quote(&dir.path().join("app.sock").to_string_lossy()).into_owned();
    bounded(check(
        &format!("unix:{path}"),
        |_| format!("unix:{path}"),
        b"",
        Some(Address::Unix(None)),
    ))
    .await
}

#[tokio::test]
async fn axum_serves_over_ssl_with_the_peer_as_connect_info() -> TestResult {
    let dir = tempfile::tempdir()?;
    let pki = pki::make_pki(dir.path(), |p| quote(p).into_owned())?;
    bounded(check(
        &format!("ssl:0:interface=127.0.0.1:{}", pki.server),
        |port| format!("ssl:127.0.0.1:{port}:{}", pki.client),
        b"",
        None,
    ))
    .await
}

#[tokio::test]
async fn axum_behind_haproxy_gets_the_proxied_client_as_connect_info() -> TestResult {
    let header = b"PROXY TCP4 192.0.2.7 127.0.0.1 4321 80\r\n";
    bounded(check(
        "haproxy:tcp:0:interface=127.0.0.1",
        |port| format!("tcp:127.0.0.1:{port}"),
        header,
        Some(Address::Tcp("192.0.2.7:4321".parse()?)),
    ))
    .await
}

/// Every line of the README's axum snippet is a line of `examples/axum.rs` (less
/// trailing comments), so the README shows code that the tests above run.
#[test]
fn readme_shows_the_axum_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/axum.rs");
    let snippet = readme
        .split_once("<!-- axum-example:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- axum-example:end -->"))
        .map(|(snippet, _)| snippet)
        .expect("README.md has an axum-example block");
    let lines: Vec<&str> = example.lines().map(str::trim).collect();
    let code: Vec<&str> = snippet
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| l.split_once(" // ").map_or(l, |(code, _)| code).trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(code.len() >= 5, "the README's axum snippet is empty");
    for line in code {
        assert!(
            lines.contains(&line),
            "README.md's axum snippet has a line that examples/axum.rs does not: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------
// EMFILE: in a child process of its own (`RLIMIT_NOFILE` is process-wide).

/// Set in the child process that runs [`emfile_child`].
const EMFILE_CHILD: &str = "STRPORTS_TOKIO_AXUM_EMFILE_CHILD";

/// How long the parent waits for the child.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Clients queued before descriptors run out; free descriptor numbers then.
const CLIENTS: usize = 6;
const HEADROOM: usize = 2;

/// A spinning accept loop fails thousands of times a second; one that backs off,
/// about ten (the pause is 100 ms).
const FAILURE_WINDOW: Duration = Duration::from_secs(1);
const MAX_FAILURES_IN_WINDOW: u64 = 100;

static ACCEPT_PAUSES: AtomicU64 = AtomicU64::new(0);
static LAST_ACCEPT_ERROR: Mutex<String> = Mutex::new(String::new());

/// `axum::serve` on a listener whose `accept` fails with `EMFILE` (the process is
/// out of descriptors) neither spins nor gives up: it logs a warning and pauses
/// before each retry, and every queued client is served once descriptors free up.
#[test]
fn axum_accept_backs_off_on_emfile_and_serves_on() -> TestResult {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_child();
    }
    if !cfg!(target_os = "linux") {
        eprintln!("note: skipped: needs /proc");
        return Ok(());
    }
    let output = tempfile::tempfile()?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "axum_accept_backs_off_on_emfile_and_serves_on",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD, "1")
        .stdin(std::process::Stdio::null())
        .stdout(output.try_clone()?)
        .stderr(output.try_clone()?)
        .spawn()?;
    let deadline = std::time::Instant::now() + CHILD_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut text = String::new();
    let mut output = output;
    output.seek(SeekFrom::Start(0))?;
    output.read_to_string(&mut text)?;
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(format!("the child failed ({status}):\n{text}").into()),
        None => Err(format!("the child took longer than {CHILD_LIMIT:?}:\n{text}").into()),
    }
}

fn emfile_child() -> TestResult {
    tracing::subscriber::set_global_default(AcceptPauses)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(bounded(emfile_scenario()))
}

async fn emfile_scenario() -> TestResult {
    let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1:backlog=64".parse()?).await?;
    let port = listener.local_addr()?.port().unwrap_or_default();
    let client = format!("tcp:127.0.0.1:{port}").parse()?;
    // Connected while descriptors are plenty; they wait in the accept queue.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let stream = strports_tokio::connect(&client).await?;
        let me = stream.local_addr()?;
        clients.push((stream, me));
    }

    // The limit below which exactly HEADROOM descriptor numbers are free (new
    // descriptors take the lowest free number).
    let open = open_descriptors()?;
    let (mut limit, mut free) = (0, 0);
    while free < HEADROOM {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    let original = nofile_limit()?;
    set_nofile_limit(libc::rlimit {
        rlim_cur: libc::rlim_t::try_from(limit)?,
        rlim_max: original.rlim_max,
    })?;
    let serving = tokio::spawn(example::serve(listener));

    while ACCEPT_PAUSES.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = ACCEPT_PAUSES.load(Ordering::SeqCst);
    tokio::time::sleep(FAILURE_WINDOW).await;
    let in_window = ACCEPT_PAUSES.load(Ordering::SeqCst) - before;
    assert!(
        in_window < MAX_FAILURES_IN_WINDOW,
        "{in_window} accept failures in {FAILURE_WINDOW:?}: the accept loop spins"
    );
    let last = LAST_ACCEPT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        last.contains(&format!("os error {}", libc::EMFILE)),
        "the accept failure was not EMFILE: {last:?}"
    );

    // Each answered client closes, which frees a descriptor: the next waiting one
    // is accepted after a pause.
    for (mut stream, me) in clients {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with(&format!("hello, {me}\n")), "{response}");
    }
    set_nofile_limit(original)?;
    serving.abort();
    eprintln!(
        "emfile: limit {limit} with {} open; {CLIENTS} clients waiting, all served; \
         {in_window} accept failures in {FAILURE_WINDOW:?} ({last})",
        open.len()
    );
    Ok(())
}

/// The descriptor numbers open in this process (less the one listing them).
fn open_descriptors() -> std::io::Result<Vec<u64>> {
    let mut open = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        // Gone since the listing began (the listing's own descriptor): not open.
        if std::fs::read_link(entry.path()).is_err() {
            continue;
        }
        if let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
            open.push(fd);
        }
    }
    Ok(open)
}

fn nofile_limit() -> std::io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit)
}

fn set_nofile_limit(limit: libc::rlimit) -> std::io::Result<()> {
    // SAFETY: setrlimit reads one rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A `tracing` subscriber counting the warnings of an accept that failed and
/// pauses, in [`ACCEPT_PAUSES`]. It opens no descriptor.
struct AcceptPauses;

impl tracing::Subscriber for AcceptPauses {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() == tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        #[derive(Default)]
        struct Fields {
            message: String,
            error: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.message = format!("{value:?}"),
                    "error" => self.error = format!("{value:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.contains("pausing before accepting again") {
            *LAST_ACCEPT_ERROR.lock().unwrap_or_else(|p| p.into_inner()) = fields.error;
            ACCEPT_PAUSES.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
