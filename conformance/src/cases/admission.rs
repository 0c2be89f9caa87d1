//! Admission control of the listeners that run a step before handing a connection
//! on (TLS handshakes, PROXY headers): one source cannot take every slot, silent
//! peers are dropped at the first-byte deadline, untrusted peers never get a PROXY
//! header believed, and a header's TLVs cannot grow the server's memory.
//!
//! The attack cases use real sockets: a thousand silent connections from 127.0.0.1
//! while an honest client bound to 127.0.0.2 completes. Their time limits are far
//! beyond anything the cases wait for, so what lets the honest client in is the
//! per-source limit, never a timeout.

use std::time::Duration;

use futures_lite::future;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{
    Addresses, HaproxyOptions, IpNet, ProxyHeader, Tlv, Untrusted, encode_v1, encode_v2,
};
use strports_endpoints::TlsServerOptions;

use super::tls::Pki;
use crate::{Backend, client, echo_check, server, tcp_address, within};

/// The bound on every wait in these cases.
const WAIT: Duration = Duration::from_secs(30);

/// A time limit no case reaches.
const PATIENT: Duration = Duration::from_secs(120);

/// A `haproxy:` server on loopback.
const PROXIED: &str = "haproxy:tcp:0:interface=127.0.0.1";

/// How many silent connections the attacker opens.
const SILENT: usize = 1000;

fn tcp(s: &str) -> Address {
    Address::Tcp(s.parse().expect("test address"))
}

/// Options under which only the per-source limit can let an honest client in.
fn patient_tls() -> TlsServerOptions {
    TlsServerOptions::default()
        .with_handshake_timeout(PATIENT)
        .with_first_byte_timeout(PATIENT)
}

fn patient_haproxy() -> HaproxyOptions {
    HaproxyOptions::default()
        .with_header_timeout(PATIENT)
        .with_first_byte_timeout(PATIENT)
}

/// Opens `SILENT` connections from 127.0.0.1 to `port` that never send a byte.
async fn park<B: Backend>(port: u16) -> Vec<B::Stream> {
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let mut parked = Vec::with_capacity(SILENT);
    for i in 0..SILENT {
        let stream = within::<B, _>(WAIT, "a silent connection", B::connect(&raw))
            .await
            .unwrap_or_else(|e| panic!("silent connection {i}: {e}"));
        parked.push(stream);
    }
    parked
}

/// Whether the server has closed `stream` (EOF or an error within `WAIT`).
async fn closed_by_server<B: Backend>(stream: &mut B::Stream) {
    let mut byte = [0u8; 1];
    match within::<B, _>(WAIT, "the server closing", B::read(stream, &mut byte)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("the server sent {n} bytes to a silent connection"),
    }
}

/// Whether `stream` is still open and unanswered: a read does not complete while
/// the runtime turns over a few times (it could only complete if the server closed
/// it or wrote to it, which it never does with these time limits).
async fn still_parked<B: Backend>(stream: &mut B::Stream) -> bool {
    let mut byte = [0u8; 1];
    future::or(async { B::read(stream, &mut byte).await.is_err() }, async {
        B::sleep(Duration::from_millis(50)).await;
        true
    })
    .await
}

/// Listens on `desc` with these options; gives the listener and its port.
async fn listening<B: Backend>(
    desc: &str,
    haproxy: HaproxyOptions,
    tls: TlsServerOptions,
) -> (B::Listener, u16) {
    let listener = B::listen_with_options(&server(desc), haproxy, tls)
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("address")).port();
    (listener, port)
}

/// [`listening`], served by the echo loop.
async fn serving<B: Backend>(
    desc: &str,
    haproxy: HaproxyOptions,
    tls: TlsServerOptions,
) -> (B::Serving, u16) {
    let (listener, port) = listening::<B>(desc, haproxy, tls).await;
    (B::serve_echo(listener), port)
}

/// A v1 header for a TCP connection from `source` to 192.0.2.8:80.
fn v1_header(source: &str) -> Vec<u8> {
    encode_v1(&ProxyHeader::v1(Addresses::tcp(
        source.parse().expect("address"),
        "192.0.2.8:80".parse().expect("address"),
    )))
    .expect("encode")
}

/// A client on `port` sends `bytes` while `accept` runs: the server must close it
/// without ever returning it, and count one more rejection (`rejections` before).
async fn closed_while_accepting<B: Backend>(
    listener: &B::Listener,
    port: u16,
    bytes: &[u8],
    rejections: u64,
) {
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let sender = async {
        let mut stream = B::connect(&raw).await.expect("connect");
        B::write_all(&mut stream, bytes).await.expect("write");
        closed_by_server::<B>(&mut stream).await;
    };
    let accepted = future::or(
        async {
            sender.await;
            None
        },
        async { Some(B::accept(listener).await.map(|(_, peer)| peer)) },
    );
    if let Some(peer) = within::<B, _>(WAIT, "a connection to close", accepted).await {
        panic!("accepted a connection it should have closed: {peer:?}");
    }
    assert_eq!(B::proxy_rejections(listener), rejections + 1);
}

/// A client on `port` sends `bytes` while `accept` runs; gives the connection the
/// listener returned (and keeps the client's open until then).
async fn accepted_after<B: Backend>(
    listener: &B::Listener,
    port: u16,
    bytes: &[u8],
) -> (B::Stream, Address) {
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let (accepted, _client) = within::<B, _>(
        WAIT,
        "accept",
        future::zip(B::accept(listener), async {
            let mut stream = B::connect(&raw).await.expect("connect");
            B::write_all(&mut stream, bytes).await.expect("write");
            stream
        }),
    )
    .await;
    accepted.expect("accept")
}

/// A thousand silent TCP connections from 127.0.0.1 hold their source's handshake
/// slots, not all of them: a client bound to 127.0.0.2 completes its TLS handshake
/// and an echo round trip while the first silent ones are still parked, and those
/// beyond the per-source limit were closed at once.
pub async fn admission_tls_silent_source_cannot_keep_others_out<B: Backend>() {
    let pki = Pki::new();
    let desc = pki.ssl_server("server.pem", "server.key", "");
    let (serving, port) = serving::<B>(&desc, HaproxyOptions::default(), patient_tls()).await;

    let mut parked = park::<B>(port).await;
    let honest = client(&pki.ssl_client(
        "127.0.0.1",
        port,
        ":hostname=localhost:bindAddress=127.0.0.2",
    ));
    let mut stream = within::<B, _>(WAIT, "the honest tls client", B::connect(&honest))
        .await
        .expect("the honest client connects while the silent ones are parked");
    echo_check::<B>(&mut stream, b"through the crowd").await;

    assert!(
        still_parked::<B>(&mut parked[0]).await,
        "the first silent connection is still waiting for its handshake"
    );
    let last = parked.last_mut().expect("parked connections");
    closed_by_server::<B>(last).await;
    within::<B, _>(WAIT, "stop", B::abort(serving)).await;
}

/// The same over `haproxy:tcp:`: silent connections from one source hold at most
/// that source's share of the pending headers, and a client bound to 127.0.0.2
/// completes its PROXY-wrapped round trip meanwhile.
pub async fn admission_haproxy_silent_source_cannot_keep_others_out<B: Backend>() {
    let (serving, port) =
        serving::<B>(PROXIED, patient_haproxy(), TlsServerOptions::default()).await;

    let mut parked = park::<B>(port).await;
    let header = v1_header("192.0.2.7:5000");
    let honest = client(&format!("tcp:127.0.0.1:{port}:bindAddress=127.0.0.2"));
    let mut stream = within::<B, _>(WAIT, "the honest client", B::connect(&honest))
        .await
        .expect("connect");
    B::write_all(&mut stream, &header).await.expect("header");
    echo_check::<B>(&mut stream, b"proxied through the crowd").await;

    assert!(
        still_parked::<B>(&mut parked[0]).await,
        "the first silent connection is still waiting for its header"
    );
    let last = parked.last_mut().expect("parked connections");
    closed_by_server::<B>(last).await;
    within::<B, _>(WAIT, "stop", B::abort(serving)).await;
}

/// A client that sends nothing is dropped at the first-byte deadline, long before
/// the (patient) limit of the whole handshake or header.
pub async fn admission_first_byte_deadline_drops_silent_clients<B: Backend>() {
    let pki = Pki::new();
    let quick = Duration::from_millis(200);
    let cases = [
        (
            pki.ssl_server("server.pem", "server.key", ""),
            patient_haproxy(),
            patient_tls().with_first_byte_timeout(quick),
        ),
        (
            PROXIED.to_owned(),
            patient_haproxy().with_first_byte_timeout(quick),
            patient_tls(),
        ),
    ];
    for (desc, haproxy, tls) in cases {
        let (serving, port) = serving::<B>(&desc, haproxy, tls).await;
        let raw = client(&format!("tcp:127.0.0.1:{port}"));
        let mut silent = within::<B, _>(WAIT, "connect", B::connect(&raw))
            .await
            .expect("connect");
        closed_by_server::<B>(&mut silent).await;
        within::<B, _>(WAIT, "stop", B::abort(serving)).await;
    }
}

/// With a trust list, a peer outside it is closed without its header being read
/// (a valid header naming any address is not believed); a peer inside it is
/// served with the header's address; and with [`Untrusted::Direct`] an outside
/// peer is served as a direct connection with its own address and bytes.
pub async fn haproxy_trust_list_decides_whose_header_counts<B: Backend>() {
    let header = v1_header("203.0.113.66:4444");
    let lb: IpNet = "10.0.0.0/8".parse().expect("network");
    let loopback: IpNet = "127.0.0.0/8".parse().expect("network");
    let plain_tls = TlsServerOptions::default;

    // Outside the trusted networks: closed, counted, nothing accepted.
    let options = HaproxyOptions::default().with_trusted([lb]);
    let (listener, port) = listening::<B>(PROXIED, options, plain_tls()).await;
    closed_while_accepting::<B>(&listener, port, &header, 0).await;

    // Inside: the header counts.
    let options = HaproxyOptions::default().with_trusted([lb, loopback]);
    let (listener, port) = listening::<B>(PROXIED, options, plain_tls()).await;
    let (_stream, peer) = accepted_after::<B>(&listener, port, &header).await;
    assert_eq!(peer, tcp("203.0.113.66:4444"));

    // Outside, served directly: no header is read, the peer is the real one.
    let options = HaproxyOptions::default()
        .with_trusted([lb])
        .with_untrusted(Untrusted::Direct);
    let (serving, port) = serving::<B>(PROXIED, options, plain_tls()).await;
    let raw = client(&format!("tcp:127.0.0.1:{port}"));
    let mut stream = within::<B, _>(WAIT, "connect", B::connect(&raw))
        .await
        .expect("connect");
    // Its bytes reach the application as they are, a header-like line included.
    echo_check::<B>(&mut stream, &header).await;
    within::<B, _>(WAIT, "stop", B::abort(serving)).await;
}

/// `NOOP` padding is dropped (a 60 KB pad is accepted and not kept), and a header
/// whose other TLVs exceed the limit is rejected.
pub async fn haproxy_noop_tlvs_dropped_and_oversized_tlvs_rejected<B: Backend>() {
    let options = patient_haproxy().with_max_tlv_bytes(1024);
    let (listener, port) = listening::<B>(PROXIED, options, TlsServerOptions::default()).await;
    let addresses = Addresses::tcp(
        "192.0.2.1:1000".parse().expect("address"),
        "192.0.2.2:80".parse().expect("address"),
    );
    let padded = ProxyHeader::v2(addresses.clone())
        .with_tlv(Tlv::new(Tlv::NOOP, vec![0; 60_000]))
        .with_tlv(Tlv::new(Tlv::ALPN, b"h2".to_vec()));
    let oversized = ProxyHeader::v2(addresses).with_tlv(Tlv::new(Tlv::AUTHORITY, vec![b'a'; 2000]));

    let bytes = encode_v2(&oversized).expect("encode");
    closed_while_accepting::<B>(&listener, port, &bytes, 0).await;

    let bytes = encode_v2(&padded).expect("encode");
    let (stream, _) = accepted_after::<B>(&listener, port, &bytes).await;
    let kept = B::proxy_header(&stream).expect("a proxied stream");
    assert_eq!(kept.tlvs, [Tlv::new(Tlv::ALPN, b"h2".to_vec())]);
}

/// The sources a trust list names are the operator's load balancers: the per-source
/// limit does not apply to them (only the overall one), so a busy balancer keeps
/// every connection it opens while its headers are pending; without a trust list
/// the same connections beyond the limit are closed.
pub async fn admission_trusted_proxies_are_not_capped_per_source<B: Backend>() {
    let loopback: IpNet = "127.0.0.0/8".parse().expect("network");
    let header = v1_header("192.0.2.7:5000");
    for trusted in [true, false] {
        let mut options = patient_haproxy().with_max_pending_per_source(2);
        if trusted {
            options = options.with_trusted([loopback]);
        }
        let (serving, port) = serving::<B>(PROXIED, options, TlsServerOptions::default()).await;
        let raw = client(&format!("tcp:127.0.0.1:{port}"));
        // Five connections whose headers have not come yet.
        let mut pending = Vec::new();
        for _ in 0..5 {
            let stream = within::<B, _>(WAIT, "connect", B::connect(&raw))
                .await
                .expect("connect");
            pending.push(stream);
        }
        if trusted {
            // Every one is still there: its header, sent late, is taken.
            for stream in &mut pending {
                B::write_all(stream, &header).await.expect("header");
                echo_check::<B>(stream, b"late header").await;
            }
        } else {
            // The third and later were closed.
            let last = pending.last_mut().expect("connections");
            closed_by_server::<B>(last).await;
        }
        within::<B, _>(WAIT, "stop", B::abort(serving)).await;
    }
}
