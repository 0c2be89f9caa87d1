//! The smol rows: strports-smol vs futures-rustls, on one executor run by this thread.

use std::future::Future;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use async_io::Async;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::{TlsAcceptor, TlsConnector};
use smol::Executor;
use strports_core::endpoint::Address;
use strports_smol::{Listener, TlsAcceptorStep, TlsListener};
use strports_sys::tls::ClientTls;

use crate::{BULK_CHUNK, Budget, Pki, Plan, Sample, Side, Workload};

pub(crate) fn row(plan: &Plan, workload: Workload, pki: &Pki) -> io::Result<Vec<(f64, f64)>> {
    let ex: Arc<Executor<'static>> = Arc::new(Executor::new());
    smol::block_on(ex.run(async {
        // strports: serve on a TlsListener over a plain tcp: listener.
        let raw = strports_smol::listen(
            &"tcp:0:interface=127.0.0.1:backlog=1024"
                .parse()
                .expect("desc"),
        )
        .await?;
        let listener = Listener::Tls(TlsListener::new(
            raw,
            TlsAcceptorStep::new(pki.server.clone()),
        ));
        let Address::Tcp(addr) = listener.local_addr()? else {
            unreachable!()
        };
        let serving = match workload {
            Workload::Handshake | Workload::Oneshot => {
                strports_smol::serve_on(&ex, listener, |s, _| echo_one(s))
            }
            Workload::Bulk => strports_smol::serve_on(&ex, listener, |s, _| sink(s)),
        };
        let client = strports_smol::Client::new(pki.client(addr.port()));
        // oneshot: the free `connect` each time, no Client kept.
        let oneshot_desc = pki.client(addr.port());

        // raw: Async<TcpListener> + TlsAcceptor, one task per connection.
        let raw_listener = Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0))?;
        let raw_addr = raw_listener.get_ref().local_addr()?;
        let acceptor = TlsAcceptor::from(pki.server.clone());
        let spawner = ex.clone();
        let raw_server = ex.spawn(async move {
            while let Ok((s, _)) = raw_listener.accept().await {
                let _ = s.get_ref().set_nodelay(true);
                let acceptor = acceptor.clone();
                spawner
                    .spawn(async move {
                        if let Ok(tls) = acceptor.accept(s).await {
                            match workload {
                                Workload::Handshake | Workload::Oneshot => echo_one(tls).await,
                                Workload::Bulk => sink(tls).await,
                            }
                        }
                    })
                    .detach();
            }
        });
        let desc = pki.client(raw_addr.port());
        let strports_core::ClientDescription::Ssl(ssl) = &desc else {
            unreachable!()
        };
        let ClientTls {
            config,
            server_name,
        } = strports_sys::tls::ssl_client_config(ssl, strports_core::tls::default_provider())?;
        let connector = TlsConnector::from(config);
        let raw_connect = || {
            let connector = connector.clone();
            let name = server_name.clone();
            async move {
                let tcp = Async::<TcpStream>::connect(raw_addr).await?;
                tcp.get_ref().set_nodelay(true)?;
                connector.connect(name, tcp).await
            }
        };
        let strports_connect = || client.connect();
        let oneshot_connect = || strports_smol::connect(&oneshot_desc);

        let rounds = crate::alternate(plan, |side, budget| {
            let raw_connect = &raw_connect;
            let strports_connect = &strports_connect;
            let oneshot_connect = &oneshot_connect;
            async move {
                match (side, workload) {
                    (Side::Strports, Workload::Handshake) => {
                        handshakes(strports_connect, budget).await
                    }
                    (Side::Raw, Workload::Handshake | Workload::Oneshot) => {
                        handshakes(raw_connect, budget).await
                    }
                    (Side::Strports, Workload::Oneshot) => {
                        handshakes(oneshot_connect, budget).await
                    }
                    (Side::Strports, Workload::Bulk) => bulk(strports_connect, budget).await,
                    (Side::Raw, Workload::Bulk) => bulk(raw_connect, budget).await,
                }
            }
        })
        .await;
        serving.abort().await;
        let _ = raw_server.cancel().await;
        rounds
    }))
}

/// Reads one byte, sends it back, closes.
async fn echo_one<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut b = [0u8; 1];
    if s.read_exact(&mut b).await.is_ok() {
        let _ = s.write_all(&b).await;
        let _ = s.flush().await;
        // A clean TLS end (close_notify), on both sides alike.
        let _ = s.close().await;
    }
}

/// Reads to EOF, then acknowledges with one byte.
async fn sink<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut buf = vec![0u8; BULK_CHUNK];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    let _ = s.write_all(b"k").await;
    let _ = s.close().await;
}

async fn handshakes<C, F, S>(connect: &C, budget: Budget) -> io::Result<Sample>
where
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let mut n = 0u64;
    while budget.more(n, started) {
        let mut s = connect().await?;
        s.write_all(b"x").await?;
        s.flush().await?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await?;
        // A clean TLS end (close_notify), on both sides alike.
        s.close().await?;
        n += 1;
    }
    Ok(Sample::new(n as f64, started))
}

async fn bulk<C, F, S>(connect: &C, budget: Budget) -> io::Result<Sample>
where
    C: Fn() -> F,
    F: Future<Output = io::Result<S>>,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let chunk = vec![7u8; BULK_CHUNK];
    let mut s = connect().await?;
    let started = Instant::now();
    let mut bytes = 0u64;
    while budget.more(bytes / BULK_CHUNK as u64, started) {
        s.write_all(&chunk).await?;
        bytes += BULK_CHUNK as u64;
    }
    s.close().await?;
    let mut ack = [0u8; 1];
    s.read_exact(&mut ack).await?;
    Ok(Sample::new(bytes as f64 / 1e9, started))
}
