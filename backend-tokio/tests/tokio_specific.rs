//! Behaviour of the tokio backend that the shared conformance suite does not reach:
//! tokio I/O specifics (vectored writes, `shutdown` as half-close, `TCP_NODELAY`),
//! `serve`'s abort, drop and panic handling, the endpoint traits, and name-valued
//! interfaces.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::io::{self, IoSlice};
use std::time::Duration;

use strports_core::endpoint::{Address, Lookup, Resolver};
use strports_core::{ClientDescription, ClientEndpoint, ServerDescription, ServerEndpoint};
use strports_tokio::{
    Client, Connector, Listener, Server, Stream, SystemResolver, connect, listen, serve,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

fn server(s: &str) -> ServerDescription {
    s.parse().unwrap()
}

fn client(s: &str) -> ClientDescription {
    s.parse().unwrap()
}

fn tcp_port(address: &Address) -> u16 {
    match address {
        Address::Tcp(a) => a.port(),
        other => panic!("not tcp: {other:?}"),
    }
}

const LIMIT: Duration = Duration::from_secs(20);

async fn echo(mut stream: Stream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.shutdown().await;
}

fn assert_tokio_io<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static>() {}

#[test]
fn stream_is_tokio_io() {
    assert_tokio_io::<Stream>();
}

#[tokio::test]
async fn vectored_write_is_forwarded() {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let port = tcp_port(&listener.local_addr().unwrap());
    let mut stream = connect(&client(&format!("tcp:127.0.0.1:{port}")))
        .await
        .unwrap();
    assert!(stream.is_write_vectored());
    let (mut accepted, _) = listener.accept().await.unwrap();
    let slices = [
        IoSlice::new(b"one "),
        IoSlice::new(b"two "),
        IoSlice::new(b"three"),
    ];
    // Small enough for the socket buffer: one call writes every slice.
    let n = stream.write_vectored(&slices).await.unwrap();
    assert_eq!(n, 13);
    stream.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(LIMIT, accepted.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"one two three");
}

#[tokio::test]
async fn addresses_and_nodelay_of_tcp_and_unix_streams() {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let local = listener.local_addr().unwrap();
    let stream = connect(&client(&format!("tcp:127.0.0.1:{}", tcp_port(&local))))
        .await
        .unwrap();
    let (accepted, peer) = listener.accept().await.unwrap();
    assert_eq!(stream.peer_addr().unwrap(), local);
    assert_eq!(accepted.local_addr().unwrap(), local);
    assert_eq!(accepted.peer_addr().unwrap(), peer);
    assert_eq!(stream.local_addr().unwrap(), peer);
    let Stream::Tcp(tcp) = &accepted else {
        panic!("not tcp")
    };
    assert!(
        tcp.get_ref().nodelay().unwrap(),
        "accepted stream lacks TCP_NODELAY"
    );
    let Stream::Tcp(tcp) = &stream else {
        panic!("not tcp")
    };
    assert!(
        tcp.get_ref().nodelay().unwrap(),
        "connected stream lacks TCP_NODELAY"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let desc = format!("unix:{}", strports_core::quote(&path.to_string_lossy()));
    let listener = listen(&server(&desc)).await.unwrap();
    let stream = connect(&client(&desc)).await.unwrap();
    let (accepted, peer) = listener.accept().await.unwrap();
    let named = Address::Unix(Some(strports_core::UnixAddress::Path(path)));
    assert_eq!(listener.local_addr().unwrap(), named);
    assert_eq!(stream.peer_addr().unwrap(), named);
    assert_eq!(accepted.local_addr().unwrap(), named);
    assert_eq!(peer, Address::Unix(None));
    assert_eq!(stream.local_addr().unwrap(), Address::Unix(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_traits_listen_and_connect() {
    async fn accept_any<L: strports_core::Listener>(l: &L) -> io::Result<Address> {
        l.accept().await.map(|(_, peer)| peer)
    }
    let endpoint = Server::new(server("tcp:0:interface=127.0.0.1"));
    let listener: Listener = ServerEndpoint::listen(&endpoint).await.unwrap();
    let port = tcp_port(&strports_core::Listener::local_addr(&listener).unwrap());
    let client = Client::with_connector(
        client(&format!("tcp:127.0.0.1:{port}")),
        Connector::default(),
    );
    let connecting = tokio::spawn(async move { ClientEndpoint::connect(&client).await });
    let peer = accept_any(&listener).await.unwrap();
    let stream = connecting.await.unwrap().unwrap();
    assert_eq!(stream.local_addr().unwrap(), peer);
}

#[tokio::test]
async fn tcp_interface_may_be_a_name() {
    let listener = listen(&server("tcp:0:interface=localhost")).await.unwrap();
    match listener.local_addr().unwrap() {
        Address::Tcp(a) => assert!(a.ip().is_loopback(), "{a}"),
        other => panic!("not tcp: {other:?}"),
    }
}

#[tokio::test]
async fn system_resolver_resolves_localhost() {
    let addrs = SystemResolver::new()
        .resolve("localhost", 8080, Lookup::Ipv4)
        .await
        .unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.is_ipv4() && a.ip().is_loopback() && a.port() == 8080),
        "{addrs:?}"
    );
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let port = tcp_port(&listener.local_addr().unwrap());
    // localhost may resolve to ::1 first, where nothing listens: that address fails
    // and the next one is tried.
    let stream = connect(&client(&format!("tcp:localhost:{port}")))
        .await
        .unwrap();
    assert!(matches!(stream.peer_addr().unwrap(), Address::Tcp(a) if a.port() == port));
}

#[tokio::test]
async fn serve_abort_cancels_running_connections() {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let serving = serve(listener, move |stream, _| {
        let started_tx = started_tx.clone();
        async move {
            // Hold the connection open forever.
            let _stream = stream;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
        }
    });
    let port = tcp_port(&serving.local_addr().unwrap());
    let mut stream = connect(&client(&format!("tcp:127.0.0.1:{port}")))
        .await
        .unwrap();
    timeout(LIMIT, started.recv()).await.unwrap().unwrap();
    timeout(LIMIT, serving.abort()).await.unwrap();
    // The handler's stream was dropped: EOF (or a reset) here.
    let mut buf = [0u8; 1];
    let read = timeout(LIMIT, stream.read(&mut buf)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let refused = connect(&client(&format!("tcp:127.0.0.1:{port}"))).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn dropping_serving_cancels_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let desc = format!("unix:{}", strports_core::quote(&path.to_string_lossy()));
    let serving = serve(listen(&server(&desc)).await.unwrap(), |s, _| echo(s));
    drop(serving);
    // The accept loop is cancelled on its next turn; then the socket file goes.
    timeout(LIMIT, async {
        while path.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn handler_panic_ends_only_its_connection() {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let serving = serve(listener, |mut stream, _| async move {
        let mut first = [0u8; 1];
        if stream.read_exact(&mut first).await.is_ok() && first[0] == b'p' {
            panic!("handler asked to panic (expected by this test)");
        }
        let _ = stream.write_all(&first).await;
        echo(stream).await;
    });
    let desc = client(&format!(
        "tcp:127.0.0.1:{}",
        tcp_port(&serving.local_addr().unwrap())
    ));
    let mut doomed = connect(&desc).await.unwrap();
    doomed.write_all(b"p").await.unwrap();
    let mut rest = Vec::new();
    let read = timeout(LIMIT, doomed.read_to_end(&mut rest)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    let mut fine = connect(&desc).await.unwrap();
    fine.write_all(b"hello").await.unwrap();
    fine.shutdown().await.unwrap();
    let mut back = Vec::new();
    timeout(LIMIT, fine.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, b"hello");
    timeout(LIMIT, serving.stop()).await.unwrap();
}

#[tokio::test]
async fn unix_connect_to_missing_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let desc = format!(
        "unix:{}:timeout=1",
        strports_core::quote(&path.to_string_lossy())
    );
    let err = connect(&client(&desc)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().contains("cannot connect to unix:"), "{err}");
}

/// Serves with a handler that holds each connection until it is cancelled, with or
/// without a 4 KiB buffer in its future (`serve` boxes large futures and spawns small
/// ones as they are), opens `n` connections, and returns them once every handler runs.
async fn held_connections(big: bool, n: usize) -> (strports_tokio::Serving, Vec<Stream>) {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let serving = serve(listener, move |mut stream, _| {
        let started_tx = started_tx.clone();
        async move {
            let mut buf = [0u8; 4096];
            let _ = started_tx.send(());
            if big {
                // Reads until the client closes, which it never does.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            } else {
                let _stream = stream;
                std::future::pending::<()>().await;
            }
        }
    });
    let desc = client(&format!(
        "tcp:127.0.0.1:{}",
        tcp_port(&serving.local_addr().unwrap())
    ));
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(connect(&desc).await.unwrap());
    }
    for _ in 0..n {
        timeout(LIMIT, started.recv()).await.unwrap().unwrap();
    }
    (serving, streams)
}

async fn assert_all_closed(streams: Vec<Stream>) {
    for mut stream in streams {
        let mut buf = [0u8; 1];
        let read = timeout(LIMIT, stream.read(&mut buf)).await.unwrap();
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_abort_ends_every_waiting_connection_on_multi_thread() {
    for big in [false, true] {
        let (serving, streams) = held_connections(big, 64).await;
        timeout(LIMIT, serving.abort()).await.unwrap();
        assert_all_closed(streams).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_serving_closes_every_connection() {
    for big in [false, true] {
        let (serving, streams) = held_connections(big, 16).await;
        drop(serving);
        assert_all_closed(streams).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stop_waits_for_every_connection_then_returns() {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let serving = serve(listener, |s, _| echo(s));
    let desc = client(&format!(
        "tcp:127.0.0.1:{}",
        tcp_port(&serving.local_addr().unwrap())
    ));
    let mut streams = Vec::new();
    for i in 0..32u8 {
        let mut stream = connect(&desc).await.unwrap();
        stream.write_all(&[i]).await.unwrap();
        let mut back = [0u8; 1];
        timeout(LIMIT, stream.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, [i]);
        streams.push(stream);
    }
    let stop = tokio::spawn(serving.stop());
    // Every connection still echoes while `stop` waits for them.
    for (i, stream) in streams.iter_mut().enumerate() {
        let byte = [i as u8 ^ 0x55];
        stream.write_all(&byte).await.unwrap();
        let mut back = [0u8; 1];
        timeout(LIMIT, stream.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back, byte);
    }
    assert!(!stop.is_finished());
    for mut stream in streams {
        stream.shutdown().await.unwrap();
    }
    timeout(LIMIT, stop).await.unwrap().unwrap();
}
