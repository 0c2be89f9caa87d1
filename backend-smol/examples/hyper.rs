//! hyper 1 on smol, on any strports description: HTTP/1.1 and HTTP/2 on one
//! listener. smol-hyper adapts the streams' futures-io traits to hyper's and gives
//! hyper async-io's timer; HTTP/2's background tasks run on smol's global executor.
//!
//! Over `ssl:` and `tls:` the client picks the protocol with ALPN (the server offers
//! it with `alpn=h2,http/1.1`); elsewhere hyper-util's `auto` builder reads the
//! connection's first bytes (an HTTP/1.1 request, or HTTP/2's preface sent with
//! prior knowledge).
//!
//! ```sh
//! cargo run -p strports-smol --example smol-hyper -- tcp:8080:interface=127.0.0.1
//! curl --http2-prior-knowledge http://127.0.0.1:8080/
//! ```

use std::convert::Infallible;
use std::error::Error;
use std::future::Future;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::server::conn::auto::Builder;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use strports_smol::{Listener, Serving};

/// hyper's executor (for HTTP/2's tasks): smol's global executor, which
/// `strports_smol::serve` runs the connections on too.
#[derive(Debug, Clone, Copy)]
pub struct GlobalExecutor;

impl<F> hyper::rt::Executor<F> for GlobalExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        smol::spawn(future).detach();
    }
}

/// Serves every connection of `listener` with hyper: each request gets
/// `hello over <HTTP version> from <peer>`.
pub fn serve_http(listener: Listener) -> Serving {
    strports_smol::serve(listener, |stream, peer| async move {
        let from = peer.to_string();
        let service = service_fn(move |request: Request<Incoming>| {
            let body = format!("hello over {:?} from {from}\n", request.version());
            async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
        });
        let mut builder = Builder::new(GlobalExecutor);
        builder.http1().timer(SmolTimer::new());
        builder.http2().timer(SmolTimer::new());
        // What TLS negotiated, if anything; without ALPN the first bytes decide.
        let builder = match stream.alpn_protocol() {
            Some(b"h2") => builder.http2_only(),
            Some(b"http/1.1") => builder.http1_only(),
            _ => builder,
        };
        if let Err(e) = builder
            .serve_connection(FuturesIo::new(stream), service)
            .await
        {
            eprintln!("{peer}: {e}");
        }
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    smol::block_on(async {
        let desc = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tcp:8080:interface=127.0.0.1".into());
        let listener = strports_smol::listen(&desc.parse()?).await?;
        println!("serving HTTP/1.1 and HTTP/2 on {}", listener.local_addr()?);
        let _serving = serve_http(listener);
        // Serves until the process is interrupted.
        std::future::pending::<()>().await;
        Ok(())
    })
}
