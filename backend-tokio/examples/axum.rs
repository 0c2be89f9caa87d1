//! axum 0.8 on any strports description (feature `axum`): `tcp:`, `unix:`, `ssl:`,
//! `systemd:`, `haproxy:ssl:`, ...; handlers get the peer as `ConnectInfo<Address>`
//! (behind `haproxy:`, the client the PROXY header names).
//!
//! ```sh
//! cargo run -p strports-tokio --features axum --example axum -- unix:/tmp/app.sock
//! curl --unix-socket /tmp/app.sock http://localhost/
//! ```

use std::error::Error;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use strports_tokio::Address;

/// The app: `GET /` greets the peer.
pub fn app() -> Router {
    Router::new().route(
        "/",
        get(|ConnectInfo(peer): ConnectInfo<Address>| async move { format!("hello, {peer}\n") }),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let desc = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp:8080:interface=127.0.0.1".into());
    let listener = strports_tokio::listen(&desc.parse()?).await?;
    let app = app().into_make_service_with_connect_info::<Address>();
    axum::serve(listener, app).await?;
    Ok(())
}
