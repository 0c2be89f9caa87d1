//! Behaviour of the smol backend that the shared conformance suite does not reach:
//! futures-io specifics (vectored writes, `close` as half-close), `serve` on smol's
//! executors, and connecting through a custom resolver.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use strports_core::endpoint::{Address, Lookup, ResolveFuture, Resolver};
use strports_core::{ClientDescription, ServerDescription};
use strports_smol::{Connector, Listener, Stream, connect, listen, serve, serve_on};

fn server(s: &str) -> ServerDescription {
    s.parse().unwrap()
}

fn client(s: &str) -> ClientDescription {
    s.parse().unwrap()
}

fn tcp_port(listener: &Listener) -> u16 {
    match listener.local_addr().unwrap() {
        Address::Tcp(a) => a.port(),
        other => panic!("not tcp: {other:?}"),
    }
}

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
    let _ = stream.close().await;
}

async fn timeout<T>(what: &str, f: impl Future<Output = T>) -> T {
    future::or(async { Some(f.await) }, async {
        async_io::Timer::after(Duration::from_secs(20)).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("{what} timed out"))
}

#[test]
fn vectored_write_sends_every_slice_in_one_call() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let mut c = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let bufs = [
            IoSlice::new(b"hello, "),
            IoSlice::new(b"vectored "),
            IoSlice::new(b"world"),
        ];
        // A forwarded writev takes all three slices at once; the default
        // implementation would write only the first.
        let n = c.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, 21);
        c.close().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello, vectored world");
    });
}

#[test]
fn close_is_a_half_close_on_unix_and_tcp() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let unix = listen(&server(&format!("unix:{}", path.display())))
            .await
            .unwrap();
        let tcp = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let targets = [
            (format!("unix:{}", path.display()), &unix),
            (format!("tcp:127.0.0.1:{}", tcp_port(&tcp)), &tcp),
        ];
        for (desc, listener) in targets {
            let mut c = connect(&client(&desc)).await.unwrap();
            let (s, _) = listener.accept().await.unwrap();
            let server_task = smol::spawn(echo(s));
            c.write_all(b"request").await.unwrap();
            c.close().await.unwrap();
            let mut reply = Vec::new();
            timeout("reply", c.read_to_end(&mut reply)).await.unwrap();
            assert_eq!(reply, b"request", "{desc}");
            server_task.await;
        }
    });
}

#[test]
fn stop_removes_the_unix_socket_and_waits_for_connections() {
    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let desc = format!("unix:{}", path.display());
        let listener = listen(&server(&desc)).await.unwrap();
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = finished.clone();
        let serving = serve(listener, move |stream, _| {
            let counter = counter.clone();
            async move {
                echo(stream).await;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mut c = connect(&client(&desc)).await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        c.read_exact(&mut one).await.unwrap();
        // stop waits for the open connection: let the client finish a bit later.
        let closer = smol::spawn(async move {
            async_io::Timer::after(Duration::from_millis(200)).await;
            c.close().await.unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).await.unwrap();
        });
        timeout("stop", serving.stop()).await;
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        assert!(!path.exists(), "socket file left behind");
        assert!(
            !strports_sys::lock::lock_path(&path).exists(),
            "lock file left behind"
        );
        closer.await;
    });
}

#[test]
fn abort_cancels_running_connections() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let started = Arc::new(AtomicUsize::new(0));
        let seen = started.clone();
        let serving = serve(listener, move |stream, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let _keep = stream;
                future::pending::<()>().await;
            }
        });
        let mut c = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap();
        // Wait until the connection is accepted and its handler runs.
        timeout("accept", async {
            while started.load(Ordering::SeqCst) == 0 {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        timeout("abort", serving.abort()).await;
        // The handler's stream was dropped: the client sees EOF.
        let mut buf = Vec::new();
        timeout("eof", c.read_to_end(&mut buf)).await.unwrap();
        assert!(buf.is_empty());
        // And nobody listens any more.
        let e = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_panicking_handler_ends_only_its_connection() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let serving = serve(listener, move |stream, _| {
            let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    panic!("handler bug");
                }
                echo(stream).await;
            }
        });
        let desc = client(&format!("tcp:127.0.0.1:{port}"));
        let mut first = connect(&desc).await.unwrap();
        let mut buf = Vec::new();
        timeout("eof", first.read_to_end(&mut buf)).await.unwrap();
        let mut second = connect(&desc).await.unwrap();
        second.write_all(b"still serving").await.unwrap();
        second.close().await.unwrap();
        let mut reply = Vec::new();
        timeout("reply", second.read_to_end(&mut reply))
            .await
            .unwrap();
        assert_eq!(reply, b"still serving");
        // stop does not re-raise the handler's panic.
        timeout("stop", serving.stop()).await;
    });
}

#[test]
fn serve_on_runs_on_the_given_executor() {
    let executor = Arc::new(smol::Executor::new());
    let ex = executor.clone();
    smol::block_on(executor.run(async move {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let serving = serve_on(&ex, listener, |stream, _| echo(stream));
        let mut c = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap();
        c.write_all(b"on my executor").await.unwrap();
        c.close().await.unwrap();
        let mut reply = Vec::new();
        timeout("reply", c.read_to_end(&mut reply)).await.unwrap();
        assert_eq!(reply, b"on my executor");
        timeout("stop", serving.stop()).await;
    }));
}

/// Resolves every name to a fixed list (the addresses of the family asked for),
/// counting lookups.
struct Fixed(Vec<SocketAddr>, AtomicUsize);

impl Resolver for Fixed {
    fn resolve(&self, _host: &str, _port: u16, lookup: Lookup) -> ResolveFuture {
        self.1.fetch_add(1, Ordering::SeqCst);
        let out: Vec<SocketAddr> = self
            .0
            .iter()
            .copied()
            .filter(|a| match lookup {
                Lookup::Ipv4 => a.is_ipv4(),
                Lookup::Ipv6 => a.is_ipv6(),
                _ => true,
            })
            .collect();
        Box::pin(async move { Ok(out) })
    }
}

/// A loopback port with nothing listening (bound and closed again).
fn closed_port() -> u16 {
    let l = StdTcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_name_tries_each_resolved_address_in_order() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let good: SocketAddr = format!("127.0.0.1:{}", tcp_port(&listener))
            .parse()
            .unwrap();
        let bad: SocketAddr = format!("127.0.0.1:{}", closed_port()).parse().unwrap();
        let resolver = Arc::new(Fixed(vec![bad, good], AtomicUsize::new(0)));
        let connector = Connector::with_resolver(resolver.clone());
        let stream = connector
            .connect(&client("tcp:service.test:1"))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), Address::Tcp(good));
        // One lookup per family (AAAA and A).
        assert_eq!(resolver.1.load(Ordering::SeqCst), 2);

        // An IP literal never asks the resolver.
        let _ = connector
            .connect(&client(&format!("tcp:127.0.0.1:{}", good.port())))
            .await
            .unwrap();
        assert_eq!(resolver.1.load(Ordering::SeqCst), 2);

        // Every address failing lists each one.
        let bad2 = (0..10)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], closed_port())))
            .find(|a| *a != bad)
            .unwrap();
        let resolver = Arc::new(Fixed(vec![bad, bad2], AtomicUsize::new(0)));
        let e = Connector::with_resolver(resolver)
            .connect(&client("tcp:service.test:1"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to service.test:1: {bad}: connection refused"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("; {bad2}: connection refused")),
            "{text}"
        );
    });
}

#[test]
fn system_resolver_resolves_localhost_off_the_executor() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let stream = connect(&client(&format!("tcp:localhost:{port}")))
            .await
            .unwrap();
        assert_eq!(
            stream.peer_addr().unwrap(),
            Address::Tcp(format!("127.0.0.1:{port}").parse().unwrap())
        );
    });
}

#[test]
fn errors_name_the_target() {
    smol::block_on(async {
        let port = closed_port();
        let e = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(
            e.to_string()
                .starts_with(&format!("cannot connect to 127.0.0.1:{port}: ")),
            "{e}"
        );
        let e = connect(&client("unix:/nonexistent/strports.sock"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with("cannot connect to unix:/nonexistent/strports.sock: "),
            "{e}"
        );
    });
}

#[test]
fn dropping_serving_cancels_the_server() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        drop(serve(listener, |stream, _| echo(stream)));
        // The accept loop is cancelled on the executor thread; wait for the
        // listener to close.
        let desc = client(&format!("tcp:127.0.0.1:{port}"));
        for _ in 0..100 {
            // A connect racing the close may be queued and then reset.
            if let Err(e) = connect(&desc).await {
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    return;
                }
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            }
            async_io::Timer::after(Duration::from_millis(20)).await;
        }
        panic!("still listening after Serving was dropped");
    });
}

#[test]
fn tcp_streams_have_nodelay_and_addresses_on_both_sides() {
    smol::block_on(async {
        let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
        let port = tcp_port(&listener);
        let c = connect(&client(&format!("tcp:127.0.0.1:{port}")))
            .await
            .unwrap();
        let (s, peer) = listener.accept().await.unwrap();
        for stream in [&c, &s] {
            let Stream::Tcp(tcp) = stream else {
                panic!("not tcp")
            };
            assert!(tcp.get_ref().nodelay().unwrap());
        }
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());
        assert_eq!(s.local_addr().unwrap(), listener.local_addr().unwrap());
    });
}

#[test]
fn endpoint_traits_listen_and_connect() {
    use strports_core::{ClientEndpoint, ServerEndpoint};
    use strports_smol::{Client, Server};

    smol::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.sock");
        let desc = format!("unix:{}", path.display());
        let endpoint = Server::new(server(&desc));
        let listener = ServerEndpoint::listen(&endpoint).await.unwrap();
        assert_eq!(
            strports_core::Listener::local_addr(&listener).unwrap(),
            Address::Unix(Some(strports_core::UnixAddress::Path(path.clone())))
        );
        let client_endpoint = Client::with_connector(client(&desc), Connector::default());
        let mut c = ClientEndpoint::connect(&client_endpoint).await.unwrap();
        let (mut s, peer) = strports_core::Listener::accept(&listener).await.unwrap();
        assert_eq!(peer, Address::Unix(None));
        c.write_all(b"trait").await.unwrap();
        c.close().await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"trait");
    });
}

#[cfg(target_os = "linux")]
#[test]
fn abstract_listener_reports_its_name() {
    smol::block_on(async {
        let name = format!("strports-smol-test-{}", std::process::id());
        let listener = listen(&server(&format!("unix:@{name}"))).await.unwrap();
        assert_eq!(
            listener.local_addr().unwrap(),
            Address::Unix(Some(strports_core::UnixAddress::Abstract(name.clone())))
        );
        let c = connect(&client(&format!("unix:@{name}"))).await.unwrap();
        assert_eq!(
            c.peer_addr().unwrap(),
            Address::Unix(Some(strports_core::UnixAddress::Abstract(name)))
        );
    });
}

/// Serves on `executor` with a handler that holds each connection until it is
/// cancelled, with or without a 4 KiB buffer in its future (`serve` boxes large
/// futures and spawns small ones as they are), opens `n` connections, and returns
/// them once every handler runs.
async fn held_connections(
    executor: &Arc<smol::Executor<'static>>,
    big: bool,
    n: usize,
) -> (strports_smol::Serving, Vec<Stream>) {
    let listener = listen(&server("tcp:0:interface=127.0.0.1")).await.unwrap();
    let port = tcp_port(&listener);
    let started = Arc::new(AtomicUsize::new(0));
    let seen = started.clone();
    let serving = serve_on(executor, listener, move |mut stream, _| {
        let seen = seen.clone();
        async move {
            let mut buf = [0u8; 4096];
            seen.fetch_add(1, Ordering::SeqCst);
            if big {
                // Reads until the client closes, which it never does.
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            } else {
                let _keep = stream;
                future::pending::<()>().await;
            }
        }
    });
    let desc = client(&format!("tcp:127.0.0.1:{port}"));
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(connect(&desc).await.unwrap());
    }
    timeout("handlers", async {
        while started.load(Ordering::SeqCst) < n {
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
    })
    .await;
    (serving, streams)
}

async fn assert_all_closed(streams: Vec<Stream>) {
    for mut stream in streams {
        let mut buf = [0u8; 1];
        let read = timeout("eof", stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}

/// Runs `body` with an executor driven by two threads besides the test's.
fn on_two_threads<F: Future<Output = ()>>(body: impl FnOnce(Arc<smol::Executor<'static>>) -> F) {
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::unbounded::<()>();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let executor = executor.clone();
            let stopped = stopped.clone();
            std::thread::spawn(move || smol::block_on(executor.run(stopped.recv())))
        })
        .collect();
    smol::block_on(body(executor));
    drop(stop);
    for thread in threads {
        let _ = thread.join().unwrap();
    }
}

#[test]
fn abort_ends_every_waiting_connection_on_two_threads() {
    on_two_threads(|executor| async move {
        for big in [false, true] {
            let (serving, streams) = held_connections(&executor, big, 64).await;
            timeout("abort", serving.abort()).await;
            assert_all_closed(streams).await;
        }
    });
}

#[test]
fn dropping_serving_closes_every_connection() {
    on_two_threads(|executor| async move {
        for big in [false, true] {
            let (serving, streams) = held_connections(&executor, big, 16).await;
            drop(serving);
            assert_all_closed(streams).await;
        }
    });
}
