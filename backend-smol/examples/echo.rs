//! Listen on one description, connect with another, echo a line.
//!
//! `cargo run -p strports-smol --example echo -- 'unix:/tmp/echo.sock' 'unix:/tmp/echo.sock'`

use std::error::Error;

use futures_lite::{AsyncReadExt, AsyncWriteExt, io};
use strports_core::{ClientDescription, ServerDescription};

fn main() -> Result<(), Box<dyn Error>> {
    smol::block_on(async {
        let mut args = std::env::args().skip(1);
        let server: ServerDescription = args
            .next()
            .unwrap_or_else(|| "tcp:8766:interface=127.0.0.1".into())
            .parse()?;
        let client: ClientDescription = args
            .next()
            .unwrap_or_else(|| "tcp:127.0.0.1:8766".into())
            .parse()?;

        // Twisted's Factory + Protocol: one task per connection.
        let listener = strports_smol::listen(&server).await?;
        println!("listening on {}", listener.local_addr()?);
        let serving = strports_smol::serve(listener, |stream, peer| async move {
            let (reader, mut writer) = io::split(stream);
            if let Err(e) = io::copy(reader, &mut writer).await {
                eprintln!("{peer}: {e}");
            }
            let _ = writer.close().await;
        });

        // Twisted's connectProtocol: connect, then talk.
        let mut stream = strports_smol::connect(&client).await?;
        stream.write_all(b"hello over strports\n").await?;
        stream.close().await?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await?;
        print!("echoed: {reply}");

        serving.stop().await;
        Ok(())
    })
}
