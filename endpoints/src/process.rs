//! `process:` clients: a child process's stdin and stdout as one stream.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use strports_core::ProcessClient;
use strports_core::endpoint::Address;
use strports_sys::process::{CommandSpec, exit_error};

use crate::io::{Duplex, Io};
use crate::runtime::{Child, ChildStdio, Interest, Runtime};

/// A running child process as a connection (from a `process:` description): writes
/// go to its standard input, reads come from its standard output, both through the
/// runtime's reactor.
///
/// * Closing the write side (`close()` with futures-io, `shutdown()` with tokio)
///   closes the child's standard input (it reads EOF); later writes fail with
///   [`io::ErrorKind::BrokenPipe`].
/// * When its standard output ends, the read that would return EOF first waits for
///   the child to exit (as Twisted's `connectionLost` comes after `processEnded`).
///   Exit status 0 gives EOF; any other status, or death by a signal, gives an
///   error instead, such as `process "false" exited with status 1` or
///   `process "sleep" was killed by signal 9 (SIGKILL)`, on that read and every
///   later one. [`exit_status`](ProcessStream::exit_status) has the status from
///   then on.
/// * Dropping the stream kills the child (`SIGKILL`) if it is still running; the
///   runtime reaps it in the background, so no zombie is left.
/// * Standard error is logged, dropped or passed through as `errFlag` says (see
///   [`strports_sys::process::StderrLog`]).
pub struct ProcessStream<R: Runtime> {
    program: String,
    pid: u32,
    stdin: Option<Io<R, File>>,
    stdout: Io<R, File>,
    exit: Exit,
}

/// The child, owned by the future that waits for it: dropping the future kills it.
enum Exit {
    Running(Child),
    Done(ExitStatus),
}

/// Starts the program of `desc` (see [`ProcessStream`]).
pub(crate) fn spawn<R: Runtime>(desc: &ProcessClient) -> io::Result<ProcessStream<R>> {
    let spec = CommandSpec::new(desc);
    let pipes = strports_sys::process::child_pipes().map_err(|e| spec.spawn_error(e))?;
    let (child, log) = {
        let (command, stderr) = spec.command()?;
        let stdio = ChildStdio {
            stdin: pipes.child_stdin,
            stdout: pipes.child_stdout,
            stderr: stderr.stdio,
        };
        let child = R::spawn_child(command, stdio).map_err(|e| spec.spawn_error(e))?;
        // `command` is gone here, and with it our copies of the child's ends of the
        // pipes (the stderr pipe's too), so we see EOF when the child is gone.
        (child, stderr.log)
    };
    let pid = child.pid;
    let stdin = Io::new(pipes.stdin, Interest::Write)?;
    let stdout = Io::new(pipes.stdout, Interest::Read)?;
    if let Some(log) = log {
        log.start(pid)
            .map_err(|e| strports_sys::context(e, "cannot start the stderr logging thread"))?;
    }
    Ok(ProcessStream {
        program: spec.program,
        pid,
        stdin: Some(stdin),
        stdout,
        exit: Exit::Running(child),
    })
}

impl<R: Runtime> ProcessStream<R> {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's exit status, once a read has reached the end of the stream
    /// (`None` before).
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.exit {
            Exit::Done(status) => Some(status),
            Exit::Running(_) => None,
        }
    }

    /// [`Address::Process`] with the child's pid.
    pub fn peer_addr(&self) -> Address {
        Address::Process(self.pid)
    }

    fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Exit::Running(child) = &mut self.exit {
            let status = ready!(child.exit.as_mut().poll(cx)).map_err(|e| {
                strports_sys::context(e, format_args!("cannot wait for {:?}", self.program))
            })?;
            self.exit = Exit::Done(status);
        }
        match self.exit {
            Exit::Done(status) => Poll::Ready(Ok(status)),
            Exit::Running(_) => Poll::Pending,
        }
    }

    /// Writes to the child's stdin what the pipe takes now, without waiting.
    pub(crate) fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.stdin {
            Some(stdin) => stdin.get_ref().write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn stdin(&mut self) -> io::Result<&mut Io<R, File>> {
        let program = &self.program;
        self.stdin.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("standard input of process {program:?} is closed"),
            )
        })
    }
}

impl<R: Runtime> fmt::Debug for ProcessStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessStream")
            .field("program", &self.program)
            .field("pid", &self.pid)
            .field("stdin_open", &self.stdin.is_some())
            .field("exit_status", &self.exit_status())
            .finish()
    }
}

impl<R: Runtime> AsyncRead for ProcessStream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = ready!(Pin::new(&mut this.stdout).poll_read(cx, buf))?;
        if n > 0 {
            return Poll::Ready(Ok(n));
        }
        let status = ready!(this.poll_exit(cx))?;
        match exit_error(&this.program, status) {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(0)),
        }
    }
}

impl<R: Runtime> AsyncWrite for ProcessStream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stdin()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().stdin()?).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the child's standard input.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// The descriptor reads come from (the child's standard output pipe).
impl<R: Runtime> AsFd for ProcessStream<R> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stdout.as_fd()
    }
}
