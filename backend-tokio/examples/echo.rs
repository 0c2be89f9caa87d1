//! Listen on one description, connect with another, echo a line.
//!
//! `cargo run -p strports-tokio --example echo -- 'unix:/tmp/echo.sock' 'unix:/tmp/echo.sock'`

use std::error::Error;

use strports_core::{ClientDescription, ServerDescription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let server: ServerDescription = args
        .next()
        .unwrap_or_else(|| "tcp:8765:interface=127.0.0.1".into())
        .parse()?;
    let client: ClientDescription = args
        .next()
        .unwrap_or_else(|| "tcp:127.0.0.1:8765".into())
        .parse()?;

    // Twisted's Factory + Protocol: one task per connection.
    let listener = strports_tokio::listen(&server).await?;
    println!("listening on {}", listener.local_addr()?);
    let serving = strports_tokio::serve(listener, |mut stream, peer| async move {
        let (mut reader, mut writer) = tokio::io::split(&mut stream);
        if let Err(e) = tokio::io::copy(&mut reader, &mut writer).await {
            eprintln!("{peer}: {e}");
        }
    });

    // Twisted's connectProtocol: connect, then talk.
    let mut stream = strports_tokio::connect(&client).await?;
    stream.write_all(b"hello over strports\n").await?;
    stream.shutdown().await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    print!("echoed: {reply}");

    serving.stop().await;
    Ok(())
}
