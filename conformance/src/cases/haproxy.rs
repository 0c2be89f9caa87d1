//! `haproxy:` servers: every connection starts with a PROXY protocol header, which
//! the listener takes off and reports as the connection's addresses.
//!
//! Headers are only read while `accept` is awaited, so every case that expects a
//! rejection keeps an `accept` running next to its clients. Waits are bounded, but
//! nothing asserts how long anything took (one case gives `accept` 300 ms to show
//! that it returns nothing: a slow machine can only make that pass).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::future::{self, zip};
use strports_core::UnixAddress;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{
    Addresses, HaproxyOptions, ProxyHeader, Tlv, encode_v1, encode_v2,
};

use super::faults::accept_queue_reaches;
use crate::{
    Backend, Pattern, client, echo_check, finish, read_to_end, server, socket_path, tcp_address,
    temp_dir, within,
};

/// The bound on every wait in these cases.
const WAIT: Duration = Duration::from_secs(20);

/// A header timeout no case reaches.
const PATIENT: Duration = Duration::from_secs(60);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn tcp(s: &str) -> Address {
    Address::Tcp(addr(s))
}

/// The v1 header of a TCP connection from `source` to `destination`.
fn v1(source: &str, destination: &str) -> (ProxyHeader, Vec<u8>) {
    let header = ProxyHeader::v1(Addresses::tcp(addr(source), addr(destination)));
    let bytes = encode_v1(&header).expect("encode v1");
    (header, bytes)
}

/// TLVs of several kinds, a checksum among them, that the listener must step over.
fn with_tlvs(header: ProxyHeader) -> ProxyHeader {
    header
        .with_tlv(Tlv::new(Tlv::ALPN, b"h2".to_vec()))
        .with_tlv(Tlv::new(Tlv::AUTHORITY, b"example.com".to_vec()))
        .with_tlv(Tlv::new(Tlv::NOOP, vec![0; 7]))
        .with_tlv(Tlv::new(Tlv::UNIQUE_ID, b"conn-42".to_vec()))
        .with_tlv(Tlv::new(0xe0, vec![1, 2, 3]))
        .with_tlv(Tlv::new(Tlv::CRC32C, vec![0; 4]))
}

/// A v2 header with [`with_tlvs`], and its encoding; the returned header is the
/// decoded form (with the checksum filled in).
fn v2(addresses: Addresses) -> (ProxyHeader, Vec<u8>) {
    v2_header(with_tlvs(ProxyHeader::v2(addresses)))
}

fn v2_header(header: ProxyHeader) -> (ProxyHeader, Vec<u8>) {
    let bytes = encode_v2(&header).expect("encode v2");
    match strports_core::proxy_protocol::decode(&bytes) {
        Ok(strports_core::proxy_protocol::Decoded::Done { mut header, .. }) => {
            // What the listener keeps: NOOP padding is dropped.
            header.tlvs.retain(|tlv| tlv.kind != Tlv::NOOP);
            (header, bytes)
        }
        other => panic!("test header does not decode: {other:?}"),
    }
}

/// Listens on `desc` (a `haproxy:` description) with header timeout `timeout`.
async fn listen<B: Backend>(desc: &str, timeout: Duration) -> B::Listener {
    let options = HaproxyOptions::default().with_header_timeout(timeout);
    B::listen_with_haproxy(&server(desc), options)
        .await
        .expect("listen")
}

/// A `haproxy:tcp:` listener on loopback and the client description to reach it.
async fn listen_tcp<B: Backend>(timeout: Duration) -> (B::Listener, String) {
    let listener = listen::<B>("haproxy:tcp:0:interface=127.0.0.1", timeout).await;
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    (listener, format!("tcp:127.0.0.1:{port}"))
}

/// Connects and writes `bytes` in pieces of `piece` bytes, pausing `pause` between.
async fn send<B: Backend>(connect: &str, bytes: &[u8], piece: usize, pause: Duration) -> B::Stream {
    let mut stream = B::connect(&client(connect)).await.expect("connect");
    write_pieces::<B>(&mut stream, bytes, piece, pause).await;
    stream
}

async fn write_pieces<B: Backend>(
    stream: &mut B::Stream,
    bytes: &[u8],
    piece: usize,
    pause: Duration,
) {
    for (i, chunk) in bytes.chunks(piece.max(1)).enumerate() {
        if i > 0 && !pause.is_zero() {
            B::sleep(pause).await;
        }
        B::write_all(stream, chunk).await.expect("write");
    }
}

/// Awaits `accept` and `clients` together (so headers are read while the clients
/// run); returns the accepted connection and the clients' output.
async fn accept_during<B: Backend, T>(
    listener: &B::Listener,
    clients: impl Future<Output = T>,
) -> ((B::Stream, Address), T) {
    let (accepted, out) = within::<B, _>(WAIT, "accept", zip(B::accept(listener), clients)).await;
    (accepted.expect("accept"), out)
}

/// What the server saw of one proxied connection.
struct Seen<B: Backend> {
    peer: Address,
    stream: B::Stream,
    received: Vec<u8>,
    /// The client socket's own address (what a LOCAL header falls back to).
    client_local: Address,
}

/// A client sends `header` and then `payload` (in pieces of `piece` bytes, pausing
/// between them) and half-closes; the server accepts, reads to EOF and replies.
async fn round_trip<B: Backend>(
    listener: &B::Listener,
    connect: &str,
    header: &[u8],
    payload: &[u8],
    piece: usize,
    pause: Duration,
) -> Seen<B> {
    let sent = [header, payload].concat();
    let server_side = async {
        let (mut stream, peer) = B::accept(listener).await.expect("accept");
        let received = read_to_end::<B>(&mut stream).await.expect("server read");
        B::write_all(&mut stream, b"reply").await.expect("reply");
        B::shutdown_write(&mut stream)
            .await
            .expect("server shutdown");
        (peer, stream, received)
    };
    let client_side = async {
        let mut stream = send::<B>(connect, &sent, piece, pause).await;
        let client_local = B::stream_local_address(&stream).expect("client address");
        B::shutdown_write(&mut stream)
            .await
            .expect("client shutdown");
        let reply = read_to_end::<B>(&mut stream).await.expect("client read");
        assert_eq!(reply, b"reply", "the reply after the proxied request");
        client_local
    };
    let ((peer, stream, received), client_local) =
        within::<B, _>(WAIT, "proxied round trip", zip(server_side, client_side)).await;
    Seen {
        peer,
        stream,
        received,
        client_local,
    }
}

/// Checks what the server saw against the header and payload sent.
fn check<B: Backend>(
    seen: &Seen<B>,
    header: &ProxyHeader,
    source: &Address,
    destination: &Address,
    payload: &[u8],
) {
    assert_eq!(&seen.peer, source, "accept's peer is the header's source");
    assert_eq!(&B::peer_address(&seen.stream).expect("peer"), source);
    assert_eq!(
        &B::stream_local_address(&seen.stream).expect("local"),
        destination,
        "the stream's local address is the header's destination"
    );
    assert_eq!(B::proxy_header(&seen.stream).as_ref(), Some(header));
    assert!(
        seen.received == payload,
        "the bytes after the header differ from those sent ({} received, {} sent)",
        seen.received.len(),
        payload.len()
    );
}

/// One header and payload over a `haproxy:tcp:` listener, checked.
async fn proxied_tcp<B: Backend>(header: ProxyHeader, bytes: Vec<u8>) {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let seen = round_trip::<B>(
        &listener,
        &connect,
        &bytes,
        b"hello",
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    let source = header.source().expect("source").clone();
    let destination = header.destination().expect("destination").clone();
    check(&seen, &header, &source, &destination, b"hello");
    assert_eq!(B::proxy_rejections(&listener), 0);
}

/// Waits until the server closes `stream` (EOF or a reset), without data.
async fn expect_closed<B: Backend>(stream: &mut B::Stream, what: &str) {
    within::<B, _>(WAIT, what, async {
        let mut buf = [0u8; 64];
        match B::read(stream, &mut buf).await {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("{what}: got {n} bytes instead"),
            Err(e) => panic!("{what}: {e}"),
        }
    })
    .await;
}

/// A good client after a rejected one: accepted, with its own header's address.
async fn good_client<B: Backend>(connect: &str) -> B::Stream {
    let (_, bytes) = v1("192.0.2.200:4000", "198.51.100.1:80");
    send::<B>(
        connect,
        &[&bytes[..], b"good"].concat(),
        usize::MAX,
        Duration::ZERO,
    )
    .await
}

async fn check_good<B: Backend>(accepted: (B::Stream, Address), mut client: B::Stream) {
    let (mut stream, peer) = accepted;
    assert_eq!(peer, tcp("192.0.2.200:4000"));
    let mut got = [0u8; 4];
    within::<B, _>(WAIT, "read", crate::read_exact::<B>(&mut stream, &mut got))
        .await
        .expect("read");
    assert_eq!(&got, b"good");
    echo_back::<B>(&mut stream, &mut client).await;
}

/// The server writes a line and the client reads it: the connection works.
async fn echo_back<B: Backend>(server: &mut B::Stream, client: &mut B::Stream) {
    within::<B, _>(WAIT, "server to client", async {
        B::write_all(server, b"ok\n").await.expect("write");
        let mut got = [0u8; 3];
        crate::read_exact::<B>(client, &mut got)
            .await
            .expect("read");
        assert_eq!(&got, b"ok\n");
    })
    .await;
}

/// Two `accept` calls at once on one listener: each gets one of two clients.
pub async fn haproxy_concurrent_accepts<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let accepts = zip(B::accept(&listener), B::accept(&listener));
    let clients = async {
        let (_, one) = v1("192.0.2.1:1111", "198.51.100.1:80");
        let (_, two) = v1("192.0.2.2:2222", "198.51.100.1:80");
        let one = send::<B>(&connect, &one, usize::MAX, Duration::ZERO).await;
        let two = send::<B>(&connect, &two, usize::MAX, Duration::ZERO).await;
        (one, two)
    };
    let ((first, second), _clients) =
        within::<B, _>(WAIT, "two accepts at once", zip(accepts, clients)).await;
    let mut peers = [first.expect("accept").1, second.expect("accept").1];
    peers.sort_by_key(|a| a.to_string());
    assert_eq!(peers, [tcp("192.0.2.1:1111"), tcp("192.0.2.2:2222")]);
}

/// A header for a datagram flow (v2 UDP) on a stream listener: closed, counted.
pub async fn haproxy_datagram_header_rejected<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let (_, bytes) = v2(Addresses::udp(
        addr("192.0.2.1:53"),
        addr("198.51.100.1:53"),
    ));
    let (accepted, client) = accept_during::<B, _>(&listener, async {
        let mut rejected = send::<B>(&connect, &bytes, usize::MAX, Duration::ZERO).await;
        expect_closed::<B>(&mut rejected, "a udp header's connection closed").await;
        good_client::<B>(&connect).await
    })
    .await;
    check_good::<B>(accepted, client).await;
    assert_eq!(B::proxy_rejections(&listener), 1);
}

/// Bytes that are not a PROXY header close that connection and count it; a
/// well-formed client after it is served.
pub async fn haproxy_garbage_header_rejected<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let (accepted, client) = accept_during::<B, _>(&listener, async {
        let garbage = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let mut rejected = send::<B>(&connect, garbage, usize::MAX, Duration::ZERO).await;
        expect_closed::<B>(&mut rejected, "an http request's connection closed").await;
        // A v1 header with a bad port: malformed, not merely foreign.
        let bad_port = b"PROXY TCP4 192.0.2.1 198.51.100.1 99999 80\r\n";
        let mut rejected = send::<B>(&connect, bad_port, usize::MAX, Duration::ZERO).await;
        expect_closed::<B>(&mut rejected, "a bad v1 header's connection closed").await;
        good_client::<B>(&connect).await
    })
    .await;
    check_good::<B>(accepted, client).await;
    assert_eq!(B::proxy_rejections(&listener), 2);
}

/// Headers arriving a few bytes at a time, with pauses, are put together; the
/// payload after them arrives whole.
pub async fn haproxy_header_split_across_small_writes<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let pause = Duration::from_millis(2);
    let (header, bytes) = v1("192.0.2.1:56324", "198.51.100.1:443");
    let seen = round_trip::<B>(&listener, &connect, &bytes, b"payload one", 1, pause).await;
    check(
        &seen,
        &header,
        &tcp("192.0.2.1:56324"),
        &tcp("198.51.100.1:443"),
        b"payload one",
    );
    let (header, bytes) = v2(Addresses::tcp(
        addr("[2001:db8::1]:40000"),
        addr("[2001:db8::2]:443"),
    ));
    let seen = round_trip::<B>(&listener, &connect, &bytes, b"payload two", 3, pause).await;
    check(
        &seen,
        &header,
        &tcp("[2001:db8::1]:40000"),
        &tcp("[2001:db8::2]:443"),
        b"payload two",
    );
    assert_eq!(B::proxy_rejections(&listener), 0);
}

/// A client that never sends a header is closed after the header timeout and
/// counted; a client after it is served.
pub async fn haproxy_header_timeout_closes_connection<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(Duration::from_millis(200)).await;
    let (accepted, client) = accept_during::<B, _>(&listener, async {
        let mut silent = B::connect(&client(&connect)).await.expect("connect");
        expect_closed::<B>(&mut silent, "a silent client closed after the timeout").await;
        // Half a header, then silence: the same.
        let mut stalled =
            send::<B>(&connect, b"PROXY TCP4 192.0.2", usize::MAX, Duration::ZERO).await;
        expect_closed::<B>(&mut stalled, "a stalled client closed after the timeout").await;
        good_client::<B>(&connect).await
    })
    .await;
    check_good::<B>(accepted, client).await;
    assert_eq!(B::proxy_rejections(&listener), 2);
}

/// With `max_pending` connections waiting for their header, the listener accepts no
/// more: the next client stays in the kernel's backlog, even with a complete header
/// sent, until one of the waiting connections ends (closed without a header:
/// counted as a rejection); then it is accepted.
pub async fn haproxy_max_pending_holds_further_connections_in_the_backlog<B: Backend>() {
    let options = HaproxyOptions::default()
        .with_header_timeout(PATIENT)
        .with_max_pending(2);
    let listener = B::listen_with_haproxy(&server("haproxy:tcp:0:interface=127.0.0.1"), options)
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let connect = format!("tcp:127.0.0.1:{port}");
    let silent = within::<B, _>(WAIT, "connect the silent clients", async {
        let one = B::connect(&client(&connect)).await.expect("connect");
        let two = B::connect(&client(&connect)).await.expect("connect");
        [one, two]
    })
    .await;
    // Both queued before the third connects, so they are accepted first.
    accept_queue_reaches::<B>(port, 2, "both silent clients queued").await;
    let held = within::<B, _>(WAIT, "connect the third client", good_client::<B>(&connect)).await;

    // A negative wait: it can only pass wrongly (too short to see a broken limit),
    // never fail from slowness.
    let early = future::or(async { Some(B::accept(&listener).await) }, async {
        B::sleep(Duration::from_millis(300)).await;
        None
    })
    .await;
    if let Some(accepted) = early {
        let peer = accepted.map(|(_, peer)| peer);
        panic!("accepted past max_pending 2 while two headers were pending: {peer:?}");
    }
    accept_queue_reaches::<B>(port, 1, "the third client held in the backlog").await;
    assert_eq!(B::proxy_rejections(&listener), 0);

    let [one, _two] = silent;
    drop(one);
    let accepted = within::<B, _>(
        WAIT,
        "accept once a silent client left",
        B::accept(&listener),
    )
    .await
    .expect("accept");
    assert_eq!(
        B::proxy_rejections(&listener),
        1,
        "the closed silent client"
    );
    check_good::<B>(accepted, held).await;
}

/// `haproxy:haproxy:tcp:...` reads two headers; the second one names the client.
pub async fn haproxy_nested_haproxy_reads_two_headers<B: Backend>() {
    let listener = listen::<B>("haproxy:haproxy:tcp:0:interface=127.0.0.1", PATIENT).await;
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let (_, first) = v1("192.0.2.1:1111", "198.51.100.1:80");
    let (header, second) = v2(Addresses::tcp(
        addr("192.0.2.2:2222"),
        addr("198.51.100.2:443"),
    ));
    let seen = round_trip::<B>(
        &listener,
        &format!("tcp:127.0.0.1:{port}"),
        &[first, second].concat(),
        b"inner",
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    check(
        &seen,
        &header,
        &tcp("192.0.2.2:2222"),
        &tcp("198.51.100.2:443"),
        b"inner",
    );
}

/// Payload in the same write as the header, much more than one read's worth: every
/// byte after the header reaches the application unchanged.
pub async fn haproxy_payload_in_same_write_as_header<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let pattern = Pattern::new(0x5eed_0007);
    let mut payload = Vec::new();
    while payload.len() < 300_000 {
        let piece = pattern.slice(payload.len() as u64, 300_000 - payload.len());
        payload.extend_from_slice(piece);
    }
    let (header, bytes) = v1("192.0.2.1:56324", "198.51.100.1:443");
    let seen = round_trip::<B>(
        &listener,
        &connect,
        &bytes,
        &payload,
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    check(
        &seen,
        &header,
        &tcp("192.0.2.1:56324"),
        &tcp("198.51.100.1:443"),
        &payload,
    );
    // A payload smaller than one read, so that all of it comes with the header.
    let (header, bytes) = v2(Addresses::tcp(addr("192.0.2.9:9"), addr("198.51.100.9:99")));
    let seen = round_trip::<B>(
        &listener,
        &connect,
        &bytes,
        b"tiny",
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    check(
        &seen,
        &header,
        &tcp("192.0.2.9:9"),
        &tcp("198.51.100.9:99"),
        b"tiny",
    );
}

/// `serve` on a `haproxy:` listener from plain `listen` (default options) hands the
/// handler working connections.
pub async fn haproxy_serve_echo_round_trip<B: Backend>() {
    let listener = B::listen(&server("haproxy:tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let serving = B::serve_echo(listener);
    let port = tcp_address(&B::serving_address(&serving).expect("address")).port();
    let (_, bytes) = v1("192.0.2.1:56324", "198.51.100.1:443");
    let mut stream = send::<B>(
        &format!("tcp:127.0.0.1:{port}"),
        &bytes,
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    echo_check::<B>(&mut stream, b"hello through haproxy").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(WAIT, "stop", B::stop(serving)).await;
}

/// A client that sent half a header does not hold up the next client's accept.
pub async fn haproxy_slow_client_does_not_block_others<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let (_, slow_header) = v1("192.0.2.1:1111", "198.51.100.1:80");
    let (split, rest) = slow_header.split_at(12);
    let (accepted, (mut slow, mut fast)) = accept_during::<B, _>(&listener, async {
        let slow = send::<B>(&connect, split, usize::MAX, Duration::ZERO).await;
        let (_, fast_header) = v1("192.0.2.2:2222", "198.51.100.1:80");
        let fast = send::<B>(&connect, &fast_header, usize::MAX, Duration::ZERO).await;
        (slow, fast)
    })
    .await;
    assert_eq!(
        accepted.1,
        tcp("192.0.2.2:2222"),
        "the complete header first"
    );
    let (mut fast_server, _) = accepted;
    echo_back::<B>(&mut fast_server, &mut fast).await;
    let (accepted, ()) = accept_during::<B, _>(&listener, async {
        B::write_all(&mut slow, rest).await.expect("write the rest");
    })
    .await;
    assert_eq!(accepted.1, tcp("192.0.2.1:1111"), "then the slow one");
    let (mut slow_server, _) = accepted;
    echo_back::<B>(&mut slow_server, &mut slow).await;
    assert_eq!(B::proxy_rejections(&listener), 0);
}

/// `haproxy:unix:...`: a UNIX listener whose clients announce TCP addresses.
pub async fn haproxy_unix_listener<B: Backend>() {
    let dir = temp_dir();
    let (_, path) = socket_path(&dir, "proxied.sock");
    let listener = listen::<B>(&format!("haproxy:unix:{path}"), PATIENT).await;
    let (header, bytes) = v1("192.0.2.1:56324", "198.51.100.1:443");
    let seen = round_trip::<B>(
        &listener,
        &format!("unix:{path}"),
        &bytes,
        b"over unix",
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    check(
        &seen,
        &header,
        &tcp("192.0.2.1:56324"),
        &tcp("198.51.100.1:443"),
        b"over unix",
    );
}

/// v1 `TCP4`.
pub async fn haproxy_v1_tcp4<B: Backend>() {
    let (header, bytes) = v1("192.168.0.1:56324", "192.168.0.11:443");
    proxied_tcp::<B>(header, bytes).await;
}

/// v1 `TCP6` (over an IPv4 transport: the header's family is independent of it).
pub async fn haproxy_v1_tcp6<B: Backend>() {
    let (header, bytes) = v1("[2001:db8::1]:56324", "[2001:db8::11]:443");
    proxied_tcp::<B>(header, bytes).await;
}

/// v2 LOCAL (a health check) with TLVs: the connection's real addresses.
pub async fn haproxy_v2_local_reports_real_addresses<B: Backend>() {
    let (listener, connect) = listen_tcp::<B>(PATIENT).await;
    let (header, bytes) = v2_header(with_tlvs(ProxyHeader::local()));
    let seen = round_trip::<B>(
        &listener,
        &connect,
        &bytes,
        b"check",
        usize::MAX,
        Duration::ZERO,
    )
    .await;
    let real_local = B::local_address(&listener).expect("local address");
    let client_local = seen.client_local.clone();
    check(&seen, &header, &client_local, &real_local, b"check");
}

/// v2 TCP over IPv4, with TLVs.
pub async fn haproxy_v2_tcp4_with_tlvs<B: Backend>() {
    let (header, bytes) = v2(Addresses::tcp(
        addr("10.1.2.3:40000"),
        addr("10.3.2.1:8443"),
    ));
    assert_eq!(header.authority(), Some("example.com"));
    proxied_tcp::<B>(header, bytes).await;
}

/// v2 TCP over IPv6, with TLVs.
pub async fn haproxy_v2_tcp6_with_tlvs<B: Backend>() {
    let (header, bytes) = v2(Addresses::tcp(
        addr("[2001:db8::7]:40000"),
        addr("[::1]:8443"),
    ));
    proxied_tcp::<B>(header, bytes).await;
}

/// v2 UNIX stream addresses, with TLVs.
pub async fn haproxy_v2_unix_with_tlvs<B: Backend>() {
    let (header, bytes) = v2(Addresses::unix(
        Some(UnixAddress::Path("/run/lb/client.sock".into())),
        Some(UnixAddress::Abstract("backend".into())),
    ));
    proxied_tcp::<B>(header, bytes).await;
}
