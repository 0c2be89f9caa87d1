//! Listen on one description, connect with another, echo a line: the same code
//! over every transport (`tcp:`, `unix:`, `ssl:`, ...).
//!
//! `cargo run -p strports-smol --example smol-echo -- unix:/tmp/e.sock unix:/tmp/e.sock`

use std::error::Error;

use strports_smol::core::{ClientDescription, ServerDescription};

// `pub` there: it is the crate's top level when a test includes it.
#[allow(unreachable_pub)]
mod echo_once;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let server: ServerDescription = args
        .next()
        .unwrap_or_else(|| "tcp:8766:interface=127.0.0.1".into())
        .parse()?;
    let client: ClientDescription = args
        .next()
        .unwrap_or_else(|| "tcp:127.0.0.1:8766".into())
        .parse()?;
    let reply = smol::block_on(echo_once::echo_once(&server, &client))?;
    print!("echoed: {reply}");
    Ok(())
}
