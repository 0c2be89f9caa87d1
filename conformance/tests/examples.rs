//! The examples of `strports-tokio` and `strports-smol` (`examples/echo/`), which
//! the README shows, run over `tcp:`, `unix:` and `ssl:`: the same handler code
//! works on every transport. And the README shows exactly that code.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use strports_conformance::pki::TestCa;
use strports_core::{ClientDescription, ServerDescription, quote};

// `pub` there: the example's module is the crate's top level in the example.
#[allow(unreachable_pub)]
#[path = "../../backend-tokio/examples/echo/echo_once.rs"]
mod tokio_echo;

#[allow(unreachable_pub)]
#[path = "../../backend-smol/examples/echo/echo_once.rs"]
mod smol_echo;

const LINE: &str = "hello over strports\n";

/// A port nothing listens on now (bound, then released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("local address").port()
}

/// `path` as description text.
fn q(path: &Path) -> String {
    quote(&path.to_string_lossy()).into_owned()
}

/// (name, server, client) for each transport, files in `dir`.
fn transports(dir: &Path) -> Vec<(&'static str, ServerDescription, ClientDescription)> {
    TestCa::new("strports examples ca").write_server_files(dir);
    let tcp = free_port();
    let ssl = free_port();
    let socket = q(&dir.join("echo.sock"));
    let (cert, key, ca) = (
        q(&dir.join("server.pem")),
        q(&dir.join("server.key")),
        q(&dir.join("ca")),
    );
    [
        (
            "tcp",
            format!("tcp:{tcp}:interface=127.0.0.1"),
            format!("tcp:127.0.0.1:{tcp}"),
        ),
        ("unix", format!("unix:{socket}"), format!("unix:{socket}")),
        (
            "ssl",
            format!("ssl:{ssl}:interface=127.0.0.1:certKey={cert}:privateKey={key}"),
            format!("ssl:127.0.0.1:{ssl}:hostname=localhost:caCertsDir={ca}"),
        ),
    ]
    .into_iter()
    .map(|(name, server, client)| {
        let server = server.parse().unwrap_or_else(|e| panic!("{server}: {e}"));
        let client = client.parse().unwrap_or_else(|e| panic!("{client}: {e}"));
        (name, server, client)
    })
    .collect()
}

/// Fails the test if `future` takes longer than 20 s.
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    let timer = async {
        async_io::Timer::after(Duration::from_secs(20)).await;
        None
    };
    match futures_lite::future::or(async { Some(future.await) }, timer).await {
        Some(v) => v,
        None => panic!("{what}: took longer than 20 s"),
    }
}

#[test]
fn tokio_example_echoes_over_tcp_unix_and_ssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    for (name, server, client) in transports(dir.path()) {
        let reply = runtime.block_on(async {
            let echo = tokio_echo::echo_once(&server, &client);
            match tokio::time::timeout(Duration::from_secs(20), echo).await {
                Ok(reply) => reply.map_err(|e| e.to_string()),
                Err(_) => Err("took longer than 20 s".to_owned()),
            }
        });
        assert_eq!(reply.as_deref(), Ok(LINE), "tokio example over {name}");
    }
}

#[test]
fn smol_example_echoes_over_tcp_unix_and_ssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, server, client) in transports(dir.path()) {
        let reply = smol::block_on(bounded(name, smol_echo::echo_once(&server, &client)));
        assert_eq!(
            reply.map_err(|e| e.to_string()).as_deref(),
            Ok(LINE),
            "smol example over {name}"
        );
    }
}

/// The README's Rust example is the tokio example's code, word for word (the smol
/// one, which it links to, is run above).
#[test]
fn readme_shows_the_examples() {
    let readme = include_str!("../../README.md");
    let code = include_str!("../../backend-tokio/examples/echo/echo_once.rs");
    // Everything after the module's doc comment.
    let body: String = code
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        readme.contains(&format!("```rust\n{body}```")),
        "README.md does not show backend-tokio/examples/echo/echo_once.rs as it is:\n{body}"
    );
}
