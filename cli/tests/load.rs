//! The short version of the load benchmark (`cli/benches/load.rs`), for CI: 1,000
//! concurrent connections doing checked echo round trips for a few seconds through
//! `strports listen --echo` and through `strports relay` in front of it, on each
//! runtime, over TCP (and the relay once more over UNIX sockets). Asserts no errors
//! (every byte echoed in order, every connection closed cleanly, both servers exit 0
//! on SIGTERM); throughput and memory are printed, never asserted. Where the hard
//! open-files limit is too low for 1,000 connections, it runs as many as fit (at least
//! 100) and says so.

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../benches/support/load_gen.rs"]
mod load_gen;

use load_gen::{Config, Target, Transport};

const CONNECTIONS: usize = 1000;
/// The runs: target, transport, seconds of round trips (on each runtime).
const RUNS: [(Target, Transport, u64); 3] = [
    (Target::Echo, Transport::Tcp, 3),
    (Target::Relay, Transport::Tcp, 3),
    (Target::Relay, Transport::Unix, 2),
];

#[test]
fn thousand_connections_echo_and_relay_on_both_runtimes_no_lost_bytes() {
    // A machine whose hard open-files limit is too low for 1,000 connections (a
    // container with 1,024, say) runs as many as fit, and says so.
    let connections = match load_gen::raise_fd_limit(CONNECTIONS) {
        Ok(_) => CONNECTIONS,
        Err(why) => {
            let fitting = load_gen::connections_within_fd_limit().min(CONNECTIONS);
            assert!(fitting >= 100, "{why}");
            eprintln!("load test: {why}; running {fitting} connections instead");
            fitting
        }
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    for (target, transport, seconds) in RUNS {
        for runtime in ["tokio", "smol"] {
            let config = Config {
                binary: PathBuf::from(env!("CARGO_BIN_EXE_strports")),
                runtime: runtime.to_owned(),
                target,
                transport,
                connections,
                duration: Duration::from_secs(seconds),
                seed: 0x5eed,
                waves: 1,
                max_message: load_gen::MAX_MESSAGE,
                server_args: Vec::new(),
            };
            let report = load_gen::run(&config);
            eprintln!("{}", report.line());
            for e in &report.error_messages {
                eprintln!("  error: {e}");
            }
            if report.errors > 0 || report.connected != connections || report.round_trips == 0 {
                failed.push(format!(
                    "{runtime} {target} {transport}: {} error(s), {} of {connections} connected, {} round trips; first: {:?}",
                    report.errors,
                    report.connected,
                    report.round_trips,
                    report.error_messages.first()
                ));
            }
        }
    }
    eprintln!("load test: {:.1}s", started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "load test failed: {failed:#?}");
}

#[test]
fn stream_content_is_a_function_of_the_offset() {
    let mut whole = [0u8; 100];
    load_gen::fill(7, 3, &mut whole);
    let mut parts = [0u8; 100];
    load_gen::fill(7, 3, &mut parts[..13]);
    load_gen::fill(7, 16, &mut parts[13..50]);
    load_gen::fill(7, 53, &mut parts[50..]);
    assert_eq!(whole, parts);
    let mut other = [0u8; 100];
    load_gen::fill(8, 3, &mut other);
    assert_ne!(whole, other);
}
