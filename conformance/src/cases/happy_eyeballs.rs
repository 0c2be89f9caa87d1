//! Happy Eyeballs (RFC 8305) on real loopback sockets: a host name whose addresses
//! come from a table resolver, some of them refusing or never answering.
//!
//! The racing policy itself (delays, order, timeouts) is tested on a fake clock in
//! `strports-core`; these cases check that each backend's driver does what the
//! machine says with real sockets. No case asserts how long anything took: where a
//! case shows that an attempt did not wait, the wait it avoided is longer than its
//! [`within`] bound, many times over.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;
use std::time::Duration;

use strports_core::endpoint::Address;

use super::connect::TableResolver;
use super::tcp::ipv6_loopback;
use crate::{Backend, accept_one, client, closed_port, join_all, server, tcp_address, within};

/// A listener whose accept queue is full and which never accepts: the kernel drops
/// further SYNs to it, so a connect there neither succeeds nor fails.
pub(super) struct Unresponsive<B: Backend> {
    pub(super) addr: SocketAddr,
    _listener: B::Listener,
    _queued: Vec<B::Stream>,
}

/// Listens on 127.0.0.1 with `backlog=1` and connects (IP literal, `timeout=1`)
/// until a connect times out: the queue is then full (as in
/// `connect_timeout_when_queue_full`).
pub(super) async fn unresponsive<B: Backend>() -> Unresponsive<B> {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1:backlog=1"))
        .await
        .expect("listen");
    let addr = tcp_address(&B::local_address(&listener).expect("local address"));
    let desc = client(&format!("tcp:{}:{}:timeout=1", addr.ip(), addr.port()));
    let mut queued = Vec::new();
    within::<B, _>(Duration::from_secs(20), "filling an accept queue", async {
        loop {
            match B::connect(&desc).await {
                Ok(s) if queued.len() < 10 => queued.push(s),
                Ok(_) => panic!("more than 10 connects completed with backlog=1"),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => break,
                Err(e) => panic!("filling the accept queue of {addr}: {e}"),
            }
        }
    })
    .await;
    Unresponsive {
        addr,
        _listener: listener,
        _queued: queued,
    }
}

/// A listener on 127.0.0.1 and its address.
async fn listening<B: Backend>() -> (B::Listener, SocketAddr) {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let addr = tcp_address(&B::local_address(&listener).expect("local address"));
    (listener, addr)
}

/// `n` distinct loopback addresses where nothing listens: connects are refused.
fn refusing(n: usize) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    while out.len() < n {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, closed_port()));
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// The first address never answers: the second starts one attempt delay later
/// (250 ms) and wins, long before the first attempt's `timeout=30` would end.
pub async fn happy_eyeballs_unresponsive_first_address_loses<B: Backend>() {
    let stuck = unresponsive::<B>().await;
    let (listener, good) = listening::<B>().await;
    let resolver = TableResolver::new(vec![("stuck-first.invalid", vec![stuck.addr, good])]);
    let desc = client("tcp:stuck-first.invalid:80:timeout=30");
    let stream = within::<B, _>(
        Duration::from_secs(10),
        "connecting past an unresponsive address",
        B::connect_with(&desc, resolver),
    )
    .await
    .expect("the second address connects");
    assert_eq!(
        B::peer_address(&stream).expect("peer address"),
        Address::Tcp(good),
        "the connection went elsewhere"
    );
    accept_one::<B>(&listener).await;
}

/// A refused attempt starts the next one at once, without waiting out the attempt
/// delay: 32 refusing addresses before the listening one connect well within a
/// bound that waiting 250 ms after each (8 s) would exceed.
pub async fn happy_eyeballs_refused_address_tries_next_at_once<B: Backend>() {
    let (listener, good) = listening::<B>().await;
    let mut addrs = refusing(32);
    addrs.push(good);
    let resolver = TableResolver::new(vec![("refused-first.invalid", addrs)]);
    let desc = client("tcp:refused-first.invalid:80:timeout=30");
    let stream = within::<B, _>(
        Duration::from_secs(4),
        "connecting past 32 refusing addresses",
        B::connect_with(&desc, resolver),
    )
    .await
    .expect("the last address connects");
    assert_eq!(
        B::peer_address(&stream).expect("peer address"),
        Address::Tcp(good)
    );
    accept_one::<B>(&listener).await;
}

/// When every attempt fails, the one error names the host and lists every address
/// tried with its own reason: refused, timed out (`timeout=1` on an unresponsive
/// address), and an IPv6 one where the machine has `::1`.
pub async fn happy_eyeballs_all_fail_lists_every_address<B: Backend>() {
    let stuck = unresponsive::<B>().await;
    let mut addrs = refusing(2);
    addrs.push(stuck.addr);
    if ipv6_loopback::<B>(r"tcp6:0:interface=\:\:1")
        .await
        .is_some()
    {
        addrs.push(SocketAddr::from((Ipv6Addr::LOCALHOST, closed_port())));
    }
    let resolver = TableResolver::new(vec![("all-fail.invalid", addrs.clone())]);
    let desc = client("tcp:all-fail.invalid:80:timeout=1");
    let error = within::<B, _>(
        Duration::from_secs(20),
        "connect",
        B::connect_with(&desc, resolver),
    )
    .await
    .err()
    .expect("every address fails");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot connect to all-fail.invalid:80: "),
        "{message}"
    );
    for addr in &addrs {
        let reason = if *addr == stuck.addr {
            "timed out"
        } else {
            "refused"
        };
        let listed = message
            .split("; ")
            .any(|part| part.contains(&format!("{addr}: ")) && part.contains(reason));
        assert!(listed, "{addr} ({reason}) is not listed in {message:?}");
    }
}

/// With both families working, IPv6 goes first even when the resolver lists IPv4
/// first, and wins: the `::1` listener gets the connection.
pub async fn happy_eyeballs_prefers_ipv6<B: Backend>() {
    let Some(v6_listener) = ipv6_loopback::<B>(r"tcp6:0:interface=\:\:1").await else {
        return;
    };
    let v6 = tcp_address(&B::local_address(&v6_listener).expect("local address"));
    let (_v4_listener, v4) = listening::<B>().await;
    let resolver = TableResolver::new(vec![("dual.invalid", vec![v4, v6])]);
    let stream = within::<B, _>(
        Duration::from_secs(10),
        "connect",
        B::connect_with(&client("tcp:dual.invalid:80:timeout=30"), resolver),
    )
    .await
    .expect("connect");
    assert_eq!(
        B::peer_address(&stream).expect("peer address"),
        Address::Tcp(v6),
        "IPv4 was preferred"
    );
    accept_one::<B>(&v6_listener).await;
}

/// Dropping a connect future mid-race closes every attempt's socket at once. The
/// attempts connect from a local address no other case uses (`bindAddress`), so
/// the process's descriptors that are theirs can be told apart from those of cases
/// running in parallel: three attempts open during the race, none after the drop.
pub async fn happy_eyeballs_drop_closes_every_attempt<B: Backend>() {
    const SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 77);
    if !cfg!(target_os = "linux") {
        println!("note: skipped: needs /proc/self/fd and 127.0.0.77 as a local address");
        return;
    }
    let stuck = join_all((0..3).map(|_| unresponsive::<B>()).collect()).await;
    let addrs = stuck.iter().map(|s| s.addr).collect();
    let resolver = TableResolver::new(vec![("never.invalid", addrs)]);
    let desc = client(&format!(
        "tcp:never.invalid:80:timeout=30:bindAddress={SOURCE}"
    ));
    assert_eq!(sockets_bound_to(SOURCE), [], "sockets open before the race");
    let connect = B::connect_with(&desc, resolver);
    let race_running = async {
        // All three start within about two attempt delays (500 ms).
        within::<B, _>(Duration::from_secs(10), "three attempts", async {
            while sockets_bound_to(SOURCE).len() < 3 {
                B::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    };
    // Whichever finishes first, the other future is dropped with the `or`.
    let ended = futures_lite::future::or(async { Some(connect.await.map(drop)) }, async {
        race_running.await;
        None
    })
    .await;
    if let Some(result) = ended {
        panic!("the connect ended while every address was unresponsive: {result:?}");
    }
    assert_eq!(
        sockets_bound_to(SOURCE),
        [],
        "attempt sockets left open after dropping the connect"
    );
}

/// This process's descriptors that are sockets bound to `ip` (from /proc/self/fd).
fn sockets_bound_to(ip: Ipv4Addr) -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let fds = dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok());
    fds.filter(|&fd| local_ip(fd) == Some(IpAddr::V4(ip)))
        .collect()
}

/// The local IPv4 address of socket `fd`, if it is one. `fd` may be closed (and
/// even reused) by another thread meanwhile: `getsockname` then fails or answers
/// for the new descriptor, which is harmless here.
fn local_ip(fd: RawFd) -> Option<IpAddr> {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `addr`; any fd number is
    // allowed (a bad one fails with EBADF or ENOTSOCK).
    let rc = unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) };
    let ipv4 = rc == 0 && i32::from(addr.sin_family) == libc::AF_INET;
    ipv4.then(|| IpAddr::V4(Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr))))
}
