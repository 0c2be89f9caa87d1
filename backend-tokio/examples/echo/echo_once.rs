//! The README's tokio example (`tests/examples.rs` runs it over `tcp:`, `unix:`
//! and `ssl:`, and checks that the README shows this code).

use std::error::Error;

use strports_tokio::core::{ClientDescription, ServerDescription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Listens on `server`, connects with `client`, sends a line, returns the echo.
pub async fn echo_once(
    server: &ServerDescription,
    client: &ClientDescription,
) -> Result<String, Box<dyn Error>> {
    // Twisted's Factory + Protocol: one task per connection.
    let listener = strports_tokio::listen(server).await?;
    let serving = strports_tokio::serve(listener, |mut stream, peer| async move {
        let (mut reader, mut writer) = tokio::io::split(&mut stream);
        if let Err(e) = tokio::io::copy(&mut reader, &mut writer).await {
            eprintln!("{peer}: {e}");
        }
        // Returning drops the stream, which closes it (TLS too, with close_notify).
    });

    // Twisted's connectProtocol: connect, then talk.
    let mut stream = strports_tokio::connect(client).await?;
    stream.write_all(b"hello over strports\n").await?;
    stream.shutdown().await?; // half-close: the reply still arrives
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    serving.stop().await; // stop accepting, let running connections finish
    Ok(reply)
}
