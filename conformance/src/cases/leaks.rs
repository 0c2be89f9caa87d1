//! Descriptor accounting: thousands of connections of every kind leave no descriptor
//! and no child process behind, and a serve loop whose `accept` fails with `EMFILE`
//! keeps serving once descriptors free up.
//!
//! What these cases measure belongs to the whole process (the open descriptors, the
//! `RLIMIT_NOFILE` limit, the child processes), and the cases of one test binary
//! run in parallel threads of one process, so each runs its body in a fresh child
//! process of the test binary ([`run_in_child`]) and only checks that it passed.
//! Waits are bounded; no case asserts how long anything took.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future;
use strports_core::ClientDescription;
use strports_core::proxy_protocol::HaproxyOptions;

use super::connect::TableResolver;
use super::happy_eyeballs::{Unresponsive, unresponsive};
use super::tls::Pki;
use crate::child::{Stamped, run_in_child};
use crate::{
    Backend, client, echo_check, finish, join_all, read_to_end, server, socket_path, tcp_address,
    temp_dir, within,
};

/// The child body of [`leaks_ten_thousand_connections_return_every_descriptor`].
const LEAKS: &str = "leaks";
/// The child body of [`serve_keeps_serving_after_emfile`].
const EMFILE: &str = "emfile";

/// How long the parent waits for a child body (less than [`crate::CASE_TIMEOUT`], so
/// the child's output is shown when it hangs).
const CHILD_LIMIT: Duration = Duration::from_secs(55);

/// The bound on one connection's steps.
const LIMIT: Duration = Duration::from_secs(10);

/// The bound on one kind of connection in the leak case (all of its connections).
const KIND_LIMIT: Duration = Duration::from_secs(40);

/// How long the leak case waits for descriptors to close and children to be reaped
/// after the last connection.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// Runs the child body `name` in this process: what `child_process` does when
/// [`crate::child::CASE_ENV`] names it. Panics for an unknown name.
pub fn run_child_body<B: Backend>(name: &str) {
    match name {
        LEAKS => crate::run::<B, _>(name, leaks_body::<B>()),
        EMFILE => crate::run::<B, _>(name, emfile_body::<B>()),
        super::adopt::SYSTEMD_HYGIENE => {
            crate::run::<B, _>(name, super::adopt::systemd_hygiene_body::<B>())
        }
        other => panic!("no child body named {other:?}"),
    }
}

/// 10,000 connections, opened and closed: TCP, UNIX and TLS echo round trips through
/// `serve`, refused, timed-out and otherwise failed connects (TLS handshakes among
/// them), connects and Happy Eyeballs races dropped
/// while in progress, `haproxy:` connections rejected for a garbage header, and
/// `process:` clients. Afterwards the process has as many descriptors open as before
/// them (measured after a warm-up round), and no child process, running or zombie;
/// before the servers stop, only their own descriptors are left.
/// Runs in a child process of its own.
pub async fn leaks_ten_thousand_connections_return_every_descriptor<B: Backend + Stamped>() {
    run_in_child::<B>(LEAKS, CHILD_LIMIT).await;
}

/// A serve loop whose `accept` fails with `EMFILE` (the process is out of
/// descriptors) neither exits nor spins: it logs a warning and pauses before each
/// retry, and once descriptors free up it serves the connections that waited and new
/// ones; on `tcp:`, `unix:` and `haproxy:tcp:` listeners. Runs in a child process of
/// its own (`RLIMIT_NOFILE` is process-wide).
pub async fn serve_keeps_serving_after_emfile<B: Backend + Stamped>() {
    run_in_child::<B>(EMFILE, CHILD_LIMIT).await;
}

// ---------------------------------------------------------------------------------
// Leaks

/// How many connections of each kind a round opens and closes.
#[derive(Debug, Clone, Copy)]
struct Mix {
    /// Echo round trips over TCP through `serve`.
    tcp: usize,
    /// Echo round trips over a UNIX socket through `serve`.
    unix: usize,
    /// `ssl:` connections (a full handshake each) echoing through `serve`.
    tls: usize,
    /// `ssl:` connects that reject the server's certificate (wrong host name): the
    /// handshake fails on both sides.
    tls_rejected: usize,
    /// Connects to a loopback port where nothing listens: refused.
    refused: usize,
    /// Connects to a UNIX socket path that does not exist.
    missing: usize,
    /// Connects to an unresponsive address with `timeout=1`: timed out.
    timed_out: usize,
    /// Connects to an unresponsive address, dropped while the connect is in progress.
    cancelled: usize,
    /// Happy Eyeballs races between two unresponsive addresses, dropped once both
    /// attempts are under way.
    abandoned_races: usize,
    /// Connections to a `haproxy:` listener that send garbage instead of a header.
    proxy: usize,
    /// `process:` clients: `cat` echoing, `true`, `sleep` killed by the drop, and a
    /// shell exiting with status 3.
    process: usize,
}

impl Mix {
    const fn total(&self) -> usize {
        self.tcp
            + self.unix
            + self.tls
            + self.tls_rejected
            + self.refused
            + self.missing
            + self.timed_out
            + self.cancelled
            + self.abandoned_races
            + self.proxy
            + self.process
    }
}

/// The measured round.
const MIX: Mix = Mix {
    tcp: 4000,
    unix: 3000,
    tls: 250,
    tls_rejected: 50,
    refused: 900,
    missing: 250,
    timed_out: 50,
    cancelled: 400,
    abandoned_races: 100,
    proxy: 800,
    process: 200,
};

const _: () = assert!(MIX.total() == 10_000);

/// The warm-up round before the baseline: everything created lazily once per
/// process (reactors, signal pipes, reaper threads) exists after it.
const WARM_UP: Mix = Mix {
    tcp: 8,
    unix: 8,
    tls: 4,
    tls_rejected: 2,
    refused: 4,
    missing: 4,
    timed_out: 2,
    cancelled: 4,
    abandoned_races: 2,
    proxy: 4,
    process: 8,
};

/// What the rounds share, created before the baseline and kept to the end.
struct Fixtures<B: Backend> {
    pki: Pki,
    dir: tempfile::TempDir,
    /// Two listeners with full accept queues: connects to them never complete.
    stuck: Vec<Unresponsive<B>>,
}

async fn leaks_body<B: Backend>() {
    if !cfg!(target_os = "linux") {
        println!("note: skipped: needs /proc");
        return;
    }
    let fixtures = Fixtures::<B> {
        pki: Pki::new(),
        dir: temp_dir(),
        stuck: join_all(vec![unresponsive::<B>(), unresponsive::<B>()]).await,
    };
    let started = Instant::now();
    round(&fixtures, WARM_UP, "warm-up").await;
    if let Err(e) = no_child_processes::<B>().await {
        panic!("after the warm-up: {e}");
    }
    let baseline = steady_descriptors::<B>().await;
    eprintln!(
        "leaks: warm-up took {:.1}s; baseline: {} open descriptors",
        started.elapsed().as_secs_f64(),
        baseline.len()
    );

    let started = Instant::now();
    let report = round(&fixtures, MIX, "measured").await;
    let (children, settled) = future::zip(
        no_child_processes::<B>(),
        descriptors_back_to::<B>(&baseline),
    )
    .await;
    let (children, settled) = match (children, settled) {
        (Ok(children), Ok(settled)) => (children, settled),
        (children, settled) => {
            let problems: Vec<String> = [children.err(), settled.err()]
                .into_iter()
                .flatten()
                .collect();
            panic!("after the measured round: {}", problems.join("\n"));
        }
    };
    eprintln!(
        "leaks: {} connections ({report}) in {:.1}s; descriptors: baseline {}, after {} \
         (back in {:.2}s); child processes left: {children}",
        MIX.total(),
        started.elapsed().as_secs_f64(),
        baseline.len(),
        settled.0,
        settled.1.as_secs_f64(),
    );
}

/// Opens and closes `mix`'s connections, then stops its servers; returns a line
/// saying how long each kind took.
async fn round<B: Backend>(fixtures: &Fixtures<B>, mix: Mix, name: &str) -> String {
    let mut report = Vec::new();
    let mut timed = |kind: &str, count: usize, started: Instant| {
        report.push(format!(
            "{kind} {count} {:.1}s",
            started.elapsed().as_secs_f64()
        ));
    };
    let what = |kind: &str| format!("{name} round: {kind} connections");

    // Servers of this round: closed at its end, so inside the measurement.
    let tcp = B::serve_echo(
        B::listen(&server("tcp:0:interface=127.0.0.1:backlog=128"))
            .await
            .expect("listen tcp"),
    );
    let port = tcp_address(&B::serving_address(&tcp).expect("tcp address")).port();
    let tcp_desc = client(&format!("tcp:127.0.0.1:{port}:timeout=10"));
    let (_, unix_path) = socket_path(&fixtures.dir, &format!("{name}.sock"));
    let unix = B::serve_echo(
        B::listen(&server(&format!("unix:{unix_path}:backlog=128")))
            .await
            .expect("listen unix"),
    );
    let unix_desc = client(&format!("unix:{unix_path}:timeout=10"));
    let pki = &fixtures.pki;
    let tls = B::serve_echo(
        B::listen(&server(&pki.ssl_server(
            "server.pem",
            "server.key",
            ":backlog=128",
        )))
        .await
        .expect("listen ssl"),
    );
    let port = tcp_address(&B::serving_address(&tls).expect("ssl address")).port();
    let tls_desc = client(&pki.ssl_client("127.0.0.1", port, ":hostname=localhost"));
    let wrong_name_desc = client(&pki.ssl_client("127.0.0.1", port, ":hostname=wrong.example"));
    let refusing = Refusing::new();
    let refused_desc = client(&format!("tcp:127.0.0.1:{}:timeout=10", refusing.port));
    let (_, missing_path) = socket_path(&fixtures.dir, "missing.sock");
    let missing_desc = client(&format!("unix:{missing_path}:timeout=10"));
    let stuck: Vec<SocketAddr> = fixtures.stuck.iter().map(|s| s.addr).collect();
    let stuck_at = |timeout: u32| {
        client(&format!(
            "tcp:{}:{}:timeout={timeout}",
            stuck[0].ip(),
            stuck[0].port()
        ))
    };
    let (stuck_desc, timing_out_desc) = (stuck_at(30), stuck_at(1));
    let race_desc = client("tcp:stuck.invalid:80:timeout=30");
    let resolver = TableResolver::new(vec![("stuck.invalid", stuck)]);
    let proxy = B::listen_with_haproxy(
        &server("haproxy:tcp:0:interface=127.0.0.1:backlog=128"),
        HaproxyOptions::default().with_header_timeout(Duration::from_secs(30)),
    )
    .await
    .expect("listen haproxy");
    let port = tcp_address(&B::local_address(&proxy).expect("haproxy address")).port();
    let proxy_desc = client(&format!("tcp:127.0.0.1:{port}:timeout=10"));
    let with_servers = open_descriptors();

    let started = Instant::now();
    batches::<B, _, _>(&what("tcp"), mix.tcp, 50, |i| echo_once::<B>(&tcp_desc, i)).await;
    timed("tcp", mix.tcp, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("unix"), mix.unix, 50, |i| {
        echo_once::<B>(&unix_desc, i)
    })
    .await;
    timed("unix", mix.unix, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("tls"), mix.tls, 10, |i| echo_once::<B>(&tls_desc, i)).await;
    timed("tls", mix.tls, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("tls rejected"), mix.tls_rejected, 10, |_| async {
        let result = within::<B, _>(LIMIT, "tls connect", B::connect(&wrong_name_desc)).await;
        assert!(result.is_err(), "connect {wrong_name_desc} succeeded");
    })
    .await;
    timed("tls-rejected", mix.tls_rejected, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("refused"), mix.refused, 50, |_| {
        failed_connect::<B>(&refused_desc, io::ErrorKind::ConnectionRefused)
    })
    .await;
    timed("refused", mix.refused, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("missing unix"), mix.missing, 50, |_| {
        failed_connect::<B>(&missing_desc, io::ErrorKind::NotFound)
    })
    .await;
    timed("missing-unix", mix.missing, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("timed out"), mix.timed_out, 50, |_| {
        failed_connect::<B>(&timing_out_desc, io::ErrorKind::TimedOut)
    })
    .await;
    timed("timed-out", mix.timed_out, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("cancelled"), mix.cancelled, 50, |_| {
        // The connect is polled first: its socket exists and its SYN is out
        // (unanswered) when the timer ends the race and drops it.
        abandon::<B, _>(B::connect(&stuck_desc), Duration::from_millis(1))
    })
    .await;
    timed("cancelled", mix.cancelled, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("abandoned race"), mix.abandoned_races, 50, |_| {
        // Past the 250 ms attempt delay: both attempts are in progress.
        abandon::<B, _>(
            B::connect_with(&race_desc, resolver.clone()),
            Duration::from_millis(300),
        )
    })
    .await;
    timed("abandoned-race", mix.abandoned_races, started);

    let started = Instant::now();
    let proxy_what = what("haproxy");
    let rejected = batches::<B, _, _>(&proxy_what, mix.proxy, 50, |_| {
        garbage_header::<B>(&proxy_desc)
    });
    // Headers are read while `accept` is awaited; none may be accepted.
    let accepting = async {
        match B::accept(&proxy).await {
            Ok((_, peer)) => panic!("accepted {peer} after a garbage header"),
            Err(e) => panic!("haproxy accept: {e}"),
        }
    };
    future::or(rejected, accepting).await;
    assert_eq!(
        B::proxy_rejections(&proxy),
        mix.proxy as u64,
        "{name} round: haproxy rejections"
    );
    timed("proxy-rejected", mix.proxy, started);

    let started = Instant::now();
    batches::<B, _, _>(&what("process"), mix.process, 10, process_once::<B>).await;
    timed("process", mix.process, started);

    // Every connection is closed: only the servers' descriptors are left, before
    // stopping them (which would also close connections a serve loop kept).
    if let Err(e) = descriptors_back_to::<B>(&with_servers).await {
        panic!("{name} round, before stopping the servers: {e}");
    }
    for (kind, serving) in [("tcp", tcp), ("unix", unix), ("tls", tls)] {
        within::<B, _>(
            LIMIT,
            &format!("{name} round: stopping {kind}"),
            B::stop(serving),
        )
        .await;
    }
    drop(proxy);
    drop(refusing);
    report.join(", ")
}

/// Runs `op(0..total)`, `at_once` at a time, all within [`KIND_LIMIT`].
async fn batches<B: Backend, F, Fut>(what: &str, total: usize, at_once: usize, op: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    within::<B, _>(KIND_LIMIT, what, async {
        let mut done = 0;
        while done < total {
            let n = at_once.min(total - done);
            join_all((done..done + n).map(&op).collect()).await;
            done += n;
        }
    })
    .await;
}

/// Connects, checks an echo round trip and a clean close.
async fn echo_once<B: Backend>(desc: &ClientDescription, i: usize) {
    let mut stream = match within::<B, _>(LIMIT, "connect", B::connect(desc)).await {
        Ok(s) => s,
        Err(e) => panic!("connection {i} to {desc}: {e}"),
    };
    echo_check::<B>(&mut stream, format!("connection {i}").as_bytes()).await;
    finish::<B>(&mut stream).await;
}

/// A connect that must fail with `kind`.
async fn failed_connect<B: Backend>(desc: &ClientDescription, kind: io::ErrorKind) {
    match within::<B, _>(LIMIT, "failing connect", B::connect(desc)).await {
        Ok(_) => panic!("connect {desc} succeeded, expected {kind:?}"),
        Err(e) => assert_eq!(e.kind(), kind, "connect {desc}: {e}"),
    }
}

/// Races `connect` against a timer of `after` and drops it: the connect must not
/// end first.
async fn abandon<B: Backend, F>(connect: F, after: Duration)
where
    F: Future<Output = io::Result<B::Stream>>,
{
    let ended = future::or(async { Some(connect.await.map(drop)) }, async {
        B::sleep(after).await;
        None
    })
    .await;
    if let Some(result) = ended {
        panic!("a connect to unresponsive addresses ended: {result:?}");
    }
}

/// Sends an HTTP request to a `haproxy:` listener and waits until it closes the
/// connection.
async fn garbage_header<B: Backend>(desc: &ClientDescription) {
    let mut stream = within::<B, _>(LIMIT, "connect", B::connect(desc))
        .await
        .expect("connect to the haproxy listener");
    B::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await
        .expect("write");
    within::<B, _>(LIMIT, "garbage header's connection closed", async {
        let mut buf = [0u8; 64];
        match B::read(&mut stream, &mut buf).await {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("got {n} bytes instead of a close"),
            Err(e) => panic!("waiting for the close: {e}"),
        }
    })
    .await;
}

/// One `process:` client, of four kinds in turn.
async fn process_once<B: Backend>(i: usize) {
    let connect = |desc: &'static str| async move {
        let desc_value = crate::program_client(desc);
        match within::<B, _>(LIMIT, "process connect", B::connect(&desc_value)).await {
            Ok(s) => s,
            Err(e) => panic!("connect {desc}: {e}"),
        }
    };
    match i % 4 {
        0 => {
            let mut stream = connect("process:cat:errFlag=drop").await;
            echo_check::<B>(&mut stream, format!("process {i}").as_bytes()).await;
            finish::<B>(&mut stream).await;
            let status = B::exit_status(&stream).expect("cat's exit status after EOF");
            assert!(status.success(), "cat: {status}");
        }
        1 => {
            // `errFlag=log`, the default: a thread reads the child's stderr.
            let mut stream = connect("process:true").await;
            let out = within::<B, _>(LIMIT, "true's output", read_to_end::<B>(&mut stream))
                .await
                .expect("true exits with status 0");
            assert!(out.is_empty(), "true wrote {} bytes", out.len());
        }
        2 => drop(connect("process:sleep:1000:errFlag=drop").await),
        _ => {
            let mut stream = connect("process:sh:-c:exit 3:errFlag=drop").await;
            let result = within::<B, _>(LIMIT, "sh's exit", read_to_end::<B>(&mut stream)).await;
            assert!(result.is_err(), "exit status 3 ends with an error");
        }
    }
}

/// A TCP socket bound to a loopback port but not listening: connects to the port
/// are refused, and nobody else can listen there while it is open.
struct Refusing {
    _socket: OwnedFd,
    port: u16,
}

impl Refusing {
    fn new() -> Refusing {
        // SAFETY: socket(2) with constant arguments.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `addr` is a sockaddr_in of `len` bytes.
        let rc = unsafe { libc::bind(fd, (&raw const addr).cast(), len) };
        assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
        // SAFETY: getsockname writes at most `len` bytes into `addr`.
        let rc = unsafe { libc::getsockname(fd, (&raw mut addr).cast(), &mut len) };
        assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
        Refusing {
            _socket: socket,
            port: u16::from_be(addr.sin_port),
        }
    }
}

/// This process's open descriptors and what each is (`readlink /proc/self/fd/N`),
/// without the one the listing itself uses.
fn open_descriptors() -> BTreeMap<RawFd, String> {
    let dir = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd");
    let mut fds = BTreeMap::new();
    for entry in dir {
        let entry = entry.expect("read /proc/self/fd");
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // Closed since the listing began: not open.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        if target.starts_with("/proc/") && target.ends_with("/fd") {
            continue;
        }
        fds.insert(fd, target);
    }
    fds
}

/// The open descriptors once their count has stayed the same over 10 readings in a
/// row, 20 ms apart (things the warm-up started may still be closing), or after
/// [`SETTLE_LIMIT`] at the latest.
async fn steady_descriptors<B: Backend>() -> BTreeMap<RawFd, String> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut fds = open_descriptors();
    let mut same = 0;
    while same < 10 && Instant::now() < deadline {
        B::sleep(Duration::from_millis(20)).await;
        let now = open_descriptors();
        same = if now.len() == fds.len() { same + 1 } else { 0 };
        fds = now;
    }
    fds
}

/// Waits until as many descriptors are open as in `baseline`: the count and how long
/// it took, or after [`SETTLE_LIMIT`] an error listing the difference.
/// (Waits: closing may finish in another task or thread, such as a connection
/// handler or a thread logging a child's standard error.)
async fn descriptors_back_to<B: Backend>(
    baseline: &BTreeMap<RawFd, String>,
) -> Result<(usize, Duration), String> {
    let started = Instant::now();
    loop {
        let now = open_descriptors();
        if now.len() == baseline.len() {
            return Ok((now.len(), started.elapsed()));
        }
        if started.elapsed() > SETTLE_LIMIT {
            let show = |from: &BTreeMap<RawFd, String>, not_in: &BTreeMap<RawFd, String>| {
                from.iter()
                    .filter(|(fd, target)| not_in.get(fd) != Some(target))
                    .map(|(fd, target)| format!("\n  {fd} -> {target}"))
                    .collect::<String>()
            };
            return Err(format!(
                "{} descriptors open {SETTLE_LIMIT:?} after the last connection, {} before \
                 the first; open now but not before:{}\nopen before but not now:{}",
                now.len(),
                baseline.len(),
                show(&now, baseline),
                show(baseline, &now),
            ));
        }
        B::sleep(Duration::from_millis(20)).await;
    }
}

/// This process's child processes, running or zombies (`/proc/*/stat` entries whose
/// parent is us), as `pid (name) state`.
fn child_processes() -> Vec<String> {
    let me = std::process::id();
    let mut children = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // Gone since the listing: not a child any more.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(end) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[end + 1..].split_whitespace();
        let state = fields.next().unwrap_or("?");
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            children.push(format!("{}) {state}", &stat[..end]));
        }
    }
    children
}

/// Waits until this process has no child process, running or zombie: how many there
/// were at first, or after [`SETTLE_LIMIT`] an error listing them.
async fn no_child_processes<B: Backend>() -> Result<usize, String> {
    let first = child_processes().len();
    let started = Instant::now();
    loop {
        let children = child_processes();
        if children.is_empty() {
            return Ok(first);
        }
        if started.elapsed() > SETTLE_LIMIT {
            return Err(format!(
                "child processes not reaped after {SETTLE_LIMIT:?}: {}",
                children.join(", ")
            ));
        }
        B::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------
// EMFILE

/// Clients queued before the limit is lowered.
const CLIENTS: usize = 16;

/// Descriptors left free under the lowered limit: the serve loop accepts this many
/// clients, then fails with `EMFILE`.
const HEADROOM: usize = 3;

/// The loose bound on accept failures in [`FAILURE_WINDOW`] while the limit is
/// reached: a loop pausing 100 ms after each logs about 10; a spinning one, tens of
/// thousands. A count check, not a timing check: a slow machine only logs fewer.
const MAX_FAILURES_IN_WINDOW: u64 = 200;

/// How long the failures are counted for.
const FAILURE_WINDOW: Duration = Duration::from_secs(1);

/// The serve loops' "accept failed" warnings seen so far, and the last one's error.
static ACCEPT_FAILURES: AtomicU64 = AtomicU64::new(0);
static LAST_ACCEPT_ERROR: Mutex<String> = Mutex::new(String::new());

/// The PROXY header the `haproxy:` scenario's clients send first.
const PROXY_V1: &[u8] = b"PROXY TCP4 192.0.2.1 198.51.100.1 4000 80\r\n";

async fn emfile_body<B: Backend>() {
    if !cfg!(target_os = "linux") {
        println!("note: skipped: needs /proc");
        return;
    }
    tracing::subscriber::set_global_default(AcceptFailures)
        .expect("no other tracing subscriber in the child process");
    let dir = temp_dir();
    let (_, path) = socket_path(&dir, "emfile.sock");
    emfile_scenario::<B>("tcp:0:interface=127.0.0.1:backlog=64", None, &[]).await;
    emfile_scenario::<B>(&format!("unix:{path}:backlog=64"), Some(&path), &[]).await;
    emfile_scenario::<B>(
        "haproxy:tcp:0:interface=127.0.0.1:backlog=64",
        None,
        PROXY_V1,
    )
    .await;
}

/// Serves echo on `listen` (a UNIX socket at `unix_path`, or TCP) with [`CLIENTS`]
/// clients queued (each having sent `preamble`) and only [`HEADROOM`] descriptors free: the loop accepts a few, fails
/// with `EMFILE` without spinning, and serves every client once they close in turn,
/// then new ones.
async fn emfile_scenario<B: Backend>(listen: &str, unix_path: Option<&str>, preamble: &[u8]) {
    let listener = B::listen(&server(listen)).await.expect("listen");
    // `unix_path` for a UNIX listener, else the TCP port listened on.
    let desc = client(&match unix_path {
        Some(path) => format!("unix:{path}:timeout=10"),
        None => {
            let address = B::local_address(&listener).expect("local address");
            format!("tcp:127.0.0.1:{}:timeout=10", tcp_address(&address).port())
        }
    });
    let connect = || async {
        let mut stream = within::<B, _>(LIMIT, "connect", B::connect(&desc))
            .await
            .unwrap_or_else(|e| panic!("{listen}: connect {desc}: {e}"));
        B::write_all(&mut stream, preamble).await.expect("write");
        stream
    };
    // Connected before the limit is lowered (a client needs a descriptor too); they
    // wait in the accept queue, as nothing accepts yet.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(connect().await);
    }

    // The limit where exactly HEADROOM descriptor numbers below it are free (new
    // descriptors take the lowest free number; open ones above it, such as one
    // inherited from the shell, stay usable).
    let open = open_descriptors();
    let mut limit = 0;
    let mut free = 0;
    while free < HEADROOM {
        if !open.contains_key(&RawFd::try_from(limit).expect("descriptor number")) {
            free += 1;
        }
        limit += 1;
    }
    let original = nofile_limit();
    let failed_before = ACCEPT_FAILURES.load(Ordering::SeqCst);
    set_nofile_limit(libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: original.rlim_max,
    });
    let serving = B::serve_echo(listener);

    within::<B, _>(
        LIMIT,
        &format!("{listen}: an accept failing with EMFILE"),
        async {
            while ACCEPT_FAILURES.load(Ordering::SeqCst) == failed_before {
                B::sleep(Duration::from_millis(10)).await;
            }
        },
    )
    .await;
    let before = ACCEPT_FAILURES.load(Ordering::SeqCst);
    B::sleep(FAILURE_WINDOW).await;
    let in_window = ACCEPT_FAILURES.load(Ordering::SeqCst) - before;
    assert!(
        in_window < MAX_FAILURES_IN_WINDOW,
        "{listen}: {in_window} accept failures in {FAILURE_WINDOW:?}: the serve loop spins"
    );

    // Each client closing frees its descriptor and the server's: the loop then
    // accepts the next waiting one.
    for (i, mut stream) in clients.into_iter().enumerate() {
        echo_check::<B>(&mut stream, format!("waiting client {i}").as_bytes()).await;
        finish::<B>(&mut stream).await;
    }
    for i in 0..3 {
        let mut stream = connect().await;
        echo_check::<B>(&mut stream, format!("new client {i}").as_bytes()).await;
        finish::<B>(&mut stream).await;
    }
    set_nofile_limit(original);
    within::<B, _>(LIMIT, "stop", B::stop(serving)).await;

    let last = LAST_ACCEPT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        last.contains(&format!("os error {}", libc::EMFILE)),
        "{listen}: the accept failure was not EMFILE: {last:?}"
    );
    eprintln!(
        "emfile: {listen}: limit {limit} with {} open, {free} free below it; {CLIENTS} \
         clients waiting; {in_window} accept failures in {FAILURE_WINDOW:?}, {} in all \
         ({last}); every waiting client and 3 new ones echoed",
        open.len(),
        ACCEPT_FAILURES.load(Ordering::SeqCst) - failed_before,
    );
}

fn nofile_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    limit
}

fn set_nofile_limit(limit: libc::rlimit) {
    // SAFETY: setrlimit reads one rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
}

/// A `tracing` subscriber counting the serve loops' "accept failed" warnings in
/// [`ACCEPT_FAILURES`]. It opens no descriptor.
struct AcceptFailures;

impl tracing::Subscriber for AcceptFailures {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() == tracing::Level::WARN && metadata.target().starts_with("strports")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        #[derive(Default)]
        struct Fields {
            message: String,
            error: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                match field.name() {
                    "message" => self.message = format!("{value:?}"),
                    "error" => self.error = format!("{value:?}"),
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message.starts_with("strports: accept failed") {
            *LAST_ACCEPT_ERROR.lock().unwrap_or_else(|p| p.into_inner()) = fields.error;
            ACCEPT_FAILURES.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
