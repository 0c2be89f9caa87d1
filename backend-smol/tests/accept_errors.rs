//! `serve` keeps going through accept errors that last (`EMFILE`): it logs, pauses
//! and retries, without spinning or exiting, and serves the waiting connection once
//! descriptors are free again.
//!
//! Its own test binary: it lowers the process's descriptor limit and uses them all up.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use strports_core::endpoint::Address;
use strports_smol::{listen, serve_on};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Counts `WARN` events.
struct WarningCounter(Arc<AtomicUsize>);

impl Subscriber for WarningCounter {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == Level::WARN {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Lowers the soft descriptor limit to `limit`; returns the old limits.
fn set_soft_limit(limit: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on valid structs.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: limit.min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
    }
    old
}

fn restore_limit(old: &libc::rlimit) {
    // SAFETY: plain setrlimit on a valid struct.
    unsafe {
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, old), 0);
    }
}

#[test]
fn serve_pauses_and_recovers_after_emfile() {
    let warnings = Arc::new(AtomicUsize::new(0));
    let subscriber = WarningCounter(warnings.clone());
    // An executor run only by this thread: the accept loop runs here, under this
    // thread's default subscriber, and only while the test awaits.
    let executor = Arc::new(smol::Executor::new());
    tracing::subscriber::with_default(subscriber, || {
        smol::block_on(executor.run(async {
            let listener = listen(&"tcp:0:interface=127.0.0.1".parse().unwrap())
                .await
                .unwrap();
            let serving = serve_on(&executor, listener, |mut stream, _| async move {
                let mut buf = [0u8; 64];
                if let Ok(n) = stream.read(&mut buf).await {
                    let _ = stream.write_all(&buf[..n]).await;
                }
            });
            let Address::Tcp(addr) = serving.local_address().unwrap() else {
                panic!("not tcp")
            };
            // Without awaiting (so the accept loop cannot run yet): connect with a
            // blocking std socket (loopback completes the handshake in the kernel),
            // then use up every descriptor.
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let old = set_soft_limit(256);
            let mut hogs = Vec::new();
            let exhausted = loop {
                match File::open("/dev/null") {
                    Ok(f) => hogs.push(f),
                    Err(e) => break e,
                }
                assert!(hogs.len() < 100_000, "could not exhaust descriptors");
            };
            assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE));

            // The accept loop now fails with EMFILE, pausing between attempts.
            Timer::after(Duration::from_millis(350)).await;
            let seen = warnings.load(Ordering::SeqCst);
            drop(hogs);
            restore_limit(&old);
            assert!(seen >= 1, "no accept error was logged");
            // 100 ms pauses give about four; a loop retrying at once would log
            // thousands.
            assert!(seen < 50, "{seen} accept errors logged: the loop spins");

            // Descriptors are back: the waiting connection is served.
            let echoed = blocking::unblock(move || -> io::Result<Vec<u8>> {
                client.write_all(b"still here")?;
                let mut buf = [0u8; 10];
                client.read_exact(&mut buf)?;
                Ok(buf.to_vec())
            })
            .await
            .unwrap();
            assert_eq!(echoed, b"still here");
            let stopped = future::or(
                async {
                    serving.stop().await;
                    true
                },
                async {
                    Timer::after(Duration::from_secs(20)).await;
                    false
                },
            );
            assert!(stopped.await, "stop timed out");
        }));
    });
}
