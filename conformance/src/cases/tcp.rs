//! TCP server cases.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use strports_core::endpoint::Address;

use super::shared;
use crate::{Backend, accept_one, client, echo_check, finish, server, tcp_address, within};

/// `tcp:0` listens on a real port and reports it.
pub async fn listen_port_zero_reports_real_port<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let addr = tcp_address(&B::local_address(&listener).expect("local address"));
    assert_ne!(addr.port(), 0);
    assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
    // The reported port is the one that accepts.
    let desc = client(&format!("tcp:127.0.0.1:{}:timeout=5", addr.port()));
    let mut stream = B::connect(&desc)
        .await
        .expect("connect to the reported port");
    let (mut accepted, peer) = accept_one::<B>(&listener).await;
    assert_eq!(
        B::peer_address(&stream).expect("peer address"),
        Address::Tcp(addr)
    );
    assert_eq!(
        B::peer_address(&accepted).expect("peer address"),
        peer,
        "accept's peer address and the stream's differ"
    );
    B::write_all(&mut stream, b"x").await.expect("write");
    let mut one = [0u8; 1];
    crate::read_exact::<B>(&mut accepted, &mut one)
        .await
        .expect("read");
}

fn tcp_client_for<B: Backend>(serving: &B::Serving) -> String {
    let addr = tcp_address(&B::serving_address(serving).expect("serving address"));
    format!("tcp:127.0.0.1:{}:timeout=10", addr.port())
}

fn tcp_client_for_listener<B: Backend>(listener: &B::Listener) -> String {
    let addr = tcp_address(&B::local_address(listener).expect("local address"));
    format!("tcp:127.0.0.1:{}:timeout=10", addr.port())
}

/// An echo round trip over TCP through `serve`.
pub async fn tcp_echo_round_trip<B: Backend>() {
    shared::echo_round_trip::<B>("tcp:0:interface=127.0.0.1", tcp_client_for::<B>).await;
}

/// 200 TCP clients at once, each echoing.
pub async fn tcp_many_concurrent_clients<B: Backend>() {
    shared::many_concurrent_clients::<B>(
        "tcp:0:interface=127.0.0.1:backlog=256",
        tcp_client_for::<B>,
        200,
    )
    .await;
}

/// 64 MiB each way over TCP, byte-exact.
pub async fn tcp_large_transfer_both_ways<B: Backend>() {
    shared::large_transfer_both_ways::<B>(
        "tcp:0:interface=127.0.0.1",
        tcp_client_for_listener::<B>,
    )
    .await;
}

/// Over TCP, the client half-closes and still reads the server's reply.
pub async fn tcp_half_close<B: Backend>() {
    shared::half_close::<B>("tcp:0:interface=127.0.0.1", tcp_client_for_listener::<B>).await;
}

/// Connects one at a time to a listener that never accepts, until a connect times
/// out; returns how many completed.
async fn fill_accept_queue<B: Backend>(port: u16, most: usize) -> (Vec<B::Stream>, io::Error) {
    let desc = client(&format!("tcp:127.0.0.1:{port}:timeout=1"));
    let mut queued = Vec::new();
    for _ in 0..most {
        match within::<B, _>(Duration::from_secs(10), "connect", B::connect(&desc)).await {
            Ok(s) => queued.push(s),
            Err(e) => return (queued, e),
        }
    }
    panic!("{most} connects all completed: the listen backlog was not honoured");
}

/// `backlog=N`: with nobody accepting, only a bounded number of connects complete
/// (Linux queues `N + 1`); the next one is left unanswered and times out.
pub async fn tcp_backlog_honoured<B: Backend>() {
    const BACKLOG: usize = 3;
    let listener = B::listen(&server(&format!(
        "tcp:0:interface=127.0.0.1:backlog={BACKLOG}"
    )))
    .await
    .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    // The default backlog (50) would let far more than this through.
    let (queued, error) = fill_accept_queue::<B>(port, BACKLOG + 20).await;
    assert_eq!(
        error.kind(),
        io::ErrorKind::TimedOut,
        "the connect past the queue failed otherwise: {error}"
    );
    let count = queued.len();
    if cfg!(target_os = "linux") {
        assert!(
            (BACKLOG..=BACKLOG + 1).contains(&count),
            "{count} connects completed with backlog={BACKLOG}; Linux queues backlog + 1"
        );
    } else {
        assert!(
            (1..=2 * BACKLOG + 1).contains(&count),
            "{count} connects completed with backlog={BACKLOG}"
        );
    }
    drop(listener);
}

/// `interface=127.0.0.1` listens there only: a connect to 127.0.0.2 (also loopback
/// on Linux) is refused, while a listener on all interfaces takes it.
pub async fn tcp_interface_refuses_other_addresses<B: Backend>() {
    if !cfg!(target_os = "linux") {
        println!("note: skipped: 127.0.0.2 is a local address only on Linux");
        return;
    }
    let only = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&only).expect("local address")).port();
    let refused = within::<B, _>(
        Duration::from_secs(10),
        "connect to 127.0.0.2",
        B::connect(&client(&format!("tcp:127.0.0.2:{port}:timeout=5"))),
    )
    .await;
    crate::expect_error(refused, io::ErrorKind::ConnectionRefused, &["127.0.0.2"]);
    let mut ok = B::connect(&client(&format!("tcp:127.0.0.1:{port}:timeout=5")))
        .await
        .expect("connect to 127.0.0.1");
    let (mut accepted, _) = accept_one::<B>(&only).await;
    B::write_all(&mut ok, b"y").await.expect("write");
    let mut one = [0u8; 1];
    crate::read_exact::<B>(&mut accepted, &mut one)
        .await
        .expect("read");

    // Control: a listener on every interface accepts on 127.0.0.2.
    let all = B::listen(&server("tcp:0")).await.expect("listen on all");
    let port = tcp_address(&B::local_address(&all).expect("local address")).port();
    let _stream = B::connect(&client(&format!("tcp:127.0.0.2:{port}:timeout=5")))
        .await
        .expect("connect to 127.0.0.2 on a wildcard listener");
    let (_, peer) = accept_one::<B>(&all).await;
    assert!(tcp_address(&peer).ip().is_loopback());
}

/// Whether this machine has an IPv6 loopback address (prints a note if not).
pub(super) async fn ipv6_loopback<B: Backend>(listen: &str) -> Option<B::Listener> {
    match B::listen(&server(listen)).await {
        Ok(l) => Some(l),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported
            ) || e.raw_os_error() == Some(libc::EAFNOSUPPORT) =>
        {
            println!("note: skipped: no IPv6 loopback on this machine ({e})");
            None
        }
        Err(e) => panic!("listen on {listen}: {e}"),
    }
}

/// `tcp6` on `::1`: listens, reports the IPv6 address, and a client connects to
/// `::1`.
pub async fn tcp6_loopback_round_trip<B: Backend>() {
    let Some(listener) = ipv6_loopback::<B>(r"tcp6:0:interface=\:\:1").await else {
        return;
    };
    let addr = tcp_address(&B::local_address(&listener).expect("local address"));
    assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);
    assert_ne!(addr.port(), 0);
    let serving = B::serve_echo(listener);
    let mut stream = B::connect(&client(&format!(r"tcp:\:\:1:{}:timeout=5", addr.port())))
        .await
        .expect("connect to ::1");
    assert_eq!(B::peer_address(&stream).expect("peer"), Address::Tcp(addr));
    echo_check::<B>(&mut stream, b"over IPv6").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
}

/// `tcp6:0` (interface `::`) listens on IPv6.
pub async fn tcp6_default_interface_is_ipv6<B: Backend>() {
    // Probe for `::1` first: the wildcard can listen where loopback has no IPv6.
    if ipv6_loopback::<B>(r"tcp6:0:interface=\:\:1")
        .await
        .is_none()
    {
        return;
    }
    let Some(listener) = ipv6_loopback::<B>("tcp6:0").await else {
        return;
    };
    let addr = tcp_address(&B::local_address(&listener).expect("local address"));
    assert_eq!(addr.ip(), Ipv6Addr::UNSPECIFIED);
    let _stream = B::connect(&client(&format!(r"tcp:\:\:1:{}:timeout=5", addr.port())))
        .await
        .expect("connect to ::1");
    accept_one::<B>(&listener).await;
}
