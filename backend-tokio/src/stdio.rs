//! `stdio` servers: the process's standard input and output as one connection.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, ready};

use strports_core::endpoint::Address;
use strports_sys::stdio::{FlagsGuard, Side, ThreadReader};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::Stream;

/// The listener of a `stdio` description: its first `accept` gives the one
/// connection over standard input and output ([`StdioStream`], peer
/// [`Address::Stdio`]); every later `accept` fails at once with
/// [`io::ErrorKind::NotConnected`] ("stdio has only one connection"), which makes a
/// [`serve`](crate::serve) loop stop accepting.
#[derive(Debug)]
pub struct StdioListener {
    stream: Mutex<Option<StdioStream>>,
    /// A duplicate of fd 0, for `as_fd`.
    input: OwnedFd,
}

impl StdioListener {
    /// Duplicates fd 0 and fd 1 and registers the pollable ones with tokio.
    pub(crate) fn new() -> io::Result<StdioListener> {
        let fds = strports_sys::stdio::open()?;
        let input = fds.input.fd.try_clone()?;
        let stream = StdioStream {
            reader: Reader::new(fds.input)?,
            writer: Writer::new(fds.output)?,
            _guard: fds.guard,
        };
        Ok(StdioListener {
            stream: Mutex::new(Some(stream)),
            input,
        })
    }

    pub(crate) fn accept(&self) -> io::Result<(Stream, Address)> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        match stream.take() {
            Some(s) => Ok((Stream::Stdio(s), Address::Stdio)),
            None => Err(strports_sys::stdio::only_one_connection()),
        }
    }
}

/// Standard input (a duplicate of fd 0): there is no listening socket.
impl AsFd for StdioListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.input.as_fd()
    }
}

/// The process's standard input and output as a connection (from a `stdio`
/// listener). Reads come from fd 0, writes go to fd 1, through duplicates.
///
/// Pipes and sockets are made non-blocking and go through tokio's reactor (their
/// original flags come back when the stream is dropped); terminals and files are
/// read on a dedicated thread and written with blocking writes, so the terminal
/// the program runs in is never switched to non-blocking mode. tokio's own `stdin()`
/// is not used: its blocking-pool read can delay runtime shutdown.
///
/// `shutdown()` closes the duplicate of fd 1; the peer sees EOF once fd 1 itself is
/// closed too (normally when the program exits).
#[derive(Debug)]
pub struct StdioStream {
    reader: Reader,
    writer: Writer,
    // Last: restores the flags after both duplicates are closed.
    _guard: FlagsGuard,
}

#[derive(Debug)]
enum Reader {
    Reactor(AsyncFd<File>),
    /// The thread owns one duplicate; the other is kept for `as_fd`.
    Thread(ThreadReader, OwnedFd),
}

#[derive(Debug)]
enum Writer {
    Reactor(AsyncFd<File>),
    Blocking(File),
    Closed,
}

/// Registers `fd` with tokio's reactor.
fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<File>> {
    // SAFETY: the `File` owns the descriptor, so it stays open and the same for as
    // long as the `AsyncFd` owns the `File`.
    Ok(unsafe { AsyncFd::register_with_interest(File::from(fd), interest) }?)
}

impl Reader {
    fn new(side: Side) -> io::Result<Reader> {
        if side.kind.pollable() {
            Ok(Reader::Reactor(register(side.fd, Interest::READABLE)?))
        } else {
            let keep = side.fd.try_clone()?;
            Ok(Reader::Thread(ThreadReader::new(side.fd)?, keep))
        }
    }
}

impl Writer {
    fn new(side: Side) -> io::Result<Writer> {
        if side.kind.pollable() {
            Ok(Writer::Reactor(register(side.fd, Interest::WRITABLE)?))
        } else {
            Ok(Writer::Blocking(File::from(side.fd)))
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "standard output connection is shut down",
    )
}

impl AsyncRead for StdioStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        let n = match &self.get_mut().reader {
            Reader::Reactor(fd) => loop {
                let mut guard = ready!(fd.poll_read_ready(cx))?;
                match guard.try_io(|fd| {
                    let mut file: &File = fd.get_ref();
                    file.read(unfilled)
                }) {
                    Ok(result) => break result?,
                    Err(_would_block) => continue,
                }
            },
            Reader::Thread(reader, _) => ready!(reader.poll_read(cx, unfilled))?,
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StdioStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &self.get_mut().writer {
            Writer::Reactor(fd) => loop {
                let mut guard = ready!(fd.poll_write_ready(cx))?;
                match guard.try_io(|fd| {
                    let mut file: &File = fd.get_ref();
                    file.write(buf)
                }) {
                    Ok(result) => return Poll::Ready(result),
                    Err(_would_block) => continue,
                }
            },
            Writer::Blocking(file) => {
                let mut file: &File = file;
                Poll::Ready(file.write(buf))
            }
            Writer::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the descriptor.
        Poll::Ready(Ok(()))
    }

    /// Closes this stream's duplicate of fd 1.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer = Writer::Closed;
        Poll::Ready(Ok(()))
    }
}

/// The descriptor reads come from (a duplicate of fd 0).
impl AsFd for StdioStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.reader {
            Reader::Reactor(fd) => fd.get_ref().as_fd(),
            Reader::Thread(_, fd) => fd.as_fd(),
        }
    }
}
