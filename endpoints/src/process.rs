//! `process:` clients: a child process's stdin and stdout as one stream, and the
//! policy that ends the child's processes when the stream goes.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use strports_core::ProcessClient;
use strports_core::endpoint::Address;
use strports_sys::process::{CommandSpec, exit_error, group_exists, signal_group};

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
/// * The child runs in a process group of its own, and so does everything it starts
///   (unless that makes a group of its own). Dropping the stream ends them all:
///   `SIGTERM` (and `SIGCONT`, for a stopped one) to the group at once, then
///   `SIGKILL` to whatever is left of it after a grace period
///   ([`DEFAULT_KILL_GRACE`], 5 s; [`set_kill_grace`](ProcessStream::set_kill_grace)),
///   sent from a thread of this crate, so it happens even when no runtime is left to
///   run a timer. The runtime reaps the child in the background, so no zombie is
///   left; a grandchild that dies is reaped by init, as any orphan.
/// * Being a group of its own, the child is not in the terminal's foreground group:
///   Ctrl-C at the terminal does not reach it (the program decides; dropping the
///   stream ends it), and a child that reads the terminal itself (a password
///   prompt) is stopped by `SIGTTIN`.
/// * Standard error is logged, dropped or passed through as `errFlag` says (see
///   [`strports_sys::process::StderrLog`]).
pub struct ProcessStream<R: Runtime> {
    program: String,
    pid: u32,
    stdin: Option<Io<R, File>>,
    stdout: Io<R, File>,
    exit: Exit,
    /// Between `SIGTERM` and `SIGKILL` to the child's group when dropped.
    kill_grace: Duration,
}

/// How long the processes of a dropped [`ProcessStream`] get between `SIGTERM` and
/// `SIGKILL` unless told otherwise: 5 s.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

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
        kill_grace: DEFAULT_KILL_GRACE,
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

    /// How long the child's process group gets between `SIGTERM` and `SIGKILL` once
    /// the stream is dropped ([`DEFAULT_KILL_GRACE`] unless set).
    pub fn kill_grace(&self) -> Duration {
        self.kill_grace
    }

    /// Sets how long the child's process group gets between `SIGTERM` and `SIGKILL`
    /// once the stream is dropped; `Duration::ZERO` sends `SIGKILL` at once.
    pub fn set_kill_grace(&mut self, grace: Duration) {
        self.kill_grace = grace;
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

/// Ends the child's process group: see [`ProcessStream`]. Our ends of its pipes
/// close right after (the fields drop after this), and the [`Child`] future, dropped
/// too, leaves the runtime to reap the child.
impl<R: Runtime> Drop for ProcessStream<R> {
    fn drop(&mut self) {
        terminate_group(self.pid, self.kill_grace);
    }
}

/// `SIGTERM` and `SIGCONT` to the process group `pgid` now, and `SIGKILL` to what
/// is left of it once `grace` has passed (at once for a zero grace). The group is
/// the child's even after the child itself was reaped, as long as one of its
/// processes lives (see [`signal_group`]).
fn terminate_group(pgid: u32, grace: Duration) {
    let result = if grace.is_zero() {
        signal_group(pgid, libc::SIGKILL).map(drop)
    } else {
        match signal_group(pgid, libc::SIGTERM) {
            Ok(true) => {
                // A stopped process acts on SIGTERM only once continued.
                let _ = signal_group(pgid, libc::SIGCONT);
                let deadline = Instant::now().checked_add(grace);
                kill_after(pgid, deadline);
                Ok(())
            }
            // Nothing left of the group: nothing to do.
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "strports::process", pgid, error = %e, "cannot signal the process group");
    }
}

/// Process groups sent `SIGTERM`, and when they get `SIGKILL` (`None`: never).
static DOOMED: Mutex<Vec<(u32, Option<Instant>)>> = Mutex::new(Vec::new());
/// Wakes the thread watching [`DOOMED`] when a group is added.
static DOOMED_ADDED: Condvar = Condvar::new();
/// How often the watching thread checks whether its groups are gone.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// Sends `SIGKILL` to the group `pgid` at `deadline` unless it is gone by then,
/// from one thread for the whole process (started at the first call). If that
/// thread cannot be started, `SIGKILL` goes at once.
fn kill_after(pgid: u32, deadline: Option<Instant>) {
    static WATCHER: OnceLock<bool> = OnceLock::new();
    let started = *WATCHER.get_or_init(|| {
        std::thread::Builder::new()
            .name("strports-kill-grace".to_owned())
            .spawn(watch_doomed)
            .is_ok()
    });
    if !started {
        let _ = signal_group(pgid, libc::SIGKILL);
        return;
    }
    let mut doomed = DOOMED.lock().unwrap_or_else(|p| p.into_inner());
    doomed.push((pgid, deadline));
    DOOMED_ADDED.notify_one();
}

/// The watching thread: forgets each group once it is gone, sends `SIGKILL` to
/// those whose grace ran out; sleeps while there is none.
fn watch_doomed() {
    let mut doomed = DOOMED.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        doomed.retain(|&(pgid, deadline)| {
            if !group_exists(pgid) {
                return false;
            }
            if deadline.is_some_and(|d| now >= d) {
                if let Err(e) = signal_group(pgid, libc::SIGKILL) {
                    tracing::debug!(target: "strports::process", pgid, error = %e, "cannot kill the process group");
                }
                return false;
            }
            true
        });
        doomed = if doomed.is_empty() {
            DOOMED_ADDED.wait(doomed).unwrap_or_else(|p| p.into_inner())
        } else {
            let next = doomed.iter().filter_map(|&(_, d)| d).min();
            let wait = next.map_or(WATCH_INTERVAL, |d| {
                d.saturating_duration_since(now).min(WATCH_INTERVAL)
            });
            DOOMED_ADDED
                .wait_timeout(doomed, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0
        };
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
