//! The conformance suite on the tokio backend (`strports-tokio`), once on a
//! current-thread runtime and once on a multi-thread runtime (as tokio's own
//! `tests/rt_common.rs` does): the same cases, two schedulers.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use strports_conformance::Backend;
use strports_core::endpoint::ServerEndpoint;
use strports_core::endpoint::{Address, Resolver};
use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader};
use strports_core::{ClientDescription, ServerDescription};
use strports_tokio::{Connector, Listener, Serving, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{Builder, Runtime};

/// A tokio runtime flavour.
trait Flavor: Send + Sync + 'static {
    const NAME: &'static str;
    fn runtime() -> io::Result<Runtime>;
}

/// `Builder::new_current_thread()`: everything on the test's thread.
struct CurrentThread;

impl Flavor for CurrentThread {
    const NAME: &'static str = "tokio-current-thread";
    fn runtime() -> io::Result<Runtime> {
        Builder::new_current_thread().enable_all().build()
    }
}

/// `Builder::new_multi_thread()` with two workers: tasks move between threads.
struct MultiThread;

impl Flavor for MultiThread {
    const NAME: &'static str = "tokio-multi-thread";
    fn runtime() -> io::Result<Runtime> {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    }
}

/// strports-tokio on runtime flavour `F`.
struct Tokio<F>(PhantomData<F>);

impl<F: Flavor> Backend for Tokio<F> {
    type Listener = Listener;
    type Stream = Stream;
    type Serving = Serving;
    type Client = strports_tokio::Client;

    const NAME: &'static str = F::NAME;

    fn block_on<T: Future>(future: T) -> T::Output {
        let runtime = F::runtime().expect("build a tokio runtime");
        runtime.block_on(future)
    }

    fn spawn<T: Future<Output = ()> + Send + 'static>(future: T) {
        drop(tokio::spawn(future));
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        tokio::task::spawn_blocking(f).await.expect("blocking task")
    }

    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Listener>> + Send {
        strports_tokio::listen(desc)
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
        let server = strports_tokio::Server::new(desc.clone()).with_haproxy_options(options);
        async move { server.listen().await }
    }

    fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Listener>> + Send {
        let server = strports_tokio::Server::new(desc.clone()).with_tls_handshake_timeout(timeout);
        async move { server.listen().await }
    }

    fn proxy_rejections(listener: &Listener) -> u64 {
        listener.proxy_rejections()
    }

    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Stream>> + Send {
        strports_tokio::connect(desc)
    }

    fn client(desc: ClientDescription) -> strports_tokio::Client {
        strports_tokio::Client::new(desc)
    }

    fn connect_client(
        client: &strports_tokio::Client,
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
        strports_tokio::serve(listener, |mut stream, _peer| async move {
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
            let _ = stream.shutdown().await;
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
        stream.shutdown().await
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
        let raw = strports_tokio::listen(desc).await?;
        let step = strports_tokio::TlsAcceptorStep::new(config);
        Ok(Listener::Tls(strports_tokio::TlsListener::new(raw, step)))
    }

    async fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Listener> {
        let raw = strports_tokio::listen(desc).await?;
        let step = strports_tokio::TlsAcceptorStep::new(config).with_timeout(timeout);
        Ok(Listener::Tls(strports_tokio::TlsListener::new(raw, step)))
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

mod current_thread {
    strports_conformance::conformance_tests!(super::Tokio<super::CurrentThread>);
}

mod multi_thread {
    strports_conformance::conformance_tests!(super::Tokio<super::MultiThread>);
}
