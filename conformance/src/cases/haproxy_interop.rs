//! The real HAProxy (Debian package `haproxy`) in front of a strports `haproxy:tcp:`
//! server, with `send-proxy` (v1) and `send-proxy-v2`: strports must report the
//! client's own address, as HAProxy saw it.

use std::io;
use std::process::Command;
use std::time::Duration;

use futures_lite::future::zip;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::Version;

use crate::child::ChildProcess;
use crate::{Backend, client, closed_port, read_exact, server, tcp_address, temp_dir, within};

const WAIT: Duration = Duration::from_secs(20);

/// Where `haproxy` may be: on `PATH`, or in `/usr/sbin` (not on every user's `PATH`).
const HAPROXY: [&str; 2] = ["haproxy", "/usr/sbin/haproxy"];

/// Starts `haproxy -db -f <config>`; `None` (with a note) if it is not installed and
/// `CI` is not set.
fn start_haproxy(config: &std::path::Path) -> Option<ChildProcess> {
    for program in HAPROXY {
        let mut command = Command::new(program);
        command.arg("-db").arg("-f").arg(config);
        match ChildProcess::spawn(command, "haproxy") {
            Ok(child) => return Some(child),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot run {program}: {e}"),
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("haproxy is not installed (Debian package haproxy; .ci/run installs it)");
    }
    println!("note: skipped: haproxy is not installed (Debian package haproxy)");
    None
}

/// One client through HAProxy's frontend on `port`: its address as strports saw it
/// must be its own local address; the header's version must be `version`.
async fn through<B: Backend>(
    listener: &B::Listener,
    haproxy: &mut ChildProcess,
    port: u16,
    version: Version,
) {
    let desc = client(&format!("tcp:127.0.0.1:{port}"));
    // Connect until HAProxy listens (it starts in the background).
    let mut stream = within::<B, _>(WAIT, "connecting to haproxy", async {
        loop {
            haproxy.assert_running();
            match B::connect(&desc).await {
                Ok(s) => return s,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    B::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("connect to haproxy: {e}"),
            }
        }
    })
    .await;
    let me = B::stream_local_address(&stream).expect("client address");
    let client_side = async {
        B::write_all(&mut stream, b"ping").await.expect("write");
        let mut back = [0u8; 4];
        read_exact::<B>(&mut stream, &mut back).await.expect("read");
        assert_eq!(&back, b"pong");
    };
    let server_side = async {
        let (mut accepted, peer) = B::accept(listener).await.expect("accept");
        let mut got = [0u8; 4];
        read_exact::<B>(&mut accepted, &mut got)
            .await
            .expect("server read");
        assert_eq!(&got, b"ping");
        B::write_all(&mut accepted, b"pong").await.expect("write");
        (accepted, peer)
    };
    let (_, (accepted, peer)) =
        within::<B, _>(WAIT, "through haproxy", zip(client_side, server_side)).await;
    let header = B::proxy_header(&accepted).expect("a proxied stream");
    assert_eq!(header.version, version);
    assert_eq!(peer, me, "strports reports the client's own address");
    assert_eq!(B::peer_address(&accepted).expect("peer"), me);
    assert_eq!(
        B::stream_local_address(&accepted).expect("local"),
        Address::Tcp(([127, 0, 0, 1], port).into()),
        "the destination is haproxy's frontend"
    );
}

/// HAProxy with `send-proxy` and with `send-proxy-v2` in front of `haproxy:tcp:`.
pub async fn haproxy_interop_real_haproxy<B: Backend>() {
    let listener = B::listen(&server("haproxy:tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let backend = tcp_address(&B::local_address(&listener).expect("local address"));
    let (v1_port, v2_port) = (closed_port(), closed_port());
    let dir = temp_dir();
    let config = dir.path().join("haproxy.cfg");
    let text = format!(
        "global\n    maxconn 64\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         frontend v1\n    bind 127.0.0.1:{v1_port}\n    default_backend strports_v1\n\
         frontend v2\n    bind 127.0.0.1:{v2_port}\n    default_backend strports_v2\n\
         backend strports_v1\n    server s {backend} send-proxy\n\
         backend strports_v2\n    server s {backend} send-proxy-v2\n"
    );
    std::fs::write(&config, text).expect("write the haproxy config");
    let Some(mut haproxy) = start_haproxy(&config) else {
        return;
    };
    through::<B>(&listener, &mut haproxy, v1_port, Version::V1).await;
    through::<B>(&listener, &mut haproxy, v2_port, Version::V2).await;
    assert_eq!(B::proxy_rejections(&listener), 0, "{}", haproxy.output());
}
