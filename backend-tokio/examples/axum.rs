//! axum 0.8 on any strports description (feature `axum`): `tcp:`, `unix:`, `ssl:`,
//! `systemd:`, `haproxy:ssl:`, ...; handlers get the peer as `ConnectInfo<Address>`
//! (behind `haproxy:`, the client the PROXY header names).
//!
//! ```sh
//! cargo run -p strports-tokio --features axum --example axum -- unix:/tmp/app.sock
//! curl --unix-socket /tmp/app.sock http://localhost/
//! ```

use std::error::Error;

use axum::{Router, extract::ConnectInfo, routing::get};
use strports_tokio::{Address, Listener};

/// Serves the app on `listener`: `GET /` greets the peer. Returns only on an error.
pub async fn serve(listener: Listener) -> Result<(), Box<dyn Error + Send + Sync>> {
    let app = Router::new().route(
        "/",
        get(|ConnectInfo(peer): ConnectInfo<Address>| async move { format!("hello, {peer}\n") }),
    );
    let app = app.into_make_service_with_connect_info::<Address>();
    axum::serve(listener, app).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let desc = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp:8080:interface=127.0.0.1".into());
    let listener = strports_tokio::listen(&desc.parse()?).await?;
    serve(listener).await
}
