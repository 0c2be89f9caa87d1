//! The conformance suite on the smol backend (`strports-smol`), twice: with `serve`
//! on smol's global executor (`smol::spawn`), and with `serve_on` a program-owned
//! `Executor` run by two threads, so tasks move between threads (the counterpart of
//! the tokio suite's current-thread and multi-thread runs).

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::Executor;
use strports_conformance::Backend;
use strports_core::endpoint::ServerEndpoint;
use strports_core::endpoint::{Address, Resolver};
use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader};
use strports_core::{ClientDescription, ServerDescription};
use strports_smol::{Connector, Listener, Serving, Stream};

/// Where spawned tasks and `serve` run.
trait Flavor: Send + Sync + 'static {
    const NAME: &'static str;
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F);
    fn serve<H, F>(listener: Listener, handler: H) -> Serving
    where
        H: Fn(Stream, Address) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static;
}

/// `smol::spawn` and `strports_smol::serve`: smol's global executor.
struct Global;

impl Flavor for Global {
    const NAME: &'static str = "smol-global";
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        smol::spawn(future).detach();
    }
    fn serve<H, F>(listener: Listener, handler: H) -> Serving
    where
        H: Fn(Stream, Address) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        strports_smol::serve(listener, handler)
    }
}

/// An `Executor` of our own, run by two threads; `strports_smol::serve_on` it.
struct Pool;

static POOL: LazyLock<Arc<Executor<'static>>> = LazyLock::new(|| {
    let executor = Arc::new(Executor::new());
    for n in 0..2 {
        let ex = executor.clone();
        std::thread::Builder::new()
            .name(format!("pool-{n}"))
            .spawn(move || smol::block_on(ex.run(futures_lite::future::pending::<()>())))
            .expect("start an executor thread");
    }
    executor
});

impl Flavor for Pool {
    const NAME: &'static str = "smol-pool";
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        POOL.spawn(future).detach();
    }
    fn serve<H, F>(listener: Listener, handler: H) -> Serving
    where
        H: Fn(Stream, Address) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        strports_smol::serve_on(&POOL, listener, handler)
    }
}

/// strports-smol with tasks on flavour `F`.
struct Smol<F>(PhantomData<F>);

impl<F: Flavor> Backend for Smol<F> {
    type Listener = Listener;
    type Stream = Stream;
    type Serving = Serving;
    type Client = strports_smol::Client;

    const NAME: &'static str = F::NAME;

    fn block_on<T: Future>(future: T) -> T::Output {
        smol::block_on(future)
    }

    fn spawn<T: Future<Output = ()> + Send + 'static>(future: T) {
        F::spawn(future);
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    fn unblock<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> + Send {
        smol::unblock(f)
    }

    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Listener>> + Send {
        strports_smol::listen(desc)
    }

    fn accept(listener: &Listener) -> impl Future<Output = io::Result<(Stream, Address)>> + Send {
        listener.accept()
    }

    fn local_address(listener: &Listener) -> io::Result<Address> {
        listener.local_address()
    }

    fn listen_with_haproxy(
        desc: &ServerDescription,
        options: HaproxyOptions,
    ) -> impl Future<Output = io::Result<Listener>> + Send {
        let server = strports_smol::Server::new(desc.clone()).with_haproxy_options(options);
        async move { server.listen().await }
    }

    fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Listener>> + Send {
        let server = strports_smol::Server::new(desc.clone()).with_tls_handshake_timeout(timeout);
        async move { server.listen().await }
    }

    fn proxy_rejections(listener: &Listener) -> u64 {
        listener.proxy_rejections()
    }

    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Stream>> + Send {
        strports_smol::connect(desc)
    }

    fn client(desc: ClientDescription) -> strports_smol::Client {
        strports_smol::Client::new(desc)
    }

    fn connect_client(
        client: &strports_smol::Client,
    ) -> impl Future<Output = io::Result<Stream>> + Send {
        strports_core::endpoint::ClientEndpoint::connect(client)
    }

    fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> impl Future<Output = io::Result<Stream>> + Send {
        let desc = desc.clone();
        async move { Connector::with_resolver(resolver).connect(&desc).await }
    }

    fn serve_echo(listener: Listener) -> Serving {
        F::serve(listener, |mut stream, _peer| async move {
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
        })
    }

    fn serving_address(serving: &Serving) -> io::Result<Address> {
        serving.local_address()
    }

    fn stop(serving: Serving) -> impl Future<Output = ()> + Send {
        serving.stop()
    }

    fn abort(serving: Serving) -> impl Future<Output = ()> + Send {
        serving.abort()
    }

    async fn write_all(stream: &mut Stream, buf: &[u8]) -> io::Result<()> {
        stream.write_all(buf).await
    }

    async fn read(stream: &mut Stream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf).await
    }

    async fn shutdown_write(stream: &mut Stream) -> io::Result<()> {
        // futures-io's `close` on a strports stream is a half-close.
        stream.close().await
    }

    fn peer_address(stream: &Stream) -> io::Result<Address> {
        stream.peer_address()
    }

    fn alpn_protocol(stream: &Stream) -> Option<Vec<u8>> {
        stream.alpn_protocol().map(<[u8]>::to_vec)
    }

    async fn listen_tls(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
    ) -> io::Result<Listener> {
        let raw = strports_smol::listen(desc).await?;
        let step = strports_smol::TlsAcceptorStep::new(config);
        Ok(Listener::Tls(strports_smol::TlsListener::new(raw, step)))
    }

    async fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Listener> {
        let raw = strports_smol::listen(desc).await?;
        let step = strports_smol::TlsAcceptorStep::new(config).with_timeout(timeout);
        Ok(Listener::Tls(strports_smol::TlsListener::new(raw, step)))
    }

    fn failed_handshakes(listener: &Listener) -> Option<u64> {
        match listener {
            Listener::Tls(l) => Some(l.failed_handshakes()),
            _ => None,
        }
    }

    fn stream_local_address(stream: &Stream) -> io::Result<Address> {
        stream.local_address()
    }

    fn proxy_header(stream: &Stream) -> Option<ProxyHeader> {
        stream.proxy_header().cloned()
    }

    fn exit_status(stream: &Stream) -> Option<std::process::ExitStatus> {
        stream.exit_status()
    }
}

mod global {
    strports_conformance::conformance_tests!(super::Smol<super::Global>);
}

mod pool {
    strports_conformance::conformance_tests!(super::Smol<super::Pool>);
}
