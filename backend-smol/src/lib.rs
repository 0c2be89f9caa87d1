//! strports on smol: listen and connect with Twisted-style endpoint descriptions,
//! with async-io's reactor.
//!
//! A description is one string that says where to listen or connect
//! (`tcp:8080:interface=127.0.0.1`, `unix:/run/app.sock:mode=660`,
//! `systemd:domain=INET:index=0`); `strports-core` (re-exported as [`core`]) parses
//! it, and this crate opens it: [`listen`] gives a [`Listener`], [`connect`] a
//! [`Stream`], [`serve`] runs a handler per connection on smol's executor. Streams
//! implement futures-io's `AsyncRead`/`AsyncWrite`, so every smol and futures
//! I/O utility works on them.
//!
//! Supported: servers `tcp`, `tcp6`, `unix` (paths and Linux abstract names),
//! `systemd`, `fd`, `stdio`, `ssl`, `tls`, `haproxy`; clients `tcp`, `unix`,
//! `process` (with `Registry::with_programs`), `ssl`, `tls` (TLS over rustls,
//! certificates always verified); a `Registry`'s extension types open once given an
//! opener (`Connector::with_client_type`, `Server::with_server_type`). This crate never
//! uses tokio. The endpoints themselves are written once, in `strports-endpoints`,
//! against its `Runtime` trait; this crate is that trait's smol implementation
//! ([`Smol`]) and names the types for it. `strports-tokio` offers the same API on
//! tokio, and both pass the same conformance suite.
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//!
//! # smol::block_on(async {
//! let listener = strports_smol::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
//! let port = listener.local_addr()?.port().unwrap_or_default();
//!
//! let client = smol::spawn(async move {
//!     let desc = format!("tcp:127.0.0.1:{port}").parse()?;
//!     let mut stream = strports_smol::connect(&desc).await?;
//!     stream.write_all(b"ping").await?;
//!     stream.close().await?; // half-close: the server sees EOF
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply).await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(reply)
//! });
//!
//! let (mut stream, _peer) = listener.accept().await?;
//! let mut request = Vec::new();
//! stream.read_to_end(&mut request).await?;
//! stream.write_all(&request).await?;
//! stream.close().await?;
//! assert_eq!(client.await.map_err(|e| e.to_string())?, b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! See `strports-endpoints` for the details of each endpoint: PROXY protocol
//! (`haproxy:`), TLS, UNIX sockets, processes and standard I/O.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer};
use smol::Executor;
use strports_endpoints::runtime::{Child, ChildStdio, Descriptor, Interest, Runtime, Spawn};

/// smol, as strports' endpoints use it (see the `Runtime` trait of
/// `strports-endpoints`): descriptors registered with async-io's reactor
/// ([`Async`]), async-io's [`Timer`], smol's executors, [`blocking::unblock`] and
/// async-process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

strports_endpoints::runtime_api!(Smol);

/// Like [`serve`], on `executor` instead of smol's global executor. The program
/// must run the executor (for example `executor.run(...)` on some threads). For
/// options too, give `SmolSpawner::Executor(executor)` to
/// `strports_endpoints::serve_with`.
///
/// ```
/// use std::sync::Arc;
///
/// let executor = Arc::new(smol::Executor::new());
/// # smol::block_on(executor.run(async {
/// let listener = strports_smol::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
/// let serving = strports_smol::serve_on(&executor, listener, |_stream, _peer| async {});
/// serving.stop().await;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })).unwrap();
/// ```
pub fn serve_on<H, F>(executor: &Arc<Executor<'static>>, listener: Listener, handler: H) -> Serving
where
    H: Fn(Stream, Address) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let spawner = SmolSpawner::Executor(executor.clone());
    strports_endpoints::serve_with(&spawner, listener, ServeOptions::default(), handler)
}

impl Runtime for Smol {
    type Registered<T: Descriptor> = Async<T>;

    fn register<T: Descriptor>(io: T, _interest: Interest) -> io::Result<Async<T>> {
        Async::new_nonblocking(io)
    }

    fn get_ref<T: Descriptor>(io: &Async<T>) -> &T {
        io.get_ref()
    }

    #[inline]
    fn poll_io<T: Descriptor, U>(
        io: &Async<T>,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<U>,
        // async-io tries the operation first every time, as its own sockets do.
        _drained: impl Fn(&U) -> bool,
    ) -> Poll<io::Result<U>> {
        loop {
            match op(io.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
            std::task::ready!(match interest {
                Interest::Write => io.poll_writable(cx),
                _ => io.poll_readable(cx),
            })?;
        }
    }

    async fn io<T: Descriptor, U>(
        io: &Async<T>,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<U> + Send,
    ) -> io::Result<U> {
        // Each wait is a fresh readiness future: it completes on a new event only,
        // never on a poll that another future of the same task caused (async-io's
        // `read_with` retries on every poll after the first, which in a TLS or
        // `haproxy:` listener, whose handshakes wake the accepting task, tries
        // `accept4` at each handshake step).
        loop {
            match op(io.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
            match interest {
                Interest::Write => io.writable().await?,
                _ => io.readable().await?,
            }
        }
    }

    type Sleep = Timer;

    fn now() -> Instant {
        Instant::now()
    }

    fn sleep_until(deadline: Instant) -> Timer {
        Timer::at(deadline)
    }

    fn reset(mut sleep: Pin<&mut Timer>, deadline: Instant) {
        sleep.set_at(deadline);
    }

    type Spawner = SmolSpawner;

    fn spawner() -> SmolSpawner {
        SmolSpawner::Global
    }

    async fn unblock<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        Ok(blocking::unblock(work).await)
    }

    fn spawn_child(command: std::process::Command, stdio: ChildStdio) -> io::Result<Child> {
        let mut child = async_process::Command::from(command)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr)
            // Not killed on drop: the endpoints end its process group;
            // async-process reaps a dropped child in the background.
            .kill_on_drop(false)
            .reap_on_drop(true)
            .spawn()?;
        let pid = child.id();
        let status = child.status();
        Ok(Child {
            pid,
            // Owning the child: dropping the future hands it to the reaper.
            exit: Box::pin(async move {
                let status = status.await;
                drop(child);
                status
            }),
        })
    }
}

/// Spawns on smol's global executor or on an [`Executor`] of the program's.
#[derive(Debug, Clone)]
pub enum SmolSpawner {
    /// `smol::spawn`.
    Global,
    /// An executor the program runs.
    Executor(Arc<Executor<'static>>),
}

impl Spawn for SmolSpawner {
    type Task = smol::Task<()>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> smol::Task<()> {
        match self {
            SmolSpawner::Global => smol::spawn(future),
            SmolSpawner::Executor(e) => e.spawn(future),
        }
    }

    fn detach<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.spawn(future).detach();
    }
}
