//! [`Flavor`], [`Backend`] and the helpers every case uses.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_core::endpoint::{Address, Resolver};
use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader};
use strports_core::{ClientDescription, ServerDescription};
use strports_endpoints::runtime::{Runtime, Spawn};
use strports_endpoints::{
    Connector, Listener, ServeOptions, Server, Serving, Stream, TlsAcceptorStep, TlsListener,
    TlsServerOptions,
};

/// How long one case may run before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One runtime flavour the suite runs on: a strports runtime ([`Runtime`]), a way to
/// block on a future, and the spawner `serve` and the cases use. This is all a
/// `tests/<runtime>.rs` file provides; every case reaches strports through
/// [`Backend`], which each flavour gets for free.
pub trait Flavor: Sized + Send + Sync + 'static {
    /// The strports runtime (`strports_tokio::Tokio`, `strports_smol::Smol`).
    type Rt: Runtime;
    /// The flavour's name, for messages.
    const NAME: &'static str;
    /// Runs a future to completion on this flavour's runtime.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Where `serve` and [`Backend::spawn`] put tasks.
    fn spawner() -> <Self::Rt as Runtime>::Spawner {
        Self::Rt::spawner()
    }
}

/// What the suite does with strports: the one generic implementation, on any
/// [`Flavor`]. Streams implement futures-io's traits on every runtime.
pub trait Backend: Sized + 'static {
    /// The listener.
    type Listener: Send + Sync + 'static;
    /// The connection stream (its descriptor reachable, so that cases can inject
    /// faults such as a reset).
    type Stream: Send + std::os::fd::AsFd + 'static;
    /// A running `serve` loop.
    type Serving: Send + 'static;
    /// The `Client` endpoint (system resolver).
    type Client: Send + Sync + 'static;

    /// The flavour's name, for messages.
    const NAME: &'static str;

    /// Runs a future to completion on this backend's runtime.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Spawns a detached task.
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F);
    /// Sleeps on the runtime's timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
    /// Runs a blocking function off the async threads.
    fn unblock<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> + Send;

    /// `listen(desc)`.
    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `listener.accept()`.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, Address)>> + Send;
    /// `listener.local_addr()`.
    fn local_address(listener: &Self::Listener) -> io::Result<Address>;
    /// `Server::new(desc).with_haproxy_options(options).listen()`.
    fn listen_with_haproxy(
        desc: &ServerDescription,
        options: HaproxyOptions,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `Server::new(desc).with_tls_handshake_timeout(timeout).listen()`.
    fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `Server::new(desc).with_haproxy_options(haproxy).with_tls_options(tls).listen()`.
    fn listen_with_options(
        desc: &ServerDescription,
        haproxy: HaproxyOptions,
        tls: TlsServerOptions,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `listener.proxy_rejections()`: connections its `haproxy:` wrappers closed.
    fn proxy_rejections(listener: &Self::Listener) -> u64;
    /// `connect(desc)` with the system resolver.
    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// `Client::new(desc)`: an endpoint that keeps what its first connect built.
    fn client(desc: ClientDescription) -> Self::Client;
    /// `client.connect()`.
    fn connect_client(
        client: &Self::Client,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// `Connector::with_resolver(resolver).connect(desc)`.
    fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// `serve(listener, echo handler)`: echoes every connection until EOF, then closes it.
    fn serve_echo(listener: Self::Listener) -> Self::Serving;
    /// `serve_with(listener, options, echo handler)`.
    fn serve_echo_with(listener: Self::Listener, options: ServeOptions) -> Self::Serving;
    /// The serving loop's local address.
    fn serving_address(serving: &Self::Serving) -> io::Result<Address>;
    /// `serving.stop()`.
    fn stop(serving: Self::Serving) -> impl Future<Output = ()> + Send;
    /// `serving.stop_accepting()`.
    fn stop_accepting(serving: &mut Self::Serving) -> impl Future<Output = ()> + Send;
    /// `serving.abort()`.
    fn abort(serving: Self::Serving) -> impl Future<Output = ()> + Send;

    /// Writes all of `buf`.
    fn write_all(
        stream: &mut Self::Stream,
        buf: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads some bytes (0 at EOF).
    fn read(
        stream: &mut Self::Stream,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Shuts down the write side (half-close), keeping the read side open.
    fn shutdown_write(stream: &mut Self::Stream) -> impl Future<Output = io::Result<()>> + Send;
    /// The stream's peer address.
    fn peer_address(stream: &Self::Stream) -> io::Result<Address>;
    /// `stream.abort()`: drops it without a TLS `close_notify` (a crash, to its peer).
    fn abort_stream(stream: Self::Stream);

    /// `stream.alpn_protocol()`: the protocol ALPN agreed on a TLS stream.
    fn alpn_protocol(stream: &Self::Stream) -> Option<Vec<u8>>;
    /// `stream.handshake_kind()`: whether a TLS stream's handshake was full or
    /// resumed (`None` for other streams).
    fn handshake_kind(stream: &Self::Stream) -> Option<strports_core::tls::rustls::HandshakeKind>;
    /// Listens as `desc` says, then runs the TLS handshake with `config` on every
    /// accepted connection: `TlsListener::new(listen(desc), TlsAcceptorStep::new(config))`
    /// (how a program serves TLS with a config of its own, e.g. asking for client
    /// certificates).
    fn listen_tls(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// [`listen_tls`](Backend::listen_tls) with a handshake time limit of `timeout`
    /// instead of the default: `TlsAcceptorStep::new(config).with_timeout(timeout)`.
    fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// How many connections a TLS listener dropped because their handshake failed
    /// (`None` for other listeners).
    fn failed_handshakes(listener: &Self::Listener) -> Option<u64>;
    /// The stream's local address.
    fn stream_local_address(stream: &Self::Stream) -> io::Result<Address>;
    /// The PROXY header a `haproxy:` listener's stream started with.
    fn proxy_header(stream: &Self::Stream) -> Option<ProxyHeader>;
    /// A `process:` stream's exit status once known (`Stream::exit_status`).
    fn exit_status(stream: &Self::Stream) -> Option<std::process::ExitStatus>;
}

/// Echoes `stream` until EOF or an error, then closes its write side.
pub(crate) async fn echo<R: Runtime>(mut stream: Stream<R>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.close().await;
}

impl<F: Flavor> Backend for F {
    type Listener = Listener<F::Rt>;
    type Stream = Stream<F::Rt>;
    type Serving = Serving<F::Rt>;
    type Client = strports_endpoints::Client<F::Rt>;

    const NAME: &'static str = F::NAME;

    fn block_on<T: Future>(future: T) -> T::Output {
        <F as Flavor>::block_on(future)
    }

    fn spawn<T: Future<Output = ()> + Send + 'static>(future: T) {
        F::spawner().detach(future);
    }

    async fn sleep(duration: Duration) {
        strports_endpoints::runtime::sleep_until::<F::Rt>(Some(F::Rt::now() + duration)).await;
    }

    async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        match F::Rt::unblock(f).await {
            Ok(v) => v,
            Err(e) => panic!("blocking task: {e}"),
        }
    }

    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        strports_endpoints::listen::<F::Rt>(desc)
    }

    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, Address)>> + Send {
        listener.accept()
    }

    fn local_address(listener: &Self::Listener) -> io::Result<Address> {
        listener.local_addr()
    }

    async fn listen_with_haproxy(
        desc: &ServerDescription,
        options: HaproxyOptions,
    ) -> io::Result<Self::Listener> {
        Server::<F::Rt>::new(desc.clone())
            .with_haproxy_options(options)
            .listen()
            .await
    }

    async fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> io::Result<Self::Listener> {
        Server::<F::Rt>::new(desc.clone())
            .with_tls_handshake_timeout(timeout)
            .listen()
            .await
    }

    async fn listen_with_options(
        desc: &ServerDescription,
        haproxy: HaproxyOptions,
        tls: TlsServerOptions,
    ) -> io::Result<Self::Listener> {
        Server::<F::Rt>::new(desc.clone())
            .with_haproxy_options(haproxy)
            .with_tls_options(tls)
            .listen()
            .await
    }

    fn proxy_rejections(listener: &Self::Listener) -> u64 {
        listener.proxy_rejections()
    }

    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        strports_endpoints::connect::<F::Rt>(desc)
    }

    fn client(desc: ClientDescription) -> Self::Client {
        strports_endpoints::Client::new(desc)
    }

    fn connect_client(
        client: &Self::Client,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        client.connect()
    }

    async fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> io::Result<Self::Stream> {
        Connector::<F::Rt>::with_resolver(resolver)
            .connect(desc)
            .await
    }

    fn serve_echo(listener: Self::Listener) -> Self::Serving {
        Self::serve_echo_with(listener, ServeOptions::default())
    }

    fn serve_echo_with(listener: Self::Listener, options: ServeOptions) -> Self::Serving {
        strports_endpoints::serve_with(&F::spawner(), listener, options, |stream, _peer| {
            echo(stream)
        })
    }

    fn serving_address(serving: &Self::Serving) -> io::Result<Address> {
        serving.local_addr()
    }

    fn stop(serving: Self::Serving) -> impl Future<Output = ()> + Send {
        serving.stop()
    }

    fn abort(serving: Self::Serving) -> impl Future<Output = ()> + Send {
        serving.abort()
    }

    fn stop_accepting(serving: &mut Self::Serving) -> impl Future<Output = ()> + Send {
        serving.stop_accepting()
    }

    async fn write_all(stream: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        stream.write_all(buf).await
    }

    async fn read(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf).await
    }

    async fn shutdown_write(stream: &mut Self::Stream) -> io::Result<()> {
        // futures-io's `close` on a strports stream is a half-close.
        stream.close().await
    }

    fn peer_address(stream: &Self::Stream) -> io::Result<Address> {
        stream.peer_addr()
    }

    fn abort_stream(stream: Self::Stream) {
        stream.abort();
    }

    fn alpn_protocol(stream: &Self::Stream) -> Option<Vec<u8>> {
        stream.alpn_protocol().map(<[u8]>::to_vec)
    }

    fn handshake_kind(stream: &Self::Stream) -> Option<strports_core::tls::rustls::HandshakeKind> {
        stream.handshake_kind()
    }

    async fn listen_tls(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
    ) -> io::Result<Self::Listener> {
        let raw = strports_endpoints::listen::<F::Rt>(desc).await?;
        let step = TlsAcceptorStep::new(config);
        Ok(Listener::Tls(TlsListener::new(raw, step)))
    }

    async fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Self::Listener> {
        let raw = strports_endpoints::listen::<F::Rt>(desc).await?;
        let step = TlsAcceptorStep::new(config).with_timeout(timeout);
        Ok(Listener::Tls(TlsListener::new(raw, step)))
    }

    fn failed_handshakes(listener: &Self::Listener) -> Option<u64> {
        listener.failed_handshakes()
    }

    fn stream_local_address(stream: &Self::Stream) -> io::Result<Address> {
        stream.local_addr()
    }

    fn proxy_header(stream: &Self::Stream) -> Option<ProxyHeader> {
        stream.proxy_header().cloned()
    }

    fn exit_status(stream: &Self::Stream) -> Option<std::process::ExitStatus> {
        stream.exit_status()
    }
}

/// Runs one case on backend `B` under [`CASE_TIMEOUT`]; a timeout fails the test.
pub fn run<B: Backend, F: Future<Output = ()>>(name: &str, case: F) {
    B::block_on(async {
        let timed_out = async {
            B::sleep(CASE_TIMEOUT).await;
            true
        };
        let done = async {
            case.await;
            false
        };
        if futures_lite::future::or(done, timed_out).await {
            panic!("{} case {name} timed out after {CASE_TIMEOUT:?}", B::NAME);
        }
    });
}

/// Fails with `what` if `future` takes longer than `limit`.
pub async fn within<B: Backend, T>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> T {
    let timer = async {
        B::sleep(limit).await;
        None
    };
    match futures_lite::future::or(async { Some(future.await) }, timer).await {
        Some(v) => v,
        None => panic!("{what}: took longer than {limit:?}"),
    }
}

/// Reads until `buf` is full; fails on early EOF.
pub async fn read_exact<B: Backend>(stream: &mut B::Stream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = B::read(stream, &mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "early eof"));
        }
        filled += n;
    }
    Ok(())
}

/// Reads until EOF.
pub async fn read_to_end<B: Backend>(stream: &mut B::Stream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = B::read(stream, &mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Parses a server description or panics with the parse error (test input only).
pub fn server(desc: &str) -> ServerDescription {
    match desc.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad test description {desc:?}: {e}"),
    }
}

/// Parses a client description or panics with the parse error (test input only).
pub fn client(desc: &str) -> ClientDescription {
    match desc.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad test description {desc:?}: {e}"),
    }
}

/// [`client`] with the program types (`process:`) allowed, as a program must ask
/// for them (`Registry::with_programs()`).
pub fn program_client(desc: &str) -> ClientDescription {
    match strports_core::Registry::with_programs().parse_client(desc) {
        Ok(d) => d,
        Err(e) => panic!("bad test description {desc:?}: {e}"),
    }
}
