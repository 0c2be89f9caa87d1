//! Helpers shared by the cases: concurrency without a runtime-specific join, echo
//! checks, deterministic bulk data, ports and temporary directories.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use strports_core::endpoint::Address;

use crate::{Backend, client, read_exact, read_to_end, within};

/// Runs all `futures` concurrently in the current task; returns their outputs in
/// order. (Each backend's `spawn` is detached, so cases join this way.)
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// The TCP socket address of a listener or stream address; panics on other kinds.
pub fn tcp_address(address: &Address) -> SocketAddr {
    match address {
        Address::Tcp(a) => *a,
        other => panic!("not a tcp address: {other:?}"),
    }
}

/// A fresh temporary directory (removed when dropped) for socket files.
pub fn temp_dir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("strports-").tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

/// `dir/name` as a path and as quoted description text.
pub fn socket_path(dir: &tempfile::TempDir, name: &str) -> (PathBuf, String) {
    let path = dir.path().join(name);
    let text = strports_core::quote(&path.to_string_lossy()).into_owned();
    (path, text)
}

/// A loopback port that nothing listens on right now (bound, then closed).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Connects with `desc` (retrying while refused or missing, as while a child process
/// starts listening), for at most `limit`.
pub async fn connect_retrying<B: Backend>(desc: &str, limit: Duration) -> B::Stream {
    let desc = client(desc);
    within::<B, _>(limit, "connecting while the listener starts", async {
        loop {
            match B::connect(&desc).await {
                Ok(s) => return s,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
                {
                    B::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("connect {desc}: {e}"),
            }
        }
    })
    .await
}

/// Sends `message` on `stream`, reads the same bytes back, and checks them.
pub async fn echo_check<B: Backend>(stream: &mut B::Stream, message: &[u8]) {
    within::<B, _>(Duration::from_secs(10), "echo", async {
        B::write_all(stream, message).await.expect("write");
        let mut back = vec![0u8; message.len()];
        read_exact::<B>(stream, &mut back).await.expect("read echo");
        assert_eq!(back, message, "echoed bytes differ");
    })
    .await;
}

/// Half-closes `stream` and checks that the peer then closes too (no more bytes).
pub async fn finish<B: Backend>(stream: &mut B::Stream) {
    within::<B, _>(Duration::from_secs(10), "closing", async {
        B::shutdown_write(stream).await.expect("shutdown");
        let rest = read_to_end::<B>(stream).await.expect("read to eof");
        assert!(
            rest.is_empty(),
            "{} unexpected bytes after close",
            rest.len()
        );
    })
    .await;
}

/// Accepts one connection with a bound on the wait.
pub async fn accept_one<B: Backend>(listener: &B::Listener) -> (B::Stream, Address) {
    within::<B, _>(Duration::from_secs(10), "accept", B::accept(listener))
        .await
        .expect("accept")
}

/// Asserts that `result` failed with `kind` and that its message contains every
/// one of `words`; returns the message.
#[track_caller]
pub fn expect_error<T>(result: io::Result<T>, kind: io::ErrorKind, words: &[&str]) -> String {
    let e = match result {
        Ok(_) => panic!("expected a {kind:?} error, got success"),
        Err(e) => e,
    };
    let message = e.to_string();
    assert_eq!(e.kind(), kind, "wrong kind for error {message:?}");
    for w in words {
        assert!(
            message.contains(w),
            "error {message:?} does not mention {w:?}"
        );
    }
    message
}

/// Deterministic bulk data: a pseudo-random block of a length that no read or write
/// size divides, repeated. [`Pattern::check`] compares received bytes against it
/// at their offset, so lost, repeated or reordered bytes are caught exactly.
pub struct Pattern {
    block: Vec<u8>,
}

impl Pattern {
    /// A block of 1 MiB minus 3 bytes (a prime length).
    pub fn new(seed: u64) -> Pattern {
        let len = 1_048_573;
        let mut x = seed | 1;
        let mut block = Vec::with_capacity(len + 8);
        while block.len() < len {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            block.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        block.truncate(len);
        Pattern { block }
    }

    /// The bytes at `offset..offset + n`, as at most one contiguous slice (shorter if it
    /// would wrap around the block).
    pub fn slice(&self, offset: u64, n: usize) -> &[u8] {
        let start = (offset % self.block.len() as u64) as usize;
        let end = (start + n).min(self.block.len());
        &self.block[start..end]
    }

    /// Whether `data` equals the pattern at `offset`.
    pub fn check(&self, mut offset: u64, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let expected = self.slice(offset, data.len());
            if data[..expected.len()] != *expected {
                return false;
            }
            data = &data[expected.len()..];
            offset += expected.len() as u64;
        }
        true
    }

    /// Writes `total` bytes of the pattern to `stream`.
    pub async fn send<B: Backend>(&self, stream: &mut B::Stream, total: u64) -> io::Result<()> {
        let mut sent = 0u64;
        while sent < total {
            let n = (total - sent).min(256 * 1024) as usize;
            let chunk = self.slice(sent, n);
            B::write_all(stream, chunk).await?;
            sent += chunk.len() as u64;
        }
        Ok(())
    }

    /// Reads `stream` to EOF, checking every byte; returns how many matched before
    /// the first mismatch or EOF (equal to the total received when all match).
    pub async fn receive<B: Backend>(&self, stream: &mut B::Stream) -> io::Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut received = 0u64;
        loop {
            let n = B::read(stream, &mut buf).await?;
            if n == 0 {
                return Ok(received);
            }
            if !self.check(received, &buf[..n]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "received bytes differ from the sent ones within offset {received}..{}",
                        received + n as u64
                    ),
                ));
            }
            received += n as u64;
        }
    }
}
