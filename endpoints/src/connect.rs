//! Client transports: TCP to an address or a name (Happy Eyeballs), UNIX sockets.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;

use crate::plan::{TcpConnect, TcpTarget};
use strports_core::UnixClient;
use strports_core::endpoint::Resolver;
use strports_sys::unix::UnixTarget;

use crate::io::Io;
use crate::runtime::{Interest, Runtime, timeout};

/// Runs `attempt`, failing with [`crate::plan::timed_out`] naming `target`
/// after `seconds`.
async fn within<R: Runtime, T>(
    seconds: u32,
    target: &(dyn fmt::Display + Sync),
    attempt: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout::<R, _>(crate::plan::seconds(seconds), attempt).await {
        Some(result) => result,
        None => Err(crate::plan::timed_out(target, seconds)),
    }
}

/// A TCP connection to `target` (`TCP_NODELAY` set), for every client type that
/// connects to a host over TCP, as [`TcpTarget::plan`] says: an IP literal at once,
/// never through the resolver; a name through Happy Eyeballs.
pub(crate) async fn tcp<R: Runtime>(
    target: &TcpTarget<'_>,
    resolver: &dyn Resolver,
) -> io::Result<Io<R, TcpStream>> {
    match target.plan()? {
        TcpConnect::Direct {
            addr,
            bind,
            timeout,
        } => connect_addr::<R>(addr, bind, timeout).await,
        TcpConnect::Race {
            host,
            port,
            bind,
            config,
        } => crate::happy_eyeballs::connect::<R>(host, port, bind, config, resolver).await,
    }
}

/// Connects to one address. A connect that completes at once (on loopback the
/// handshake is done inside `connect()`) is not waited for and arms no timer;
/// otherwise `timeout` (seconds) bounds the wait.
async fn connect_addr<R: Runtime>(
    addr: SocketAddr,
    bind: Option<IpAddr>,
    timeout: u32,
) -> io::Result<Io<R, TcpStream>> {
    let socket = strports_sys::tcp::start_connect(addr, bind)?;
    let done = strports_sys::tcp::connected_at_once(&socket);
    let context = |e| strports_sys::context(e, format_args!("cannot connect to {addr}"));
    let stream = Io::<R, _>::new(socket, Interest::Both).map_err(context)?;
    if !done {
        let wait = stream.io(Interest::Write, strports_sys::tcp::connect_progress);
        within::<R, _>(timeout, &addr, async { wait.await.map_err(context) }).await?;
    }
    // Best effort, as on accepted connections.
    let _ = stream.get_ref().set_nodelay(true);
    Ok(stream)
}

/// Connects to a UNIX socket. A connect that completes at once (the usual case: the
/// kernel queues the connection for the listener inside `connect()`) is not waited
/// for and arms no timer; otherwise the description's `timeout` bounds the wait.
pub(crate) async fn unix<R: Runtime>(client: &UnixClient) -> io::Result<Io<R, UnixStream>> {
    let socket = strports_sys::unix::start_connect(&client.path, client.lockfile)?;
    let done = strports_sys::tcp::connected_at_once(&socket);
    let target = UnixTarget(&client.path);
    let context = |e| strports_sys::context(e, format_args!("cannot connect to {target}"));
    let stream = Io::<R, _>::new(socket, Interest::Both).map_err(context)?;
    if !done {
        let wait = stream.io(Interest::Write, strports_sys::tcp::connect_progress);
        within::<R, _>(client.timeout, &target, async {
            wait.await.map_err(context)
        })
        .await?;
    }
    Ok(stream)
}
