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

/// How long a case waits for what must happen.
const WAIT: Duration = Duration::from_secs(10);

/// `ServeOptions::with_max_connections(2)`: with two connections running, a third
/// waits in the kernel's backlog (not accepted, not served) until one of them ends;
/// then it is served.
pub async fn serve_max_connections_holds_the_rest_in_the_backlog<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let options = strports_endpoints::ServeOptions::new().with_max_connections(2);
    let serving = B::serve_echo_with(listener, options);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}"));
    let mut first = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut first, b"one").await;
    let mut second = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut second, b"two").await;
    let mut third = B::connect(&desc).await.expect("connect");
    B::write_all(&mut third, b"three").await.expect("write");
    crate::cases::accept_queue_reaches::<B>(port, 1, "the third client held in the backlog").await;
    // A negative wait: it can only pass wrongly (too short to see a broken limit),
    // never fail from slowness.
    let mut buf = [0u8; 5];
    let early =
        futures_lite::future::or(async { Some(B::read(&mut third, &mut buf).await) }, async {
            B::sleep(Duration::from_millis(300)).await;
            None
        })
        .await;
    assert!(early.is_none(), "served past the limit of 2: {early:?}");
    finish::<B>(&mut first).await;
    drop(first);
    within::<B, _>(WAIT, "the third client served once a slot is free", async {
        crate::read_exact::<B>(&mut third, &mut buf)
            .await
            .expect("echo");
    })
    .await;
    assert_eq!(&buf, b"three");
    crate::cases::accept_queue_reaches::<B>(port, 0, "the backlog emptied").await;
    drop((second, third));
    within::<B, _>(WAIT, "stop", B::stop(serving)).await;
}

/// `ServeOptions::with_grace`: `stop()` waits for the running connections only
/// that long, then cancels them (the client sees its connection end) and returns.
pub async fn serve_stop_cancels_connections_after_the_grace_period<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let options = strports_endpoints::ServeOptions::new().with_grace(Duration::from_millis(200));
    let serving = B::serve_echo_with(listener, options);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let mut held = B::connect(&client(&format!("tcp:127.0.0.1:{port}")))
        .await
        .expect("connect");
    // Echoed: its handler runs, and now waits in its next read for ever.
    echo_check::<B>(&mut held, b"held").await;
    // Without the grace period this would wait for the client, which never closes.
    within::<B, _>(WAIT, "stop with a grace period", B::stop(serving)).await;
    let mut buf = [0u8; 1];
    let read = within::<B, _>(
        WAIT,
        "read after the grace period",
        B::read(&mut held, &mut buf),
    )
    .await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "still open after the grace period: {read:?}"
    );
}

/// `stop_accepting()` returns once the listener is closed: a new connection is
/// refused, while the running one goes on; `stop()` then waits for it.
pub async fn serve_stop_accepting_closes_the_listener_and_keeps_connections<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let mut serving = B::serve_echo(listener);
    let port = tcp_address(&B::serving_address(&serving).expect("serving address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}"));
    let mut running = B::connect(&desc).await.expect("connect");
    echo_check::<B>(&mut running, b"before").await;
    within::<B, _>(WAIT, "stop accepting", B::stop_accepting(&mut serving)).await;
    let refused = B::connect(&desc).await;
    expect_error(
        refused,
        io::ErrorKind::ConnectionRefused,
        &["cannot connect"],
    );
    echo_check::<B>(&mut running, b"after").await;
    finish::<B>(&mut running).await;
    within::<B, _>(WAIT, "stop", B::stop(serving)).await;
}
