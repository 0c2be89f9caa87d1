//! Happy Eyeballs: how long a connect to a host name takes when its first address
//! does not answer (a listener with a full accept queue: SYNs are dropped) or
//! refuses, and the second one listens. All on loopback.
//!
//! Compared in the same run: strports on tokio (current-thread runtime) and on
//! smol, plain sequential connecting (`std::net::TcpStream::connect_timeout` on
//! each address in order, capped at the description's `timeout`), and, when a
//! Twisted virtualenv is found (`$STRPORTS_TWISTED_PYTHON`, else `.venv/bin/python`
//! at the workspace root), Twisted's `HostnameEndpoint`
//! (`benches/happy_eyeballs_twisted.py`).
//!
//! ```sh
//! cargo bench -p strports-conformance --bench happy_eyeballs
//! ```
//!
//! `STRPORTS_BENCH_QUICK=1` runs fewer rounds.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strports_core::ClientDescription;
use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};

/// The description connected to: `timeout` caps each attempt (and the sequential
/// connects).
const DESC: &str = "tcp:bench.invalid:80:timeout=2";
const CAP: Duration = Duration::from_secs(2);

/// Resolves every name to fixed addresses, by family.
struct Fixed(Vec<SocketAddr>);

impl Resolver for Fixed {
    fn resolve(&self, _host: &str, _port: u16, lookup: Lookup) -> ResolveFuture {
        let out = self.0.iter().copied();
        let out: Vec<SocketAddr> = match lookup {
            Lookup::Ipv4 => out.filter(SocketAddr::is_ipv4).collect(),
            Lookup::Ipv6 => out.filter(SocketAddr::is_ipv6).collect(),
            _ => out.collect(),
        };
        Box::pin(async move { Ok(out) })
    }
}

/// A listener that never accepts, its queue filled; keep it (and the queued
/// connections) alive while measuring.
fn unresponsive() -> (strports_smol::Listener, Vec<TcpStream>, SocketAddr) {
    let desc = "tcp:0:interface=127.0.0.1:backlog=1".parse().expect("desc");
    let listener = smol::block_on(strports_smol::listen(&desc)).expect("listen");
    let addr = match listener.local_addr().expect("local address") {
        strports_core::Address::Tcp(a) => a,
        other => panic!("not tcp: {other:?}"),
    };
    let mut queued = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
        queued.push(s);
        assert!(queued.len() < 10, "the accept queue does not fill up");
    }
    (listener, queued, addr)
}

/// A listener that accepts and closes every connection, on a thread of its own.
fn listening() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    addr
}

fn refusing() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local address")
}

/// The milliseconds `f` took; panics if it failed.
fn time<T, E: std::fmt::Display>(what: &str, f: impl FnOnce() -> Result<T, E>) -> f64 {
    let start = Instant::now();
    if let Err(e) = f() {
        panic!("{what}: {e}");
    }
    start.elapsed().as_secs_f64() * 1000.0
}

/// Connects to each address in turn, each capped at [`CAP`].
fn sequential(addrs: &[SocketAddr]) -> Result<TcpStream, String> {
    let mut errors = Vec::new();
    for addr in addrs {
        match TcpStream::connect_timeout(addr, CAP) {
            Ok(s) => return Ok(s),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(errors.join("; "))
}

/// Twisted's figures, one per round, if a Twisted virtualenv is there.
fn twisted(rounds: usize, addrs: &[SocketAddr]) -> Option<Vec<f64>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("STRPORTS_TWISTED_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    if !python.exists() {
        println!("note: no Twisted virtualenv at {}", python.display());
        return None;
    }
    let script = root.join("conformance/benches/happy_eyeballs_twisted.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(rounds.to_string())
        .args(addrs.iter().map(SocketAddr::to_string))
        .output()
        .expect("run the Twisted script");
    let text = String::from_utf8_lossy(&output.stdout);
    let figures: Result<Vec<f64>, _> = text.lines().map(str::parse::<f64>).collect();
    match figures {
        Ok(f) if f.len() == rounds => Some(f),
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            println!("note: the Twisted script failed:\n{text}{stderr}");
            None
        }
    }
}

fn report(scenario: &str, name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let (min, max) = (ms[0], ms[ms.len() - 1]);
    println!(
        "{scenario:<28} {name:<26} median {median:>9.2} ms  min {min:>9.2}  max {max:>9.2}  (n={})",
        ms.len()
    );
}

fn main() {
    let quick = std::env::var_os("STRPORTS_BENCH_QUICK").is_some_and(|v| v != "0");
    let (rounds, sequential_rounds) = if quick { (3, 1) } else { (15, 3) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (_stuck_listener, _queued, stuck) = unresponsive();
    let good = listening();
    let desc: ClientDescription = DESC.parse().expect("desc");
    println!("connecting to {DESC}; the second address listens on {good}");
    println!(
        "kernel: net.ipv4.tcp_syn_retries = {}",
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syn_retries")
            .map_or("?".into(), |s| s.trim().to_owned())
    );
    let scenarios = [
        ("first address unresponsive", vec![stuck, good]),
        ("first address refuses", vec![refusing(), good]),
    ];
    for (scenario, addrs) in scenarios {
        let resolver: Arc<dyn Resolver> = Arc::new(Fixed(addrs.clone()));
        let tokio_connector = strports_tokio::Connector::with_resolver(resolver.clone());
        let smol_connector = strports_smol::Connector::with_resolver(resolver);
        let (mut on_tokio, mut on_smol) = (Vec::new(), Vec::new());
        // Alternate, so that both see the same conditions.
        for _ in 0..rounds {
            on_tokio.push(time("strports-tokio", || {
                runtime.block_on(tokio_connector.connect(&desc))
            }));
            on_smol.push(time("strports-smol", || {
                smol::block_on(smol_connector.connect(&desc))
            }));
        }
        report(scenario, "strports-tokio", on_tokio);
        report(scenario, "strports-smol", on_smol);
        let plain = (0..sequential_rounds)
            .map(|_| time("sequential", || sequential(&addrs)))
            .collect();
        report(scenario, "sequential (cap 2 s)", plain);
        if let Some(figures) = twisted(rounds, &addrs) {
            report(scenario, "Twisted HostnameEndpoint", figures);
        }
    }
}
