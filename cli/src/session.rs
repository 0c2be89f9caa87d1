//! The networking commands, once, for any [`CliRuntime`]: servers as the
//! library's serve loop (connection limit, accept-error back-off, graceful stop)
//! with one handler per connection, the stdio sessions of `connect` and `listen`
//! (without `--echo`/`--exec`), the per connection summary, and the exit status.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_listener::Event;
use futures_lite::future;
use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader, Version};
use strports_core::{Address, ClientDescription, ServerDescription};
use strports_endpoints::{
    Client, Connector, Listener, Reloader, Runtime, Server, Stream, TlsServerOptions,
    serve_many_with,
};
use tracing::{debug, error, info, warn};

use crate::conns::{Conns, LoopGuard, Slot};
use crate::pipe::{End, Pipe};
use crate::runtime::{CliRuntime, Signal, next_signal};

/// Exit status: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the command ran but failed (cannot listen or connect, a bad
/// description, a connection that ended with an error).
pub(crate) const EXIT_FAILURE: u8 = 1;

/// How long cancelled connections get to close after the grace period (and how
/// long after it the serve loop must have cut them).
const CANCEL_WAIT: Duration = Duration::from_secs(1);

/// What a server does with each accepted connection.
#[derive(Debug, Clone)]
pub(crate) enum Handler {
    /// Write back everything received.
    Echo,
    /// Connect `desc` (a network client, or `process:` for `--exec`) and copy both
    /// ways; `name` names that side in logs.
    Connect {
        /// Where to connect for each connection.
        desc: ClientDescription,
        /// "upstream" or "child".
        name: &'static str,
        /// Send a PROXY header of this version naming the client first.
        send_proxy: Option<Version>,
    },
}

/// The options of servers (`listen --echo`, `listen --exec`, `relay`).
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// For `haproxy:` wrappers: trust, time limits, caps.
    pub(crate) haproxy: HaproxyOptions,
    /// For TLS handshakes: time limits, caps.
    pub(crate) tls: TlsServerOptions,
    /// At most this many connections at once; more wait in the listen backlog.
    pub(crate) max_connections: Option<usize>,
    /// Close a connection with no traffic either way for this long.
    pub(crate) idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long open connections may still run.
    pub(crate) grace: Duration,
    /// Runtime threads accepting from the listener (see [`serve`]).
    pub(crate) threads: usize,
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Runs both futures; the first to finish wins (`a` is polled first).
async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    future::or(async { Either::Left(a.await) }, async {
        Either::Right(b.await)
    })
    .await
}

/// How a connection ended, for its summary line.
enum Outcome {
    Pipe(End),
    ConnectFailed(io::Error),
    /// Cut after the shutdown grace period.
    Cancelled,
    /// Interrupted by a signal (stdio sessions).
    Signal(Signal),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pipe(end) => end.fmt(f),
            Outcome::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            Outcome::Cancelled => f.write_str("cut at shutdown (grace period over)"),
            Outcome::Signal(s) => write!(f, "interrupted by {}", s.name()),
        }
    }
}

/// A duration in seconds with millisecond precision.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.0.as_secs_f64())
    }
}

/// The one info line per connection.
fn summary(peer: &dyn fmt::Display, counts: (u64, u64), start: Instant, outcome: &Outcome) {
    info!(
        peer = %peer,
        from_peer = counts.0,
        to_peer = counts.1,
        duration = %Secs(start.elapsed()),
        end = %outcome,
        "connection closed"
    );
}

/// Prints a fatal error: always shown, whatever the log level.
fn fatal(error: &dyn fmt::Display) -> u8 {
    eprintln!("error: {error}");
    EXIT_FAILURE
}

/// `listen --echo`, `listen --exec` and `relay`: the library's serve loop
/// ([`serve_many_with`]) over the listeners of `servers` (one or more, all opened
/// before any is served), each connection handled by `handler` in its own task,
/// until SIGINT/SIGTERM (or until the listeners have no more connections: `stdio`,
/// after its one). The listeners share the connection limit and stop together.
///
/// systemd is told `READY=1` once every listener is open, `STOPPING=1` at the
/// first SIGINT/SIGTERM ([`crate::notify`]). SIGHUP reloads the certificates of
/// `ssl:` and `tls:` servers ([`reload`]); other servers log it and go on.
///
/// With `options.threads` above 1 (and listeners that can all be shared, see
/// [`shareable`]), each listening socket is opened once, here, and each further
/// thread adopts its own copy of each (a `dup` of the descriptor, listened on as
/// `fd:N:domain=...`, inside `haproxy:` again for a `haproxy:` server): every thread
/// runs its own runtime (`R::run`) and serve loop accepting from the one socket,
/// so the kernel's single accept queue spreads the connections over the threads.
/// This thread handles the signals and tells the others (through [`Threads`]).
///
/// At most `max_connections` run at once: the limit is divided between the
/// threads (never more threads than connections), and as they share one accept
/// queue a connection only waits there while every thread is at its share, that
/// is while `max_connections` run. While all are taken the loops do not accept,
/// so new connections wait in the kernel's listen backlog. On the first signal
/// every loop stops accepting and closes its listener, open connections get
/// `grace` to finish, then the rest are cut; a second signal cuts them at once.
pub(crate) async fn serve<R: CliRuntime>(
    spawner: R::Spawner,
    servers: Vec<ServerDescription>,
    handler: Handler,
    options: ServeOptions,
) -> u8 {
    let mut signals = match R::signals(true) {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let mut listeners = Vec::with_capacity(servers.len());
    for server in &servers {
        match open::<R>(server, &options).await {
            Ok(l) => listeners.push(l),
            Err(e) => return fatal(&e),
        }
    }
    let threads = if servers.iter().all(shareable) {
        options
            .threads
            .min(options.max_connections.unwrap_or(usize::MAX))
            .max(1)
    } else {
        1
    };
    let conns = Arc::new(Conns::default());
    let control = Arc::new(Threads::default());
    let workers = threads - 1;
    for index in 1..threads {
        let copies = listeners
            .iter()
            .zip(&servers)
            .map(|(listener, server)| copy_description(listener, server))
            .collect::<io::Result<Vec<_>>>();
        let started = copies.and_then(|desc| {
            let (handler, conns, control) = (handler.clone(), conns.clone(), control.clone());
            let options = options.clone();
            std::thread::Builder::new()
                .name(format!("strports-{index}"))
                .spawn(move || {
                    R::run(|spawner| {
                        worker::<R>(
                            spawner,
                            desc,
                            handler,
                            options,
                            (index, threads),
                            conns,
                            control,
                        )
                    })
                })
        });
        if let Err(e) = started {
            control.set_phase(CUT);
            return fatal(&format_args!("cannot start server thread {index}: {e}"));
        }
    }
    control
        .until(|c| c.count(&c.ready) + c.failed_count() >= workers)
        .await;
    if let Some(e) = control.first_failure() {
        control.set_phase(CUT);
        return fatal(&e);
    }
    for (listener, server) in listeners.iter().zip(&servers) {
        match listener.local_addr() {
            Ok(local) => info!(server = %server, "listening on {local}"),
            Err(_) => info!(server = %server, "listening"),
        }
    }
    let reloader: Reloader<R> = listeners.iter().map(Listener::reloader).collect();
    if threads > 1 {
        debug!("accepting on {threads} threads");
    }
    let shared = Arc::new(Shared::new(
        handler,
        &options,
        conns.clone(),
        Some(conns.loop_guard()),
    ));
    let mut serving = serve_many_with(
        &spawner,
        listeners,
        library_options(&options, (0, threads)),
        move |stream, peer, _| connection::<R>(stream, peer, shared.clone()),
    );
    crate::notify::ready();
    let others_finished = || control.until(|c| c.count(&c.finished) >= workers);
    let signal = loop {
        match race(conns.loop_ended(), next_signal::<R>(&mut signals)).await {
            Either::Left(()) => {
                crate::notify::stopping();
                control.set_phase(STOP);
                future::zip(serving.stop(), others_finished()).await;
                return EXIT_OK;
            }
            Either::Right(Signal::Hangup) => reload(&reloader).await,
            Either::Right(signal) => break signal,
        }
    };
    // The loops close their listeners (a unix socket file is removed) as soon as
    // they run; the running connections go on.
    crate::notify::stopping();
    control.set_phase(STOP);
    serving.stop_accepting().await;
    control
        .until(|c| c.count(&c.stopped_accepting) >= workers)
        .await;
    info!(
        "{}: stopped accepting; waiting up to {} for {} open connection(s)",
        signal.name(),
        Secs(options.grace),
        conns.live()
    );
    // The loops cut the connections left when the grace period is over; this
    // deadline is a backstop.
    let cut_at = R::now() + options.grace + CANCEL_WAIT;
    let reason = match race(
        future::zip(serving.stop(), others_finished()),
        race(R::sleep_until(cut_at), next_stop_signal::<R>(&mut signals)),
    )
    .await
    {
        Either::Left(_) => return EXIT_OK,
        Either::Right(Either::Left(_)) => "grace period over",
        Either::Right(Either::Right(_)) => "second signal",
    };
    // Dropping the stop (with the race) dropped this thread's serve loop: its
    // connection tasks are being cancelled, each logging its summary as its
    // handler is dropped; the other threads drop theirs when told.
    warn!("{reason}: closing {} open connection(s)", conns.live());
    control.set_phase(CUT);
    let _ = race(
        future::zip(conns.all_done(), others_finished()),
        R::sleep_until(R::now() + CANCEL_WAIT),
    )
    .await;
    EXIT_OK
}

/// SIGHUP: re-reads the certificates of the `ssl:` and `tls:` servers in
/// `reloader` (new handshakes get them; open connections go on; a server whose new
/// files are bad keeps its old ones, and the error is logged), between
/// `RELOADING=1` and `READY=1` to systemd.
async fn reload<R: Runtime>(reloader: &Reloader<R>) {
    crate::notify::reloading();
    if reloader.is_empty() {
        info!("SIGHUP: no certificates to reload");
    } else {
        let servers = || {
            let names: Vec<String> = reloader.servers().map(ToString::to_string).collect();
            names.join(", ")
        };
        match reloader.reload().await {
            Ok(_) => info!("SIGHUP: certificates reloaded: {}", servers()),
            Err(e) => {
                for failure in e.failures() {
                    error!("SIGHUP: {failure}");
                }
                if e.reloaded() > 0 {
                    info!("SIGHUP: the other servers' certificates were reloaded");
                }
            }
        }
    }
    crate::notify::ready();
}

/// The next SIGINT or SIGTERM; a SIGHUP meanwhile (while stopping) is ignored.
async fn next_stop_signal<R: CliRuntime>(signals: &mut R::Signals) -> Signal {
    loop {
        match next_signal::<R>(signals).await {
            Signal::Hangup => info!("SIGHUP ignored: stopping"),
            signal => return signal,
        }
    }
}

/// Listens on `server` with the admission options.
async fn open<R: Runtime>(
    server: &ServerDescription,
    options: &ServeOptions,
) -> io::Result<Listener<R>> {
    Server::<R>::new(server.clone())
        .with_haproxy_options(options.haproxy.clone())
        .with_tls_options(options.tls)
        .listen()
        .await
}

/// Whether every thread can accept from its own copy of the listening socket:
/// plain sockets (`tcp`, `tcp6`, `unix`, `systemd`, `fd`), also behind `haproxy:`.
/// Not `stdio` (one connection), nor `ssl:`/`tls:` (their TLS listener is built
/// from the description: they run on one thread), nor extension types.
fn shareable(server: &ServerDescription) -> bool {
    fn plain(server: &ServerDescription) -> bool {
        matches!(
            server,
            ServerDescription::Tcp(_)
                | ServerDescription::Tcp6(_)
                | ServerDescription::Unix(_)
                | ServerDescription::Systemd(_)
                | ServerDescription::Adopted(_)
        )
    }
    match server {
        ServerDescription::Haproxy(inner) => plain(inner),
        other => plain(other),
    }
}

/// A description that adopts a new copy (`dup`, close-on-exec) of `listener`'s
/// socket: `fd:N:domain=...`, inside `haproxy:` for a `haproxy:` server.
fn copy_description(
    listener: &impl AsFd,
    server: &ServerDescription,
) -> io::Result<ServerDescription> {
    let copy = listener.as_fd().try_clone_to_owned()?;
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on an open descriptor, writing an int into `domain`.
    let got = unsafe {
        libc::getsockopt(
            copy.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&raw mut domain).cast(),
            &raw mut len,
        )
    };
    if got != 0 {
        return Err(io::Error::last_os_error());
    }
    let domain = match domain {
        libc::AF_INET => "INET",
        libc::AF_INET6 => "INET6",
        _ => "UNIX",
    };
    let adopted = format!("fd:{}:domain={domain}", copy.into_raw_fd());
    let text = match server {
        ServerDescription::Haproxy(_) => format!("haproxy:{adopted}"),
        _ => adopted,
    };
    text.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{text}: {e}")))
}

/// The library's options for thread `index` of `threads`: its share of the
/// connection limit.
fn library_options(
    options: &ServeOptions,
    (index, threads): (usize, usize),
) -> strports_endpoints::ServeOptions {
    let serve_options = strports_endpoints::ServeOptions::new().with_grace(options.grace);
    match options.max_connections {
        Some(max) => {
            serve_options.with_max_connections(max / threads + usize::from(index < max % threads))
        }
        None => serve_options,
    }
}

/// Phase of a multi-threaded server (set by the thread that handles the signals;
/// 0 while serving): stop accepting, then stop with the grace period.
const STOP: u8 = 1;
/// Cut the connections left now.
const CUT: u8 = 2;

/// How the thread handling signals tells the other server threads to stop, and
/// how they report back. Runtime-independent (atomics and an event-listener).
#[derive(Debug, Default)]
struct Threads {
    /// 0 (serving), [`STOP`] or [`CUT`]: only goes up.
    phase: AtomicU8,
    /// Threads listening on their copy of the socket.
    ready: AtomicUsize,
    /// Why threads could not listen.
    failed: Mutex<Vec<String>>,
    /// Threads that closed their listener after [`STOP`].
    stopped_accepting: AtomicUsize,
    /// Threads whose loop and connections are all gone.
    finished: AtomicUsize,
    /// Notified on every change.
    changed: Event,
}

impl Threads {
    fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    fn set_phase(&self, phase: u8) {
        self.phase.fetch_max(phase, Ordering::AcqRel);
        self.changed.notify(usize::MAX);
    }

    fn count(&self, counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Acquire)
    }

    fn add(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::AcqRel);
        self.changed.notify(usize::MAX);
    }

    fn fail(&self, why: String) {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(why);
        self.changed.notify(usize::MAX);
    }

    fn failed_count(&self) -> usize {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn first_failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first()
            .cloned()
    }

    /// Waits until `done` holds, re-checking whenever something changed.
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        crate::conns::wait_until(&self.changed, || done(self)).await;
    }
}

/// Thread `index` of a multi-threaded server (not the one handling signals): its
/// own serve loop on its copies of the listening sockets (`descs`), stopped as
/// [`Threads`] says.
async fn worker<R: CliRuntime>(
    spawner: R::Spawner,
    descs: Vec<ServerDescription>,
    handler: Handler,
    options: ServeOptions,
    thread: (usize, usize),
    conns: Arc<Conns>,
    control: Arc<Threads>,
) -> u8 {
    let mut listeners = Vec::with_capacity(descs.len());
    for desc in &descs {
        match open::<R>(desc, &options).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                control.fail(format!("server thread {}: {e}", thread.0));
                return EXIT_FAILURE;
            }
        }
    }
    control.add(&control.ready);
    let shared = Arc::new(Shared::new(handler, &options, conns.clone(), None));
    let mut serving = serve_many_with(
        &spawner,
        listeners,
        library_options(&options, thread),
        move |stream, peer, _| connection::<R>(stream, peer, shared.clone()),
    );
    control.until(|c| c.phase() >= STOP).await;
    serving.stop_accepting().await;
    control.add(&control.stopped_accepting);
    if let Either::Right(()) = race(serving.stop(), control.until(|c| c.phase() >= CUT)).await {
        // The serve loop was dropped: its connections are being cancelled.
        let _ = race(conns.all_done(), R::sleep_until(R::now() + CANCEL_WAIT)).await;
    }
    control.add(&control.finished);
    EXIT_OK
}

/// What each connection of a server shares: the handler and its options, the
/// count of live connections, and the guard that marks the loop ended once the
/// serve loop and every connection have dropped their share.
struct Shared<R: Runtime> {
    handler: Serve<R>,
    idle: Option<Duration>,
    max_connections: Option<usize>,
    conns: Arc<Conns>,
    /// Only in the thread that handles the signals.
    _loop: Option<LoopGuard>,
}

impl<R: Runtime> Shared<R> {
    fn new(
        handler: Handler,
        options: &ServeOptions,
        conns: Arc<Conns>,
        loop_guard: Option<LoopGuard>,
    ) -> Self {
        Shared {
            handler: match handler {
                Handler::Echo => Serve::Echo,
                Handler::Connect {
                    desc,
                    name,
                    send_proxy,
                } => Serve::Connect {
                    client: Box::new(Client::with_connector(desc, connector())),
                    name,
                    send_proxy,
                },
            },
            idle: options.idle_timeout,
            max_connections: options.max_connections,
            conns,
            _loop: loop_guard,
        }
    }
}

/// [`Handler`], with a client endpoint made once (an `ssl:` client builds its TLS
/// config at the first connection and keeps it).
enum Serve<R: Runtime> {
    Echo,
    Connect {
        client: Box<Client<R>>,
        name: &'static str,
        send_proxy: Option<Version>,
    },
}

/// The summary of one connection, logged when it is dropped: when the handler
/// ends, or when the serve loop cancels it (dropping its future) after the grace
/// period, which is what an unset outcome means.
struct Summary<R: Runtime> {
    pipe: Option<Pipe<R, Stream<R>, Stream<R>>>,
    peer: Address,
    start: Instant,
    outcome: Option<Outcome>,
    /// Counted live until the summary is written.
    _slot: Slot,
}

impl<R: Runtime> Summary<R> {
    /// Runs `pipe`, kept here so that its counts are there even if it is cut.
    ///
    /// Not an `async fn`: its future would hold a second copy of the pipe (the
    /// argument) in the connection's task, for the connection's whole life.
    fn run(
        &mut self,
        pipe: Pipe<R, Stream<R>, Stream<R>>,
    ) -> impl Future<Output = Outcome> + use<'_, R> {
        let pipe = self.pipe.insert(pipe);
        async move { Outcome::Pipe(pipe.await) }
    }
}

impl<R: Runtime> Drop for Summary<R> {
    fn drop(&mut self) {
        let counts = self.pipe.as_ref().map_or((0, 0), Pipe::counts);
        // Close both streams before the summary, so its duration includes the close.
        self.pipe = None;
        let outcome = self.outcome.take().unwrap_or(Outcome::Cancelled);
        summary(&self.peer, counts, self.start, &outcome);
    }
}

/// One accepted connection of a server.
async fn connection<R: Runtime>(stream: Stream<R>, peer: Address, shared: Arc<Shared<R>>) {
    let (slot, live) = shared.conns.enter();
    let start = Instant::now();
    if shared.max_connections.is_some_and(|max| live >= max) {
        debug!(
            live,
            "all connection slots taken; new connections wait in the backlog"
        );
    }
    debug!(peer = %peer, "accepted");
    let mut summary = Summary {
        pipe: None,
        peer,
        start,
        outcome: None,
        _slot: slot,
    };
    let outcome = match &shared.handler {
        Serve::Echo => summary.run(Pipe::echo((stream, "peer"), shared.idle)).await,
        // Boxed: the connect future is large (about 3 KiB: resolution, happy
        // eyeballs, TLS) and short-lived; inline, every connection's task would be
        // that large for the connection's whole life, idle or not.
        Serve::Connect {
            client,
            name,
            send_proxy,
        } => match Box::pin(upstream(client, *send_proxy, &stream, &summary.peer)).await {
            Ok(other) => {
                debug!(peer = %summary.peer, "connected {name} {}", client.description());
                let pipe = Pipe::new((stream, "peer"), (other, *name), shared.idle);
                summary.run(pipe).await
            }
            Err(e) => Outcome::ConnectFailed(e),
        },
    };
    summary.outcome = Some(outcome);
}

/// The connector of every client the tool opens: the system resolver, and the
/// `socks5:` extension type.
fn connector<R: Runtime>() -> Connector<R> {
    Connector::new().with_client_type(strports_socks5::NAME, strports_socks5::Socks5)
}

/// Connects `client` for the connection `accepted` from `peer`; with `send_proxy`,
/// first sends a PROXY header naming `peer` and the address it connected to.
async fn upstream<R: Runtime>(
    client: &Client<R>,
    send_proxy: Option<Version>,
    accepted: &Stream<R>,
    peer: &Address,
) -> io::Result<Stream<R>> {
    let mut stream = client.connect().await?;
    if let Some(version) = send_proxy {
        let local = accepted.local_addr()?;
        let header = ProxyHeader::for_connection(version, peer, &local);
        stream.send_proxy_header(&header).await?;
    }
    Ok(stream)
}

/// `connect`: connect `client` and copy between it and our stdin/stdout until both
/// directions are done.
pub(crate) async fn connect<R: CliRuntime>(
    client: ClientDescription,
    idle: Option<Duration>,
) -> u8 {
    let mut signals = match R::signals(false) {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio::<R>().await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let start = Instant::now();
    let stream = match race(
        connector::<R>().connect(&client),
        next_signal::<R>(&mut signals),
    )
    .await
    {
        Either::Left(Ok(stream)) => stream,
        Either::Left(Err(e)) => return fatal(&e),
        Either::Right(signal) => return signal.exit_status(),
    };
    debug!("connected to {client}");
    stdio_session::<R>(stream, &client, stdio, &mut signals, start, idle).await
}

/// `listen` without `--echo`/`--exec`: like `nc -l`, wait for the first connection,
/// stop listening, and copy between it and our stdin/stdout.
pub(crate) async fn listen_stdio<R: CliRuntime>(
    server: ServerDescription,
    idle: Option<Duration>,
) -> u8 {
    let mut signals = match R::signals(false) {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio::<R>().await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let listener = match strports_endpoints::listen::<R>(&server).await {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    match listener.local_addr() {
        Ok(local) => info!(server = %server, "listening on {local}"),
        Err(_) => info!(server = %server, "listening"),
    }
    crate::notify::ready();
    let (stream, peer) = match race(listener.accept(), next_signal::<R>(&mut signals)).await {
        Either::Left(Ok(accepted)) => accepted,
        Either::Left(Err(e)) => return fatal(&e),
        Either::Right(signal) => {
            crate::notify::stopping();
            return signal.exit_status();
        }
    };
    // One connection only, like `nc -l`.
    drop(listener);
    debug!(peer = %peer, "accepted");
    let start = Instant::now();
    stdio_session::<R>(stream, &peer, stdio, &mut signals, start, idle).await
}

/// Our own stdin/stdout as a stream: the backend's `stdio` server, whose one
/// connection reads fd 0 and writes fd 1 (pipes and sockets through the reactor,
/// terminals and files on a thread, so neither runtime's shutdown can hang on a
/// blocking read).
async fn open_stdio<R: Runtime>() -> io::Result<Stream<R>> {
    let listener = strports_endpoints::listen::<R>(&ServerDescription::Stdio).await?;
    let (stream, _) = listener.accept().await?;
    Ok(stream)
}

/// Copies between a connection and stdin/stdout; a signal ends it at once.
async fn stdio_session<R: CliRuntime>(
    stream: Stream<R>,
    peer: &dyn fmt::Display,
    stdio: Stream<R>,
    signals: &mut R::Signals,
    start: Instant,
    idle: Option<Duration>,
) -> u8 {
    let mut pipe = Pipe::<R, _, _>::new((stream, "connection"), (stdio, "stdio"), idle)
        .after_b_shutdown(close_stdout);
    let (outcome, status) = match race(&mut pipe, next_signal::<R>(signals)).await {
        Either::Left(end) => {
            let status = match end {
                End::Closed | End::Idle(_) => EXIT_OK,
                End::Error { .. } => EXIT_FAILURE,
            };
            (Outcome::Pipe(end), status)
        }
        Either::Right(signal) => (Outcome::Signal(signal), signal.exit_status()),
    };
    let counts = pipe.counts();
    drop(pipe);
    summary(peer, counts, start, &outcome);
    if let Outcome::Pipe(End::Error { .. }) = outcome {
        eprintln!("error: {outcome}");
    }
    status
}

/// Passes EOF on to whoever reads our stdout. The stdio stream wrote through a
/// duplicate of fd 1 and has closed it; fd 1 itself stays open until it is
/// replaced: by /dev/null, so that fd 1 stays a valid descriptor.
fn close_stdout() {
    match OpenOptions::new().write(true).open("/dev/null") {
        Ok(null) => {
            // SAFETY: dup2 on two open descriptors; fd 1 is not owned by any Rust
            // object we still use (the stdio stream used its own duplicate).
            if unsafe { libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
                debug!(error = %io::Error::last_os_error(), "cannot close standard output");
            }
        }
        Err(e) => debug!(error = %e, "cannot open /dev/null to close standard output"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future that `f` returns.
    fn output_size<A, B, C, F: Future, G: Fn(A, B, C) -> F>(_: &G) -> usize {
        std::mem::size_of::<F>()
    }

    /// A connection's task lives as long as the connection, idle or not: it must
    /// not carry the (much larger, short-lived) connect future inline.
    #[test]
    fn the_connection_future_stays_small() {
        type T = strports_tokio::Tokio;
        type S = strports_smol::Smol;
        let tokio = output_size(&|s, p, sh| connection::<T>(s, p, sh));
        let smol = output_size(&|s, p, sh| connection::<S>(s, p, sh));
        assert!(tokio <= 1280, "tokio: {tokio} bytes");
        assert!(smol <= 1280, "smol: {smol} bytes");
    }
}
