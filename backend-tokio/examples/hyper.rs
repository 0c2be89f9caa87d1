//! hyper 1 on any strports description: HTTP/1.1 and HTTP/2 on one listener.
//!
//! Over `ssl:` and `tls:` the client picks the protocol with ALPN (the server offers
//! it with `alpn=h2,http/1.1`); elsewhere hyper-util's `auto` builder reads the
//! connection's first bytes (an HTTP/1.1 request, or HTTP/2's preface sent with
//! prior knowledge).
//!
//! ```sh
//! cargo run -p strports-tokio --example hyper -- tcp:8080:interface=127.0.0.1
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! cargo run -p strports-tokio --example hyper -- \
//!     'ssl:8443:interface=127.0.0.1:privateKey=key.pem:certKey=cert.pem:alpn=h2,http/1.1'
//! curl --cacert cert.pem https://localhost:8443/
//! ```

use std::convert::Infallible;
use std::error::Error;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use strports_tokio::{Listener, Serving};

/// Serves every connection of `listener` with hyper: each request gets
/// `hello over <HTTP version> from <peer>`.
pub fn serve_http(listener: Listener) -> Serving {
    strports_tokio::serve(listener, |stream, peer| async move {
        let from = peer.to_string();
        let service = service_fn(move |request: Request<Incoming>| {
            let body = format!("hello over {:?} from {from}\n", request.version());
            async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
        });
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        // What TLS negotiated, if anything; without ALPN the first bytes decide.
        let builder = match stream.alpn_protocol() {
            Some(b"h2") => builder.http2_only(),
            Some(b"http/1.1") => builder.http1_only(),
            _ => builder,
        };
        if let Err(e) = builder
            .serve_connection(TokioIo::new(stream), service)
            .await
        {
            eprintln!("{peer}: {e}");
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let desc = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp:8080:interface=127.0.0.1".into());
    let listener = strports_tokio::listen(&desc.parse()?).await?;
    println!("serving HTTP/1.1 and HTTP/2 on {}", listener.local_addr()?);
    let serving = serve_http(listener);
    tokio::signal::ctrl_c().await?;
    serving.stop().await;
    Ok(())
}
