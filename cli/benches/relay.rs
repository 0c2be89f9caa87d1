//! Relay benchmark: `strports relay` (tokio and smol, each with `--threads 1` and
//! `--threads 2`) against socat, in the same run, alternating, in two sections:
//!
//! - `tcp`: `relay tcp:A tcp:127.0.0.1:B` against
//!   `socat TCP-LISTEN:A,fork,reuseaddr TCP:127.0.0.1:B`;
//! - `tls`: `relay tcp:A ssl:127.0.0.1:B:caCertsDir=DIR:hostname=localhost` against
//!   `socat TCP-LISTEN:A,fork,reuseaddr OPENSSL:127.0.0.1:B,cafile=CA,commonname=localhost`
//!   (both verify the upstream's certificate and name: strports always, socat by
//!   default, `verify=1`). The upstream is a TLS server in this process, with a
//!   certificate made here by rcgen, rustls' default session store (TLS 1.3 tickets)
//!   and a handshake per connection on a task of its own; it counts how many
//!   handshakes of each relay were full and how many resumed.
//!
//! Run with `cli/benches/relay.sh` (installs socat if missing), or
//! `cargo bench -p strports-cli --bench relay` with socat on PATH; words after `--`
//! pick the sections (`tcp`, `tls`; both by default).
//!
//! Two workloads through each relay, to a target server in this process:
//! - bulk: one connection sends BULK bytes and half-closes; the target counts them
//!   and replies at EOF; throughput = bytes / time until the reply.
//! - connection rate: CLIENTS concurrent loops of connect, send 1 byte, half-close,
//!   read the 1-byte echo and EOF, for RATE_TIME; connections per second.
//!
//! Each figure is the median of ROUNDS rounds; the ratio is against socat's median.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strports_conformance::pki::TestCa;
use strports_core::tls::rustls::HandshakeKind;
use strports_core::tls::{PemFile, SslServerFiles, default_provider, ssl_server_config};
use strports_endpoints::TlsAcceptorStep;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BULK: u64 = 1 << 30;
const CHUNK: usize = 256 * 1024;
const CLIENTS: usize = 4;
const RATE_TIME: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

struct Relay {
    name: String,
    port: u16,
    child: Child,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether a TCP socket listens on `port` (IPv4), as `/proc/net/tcp` says.
fn listening(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // `sl local_address rem_address st ...`; 0A is TCP_LISTEN.
        fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
    })
}

/// Where a relay connects.
#[derive(Clone, Copy)]
enum Upstream<'a> {
    /// Plain TCP to this port.
    Tcp(u16),
    /// TLS to this port, verified with the CA of `pki` for the name `localhost`.
    Tls(u16, &'a Pki),
}

/// Starts socat (`runtime` None) or `strports relay` on `runtime` with `threads`.
fn start(runtime: Option<&str>, threads: usize, upstream: Upstream<'_>) -> Relay {
    let port = free_port();
    let (name, mut cmd) = match runtime {
        None => {
            let mut c = Command::new("socat");
            c.arg(format!("TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1"))
                .arg(match upstream {
                    Upstream::Tcp(target) => format!("TCP:127.0.0.1:{target}"),
                    Upstream::Tls(target, pki) => format!(
                        "OPENSSL:127.0.0.1:{target},cafile={},commonname=localhost",
                        pki.ca_file().display()
                    ),
                });
            ("socat".to_owned(), c)
        }
        Some(runtime) => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_strports"));
            c.args(["relay", "--runtime", runtime, "--threads"])
                .arg(threads.to_string())
                .arg(format!("tcp:{port}:interface=127.0.0.1"))
                .arg(match upstream {
                    Upstream::Tcp(target) => format!("tcp:127.0.0.1:{target}"),
                    Upstream::Tls(target, pki) => format!(
                        "ssl:127.0.0.1:{target}:caCertsDir={}:hostname=localhost",
                        strports_core::quote(&pki.ca_dir().to_string_lossy())
                    ),
                });
            (format!("strports {runtime} --threads {threads}"), c)
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Wait until it listens. Without connecting: a probe connection would go
    // through to the upstream, and its TLS handshake would not be counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "{name} does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Relay { name, port, child }
}

/// The target: reads each connection to EOF, then writes back the byte count as 8
/// bytes (bulk) or the single byte received (rate: 1-byte requests), and closes.
async fn target(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(answer(stream));
    }
}

/// What [`target`] does with one connection: returns once the reply is written.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> S {
    let mut buf = vec![0; CHUNK];
    let mut total: u64 = 0;
    let mut first = 0;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if total == 0 {
                    first = buf[0];
                }
                total += n as u64;
            }
            Err(_) => return stream,
        }
    }
    let _ = if total == 1 {
        stream.write_all(&[first]).await
    } else {
        stream.write_all(&total.to_be_bytes()).await
    };
    stream
}

/// Handshakes the TLS target has completed, by kind.
#[derive(Default)]
struct Handshakes {
    full: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
}

impl Handshakes {
    /// (full, resumed, failed) so far.
    fn now(&self) -> [u64; 3] {
        [&self.full, &self.resumed, &self.failed].map(|c| c.load(Ordering::Relaxed))
    }
}

/// The TLS target: [`target`]'s behaviour behind a TLS handshake (strports'
/// `TlsAcceptorStep`, rustls underneath), each connection's handshake on its own
/// task; counts the handshakes by kind. Ends each connection with `close_notify`.
async fn tls_target(
    listener: strports_tokio::Listener,
    step: TlsAcceptorStep,
    counts: Arc<Handshakes>,
) {
    loop {
        let Ok((raw, _)) = listener.accept().await else {
            continue;
        };
        let (step, counts) = (step.clone(), counts.clone());
        tokio::spawn(async move {
            let stream = match step.handshake(raw).await {
                Ok(stream) => stream,
                Err(_) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let counter = match stream.handshake_kind() {
                Some(HandshakeKind::Resumed) => &counts.resumed,
                _ => &counts.full,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let mut stream = answer(stream).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// A CA (`ca/ca.pem`) and a certificate it signed for `localhost` and 127.0.0.1
/// (`server.pem`, `server.key`), in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temporary directory");
        TestCa::new("strports bench ca").write_server_files(dir.path());
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca_dir(&self) -> PathBuf {
        self.path("ca")
    }

    fn ca_file(&self) -> PathBuf {
        self.path("ca/ca.pem")
    }

    /// The handshake step of an `ssl:` server with the certificate (rustls'
    /// defaults otherwise: TLS 1.2 and 1.3, sessions kept for resumption).
    fn step(&self) -> TlsAcceptorStep {
        let read = |p: &Path| PemFile::new(p, std::fs::read(p).expect("read pem"));
        let (cert, key) = (
            read(&self.path("server.pem")),
            read(&self.path("server.key")),
        );
        let files = SslServerFiles {
            cert_key: &cert,
            private_key: Some(&key),
            extra_cert_chain: None,
        };
        let config =
            ssl_server_config(files, None, Vec::new(), default_provider()).expect("server config");
        TlsAcceptorStep::new(config)
    }
}

async fn bulk(addr: SocketAddr) -> f64 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![0x5a; CHUNK];
    let start = Instant::now();
    let mut sent = 0;
    while sent < BULK {
        stream.write_all(&chunk).await.expect("write");
        sent += CHUNK as u64;
    }
    stream.shutdown().await.expect("half-close");
    let mut reply = [0; 8];
    stream.read_exact(&mut reply).await.expect("count");
    let elapsed = start.elapsed();
    assert_eq!(u64::from_be_bytes(reply), BULK, "every byte arrived");
    BULK as f64 / elapsed.as_secs_f64()
}

/// Connections per second, and how many connections failed.
async fn rate(addr: SocketAddr) -> (f64, u64) {
    let start = Instant::now();
    let deadline = start + RATE_TIME;
    let loops: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let (mut done, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let Ok(mut stream) = TcpStream::connect(addr).await else {
                        failed += 1;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    if stream.write_all(b"x").await.is_err() || stream.shutdown().await.is_err() {
                        failed += 1;
                        continue;
                    }
                    let mut reply = Vec::with_capacity(1);
                    if stream.read_to_end(&mut reply).await.is_ok() && reply == b"x" {
                        done += 1;
                    } else {
                        failed += 1;
                    }
                }
                (done, failed)
            })
        })
        .collect();
    let (mut total, mut failed) = (0, 0);
    for l in loops {
        let (d, f) = l.await.expect("client loop");
        total += d;
        failed += f;
    }
    (total as f64 / start.elapsed().as_secs_f64(), failed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The relays of a section: strports on both runtimes with 1 and 2 threads, then
/// socat (last: the ratios' reference).
fn relays(upstream: Upstream<'_>) -> Vec<Relay> {
    vec![
        start(Some("tokio"), 1, upstream),
        start(Some("tokio"), 2, upstream),
        start(Some("smol"), 1, upstream),
        start(Some("smol"), 2, upstream),
        start(None, 1, upstream),
    ]
}

/// Runs both workloads through each relay, ROUNDS times, alternating, and prints
/// the table; with `handshakes`, the TLS target's counts, with a column for them.
async fn section(title: &str, relays: &[Relay], handshakes: Option<&Handshakes>) {
    let mut bulk_results = vec![Vec::new(); relays.len()];
    let mut rate_results = vec![Vec::new(); relays.len()];
    let mut kinds = vec![[0u64; 3]; relays.len()];
    for round in 0..ROUNDS {
        for (i, relay) in relays.iter().enumerate() {
            let addr = SocketAddr::from(([127, 0, 0, 1], relay.port));
            let before = handshakes.map(Handshakes::now);
            let b = bulk(addr).await;
            let (r, failed) = rate(addr).await;
            let mut line = format!(
                "{title} round {}: {:26} bulk {:7.0} MiB/s, {:6.0} connections/s",
                round + 1,
                relay.name,
                b / (1 << 20) as f64,
                r
            );
            if failed > 0 {
                line += &format!(", {failed} connections failed");
            }
            if let (Some(before), Some(h)) = (before, handshakes) {
                let after = h.now();
                let delta: Vec<u64> = (0..3).map(|k| after[k] - before[k]).collect();
                for k in 0..3 {
                    kinds[i][k] += delta[k];
                }
                line += &format!(
                    ", upstream handshakes: {} full, {} resumed, {} failed",
                    delta[0], delta[1], delta[2]
                );
            }
            eprintln!("{line}");
            bulk_results[i].push(b);
            rate_results[i].push(r);
        }
    }
    let bulk: Vec<f64> = bulk_results.into_iter().map(median).collect();
    let rate: Vec<f64> = rate_results.into_iter().map(median).collect();
    let socat = relays.len() - 1;
    println!();
    println!(
        "{title}: bulk: {} GiB over one connection; rate: {CLIENTS} concurrent clients, connect + 1 byte each way + close; median of {ROUNDS} rounds",
        BULK >> 30
    );
    println!();
    if handshakes.is_some() {
        println!(
            "| relay | bulk MiB/s | vs socat | connections/s | vs socat | upstream handshakes resumed |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
    } else {
        println!("| relay | bulk MiB/s | vs socat | connections/s | vs socat |");
        println!("|---|---:|---:|---:|---:|");
    }
    for (i, relay) in relays.iter().enumerate() {
        let mut row = format!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} |",
            relay.name,
            bulk[i] / (1 << 20) as f64,
            bulk[i] / bulk[socat],
            rate[i],
            rate[i] / rate[socat]
        );
        if handshakes.is_some() {
            let [full, resumed, failed] = kinds[i];
            row += &format!(" {resumed} of {}", full + resumed);
            if failed > 0 {
                row += &format!(" ({failed} failed)");
            }
            row += " |";
        }
        println!("{row}");
    }
}

fn main() {
    if Command::new("socat").arg("-V").output().is_err() {
        eprintln!("socat is not installed: run cli/benches/relay.sh, or apt-get install socat");
        std::process::exit(1);
    }
    // `cargo bench` passes `--bench`; other words pick sections.
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| words.is_empty() || words.iter().any(|w| w == section);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if wanted("tcp") {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let target_port = listener.local_addr().expect("addr").port();
            let serving = tokio::spawn(target(listener));
            section("relay tcp → tcp", &relays(Upstream::Tcp(target_port)), None).await;
            serving.abort();
        }
        if wanted("tls") {
            let pki = Pki::new();
            let listener = strports_tokio::listen(
                &"tcp:0:interface=127.0.0.1:backlog=1024"
                    .parse()
                    .expect("target description"),
            )
            .await
            .expect("listen");
            let target_port = listener.local_addr().expect("addr").port().expect("port");
            let counts = Arc::new(Handshakes::default());
            let serving = tokio::spawn(tls_target(listener, pki.step(), counts.clone()));
            let relays = relays(Upstream::Tls(target_port, &pki));
            section("relay tcp → ssl upstream", &relays, Some(&counts)).await;
            serving.abort();
        }
    });
}
