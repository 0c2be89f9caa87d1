//! The README's smol example (`tests/examples.rs` runs it over `tcp:`, `unix:`
//! and `ssl:`, and checks that the README shows this code).

use std::error::Error;

use futures_lite::{AsyncReadExt, AsyncWriteExt, io};
use strports_smol::core::{ClientDescription, ServerDescription};

/// Listens on `server`, connects with `client`, sends a line, returns the echo.
pub async fn echo_once(
    server: &ServerDescription,
    client: &ClientDescription,
) -> Result<String, Box<dyn Error>> {
    // Twisted's Factory + Protocol: one task per connection.
    let listener = strports_smol::listen(server).await?;
    let serving = strports_smol::serve(listener, |stream, peer| async move {
        let (reader, mut writer) = io::split(stream);
        if let Err(e) = io::copy(reader, &mut writer).await {
            eprintln!("{peer}: {e}");
        }
        // Returning drops the stream, which closes it (TLS too, with close_notify).
    });

    // Twisted's connectProtocol: connect, then talk.
    let mut stream = strports_smol::connect(client).await?;
    stream.write_all(b"hello over strports\n").await?;
    stream.close().await?; // half-close: the reply still arrives
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    serving.stop().await; // stop accepting, let running connections finish
    Ok(reply)
}
