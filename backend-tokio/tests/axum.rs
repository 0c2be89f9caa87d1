//! axum 0.8 on strports listeners (feature `axum`): the app of `examples/axum.rs`,
//! served by `axum::serve` over `tcp:`, `unix:`, `ssl:` and `haproxy:tcp:`, answers
//! a real HTTP/1.1 client (hyper's, over a strports connection), and the body names
//! the peer that `ConnectInfo<Address>` gave the handler. The README's axum snippet
//! is that example's code.

use std::error::Error;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::{Request, StatusCode, Version};
use hyper_util::rt::TokioIo;
use strports_tokio::core::quote;
use strports_tokio::{Address, Stream};
use tokio::io::AsyncWriteExt;

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
