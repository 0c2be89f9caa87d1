//! The networking commands, once, for any [`CliRuntime`]: servers as the
//! library's serve loop (connection limit, accept-error back-off, graceful stop)
//! with one handler per connection, the stdio sessions of `connect` and `listen`
//! (without `--echo`/`--exec`), the per connection summary, and the exit status.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use strports_core::{Address, ClientDescription, ServerDescription};
use strports_endpoints::{Client, Runtime, Stream, connect as connect_to, listen, serve_with};
use tracing::{debug, info, warn};

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
#[derive(Debug)]
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
    },
}

/// The options of servers (`listen --echo`, `listen --exec`, `relay`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServeOptions {
    /// At most this many connections at once; more wait in the listen backlog.
    pub(crate) max_connections: Option<usize>,
    /// Close a connection with no traffic either way for this long.
    pub(crate) idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long open connections may still run.
    pub(crate) grace: Duration,
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
/// ([`serve_with`]) over the listener, each connection handled by `handler` in its
/// own task, until SIGINT/SIGTERM (or until the listener has no more connections:
/// `stdio`, after its one).
///
/// At most `max_connections` run at once: while all are taken the loop does not
/// accept, so new connections wait in the kernel's listen backlog. On the first
/// signal the loop stops accepting and closes the listener, open connections get
/// `grace` to finish, then the rest are cut; a second signal cuts them at once.
pub(crate) async fn serve<R: CliRuntime>(
    spawner: R::Spawner,
    server: ServerDescription,
    handler: Handler,
    options: ServeOptions,
) -> u8 {
    let mut signals = match R::signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let listener = match listen::<R>(&server).await {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    match listener.local_addr() {
        Ok(local) => info!(server = %server, "listening on {local}"),
        Err(_) => info!(server = %server, "listening"),
    }
    let mut serve_options = strports_endpoints::ServeOptions::new().with_grace(options.grace);
    if let Some(max) = options.max_connections {
        serve_options = serve_options.with_max_connections(max);
    }
    let conns = Arc::new(Conns::default());
    let shared = Arc::new(Shared {
        handler: match handler {
            Handler::Echo => Serve::Echo,
            Handler::Connect { desc, name } => Serve::Connect {
                client: Box::new(Client::new(desc)),
                name,
            },
        },
        idle: options.idle_timeout,
        max_connections: options.max_connections,
        conns: conns.clone(),
        _loop: conns.loop_guard(),
    });
    let mut serving = serve_with(&spawner, listener, serve_options, move |stream, peer| {
        connection::<R>(stream, peer, shared.clone())
    });
    let signal = match race(conns.loop_ended(), next_signal::<R>(&mut signals)).await {
        Either::Left(()) => {
            serving.stop().await;
            return EXIT_OK;
        }
        Either::Right(signal) => signal,
    };
    // The loop closes the listener (a unix socket file is removed) as soon as it
    // runs; the running connections go on.
    serving.stop_accepting().await;
    info!(
        "{}: stopped accepting; waiting up to {} for {} open connection(s)",
        signal.name(),
        Secs(options.grace),
        conns.live()
    );
    // The loop cuts the connections left when the grace period is over; this
    // deadline is a backstop.
    let cut_at = R::now() + options.grace + CANCEL_WAIT;
    let reason = match race(
        serving.stop(),
        race(R::sleep_until(cut_at), next_signal::<R>(&mut signals)),
    )
    .await
    {
        Either::Left(()) => return EXIT_OK,
        Either::Right(Either::Left(_)) => "grace period over",
        Either::Right(Either::Right(_)) => "second signal",
    };
    // Dropping the stop (with the race) dropped the serve loop: its connection tasks
    // are being cancelled, each logging its summary as its handler is dropped.
    warn!("{reason}: closing {} open connection(s)", conns.live());
    let _ = race(conns.all_done(), R::sleep_until(R::now() + CANCEL_WAIT)).await;
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
    _loop: LoopGuard,
}

/// [`Handler`], with a client endpoint made once (an `ssl:` client builds its TLS
/// config at the first connection and keeps it).
enum Serve<R: Runtime> {
    Echo,
    Connect {
        client: Box<Client<R>>,
        name: &'static str,
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
    async fn run(&mut self, pipe: Pipe<R, Stream<R>, Stream<R>>) -> Outcome {
        Outcome::Pipe(self.pipe.insert(pipe).await)
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
        Serve::Connect { client, name } => match client.connect().await {
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

/// `connect`: connect `client` and copy between it and our stdin/stdout until both
/// directions are done.
pub(crate) async fn connect<R: CliRuntime>(
    client: ClientDescription,
    idle: Option<Duration>,
) -> u8 {
    let mut signals = match R::signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio::<R>().await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let start = Instant::now();
    let stream = match race(connect_to::<R>(&client), next_signal::<R>(&mut signals)).await {
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
    let mut signals = match R::signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio::<R>().await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let listener = match listen::<R>(&server).await {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    match listener.local_addr() {
        Ok(local) => info!(server = %server, "listening on {local}"),
        Err(_) => info!(server = %server, "listening"),
    }
    let (stream, peer) = match race(listener.accept(), next_signal::<R>(&mut signals)).await {
        Either::Left(Ok(accepted)) => accepted,
        Either::Left(Err(e)) => return fatal(&e),
        Either::Right(signal) => return signal.exit_status(),
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
    let listener = listen::<R>(&ServerDescription::Stdio).await?;
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
