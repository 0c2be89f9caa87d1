//! The process's standard input and output as one connection (`stdio` servers).
//!
//! [`open`] duplicates fd 0 and fd 1 and decides, per side, how a backend may use
//! it without upsetting the rest of the program:
//!
//! * pipes and sockets ([`Kind::pollable`]) get `O_NONBLOCK` and go through the
//!   runtime's reactor. `O_NONBLOCK` belongs to the open file description, which the
//!   duplicate shares with fd 0/1 (and with any process that inherited them), so the
//!   original flags are put back when the [`FlagsGuard`] drops;
//! * terminals, regular files and other devices are left as they are: `O_NONBLOCK`
//!   on a terminal would also hit the shell that started us, and regular files cannot
//!   be polled. Reads run on a dedicated thread ([`ThreadReader`]), writes are plain
//!   blocking writes (a terminal or file takes them at once).
//!
//! Nothing here uses a runtime's own stdin (tokio's `stdin()` reads on a blocking
//! pool thread that can keep the runtime from shutting down while it waits for
//! input); the reader thread here is a plain detached thread.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What a standard descriptor refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A terminal.
    Tty,
    /// A pipe or FIFO.
    Pipe,
    /// A socket (inetd, socket activation, `socketpair`).
    Socket,
    /// A regular file.
    File,
    /// Anything else: a character device such as `/dev/null`, a directory, ...
    Other,
}

impl Kind {
    /// Whether the runtime's reactor can wait on it (pipes and sockets).
    pub fn pollable(self) -> bool {
        matches!(self, Kind::Pipe | Kind::Socket)
    }
}

/// What `fd` refers to.
///
/// ```
/// use std::os::fd::AsFd;
/// use strports_sys::stdio::{Kind, kind};
///
/// let file = tempfile::tempfile()?;
/// assert_eq!(kind(file.as_fd())?, Kind::File);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn kind(fd: BorrowedFd<'_>) -> io::Result<Kind> {
    let raw = fd.as_raw_fd();
    // SAFETY: isatty only inspects the (open, borrowed) descriptor.
    if unsafe { libc::isatty(raw) } == 1 {
        return Ok(Kind::Tty);
    }
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `stat`; the descriptor is open.
    if unsafe { libc::fstat(raw, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => Kind::Pipe,
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFREG => Kind::File,
        _ => Kind::Other,
    })
}

/// One standard descriptor, duplicated.
#[derive(Debug)]
pub struct Side {
    /// The duplicate (close-on-exec). Non-blocking if `kind` is pollable.
    pub fd: OwnedFd,
    /// What it refers to.
    pub kind: Kind,
}

/// Standard input and output, ready for a backend: see the [module docs](self).
#[derive(Debug)]
pub struct StdioFds {
    /// A duplicate of fd 0.
    pub input: Side,
    /// A duplicate of fd 1.
    pub output: Side,
    /// Puts the original `O_NONBLOCK` state back when dropped. Keep it until both
    /// sides are closed: fd 0 and fd 1 may share one description (a socket), so
    /// restoring early would make the other side blocking under the reactor.
    pub guard: FlagsGuard,
}

/// Restores the `O_NONBLOCK` flag of descriptions [`open`] changed.
#[derive(Debug, Default)]
pub struct FlagsGuard {
    saved: Vec<(OwnedFd, bool)>,
}

impl Drop for FlagsGuard {
    fn drop(&mut self) {
        for (fd, nonblocking) in &self.saved {
            // Best effort: nothing useful to do if the descriptor went bad.
            let _ = set_nonblocking(fd.as_fd(), *nonblocking);
        }
    }
}

fn flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads the flags of the open, borrowed descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(flags)
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let old = flags(fd)?;
    let new = if on {
        old | libc::O_NONBLOCK
    } else {
        old & !libc::O_NONBLOCK
    };
    if new != old {
        // SAFETY: F_SETFL with flags derived from F_GETFL on the same descriptor.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Duplicates fd 0 and fd 1 and prepares them as the [module docs](self) say.
/// Fails if either is closed.
pub fn open() -> io::Result<StdioFds> {
    let context = |e, which| crate::error::context(e, format_args!("cannot use standard {which}"));
    let input = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| context(e, "input"))?;
    let output = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| context(e, "output"))?;
    let input_kind = kind(input.as_fd()).map_err(|e| context(e, "input"))?;
    let output_kind = kind(output.as_fd()).map_err(|e| context(e, "output"))?;
    // Read both original states before changing either: fd 0 and fd 1 may be the
    // same description.
    let mut saved = Vec::new();
    for (fd, kind) in [(&input, input_kind), (&output, output_kind)] {
        if kind.pollable() {
            let nonblocking = flags(fd.as_fd())? & libc::O_NONBLOCK != 0;
            saved.push((fd.try_clone()?, nonblocking));
        }
    }
    let guard = FlagsGuard { saved };
    for (fd, kind) in [(&input, input_kind), (&output, output_kind)] {
        if kind.pollable() {
            set_nonblocking(fd.as_fd(), true)?;
        }
    }
    Ok(StdioFds {
        input: Side {
            fd: input,
            kind: input_kind,
        },
        output: Side {
            fd: output,
            kind: output_kind,
        },
        guard,
    })
}

/// The error a `stdio` listener's second `accept` gives: kind
/// [`io::ErrorKind::NotConnected`], "stdio has only one connection". A serve loop
/// stops accepting on it (see `strports_endpoints::accept::ends_serving`).
pub fn only_one_connection() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stdio has only one connection")
}

/// Reads a blocking descriptor on a dedicated thread, for any runtime: the thread
/// reads only when [`poll_read`](ThreadReader::poll_read) asks for data (so nothing
/// is read ahead and lost when the reader is dropped), and wakes the task when it
/// has some.
///
/// The thread is detached: dropping the reader while the thread waits in `read`
/// (a terminal with no input) leaves it there until input arrives or the process
/// exits; it never delays a runtime's shutdown.
#[derive(Debug)]
pub struct ThreadReader {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wanted: Condvar,
}

#[derive(Debug, Default)]
struct State {
    data: Vec<u8>,
    pos: usize,
    eof: bool,
    error: Option<io::Error>,
    want: bool,
    dropped: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const CHUNK: usize = 64 * 1024;

impl ThreadReader {
    /// Starts the reading thread for `fd`.
    pub fn new(fd: OwnedFd) -> io::Result<ThreadReader> {
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("strports-stdin".to_owned())
            .spawn(move || read_loop(File::from(fd), &thread_shared))?;
        Ok(ThreadReader { shared })
    }

    /// Copies available data into `buf`, or asks the thread for more and returns
    /// `Pending` (waking `cx` when data, EOF or an error arrives).
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut state = self.shared.lock();
        if state.pos < state.data.len() {
            let n = buf.len().min(state.data.len() - state.pos);
            buf[..n].copy_from_slice(&state.data[state.pos..state.pos + n]);
            state.pos += n;
            return Poll::Ready(Ok(n));
        }
        if buf.is_empty() || state.eof {
            return Poll::Ready(Ok(0));
        }
        if let Some(e) = state.error.take() {
            return Poll::Ready(Err(e));
        }
        state.waker = Some(cx.waker().clone());
        if !state.want {
            state.want = true;
            self.shared.wanted.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for ThreadReader {
    fn drop(&mut self) {
        self.shared.lock().dropped = true;
        self.shared.wanted.notify_one();
    }
}

fn read_loop(mut file: File, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        {
            let mut state = shared.lock();
            while !state.want && !state.dropped {
                state = shared.wanted.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.dropped {
                return;
            }
        }
        let result = loop {
            match file.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let mut state = shared.lock();
        state.want = false;
        let end = match result {
            Ok(0) => {
                state.eof = true;
                true
            }
            Ok(n) => {
                state.data.clear();
                state.data.extend_from_slice(&buf[..n]);
                state.pos = 0;
                false
            }
            Err(e) => {
                state.error = Some(e);
                false
            }
        };
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        if end || state.dropped {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn kinds() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(kind(a.as_fd()).unwrap(), Kind::Socket);
        let null = File::open("/dev/null").unwrap();
        assert_eq!(kind(null.as_fd()).unwrap(), Kind::Other);
        assert!(Kind::Pipe.pollable() && !Kind::Tty.pollable() && !Kind::File.pollable());
    }

    #[test]
    fn flags_guard_restores() {
        let (a, _b) = UnixStream::pair().unwrap();
        let fd: OwnedFd = a.into();
        let guard = FlagsGuard {
            saved: vec![(fd.try_clone().unwrap(), false)],
        };
        set_nonblocking(fd.as_fd(), true).unwrap();
        assert_ne!(flags(fd.as_fd()).unwrap() & libc::O_NONBLOCK, 0);
        drop(guard);
        assert_eq!(flags(fd.as_fd()).unwrap() & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn thread_reader_reads_on_demand() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"hello").unwrap();
        let file = File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        let reader = ThreadReader::new(file.into()).unwrap();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match reader.poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => {
                    assert!(std::time::Instant::now() < deadline, "no data");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
        assert_eq!(out, b"hello");
    }
}
