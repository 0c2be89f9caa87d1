//! Copying both ways between two streams (or echoing one), with half-close, byte
//! counts and an idle timeout: one hand-written future, generic over the runtime.
//!
//! A direction holds a buffer only while data is in flight, as HAProxy does: it
//! takes one from a per-thread pool (`pool` below) just before a read, and gives it
//! back as soon as a read is pending with nothing left to write (and at EOF, and
//! when the pipe is dropped). So an idle connection holds no buffer at all, only
//! the connections moving bytes at this moment do, and the pool makes taking one
//! a pop from a list (no allocation, no zeroing) in the steady state. A direction
//! reads 8 KiB at a time until a read fills that buffer (bulk traffic): from then
//! on it takes 64 KiB buffers. A direction that reads EOF flushes and half-closes
//! (`shutdown(SHUT_WR)`) its destination; the pipe ends when both directions have,
//! on the first error, or when idle too long.

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
    /// Taken from the pool for a read, given back once everything read was
    /// written and the next read is pending: `None` while the direction idles.
    buf: Option<Box<[u8]>>,
    /// A read filled its buffer: read [`BUFFER_SIZE`] bytes at a time from now on.
    bulk: bool,
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
            buf: None,
            bulk: false,
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
            buf: None,
            bulk: false,
            pos: 0,
            cap: 0,
            bytes: 0,
            unflushed: false,
            eof: true,
            done: true,
        }
    }

    /// The buffer to read into: the one held, or one from the pool, of the size
    /// this direction reads at.
    fn read_buf(&mut self) -> &mut [u8] {
        let size = if self.bulk {
            BUFFER_SIZE
        } else {
            INITIAL_BUFFER_SIZE
        };
        if self.buf.as_ref().is_some_and(|b| b.len() != size) {
            self.release();
        }
        self.buf.get_or_insert_with(|| pool::take(size))
    }

    /// Gives the buffer back to the pool (nothing in it is still to be written).
    fn release(&mut self) {
        debug_assert!(self.pos == self.cap);
        if let Some(buf) = self.buf.take() {
            pool::give(buf);
        }
        self.pos = 0;
        self.cap = 0;
    }
}

impl Drop for Half {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            pool::give(buf);
        }
    }
}

/// The per-thread pool of copy buffers: two free lists (8 KiB and 64 KiB), each
/// bounded, so a burst of busy connections leaves at most [`pool::KEPT_BYTES`] per
/// size per thread behind (the rest is freed). A buffer may be given back on
/// another thread than it was taken on (a task moved by a work-stealing runtime):
/// it then simply joins that thread's pool.
mod pool {
    use std::cell::RefCell;

    use super::{BUFFER_SIZE, INITIAL_BUFFER_SIZE};

    /// Bytes of free buffers kept per size and per thread.
    pub(super) const KEPT_BYTES: usize = 1024 * 1024;

    struct Pool {
        small: Vec<Box<[u8]>>,
        large: Vec<Box<[u8]>>,
    }

    thread_local! {
        static POOL: RefCell<Pool> = const {
            RefCell::new(Pool {
                small: Vec::new(),
                large: Vec::new(),
            })
        };
    }

    /// The free list for buffers of `size` bytes, with how many it keeps.
    fn list(pool: &mut Pool, size: usize) -> Option<(&mut Vec<Box<[u8]>>, usize)> {
        match size {
            INITIAL_BUFFER_SIZE => Some((&mut pool.small, KEPT_BYTES / INITIAL_BUFFER_SIZE)),
            BUFFER_SIZE => Some((&mut pool.large, KEPT_BYTES / BUFFER_SIZE)),
            _ => None,
        }
    }

    /// A buffer of `size` bytes: a free one, or a new one.
    pub(super) fn take(size: usize) -> Box<[u8]> {
        POOL.try_with(|p| list(&mut p.borrow_mut(), size).and_then(|(free, _)| free.pop()))
            .ok()
            .flatten()
            .unwrap_or_else(|| vec![0; size].into_boxed_slice())
    }

    /// Gives `buf` back: kept for the next [`take`] unless the pool is full (or the
    /// thread is exiting), freed otherwise.
    pub(super) fn give(buf: Box<[u8]>) {
        let _ = POOL.try_with(|p| {
            if let Some((free, kept)) = list(&mut p.borrow_mut(), buf.len()) {
                if free.len() < kept {
                    free.push(buf);
                }
            }
        });
    }

    /// Free buffers in this thread's pool: (8 KiB ones, 64 KiB ones).
    #[cfg(test)]
    pub(super) fn free() -> (usize, usize) {
        POOL.with(|p| {
            let p = p.borrow();
            (p.small.len(), p.large.len())
        })
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
            let buf = half
                .buf
                .as_deref()
                .expect("bytes in flight are in a buffer");
            match route.write(cx, &buf[half.pos..half.cap]) {
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
                // Everything read was written: the buffer is not needed while this
                // direction waits for its next turn.
                half.release();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let buf = half.read_buf();
            let size = buf.len();
            match route.read(cx, buf) {
                Poll::Ready(Ok(0)) => {
                    half.eof = true;
                    half.release();
                }
                Poll::Ready(Ok(n)) => {
                    half.pos = 0;
                    half.cap = n;
                    // The read filled the buffer and may have left more behind: bulk,
                    // so read more at a time from now on.
                    half.bulk |= n == size;
                    chunks += 1;
                    *active = true;
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    half.release();
                    return Poll::Ready(Err(Failed::Read(e)));
                }
                Poll::Pending => {
                    // Nothing more to read for now: give the buffer back, push out
                    // what a buffering writer (TLS) holds, then wait.
                    half.release();
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
    /// takes everything unless `blocked`.
    #[derive(Default)]
    struct Fake {
        available: usize,
        written: usize,
        blocked: bool,
        /// The largest buffer a read was given.
        largest_read: usize,
    }

    impl Route for Fake {
        fn read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            self.largest_read = self.largest_read.max(buf.len());
            if self.available == 0 {
                return Poll::Pending;
            }
            let n = buf.len().min(self.available);
            self.available -= n;
            Poll::Ready(Ok(n))
        }
        fn write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.blocked {
                return Poll::Pending;
            }
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

    fn poll(half: &mut Half, route: &mut Fake) -> Poll<Result<(), Failed>> {
        let mut cx = Context::from_waker(Waker::noop());
        poll_half(half, route, &mut cx, &mut false)
    }

    /// Copies `available` waiting bytes through one direction; gives the largest
    /// buffer it read into.
    fn buffer_after(available: usize) -> usize {
        let mut half = Half::new();
        let mut route = Fake {
            available,
            ..Fake::default()
        };
        while route.written < available {
            assert!(poll(&mut half, &mut route).is_pending());
        }
        assert_eq!(half.bytes, available as u64);
        route.largest_read
    }

    #[test]
    fn the_buffer_grows_only_for_bulk_traffic() {
        assert_eq!(buffer_after(100), INITIAL_BUFFER_SIZE);
        assert_eq!(buffer_after(INITIAL_BUFFER_SIZE - 1), INITIAL_BUFFER_SIZE);
        // A read that fills the buffer may have left more behind.
        assert_eq!(buffer_after(INITIAL_BUFFER_SIZE), BUFFER_SIZE);
        assert_eq!(buffer_after(10 * BUFFER_SIZE), BUFFER_SIZE);
    }

    #[test]
    fn an_idle_direction_holds_no_buffer() {
        let mut half = Half::new();
        assert!(half.buf.is_none(), "no buffer before the first read");
        let mut route = Fake {
            available: 100,
            ..Fake::default()
        };
        // Reads 100 bytes, writes them, then the next read is pending: idle.
        assert!(poll(&mut half, &mut route).is_pending());
        assert_eq!(route.written, 100);
        assert!(
            half.buf.is_none(),
            "an idle direction gives its buffer back"
        );

        // Bytes that cannot be written yet keep theirs.
        route.available = 10;
        route.blocked = true;
        assert!(poll(&mut half, &mut route).is_pending());
        assert_eq!(
            half.buf.as_ref().map(|b| b.len()),
            Some(INITIAL_BUFFER_SIZE)
        );
        route.blocked = false;
        assert!(poll(&mut half, &mut route).is_pending());
        assert_eq!(route.written, 110);
        assert!(half.buf.is_none());

        // EOF: given back too.
        let mut route = Fake::default();
        let mut half = Half::new();
        half.eof = true;
        assert!(matches!(poll(&mut half, &mut route), Poll::Ready(Ok(()))));
        assert!(half.buf.is_none());
    }

    #[test]
    fn buffers_are_reused_from_a_bounded_pool() {
        let (small, _) = pool::free();
        let mut half = Half::new();
        let mut route = Fake {
            available: 100,
            ..Fake::default()
        };
        assert!(poll(&mut half, &mut route).is_pending());
        // The buffer went back to this thread's pool...
        let (after, _) = pool::free();
        assert!(after >= 1 && after >= small);
        // ... and the next read takes it from there.
        route.available = 1;
        route.blocked = true;
        assert!(poll(&mut half, &mut route).is_pending());
        assert_eq!(pool::free().0, after - 1);
        drop(half);
        assert_eq!(
            pool::free().0,
            after,
            "a dropped pipe gives its buffers back"
        );

        // At most KEPT_BYTES a size are kept.
        let many = 2 * pool::KEPT_BYTES / BUFFER_SIZE;
        let bufs: Vec<_> = (0..many).map(|_| pool::take(BUFFER_SIZE)).collect();
        bufs.into_iter().for_each(pool::give);
        assert_eq!(pool::free().1, pool::KEPT_BYTES / BUFFER_SIZE);
    }
}
