//! Relay benchmark: `strports relay` (tokio and smol, each with `--threads 1` and
//! `--threads 2`) against `socat TCP-LISTEN:A,fork,reuseaddr TCP:127.0.0.1:B`, in
//! the same run, alternating.
//!
//! Run with `cli/benches/relay.sh` (installs socat if missing), or
//! `cargo bench -p strports-cli --bench relay` with socat on PATH.
//!
//! Two workloads through each relay, to one target server in this process:
//! - bulk: one connection sends BULK bytes and half-closes; the target counts them
//!   and replies at EOF; throughput = bytes / time until the reply.
//! - connection rate: CLIENTS concurrent loops of connect, send 1 byte, half-close,
//!   read the 1-byte echo and EOF, for RATE_TIME; connections per second.
//!
//! Each figure is the median of ROUNDS rounds; the ratio is against socat's median.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Starts socat (`runtime` None) or `strports relay` on `runtime` with `threads`.
fn start(runtime: Option<&str>, threads: usize, target: u16) -> Relay {
    let port = free_port();
    let (name, mut cmd) = match runtime {
        None => {
            let mut c = Command::new("socat");
            c.arg(format!("TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1"))
                .arg(format!("TCP:127.0.0.1:{target}"));
            ("socat".to_owned(), c)
        }
        Some(runtime) => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_strports"));
            c.args(["relay", "--runtime", runtime, "--threads"])
                .arg(threads.to_string())
                .arg(format!("tcp:{port}:interface=127.0.0.1"))
                .arg(format!("tcp:127.0.0.1:{target}"));
            (format!("strports {runtime} --threads {threads}"), c)
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} does not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Relay { name, port, child }
}

/// The target: reads each connection to EOF, then writes back the byte count as 8
/// bytes (bulk) or the single byte received (rate: 1-byte requests), and closes.
async fn target(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
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
                    Err(_) => return,
                }
            }
            let _ = if total == 1 {
                stream.write_all(&[first]).await
            } else {
                stream.write_all(&total.to_be_bytes()).await
            };
        });
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

async fn rate(addr: SocketAddr) -> f64 {
    let start = Instant::now();
    let deadline = start + RATE_TIME;
    let loops: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let Ok(mut stream) = TcpStream::connect(addr).await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    if stream.write_all(b"x").await.is_err() || stream.shutdown().await.is_err() {
                        continue;
                    }
                    let mut reply = Vec::with_capacity(1);
                    if stream.read_to_end(&mut reply).await.is_ok() && reply == b"x" {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for l in loops {
        total += l.await.expect("client loop");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if Command::new("socat").arg("-V").output().is_err() {
        eprintln!("socat is not installed: run cli/benches/relay.sh, or apt-get install socat");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target_port = listener.local_addr().expect("addr").port();
        tokio::spawn(target(listener));
        let relays = [
            start(Some("tokio"), 1, target_port),
            start(Some("tokio"), 2, target_port),
            start(Some("smol"), 1, target_port),
            start(Some("smol"), 2, target_port),
            start(None, 1, target_port),
        ];
        let mut bulk_results = vec![Vec::new(); relays.len()];
        let mut rate_results = vec![Vec::new(); relays.len()];
        for round in 0..ROUNDS {
            for (i, relay) in relays.iter().enumerate() {
                let addr = SocketAddr::from(([127, 0, 0, 1], relay.port));
                let b = bulk(addr).await;
                let r = rate(addr).await;
                eprintln!(
                    "round {}: {:26} bulk {:7.0} MiB/s, {:6.0} connections/s",
                    round + 1,
                    relay.name,
                    b / (1 << 20) as f64,
                    r
                );
                bulk_results[i].push(b);
                rate_results[i].push(r);
            }
        }
        let bulk: Vec<f64> = bulk_results.into_iter().map(median).collect();
        let rate: Vec<f64> = rate_results.into_iter().map(median).collect();
        let socat = relays.len() - 1;
        println!();
        println!(
            "relay bulk: {} GiB over one connection; rate: {CLIENTS} concurrent clients, connect + 1 byte each way + close; median of {ROUNDS} rounds",
            BULK >> 30
        );
        println!();
        println!("| relay | bulk MiB/s | vs socat | connections/s | vs socat |");
        println!("|---|---:|---:|---:|---:|");
        for (i, relay) in relays.iter().enumerate() {
            println!(
                "| {} | {:.0} | {:.2} | {:.0} | {:.2} |",
                relay.name,
                bulk[i] / (1 << 20) as f64,
                bulk[i] / bulk[socat],
                rate[i],
                rate[i] / rate[socat]
            );
        }
    });
}
