//! `haproxy:ssl:`: the PROXY header arrives in the clear, before the TLS handshake
//! (what a TCP-mode load balancer passing TLS through sends). A small relay in front
//! of the server plays the load balancer: it writes the header, then copies bytes.

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use futures_lite::future::zip;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{Addresses, ProxyHeader, encode_v2};
use strports_core::quote;

use crate::{Backend, client, read_exact, server, tcp_address, temp_dir, within};

const WAIT: Duration = Duration::from_secs(20);

/// Writes `ca.pem` (a CA) and `server.pem` + `server.key` (localhost, by the CA).
fn certificates(dir: &Path) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("ca key");
    let ca_pem = params.self_signed(&ca_key).expect("ca").pem();
    let issuer = Issuer::new(params, ca_key);
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf.signed_by(&key, &issuer).expect("leaf");
    std::fs::create_dir_all(dir.join("ca")).expect("mkdir");
    std::fs::write(dir.join("ca/ca.pem"), ca_pem).expect("write ca");
    std::fs::write(dir.join("server.pem"), cert.pem()).expect("write cert");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write key");
}

/// Accepts one connection on a plain loopback socket, connects to `backend`, sends
/// `header`, then copies both ways until each side ends (on threads: no runtime).
fn relay(backend: std::net::SocketAddr, header: Vec<u8>) -> io::Result<u16> {
    let front = TcpListener::bind("127.0.0.1:0")?;
    let port = front.local_addr()?.port();
    std::thread::spawn(move || -> io::Result<()> {
        let (client, _) = front.accept()?;
        let mut upstream = TcpStream::connect(backend)?;
        upstream.write_all(&header)?;
        let (mut client_in, mut upstream_out) = (client.try_clone()?, upstream.try_clone()?);
        let up = std::thread::spawn(move || {
            let _ = io::copy(&mut client_in, &mut upstream_out);
            let _ = upstream_out.shutdown(Shutdown::Write);
        });
        let (mut upstream_in, mut client_out) = (upstream, client);
        let _ = io::copy(&mut upstream_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Write);
        let _ = up.join();
        Ok(())
    });
    Ok(port)
}

/// `haproxy:ssl:...`: the header is read first, then TLS runs on what follows; the
/// connection reports the header's addresses and carries the header.
pub async fn haproxy_ssl_header_before_tls_handshake<B: Backend>() {
    let dir = temp_dir();
    certificates(dir.path());
    let q = |name: &str| quote(&dir.path().join(name).to_string_lossy()).into_owned();
    let listen = format!(
        "haproxy:ssl:0:interface=127.0.0.1:certKey={}:privateKey={}",
        q("server.pem"),
        q("server.key")
    );
    let listener = B::listen(&server(&listen)).await.expect("listen");
    let backend = tcp_address(&B::local_address(&listener).expect("local address"));
    let source = "192.0.2.1:40000".parse().expect("address");
    let destination = "198.51.100.1:443".parse().expect("address");
    let header = ProxyHeader::v2(Addresses::tcp(source, destination));
    let port = relay(backend, encode_v2(&header).expect("encode")).expect("relay");
    let desc = client(&format!(
        "ssl:127.0.0.1:{port}:caCertsDir={}:hostname=localhost",
        q("ca")
    ));
    let client_side = async {
        let mut stream = B::connect(&desc)
            .await
            .expect("tls connect through the relay");
        B::write_all(&mut stream, b"ping").await.expect("write");
        let mut back = [0u8; 4];
        read_exact::<B>(&mut stream, &mut back).await.expect("read");
        assert_eq!(&back, b"pong");
    };
    let server_side = async {
        let (mut stream, peer) = B::accept(&listener).await.expect("accept");
        let mut got = [0u8; 4];
        read_exact::<B>(&mut stream, &mut got).await.expect("read");
        assert_eq!(&got, b"ping");
        B::write_all(&mut stream, b"pong").await.expect("write");
        (stream, peer)
    };
    let (_, (stream, peer)) = within::<B, _>(WAIT, "tls after a proxy header", async {
        zip(client_side, server_side).await
    })
    .await;
    assert_eq!(peer, Address::Tcp(source));
    assert_eq!(
        B::peer_address(&stream).expect("peer"),
        Address::Tcp(source)
    );
    assert_eq!(
        B::stream_local_address(&stream).expect("local"),
        Address::Tcp(destination)
    );
    assert_eq!(B::proxy_header(&stream), Some(header));
    assert_eq!(B::proxy_rejections(&listener), 0);
}
