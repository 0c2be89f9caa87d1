//! Copying both ways between two streams (or echoing one), with half-close, byte
//! counts and an idle timeout: one hand-written future, generic over the runtime.
//!
//! Each direction owns one buffer, reused for every chunk: 8 KiB when the pipe is
//! made, replaced once by a 64 KiB one when a read fills it (bulk traffic). So an
//! idle or chatty connection holds 8 KiB a direction, a bulk one reads 64 KiB at a
//! time, and nothing is allocated per read or write after that. A direction that
//! reads EOF flushes and half-closes (`shutdown(SHUT_WR)`) its destination; the pipe
//! ends when both directions have, on the first error, or when idle too long.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use strports_endpoints::Runtime;

/// Bytes per direction buffer once the direction has seen bulk traffic.
pub(crate) const BUFFER_SIZE: usize = 64 * 1024;

/// Bytes per direction buffer to start with.
pub(crate) const INITIAL_BUFFER_SIZE: usize = 8 * 1024;

/// Chunks one direction copies in one poll before yielding, so that a direction
/// that never blocks cannot starve the other one or other connections.
const CHUNKS_PER_POLL: usize = 16;

/// How a pipe ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Both directions reached EOF and were passed on.
    Closed,
    /// No bytes moved either way for the idle timeout.
    Idle(Duration),
    /// A read or write failed.
    Error {
        /// Which stream: the name given to [`Pipe::new`].
        side: &'static str,
        /// What failed.
        error: io::Error,
    },
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed => f.write_str("closed"),
            End::Idle(t) => write!(f, "idle for {}s", t.as_secs_f64()),
            End::Error { side, error } => write!(f, "error on {side}: {error}"),
        }
    }
}

/// One direction's state.
struct Half {
    buf: Box<[u8]>,
    /// `buf[pos..cap]` is read but not yet written.
    pos: usize,
    cap: usize,
    /// Bytes written to the destination.
    bytes: u64,
    /// Written since the last flush.
    unflushed: bool,
    /// The source reached EOF.
    eof: bool,
    /// EOF passed on (destination flushed and shut down).
    done: bool,
}

impl Half {
    fn new() -> Half {
        Half {
            buf: vec![0; INITIAL_BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            cap: 0,
            bytes: 0,
            unflushed: false,
            eof: false,
            done: false,
        }
    }

    /// A direction with nothing to do (the missing way back of an echo).
    fn finished() -> Half {
        Half {
            buf: Box::new([]),
            pos: 0,
            cap: 0,
            bytes: 0,
            unflushed: false,
            eof: true,
            done: true,
        }
    }
}

/// Where one direction reads from and writes to.
trait Route {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A byte stream as the pipe uses it: futures-io's traits, where `poll_close` is a
/// half-close (`shutdown(SHUT_WR)`: the peer reads EOF) on the library's streams.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// Read from one stream, write to another.
struct Across<'a, X, Y>(&'a mut X, &'a mut Y);

impl<X: Io, Y: Io> Route for Across<'_, X, Y> {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.1).poll_write(cx, buf)
    }
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.1).poll_flush(cx)
    }
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.1).poll_close(cx)
    }
}

/// Read from a stream and write back to it (echo).
struct Back<'a, X>(&'a mut X);

impl<X: Io> Route for Back<'_, X> {
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}

/// Which end of a route failed.
enum Failed {
    Read(io::Error),
    Write(io::Error),
}

/// Moves bytes along `route` until it would block, yields, or is done. Sets
/// `active` when any byte moved.
fn poll_half(
    half: &mut Half,
    route: &mut impl Route,
    cx: &mut Context<'_>,
    active: &mut bool,
) -> Poll<Result<(), Failed>> {
    let mut chunks = 0;
    loop {
        if half.pos < half.cap {
            match route.write(cx, &half.buf[half.pos..half.cap]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(Failed::Write(io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => {
                    half.pos += n;
                    half.bytes += n as u64;
                    half.unflushed = true;
                    *active = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Failed::Write(e))),
                Poll::Pending => return Poll::Pending,
            }
            continue;
        }
        if !half.eof {
            if chunks == CHUNKS_PER_POLL {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if half.cap == half.buf.len() && half.buf.len() < BUFFER_SIZE {
                // The last read filled the (written out) buffer: bulk, so read more
                // at a time from now on.
                half.buf = vec![0; BUFFER_SIZE].into_boxed_slice();
            }
            match route.read(cx, &mut half.buf) {
                Poll::Ready(Ok(0)) => half.eof = true,
                Poll::Ready(Ok(n)) => {
                    half.pos = 0;
                    half.cap = n;
                    chunks += 1;
                    *active = true;
                    continue;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Failed::Read(e))),
                Poll::Pending => {
                    // Nothing more to read for now: push out what a buffering writer
                    // (TLS) holds, then wait.
                    if half.unflushed {
                        ready!(route.flush(cx)).map_err(Failed::Write)?;
                        half.unflushed = false;
                    }
                    return Poll::Pending;
                }
            }
        }
        if half.unflushed {
            ready!(route.flush(cx)).map_err(Failed::Write)?;
            half.unflushed = false;
        }
        ready!(route.shutdown(cx)).map_err(Failed::Write)?;
        half.done = true;
        return Poll::Ready(Ok(()));
    }
}

/// The idle timeout: one timer (allocated once), moved only when it fires (not per
/// chunk).
struct Idle<R: Runtime> {
    timeout: Duration,
    timer: Pin<Box<R::Sleep>>,
    last: Instant,
}

/// Copies `a` to `b` and `b` to `a` (or echoes `a` when there is no `b`).
///
/// Poll it through `&mut` so that the counts are still there after it was raced
/// against a shutdown.
pub(crate) struct Pipe<R: Runtime, A: Io, B: Io> {
    a: A,
    b: Option<B>,
    names: (&'static str, &'static str),
    /// a to b (or a to a when echoing).
    forward: Half,
    /// b to a.
    backward: Half,
    idle: Option<Idle<R>>,
    /// Called once `b`'s write side is shut down.
    after_b_shutdown: Option<fn()>,
}

impl<R: Runtime, A: Io, B: Io> Pipe<R, A, B> {
    /// Copies both ways between `a` and `b`; the names say which failed in [`End`].
    pub(crate) fn new(a: (A, &'static str), b: (B, &'static str), idle: Option<Duration>) -> Self {
        Pipe {
            a: a.0,
            b: Some(b.0),
            names: (a.1, b.1),
            forward: Half::new(),
            backward: Half::new(),
            idle: idle_state(idle),
            after_b_shutdown: None,
        }
    }

    /// Runs `hook` once `b` has been half-closed (after EOF from `a`).
    pub(crate) fn after_b_shutdown(mut self, hook: fn()) -> Self {
        self.after_b_shutdown = Some(hook);
        self
    }

    /// Bytes read from `a` (and written on), bytes written to `a`.
    pub(crate) fn counts(&self) -> (u64, u64) {
        if self.b.is_none() {
            (self.forward.bytes, self.forward.bytes)
        } else {
            (self.forward.bytes, self.backward.bytes)
        }
    }
}

impl<R: Runtime, A: Io> Pipe<R, A, A> {
    /// Writes back whatever `a` sends; half-closes `a` after its EOF.
    pub(crate) fn echo(a: (A, &'static str), idle: Option<Duration>) -> Self {
        Pipe {
            a: a.0,
            b: None,
            names: (a.1, a.1),
            forward: Half::new(),
            backward: Half::finished(),
            idle: idle_state(idle),
            after_b_shutdown: None,
        }
    }
}

fn idle_state<R: Runtime>(idle: Option<Duration>) -> Option<Idle<R>> {
    idle.map(|timeout| {
        let last = R::now();
        Idle {
            timeout,
            timer: Box::pin(R::sleep_until(last + timeout)),
            last,
        }
    })
}

impl<R: Runtime, A: Io, B: Io> Future for Pipe<R, A, B> {
    type Output = End;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<End> {
        let this = self.get_mut();
        let mut active = false;
        let (a_name, b_name) = this.names;
        if !this.forward.done {
            let polled = match &mut this.b {
                Some(b) => poll_half(
                    &mut this.forward,
                    &mut Across(&mut this.a, b),
                    cx,
                    &mut active,
                ),
                None => poll_half(&mut this.forward, &mut Back(&mut this.a), cx, &mut active),
            };
            match polled {
                Poll::Ready(Ok(())) => {
                    if this.b.is_some() {
                        if let Some(hook) = this.after_b_shutdown.take() {
                            hook();
                        }
                    }
                }
                Poll::Ready(Err(Failed::Read(error))) => {
                    return Poll::Ready(End::Error {
                        side: a_name,
                        error,
                    });
                }
                Poll::Ready(Err(Failed::Write(error))) => {
                    return Poll::Ready(End::Error {
                        side: b_name,
                        error,
                    });
                }
                Poll::Pending => {}
            }
        }
        if !this.backward.done {
            if let Some(b) = &mut this.b {
                match poll_half(
                    &mut this.backward,
                    &mut Across(b, &mut this.a),
                    cx,
                    &mut active,
                ) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(Failed::Read(error))) => {
                        return Poll::Ready(End::Error {
                            side: b_name,
                            error,
                        });
                    }
                    Poll::Ready(Err(Failed::Write(error))) => {
                        return Poll::Ready(End::Error {
                            side: a_name,
                            error,
                        });
                    }
                    Poll::Pending => {}
                }
            }
        }
        if this.forward.done && this.backward.done {
            return Poll::Ready(End::Closed);
        }
        if let Some(idle) = &mut this.idle {
            if active {
                idle.last = R::now();
            }
            // The timer is only moved when it fires: then either the connection was
            // quiet for the whole timeout, or it is re-armed from the last activity.
            while idle.timer.as_mut().poll(cx).is_ready() {
                let deadline = idle.last + idle.timeout;
                if R::now() >= deadline {
                    return Poll::Ready(End::Idle(idle.timeout));
                }
                R::reset(idle.timer.as_mut(), deadline);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    /// A source with `available` bytes ready now (then pending), into a sink that
    /// takes everything.
    struct Fake {
        available: usize,
        written: usize,
    }

    impl Route for Fake {
        fn read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if self.available == 0 {
                return Poll::Pending;
            }
            let n = buf.len().min(self.available);
            self.available -= n;
            Poll::Ready(Ok(n))
        }
        fn write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            self.written += buf.len();
            Poll::Ready(Ok(buf.len()))
        }
        fn flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Polls one direction with `available` bytes waiting; gives its buffer size.
    fn buffer_after(available: usize) -> usize {
        let mut half = Half::new();
        let mut route = Fake {
            available,
            written: 0,
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut active = false;
        while route.written < available {
            assert!(poll_half(&mut half, &mut route, &mut cx, &mut active).is_pending());
        }
        assert_eq!(half.bytes, available as u64);
        half.buf.len()
    }

    #[test]
    fn the_buffer_grows_only_for_bulk_traffic() {
        assert_eq!(buffer_after(100), INITIAL_BUFFER_SIZE);
        assert_eq!(buffer_after(INITIAL_BUFFER_SIZE - 1), INITIAL_BUFFER_SIZE);
        // A read that fills the buffer may have left more behind.
        assert_eq!(buffer_after(INITIAL_BUFFER_SIZE), BUFFER_SIZE);
        assert_eq!(buffer_after(10 * BUFFER_SIZE), BUFFER_SIZE);
    }
}
