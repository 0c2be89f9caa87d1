//! Extension types open like built-ins, on both runtimes, from one opener written
//! against the runtime trait: a `loopback:PORT` server and client type (a TCP port
//! on 127.0.0.1), alone, the server nested in `haproxy:`, and the client nested in
//! another extension type's `endpoint=` (`via:endpoint=loopback\:PORT`).

use std::fmt;
use std::io;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_core::args::{Param, Positionals};
use strports_core::{ClientDescription, Extension, Registry, ServerDescription};
use strports_endpoints::extension::{Dial, Nested, OpenClient, OpenFuture, OpenServer};
use strports_endpoints::{Connector, Listener, Runtime, Server, Stream};

const WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, PartialEq)]
struct Loopback(u16);

impl fmt::Display for Loopback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "loopback:{}", self.0)
    }
}

/// `via:endpoint=DESC`: a client type that connects whatever its `endpoint=` says.
#[derive(Debug, PartialEq)]
struct Via(ClientDescription);

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "via:endpoint={}",
            strports_core::quote(&self.0.to_string())
        )
    }
}

fn registry() -> Registry {
    let mut registry = Registry::default();
    let port = |args: &strports_core::Arguments<'_, '_>| {
        let b = args.bind(&[Param::positional("port")], Positionals::InOrder)?;
        Ok(Loopback(b.required("port", b.port("port")?)?))
    };
    registry.add_server("loopback", port).expect("server type");
    registry.add_client("loopback", port).expect("client type");
    let inner = registry.clone();
    registry
        .add_client("via", move |args| {
            let b = args.bind(&[Param::keyword("endpoint")], Positionals::InOrder)?;
            let endpoint = b.client_description("endpoint", &inner)?;
            Ok(Via(b.required("endpoint", endpoint)?))
        })
        .expect("client type");
    registry
}

/// Connects `via:` descriptions through their `endpoint=`, with the same openers.
struct ViaOpener;

impl<R: Runtime> OpenClient<R> for ViaOpener {
    fn connect<'a>(&'a self, ext: &'a Extension, dial: Dial<'a, R>) -> OpenFuture<'a, Stream<R>> {
        Box::pin(async move {
            let via = ext
                .downcast_ref::<Via>()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a via value"))?;
            dial.connect(&via.0).await
        })
    }
}

fn port_of(ext: &Extension) -> io::Result<u16> {
    ext.downcast_ref::<Loopback>()
        .map(|l| l.0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a loopback value"))
}

fn parsed<T: std::str::FromStr<Err = strports_core::ParseError>>(text: &str) -> io::Result<T> {
    text.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))
}

/// The opener of both sides, written once for every runtime.
struct LoopbackOpener;

impl<R: Runtime> OpenServer<R> for LoopbackOpener {
    fn listen<'a>(
        &'a self,
        ext: &'a Extension,
        nested: Nested<'a, R>,
    ) -> OpenFuture<'a, Listener<R>> {
        Box::pin(async move {
            let desc: ServerDescription =
                parsed(&format!("tcp:{}:interface=127.0.0.1", port_of(ext)?))?;
            nested.listen(&desc).await
        })
    }
}

impl<R: Runtime> OpenClient<R> for LoopbackOpener {
    fn connect<'a>(&'a self, ext: &'a Extension, dial: Dial<'a, R>) -> OpenFuture<'a, Stream<R>> {
        Box::pin(async move {
            let desc: ClientDescription = parsed(&format!("tcp:127.0.0.1:{}", port_of(ext)?))?;
            dial.connect(&desc).await
        })
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Listens on `loopback:PORT` and connects with `loopback:PORT`, then listens on
/// `haproxy:loopback:PORT` and connects with `via:endpoint=loopback\:PORT`, and
/// checks a round trip each time.
async fn round_trips<R: Runtime>() {
    let registry = registry();
    for wrapped in [false, true] {
        let port = free_port();
        let text = if wrapped {
            format!("haproxy:loopback:{port}")
        } else {
            format!("loopback:{port}")
        };
        let desc = registry.parse_server(&text).expect("server description");
        // Without an opener: refused, naming what to register.
        let err = strports_endpoints::listen::<R>(&desc)
            .await
            .expect_err("no server opener");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("with_server_type"), "{err}");

        let listener = Server::<R>::new(desc)
            .with_server_type("loopback", LoopbackOpener)
            .listen()
            .await
            .expect("listen through the opener");
        let client = if wrapped {
            format!("via:endpoint=loopback\\:{port}")
        } else {
            format!("loopback:{port}")
        };
        let client = registry.parse_client(&client).expect("client description");
        let connector = Connector::<R>::new()
            .with_client_type("LOOPBACK", LoopbackOpener)
            .with_client_type("via", ViaOpener);
        let server_side = async {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.expect("server read");
            stream.write_all(&buf).await.expect("server write");
            stream.flush().await.expect("flush");
        };
        let client_side = async {
            let mut stream = connector.connect(&client).await.expect("connect");
            if wrapped {
                stream
                    .write_all(b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n")
                    .await
                    .expect("header");
            }
            stream.write_all(b"hello").await.expect("write");
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.expect("read");
            assert_eq!(&buf, b"hello");
        };
        futures_lite::future::zip(server_side, client_side).await;
    }
}

#[test]
fn tokio_opens_extension_types() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(WAIT, round_trips::<strports_tokio::Tokio>())
            .await
            .expect("within the time limit");
    });
}

#[test]
fn smol_opens_extension_types() {
    smol::block_on(futures_lite::future::or(
        round_trips::<strports_smol::Smol>(),
        async {
            smol::Timer::after(WAIT).await;
            panic!("not within the time limit");
        },
    ));
}
