//! Socket benchmarks: the same workloads through strports and through each runtime's
//! own socket API, in the same run, in alternating rounds; prints the ratios
//! strports / raw as a markdown table.
//!
//! ```sh
//! cargo bench -p strports-conformance --bench sockets            # about 2.5 minutes
//! STRPORTS_BENCH_QUICK=1 cargo bench -p strports-conformance --bench sockets
//! ```
//!
//! Workloads, each over TCP (`127.0.0.1`) and UNIX (a path in a temporary directory):
//!
//! - `connect`: sequential connect + 1-byte echo + close (connections/s);
//! - `echo`: 64-byte echo round trips from 100 concurrent clients, connected before
//!   the clock starts (round trips/s);
//! - `bulk`: one-way transfer in 256 KiB writes over one connection, read in 256 KiB
//!   reads, timed until the server has acknowledged the byte count (GB/s).
//!
//! Like with like: each backend runs both ends on one thread (a current-thread tokio
//! runtime; one smol `Executor` run on the main thread by `smol::block_on`). The
//! strports client (`connect` on a parsed description) talks to a strports server
//! (`listen` + `serve`), the raw client (`tokio::net` / `Async<TcpStream>`,
//! `Async<UnixStream>`) to a raw server (an accept loop spawning one task per
//! connection). Raw TCP sockets get `TCP_NODELAY` on both ends, as strports sets it;
//! the strports listeners use `backlog=1024` (the runtimes' `bind` use 1024 for tokio,
//! 128 for async-io; the default 50 could drop SYNs while 100 clients connect). The
//! echo and sink handlers, buffer sizes and client loops are the same generic code on
//! both sides.
//!
//! Each round measures both sides back to back, alternating which goes first; the
//! ratio is taken per round, so the two figures of a ratio were measured seconds
//! apart. Besides work per wall-clock second, each measurement records the CPU time
//! of the process (all threads, user and system): on a busy machine work per CPU
//! second is the steadier figure.
//!
//! Options (after `--`): `--quick` (also `STRPORTS_BENCH_QUICK=1`), `--rounds N`,
//! `--secs S` (per measurement), words filtering the rows (`tokio`, `smol`, `connect`,
//! `echo`, `bulk`, `tcp`, `unix`; a row runs if it matches every word given). For
//! instruction counting (`valgrind --tool=callgrind`): `--side strports|raw --count N`
//! runs one fixed-size measurement of each selected row on that side only and prints
//! it (N connections, N round trips per client, or N 256 KiB chunks); run it at two
//! sizes and take the difference.

mod smol_side;
mod tokio_side;

use std::fmt;
use std::future::Future;
use std::io;
use std::time::{Duration, Instant};

/// Concurrent clients in the `echo` workload.
pub(crate) const ECHO_CLIENTS: usize = 100;
/// Bytes per echo round trip.
pub(crate) const ECHO_SIZE: usize = 64;
/// The echo server's read buffer.
pub(crate) const ECHO_BUFFER: usize = 4096;
/// Bytes per write (client) and per read (server) in the `bulk` workload.
pub(crate) const BULK_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Tokio,
    Smol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    Connect,
    Echo,
    Bulk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Unix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Strports,
    Raw,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Tokio => "tokio",
            Backend::Smol => "smol",
        })
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Workload::Connect => "connect",
            Workload::Echo => "echo",
            Workload::Bulk => "bulk",
        })
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
        })
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Strports => "strports",
            Side::Raw => "raw",
        })
    }
}

impl Workload {
    fn unit(self) -> &'static str {
        match self {
            Workload::Connect => "connections/s",
            Workload::Echo => "round trips/s",
            Workload::Bulk => "GB/s",
        }
    }
}

/// How much one measurement does: run for a time, or a fixed amount of work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget {
    Time(Duration),
    Count(u64),
}

impl Budget {
    /// Starts counting now.
    pub(crate) fn start(self) -> Meter {
        match self {
            Budget::Time(d) => Meter::Until(Instant::now() + d),
            Budget::Count(n) => Meter::Left(n),
        }
    }
}

/// A running [`Budget`]: `more()` says whether to do one more unit of work.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Meter {
    Until(Instant),
    Left(u64),
}

impl Meter {
    pub(crate) fn more(&mut self) -> bool {
        match self {
            Meter::Until(deadline) => Instant::now() < *deadline,
            Meter::Left(0) => false,
            Meter::Left(n) => {
                *n -= 1;
                true
            }
        }
    }
}

/// When a measurement started: wall-clock time and the CPU time this process had
/// used (all threads, user and system).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    wall: Instant,
    cpu: Duration,
}

impl Start {
    pub(crate) fn now() -> Start {
        Start {
            wall: Instant::now(),
            cpu: process_cpu_time(),
        }
    }
}

/// The CPU time used by this process so far (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One measurement: units of work done (connections, round trips, gigabytes), the
/// wall-clock time taken and the CPU time used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) work: f64,
    pub(crate) elapsed: Duration,
    pub(crate) cpu: Duration,
}

impl Sample {
    pub(crate) fn new(work: f64, started: Start) -> Sample {
        Sample {
            work,
            elapsed: started.wall.elapsed(),
            cpu: process_cpu_time().saturating_sub(started.cpu),
        }
    }

    /// Work per wall-clock second.
    fn rate(&self) -> f64 {
        self.work / self.elapsed.as_secs_f64()
    }

    /// Work per CPU second.
    fn cpu_rate(&self) -> f64 {
        self.work / self.cpu.as_secs_f64()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    rounds: usize,
    budget: Budget,
    warmup: Budget,
    /// Only this side, once (for instruction counting).
    only: Option<Side>,
}

/// One round of one row: the strports and raw samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Round {
    strports: Sample,
    raw: Sample,
}

impl Round {
    /// strports / raw, in work per wall-clock second.
    fn ratio(&self) -> f64 {
        self.strports.rate() / self.raw.rate()
    }

    /// strports / raw, in work per CPU second.
    fn cpu_ratio(&self) -> f64 {
        self.strports.cpu_rate() / self.raw.cpu_rate()
    }
}

/// The rounds of one row.
pub(crate) type Rounds = Vec<Round>;

/// Warms both sides up, then measures them in `plan.rounds` rounds, alternating which
/// goes first (strports first in even rounds, raw first in odd ones) so drift in the
/// machine's speed hits both equally.
pub(crate) async fn alternate<M, F>(plan: &Plan, mut measure: M) -> io::Result<Rounds>
where
    M: FnMut(Side, Budget) -> F,
    F: Future<Output = io::Result<Sample>>,
{
    if let Some(side) = plan.only {
        let sample = measure(side, plan.budget).await?;
        println!(
            "{side}: {:.3} units in {:.3} s, {:.3} s of CPU ({:.3}/s)",
            sample.work,
            sample.elapsed.as_secs_f64(),
            sample.cpu.as_secs_f64(),
            sample.rate()
        );
        return Ok(Vec::new());
    }
    measure(Side::Strports, plan.warmup).await?;
    measure(Side::Raw, plan.warmup).await?;
    let mut rounds = Vec::with_capacity(plan.rounds);
    for round in 0..plan.rounds {
        let (strports, raw) = if round % 2 == 0 {
            let s = measure(Side::Strports, plan.budget).await?;
            (s, measure(Side::Raw, plan.budget).await?)
        } else {
            let r = measure(Side::Raw, plan.budget).await?;
            (measure(Side::Strports, plan.budget).await?, r)
        };
        rounds.push(Round { strports, raw });
    }
    Ok(rounds)
}

struct Row {
    backend: Backend,
    workload: Workload,
    transport: Transport,
    rounds: Rounds,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// A rate in the row's unit: GB/s with two decimals, counts as whole numbers with
/// thousands separators.
fn show_rate(workload: Workload, rate: f64) -> String {
    if workload == Workload::Bulk {
        return format!("{rate:.2}");
    }
    let digits = format!("{rate:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `median ±spread%`, the spread being half the range over the median.
fn show_side(workload: Workload, values: Vec<f64>) -> String {
    let (lo, hi) = min_max(&values);
    let m = median(values);
    format!(
        "{} ±{:.0}%",
        show_rate(workload, m),
        (hi - lo) / 2.0 / m * 100.0
    )
}

fn print_table(rows: &[Row], plan: &Plan, load_before: &str) {
    println!();
    println!(
        "{} cores; load average {load_before} before, {} after.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "{} rounds of {} per side, alternating which side goes first; figures are \
         medians ±half the range. ratio = strports / raw per round (median, min–max); \
         per CPU s = the same ratio in work per CPU second of the process.",
        plan.rounds,
        match plan.budget {
            Budget::Time(d) => format!("{:.2} s", d.as_secs_f64()),
            Budget::Count(n) => format!("{n} units"),
        }
    );
    println!();
    println!(
        "| backend | workload | transport | unit | strports | raw | ratio | ratio min–max | per CPU s |"
    );
    println!("|---|---|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let strports: Vec<f64> = row.rounds.iter().map(|r| r.strports.rate()).collect();
        let raw: Vec<f64> = row.rounds.iter().map(|r| r.raw.rate()).collect();
        let ratios: Vec<f64> = row.rounds.iter().map(Round::ratio).collect();
        let cpu_ratios: Vec<f64> = row.rounds.iter().map(Round::cpu_ratio).collect();
        let (lo, hi) = min_max(&ratios);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.2}–{:.2} | {:.3} |",
            row.backend,
            row.workload,
            row.transport,
            row.workload.unit(),
            show_side(row.workload, strports),
            show_side(row.workload, raw),
            median(ratios),
            lo,
            hi,
            median(cpu_ratios),
        );
    }
}

fn parse_args() -> (Plan, Vec<String>) {
    let quick = std::env::var_os("STRPORTS_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let mut plan = if quick {
        Plan {
            rounds: 3,
            budget: Budget::Time(Duration::from_millis(150)),
            warmup: Budget::Time(Duration::from_millis(50)),
            only: None,
        }
    } else {
        Plan {
            rounds: 7,
            budget: Budget::Time(Duration::from_millis(700)),
            warmup: Budget::Time(Duration::from_millis(250)),
            only: None,
        }
    };
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    let number = |name: &str, value: Option<String>| -> f64 {
        match value.as_deref().map(str::parse::<f64>) {
            Some(Ok(v)) if v > 0.0 => v,
            _ => panic!("{name} needs a positive number"),
        }
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                plan.rounds = 3;
                plan.budget = Budget::Time(Duration::from_millis(150));
                plan.warmup = Budget::Time(Duration::from_millis(50));
            }
            "--rounds" => plan.rounds = number("--rounds", args.next()) as usize,
            "--secs" => {
                plan.budget = Budget::Time(Duration::from_secs_f64(number("--secs", args.next())))
            }
            "--count" => plan.budget = Budget::Count(number("--count", args.next()) as u64),
            "--side" => {
                plan.only = match args.next().as_deref() {
                    Some("strports") => Some(Side::Strports),
                    Some("raw") => Some(Side::Raw),
                    _ => panic!("--side needs strports or raw"),
                }
            }
            // `cargo bench` passes `--bench`; ignore it and other harness flags.
            a if a.starts_with("--") => {}
            a => filters.push(a.to_ascii_lowercase()),
        }
    }
    (plan, filters)
}

fn main() -> io::Result<()> {
    let (plan, filters) = parse_args();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = load_average();
    eprintln!(
        "strports socket benchmarks: {cores} cores (load average {load_before}), {} rounds, \
         {:?} per measurement",
        plan.rounds, plan.budget
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    for backend in [Backend::Tokio, Backend::Smol] {
        for workload in [Workload::Connect, Workload::Echo, Workload::Bulk] {
            for transport in [Transport::Tcp, Transport::Unix] {
                let name = format!("{backend} {workload} {transport}");
                if !filters.iter().all(|f| name.contains(f.as_str())) {
                    continue;
                }
                eprintln!("{name} ...");
                let rounds = match backend {
                    Backend::Tokio => tokio_side::row(&plan, workload, transport)?,
                    Backend::Smol => smol_side::row(&plan, workload, transport)?,
                };
                if plan.only.is_none() {
                    let ratios: Vec<String> = rounds
                        .iter()
                        .map(|r| format!("{:.3} ({:.3})", r.ratio(), r.cpu_ratio()))
                        .collect();
                    eprintln!("    ratio (per CPU s) by round: {}", ratios.join(" "));
                }
                rows.push(Row {
                    backend,
                    workload,
                    transport,
                    rounds,
                });
            }
        }
    }
    if plan.only.is_none() {
        print_table(&rows, &plan, &load_before);
        eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The 1, 5 and 15 minute load averages, from `/proc/loadavg` (Linux).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// A fresh temporary directory for socket files (removed when dropped).
pub(crate) fn temp_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("strports-bench-").tempdir()
}
