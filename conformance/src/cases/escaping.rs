//! Values a peer chooses reach logs through `Display`: their control characters are
//! escaped, so a peer cannot forge a log line or drive the operator's terminal.

use std::time::Duration;

use futures_lite::future::zip;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::V2_SIGNATURE;
use strports_core::{UnixAddress, quote};

use crate::{Backend, client, read_to_end, server, tcp_address, within};

/// The bound on every wait in these cases.
const WAIT: Duration = Duration::from_secs(20);

/// The source path a client claims: a fake log line after a newline, then ESC
/// sequences that would clear the line and set the terminal's title, and BEL.
const FORGED: &[u8] =
    b"/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1\x1b[2K\x1b]0;pwned\x07";

/// What `Display` shows for [`FORGED`]: one line, every control character escaped.
const SHOWN: &str =
    r"/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1\x1b[2K\x1b]0;pwned\x07";

/// A PROXY v2 header (PROXY command, AF_UNIX stream) with these paths, each in its
/// 108-byte NUL-padded field.
fn v2_unix(source: &[u8], destination: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.extend_from_slice(&[0x21, 0x31]);
    out.extend_from_slice(&216u16.to_be_bytes());
    for path in [source, destination] {
        let mut field = [0u8; 108];
        field[..path.len()].copy_from_slice(path);
        out.extend_from_slice(&field);
    }
    out
}

/// A client sends a PROXY v2 header whose UNIX source path holds a newline and ESC
/// sequences to a `haproxy:tcp:` server. The server keeps the path as sent, and the
/// accepted address's `Display` (what servers log as the peer, e.g. the `strports`
/// summary line) holds no raw control character.
pub async fn escaping_proxy_v2_unix_source_shows_no_control_characters<B: Backend>() {
    let listener = B::listen(&server("haproxy:tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let port = tcp_address(&B::local_address(&listener).expect("local address")).port();
    let sent = [&v2_unix(FORGED, b"/run/app.sock")[..], b"payload"].concat();
    let server_side = async {
        let (mut stream, peer) = B::accept(&listener).await.expect("accept");
        let received = read_to_end::<B>(&mut stream).await.expect("server read");
        (stream, peer, received)
    };
    let client_side = async {
        let desc = client(&format!("tcp:127.0.0.1:{port}"));
        let mut stream = B::connect(&desc).await.expect("connect");
        B::write_all(&mut stream, &sent).await.expect("send header");
        B::shutdown_write(&mut stream).await.expect("half-close");
        stream
    };
    let ((stream, peer, received), _client) =
        within::<B, _>(WAIT, "proxied connection", zip(server_side, client_side)).await;
    assert_eq!(received, b"payload", "the bytes after the header");
    // The value is exact: the path as the header gave it.
    let Address::Unix(Some(UnixAddress::Path(path))) = &peer else {
        panic!("not a unix path: {peer:?}");
    };
    assert_eq!(path.as_os_str().as_encoded_bytes(), FORGED);
    assert_eq!(B::peer_address(&stream).expect("peer address"), peer);
    // What a log line shows of it is one line without control characters.
    for shown in [
        peer.to_string(),
        format!("peer={peer}"),
        format!("{peer:?}"),
    ] {
        assert!(
            !shown.contains(char::is_control),
            "raw control character in {shown:?}"
        );
    }
    assert_eq!(peer.to_string(), SHOWN);
}

/// A `process:` child's stderr (`errFlag=log`, which may come from a peer: ssh, nc)
/// is logged line by line with its control characters escaped.
pub async fn escaping_process_stderr_logged_without_control_characters<B: Backend>() {
    let events = super::process::capture_events();
    let script = r"printf 'x\033[2Jy\rz\n' >&2; echo out";
    let desc = crate::program_client(&format!("process:sh:-c:{}", quote(script)));
    let mut stream = within::<B, _>(WAIT, "spawn", B::connect(&desc))
        .await
        .expect("spawn");
    let Ok(Address::Process(pid)) = B::peer_address(&stream) else {
        panic!("a process stream has its pid as peer address");
    };
    let out = within::<B, _>(WAIT, "output", read_to_end::<B>(&mut stream))
        .await
        .expect("output");
    assert_eq!(out, b"out\n");
    let expected = format!(r"WARN program=sh pid={pid} x\x1b[2Jy\rz");
    within::<B, _>(WAIT, "stderr line logged", async {
        loop {
            let logged = events.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if logged.contains(&expected) {
                return;
            }
            let mine: Vec<&String> = logged
                .iter()
                .filter(|e| e.contains(&format!("pid={pid} ")))
                .collect();
            assert!(mine.is_empty(), "logged otherwise: {mine:?}");
            B::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
