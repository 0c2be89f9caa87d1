//! hyper 1 on smol: the server of `examples/hyper.rs` answers hyper's client over
//! HTTP/1.1 and HTTP/2, with HTTP/2 by prior knowledge over `tcp:` and `unix:` and
//! by ALPN over `ssl:`; each test checks the negotiated version and the body (which
//! names the version the server saw and the peer).

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::{Request, StatusCode, Version};
use smol_hyper::rt::FuturesIo;
use strports_smol::Stream;
use strports_smol::core::quote;

// The example's `main` is unused here; its `serve_http` and executor are what is
// tested.
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/hyper.rs"]
mod example;

#[allow(dead_code, unreachable_pub)]
#[path = "../../backend-tokio/tests/support/pki.rs"]
mod pki;

type BoxError = Box<dyn Error + Send + Sync>;

/// The bound on each test.
const LIMIT: Duration = Duration::from_secs(30);

/// `GET /` over `stream` with hyper's client, in HTTP/2 if `http2` (else HTTP/1.1):
/// the response's version and body.
async fn get(stream: Stream, http2: bool) -> Result<(Version, String), BoxError> {
    let io = FuturesIo::new(stream);
    let (parts, body) = if http2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(example::GlobalExecutor, io).await?;
        let driver = smol::spawn(connection);
        let request = Request::get("http://localhost/").body(Empty::<Bytes>::new())?;
        let (parts, body) = sender.send_request(request).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        drop(sender);
        driver.await?;
        (parts, body)
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        let driver = smol::spawn(connection);
        let request = Request::get("/")
            .header(HOST, "localhost")
            .body(Empty::<Bytes>::new())?;
        let (parts, body) = sender.send_request(request).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        drop(sender);
        driver.await?;
        (parts, body)
    };
    assert_eq!(parts.status, StatusCode::OK);
    Ok((parts.version, String::from_utf8(body.to_vec())?))
}

/// Serves the example on `server`, connects with `client(port listened on)` and
/// requests `/` in the version ALPN chose, else in HTTP/2 if `prior_knowledge`;
/// checks that it is `expected`, in the response and in the body.
async fn check(
    server: &str,
    client: impl Fn(u16) -> String,
    prior_knowledge: bool,
    expected: Version,
) -> Result<(), BoxError> {
    let listener = strports_smol::listen(&server.parse()?).await?;
    let port = listener.local_addr()?.port().unwrap_or_default();
    let serving = example::serve_http(listener);
    let client = client(port);
    let stream = strports_smol::connect(&client.parse()?).await?;
    let me = stream.local_addr()?;
    let http2 = match stream.alpn_protocol() {
        Some(b"h2") => true,
        Some(b"http/1.1") => false,
        Some(other) => return Err(format!("unexpected ALPN protocol {other:?}").into()),
        None => prior_knowledge,
    };
    let (version, body) = get(stream, http2).await?;
    assert_eq!(version, expected, "{server} <- {client}");
    assert_eq!(body, format!("hello over {expected:?} from {me}\n"));
    serving.abort().await;
    Ok(())
}

/// Runs `test` on smol, for at most [`LIMIT`].
fn bounded(test: impl Future<Output = Result<(), BoxError>>) -> Result<(), BoxError> {
    smol::block_on(futures_lite::future::or(test, async {
        smol::Timer::after(LIMIT).await;
        Err(format!("not done within {LIMIT:?}").into())
    }))
}

const TCP: &str = "tcp:0:interface=127.0.0.1";

fn tcp_client(port: u16) -> String {
    format!("tcp:127.0.0.1:{port}")
}

#[test]
fn hyper_http1_over_tcp() -> Result<(), BoxError> {
    bounded(check(TCP, tcp_client, false, Version::HTTP_11))
}

#[test]
fn hyper_http2_with_prior_knowledge_over_tcp() -> Result<(), BoxError> {
    bounded(check(TCP, tcp_client, true, Version::HTTP_2))
}

#[test]
fn hyper_http1_and_http2_over_unix() -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let path = quote(&dir.path().join("http.sock").to_string_lossy()).into_owned();
    let server = format!("unix:{path}");
    bounded(async {
        check(&server, |_| server.clone(), false, Version::HTTP_11).await?;
        check(&server, |_| server.clone(), true, Version::HTTP_2).await
    })
}

/// `ssl:` with `alpn=h2,http/1.1` on the server and `alpn=<offer>` on the client.
fn over_ssl(offer: &str, expected: Version) -> Result<(), BoxError> {
    let dir = tempfile::tempdir()?;
    let pki = pki::make_pki(dir.path(), |p| quote(p).into_owned())?;
    let server = format!("ssl:0:interface=127.0.0.1:{}:alpn=h2,http/1.1", pki.server);
    let client = |port| format!("ssl:127.0.0.1:{port}:{}:alpn={offer}", pki.client);
    bounded(check(&server, client, false, expected))
}

#[test]
fn hyper_http2_by_alpn_over_ssl() -> Result<(), BoxError> {
    over_ssl("h2,http/1.1", Version::HTTP_2)
}

#[test]
fn hyper_http1_by_alpn_over_ssl() -> Result<(), BoxError> {
    over_ssl("http/1.1", Version::HTTP_11)
}
