//! The conformance suite on the smol backend (`strports-smol`).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_conformance::Backend;
use strports_core::endpoint::{Address, Resolver};
use strports_core::{ClientDescription, ServerDescription};
use strports_smol::{Connector, Listener, Serving, Stream};

struct SmolBackend;

impl Backend for SmolBackend {
    type Listener = Listener;
    type Stream = Stream;
    type Serving = Serving;

    const NAME: &'static str = "smol";

    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        smol::spawn(future).detach();
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        async move {
            async_io::Timer::after(duration).await;
        }
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

    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Stream>> + Send {
        strports_smol::connect(desc)
    }

    fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> impl Future<Output = io::Result<Stream>> + Send {
        let desc = desc.clone();
        async move { Connector::with_resolver(resolver).connect(&desc).await }
    }

    fn serve_echo(listener: Listener) -> Serving {
        strports_smol::serve(listener, |mut stream, _peer| async move {
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

    fn write_all(stream: &mut Stream, buf: &[u8]) -> impl Future<Output = io::Result<()>> + Send {
        // Both borrows are captured: a `WriteAllFuture` would tie them to one lifetime.
        async move { stream.write_all(buf).await }
    }

    fn read(stream: &mut Stream, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send {
        async move { stream.read(buf).await }
    }

    fn shutdown_write(stream: &mut Stream) -> impl Future<Output = io::Result<()>> + Send {
        stream.close()
    }

    fn peer_address(stream: &Stream) -> io::Result<Address> {
        stream.peer_address()
    }
}

strports_conformance::conformance_tests!(SmolBackend);
