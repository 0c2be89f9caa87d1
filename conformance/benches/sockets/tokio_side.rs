//! The workloads on a current-thread tokio runtime: strports-tokio against
//! `tokio::net`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use strports_core::{Address, ClientDescription, ServerDescription};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::{
    BULK_CHUNK, Budget, ECHO_BUFFER, ECHO_CLIENTS, ECHO_SIZE, Meter, Plan, Rounds, Sample, Side,
    Start, Transport, Workload,
};

/// Runs one row (both sides, all rounds) on a fresh current-thread runtime.
pub(crate) fn row(plan: &Plan, workload: Workload, transport: Transport) -> io::Result<Rounds> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let servers = Servers::start(workload, transport).await?;
        let rounds = crate::alternate(plan, |side, budget| {
            measure(&servers, workload, side, budget)
        })
        .await;
        servers.stop().await;
        rounds
    })
}

/// Where the raw client connects.
enum RawTarget {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// A strports server and a raw server for one workload, and how to reach them.
struct Servers {
    strports: strports_tokio::Serving,
    strports_target: ClientDescription,
    raw: JoinHandle<()>,
    raw_target: RawTarget,
    _dir: tempfile::TempDir,
}

impl Servers {
    async fn start(workload: Workload, transport: Transport) -> io::Result<Servers> {
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
        let listener = strports_tokio::listen(&server).await?;
        let strports_target = match listener.local_addr()? {
            Address::Tcp(a) => format!("tcp:127.0.0.1:{}", a.port()),
            Address::Unix(Some(path)) => format!("unix:{path}"),
            other => return Err(io::Error::other(format!("unexpected address {other}"))),
        };
        let strports_target = strports_target.parse().map_err(io::Error::other)?;
        let strports = match workload {
            Workload::Bulk => strports_tokio::serve(listener, |s, _| sink(s)),
            Workload::Connect | Workload::Echo => strports_tokio::serve(listener, |s, _| echo(s)),
        };
        let (raw, raw_target) = match raw_path {
            None => {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let target = RawTarget::Tcp(listener.local_addr()?);
                let raw = match workload {
                    Workload::Bulk => raw_tcp_server(listener, sink),
                    Workload::Connect | Workload::Echo => raw_tcp_server(listener, echo),
                };
                (raw, target)
            }
            Some(path) => {
                let listener = UnixListener::bind(&path)?;
                let raw = match workload {
                    Workload::Bulk => raw_unix_server(listener, sink),
                    Workload::Connect | Workload::Echo => raw_unix_server(listener, echo),
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
        self.raw.abort();
        let _ = self.raw.await;
    }
}

/// An accept loop spawning `handler` per connection, with `TCP_NODELAY` as strports
/// sets it.
fn raw_tcp_server<H, F>(listener: TcpListener, handler: H) -> JoinHandle<()>
where
    H: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _peer)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handler(stream));
            }
        }
    })
}

fn raw_unix_server<H, F>(listener: UnixListener, handler: H) -> JoinHandle<()>
where
    H: Fn(UnixStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _peer)) = listener.accept().await {
                tokio::spawn(handler(stream));
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
    servers: &Servers,
    workload: Workload,
    side: Side,
    budget: Budget,
) -> io::Result<Sample> {
    match (side, &servers.raw_target) {
        (Side::Strports, _) => {
            let desc = &servers.strports_target;
            run(workload, || strports_tokio::connect(desc), budget).await
        }
        (Side::Raw, RawTarget::Tcp(addr)) => {
            let addr = *addr;
            let connect = move || async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Ok(stream)
            };
            run(workload, connect, budget).await
        }
        (Side::Raw, RawTarget::Unix(path)) => {
            run(workload, || UnixStream::connect(path), budget).await
        }
    }
}

async fn run<C, F, S>(workload: Workload, connect: C, budget: Budget) -> io::Result<Sample>
where
    C: FnMut() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match workload {
        Workload::Connect => connects(connect, budget).await,
        Workload::Echo => echoes(connect, budget).await,
        Workload::Bulk => bulk(connect, budget).await,
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
async fn echoes<C, F, S>(mut connect: C, budget: Budget) -> io::Result<Sample>
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
        .map(|stream| tokio::spawn(echo_client(stream, meter)))
        .collect();
    let mut done = 0u64;
    for client in clients {
        done += client.await.map_err(io::Error::other)??;
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
    S: AsyncRead + AsyncWrite + Unpin,
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
    stream.shutdown().await?;
    let mut ack = [0u8; 8];
    stream.read_exact(&mut ack).await?;
    if u64::from_le_bytes(ack) != sent {
        return Err(io::Error::other(
            "the server counted a different byte count",
        ));
    }
    Ok(Sample::new(sent as f64 / 1e9, started))
}
