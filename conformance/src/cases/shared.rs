//! Case bodies run over both TCP and UNIX sockets.

use std::time::Duration;

use crate::{Backend, Pattern, client, echo_check, finish, join_all, read_to_end, server, within};

/// Bytes sent each way by the large-transfer cases: 64 MiB.
pub(crate) const LARGE: u64 = 64 * 1024 * 1024;

/// Listens on `listen`, serves echo, connects with `connect(&address)` and checks a
/// round trip and a clean close.
pub(crate) async fn echo_round_trip<B: Backend>(
    listen: &str,
    connect: impl Fn(&B::Serving) -> String,
) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let serving = B::serve_echo(listener);
    let desc = client(&connect(&serving));
    let mut stream = within::<B, _>(Duration::from_secs(10), "connect", B::connect(&desc))
        .await
        .expect("connect");
    echo_check::<B>(&mut stream, b"hello, strports").await;
    echo_check::<B>(&mut stream, &[0u8, 255, 10, 13, 0]).await;
    finish::<B>(&mut stream).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
}

/// `count` clients at once, each connecting to an echo server, echoing its own
/// message several times and closing.
pub(crate) async fn many_concurrent_clients<B: Backend>(
    listen: &str,
    connect: impl Fn(&B::Serving) -> String,
    count: usize,
) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let serving = B::serve_echo(listener);
    let desc = client(&connect(&serving));
    let clients = (0..count)
        .map(|i| {
            let desc = desc.clone();
            async move {
                let mut stream = B::connect(&desc)
                    .await
                    .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
                let message: Vec<u8> = format!("client {i} says hello; ")
                    .into_bytes()
                    .into_iter()
                    .cycle()
                    .take(1000 + i)
                    .collect();
                for _ in 0..3 {
                    echo_check::<B>(&mut stream, &message).await;
                }
                finish::<B>(&mut stream).await;
            }
        })
        .collect();
    within::<B, _>(Duration::from_secs(40), "all clients", join_all(clients)).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
}

/// 64 MiB from the client to the server, checked byte by byte, then 64 MiB back.
/// The two ends run as two futures in one task, each owning its own stream.
pub(crate) async fn large_transfer_both_ways<B: Backend>(
    listen: &str,
    connect: impl Fn(&B::Listener) -> String,
) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let desc = client(&connect(&listener));
    let up = Pattern::new(0x5eed_0001);
    let down = Pattern::new(0x5eed_0002);
    let server_side = async {
        let (mut stream, _) = crate::accept_one::<B>(&listener).await;
        let received = up.receive::<B>(&mut stream).await.expect("server receive");
        assert_eq!(received, LARGE, "server received a different byte count");
        down.send::<B>(&mut stream, LARGE)
            .await
            .expect("server send");
        B::shutdown_write(&mut stream)
            .await
            .expect("server shutdown");
    };
    let client_side = async {
        let mut stream = B::connect(&desc).await.expect("connect");
        up.send::<B>(&mut stream, LARGE).await.expect("client send");
        B::shutdown_write(&mut stream)
            .await
            .expect("client shutdown");
        let received = down
            .receive::<B>(&mut stream)
            .await
            .expect("client receive");
        assert_eq!(received, LARGE, "client received a different byte count");
    };
    within::<B, _>(
        Duration::from_secs(45),
        "64 MiB each way",
        futures_lite::future::zip(server_side, client_side),
    )
    .await;
}

/// The client sends a request and shuts down its write side; the server reads to
/// EOF and only then replies; the client still reads the whole reply.
pub(crate) async fn half_close<B: Backend>(listen: &str, connect: impl Fn(&B::Listener) -> String) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let desc = client(&connect(&listener));
    let server_side = async {
        let (mut stream, _) = crate::accept_one::<B>(&listener).await;
        let request = read_to_end::<B>(&mut stream).await.expect("server read");
        let reply = format!("got {} bytes after your EOF", request.len());
        B::write_all(&mut stream, reply.as_bytes())
            .await
            .expect("server write");
        B::shutdown_write(&mut stream)
            .await
            .expect("server shutdown");
    };
    let client_side = async {
        let mut stream = B::connect(&desc).await.expect("connect");
        B::write_all(&mut stream, b"twelve bytes")
            .await
            .expect("write");
        B::shutdown_write(&mut stream).await.expect("shutdown");
        let reply = read_to_end::<B>(&mut stream).await.expect("read reply");
        assert_eq!(reply, b"got 12 bytes after your EOF");
    };
    within::<B, _>(
        Duration::from_secs(10),
        "half-close exchange",
        futures_lite::future::zip(server_side, client_side),
    )
    .await;
}
