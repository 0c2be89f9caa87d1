//! TLS benchmarks: handshakes per second and bulk throughput through strports and
//! through the raw tokio-rustls / futures-rustls code, in the same run, in
//! alternating rounds; prints the ratios strports / raw as a markdown table.
//!
//! ```sh
//! cargo bench -p strports-conformance --bench tls             # about a minute
//! STRPORTS_BENCH_QUICK=1 cargo bench -p strports-conformance --bench tls
//! ```
//!
//! Workloads over TCP on `127.0.0.1`, TLS 1.3, ECDSA P-256 certificates made by rcgen,
//! rustls' `ring` provider on both sides:
//!
//! - `handshake`: sequential connect + full handshake + 1-byte echo + a clean TLS close
//!   (`close_notify` from both ends, as strports sends when a stream is dropped)
//!   (handshakes/s). Both servers use the same config with session resumption off
//!   (no session cache, no tickets), so every handshake is a full one on both sides.
//! - `oneshot`: the same as `handshake`, but strports calls the free `connect()` on the
//!   `ssl:` description each time (no `Client` kept: the config comes from the
//!   process-wide cache of client configs, checked with `stat` against the trust
//!   roots directory and its file at each connect), against the same raw side as
//!   `handshake` (a `TlsConnector` with a config built once). Neither side resumes:
//!   the strports config is shared between the connects, with its session store, but
//!   the servers issue no tickets and keep no sessions, so both do full handshakes.
//!   The run starts once the certificate files are 2 s old: a one-shot client reads
//!   files changed less than 2 s before its config was built again at every connect
//!   (their timestamps cannot yet vouch for them).
//! - `bulk`: one-way transfer in 256 KiB writes over one connection, read in 256 KiB
//!   reads (GB/s of plaintext).
//!
//! Like with like: each backend runs on one thread for both ends (a current-thread
//! tokio runtime; smol's `block_on` on the main thread). The strports side is
//! `serve` on a `TlsListener` (the listener `ssl:` gives, here with the
//! no-resumption config) and a `Client` for an `ssl:` description (its config built
//! once, at the first connect); the raw side is a `TcpListener` accept loop running
//! `TlsAcceptor::accept` in one task per connection and a `TlsConnector` over a
//! `TcpStream` (`TCP_NODELAY` on both ends, as strports sets it), with a client config
//! built by the same `strports_sys::tls::ssl_client_config`. Handlers and client loops
//! are the same generic code on both sides.
//!
//! Options (after `--`): `--quick` (also `STRPORTS_BENCH_QUICK=1`), `--rounds N`,
//! `--secs S`, words filtering rows (`tokio`, `smol`, `handshake`, `oneshot`, `bulk`). For
//! instruction counting (`valgrind --tool=callgrind`): `--side strports|raw --count N`
//! runs one fixed-size measurement of each selected row on that side only (N
//! handshakes, or N 256 KiB chunks) and prints it.

mod smol_side;
mod tokio_side;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use strports_core::tls::rustls::ServerConfig;
use strports_core::tls::rustls::server::NoServerSessionStorage;
use strports_core::tls::rustls::sign::SingleCertAndKey;
use strports_core::tls::{self, PemFile, default_provider};

/// Bytes per write (client) and per read (server) in `bulk`.
pub(crate) const BULK_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    Handshake,
    Oneshot,
    Bulk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Strports,
    Raw,
}

/// Certificates in a temporary directory, and the configs and descriptions built
/// from them.
pub(crate) struct Pki {
    dir: tempfile::TempDir,
    /// The servers' config: the certificate, resumption off.
    pub(crate) server: Arc<ServerConfig>,
    /// When the files were written.
    written: Instant,
}

impl Pki {
    fn new() -> io::Result<Pki> {
        let dir = tempfile::tempdir()?;
        let bad = |e: rcgen::Error| io::Error::other(e.to_string());
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
        ca.distinguished_name.push(DnType::CommonName, "bench ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(bad)?;
        let ca_pem = ca.self_signed(&ca_key).map_err(bad)?.pem();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(bad)?;
        let key = KeyPair::generate().map_err(bad)?;
        let cert = leaf.signed_by(&key, &issuer).map_err(bad)?;
        std::fs::create_dir(dir.path().join("ca"))?;
        std::fs::write(dir.path().join("ca/ca.pem"), ca_pem)?;
        let server_pem = format!("{}\n{}", cert.pem(), key.serialize_pem());
        std::fs::write(dir.path().join("server.pem"), &server_pem)?;

        let provider = default_provider();
        let file = PemFile::new(dir.path().join("server.pem"), server_pem.into_bytes());
        let key = tls::certified_key(&file, None, None, &provider)?;
        let config = tls::server_config(
            Arc::new(SingleCertAndKey::from(key)),
            None,
            Vec::new(),
            None,
            provider,
        )?;
        let mut config = (*config).clone();
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Pki {
            dir,
            server: Arc::new(config),
            written: Instant::now(),
        })
    }

    /// Waits until the files are old enough for one-shot clients to trust their
    /// timestamps (`strports_sys::file_id::FileIds::RACY_WINDOW`), so `oneshot` measures
    /// the steady state.
    fn settle(&self) {
        let old = strports_sys::file_id::FileIds::RACY_WINDOW + Duration::from_millis(100);
        if let Some(left) = old.checked_sub(self.written.elapsed()) {
            std::thread::sleep(left);
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `ssl:` client description for `port` (an IP literal: no resolver).
    pub(crate) fn client(&self, port: u16) -> strports_core::ClientDescription {
        let ca = strports_core::quote(&path_text(&self.path("ca"))).into_owned();
        format!("ssl:127.0.0.1:{port}:hostname=localhost:caCertsDir={ca}")
            .parse()
            .expect("client description")
    }
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// How much one measurement does: run for a time, or a fixed amount of work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget {
    Time(Duration),
    Count(u64),
}

impl Budget {
    /// Whether to do one more unit of work, `done` units being done since `started`.
    pub(crate) fn more(self, done: u64, started: Instant) -> bool {
        match self {
            Budget::Time(d) => started.elapsed() < d,
            Budget::Count(n) => done < n,
        }
    }
}

/// Budget of one measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    rounds: usize,
    pub(crate) secs: Duration,
    pub(crate) warmup: Duration,
    /// Only this side, once, for this many units (instruction counting).
    only: Option<(Side, u64)>,
}

/// Units of work and the time they took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) work: f64,
    pub(crate) elapsed: Duration,
}

impl Sample {
    pub(crate) fn new(work: f64, started: Instant) -> Sample {
        Sample {
            work,
            elapsed: started.elapsed(),
        }
    }

    fn rate(&self) -> f64 {
        self.work / self.elapsed.as_secs_f64()
    }
}

/// Warm-up, then `plan.rounds` rounds alternating which side goes first.
pub(crate) async fn alternate<M, F>(plan: &Plan, mut measure: M) -> io::Result<Vec<(f64, f64)>>
where
    M: FnMut(Side, Budget) -> F,
    F: std::future::Future<Output = io::Result<Sample>>,
{
    if let Some((side, n)) = plan.only {
        let sample = measure(side, Budget::Count(n)).await?;
        println!(
            "{side:?}: {} units in {:.3} s",
            sample.work,
            sample.elapsed.as_secs_f64()
        );
        return Ok(Vec::new());
    }
    let (warmup, secs) = (Budget::Time(plan.warmup), Budget::Time(plan.secs));
    measure(Side::Strports, warmup).await?;
    measure(Side::Raw, warmup).await?;
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        let (s, r) = if round % 2 == 0 {
            let s = measure(Side::Strports, secs).await?;
            (s, measure(Side::Raw, secs).await?)
        } else {
            let r = measure(Side::Raw, secs).await?;
            (measure(Side::Strports, secs).await?, r)
        };
        rounds.push((s.rate(), r.rate()));
    }
    Ok(rounds)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn show(workload: Workload, v: Vec<f64>) -> String {
    let (lo, hi) = spread(&v);
    let m = median(v);
    let pct = (hi - lo) / 2.0 / m * 100.0;
    match workload {
        Workload::Bulk => format!("{m:.2} ±{pct:.0}%"),
        Workload::Handshake | Workload::Oneshot => format!("{m:.0} ±{pct:.0}%"),
    }
}

fn main() -> io::Result<()> {
    let mut quick =
        std::env::var_os("STRPORTS_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let mut rounds = None;
    let mut secs = None;
    let mut words = Vec::new();
    let mut side = None;
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()),
            "--secs" => secs = args.next().and_then(|n| n.parse::<f64>().ok()),
            "--side" => {
                side = match args.next().as_deref() {
                    Some("strports") => Some(Side::Strports),
                    Some("raw") => Some(Side::Raw),
                    _ => None,
                }
            }
            "--count" => count = args.next().and_then(|n| n.parse::<u64>().ok()),
            "--bench" => {}
            w if !w.starts_with('-') => words.push(w.to_owned()),
            _ => {}
        }
    }
    let mut plan = if quick {
        Plan {
            rounds: 3,
            secs: Duration::from_millis(300),
            warmup: Duration::from_millis(100),
            only: None,
        }
    } else {
        Plan {
            rounds: 5,
            secs: Duration::from_secs(1),
            warmup: Duration::from_millis(300),
            only: None,
        }
    };
    if let (Some(side), Some(n)) = (side, count) {
        plan.only = Some((side, n));
    }
    if let Some(r) = rounds {
        plan.rounds = r;
    }
    if let Some(s) = secs {
        plan.secs = Duration::from_secs_f64(s);
    }
    let pki = Pki::new()?;
    let mut table = Vec::new();
    for backend in ["tokio", "smol"] {
        for workload in [Workload::Handshake, Workload::Oneshot, Workload::Bulk] {
            let name = match workload {
                Workload::Handshake => "handshake",
                Workload::Oneshot => "oneshot",
                Workload::Bulk => "bulk",
            };
            if !words.iter().all(|w| w == backend || w == name) {
                continue;
            }
            eprintln!("{backend} {name}...");
            if workload == Workload::Oneshot {
                pki.settle();
            }
            let rounds = match backend {
                "tokio" => tokio_side::row(&plan, workload, &pki)?,
                _ => smol_side::row(&plan, workload, &pki)?,
            };
            table.push((backend, workload, name, rounds));
        }
    }
    println!();
    println!(
        "{} rounds of {:.1} s per side, alternating; median ±half-range. ratio = strports / raw per round (median, min–max).",
        plan.rounds,
        plan.secs.as_secs_f64()
    );
    println!();
    println!("| backend | workload | unit | strports | raw | ratio | ratio min–max |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for (backend, workload, name, rounds) in table {
        let s: Vec<f64> = rounds.iter().map(|r| r.0).collect();
        let r: Vec<f64> = rounds.iter().map(|r| r.1).collect();
        let ratios: Vec<f64> = rounds.iter().map(|r| r.0 / r.1).collect();
        let (lo, hi) = spread(&ratios);
        let unit = match workload {
            Workload::Handshake | Workload::Oneshot => "handshakes/s",
            Workload::Bulk => "GB/s",
        };
        println!(
            "| {backend} | {name} | {unit} | {} | {} | {:.3} | {lo:.2}–{hi:.2} |",
            show(workload, s),
            show(workload, r),
            median(ratios),
        );
    }
    Ok(())
}
