//! Fault injection: peers that reset mid-transfer, stall in the TLS handshake or in
//! the PROXY header, half-close early, or vanish (a killed process). A fault must end
//! only its own connection, promptly and with the outcome below, while every other
//! connection is served and no byte a live connection sent is lost.
//!
//! What the reading end of a connection sees when its peer goes away (asserted
//! here, the same on every backend; Linux semantics):
//!
//! | the peer                                | plain stream                      | TLS stream                               |
//! |-----------------------------------------|-----------------------------------|------------------------------------------|
//! | resets (RST: `SO_LINGER` 0)             | the bytes, then `ConnectionReset` | the same                                 |
//! | closes without a word (dropped, killed) | the bytes, then EOF               | the bytes, then an `UnexpectedEof` error |
//! | half-closes (TLS: `close_notify` first) | the bytes, then EOF               | the bytes, then EOF                      |
//!
//! So over TLS a peer that vanished is never mistaken for one that finished:
//! truncation is an error (rustls' "peer closed connection without sending TLS
//! close_notify", passed through by both backends). A killed process whose socket
//! still held unread bytes resets instead of closing; where that can happen, either
//! outcome of the row is accepted.

use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_lite::future;
use strports_core::ClientDescription;
use strports_core::proxy_protocol::{Addresses, HaproxyOptions, ProxyHeader, Tlv};
use strports_core::tls::{default_provider, rustls};

use super::tls::{Pki, endpoint, plain_config};
use crate::child::{self, CHILD_ENV, ChildProcess, Stamped};
use crate::{
    Backend, Pattern, client, closed_port, join_all, read_exact, read_to_end, server, socket_path,
    tcp_address, temp_dir, within,
};

/// The bound on every wait for one step.
const LIMIT: Duration = Duration::from_secs(10);
/// A handshake or header timeout short enough for stalled peers to be dropped soon.
const SHORT: Duration = Duration::from_secs(2);
/// A timeout so long that a connection closed within [`LIMIT`] was closed for
/// another reason (the peer's EOF).
const PATIENT: Duration = Duration::from_secs(600);
/// Write size, and read buffer size.
const CHUNK: usize = 64 * 1024;
/// At most this many echoed bytes outstanding in [`echo_through`]: well under what
/// the socket buffers of both ends hold, so neither end blocks the other.
const WINDOW: u64 = 128 * 1024;

/// Resets the connection: `SO_LINGER` 0, then close, so the kernel sends RST (and
/// discards what it had not sent yet).
fn reset<B: Backend>(stream: B::Stream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER to 0");
    B::abort_stream(stream);
}

/// How a peer goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// RST.
    Reset,
    /// A plain close (FIN), without TLS `close_notify`.
    Vanished,
}

/// Checks what a read after the peer went away (`gone`) gave, per the table in the
/// module documentation.
#[track_caller]
fn check_end(result: &io::Result<usize>, gone: Gone, tls: bool, what: &str) {
    let ok = match (gone, tls, result) {
        (Gone::Reset, _, Err(e)) => e.kind() == io::ErrorKind::ConnectionReset,
        (Gone::Vanished, false, Ok(0)) => true,
        (Gone::Vanished, true, Err(e)) => e.kind() == io::ErrorKind::UnexpectedEof,
        _ => false,
    };
    let expected = match (gone, tls) {
        (Gone::Reset, _) => "a ConnectionReset error",
        (Gone::Vanished, false) => "EOF",
        (Gone::Vanished, true) => "an UnexpectedEof error (TLS truncation)",
    };
    assert!(ok, "{what}: expected {expected}, got {result:?}");
}

/// Reads once from `stream`, checking the bytes against `pattern` at `offset`;
/// gives the count (0 at EOF).
async fn read_checked<B: Backend>(
    stream: &mut B::Stream,
    pattern: &Pattern,
    offset: u64,
    buf: &mut [u8],
) -> io::Result<usize> {
    let n = B::read(stream, buf).await?;
    assert!(
        pattern.check(offset, &buf[..n]),
        "received bytes differ from the sent ones within offset {offset}..{}",
        offset + n as u64
    );
    Ok(n)
}

/// Reads `stream` until EOF or an error, checking every byte against `pattern` and
/// publishing the count in `progress`; gives the last read's result.
async fn receive_until_end<B: Backend>(
    stream: &mut B::Stream,
    pattern: &Pattern,
    progress: &AtomicU64,
) -> io::Result<usize> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let offset = progress.load(Ordering::Relaxed);
        match read_checked::<B>(stream, pattern, offset, &mut buf).await {
            Ok(0) => return Ok(0),
            Ok(n) => progress.store(offset + n as u64, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
}

/// Waits until `progress` reaches `at_least`.
async fn reached<B: Backend>(progress: &AtomicU64, at_least: u64) {
    while progress.load(Ordering::Relaxed) < at_least {
        B::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `total` bytes of `pattern` to an echo server, reading the echo as it comes
/// (at most [`WINDOW`] bytes behind), half-closes right after the last write, and
/// checks that every byte comes back, in order, before EOF.
async fn echo_through<B: Backend>(stream: &mut B::Stream, pattern: &Pattern, total: u64) {
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    let mut received = 0u64;
    while sent < total {
        let chunk = pattern.slice(sent, (total - sent).min(CHUNK as u64) as usize);
        B::write_all(stream, chunk).await.expect("write");
        sent += chunk.len() as u64;
        while sent - received > WINDOW {
            let n = read_checked::<B>(stream, pattern, received, &mut buf)
                .await
                .expect("read the echo");
            assert_ne!(n, 0, "EOF after {received} of {sent} echoed bytes");
            received += n as u64;
        }
    }
    B::shutdown_write(stream).await.expect("half-close");
    loop {
        let n = read_checked::<B>(stream, pattern, received, &mut buf)
            .await
            .expect("read the echo");
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    assert_eq!(received, total, "echoed bytes before EOF");
}

/// Connects with `desc` and echoes `total` bytes through it ([`echo_through`]).
async fn good_client<B: Backend>(desc: &ClientDescription, pattern: &Pattern, total: u64) {
    within::<B, _>(LIMIT, "a well-behaved client", async {
        let mut stream = B::connect(desc)
            .await
            .unwrap_or_else(|e| panic!("connect {desc}: {e}"));
        echo_through::<B>(&mut stream, pattern, total).await;
    })
    .await;
}

/// Echoes one connection until EOF or an error (the `serve_echo` handler).
async fn echo<B: Backend>(mut stream: B::Stream) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match B::read(&mut stream, &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if B::write_all(&mut stream, &buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = B::shutdown_write(&mut stream).await;
}

/// Accepts on `listener` for as long as it is polled, echoing each connection in a
/// task of its own: `serve_echo` with the listener kept in reach for its counters.
async fn accept_and_echo<B: Backend, T>(listener: &B::Listener) -> T {
    loop {
        match B::accept(listener).await {
            Ok((stream, _)) => B::spawn(echo::<B>(stream)),
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

/// Runs `body` while accepting and echoing on `listener`.
async fn while_serving<B: Backend, T>(listener: &B::Listener, body: impl Future<Output = T>) -> T {
    future::or(body, accept_and_echo::<B, T>(listener)).await
}

/// Reads `stream` (discarding what the server sent, such as its TLS handshake
/// messages) until the server closes it: EOF or a reset.
async fn expect_closed<B: Backend>(stream: &mut B::Stream, what: &str) {
    within::<B, _>(LIMIT, what, async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match B::read(stream, &mut buf).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("{what}: {e}"),
            }
        }
    })
    .await;
}

/// Sends `bytes` one at a time, 100 ms apart, until the server closes the
/// connection (EOF, a reset, or a failed write); fails if it never does within
/// [`LIMIT`] or if all of `bytes` went through: a deadline that a trickling peer
/// pushes back with every byte would be no deadline.
async fn trickle<B: Backend>(stream: &mut B::Stream, bytes: &[u8], what: &str) {
    within::<B, _>(LIMIT, what, async {
        let mut buf = vec![0u8; CHUNK];
        for byte in bytes.chunks(1) {
            if B::write_all(stream, byte).await.is_err() {
                return;
            }
            let closed = future::or(
                async {
                    match B::read(stream, &mut buf).await {
                        Ok(0) | Err(_) => true,
                        Ok(n) => panic!("{what}: {n} unexpected bytes"),
                    }
                },
                async {
                    B::sleep(Duration::from_millis(100)).await;
                    false
                },
            )
            .await;
            if closed {
                return;
            }
        }
        panic!("{what}: all {} bytes went through", bytes.len());
    })
    .await;
}

/// Waits until `count()` reaches `expected`, then checks it is exactly that.
async fn expect_count<B: Backend>(what: &str, expected: u64, count: impl Fn() -> u64) {
    let got = within::<B, _>(LIMIT, what, async {
        loop {
            let n = count();
            if n >= expected {
                return n;
            }
            B::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(got, expected, "{what}");
}

/// The bytes of a real TLS ClientHello (rustls, for `localhost`).
fn client_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(default_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), name).expect("client connection");
    let mut hello = Vec::new();
    while connection.wants_write() {
        connection.write_tls(&mut hello).expect("client hello");
    }
    hello
}

/// A v1 (`TCP6`) and a v2 (TCP over IPv4) PROXY header.
fn proxy_headers() -> (Vec<u8>, Vec<u8>) {
    let addr = |s: &str| s.parse().expect("socket address");
    let v1 = ProxyHeader::v1(Addresses::tcp(
        addr("[2001:db8::1]:2222"),
        addr("[2001:db8::2]:80"),
    ));
    let v2 = ProxyHeader::v2(Addresses::tcp(
        addr("192.0.2.1:1111"),
        addr("198.51.100.1:80"),
    ));
    (
        v1.encode().expect("encode v1"),
        v2.encode().expect("encode v2"),
    )
}

/// An `ssl:` server description on 127.0.0.1 at `port`.
fn ssl_server_at(pki: &Pki, port: u16) -> String {
    pki.ssl_server("server.pem", "server.key", "")
        .replacen("ssl:0:", &format!("ssl:{port}:"), 1)
}

/// A TLS listener on 127.0.0.1 with `pki`'s server certificate and the given
/// handshake timeout, its port, and a plain `tcp:` client description to reach it
/// without TLS (to misbehave in the handshake).
async fn tls_listener<B: Backend>(
    pki: &Pki,
    handshake_timeout: Duration,
) -> (B::Listener, u16, ClientDescription) {
    let listener = B::listen_tls_with_timeout(
        &server("tcp:0:interface=127.0.0.1"),
        plain_config(pki),
        handshake_timeout,
    )
    .await
    .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    (listener, port, raw)
}

/// A client that resets its connection in the middle of a transfer ends only that
/// connection: the server reads a correct prefix of what was sent, then a
/// `ConnectionReset` error (never a clean EOF, never a hang). A `serve` loop whose
/// clients reset mid-echo keeps serving the next client byte-exactly, and `stop`
/// finds every connection task ended. Over TCP and `ssl:`.
pub async fn fault_client_reset_mid_transfer_server_keeps_serving<B: Backend>() {
    client_reset_mid_transfer::<B>("tcp:0:interface=127.0.0.1", |port| {
        format!("tcp:127.0.0.1:{port}")
    })
    .await;
    let pki = Pki::new();
    client_reset_mid_transfer::<B>(&pki.ssl_server("server.pem", "server.key", ""), |port| {
        pki.ssl_client("127.0.0.1", port, ":hostname=localhost")
    })
    .await;
}

async fn client_reset_mid_transfer<B: Backend>(listen: &str, connect: impl Fn(u16) -> String) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let desc = client(&connect(port));
    let pattern = Pattern::new(0xfa17_0001);
    let progress = AtomicU64::new(0);
    let server_side = async {
        let (mut stream, _) = B::accept(&listener).await.expect("accept");
        let end = receive_until_end::<B>(&mut stream, &pattern, &progress).await;
        check_end(
            &end,
            Gone::Reset,
            false,
            "the server's read of a reset client",
        );
    };
    let client_side = async {
        let mut stream = B::connect(&desc).await.expect("connect");
        pattern
            .send::<B>(&mut stream, 512 * 1024)
            .await
            .expect("send");
        // The server is reading (for TLS: its handshake is over): reset with more
        // bytes on the way.
        reached::<B>(&progress, 64 * 1024).await;
        B::write_all(&mut stream, pattern.slice(512 * 1024, 256 * 1024))
            .await
            .expect("send more");
        reset::<B>(stream);
    };
    within::<B, _>(
        LIMIT,
        "a client reset mid-transfer",
        future::zip(server_side, client_side),
    )
    .await;
    assert!(progress.load(Ordering::Relaxed) <= 768 * 1024);

    let serving = B::serve_echo(listener);
    for _ in 0..3 {
        within::<B, _>(LIMIT, "a client resetting mid-echo", async {
            let mut stream = B::connect(&desc).await.expect("connect");
            B::write_all(&mut stream, pattern.slice(0, CHUNK))
                .await
                .expect("write");
            let mut some = vec![0u8; 1024];
            read_exact::<B>(&mut stream, &mut some)
                .await
                .expect("read some of the echo");
            B::write_all(&mut stream, pattern.slice(CHUNK as u64, CHUNK))
                .await
                .expect("write more");
            reset::<B>(stream);
        })
        .await;
    }
    good_client::<B>(&desc, &pattern, 2 << 20).await;
    within::<B, _>(LIMIT, "stop: every connection task ended", B::stop(serving)).await;
}

/// The server ends a connection (`gone`) first after the client has read all the
/// `N` bytes it sent, then in the middle of a transfer; checks the client's reads.
async fn server_goes_away<B: Backend>(listen: &str, connect: impl Fn(u16) -> String, gone: Gone) {
    const N: u64 = 300_000;
    let tls = listen.starts_with("ssl:");
    let listener = B::listen(&server(listen)).await.expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let desc = client(&connect(port));
    let pattern = Pattern::new(0xfa17_0002);
    let end = |stream: B::Stream| match gone {
        Gone::Reset => reset::<B>(stream),
        Gone::Vanished => B::abort_stream(stream),
    };
    let pair = || async {
        let (accepted, connected) = within::<B, _>(
            LIMIT,
            "connect",
            future::zip(B::accept(&listener), B::connect(&desc)),
        )
        .await;
        (accepted.expect("accept").0, connected.expect("connect"))
    };

    // All N bytes delivered and read, the client waiting in a read.
    let (mut server_stream, mut client_stream) = pair().await;
    within::<B, _>(
        LIMIT,
        "delivering the bytes",
        future::zip(
            async {
                pattern
                    .send::<B>(&mut server_stream, N)
                    .await
                    .expect("send");
            },
            async {
                let mut got = vec![0u8; N as usize];
                read_exact::<B>(&mut client_stream, &mut got)
                    .await
                    .expect("read");
                assert!(pattern.check(0, &got), "received bytes differ");
            },
        ),
    )
    .await;
    end(server_stream);
    let mut buf = vec![0u8; CHUNK];
    let result = within::<B, _>(
        LIMIT,
        "the client's read once the server went away",
        B::read(&mut client_stream, &mut buf),
    )
    .await;
    check_end(&result, gone, tls, "after all the bytes");

    // Mid-transfer: the server goes away while sending, once the client has read
    // 1 MiB (it cannot have sent all 64 MiB by then: the socket buffers hold less).
    let (mut server_stream, mut client_stream) = pair().await;
    let progress = AtomicU64::new(0);
    let server_side = async {
        future::or(
            async {
                pattern
                    .send::<B>(&mut server_stream, 64 << 20)
                    .await
                    .expect("send");
                panic!("64 MiB sent before the client read 1 MiB");
            },
            reached::<B>(&progress, 1 << 20),
        )
        .await;
        end(server_stream);
    };
    let client_side = receive_until_end::<B>(&mut client_stream, &pattern, &progress);
    let ((), result) = within::<B, _>(
        LIMIT,
        "the client reading while the server goes away",
        future::zip(server_side, client_side),
    )
    .await;
    check_end(&result, gone, tls, "mid-transfer");

    // The client writing when the server goes away (having read 1 MiB; a closing
    // socket with unread bytes resets too): the client's write fails, it does not
    // block for ever.
    let (mut server_stream, mut client_stream) = pair().await;
    let progress = AtomicU64::new(0);
    let server_side = async {
        future::or(
            async {
                let end = receive_until_end::<B>(&mut server_stream, &pattern, &progress).await;
                panic!("the server's read ended first: {end:?}");
            },
            reached::<B>(&progress, 1 << 20),
        )
        .await;
        end(server_stream);
    };
    let client_side = pattern.send::<B>(&mut client_stream, 1 << 40);
    let ((), result) = within::<B, _>(
        LIMIT,
        "the client writing while the server goes away",
        future::zip(server_side, client_side),
    )
    .await;
    assert!(
        matches!(&result, Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)),
        "a write after the server went away: expected a ConnectionReset or BrokenPipe error, got {result:?}"
    );
}

/// A server that resets the connection while the strports client is reading: the
/// client gets every byte that arrived (checked against what was sent), then a
/// `ConnectionReset` error, not a hang nor a clean EOF; once after all the bytes
/// were read, once in the middle of a transfer. A client writing when the server
/// resets gets a `ConnectionReset` or `BrokenPipe` error. Over TCP and `ssl:`.
pub async fn fault_server_reset_mid_transfer_client_sees_error<B: Backend>() {
    server_goes_away::<B>(
        "tcp:0:interface=127.0.0.1",
        |port| format!("tcp:127.0.0.1:{port}"),
        Gone::Reset,
    )
    .await;
    let pki = Pki::new();
    server_goes_away::<B>(
        &pki.ssl_server("server.pem", "server.key", ""),
        |port| pki.ssl_client("127.0.0.1", port, ":hostname=localhost"),
        Gone::Reset,
    )
    .await;
}

/// A server that closes the connection without a word (no TLS `close_notify`): over
/// TCP the client reads EOF (all TCP can tell), over TLS an `UnexpectedEof` error
/// after the bytes that arrived: a truncated TLS stream never reads as a clean end.
/// A client writing when the server closes without reading everything gets an
/// error (the kernel resets such a connection). A server that does say goodbye
/// (`close_notify`, then half-close) gives a clean EOF over TLS too; a TLS client
/// that vanishes is an `UnexpectedEof` error on the server's side alike.
pub async fn fault_server_vanishes_tls_truncation_is_an_error<B: Backend>() {
    server_goes_away::<B>(
        "tcp:0:interface=127.0.0.1",
        |port| format!("tcp:127.0.0.1:{port}"),
        Gone::Vanished,
    )
    .await;
    let pki = Pki::new();
    let listen = pki.ssl_server("server.pem", "server.key", "");
    server_goes_away::<B>(
        &listen,
        |port| pki.ssl_client("127.0.0.1", port, ":hostname=localhost"),
        Gone::Vanished,
    )
    .await;

    // The control: a clean TLS close is EOF.
    let listener = B::listen(&server(&listen)).await.expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let desc = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
    let (accepted, connected) = within::<B, _>(
        LIMIT,
        "connect",
        future::zip(B::accept(&listener), B::connect(&desc)),
    )
    .await;
    let (mut server_stream, _) = accepted.expect("accept");
    let mut client_stream = connected.expect("connect");
    within::<B, _>(LIMIT, "a clean tls close", async {
        B::write_all(&mut server_stream, b"goodbye")
            .await
            .expect("write");
        B::shutdown_write(&mut server_stream)
            .await
            .expect("close_notify");
        let rest = read_to_end::<B>(&mut client_stream)
            .await
            .expect("a clean close reads as EOF");
        assert_eq!(rest, b"goodbye");
    })
    .await;

    // The other way round: a TLS client that vanishes, read by the server.
    let (accepted, connected) = within::<B, _>(
        LIMIT,
        "connect",
        future::zip(B::accept(&listener), B::connect(&desc)),
    )
    .await;
    let (mut server_stream, _) = accepted.expect("accept");
    let mut client_stream = connected.expect("connect");
    let result = within::<B, _>(LIMIT, "the server's read of a vanished client", async {
        B::write_all(&mut client_stream, b"partial")
            .await
            .expect("write");
        let mut got = [0u8; 7];
        read_exact::<B>(&mut server_stream, &mut got)
            .await
            .expect("read");
        assert_eq!(&got, b"partial");
        // Read by the client (with the session tickets before it): a close with
        // unread bytes would reset.
        B::write_all(&mut server_stream, b"ack")
            .await
            .expect("write");
        let mut ack = [0u8; 3];
        read_exact::<B>(&mut client_stream, &mut ack)
            .await
            .expect("read");
        B::abort_stream(client_stream);
        let mut buf = vec![0u8; CHUNK];
        B::read(&mut server_stream, &mut buf).await
    })
    .await;
    check_end(
        &result,
        Gone::Vanished,
        true,
        "a client gone without close_notify",
    );
}

/// Peers that stall in the TLS handshake (silent; half a ClientHello; a whole
/// ClientHello, then no answer to the server; a ClientHello trickled a byte every
/// 100 ms) do not hold up others: meanwhile other clients complete handshakes and
/// are echoed byte-exactly. The stalled ones are closed once the handshake timeout
/// (2 s, set through `TlsAcceptorStep`, a deadline for the whole handshake) passes,
/// and counted in `failed_handshakes`; the listener then still serves.
pub async fn fault_tls_handshake_stall_does_not_block_others<B: Backend>() {
    let pki = Pki::new();
    let (listener, port, raw) = tls_listener::<B>(&pki, SHORT).await;
    let good = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
    let hello = client_hello();
    let pattern = Pattern::new(0xfa17_0003);
    while_serving::<B, _>(&listener, async {
        let mut silent = B::connect(&raw).await.expect("connect");
        let mut half = B::connect(&raw).await.expect("connect");
        B::write_all(&mut half, &hello[..hello.len() / 2])
            .await
            .expect("write half a ClientHello");
        let mut mute = B::connect(&raw).await.expect("connect");
        B::write_all(&mut mute, &hello)
            .await
            .expect("write a ClientHello");
        let mut trickler = B::connect(&raw).await.expect("connect");
        let trickling = trickle::<B>(
            &mut trickler,
            &hello,
            "a peer trickling its ClientHello cut off",
        );
        let clients = (0..3)
            .map(|_| good_client::<B>(&good, &pattern, 256 * 1024))
            .collect();
        future::zip(join_all(clients), trickling).await;
        expect_closed::<B>(&mut silent, "a silent peer closed").await;
        expect_closed::<B>(&mut half, "a peer stalled mid-ClientHello closed").await;
        expect_closed::<B>(&mut mute, "a peer stalled after its ClientHello closed").await;
        expect_count::<B>("failed handshakes", 4, || {
            B::failed_handshakes(&listener).expect("a tls listener")
        })
        .await;
        good_client::<B>(&good, &pattern, 256 * 1024).await;
    })
    .await;
    assert_eq!(B::failed_handshakes(&listener), Some(4));
}

/// Peers that stall inside the PROXY header — a v2 signature only, a v2 header
/// short of its last address bytes, a v1 line without its CRLF, a long v2 header
/// trickled a byte every 100 ms — all at once, do not hold up others: clients with
/// whole headers (v1 and v2) are served byte-exactly meanwhile. The stalled ones are
/// closed after the header timeout (2 s, a deadline for the whole header) and
/// counted in `proxy_rejections`. (`haproxy_header_timeout_closes_connection` covers a silent
/// peer and half a v1 header one at a time, with nobody else waiting.)
pub async fn fault_proxy_header_stall_closed_while_others_served<B: Backend>() {
    let options = HaproxyOptions::default().with_header_timeout(SHORT);
    let listener = B::listen_with_haproxy(&server("haproxy:tcp:0:interface=127.0.0.1"), options)
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let (v1, v2) = proxy_headers();
    // A v2 header with a 1000-byte TLV: 100 s of trickling.
    let long = ProxyHeader::v2(Addresses::tcp(
        "192.0.2.3:3333".parse().expect("address"),
        "198.51.100.1:80".parse().expect("address"),
    ))
    .with_tlv(Tlv::new(0xe0, vec![b'x'; 1000]))
    .encode()
    .expect("encode");
    let pattern = Pattern::new(0xfa17_0004);
    let proxied_client = |header: &'static str| {
        let bytes = if header == "v1" { &v1 } else { &v2 };
        let (raw, pattern) = (&raw, &pattern);
        within::<B, _>(LIMIT, "a client with a whole header", async move {
            let mut stream = B::connect(raw).await.expect("connect");
            B::write_all(&mut stream, bytes).await.expect("header");
            echo_through::<B>(&mut stream, pattern, 256 * 1024).await;
        })
    };
    while_serving::<B, _>(&listener, async {
        let mut stalled = Vec::new();
        for partial in [&v2[..12], &v2[..v2.len() - 3], &v1[..v1.len() - 2]] {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, partial)
                .await
                .expect("write part of a header");
            stalled.push(stream);
        }
        let mut trickler = B::connect(&raw).await.expect("connect");
        let trickling = trickle::<B>(&mut trickler, &long, "a peer trickling its header cut off");
        let clients = join_all(vec![
            proxied_client("v1"),
            proxied_client("v2"),
            proxied_client("v1"),
        ]);
        future::zip(clients, trickling).await;
        for stream in &mut stalled {
            expect_closed::<B>(stream, "a peer stalled mid-header closed").await;
        }
        expect_count::<B>("proxy rejections", 4, || B::proxy_rejections(&listener)).await;
        proxied_client("v2").await;
    })
    .await;
    assert_eq!(B::proxy_rejections(&listener), 4);
}

/// A client that half-closes at once, before sending anything (over TCP, UNIX, and
/// `ssl:` right after its handshake): the server reads EOF and closes its side, so
/// the client reads EOF too, promptly; serving continues, and a client that
/// half-closes right after a few bytes gets them back.
pub async fn fault_early_half_close_server_sees_eof_and_keeps_serving<B: Backend>() {
    let tcp_connect = |serving: &B::Serving| {
        let port = tcp_address(&B::serving_address(serving).expect("address")).port();
        format!("tcp:127.0.0.1:{port}")
    };
    early_half_close::<B>("tcp:0:interface=127.0.0.1", tcp_connect).await;
    let dir = temp_dir();
    let (_, path) = socket_path(&dir, "early.sock");
    early_half_close::<B>(&format!("unix:{path}"), |_| format!("unix:{path}")).await;
    let pki = Pki::new();
    early_half_close::<B>(&pki.ssl_server("server.pem", "server.key", ""), |serving| {
        let port = tcp_address(&B::serving_address(serving).expect("address")).port();
        pki.ssl_client("127.0.0.1", port, ":hostname=localhost")
    })
    .await;
}

async fn early_half_close<B: Backend>(listen: &str, connect: impl Fn(&B::Serving) -> String) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    let serving = B::serve_echo(listener);
    let desc = client(&connect(&serving));
    for _ in 0..2 {
        within::<B, _>(LIMIT, "an at once half-closed connection closing", async {
            let mut stream = B::connect(&desc).await.expect("connect");
            B::shutdown_write(&mut stream).await.expect("half-close");
            let rest = read_to_end::<B>(&mut stream).await.expect("read to EOF");
            assert!(rest.is_empty(), "{} bytes from nowhere", rest.len());
        })
        .await;
    }
    within::<B, _>(LIMIT, "a few bytes then a half-close", async {
        let mut stream = B::connect(&desc).await.expect("connect");
        B::write_all(&mut stream, b"last words")
            .await
            .expect("write");
        B::shutdown_write(&mut stream).await.expect("half-close");
        let back = read_to_end::<B>(&mut stream).await.expect("read to EOF");
        assert_eq!(back, b"last words");
    })
    .await;
    good_client::<B>(&desc, &Pattern::new(0xfa17_0005), 512 * 1024).await;
    within::<B, _>(LIMIT, "stop", B::stop(serving)).await;
}

/// A peer that half-closes before (or in the middle of) its ClientHello fails its
/// TLS handshake at once, not after the handshake timeout (10 minutes here): its
/// connection is closed and counted in `failed_handshakes`, and the listener serves
/// the next client.
pub async fn fault_early_half_close_tls_handshake_fails_promptly<B: Backend>() {
    let pki = Pki::new();
    let (listener, port, raw) = tls_listener::<B>(&pki, PATIENT).await;
    let hello = client_hello();
    while_serving::<B, _>(&listener, async {
        for sent in [&[][..], &hello[..hello.len() / 2]] {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, sent).await.expect("write");
            B::shutdown_write(&mut stream).await.expect("half-close");
            expect_closed::<B>(&mut stream, "a peer that half-closed in its handshake").await;
        }
        expect_count::<B>("failed handshakes", 2, || {
            B::failed_handshakes(&listener).expect("a tls listener")
        })
        .await;
        let good = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
        good_client::<B>(&good, &Pattern::new(0xfa17_0006), 256 * 1024).await;
    })
    .await;
}

/// A peer that half-closes before or in the middle of its PROXY header (nothing; half
/// a v1 line; half a v2 header) is rejected at once, not after the header timeout
/// (10 minutes here): closed and counted in `proxy_rejections`; the listener serves
/// the next client.
pub async fn fault_early_half_close_mid_proxy_header_rejected_promptly<B: Backend>() {
    let options = HaproxyOptions::default().with_header_timeout(PATIENT);
    let listener = B::listen_with_haproxy(&server("haproxy:tcp:0:interface=127.0.0.1"), options)
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let (v1, v2) = proxy_headers();
    while_serving::<B, _>(&listener, async {
        for sent in [&[][..], &v1[..v1.len() / 2], &v2[..20]] {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, sent).await.expect("write");
            B::shutdown_write(&mut stream).await.expect("half-close");
            expect_closed::<B>(&mut stream, "a peer that half-closed mid-header").await;
        }
        expect_count::<B>("proxy rejections", 3, || B::proxy_rejections(&listener)).await;
        within::<B, _>(LIMIT, "a client after them", async {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, &v2).await.expect("header");
            echo_through::<B>(&mut stream, &Pattern::new(0xfa17_0007), 256 * 1024).await;
        })
        .await;
    })
    .await;
}

/// Makes a client description from a running `serve` loop.
type ConnectTo<'a, B> = &'a dyn Fn(&<B as Backend>::Serving) -> String;

/// A client that half-closes right after its last write, with much of its data
/// still in flight, gets every byte echoed back before EOF: over TCP, UNIX, `ssl:`
/// and `haproxy:tcp:` (there also with the header, a payload and the EOF all in one
/// go, and with the header and the EOF only).
pub async fn fault_half_close_after_data_loses_no_byte<B: Backend>() {
    let pattern = Pattern::new(0xfa17_0008);
    let tcp_port =
        |serving: &B::Serving| tcp_address(&B::serving_address(serving).expect("address")).port();
    let dir = temp_dir();
    let (_, path) = socket_path(&dir, "half.sock");
    let pki = Pki::new();
    let ssl = pki.ssl_server("server.pem", "server.key", "");
    let unix = format!("unix:{path}");
    let listens: [(&str, ConnectTo<'_, B>); 3] = [
        ("tcp:0:interface=127.0.0.1", &|s| {
            format!("tcp:127.0.0.1:{}", tcp_port(s))
        }),
        (&unix, &|_| format!("unix:{path}")),
        (&ssl, &|s| {
            pki.ssl_client("127.0.0.1", tcp_port(s), ":hostname=localhost")
        }),
    ];
    for (listen, connect) in listens {
        let serving = B::serve_echo(B::listen(&server(listen)).await.expect("listen"));
        let desc = client(&connect(&serving));
        good_client::<B>(&desc, &pattern, 4 << 20).await;
        within::<B, _>(LIMIT, "stop", B::stop(serving)).await;
    }

    let listener = B::listen(&server("haproxy:tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let raw = client(&format!("tcp:127.0.0.1:{}", tcp_port(&serving)));
    let (_, v2) = proxy_headers();
    within::<B, _>(LIMIT, "header, payload and EOF at once", async {
        let mut stream = B::connect(&raw).await.expect("connect");
        B::write_all(&mut stream, &[&v2[..], b"tiny"].concat())
            .await
            .expect("write");
        B::shutdown_write(&mut stream).await.expect("half-close");
        let back = read_to_end::<B>(&mut stream).await.expect("read to EOF");
        assert_eq!(back, b"tiny");
    })
    .await;
    within::<B, _>(LIMIT, "a header, then EOF at once", async {
        let mut stream = B::connect(&raw).await.expect("connect");
        B::write_all(&mut stream, &v2).await.expect("write");
        B::shutdown_write(&mut stream).await.expect("half-close");
        let back = read_to_end::<B>(&mut stream).await.expect("read to EOF");
        assert!(back.is_empty(), "{} bytes from nowhere", back.len());
    })
    .await;
    within::<B, _>(LIMIT, "4 MiB through haproxy:", async {
        let mut stream = B::connect(&raw).await.expect("connect");
        B::write_all(&mut stream, &v2).await.expect("header");
        echo_through::<B>(&mut stream, &pattern, 4 << 20).await;
    })
    .await;
    within::<B, _>(LIMIT, "stop", B::stop(serving)).await;
}

/// Whether `socat` can be run (prints a note if not; outside CI only).
fn have_socat() -> bool {
    if Command::new("socat").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "socat is not installed (Debian package socat)"
    );
    println!("note: skipped: socat is not installed (Debian package socat)");
    false
}

/// A `socat - ADDRESS` child: its stdin goes to the connection. Killed (SIGKILL)
/// when dropped.
struct Socat {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Socat {
    fn spawn(address: &str) -> Socat {
        let mut child = Command::new("socat")
            .arg("-")
            .arg(address)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run socat");
        let stdin = child.stdin.take();
        Socat { child, stdin }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("socat's stdin");
        stdin.write_all(bytes).expect("write to socat");
        stdin.flush().expect("flush");
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A peer process (`socat`) killed with SIGKILL in the middle of a connection, with
/// its stdin, and so its connection, still open: the server's read ends (EOF, or a
/// reset if the peer had unread bytes; over TLS an `UnexpectedEof` error, as the
/// peer sent no `close_notify`, or a reset), and the listener serves the next
/// client byte-exactly. Over TCP, UNIX and `ssl:` (socat's `OPENSSL:` address).
/// Skipped with a note if `socat` is not installed (and `CI` is not set).
pub async fn fault_peer_process_killed_server_keeps_serving<B: Backend>() {
    if !have_socat() {
        return;
    }
    let tcp = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&tcp).expect("address")).port();
    peer_killed::<B>(
        tcp,
        &format!("TCP:127.0.0.1:{port}"),
        &format!("tcp:127.0.0.1:{port}"),
    )
    .await;
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "killed.sock");
    let unix = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen");
    peer_killed::<B>(
        unix,
        &format!("UNIX-CONNECT:{}", path.display()),
        &format!("unix:{text}"),
    )
    .await;
    let pki = Pki::new();
    let ssl = B::listen(&server(&pki.ssl_server("server.pem", "server.key", "")))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&ssl).expect("address")).port();
    peer_killed::<B>(
        ssl,
        &format!("OPENSSL:127.0.0.1:{port},verify=0"),
        &pki.ssl_client("127.0.0.1", port, ":hostname=localhost"),
    )
    .await;
}

async fn peer_killed<B: Backend>(listener: B::Listener, socat: &str, connect: &str) {
    let mut peer = Socat::spawn(socat);
    peer.send(b"hello\n");
    let (mut stream, _) = within::<B, _>(LIMIT, "accept socat", B::accept(&listener))
        .await
        .expect("accept");
    let mut got = [0u8; 6];
    within::<B, _>(
        LIMIT,
        "socat's bytes",
        read_exact::<B>(&mut stream, &mut got),
    )
    .await
    .expect("read");
    assert_eq!(&got, b"hello\n");
    B::write_all(&mut stream, b"world\n").await.expect("write");
    drop(peer);
    let mut buf = vec![0u8; CHUNK];
    let result = within::<B, _>(
        LIMIT,
        "the server's read once the peer was killed",
        B::read(&mut stream, &mut buf),
    )
    .await;
    let tls = socat.starts_with("OPENSSL:");
    if !check_reset(&result) {
        check_end(&result, Gone::Vanished, tls, "after the peer was killed");
    }
    drop(stream);
    let serving = B::serve_echo(listener);
    good_client::<B>(&client(connect), &Pattern::new(0xfa17_0009), 512 * 1024).await;
    within::<B, _>(LIMIT, "stop", B::stop(serving)).await;
}

fn check_reset(result: &io::Result<usize>) -> bool {
    matches!(result, Err(e) if e.kind() == io::ErrorKind::ConnectionReset)
}

/// A strports client whose server process (this test binary in a child process,
/// echoing) is killed with SIGKILL mid-connection: its read ends at once, with EOF
/// over TCP and UNIX and with an `UnexpectedEof` error over TLS (the server never
/// sent `close_notify`); a reset is accepted too.
pub async fn fault_server_process_killed_client_sees_end<B: Backend + Stamped>() {
    let port = closed_port();
    server_killed::<B>(
        &format!("tcp:{port}:interface=127.0.0.1"),
        &format!("tcp:127.0.0.1:{port}"),
        false,
    )
    .await;
    let dir = temp_dir();
    let (_, text) = socket_path(&dir, "child.sock");
    server_killed::<B>(&format!("unix:{text}"), &format!("unix:{text}"), false).await;
    let pki = Pki::new();
    let port = closed_port();
    server_killed::<B>(
        &ssl_server_at(&pki, port),
        &pki.ssl_client("127.0.0.1", port, ":hostname=localhost"),
        true,
    )
    .await;
}

async fn server_killed<B: Backend + Stamped>(listen: &str, connect: &str, tls: bool) {
    let mut command = Command::new(child::test_executable());
    command.args(child::test_args::<B>()).env(CHILD_ENV, listen);
    let mut child = ChildProcess::spawn(command, "the echo server child").expect("spawn child");
    let desc = client(connect);
    let mut stream = child::connect_to_child::<B>(&mut child, &desc, LIMIT).await;
    within::<B, _>(LIMIT, "an echo through the child", async {
        B::write_all(&mut stream, b"are you there?")
            .await
            .expect("write");
        let mut back = [0u8; 14];
        read_exact::<B>(&mut stream, &mut back).await.expect("read");
        assert_eq!(&back, b"are you there?");
    })
    .await;
    drop(child);
    let mut buf = vec![0u8; CHUNK];
    let result = within::<B, _>(
        LIMIT,
        "the client's read once the server process was killed",
        B::read(&mut stream, &mut buf),
    )
    .await;
    if !check_reset(&result) {
        check_end(
            &result,
            Gone::Vanished,
            tls,
            "after the server process was killed",
        );
    }
}

/// Peers that reset their connection before it is accepted, in the middle of the
/// TLS handshake, or in the middle of the PROXY header are dropped at once (not
/// after a timeout: 10 minutes here) and counted (`failed_handshakes`,
/// `proxy_rejections`); a `serve` loop whose accept queue held reset connections
/// keeps serving, and every listener serves the next client byte-exactly.
pub async fn fault_reset_before_accept_or_mid_handshake_is_dropped<B: Backend>() {
    let pattern = Pattern::new(0xfa17_000a);
    // Plain TCP: reset while still in the accept queue.
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}"));
    for _ in 0..3 {
        let mut stream = within::<B, _>(LIMIT, "connect", B::connect(&desc))
            .await
            .expect("connect");
        B::write_all(&mut stream, b"never read")
            .await
            .expect("write");
        reset::<B>(stream);
    }
    let serving = B::serve_echo(listener);
    good_client::<B>(&desc, &pattern, 256 * 1024).await;
    within::<B, _>(LIMIT, "stop: every connection task ended", B::stop(serving)).await;

    // TLS: reset before a word, and after the ClientHello.
    let pki = Pki::new();
    let (listener, port, raw) = tls_listener::<B>(&pki, PATIENT).await;
    let hello = client_hello();
    while_serving::<B, _>(&listener, async {
        for sent in [&[][..], &hello[..]] {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, sent).await.expect("write");
            reset::<B>(stream);
        }
        expect_count::<B>("failed handshakes", 2, || {
            B::failed_handshakes(&listener).expect("a tls listener")
        })
        .await;
        let good = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
        good_client::<B>(&good, &pattern, 256 * 1024).await;
    })
    .await;

    // PROXY: reset before a word, and mid-header.
    let options = HaproxyOptions::default().with_header_timeout(PATIENT);
    let listener = B::listen_with_haproxy(&server("haproxy:tcp:0:interface=127.0.0.1"), options)
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let (_, v2) = proxy_headers();
    while_serving::<B, _>(&listener, async {
        for sent in [&[][..], &v2[..20]] {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, sent).await.expect("write");
            reset::<B>(stream);
        }
        expect_count::<B>("proxy rejections", 2, || B::proxy_rejections(&listener)).await;
        within::<B, _>(LIMIT, "a client after them", async {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, &v2).await.expect("header");
            echo_through::<B>(&mut stream, &pattern, 256 * 1024).await;
        })
        .await;
    })
    .await;
}

/// The other way round: a server that stalls the TLS handshake (accepts and says
/// nothing; or sends the start of a ServerHello and stops) makes a strports client's
/// connect fail with `TimedOut` once its `timeout=` (1 s) passes, not hang.
pub async fn fault_tls_server_stall_client_times_out<B: Backend>() {
    let pki = Pki::new();
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    // `ssl:`, `tls:`, and `tls:` over `endpoint=` (whose `timeout` limits only the
    // handshake there: the inner `tcp:` has its own).
    let nested = pki.tls_client(
        "localhost",
        port,
        &format!("{}:timeout=1", endpoint(&format!("tcp:127.0.0.1:{port}"))),
    );
    let descs = [
        pki.ssl_client("127.0.0.1", port, ":hostname=localhost:timeout=1"),
        pki.tls_client("127.0.0.1", port, ":timeout=1"),
        nested,
    ];
    // A handshake record header promising 80 bytes, and the first of them.
    let partial_server_hello: &[u8] = &[0x16, 0x03, 0x03, 0x00, 0x50, 0x02];
    for (desc, sent) in descs
        .iter()
        .flat_map(|d| [(d, &[][..]), (d, partial_server_hello)])
    {
        let desc = client(desc);
        let server_side = async {
            let (mut stream, _) = B::accept(&listener).await.expect("accept");
            B::write_all(&mut stream, sent).await.expect("write");
            stream
        };
        let (_stream, result) = within::<B, _>(
            LIMIT,
            "a client connecting to a stalled server",
            future::zip(server_side, B::connect(&desc)),
        )
        .await;
        let error = match result {
            Ok(_) => panic!("a handshake with a stalled server succeeded"),
            Err(e) => e,
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(
            error.to_string().starts_with("tls handshake failed"),
            "{error}"
        );
    }
}

/// A server that goes away in the middle of the TLS handshake, after reading the
/// ClientHello, makes a strports client's connect fail at once (its `timeout=` is
/// 10 minutes here): a reset with `ConnectionReset`, a close with `UnexpectedEof`
/// ("tls handshake failed: the peer closed the connection during the handshake").
pub async fn fault_tls_server_gone_mid_handshake_client_fails_at_once<B: Backend>() {
    let pki = Pki::new();
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let desc = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost:timeout=600"));
    for gone in [Gone::Reset, Gone::Vanished] {
        let server_side = async {
            let (mut stream, _) = B::accept(&listener).await.expect("accept");
            // The whole ClientHello record, so that nothing is left unread (a close
            // with unread bytes would reset).
            let mut header = [0u8; 5];
            read_exact::<B>(&mut stream, &mut header)
                .await
                .expect("read a record header");
            let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            read_exact::<B>(&mut stream, &mut body)
                .await
                .expect("read the ClientHello");
            match gone {
                Gone::Reset => reset::<B>(stream),
                Gone::Vanished => B::abort_stream(stream),
            }
        };
        let ((), result) = within::<B, _>(
            LIMIT,
            "a client whose server went away mid-handshake",
            future::zip(server_side, B::connect(&desc)),
        )
        .await;
        let error = match result {
            Ok(_) => panic!("a handshake with a vanished server succeeded"),
            Err(e) => e,
        };
        let kind = match gone {
            Gone::Reset => io::ErrorKind::ConnectionReset,
            Gone::Vanished => io::ErrorKind::UnexpectedEof,
        };
        assert_eq!(error.kind(), kind, "{error}");
        assert!(
            error.to_string().starts_with("tls handshake failed"),
            "{error}"
        );
    }
}

/// The length of the accept queue of the loopback TCP listener on `port` (Linux:
/// the `rx_queue` of its `LISTEN` line in `/proc/net/tcp`); `None` where that
/// cannot be read.
fn accept_queue(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(3) != Some(&"0A") {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// Waits until the accept queue of the listener on `port` holds `n` connections
/// (where it cannot be read: lets 500 ms pass instead).
pub(crate) async fn accept_queue_reaches<B: Backend>(port: u16, n: u64, what: &str) {
    if accept_queue(port).is_none() {
        println!("note: /proc/net/tcp unreadable; waiting 500 ms for: {what}");
        B::sleep(Duration::from_millis(500)).await;
        return;
    }
    within::<B, _>(LIMIT, what, async {
        while accept_queue(port) != Some(n) {
            B::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A TLS listener that takes as many connections at once as it runs handshakes
/// (256, the backends' limit), all of which fail at once (their peers sent
/// garbage and went away while waiting in the kernel's queue), keeps accepting: the
/// next client is served. (Regression: the listener stopped at the limit without
/// polling the listening socket again, so once those handshakes failed nothing
/// woke it: a `serve` loop on it never accepted again.)
pub async fn fault_tls_handshakes_failing_at_capacity_resume_accepting<B: Backend>() {
    const IN_FLIGHT: usize = 256;
    // The kernel caps the queue at `net.core.somaxconn` (4096 since Linux 5.4).
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    if somaxconn.is_some_and(|n| n <= IN_FLIGHT) {
        println!("note: skipped: net.core.somaxconn {somaxconn:?} cannot queue {IN_FLIGHT} peers");
        return;
    }
    let pki = Pki::new();
    let listener = B::listen_tls_with_timeout(
        &server("tcp:0:interface=127.0.0.1:backlog=512"),
        plain_config(&pki),
        PATIENT,
    )
    .await
    .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    for _ in 0..IN_FLIGHT {
        let mut stream = within::<B, _>(LIMIT, "connect", B::connect(&raw))
            .await
            .expect("connect");
        B::write_all(&mut stream, b"GET / HTTP/1.0\r\n\r\n")
            .await
            .expect("write garbage");
    }
    accept_queue_reaches::<B>(port, IN_FLIGHT as u64, "every bad peer queued").await;
    let serving = B::serve_echo(listener);
    accept_queue_reaches::<B>(port, 0, "every bad peer taken").await;
    let good = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
    good_client::<B>(&good, &Pattern::new(0xfa17_000b), 64 * 1024).await;
    within::<B, _>(LIMIT, "stop", B::stop(serving)).await;
}
