//! The workloads on one smol executor run on the main thread: strports-smol against
//! async-io's `Async<TcpStream>` / `Async<UnixStream>`.

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;

use async_io::Async;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{Executor, Task};
use strports_core::{Address, ClientDescription, ServerDescription};

use crate::{
    BULK_CHUNK, Budget, ECHO_BUFFER, ECHO_CLIENTS, ECHO_SIZE, Meter, Plan, Rounds, Sample, Side,
    Start, Transport, Workload,
};

type Ex = Arc<Executor<'static>>;

/// Runs one row (both sides, all rounds) on a fresh executor, run by this thread
/// (`smol::block_on` also drives async-io's reactor while waiting).
pub(crate) fn row(plan: &Plan, workload: Workload, transport: Transport) -> io::Result<Rounds> {
    let ex: Ex = Arc::new(Executor::new());
    smol::block_on(ex.run(async {
        let servers = Servers::start(&ex, workload, transport).await?;
        let rounds = crate::alternate(plan, |side, budget| {
            measure(&ex, &servers, workload, side, budget)
        })
        .await;
        servers.stop().await;
        rounds
    }))
}

/// Where the raw client connects.
enum RawTarget {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A strports server and a raw server for one workload, and how to reach them.
struct Servers {
    strports: strports_smol::Serving,
    strports_target: ClientDescription,
    raw: Task<()>,
    raw_target: RawTarget,
    _dir: tempfile::TempDir,
}

impl Servers {
    async fn start(ex: &Ex, workload: Workload, transport: Transport) -> io::Result<Servers> {
        let dir = crate::temp_dir()?;
        let (server, raw_path) = match transport {
            Transport::Tcp => ("tcp:0:interface=127.0.0.1:backlog=1024".to_owned(), None),
            Transport::Unix => {
                let path = dir.path().join("strports.sock");
                let quoted = strports_core::quote(&path.to_string_lossy()).into_owned();
                (
                    format!("unix:{quoted}:backlog=1024"),
                    Some(dir.path().join("raw.sock")),
                )
            }
        };
        let server: ServerDescription = server.parse().map_err(io::Error::other)?;
        let listener = strports_smol::listen(&server).await?;
        let strports_target = match listener.local_addr()? {
            Address::Tcp(a) => format!("tcp:127.0.0.1:{}", a.port()),
            Address::Unix(Some(path)) => format!("unix:{path}"),
            other => return Err(io::Error::other(format!("unexpected address {other}"))),
        };
        let strports_target = strports_target.parse().map_err(io::Error::other)?;
        let strports = match workload {
            Workload::Bulk => strports_smol::serve_on(ex, listener, |s, _| sink(s)),
            Workload::Connect | Workload::Echo => {
                strports_smol::serve_on(ex, listener, |s, _| echo(s))
            }
        };
        let (raw, raw_target) = match raw_path {
            None => {
                let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
                let target = RawTarget::Tcp(listener.get_ref().local_addr()?);
                let raw = match workload {
                    Workload::Bulk => raw_tcp_server(ex, listener, sink),
                    Workload::Connect | Workload::Echo => raw_tcp_server(ex, listener, echo),
                };
                (raw, target)
            }
            Some(path) => {
                let listener = Async::<UnixListener>::bind(&path)?;
                let raw = match workload {
                    Workload::Bulk => raw_unix_server(ex, listener, sink),
                    Workload::Connect | Workload::Echo => raw_unix_server(ex, listener, echo),
                };
                (raw, RawTarget::Unix(path))
            }
        };
        Ok(Servers {
            strports,
            strports_target,
            raw,
            raw_target,
            _dir: dir,
        })
    }

    async fn stop(self) {
        self.strports.abort().await;
        self.raw.cancel().await;
    }
}

/// An accept loop spawning `handler` per connection on `ex`, with `TCP_NODELAY` as
/// strports sets it.
fn raw_tcp_server<H, F>(ex: &Ex, listener: Async<TcpListener>, handler: H) -> Task<()>
where
    H: Fn(Async<TcpStream>) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let spawner = ex.clone();
    ex.spawn(async move {
        loop {
            if let Ok((stream, _peer)) = listener.accept().await {
                let _ = stream.get_ref().set_nodelay(true);
                spawner.spawn(handler(stream)).detach();
            }
        }
    })
}

fn raw_unix_server<H, F>(ex: &Ex, listener: Async<UnixListener>, handler: H) -> Task<()>
where
    H: Fn(Async<UnixStream>) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let spawner = ex.clone();
    ex.spawn(async move {
        loop {
            if let Ok((stream, _peer)) = listener.accept().await {
                spawner.spawn(handler(stream)).detach();
            }
        }
    })
}

/// Echoes until end of file.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = [0u8; ECHO_BUFFER];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads until end of file, then replies with the byte count (8 bytes, little-endian).
async fn sink<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; BULK_CHUNK];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(_) => return,
        }
    }
    let _ = stream.write_all(&total.to_le_bytes()).await;
}

async fn measure(
    ex: &Ex,
    servers: &Servers,
    workload: Workload,
    side: Side,
    budget: Budget,
) -> io::Result<Sample> {
    match (side, &servers.raw_target) {
        (Side::Strports, _) => {
            let desc = &servers.strports_target;
            run(ex, workload, || strports_smol::connect(desc), budget).await
        }
        (Side::Raw, RawTarget::Tcp(addr)) => {
            let addr = *addr;
            let connect = move || async move {
                let stream = Async::<TcpStream>::connect(addr).await?;
                stream.get_ref().set_nodelay(true)?;
                Ok(stream)
            };
            run(ex, workload, connect, budget).await
        }
        (Side::Raw, RawTarget::Unix(path)) => {
            run(ex, workload, || Async::<UnixStream>::connect(path), budget).await
        }
    }
}

async fn run<C, F, S>(ex: &Ex, workload: Workload, connect: C, budget: Budget) -> io::Result<Sample>
where
    C: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + HalfClose + Unpin + Send + 'static,
{
    match workload {
        Workload::Connect => connects(connect, budget).await,
        Workload::Echo => echoes(ex, connect, budget).await,
        Workload::Bulk => bulk(connect, budget).await,
    }
}

/// Shutting down the write side. async-io's own `close()` only flushes, so the raw
/// client calls `shutdown(Write)` on the socket; strports' `Stream::close()` does that.
trait HalfClose {
    async fn half_close(&mut self) -> io::Result<()>;
}

impl HalfClose for strports_smol::Stream {
    async fn half_close(&mut self) -> io::Result<()> {
        self.close().await
    }
}

impl HalfClose for Async<TcpStream> {
    async fn half_close(&mut self) -> io::Result<()> {
        self.get_ref().shutdown(Shutdown::Write)
    }
}

impl HalfClose for Async<UnixStream> {
    async fn half_close(&mut self) -> io::Result<()> {
        self.get_ref().shutdown(Shutdown::Write)
    }
}

/// Sequential connect + 1-byte echo + close.
async fn connects<C, F, S>(mut connect: C, budget: Budget) -> io::Result<Sample>
where
    C: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Start::now();
    let mut meter = budget.start();
    let mut done = 0u64;
    let mut byte = [0u8; 1];
    while meter.more() {
        let mut stream = connect().await?;
        stream.write_all(b"x").await?;
        stream.read_exact(&mut byte).await?;
        drop(stream);
        done += 1;
    }
    Ok(Sample::new(done as f64, started))
}

/// [`ECHO_CLIENTS`] connections (opened before timing), each doing 64-byte round trips.
async fn echoes<C, F, S>(ex: &Ex, mut connect: C, budget: Budget) -> io::Result<Sample>
where
    C: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut streams = Vec::with_capacity(ECHO_CLIENTS);
    for _ in 0..ECHO_CLIENTS {
        streams.push(connect().await?);
    }
    let started = Start::now();
    let meter = budget.start();
    let clients: Vec<_> = streams
        .into_iter()
        .map(|stream| ex.spawn(echo_client(stream, meter)))
        .collect();
    let mut done = 0u64;
    for client in clients {
        done += client.await?;
    }
    Ok(Sample::new(done as f64, started))
}

async fn echo_client<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut meter: Meter,
) -> io::Result<u64> {
    let message = [7u8; ECHO_SIZE];
    let mut reply = [0u8; ECHO_SIZE];
    let mut done = 0u64;
    while meter.more() {
        stream.write_all(&message).await?;
        stream.read_exact(&mut reply).await?;
        done += 1;
    }
    Ok(done)
}

/// One connection writing [`BULK_CHUNK`]s; timed until the server acknowledges the
/// byte count after end of file.
async fn bulk<C, F, S>(mut connect: C, budget: Budget) -> io::Result<Sample>
where
    C: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + HalfClose + Unpin,
{
    let mut stream = connect().await?;
    let chunk = vec![0x5a_u8; BULK_CHUNK];
    let started = Start::now();
    let mut meter = budget.start();
    let mut sent = 0u64;
    while meter.more() {
        stream.write_all(&chunk).await?;
        sent += BULK_CHUNK as u64;
    }
    stream.half_close().await?;
    let mut ack = [0u8; 8];
    stream.read_exact(&mut ack).await?;
    if u64::from_le_bytes(ack) != sent {
        return Err(io::Error::other(
            "the server counted a different byte count",
        ));
    }
    Ok(Sample::new(sent as f64 / 1e9, started))
}
