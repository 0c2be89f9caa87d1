//! The networking commands, once, for any [`Runtime`]: the accept loop with its
//! connection limit and graceful shutdown, one task per connection, the stdio
//! sessions of `connect` and `listen` (without `--echo`/`--exec`), the per
//! connection summary, and the exit status.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use strports_core::{Address, ClientDescription, Listener as _, ServerDescription};
use tracing::{debug, info, warn};

use crate::conns::{Conns, Slot};
use crate::pipe::{End, Pipe};
use crate::runtime::{Io, Runtime, Signal, next_signal, sleep_until};

/// Exit status: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status: the command ran but failed (cannot listen or connect, a bad
/// description, a connection that ended with an error).
pub(crate) const EXIT_FAILURE: u8 = 1;

/// How long cancelled connections get to close after the grace period.
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
    futures_lite::future::or(async { Either::Left(a.await) }, async {
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

/// `listen --echo`, `listen --exec` and `relay`: accept connections until
/// SIGINT/SIGTERM (or until the listener has no more), each handled in its own
/// task by `handler`.
///
/// At most `max_connections` run at once: while all slots are taken the loop
/// does not call `accept`, so new connections wait in the kernel's listen backlog
/// (and are refused by the kernel only once that is full). On the first signal the
/// listener is closed, open connections get `grace` to finish, then the rest are
/// cut; a second signal cuts them at once.
pub(crate) async fn serve<R: Runtime>(
    rt: R,
    server: ServerDescription,
    handler: Handler,
    options: ServeOptions,
) -> u8 {
    let mut signals = match rt.signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let listener = match rt.listen(&server).await {
        Ok(l) => l,
        Err(e) => return fatal(&e),
    };
    match listener.local_addr() {
        Ok(local) => info!(server = %server, "listening on {local}"),
        Err(_) => info!(server = %server, "listening"),
    }
    let conns = Conns::new(options.max_connections);
    let handler = Arc::new(handler);
    let stopped_by = loop {
        if conns.full() {
            debug!(
                live = conns.live(),
                "all connection slots taken; new connections wait in the backlog"
            );
        }
        let slot = match race(conns.acquire(), next_signal::<R>(&mut signals)).await {
            Either::Left(slot) => slot,
            Either::Right(signal) => break Some(signal),
        };
        match race(listener.accept(), next_signal::<R>(&mut signals)).await {
            Either::Left(Ok((stream, peer))) => rt.spawn(connection(
                rt.clone(),
                stream,
                peer,
                handler.clone(),
                slot,
                options.idle_timeout,
            )),
            Either::Left(Err(e)) if strports_endpoints::accept::ends_serving(&e) => {
                debug!(error = %e, "no more connections to accept");
                break None;
            }
            Either::Left(Err(e)) => {
                let pause = strports_endpoints::accept::retry_delay(&e);
                if pause.is_zero() {
                    debug!(error = %e, "accept failed; accepting the next connection");
                } else {
                    warn!(error = %e, ?pause, "accept failed; pausing before accepting again");
                    let resume = Instant::now() + pause;
                    if let Either::Right(signal) =
                        race(sleep_until(&rt, resume), next_signal::<R>(&mut signals)).await
                    {
                        break Some(signal);
                    }
                }
            }
            Either::Right(signal) => break Some(signal),
        }
    };
    // Stop listening first (a unix socket file is removed), then wind down.
    drop(listener);
    let Some(signal) = stopped_by else {
        conns.all_done().await;
        return EXIT_OK;
    };
    let live = conns.live();
    info!(
        "{}: stopped accepting; waiting up to {} for {live} open connection(s)",
        signal.name(),
        Secs(options.grace)
    );
    let deadline = Instant::now() + options.grace;
    let waited = race(
        conns.all_done(),
        race(sleep_until(&rt, deadline), next_signal::<R>(&mut signals)),
    )
    .await;
    if let Either::Right(why) = waited {
        let reason = match why {
            Either::Left(()) => "grace period over",
            Either::Right(_) => "second signal",
        };
        warn!("{reason}: closing {} open connection(s)", conns.live());
        conns.cancel_all();
        let _ = race(
            conns.all_done(),
            sleep_until(&rt, Instant::now() + CANCEL_WAIT),
        )
        .await;
    }
    EXIT_OK
}

/// One accepted connection of a server.
async fn connection<R: Runtime>(
    rt: R,
    stream: R::Stream,
    peer: Address,
    handler: Arc<Handler>,
    slot: Slot,
    idle: Option<Duration>,
) {
    let start = Instant::now();
    debug!(peer = %peer, "accepted");
    let conns = slot.conns();
    match &*handler {
        Handler::Echo => {
            let pipe = Pipe::echo(&rt, (stream, "peer"), idle);
            run_pipe(pipe, conns, &peer, start).await;
        }
        Handler::Connect { desc, name } => match race(rt.connect(desc), conns.cancelled()).await {
            Either::Left(Ok(other)) => {
                debug!(peer = %peer, "connected {name} {desc}");
                let pipe = Pipe::new(&rt, (stream, "peer"), (other, *name), idle);
                run_pipe(pipe, conns, &peer, start).await;
            }
            Either::Left(Err(e)) => {
                summary(&peer, (0, 0), start, &Outcome::ConnectFailed(e));
            }
            Either::Right(()) => summary(&peer, (0, 0), start, &Outcome::Cancelled),
        },
    }
    drop(slot);
}

async fn run_pipe<R: Runtime, A: Io, B: Io>(
    mut pipe: Pipe<R, A, B>,
    conns: &Conns,
    peer: &Address,
    start: Instant,
) {
    let outcome = match race(&mut pipe, conns.cancelled()).await {
        Either::Left(end) => Outcome::Pipe(end),
        Either::Right(()) => Outcome::Cancelled,
    };
    let counts = pipe.counts();
    // Close both streams before the summary, so its duration includes the close.
    drop(pipe);
    summary(peer, counts, start, &outcome);
}

/// `connect`: connect `client` and copy between it and our stdin/stdout until both
/// directions are done.
pub(crate) async fn connect<R: Runtime>(
    rt: R,
    client: ClientDescription,
    idle: Option<Duration>,
) -> u8 {
    let mut signals = match rt.signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio(&rt).await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let start = Instant::now();
    let stream = match race(rt.connect(&client), next_signal::<R>(&mut signals)).await {
        Either::Left(Ok(stream)) => stream,
        Either::Left(Err(e)) => return fatal(&e),
        Either::Right(signal) => return signal.exit_status(),
    };
    debug!("connected to {client}");
    stdio_session(&rt, stream, &client, stdio, &mut signals, start, idle).await
}

/// `listen` without `--echo`/`--exec`: like `nc -l`, wait for the first connection,
/// stop listening, and copy between it and our stdin/stdout.
pub(crate) async fn listen_stdio<R: Runtime>(
    rt: R,
    server: ServerDescription,
    idle: Option<Duration>,
) -> u8 {
    let mut signals = match rt.signals() {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot handle signals: {e}")),
    };
    let stdio = match open_stdio(&rt).await {
        Ok(s) => s,
        Err(e) => return fatal(&format_args!("cannot use standard input/output: {e}")),
    };
    let listener = match rt.listen(&server).await {
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
    stdio_session(&rt, stream, &peer, stdio, &mut signals, start, idle).await
}

/// Our own stdin/stdout as a stream: the backend's `stdio` server, whose one
/// connection reads fd 0 and writes fd 1 (pipes and sockets through the reactor,
/// terminals and files on a thread, so neither runtime's shutdown can hang on a
/// blocking read).
async fn open_stdio<R: Runtime>(rt: &R) -> io::Result<R::Stream> {
    let listener = rt.listen(&ServerDescription::Stdio).await?;
    let (stream, _) = listener.accept().await?;
    Ok(stream)
}

/// Copies between a connection and stdin/stdout; a signal ends it at once.
async fn stdio_session<R: Runtime>(
    rt: &R,
    stream: R::Stream,
    peer: &dyn fmt::Display,
    stdio: R::Stream,
    signals: &mut R::Signals,
    start: Instant,
    idle: Option<Duration>,
) -> u8 {
    let mut pipe = Pipe::new(rt, (stream, "connection"), (stdio, "stdio"), idle)
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
