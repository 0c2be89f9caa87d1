//! Load test of `strports listen --echo` and `strports relay`: many concurrent
//! connections doing checked echo round trips for a fixed time, on each runtime.
//!
//! ```sh
//! cargo bench -p strports-cli --bench load
//! cargo bench -p strports-cli --bench load -- --runtime smol --target relay --connections 200 --seconds 5
//! ```
//!
//! Options (after `--`): `--runtime tokio|smol|both` (both), `--target
//! echo|relay|both` (both), `--transport tcp|unix|both` (tcp), `--connections N`
//! (1000), `--seconds S` (30), `--seed N`, `--waves N` (1: with more, the same servers
//! get N waves of connections one after the other, and their RSS is shown after
//! each), `--max-message BYTES` (65536: cut the message sizes there, e.g. 256 for a
//! chatty protocol), `--threads N` (passed to the servers; not given by default, so
//! they use their default), `--idle N` (instead of the round trips: hold N idle
//! connections open, each having echoed one byte, and report each server's RSS
//! per connection). One line per run, then a Markdown table. `STRPORTS_BIN=path`
//! runs another `strports` binary (an older build, to compare).
//!
//! ```sh
//! ulimit -n 65536   # as root: 10,000 relayed connections need about 20,000 descriptors
//! cargo bench -p strports-cli --bench load -- --idle 10000 --target relay
//! ```
//! Exits with status 1 if any run had an error (a failed connect or round trip, a
//! byte that differs from the one sent, a missing EOF, a server that logged a problem
//! or did not exit 0 on SIGTERM). See `support/load_gen.rs` for what is checked and bounded.

use std::path::PathBuf;
use std::time::Duration;

#[path = "support/load_gen.rs"]
mod load_gen;

use load_gen::{Config, Target, Transport};

const USAGE: &str = "usage: cargo bench -p strports-cli --bench load -- \
[--runtime tokio|smol|both] [--target echo|relay|both] [--transport tcp|unix|both] \
[--connections N] [--seconds S] [--seed N] [--waves N] [--max-message BYTES] \
[--threads N] [--idle N]";

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2);
}

/// The 1-minute load average, from `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn main() {
    let mut runtimes = vec!["tokio", "smol"];
    let mut targets = vec![Target::Echo, Target::Relay];
    let mut transports = vec![Transport::Tcp];
    let mut connections = 1000;
    let mut seconds = 30.0;
    let mut seed = 0x5eed;
    let mut waves = 1;
    let mut max_message = load_gen::MAX_MESSAGE;
    let mut server_args = Vec::new();
    let mut idle = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--bench" {
            continue; // added by `cargo bench`
        }
        let Some(value) = args.next() else {
            usage(&format!("{arg} needs a value"));
        };
        match (arg.as_str(), value.as_str()) {
            ("--runtime", "both") => runtimes = vec!["tokio", "smol"],
            ("--runtime", "tokio") => runtimes = vec!["tokio"],
            ("--runtime", "smol") => runtimes = vec!["smol"],
            ("--target", "both") => targets = vec![Target::Echo, Target::Relay],
            ("--target", "echo") => targets = vec![Target::Echo],
            ("--target", "relay") => targets = vec![Target::Relay],
            ("--transport", "both") => transports = vec![Transport::Tcp, Transport::Unix],
            ("--transport", "tcp") => transports = vec![Transport::Tcp],
            ("--transport", "unix") => transports = vec![Transport::Unix],
            ("--connections", n) => {
                connections = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage(&format!("bad --connections {n:?}")));
            }
            ("--seconds", s) => {
                seconds = s
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s < 86_400.0)
                    .unwrap_or_else(|| usage(&format!("bad --seconds {s:?}")));
            }
            ("--waves", n) => {
                waves = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage(&format!("bad --waves {n:?}")));
            }
            ("--max-message", n) => {
                max_message = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=load_gen::MAX_MESSAGE).contains(n))
                    .unwrap_or_else(|| usage(&format!("bad --max-message {n:?}")));
            }
            ("--threads", n) => {
                let n: usize = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage(&format!("bad --threads {n:?}")));
                server_args = vec!["--threads".to_owned(), n.to_string()];
            }
            ("--idle", n) => {
                idle = Some(
                    n.parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .unwrap_or_else(|| usage(&format!("bad --idle {n:?}"))),
                );
            }
            ("--seed", s) => {
                seed = s
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad --seed {s:?}")));
            }
            _ => usage(&format!("unknown option {arg} {value}")),
        }
    }
    if let Some(n) = idle {
        connections = n;
    }
    let binary = std::env::var_os("STRPORTS_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_strports")),
        PathBuf::from,
    );
    let limit = load_gen::raise_fd_limit(connections).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    if idle.is_some() {
        let config = |runtime: &str, target, transport| Config {
            binary: binary.clone(),
            runtime: runtime.to_owned(),
            target,
            transport,
            connections,
            duration: Duration::ZERO,
            seed,
            waves: 1,
            max_message,
            server_args: server_args.clone(),
        };
        run_idle(
            &binary,
            limit,
            &runtimes,
            &targets,
            &transports,
            connections,
            config,
        );
        return;
    }
    eprintln!(
        "load: {connections} connections, {seconds}s per run, {waves} wave(s), messages up to {max_message} bytes, open-files limit {limit}, seed {seed}"
    );
    let mut reports = Vec::new();
    for &transport in &transports {
        for &target in &targets {
            for runtime in &runtimes {
                let config = Config {
                    binary: binary.clone(),
                    runtime: (*runtime).to_owned(),
                    target,
                    transport,
                    connections,
                    duration: Duration::from_secs_f64(seconds),
                    seed,
                    waves,
                    max_message,
                    server_args: server_args.clone(),
                };
                let before = load_average();
                let report = load_gen::run(&config);
                println!(
                    "{} (load average before {before}, after {})",
                    report.line(),
                    load_average()
                );
                for e in &report.error_messages {
                    println!("  error: {e}");
                }
                reports.push(report);
            }
        }
    }
    println!();
    println!(
        "| runtime | target | transport | connections (all waves) | round trips/s | MiB/s each way | errors | peak RSS echo server | peak RSS relay |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    let mut errors = 0;
    for r in &reports {
        let rss = |name: &str| {
            r.servers
                .iter()
                .find(|s| s.name == name)
                .map_or("".to_owned(), |s| {
                    format!(
                        "{:.1} MiB (idle {:.1}, after close {})",
                        s.peak_rss_kib as f64 / 1024.0,
                        s.idle_rss_kib as f64 / 1024.0,
                        s.after_close_mib()
                    )
                })
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {} | {} | {} |",
            r.config.runtime,
            r.config.target,
            r.config.transport,
            r.connected,
            r.round_trips_per_sec(),
            r.mib_per_sec(),
            r.errors,
            rss("echo"),
            rss("relay"),
        );
        errors += r.errors;
    }
    if errors > 0 {
        eprintln!("load: {errors} error(s)");
        std::process::exit(1);
    }
}

/// `--idle N`: one idle run per transport, target and runtime, then a table.
fn run_idle(
    binary: &std::path::Path,
    limit: u64,
    runtimes: &[&str],
    targets: &[Target],
    transports: &[Transport],
    connections: usize,
    config: impl Fn(&str, Target, Transport) -> Config,
) {
    eprintln!(
        "idle: {connections} idle connections per run, open-files limit {limit}, binary {}",
        binary.display()
    );
    let mut reports = Vec::new();
    for &transport in transports {
        for &target in targets {
            for runtime in runtimes {
                let report = load_gen::run_idle(&config(runtime, target, transport));
                println!("{}", report.line());
                for e in &report.error_messages {
                    println!("  error: {e}");
                }
                reports.push(report);
            }
        }
    }
    println!();
    println!(
        "| runtime | target | transport | idle connections | errors | server | RSS before | RSS with them | per connection |"
    );
    println!("|---|---|---|---:|---:|---|---:|---:|---:|");
    let mut errors = 0;
    for r in &reports {
        for s in &r.servers {
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
                r.config.runtime,
                r.config.target,
                r.config.transport,
                r.connected,
                r.errors,
                s.name,
                s.before_kib as f64 / 1024.0,
                s.with_kib as f64 / 1024.0,
                s.kib_per_connection(r.connected),
            );
        }
        errors += r.errors;
    }
    if errors > 0 {
        eprintln!("idle: {errors} error(s)");
        std::process::exit(1);
    }
}
