//! The load generator shared by the `load` benchmark (`cli/benches/load.rs`) and the
//! short CI test (`cli/tests/load.rs`).
//!
//! One run starts the real `strports` binary as separate processes (an echo server,
//! `strports listen --echo`, and for the relay target `strports relay` in front of
//! it), opens `connections` concurrent connections to it, and has each one do echo
//! round trips for `duration`: a message of a varied size (1 byte to 64 KiB) is
//! written while its echo is read back, and every byte read is compared with the byte
//! sent at that position of the connection's stream. The content of each connection's
//! stream is a function of a per-connection seed and the byte's offset, so lost,
//! extra, reordered or cross-connection bytes all show up as a mismatch. At the end
//! each connection half-closes and must read EOF with no further byte.
//!
//! Every wait is bounded (connect, each round trip, the close, the whole run, server
//! start and stop). The peak RSS (`VmHWM`) of each server process is read from
//! `/proc/<pid>/status` after all connections closed, just before it is stopped
//! with SIGTERM; it must then exit with status 0. The servers' own per-connection
//! summary lines are checked too: one per connection, each `end=closed` with as many
//! bytes to the peer as from it.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinSet;

/// Bound on one connect (including its first, small round trip).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one round trip.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the half-close and the wait for EOF at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on a server's start (until it logs "listening on").
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the servers logging every connection as closed.
const LOG_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on a server's exit after SIGTERM (its `--grace` is 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest message of a round trip, unless [`Config::max_message`] is smaller.
pub(crate) const MAX_MESSAGE: usize = 64 * 1024;
/// Read and write buffer size of each connection.
const CHUNK: usize = 16 * 1024;
/// Descriptors needed beyond those of the connections.
const SPARE_FDS: u64 = 128;
/// At most this many error messages are kept (all are counted).
const KEPT_ERRORS: usize = 10;

/// What the connections go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `strports listen --echo`.
    Echo,
    /// `strports relay` in front of `strports listen --echo`.
    Relay,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::Echo => "echo",
            Target::Relay => "relay",
        })
    }
}

/// The socket type between every two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP on 127.0.0.1.
    Tcp,
    /// UNIX sockets in a temporary directory.
    Unix,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Unix => "unix",
        })
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The `strports` binary.
    pub(crate) binary: PathBuf,
    /// `--runtime` of the servers: "tokio" or "smol".
    pub(crate) runtime: String,
    /// Echo server, or relay in front of one.
    pub(crate) target: Target,
    /// TCP or UNIX sockets.
    pub(crate) transport: Transport,
    /// Concurrent connections.
    pub(crate) connections: usize,
    /// How long the connections do round trips.
    pub(crate) duration: Duration,
    /// Seed of every connection's message sizes and content.
    pub(crate) seed: u64,
    /// Waves of `connections` connections, one after the other, against the same
    /// servers (to see whether memory comes back after each).
    pub(crate) waves: usize,
    /// Largest message (1 to [`MAX_MESSAGE`]): the size distribution is cut there.
    pub(crate) max_message: usize,
    /// More arguments for both servers (e.g. `--threads 2`).
    pub(crate) server_args: Vec<String>,
}

/// Memory and exit of one server process.
#[derive(Debug, Clone)]
pub(crate) struct ServerReport {
    /// "echo" or "relay".
    pub(crate) name: &'static str,
    /// RSS after start, before any connection (KiB).
    pub(crate) idle_rss_kib: u64,
    /// Peak RSS (`VmHWM`) just before SIGTERM (KiB).
    pub(crate) peak_rss_kib: u64,
    /// RSS once every connection was closed (KiB), after each wave.
    pub(crate) after_rss_kib: Vec<u64>,
    /// "connection closed" summary lines it logged.
    pub(crate) closed: usize,
}

impl ServerReport {
    /// The RSS after each wave's connections closed, in MiB ("70.1, 70.3").
    pub(crate) fn after_close_mib(&self) -> String {
        let kib: Vec<String> = self
            .after_rss_kib
            .iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect();
        kib.join(", ")
    }
}

/// The outcome of one run.
#[derive(Debug)]
pub(crate) struct Report {
    /// What ran.
    pub(crate) config: Config,
    /// Connections that were established (and did their first round trip), in all
    /// waves.
    pub(crate) connected: usize,
    /// Round trips completed in the timed phase.
    pub(crate) round_trips: u64,
    /// Bytes echoed in the timed phase (each way).
    pub(crate) bytes: u64,
    /// From the start of the timed phase until the last connection's last round trip
    /// (the sum over the waves).
    pub(crate) elapsed: Duration,
    /// Every error: connections, round trips, mismatches, server logs and exits.
    pub(crate) errors: usize,
    /// The first few error messages.
    pub(crate) error_messages: Vec<String>,
    /// The server processes (the echo server last).
    pub(crate) servers: Vec<ServerReport>,
}

impl Report {
    /// Round trips per second.
    pub(crate) fn round_trips_per_sec(&self) -> f64 {
        self.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// MiB per second, each way.
    pub(crate) fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / f64::from(1 << 20) / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One line of results.
    pub(crate) fn line(&self) -> String {
        let c = &self.config;
        let mut line = format!(
            "{} {} {}: {} connections, {} round trips, {:.1} MiB each way in {:.2}s: {:.0} round trips/s, {:.1} MiB/s, errors {}",
            c.runtime,
            c.target,
            c.transport,
            self.connected,
            self.round_trips,
            self.bytes as f64 / f64::from(1 << 20),
            self.elapsed.as_secs_f64(),
            self.round_trips_per_sec(),
            self.mib_per_sec(),
            self.errors,
        );
        for s in &self.servers {
            line.push_str(&format!(
                "; {} server: {} connections logged closed, RSS idle {:.1} MiB, peak {:.1} MiB, after close {} MiB",
                s.name,
                s.closed,
                s.idle_rss_kib as f64 / 1024.0,
                s.peak_rss_kib as f64 / 1024.0,
                s.after_close_mib(),
            ));
        }
        line
    }
}

/// Collected errors.
#[derive(Debug, Default)]
struct Errors {
    count: usize,
    messages: Vec<String>,
}

impl Errors {
    fn add(&mut self, message: String) {
        self.count += 1;
        if self.messages.len() < KEPT_ERRORS {
            self.messages.push(message);
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (children inherit it) and checks
/// it allows `connections` (the relay holds two descriptors per connection).
pub(crate) fn raise_fd_limit(connections: usize) -> Result<u64, String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        ));
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(format!(
                "setrlimit(RLIMIT_NOFILE, {}): {}",
                limit.rlim_max,
                std::io::Error::last_os_error()
            ));
        }
    }
    let need = 2 * connections as u64 + SPARE_FDS;
    if limit.rlim_cur < need {
        return Err(format!(
            "the open-files limit (RLIMIT_NOFILE, hard limit {}) is too low for {connections} \
             connections: the relay needs about {need} descriptors; raise the hard limit \
             (ulimit -Hn, limits.conf) or ask for fewer connections",
            limit.rlim_max
        ));
    }
    Ok(limit.rlim_cur)
}

/// How many connections the current open-files limit allows (see
/// [`raise_fd_limit`]), for a caller that would rather run fewer than fail.
#[allow(dead_code)] // Used by the CI test, not by the benchmark.
pub(crate) fn connections_within_fd_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    (limit.rlim_cur.saturating_sub(SPARE_FDS) / 2) as usize
}

/// Runs one load test. Never hangs: every phase is bounded.
pub(crate) fn run(config: &Config) -> Report {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the load generator's tokio runtime starts");
    runtime.block_on(run_async(config))
}

/// Starts the servers of `config` in `dir`: the relay (if any) first, the echo server
/// last; gives them and the address to connect to.
fn start_servers(config: &Config, dir: &Path) -> (Vec<Server>, Addr) {
    let echo_listen = match config.transport {
        Transport::Tcp => "tcp:0:interface=127.0.0.1:backlog=2048".to_owned(),
        Transport::Unix => format!("unix:{}:backlog=2048", socket(dir, "echo")),
    };
    let mut servers = Vec::new();
    let echo = Server::start("echo", config, &["listen", "--echo", &echo_listen], dir);
    let echo_addr = echo.address.clone();
    let connect_to = match config.target {
        Target::Echo => echo_addr,
        Target::Relay => {
            let relay_listen = match config.transport {
                Transport::Tcp => "tcp:0:interface=127.0.0.1:backlog=2048".to_owned(),
                Transport::Unix => format!("unix:{}:backlog=2048", socket(dir, "relay")),
            };
            let upstream = match &echo_addr {
                Addr::Tcp(port) => format!("tcp:127.0.0.1:{port}"),
                Addr::Unix(path) => format!("unix:{}", path.display()),
            };
            let relay = Server::start("relay", config, &["relay", &relay_listen, &upstream], dir);
            let addr = relay.address.clone();
            servers.push(relay);
            addr
        }
    };
    servers.push(echo);
    (servers, connect_to)
}

async fn run_async(config: &Config) -> Report {
    let mut errors = Errors::default();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut servers, connect_to) = start_servers(config, dir.path());
    let connect_to = Arc::new(connect_to);

    let mut connected = 0;
    let mut round_trips = 0;
    let mut bytes = 0;
    let mut elapsed = Duration::ZERO;
    for wave in 0..config.waves.max(1) {
        let w = run_wave(config, wave as u64, &connect_to, &mut errors).await;
        connected += w.connected;
        round_trips += w.round_trips;
        bytes += w.bytes;
        elapsed += w.elapsed;
        // Every connection is closed on our side: the servers must log each one.
        for server in servers.iter_mut() {
            server.wait_closed(connected, &mut errors);
            server
                .after_waves_kib
                .push(memory(server.child.id()).map_or(0, |m| m.rss_kib));
        }
    }
    let mut reports = Vec::new();
    for server in servers {
        reports.push(server.stop(connected, &mut errors));
    }
    Report {
        config: config.clone(),
        connected,
        round_trips,
        bytes,
        elapsed,
        errors: errors.count,
        error_messages: errors.messages,
        servers: reports,
    }
}

/// What one wave of connections did.
struct Wave {
    connected: usize,
    round_trips: u64,
    bytes: u64,
    elapsed: Duration,
}

/// Opens `config.connections` connections, has them do round trips for
/// `config.duration`, and closes them.
async fn run_wave(config: &Config, wave: u64, connect_to: &Arc<Addr>, errors: &mut Errors) -> Wave {
    // Connect everything, each connection with one small round trip, before timing.
    let mut setup = JoinSet::new();
    for id in 0..config.connections {
        let addr = connect_to.clone();
        let seed = connection_seed(config.seed ^ mix(wave), id as u64);
        let max_message = config.max_message.clamp(1, MAX_MESSAGE);
        setup.spawn(async move {
            let open = Conn::open(id, &addr, seed, max_message);
            match tokio::time::timeout(CONNECT_TIMEOUT, open).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "connection {id}: connect and first round trip took over {CONNECT_TIMEOUT:?}"
                )),
            }
        });
    }
    let mut conns = Vec::with_capacity(config.connections);
    while let Some(joined) = setup.join_next().await {
        match joined {
            Ok(Ok(conn)) => conns.push(conn),
            Ok(Err(e)) => errors.add(e),
            Err(e) => errors.add(format!("a connect task failed: {e}")),
        }
    }
    let connected = conns.len();

    // The timed phase.
    let start = Instant::now();
    let stop_at = start + config.duration;
    let mut timed = JoinSet::new();
    for conn in conns {
        timed.spawn(conn.run(stop_at));
    }
    let run_deadline = stop_at + ROUND_TRIP_TIMEOUT + CLOSE_TIMEOUT + Duration::from_secs(10);
    let mut round_trips = 0;
    let mut bytes = 0;
    let mut last_end = start;
    let mut finished = 0;
    loop {
        match tokio::time::timeout_at(run_deadline.into(), timed.join_next()).await {
            Ok(Some(Ok(outcome))) => {
                finished += 1;
                round_trips += outcome.round_trips;
                bytes += outcome.bytes;
                last_end = last_end.max(outcome.last_round_trip_end);
                if let Some(e) = outcome.error {
                    errors.add(e);
                }
            }
            Ok(Some(Err(e))) => errors.add(format!("a connection task failed: {e}")),
            Ok(None) => break,
            Err(_) => {
                errors.add(format!(
                    "{} connection(s) still running at the run's deadline",
                    connected - finished
                ));
                timed.abort_all();
                break;
            }
        }
    }
    Wave {
        connected,
        round_trips,
        bytes,
        elapsed: last_end.saturating_duration_since(start),
    }
}

fn socket(dir: &Path, name: &str) -> String {
    dir.join(format!("{name}.sock")).display().to_string()
}

/// Where a server listens.
#[derive(Debug, Clone)]
enum Addr {
    Tcp(u16),
    Unix(PathBuf),
}

/// What the stderr reader thread saw.
#[derive(Debug, Default)]
struct LogStats {
    /// "connection closed" lines.
    closed: usize,
    /// Problems: summary lines that are not a clean echo, warnings, errors.
    problems: Vec<String>,
}

/// A running `strports` server process.
struct Server {
    name: &'static str,
    child: Child,
    address: Addr,
    idle_rss_kib: u64,
    after_waves_kib: Vec<u64>,
    stats: Arc<Mutex<LogStats>>,
    log_reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(name: &'static str, config: &Config, args: &[&str], dir: &Path) -> Server {
        let mut child = Command::new(&config.binary)
            .args(args)
            .args(["--runtime", &config.runtime, "--grace", "5"])
            .args(&config.server_args)
            .env_remove("RUST_LOG")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", config.binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let stats = Arc::new(Mutex::new(LogStats::default()));
        let (tx, listening) = mpsc::channel();
        let thread_stats = stats.clone();
        let log_reader = thread::spawn(move || read_log(stderr, &thread_stats, &tx));
        let address = wait_listening(name, &mut child, &listening);
        let idle_rss_kib = memory(child.id()).map_or(0, |m| m.rss_kib);
        Server {
            name,
            child,
            address,
            idle_rss_kib,
            after_waves_kib: Vec::new(),
            stats,
            log_reader: Some(log_reader),
        }
    }

    /// Waits until the server logged `connections` closed connections.
    fn wait_closed(&mut self, connections: usize, errors: &mut Errors) {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let closed = self.stats.lock().expect("log stats").closed;
            if closed >= connections {
                return;
            }
            if Instant::now() > deadline {
                errors.add(format!(
                    "{}: logged {closed} closed connection(s) of {connections} within {LOG_TIMEOUT:?}",
                    self.name
                ));
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads its memory, stops it with SIGTERM and checks its exit and logs.
    fn stop(mut self, connections: usize, errors: &mut Errors) -> ServerReport {
        let pid = self.child.id();
        let mem = memory(pid).unwrap_or_else(|e| {
            errors.add(format!(
                "{}: cannot read /proc/{pid}/status: {e}",
                self.name
            ));
            Memory::default()
        });
        let raw_pid = libc::pid_t::try_from(pid).expect("a pid fits pid_t");
        // SAFETY: kill(2) on our own child, which has not been waited for.
        if unsafe { libc::kill(raw_pid, libc::SIGTERM) } != 0 {
            errors.add(format!(
                "{}: cannot send SIGTERM: {}",
                self.name,
                std::io::Error::last_os_error()
            ));
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    errors.add(format!("{}: exited with {status} after SIGTERM", self.name));
                    break;
                }
                Ok(None) if Instant::now() > deadline => {
                    errors.add(format!(
                        "{}: still running {STOP_TIMEOUT:?} after SIGTERM; killed",
                        self.name
                    ));
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    errors.add(format!("{}: waiting for it: {e}", self.name));
                    break;
                }
            }
        }
        // The process is gone, so its stderr is at EOF, unless a child of its own
        // still holds it: wait a bounded time for the reader.
        if let Some(reader) = self.log_reader.take() {
            let deadline = Instant::now() + LOG_TIMEOUT;
            while !reader.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            } else {
                errors.add(format!(
                    "{}: its stderr is still open {LOG_TIMEOUT:?} after it exited",
                    self.name
                ));
            }
        }
        let stats = self.stats.lock().expect("log stats");
        for problem in &stats.problems {
            errors.add(format!("{}: {problem}", self.name));
        }
        if stats.closed != connections {
            errors.add(format!(
                "{}: logged {} closed connection(s), expected {connections}",
                self.name, stats.closed
            ));
        }
        ServerReport {
            name: self.name,
            idle_rss_kib: self.idle_rss_kib,
            peak_rss_kib: mem.peak_kib,
            after_rss_kib: std::mem::take(&mut self.after_waves_kib),
            closed: stats.closed,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only does something if `stop` did not run (a panic).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a server's stderr: reports its listening address, counts and checks its
/// per-connection summary lines, and keeps warnings and errors.
fn read_log(
    stderr: std::process::ChildStderr,
    stats: &Mutex<LogStats>,
    listening: &mpsc::Sender<String>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(at) = line.find("listening on ") {
            let rest = &line[at + "listening on ".len()..];
            let addr = rest.split_whitespace().next().unwrap_or_default();
            let _ = listening.send(addr.to_owned());
            continue;
        }
        let mut stats = stats.lock().expect("log stats");
        if line.contains("connection closed") {
            stats.closed += 1;
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            let end = line
                .find(" end=")
                .map(|at| &line[at + " end=".len()..])
                .unwrap_or("");
            if end != "closed" || field("from_peer=") != field("to_peer=") {
                stats
                    .problems
                    .push(format!("unexpected summary line: {line}"));
            }
        } else if line.contains(" WARN ") || line.contains("ERROR ") || line.starts_with("error") {
            stats.problems.push(format!("logged: {line}"));
        }
    }
}

fn wait_listening(name: &str, child: &mut Child, listening: &Receiver<String>) -> Addr {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match listening.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => {
                if let Some(port) = addr
                    .rsplit_once(':')
                    .and_then(|(_, port)| port.parse().ok())
                    .filter(|_| addr.starts_with("127.0.0.1:"))
                {
                    return Addr::Tcp(port);
                }
                return Addr::Unix(PathBuf::from(addr));
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the {name} server exited at start with {status}");
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the {name} server did not log \"listening on\" ({e})");
            }
        }
    }
}

/// RSS figures from `/proc/<pid>/status`.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

fn memory(pid: u32) -> std::io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    })
}

// ---- Idle connections ----

/// Connections opened at once while setting up an idle run.
const IDLE_BATCH: usize = 500;
/// How long the servers get to settle once every idle connection is open.
const IDLE_SETTLE: Duration = Duration::from_secs(2);

#[allow(dead_code)] // Used by the benchmark, not by the CI test.
/// The memory of one server holding idle connections.
#[derive(Debug, Clone)]
pub(crate) struct IdleServer {
    /// "echo" or "relay".
    pub(crate) name: &'static str,
    /// RSS before any connection (KiB).
    pub(crate) before_kib: u64,
    /// RSS with every connection open and idle (KiB).
    pub(crate) with_kib: u64,
}

#[allow(dead_code)] // Used by the benchmark, not by the CI test.
impl IdleServer {
    /// (RSS with the connections - RSS before) / connections, in KiB.
    pub(crate) fn kib_per_connection(&self, connections: usize) -> f64 {
        (self.with_kib as f64 - self.before_kib as f64) / connections.max(1) as f64
    }
}

#[allow(dead_code)] // Used by the benchmark, not by the CI test.
/// The outcome of an idle run.
#[derive(Debug)]
pub(crate) struct IdleReport {
    /// What ran (`connections` idle connections).
    pub(crate) config: Config,
    /// Connections established (and echoed their byte).
    pub(crate) connected: usize,
    /// Every error: connections, closes, server logs and exits.
    pub(crate) errors: usize,
    /// The first few error messages.
    pub(crate) error_messages: Vec<String>,
    /// The server processes (the echo server last).
    pub(crate) servers: Vec<IdleServer>,
}

#[allow(dead_code)] // Used by the benchmark, not by the CI test.
impl IdleReport {
    /// One line of results.
    pub(crate) fn line(&self) -> String {
        let c = &self.config;
        let mut line = format!(
            "{} {} {} idle: {} connections open, errors {}",
            c.runtime, c.target, c.transport, self.connected, self.errors
        );
        for s in &self.servers {
            line.push_str(&format!(
                "; {} server RSS {:.1} MiB before, {:.1} MiB with them: {:.2} KiB per connection",
                s.name,
                s.before_kib as f64 / 1024.0,
                s.with_kib as f64 / 1024.0,
                s.kib_per_connection(self.connected),
            ));
        }
        line
    }
}

#[allow(dead_code)] // Used by the benchmark, not by the CI test.
/// Holds `config.connections` idle connections open through the servers and
/// reads what they cost: each connection sends one byte and reads its echo (so
/// that every leg is established: client to relay, relay to echo server), then
/// all stay open without traffic while the servers' RSS is read; then each
/// half-closes and must read EOF, and the servers must log every connection
/// closed and exit 0 on SIGTERM.
pub(crate) fn run_idle(config: &Config) -> IdleReport {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the load generator's tokio runtime starts");
    runtime.block_on(run_idle_async(config))
}

async fn run_idle_async(config: &Config) -> IdleReport {
    let mut errors = Errors::default();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (mut servers, connect_to) = start_servers(config, dir.path());
    let connect_to = Arc::new(connect_to);
    // Let the servers finish starting before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<u64> = servers
        .iter()
        .map(|s| memory(s.child.id()).map_or(0, |m| m.rss_kib))
        .collect();
    let mut conns = Vec::with_capacity(config.connections);
    let mut next = 0;
    while next < config.connections {
        let mut batch = JoinSet::new();
        for id in next..(next + IDLE_BATCH).min(config.connections) {
            let addr = connect_to.clone();
            batch.spawn(async move {
                tokio::time::timeout(CONNECT_TIMEOUT, open_idle(id, &addr))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "connection {id}: connect and one-byte echo took over {CONNECT_TIMEOUT:?}"
                        ))
                    })
            });
        }
        next += IDLE_BATCH;
        while let Some(joined) = batch.join_next().await {
            match joined {
                Ok(Ok(conn)) => conns.push(conn),
                Ok(Err(e)) => errors.add(e),
                Err(e) => errors.add(format!("a connect task failed: {e}")),
            }
        }
    }
    let connected = conns.len();
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle: Vec<IdleServer> = servers
        .iter()
        .zip(before)
        .map(|(s, before_kib)| IdleServer {
            name: s.name,
            before_kib,
            with_kib: memory(s.child.id()).map_or(0, |m| m.rss_kib),
        })
        .collect();
    // Close them all, checking each gets EOF.
    let mut closing = JoinSet::new();
    for (id, mut stream) in conns.into_iter().enumerate() {
        closing.spawn(async move {
            let close = async {
                stream
                    .shutdown()
                    .await
                    .map_err(|e| format!("connection {id}: half-close: {e}"))?;
                let mut byte = [0u8; 1];
                match stream.read(&mut byte).await {
                    Ok(0) => Ok(()),
                    Ok(_) => Err(format!("connection {id}: a byte after the echo")),
                    Err(e) => Err(format!("connection {id}: read after half-close: {e}")),
                }
            };
            tokio::time::timeout(CLOSE_TIMEOUT, close)
                .await
                .unwrap_or_else(|_| {
                    Err(format!("connection {id}: no EOF within {CLOSE_TIMEOUT:?}"))
                })
        });
    }
    while let Some(joined) = closing.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.add(e),
            Err(e) => errors.add(format!("a close task failed: {e}")),
        }
    }
    for server in servers.iter_mut() {
        server.wait_closed(connected, &mut errors);
    }
    for server in servers {
        server.stop(connected, &mut errors);
    }
    IdleReport {
        config: config.clone(),
        connected,
        errors: errors.count,
        error_messages: errors.messages,
        servers: idle,
    }
}

/// Connects, sends one byte and reads it back.
async fn open_idle(id: usize, addr: &Addr) -> Result<Box<dyn Io>, String> {
    let mut stream: Box<dyn Io> = match addr {
        Addr::Tcp(port) => {
            let s = TcpStream::connect(("127.0.0.1", *port))
                .await
                .map_err(|e| format!("connection {id}: connect: {e}"))?;
            s.set_nodelay(true)
                .map_err(|e| format!("connection {id}: TCP_NODELAY: {e}"))?;
            Box::new(s)
        }
        Addr::Unix(path) => Box::new(
            UnixStream::connect(path)
                .await
                .map_err(|e| format!("connection {id}: connect: {e}"))?,
        ),
    };
    let sent = [id as u8];
    stream
        .write_all(&sent)
        .await
        .map_err(|e| format!("connection {id}: write: {e}"))?;
    let mut got = [0u8; 1];
    stream
        .read_exact(&mut got)
        .await
        .map_err(|e| format!("connection {id}: read the echo: {e}"))?;
    if got != sent {
        return Err(format!(
            "connection {id}: echoed {:#04x}, sent {:#04x}",
            got[0], sent[0]
        ));
    }
    Ok(stream)
}

// ---- The connections ----

/// A client stream of either transport.
trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// One client connection and its position in its byte stream.
struct Conn {
    id: usize,
    reader: ReadHalf<Box<dyn Io>>,
    writer: WriteHalf<Box<dyn Io>>,
    /// Seed of the content and of the message sizes.
    seed: u64,
    /// Message sizes.
    sizes: SplitMix,
    /// Largest message size.
    max_message: usize,
    /// Offset of the next byte in the connection's stream (both ways).
    offset: u64,
    write_buf: Box<[u8]>,
    read_buf: Box<[u8]>,
}

/// What one connection did in the timed phase.
struct Outcome {
    round_trips: u64,
    bytes: u64,
    last_round_trip_end: Instant,
    error: Option<String>,
}

impl Conn {
    async fn open(id: usize, addr: &Addr, seed: u64, max_message: usize) -> Result<Conn, String> {
        let stream: Box<dyn Io> = match addr {
            Addr::Tcp(port) => {
                let s = TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .map_err(|e| format!("connection {id}: connect: {e}"))?;
                s.set_nodelay(true)
                    .map_err(|e| format!("connection {id}: TCP_NODELAY: {e}"))?;
                Box::new(s)
            }
            Addr::Unix(path) => Box::new(
                UnixStream::connect(path)
                    .await
                    .map_err(|e| format!("connection {id}: connect: {e}"))?,
            ),
        };
        let (reader, writer) = tokio::io::split(stream);
        let mut conn = Conn {
            id,
            reader,
            writer,
            seed,
            sizes: SplitMix(seed ^ 0x5157_4e5a_1e55_a9e5),
            max_message,
            offset: 0,
            write_buf: vec![0; CHUNK].into_boxed_slice(),
            read_buf: vec![0; CHUNK].into_boxed_slice(),
        };
        // One small round trip: the connection goes all the way through.
        conn.round_trip(16).await?;
        Ok(conn)
    }

    /// Round trips until `stop_at`, then a half-close that must be answered by EOF.
    async fn run(mut self, stop_at: Instant) -> Outcome {
        let mut outcome = Outcome {
            round_trips: 0,
            bytes: 0,
            last_round_trip_end: Instant::now(),
            error: None,
        };
        while Instant::now() < stop_at {
            let size = self.next_size();
            match tokio::time::timeout(ROUND_TRIP_TIMEOUT, self.round_trip(size)).await {
                Ok(Ok(())) => {
                    outcome.round_trips += 1;
                    outcome.bytes += size as u64;
                    outcome.last_round_trip_end = Instant::now();
                }
                Ok(Err(e)) => {
                    outcome.error = Some(e);
                    return outcome;
                }
                Err(_) => {
                    outcome.error = Some(format!(
                        "connection {}: a round trip of {size} bytes at offset {} took over {ROUND_TRIP_TIMEOUT:?}",
                        self.id, self.offset
                    ));
                    return outcome;
                }
            }
        }
        if let Err(e) = tokio::time::timeout(CLOSE_TIMEOUT, self.close())
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "connection {}: no EOF within {CLOSE_TIMEOUT:?} of the half-close",
                    self.id
                ))
            })
        {
            outcome.error = Some(e);
        }
        outcome
    }

    /// A message size: mostly small, some medium, a few up to [`MAX_MESSAGE`] (no
    /// more than `max_message`).
    fn next_size(&mut self) -> usize {
        let r = self.sizes.next();
        let pick = (r >> 32) % 100;
        let span = match pick {
            0..50 => 256,
            50..85 => 4096,
            _ => MAX_MESSAGE,
        };
        1 + (r as usize & 0xffff_ffff) % span.min(self.max_message)
    }

    /// Writes `size` bytes of the stream while reading them back and checking each.
    async fn round_trip(&mut self, size: usize) -> Result<(), String> {
        let id = self.id;
        let seed = self.seed;
        let offset = self.offset;
        let writer = &mut self.writer;
        let write_buf = &mut self.write_buf;
        let write = async move {
            let mut sent = 0;
            while sent < size {
                let n = (size - sent).min(CHUNK);
                fill(seed, offset + sent as u64, &mut write_buf[..n]);
                writer
                    .write_all(&write_buf[..n])
                    .await
                    .map_err(|e| format!("connection {id}: write: {e}"))?;
                sent += n;
            }
            Ok::<(), String>(())
        };
        let reader = &mut self.reader;
        let read_buf = &mut self.read_buf;
        let read = async move {
            let mut got = 0;
            let mut expected = [0u8; 4096];
            while got < size {
                let want = (size - got).min(CHUNK);
                let n = reader
                    .read(&mut read_buf[..want])
                    .await
                    .map_err(|e| format!("connection {id}: read: {e}"))?;
                if n == 0 {
                    return Err(format!(
                        "connection {id}: EOF after {got} of {size} echoed bytes at offset {offset}"
                    ));
                }
                let mut checked = 0;
                while checked < n {
                    let m = (n - checked).min(expected.len());
                    let at = offset + (got + checked) as u64;
                    fill(seed, at, &mut expected[..m]);
                    let received = &read_buf[checked..checked + m];
                    if received != &expected[..m] {
                        let i = received
                            .iter()
                            .zip(&expected[..m])
                            .position(|(a, b)| a != b)
                            .unwrap_or(0);
                        return Err(format!(
                            "connection {id}: byte {} of the stream is {:#04x}, sent {:#04x}",
                            at + i as u64,
                            received[i],
                            expected[i]
                        ));
                    }
                    checked += m;
                }
                got += n;
            }
            Ok::<(), String>(())
        };
        let (w, r) = tokio::join!(write, read);
        r?;
        w?;
        self.offset += size as u64;
        Ok(())
    }

    /// Half-closes and expects EOF with no further byte.
    async fn close(&mut self) -> Result<(), String> {
        let id = self.id;
        self.writer
            .shutdown()
            .await
            .map_err(|e| format!("connection {id}: half-close: {e}"))?;
        let n = self
            .reader
            .read(&mut self.read_buf)
            .await
            .map_err(|e| format!("connection {id}: read after half-close: {e}"))?;
        if n != 0 {
            return Err(format!(
                "connection {id}: {n} unexpected byte(s) after the last round trip (offset {})",
                self.offset
            ));
        }
        Ok(())
    }
}

/// SplitMix64: small, fast, good enough to vary sizes and content.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn connection_seed(run_seed: u64, id: u64) -> u64 {
    mix(run_seed ^ mix(id.wrapping_add(1)))
}

/// The bytes at `offset..offset + buf.len()` of the stream with this seed: byte `i` is
/// byte `i % 8` of `mix(seed + i / 8)`.
pub(crate) fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = mix(seed.wrapping_add(pos / 8)).to_le_bytes();
        let skip = (pos % 8) as usize;
        let n = (8 - skip).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[skip..skip + n]);
        i += n;
        pos += n as u64;
    }
}
