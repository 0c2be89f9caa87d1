//! TCP client cases: refused, timeout, and name resolution through a custom
//! resolver.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};

use crate::{
    Backend, accept_one, client, closed_port, echo_check, expect_error, finish, server,
    tcp_address, within,
};

/// A resolver with a fixed table, recording every lookup. A per-family lookup gets
/// the name's addresses of that family (maybe none); an unknown name is an error.
pub(super) struct TableResolver {
    table: Vec<(&'static str, Vec<SocketAddr>)>,
    lookups: Mutex<Vec<(String, u16, Lookup)>>,
}

impl TableResolver {
    pub(super) fn new(table: Vec<(&'static str, Vec<SocketAddr>)>) -> Arc<TableResolver> {
        Arc::new(TableResolver {
            table,
            lookups: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn lookups(&self) -> Vec<(String, u16, Lookup)> {
        self.lookups.lock().expect("lookups").clone()
    }
}

impl Resolver for TableResolver {
    fn resolve(&self, host: &str, port: u16, lookup: Lookup) -> ResolveFuture {
        self.lookups
            .lock()
            .expect("lookups")
            .push((host.to_owned(), port, lookup));
        let found = self
            .table
            .iter()
            .find(|(name, _)| *name == host)
            .map(|(_, addrs)| {
                let family = |a: &&SocketAddr| match lookup {
                    Lookup::Ipv4 => a.is_ipv4(),
                    Lookup::Ipv6 => a.is_ipv6(),
                    _ => true,
                };
                addrs.iter().filter(family).copied().collect::<Vec<_>>()
            });
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} is not in the table"),
                )
            })
        })
    }
}

/// A resolver that must not be asked.
struct NoResolver(AtomicUsize);

impl Resolver for NoResolver {
    fn resolve(&self, host: &str, _port: u16, _lookup: Lookup) -> ResolveFuture {
        self.0.fetch_add(1, Ordering::SeqCst);
        let host = host.to_owned();
        Box::pin(async move { Err(io::Error::other(format!("asked to resolve {host}"))) })
    }
}

/// Connecting to a port nobody listens on fails with `ConnectionRefused`, naming the
/// address.
pub async fn connect_closed_port_is_refused<B: Backend>() {
    let port = closed_port();
    let result = within::<B, _>(
        Duration::from_secs(10),
        "connect",
        B::connect(&client(&format!("tcp:127.0.0.1:{port}:timeout=5"))),
    )
    .await;
    expect_error(
        result,
        io::ErrorKind::ConnectionRefused,
        &[&format!("cannot connect to 127.0.0.1:{port}")],
    );
}

/// With a listener's accept queue full and nobody accepting, further SYNs go
/// unanswered: a connect with `timeout=1` fails with `TimedOut`.
pub async fn connect_timeout_when_queue_full<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1:backlog=1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let desc = client(&format!("tcp:127.0.0.1:{port}:timeout=1"));
    let mut queued = Vec::new();
    let error = within::<B, _>(Duration::from_secs(20), "queue filling up", async {
        loop {
            match B::connect(&desc).await {
                Ok(s) if queued.len() < 10 => queued.push(s),
                Ok(_) => panic!("more than 10 connects completed with backlog=1"),
                Err(e) => return e,
            }
        }
    })
    .await;
    expect_error::<()>(
        Err(error),
        io::ErrorKind::TimedOut,
        &[&format!("127.0.0.1:{port}"), "timed out after 1 s"],
    );
    drop(listener);
}

/// A name is resolved through the resolver passed to the connector.
pub async fn connect_with_custom_resolver<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let resolver = TableResolver::new(vec![(
        "test.invalid",
        vec![SocketAddr::from(([127, 0, 0, 1], port))],
    )]);
    let serving = B::serve_echo(listener);
    let mut stream = B::connect_with(
        &client(&format!("tcp:test.invalid:{port}:timeout=5")),
        resolver.clone(),
    )
    .await
    .expect("connect through the resolver");
    echo_check::<B>(&mut stream, b"resolved").await;
    finish::<B>(&mut stream).await;
    // AAAA and A separately, so that the first answer can start connecting.
    assert_eq!(
        resolver.lookups(),
        [
            ("test.invalid".to_owned(), port, Lookup::Ipv6),
            ("test.invalid".to_owned(), port, Lookup::Ipv4)
        ]
    );
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
}

/// The resolver's addresses of one family are tried in its order: a refused first
/// address falls through to the next; when all fail, the error lists each.
pub async fn connect_tries_resolved_addresses_in_order<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let open = tcp_address(&B::local_address(&listener).expect("local address"));
    let closed1 = SocketAddr::from(([127, 0, 0, 1], closed_port()));
    let closed2 = SocketAddr::from(([127, 0, 0, 1], closed_port()));
    let resolver = TableResolver::new(vec![
        ("second.invalid", vec![closed1, open]),
        ("none.invalid", vec![closed1, closed2]),
        ("empty.invalid", vec![]),
    ]);
    let _stream = B::connect_with(&client("tcp:second.invalid:80:timeout=5"), resolver.clone())
        .await
        .expect("the second address connects");
    let (_, peer) = accept_one::<B>(&listener).await;
    assert_eq!(tcp_address(&peer).ip(), open.ip());

    let failed = B::connect_with(&client("tcp:none.invalid:80:timeout=5"), resolver.clone()).await;
    expect_error(
        failed,
        io::ErrorKind::ConnectionRefused,
        &[
            "none.invalid:80",
            &closed1.to_string(),
            &closed2.to_string(),
        ],
    );
    let empty = B::connect_with(&client("tcp:empty.invalid:80:timeout=5"), resolver).await;
    expect_error(empty, io::ErrorKind::NotFound, &["empty.invalid"]);
}

/// A resolver's error is returned with its kind and the name in the message.
pub async fn connect_resolver_failure_is_reported<B: Backend>() {
    let resolver = TableResolver::new(vec![]);
    let result = B::connect_with(&client("tcp:unknown.invalid:80:timeout=5"), resolver).await;
    expect_error(
        result,
        io::ErrorKind::NotFound,
        &["unknown.invalid", "not in the table"],
    );
}

/// An IP literal host (IPv4, or IPv6 written with escaped colons) is connected to
/// without asking the resolver.
pub async fn connect_ip_literal_skips_resolver<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let resolver = Arc::new(NoResolver(AtomicUsize::new(0)));
    let _stream = B::connect_with(
        &client(&format!("tcp:127.0.0.1:{port}:timeout=5")),
        resolver.clone(),
    )
    .await
    .expect("connect to an ip literal");
    accept_one::<B>(&listener).await;
    // A refused IPv6 literal still never reaches the resolver.
    let _ = B::connect_with(
        &client(&format!(r"tcp:\:\:1:{}:timeout=5", closed_port())),
        resolver.clone(),
    )
    .await;
    assert_eq!(
        resolver.0.load(Ordering::SeqCst),
        0,
        "the resolver was asked"
    );
}

/// `bindAddress` picks the local address a TCP connect comes from; a value that is
/// not an IP address is an `InvalidInput` error.
pub async fn connect_bind_address<B: Backend>() {
    let listener = B::listen(&server("tcp:0")).await.expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let mut sources = vec![std::net::Ipv4Addr::LOCALHOST];
    if cfg!(target_os = "linux") {
        // Also loopback on Linux, and distinguishable from the default source.
        sources.push(std::net::Ipv4Addr::new(127, 0, 0, 2));
    }
    for source in sources {
        let desc = client(&format!(
            "tcp:127.0.0.1:{port}:timeout=5:bindAddress={source}"
        ));
        let stream = B::connect(&desc).await.expect("connect with bindAddress");
        let (_accepted, peer) = accept_one::<B>(&listener).await;
        assert_eq!(
            tcp_address(&peer).ip(),
            source,
            "connect came from elsewhere"
        );
        drop(stream);
    }
    let bad = B::connect(&client(&format!(
        "tcp:127.0.0.1:{port}:timeout=5:bindAddress=nonsense"
    )))
    .await;
    expect_error(bad, io::ErrorKind::InvalidInput, &["nonsense"]);
}
