//! strports on tokio: listen and connect with Twisted-style endpoint descriptions.
//!
//! A description is one string that says where to listen or connect
//! (`tcp:8080:interface=127.0.0.1`, `unix:/run/app.sock:mode=660`,
//! `systemd:domain=INET:index=0`); `strports-core` (re-exported as [`core`]) parses
//! it, and this crate opens it: [`listen`] gives a [`Listener`], [`connect`] a
//! [`Stream`], [`serve`] runs a handler per connection with [`tokio::spawn`].
//! Streams implement [`tokio::io::AsyncRead`] and [`tokio::io::AsyncWrite`] (and
//! futures-io's traits), so every tokio I/O utility works on them.
//!
//! Supported: servers `tcp`, `tcp6`, `unix` (paths and Linux abstract names),
//! `systemd`, `fd`, `stdio`, `ssl`, `tls`, `haproxy`; clients `tcp`, `unix`,
//! `process` (with `Registry::with_programs`), `ssl`, `tls` (TLS over rustls,
//! certificates always verified); a `Registry`'s extension types open once given an
//! opener (`Connector::with_client_type`, `Server::with_server_type`). Everything here
//! must run inside a tokio runtime (I/O and time drivers enabled; current-thread or
//! multi-thread). The endpoints themselves are written once, in
//! `strports-endpoints`, against its `Runtime` trait; this crate is that trait's
//! tokio implementation ([`Tokio`]) and names the types for it. `strports-smol`
//! offers the same API on smol, and both pass the same conformance suite.
//!
//! ```
//! use strports_tokio::core::Address;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = strports_tokio::listen(&"tcp:0:interface=127.0.0.1".parse()?).await?;
//! let port = listener.local_addr()?.port().unwrap_or_default();
//!
//! let client = tokio::spawn(async move {
//!     let desc = format!("tcp:127.0.0.1:{port}").parse()?;
//!     let mut stream = strports_tokio::connect(&desc).await?;
//!     stream.write_all(b"ping").await?;
//!     stream.shutdown().await?; // half-close: the server sees EOF
//!     let mut reply = Vec::new();
//!     stream.read_to_end(&mut reply).await?;
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(reply)
//! });
//!
//! let (mut stream, _peer) = listener.accept().await?;
//! let mut request = Vec::new();
//! stream.read_to_end(&mut request).await?;
//! stream.write_all(&request).await?;
//! stream.shutdown().await?;
//! assert_eq!(client.await?.map_err(|e| e.to_string())?, b"ping");
//! # let _ = Address::Stdio;
//! # Ok(())
//! # }
//! ```
//!
//! See `strports-endpoints` for the details of each endpoint: PROXY protocol
//! (`haproxy:`), TLS, UNIX sockets, processes and standard I/O.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use strports_endpoints::runtime::{Child, ChildStdio, Descriptor, Interest, Runtime, Spawn};
use tokio::io::unix::AsyncFd;

/// The tokio runtime, as strports' endpoints use it (see the `Runtime` trait of
/// `strports-endpoints`): descriptors registered with tokio's reactor
/// ([`AsyncFd`]), tokio's timer and clock, [`tokio::spawn`],
/// [`tokio::task::spawn_blocking`] and [`tokio::process`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

strports_endpoints::runtime_api!(Tokio);

impl Runtime for Tokio {
    type Registered<T: Descriptor> = AsyncFd<T>;

    fn register<T: Descriptor>(io: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        let interest = match interest {
            Interest::Read => tokio::io::Interest::READABLE,
            Interest::Write => tokio::io::Interest::WRITABLE,
            Interest::Both => tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE,
        };
        // SAFETY: the `AsyncFd` owns `io`, so its descriptor stays open, and the same
        // one, for as long as it is registered.
        Ok(unsafe { AsyncFd::register_with_interest(io, interest) }?)
    }

    fn get_ref<T: Descriptor>(io: &AsyncFd<T>) -> &T {
        io.get_ref()
    }

    #[inline]
    fn poll_io<T: Descriptor, U>(
        io: &AsyncFd<T>,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<U>,
        drained: impl Fn(&U) -> bool,
    ) -> Poll<io::Result<U>> {
        loop {
            let mut guard = ready!(match interest {
                Interest::Write => io.poll_write_ready(cx),
                _ => io.poll_read_ready(cx),
            })?;
            match op(io.get_ref()) {
                Ok(done) => {
                    if drained(&done) {
                        guard.clear_ready();
                    }
                    return Poll::Ready(Ok(done));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn io<T: Descriptor, U>(
        io: &AsyncFd<T>,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<U> + Send,
    ) -> impl Future<Output = io::Result<U>> + Send {
        let interest = match interest {
            Interest::Write => tokio::io::Interest::WRITABLE,
            _ => tokio::io::Interest::READABLE,
        };
        io.async_io(interest, move |io| op(io))
    }

    type Sleep = tokio::time::Sleep;

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn reset(sleep: Pin<&mut tokio::time::Sleep>, deadline: Instant) {
        sleep.reset(deadline.into());
    }

    type Spawner = TokioSpawner;

    fn spawner() -> TokioSpawner {
        TokioSpawner
    }

    async fn unblock<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| io::Error::other(format!("blocking task failed: {e}")))
    }

    fn spawn_child(command: std::process::Command, stdio: ChildStdio) -> io::Result<Child> {
        let mut child = tokio::process::Command::from(command)
            .stdin(stdio.stdin)
            .stdout(stdio.stdout)
            .stderr(stdio.stderr)
            // Not killed on drop: the endpoints end its process group; tokio reaps
            // a dropped child in the background.
            .kill_on_drop(false)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the child has no process id"))?;
        Ok(Child {
            pid,
            exit: Box::pin(async move { child.wait().await }),
        })
    }
}

/// Spawns on the current tokio runtime ([`tokio::spawn`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSpawner;

impl Spawn for TokioSpawner {
    type Task = Task;

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Task {
        Task(tokio::spawn(future))
    }

    fn detach<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(tokio::spawn(future));
    }
}

/// A tokio task that is aborted when dropped; awaiting it waits for its end (a
/// panic is logged).
#[derive(Debug)]
pub struct Task(tokio::task::JoinHandle<()>);

impl Future for Task {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Err(e) = ready!(Pin::new(&mut self.0).poll(cx)) {
            if e.is_panic() {
                tracing::error!("strports: task panicked");
            }
        }
        Poll::Ready(())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
