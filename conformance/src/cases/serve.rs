//! `serve` cases: stopping.

use std::fs;
use std::io;
use std::time::Duration;

use crate::{
    Backend, client, echo_check, expect_error, finish, server, socket_path, tcp_address, temp_dir,
    within,
};

/// `abort()` ends every running connection, also those waiting for data (their
/// handlers are parked in a read), then returns; the listener is closed.
pub async fn serve_abort_ends_every_waiting_connection<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}:timeout=5"));
    let mut streams = Vec::new();
    for i in 0..64u8 {
        let mut stream = B::connect(&desc).await.expect("connect");
        // Echoed: the handler runs, and now waits in its next read.
        echo_check::<B>(&mut stream, &[i]).await;
        streams.push(stream);
    }
    within::<B, _>(Duration::from_secs(10), "abort", B::abort(serving)).await;
    for mut stream in streams {
        let mut buf = [0u8; 1];
        let read = within::<B, _>(Duration::from_secs(10), "read after abort", async {
            B::read(&mut stream, &mut buf).await
        })
        .await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "still open after abort: {read:?}"
        );
    }
    let after = within::<B, _>(Duration::from_secs(10), "connect", B::connect(&desc)).await;
    expect_error(after, io::ErrorKind::ConnectionRefused, &[]);
}

/// After `stop()`, new connections are refused.
pub async fn serve_stop_refuses_new_connections<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}:timeout=5"));
    let mut stream = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut stream, b"before stop").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
    let after = within::<B, _>(Duration::from_secs(10), "connect", B::connect(&desc)).await;
    expect_error(after, io::ErrorKind::ConnectionRefused, &[]);
}

/// `stop()` on a UNIX listener removes the socket file and the lock file.
pub async fn serve_stop_removes_unix_socket<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "served.sock");
    let listener = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let desc = client(&format!("unix:{text}:timeout=5"));
    let mut stream = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut stream, b"before stop").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "socket file left behind"
    );
    let mut lock = path.clone().into_os_string();
    lock.push(".lock");
    assert!(
        fs::symlink_metadata(&lock).is_err(),
        "lock file left behind"
    );
    let after = B::connect(&desc).await;
    assert!(after.is_err(), "connected after stop");
}

/// `stop()` stops accepting at once but returns only when the running connections
/// have finished; they keep working meanwhile.
pub async fn serve_stop_waits_for_running_connections<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}:timeout=5"));
    let mut stream = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut stream, b"running").await;

    let mut stop = Box::pin(B::stop(serving));
    // The open connection's handler cannot finish, so neither can stop(); this only
    // gives it a chance to get going.
    let finished = futures_lite::future::or(
        async {
            (&mut stop).await;
            true
        },
        async {
            B::sleep(Duration::from_millis(200)).await;
            false
        },
    )
    .await;
    assert!(
        !finished,
        "stop() returned while a connection was still open"
    );

    // No longer accepting (the loop may need a moment to drop the listener).
    within::<B, _>(Duration::from_secs(10), "listener closing", async {
        loop {
            match B::connect(&desc).await {
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                _ => B::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    // The running connection still works, and closing it lets stop() finish.
    echo_check::<B>(&mut stream, b"still running").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(
        Duration::from_secs(10),
        "stop after the last connection",
        stop,
    )
    .await;
}
