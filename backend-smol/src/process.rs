//! `process:` clients: a child process's stdin and stdout as one stream.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::task::{Context, Poll, ready};

use async_process::{Child, ChildStdin, ChildStdout};
use futures_io::{AsyncRead, AsyncWrite};
use strports_core::ProcessClient;
use strports_core::endpoint::Address;
use strports_sys::process::{CommandSpec, exit_error};

/// A running child process as a connection (from a `process:` description): writes
/// go to its standard input, reads come from its standard output.
///
/// * `close()` closes the child's standard input (it reads EOF); later writes
///   fail with [`io::ErrorKind::BrokenPipe`].
/// * When its standard output ends, the read that would return EOF first waits for
///   the child to exit (as Twisted's `connectionLost` comes after `processEnded`).
///   Exit status 0 gives EOF; any other status, or death by a signal, gives an
///   error instead, such as `process "false" exited with status 1` or
///   `process "sleep" was killed by signal 9 (SIGKILL)`, on that read and every
///   later one. [`exit_status`](ProcessStream::exit_status) has the status from
///   then on.
/// * Dropping the stream kills the child (`SIGKILL`) if it is still running;
///   async-process reaps it in the background, so no zombie is left.
/// * Standard error is logged, dropped or passed through as `errFlag` says (see
///   [`strports_sys::process::StderrLog`]).
pub struct ProcessStream {
    program: String,
    pid: u32,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    exit: Exit,
    // Dropping it kills the child (`kill_on_drop`).
    _child: Child,
}

enum Exit {
    Running(Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + Sync>>),
    Done(ExitStatus),
}

/// Starts the program of `desc` (see [`ProcessStream`]).
pub(crate) fn spawn(desc: &ProcessClient) -> io::Result<ProcessStream> {
    let spec = CommandSpec::new(desc);
    let (mut child, log) = {
        let (command, stderr) = spec.command()?;
        let mut command = async_process::Command::from(command);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.stdio)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| spec.spawn_error(e))?;
        // `command` drops here, closing our copy of the stderr pipe's write end, so
        // the log thread sees EOF when the child is gone.
        (child, stderr.log)
    };
    let missing = || io::Error::other(format!("process {:?}: no pipes", spec.program));
    let pid = child.id();
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    if let Some(log) = log {
        log.start(pid)
            .map_err(|e| strports_sys::context(e, "cannot start the stderr logging thread"))?;
    }
    Ok(ProcessStream {
        program: spec.program,
        pid,
        stdin: Some(stdin),
        stdout,
        // `status()` drops the child's stdin, which is already taken.
        exit: Exit::Running(Box::pin(child.status())),
        _child: child,
    })
}

impl ProcessStream {
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
    pub fn peer_address(&self) -> Address {
        Address::Process(self.pid)
    }

    fn poll_exit(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Exit::Running(wait) = &mut self.exit {
            let status = ready!(wait.as_mut().poll(cx)).map_err(|e| {
                strports_sys::context(e, format_args!("cannot wait for {:?}", self.program))
            })?;
            self.exit = Exit::Done(status);
        }
        match self.exit {
            Exit::Done(status) => Poll::Ready(Ok(status)),
            Exit::Running(_) => Poll::Pending,
        }
    }

    fn stdin(&mut self) -> io::Result<&mut ChildStdin> {
        let program = &self.program;
        self.stdin.as_mut().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("standard input of process {program:?} is closed"),
            )
        })
    }
}

impl fmt::Debug for ProcessStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessStream")
            .field("program", &self.program)
            .field("pid", &self.pid)
            .field("stdin_open", &self.stdin.is_some())
            .field("exit_status", &self.exit_status())
            .finish()
    }
}

impl AsyncRead for ProcessStream {
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

impl AsyncWrite for ProcessStream {
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stdin {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Closes the child's standard input.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(stdin) = &mut this.stdin {
            ready!(Pin::new(stdin).poll_flush(cx))?;
        }
        this.stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// The descriptor reads come from (the child's standard output pipe).
impl AsFd for ProcessStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stdout.as_fd()
    }
}
