//! `stdio` servers: the process's standard input and output as one connection.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use strports_core::endpoint::Address;
use strports_sys::stdio::{FlagsGuard, Side, ThreadReader};

use crate::io::Io;
use crate::runtime::{Interest, Runtime};

/// The listener of a `stdio` description: its first `accept` gives the one
/// connection over standard input and output ([`StdioStream`], peer
/// [`Address::Stdio`]); every later `accept` fails at once with
/// [`io::ErrorKind::NotConnected`] ("stdio has only one connection"), which makes a
/// `serve` loop stop accepting.
pub struct StdioListener<R: Runtime> {
    stream: Mutex<Option<StdioStream<R>>>,
    /// A duplicate of fd 0, for `as_fd`.
    input: OwnedFd,
}

impl<R: Runtime> fmt::Debug for StdioListener<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioListener")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> StdioListener<R> {
    /// Duplicates fd 0 and fd 1 and registers the pollable ones with the runtime.
    pub(crate) fn new() -> io::Result<Self> {
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

    /// The one connection, the first time; [`io::ErrorKind::NotConnected`] after.
    pub fn accept(&self) -> io::Result<(StdioStream<R>, Address)> {
        let mut stream = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        match stream.take() {
            Some(s) => Ok((s, Address::Stdio)),
            None => Err(strports_sys::stdio::only_one_connection()),
        }
    }
}

/// Standard input (a duplicate of fd 0): there is no listening socket.
impl<R: Runtime> AsFd for StdioListener<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.input.as_fd()
    }
}

/// The process's standard input and output as a connection (from a `stdio`
/// listener). Reads come from fd 0, writes go to fd 1, through duplicates.
///
/// Pipes and sockets are made non-blocking and go through the runtime's reactor
/// (their original flags come back when the stream is dropped); terminals and files
/// are read on a dedicated thread and written with blocking writes, so the terminal
/// the program runs in is never switched to non-blocking mode. (tokio's own
/// `stdin()` is not used: its blocking-pool read can delay runtime shutdown.)
///
/// Closing the write side closes the duplicate of fd 1; the peer sees EOF once fd 1
/// itself is closed too (normally when the program exits).
pub struct StdioStream<R: Runtime> {
    reader: Reader<R>,
    writer: Writer<R>,
    // Last: restores the flags after both duplicates are closed.
    _guard: FlagsGuard,
}

impl<R: Runtime> fmt::Debug for StdioStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioStream").finish_non_exhaustive()
    }
}

enum Reader<R: Runtime> {
    Reactor(Io<R, File>),
    /// The thread owns one duplicate; the other is kept for `as_fd`.
    Thread(ThreadReader, OwnedFd),
}

enum Writer<R: Runtime> {
    Reactor(Io<R, File>),
    Blocking(File),
    Closed,
}

impl<R: Runtime> Reader<R> {
    fn new(side: Side) -> io::Result<Self> {
        if side.kind.pollable() {
            Ok(Reader::Reactor(Io::new(
                File::from(side.fd),
                Interest::Read,
            )?))
        } else {
            let keep = side.fd.try_clone()?;
            Ok(Reader::Thread(ThreadReader::new(side.fd)?, keep))
        }
    }
}

impl<R: Runtime> Writer<R> {
    fn new(side: Side) -> io::Result<Self> {
        if side.kind.pollable() {
            Ok(Writer::Reactor(Io::new(
                File::from(side.fd),
                Interest::Write,
            )?))
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

impl<R: Runtime> AsyncRead for StdioStream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().reader {
            Reader::Reactor(fd) => Pin::new(fd).poll_read(cx, buf),
            Reader::Thread(reader, _) => reader.poll_read(cx, buf),
        }
    }
}

impl<R: Runtime> AsyncWrite for StdioStream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().writer {
            Writer::Reactor(fd) => Pin::new(fd).poll_write(cx, buf),
            Writer::Blocking(file) => Poll::Ready(file.write(buf)),
            Writer::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the descriptor.
        Poll::Ready(Ok(()))
    }

    /// Closes this stream's duplicate of fd 1.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer = Writer::Closed;
        Poll::Ready(Ok(()))
    }
}

/// The descriptor reads come from (a duplicate of fd 0).
impl<R: Runtime> AsFd for StdioStream<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.reader {
            Reader::Reactor(fd) => fd.as_fd(),
            Reader::Thread(_, fd) => fd.as_fd(),
        }
    }
}
