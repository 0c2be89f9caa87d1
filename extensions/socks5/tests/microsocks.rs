//! `socks5:` against a real SOCKS5 proxy (microsocks, Debian package `microsocks`;
//! `.ci/run` installs it), on tokio and on smol: the same opener serves both.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_core::{ClientDescription, Registry, quote};

/// The bound on every wait.
const WAIT: Duration = Duration::from_secs(20);

struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts microsocks on loopback; `None` (with a note) when it is not installed
/// outside CI.
fn microsocks() -> Option<Proxy> {
    let port = free_port();
    let child = match Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "microsocks is not installed (Debian package microsocks; .ci/run installs it)"
            );
            println!("note: skipped: microsocks is not installed");
            return None;
        }
        Err(e) => panic!("cannot run microsocks: {e}"),
    };
    let proxy = Proxy { child, port };
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "microsocks does not listen");
        thread::sleep(Duration::from_millis(20));
    }
    Some(proxy)
}

/// An echo server on loopback (one thread per connection); its port.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn registry() -> Registry {
    let mut registry = Registry::default();
    strports_socks5::register(&mut registry).expect("a fresh registry");
    registry
}

fn through(host: &str, port: u16, proxy: u16) -> ClientDescription {
    let endpoint = format!("tcp:127.0.0.1:{proxy}");
    registry()
        .parse_client(&format!(
            "socks5:{host}:{port}:endpoint={}",
            quote(&endpoint)
        ))
        .expect("a socks5 description")
}

#[test]
fn tokio_connects_through_microsocks() {
    let Some(proxy) = microsocks() else { return };
    let target = echo_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(WAIT, async {
            let connector = strports_tokio::Connector::new()
                .with_client_type("socks5", strports_socks5::Socks5);
            for host in ["127.0.0.1", "localhost"] {
                let desc = through(host, target, proxy.port);
                let client = strports_tokio::Client::with_connector(desc, connector.clone());
                let mut stream = client.connect().await.expect("connect through the proxy");
                stream.write_all(b"hello via socks").await.expect("write");
                let mut back = [0u8; 15];
                stream.read_exact(&mut back).await.expect("read");
                assert_eq!(&back, b"hello via socks");
            }
            // A closed port: the proxy's refusal, named.
            let closed = free_port();
            let err = connector
                .connect(&through("127.0.0.1", closed, proxy.port))
                .await
                .expect_err("nothing listens there");
            assert!(err.to_string().contains("cannot reach 127.0.0.1:"), "{err}");
            // Without the opener, the type parses but cannot open, and says why.
            let err = strports_tokio::connect(&through("127.0.0.1", target, proxy.port))
                .await
                .expect_err("no opener");
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(err.to_string().contains("with_client_type"), "{err}");
        })
        .await
        .expect("within the time limit");
    });
}

#[test]
fn smol_connects_through_microsocks_with_the_same_opener() {
    let Some(proxy) = microsocks() else { return };
    let target = echo_server();
    smol::block_on(async {
        let work = async {
            let connector =
                strports_smol::Connector::new().with_client_type("socks5", strports_socks5::Socks5);
            let desc = through("localhost", target, proxy.port);
            let mut stream = connector.connect(&desc).await.expect("connect");
            stream.write_all(b"smol via socks").await.expect("write");
            let mut back = [0u8; 14];
            stream.read_exact(&mut back).await.expect("read");
            assert_eq!(&back, b"smol via socks");
        };
        let limit = async {
            smol::Timer::after(WAIT).await;
            panic!("not within the time limit");
        };
        futures_lite::future::or(work, limit).await;
    });
}
