//! Child processes for `process:` clients: the decisions both backends share.
//!
//! [`CommandSpec`] turns a [`ProcessClient`] into a ready [`std::process::Command`]
//! (argv, working directory, environment, standard error); a backend converts it into
//! its runtime's command type, spawns it and wraps the child's stdin/stdout as one
//! stream. [`exit_error`] says how an exit status shows on the stream: a clean exit
//! is EOF, anything else is an error on the read that would have returned EOF.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

use strports_core::{ProcessClient, ProcessEnv, StderrPolicy};

/// Everything needed to start the program of a `process:` description.
///
/// ```
/// use strports_core::{ClientDescription, Registry};
/// use strports_sys::process::CommandSpec;
///
/// // `process:` parses only with a registry that allows programs.
/// let desc = Registry::with_programs().parse_client("process:sh:-c:echo hi:env=clear").unwrap();
/// let ClientDescription::Process(p) = &desc else { unreachable!() };
/// let spec = CommandSpec::new(p);
/// assert_eq!(spec.program, "sh");
/// assert_eq!(spec.args, ["-c", "echo hi"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandSpec {
    /// `argv[0]`: the program, looked up in `PATH` unless it contains a `/`.
    pub program: String,
    /// The remaining arguments.
    pub args: Vec<String>,
    /// The working directory; `None` keeps ours.
    pub cwd: Option<PathBuf>,
    /// Whether the child inherits our environment or starts with an empty one.
    pub env: ProcessEnv,
    /// What happens to the child's standard error.
    pub stderr: StderrPolicy,
}

impl CommandSpec {
    /// The spec for `desc`.
    pub fn new(desc: &ProcessClient) -> CommandSpec {
        let mut argv = desc.argv.iter().cloned();
        CommandSpec {
            program: argv.next().unwrap_or_default(),
            args: argv.collect(),
            cwd: desc.path.clone(),
            env: desc.env,
            stderr: desc.err_flag,
        }
    }

    /// A std [`Command`] for this spec (program, arguments, working directory,
    /// environment, and a process group of its own: see [`signal_group`]), and the
    /// child's standard error as the policy says. The backend
    /// converts the command into its runtime's type, then sets stdin and stdout to
    /// [`Stdio::piped`] and stderr to [`ChildStderr::stdio`] there (async-process's
    /// conversion from a std command drops stdio settings).
    ///
    /// `env=clear` gives the child an empty environment (so a bare program name is
    /// then looked up in the default `PATH` of the C library); `inherit` (the
    /// default) gives it ours. Twisted's `ProcessEndpoint` defaults to an empty
    /// environment; strports inherits, as `std::process::Command` and shells do.
    pub fn command(&self) -> io::Result<(Command, ChildStderr)> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        // The child leads a process group of its own (its id is the child's pid), so
        // whatever it starts can be signalled with it, and none outlives it.
        command.process_group(0);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        if self.env == ProcessEnv::Clear {
            command.env_clear();
        }
        let stderr = match self.stderr {
            StderrPolicy::Drop => ChildStderr {
                stdio: Stdio::null(),
                log: None,
            },
            StderrPolicy::Inherit => ChildStderr {
                stdio: Stdio::inherit(),
                log: None,
            },
            // Log, and whatever later policies default to.
            _ => {
                let (read, write) = pipe()?;
                ChildStderr {
                    stdio: Stdio::from(write),
                    log: Some(StderrLog {
                        reader: File::from(read),
                        program: self.program.clone(),
                    }),
                }
            }
        };
        Ok((command, stderr))
    }

    /// The error for a failed spawn: `cannot run "prog": <error>`, naming the working
    /// directory too when one was given (a missing directory also gives `ENOENT`).
    pub fn spawn_error(&self, e: io::Error) -> io::Error {
        match &self.cwd {
            Some(cwd) => crate::error::context(
                e,
                format_args!("cannot run {:?} in directory {:?}", self.program, cwd),
            ),
            None => crate::error::context(e, format_args!("cannot run {:?}", self.program)),
        }
    }
}

/// The pipes of a child's standard input and output: the child's ends, to give
/// to the command, and ours, non-blocking, for the runtime's reactor.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChildPipes {
    /// The read end of the stdin pipe: the child's fd 0.
    pub child_stdin: Stdio,
    /// The write end of the stdout pipe: the child's fd 1.
    pub child_stdout: Stdio,
    /// Our write end of the child's stdin (non-blocking).
    pub stdin: File,
    /// Our read end of the child's stdout (non-blocking).
    pub stdout: File,
}

/// Makes the two pipes of a child's stdin and stdout (close-on-exec; the child's
/// copies are made by `dup2`, which clears it there).
pub fn child_pipes() -> io::Result<ChildPipes> {
    let (stdin_read, stdin_write) = pipe2(libc::O_CLOEXEC)?;
    let (stdout_read, stdout_write) = pipe2(libc::O_CLOEXEC)?;
    for fd in [&stdin_write, &stdout_read] {
        // SAFETY: `fd` is an open descriptor we own; F_GETFL/F_SETFL only change
        // its status flags.
        let ok = unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(ChildPipes {
        child_stdin: Stdio::from(stdin_read),
        child_stdout: Stdio::from(stdout_write),
        stdin: File::from(stdin_write),
        stdout: File::from(stdout_read),
    })
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    pipe2(libc::O_CLOEXEC)
}

/// A pipe with close-on-exec set on both ends: `(read, write)`. The child's copy of
/// the write end (its fd 2) is made by `dup2`, which clears close-on-exec there.
fn pipe2(flags: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A child's standard error, as the [`StderrPolicy`] says.
#[derive(Debug)]
#[non_exhaustive]
pub struct ChildStderr {
    /// What the child's fd 2 is: `/dev/null`, ours, or the write end of a pipe.
    pub stdio: Stdio,
    /// Under [`StderrPolicy::Log`]: the read end, to [start](StderrLog::start) once
    /// the child runs (and after the command holding `stdio` is dropped).
    pub log: Option<StderrLog>,
}

/// The read end of a child's stderr pipe under [`StderrPolicy::Log`].
#[derive(Debug)]
pub struct StderrLog {
    reader: File,
    program: String,
}

/// Longest stderr line logged as one event; longer lines are split.
const MAX_LINE: u64 = 16 * 1024;

impl StderrLog {
    /// Starts a thread that logs each line the child with `pid` writes to stderr
    /// through `tracing` (level WARN, target `strports::process`, fields `program`
    /// and `pid`), until the pipe closes: when the child and any process that
    /// inherited its stderr have exited. A thread rather than a task: it never keeps
    /// a runtime from shutting down, works the same under every runtime, and keeps
    /// draining the pipe (so the child never blocks on stderr) even when nobody
    /// reads the stream.
    pub fn start(self, pid: u32) -> io::Result<()> {
        let StderrLog { reader, program } = self;
        std::thread::Builder::new()
            .name(format!("strports-stderr-{pid}"))
            .spawn(move || log_lines(reader, &program, pid))
            .map(drop)
    }
}

fn log_lines(reader: File, program: &str, pid: u32) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                // What a child prints may come from a peer (ssh, nc): no raw control
                // characters in our log.
                let text = strports_core::escape_control(text);
                tracing::warn!(target: "strports::process", program, pid, "{text}");
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(target: "strports::process", program, pid, error = %e, "cannot read stderr");
                return;
            }
        }
    }
}

/// Sends `signal` to every process of the process group `pgid` (`killpg`): a
/// child started from [`CommandSpec::command`] leads its own group, whose id is its
/// pid, and what it starts joins the group unless it makes one of its own. `Ok(false)`
/// when the group no longer has any process (`ESRCH`); `EPERM` from some members
/// still delivers to the others and is `Ok(true)`.
///
/// A group id is not reused while any process (a zombie included) is in the group;
/// once the group is empty the number is free, so signal a group only while one of
/// its processes may still exist (after its leader was reaped, a new group could
/// take the number only after the kernel's pid numbers wrapped around).
pub fn signal_group(pgid: u32, signal: i32) -> io::Result<bool> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("process group {pgid} is out of range"),
        ));
    };
    if pgid <= 1 {
        // killpg(0) would signal our own group, killpg(1) init's.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process group {pgid}"),
        ));
    }
    // SAFETY: killpg only sends a signal; `pgid` is above 1 (checked above).
    if unsafe { libc::killpg(pgid, signal) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESRCH) => Ok(false),
        Some(libc::EPERM) => Ok(true),
        _ => Err(e),
    }
}

/// Whether the process group `pgid` still has a process (a zombie not yet reaped
/// included): [`signal_group`] with signal 0, which sends nothing.
pub fn group_exists(pgid: u32) -> bool {
    signal_group(pgid, 0).unwrap_or(false)
}

/// How a child's exit shows on its stream: `None` for exit status 0 (the stream
/// ends with EOF), otherwise the error the final read gives:
/// `process "false" exited with status 1` or
/// `process "sleep" was killed by signal 9 (SIGKILL)`. Kind
/// [`io::ErrorKind::Other`]. As in Twisted, where any status but 0 ends the
/// connection with `ProcessTerminated` instead of `ConnectionDone`.
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use strports_sys::process::exit_error;
///
/// assert!(exit_error("true", ExitStatus::from_raw(0)).is_none());
/// let e = exit_error("false", ExitStatus::from_raw(1 << 8)).unwrap();
/// assert_eq!(e.to_string(), "process \"false\" exited with status 1");
/// let e = exit_error("sleep", ExitStatus::from_raw(9)).unwrap();
/// assert_eq!(e.to_string(), "process \"sleep\" was killed by signal 9 (SIGKILL)");
/// ```
pub fn exit_error(program: &str, status: ExitStatus) -> Option<io::Error> {
    if status.success() {
        return None;
    }
    let message = if let Some(code) = status.code() {
        format!("process {program:?} exited with status {code}")
    } else if let Some(signal) = status.signal() {
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        match signal_name(signal) {
            Some(name) => {
                format!("process {program:?} was killed by signal {signal} ({name}{core})")
            }
            None => format!("process {program:?} was killed by signal {signal}{core}"),
        }
    } else {
        format!("process {program:?} ended with {status}")
    };
    Some(io::Error::other(message))
}

/// The name of a common signal, `SIGKILL` for 9.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(desc: &str) -> CommandSpec {
        match strports_core::Registry::with_programs().parse_client(desc) {
            Ok(strports_core::ClientDescription::Process(p)) => CommandSpec::new(&p),
            other => panic!("{desc}: {other:?}"),
        }
    }

    #[test]
    fn spec_from_description() {
        let s = spec("process:cat");
        assert_eq!(s.program, "cat");
        assert!(s.args.is_empty());
        assert_eq!((s.env, s.stderr), (ProcessEnv::Inherit, StderrPolicy::Log));
        let s = spec("process:ls:-l:path=/tmp:env=clear:errFlag=drop");
        assert_eq!(s.args, ["-l"]);
        assert_eq!(s.cwd.as_deref(), Some(std::path::Path::new("/tmp")));
        assert_eq!((s.env, s.stderr), (ProcessEnv::Clear, StderrPolicy::Drop));
    }

    #[test]
    fn command_runs_with_env_and_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let desc = format!(
            "process:sh:-c:pwd; env | wc -l:env=clear:errFlag=drop:path={}",
            dir.path().display()
        );
        let (mut command, stderr) = spec(&desc).command().unwrap();
        assert!(stderr.log.is_none());
        let out = command
            .stdin(Stdio::null())
            .stderr(stderr.stdio)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let cwd = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(lines.next(), Some(cwd.to_str().unwrap()));
        // sh itself sets a few variables (PWD, SHLVL, ...), but none of ours.
        let count: usize = lines.next().unwrap().trim().parse().unwrap();
        assert!(count < 5, "{text}");
    }

    #[test]
    fn spawn_error_names_program_and_directory() {
        let s = spec("process:nosuchprog-strports");
        let e = s.command().unwrap().0.spawn().map(drop).unwrap_err();
        let e = s.spawn_error(e);
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .starts_with("cannot run \"nosuchprog-strports\": no such file or directory"),
            "{e}"
        );
        let s = spec("process:true:path=/nonexistent-strports");
        let e = s.spawn_error(s.command().unwrap().0.spawn().map(drop).unwrap_err());
        assert!(
            e.to_string()
                .starts_with("cannot run \"true\" in directory \"/nonexistent-strports\""),
            "{e}"
        );
    }

    /// The process group of process `pid` (field 5 of `/proc/PID/stat`).
    fn group_of(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        rest.split(' ').nth(2)?.parse().ok()
    }

    #[test]
    fn children_lead_their_own_group_and_signal_group_reaches_grandchildren() {
        let s = spec("process:sh:-c:sleep 321 & echo $!; wait:errFlag=drop");
        let (mut command, stderr) = s.command().unwrap();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.stdio)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        assert_eq!(
            group_of(child.id()),
            Some(child.id()),
            "the child leads a group"
        );
        assert_eq!(
            group_of(grandchild),
            Some(child.id()),
            "the grandchild is in it"
        );
        assert!(group_exists(child.id()));
        assert!(signal_group(child.id(), libc::SIGTERM).unwrap());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{status}");
        // The grandchild got SIGTERM too: bounded wait until it is gone (or a zombie
        // waiting for init to reap it).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while group_of(grandchild) == Some(child.id())
            && !std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "grandchild {grandchild} outlived SIGTERM to its group"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            signal_group(1, libc::SIGTERM).is_err(),
            "init's group is refused"
        );
        assert!(signal_group(0, 0).is_err(), "our own group is refused");
    }

    #[test]
    fn exit_errors() {
        assert!(exit_error("x", ExitStatus::from_raw(0)).is_none());
        let e = exit_error("sh", ExitStatus::from_raw(3 << 8)).unwrap();
        assert_eq!(e.to_string(), "process \"sh\" exited with status 3");
        let e = exit_error("x", ExitStatus::from_raw(libc::SIGSEGV | 0x80)).unwrap();
        assert_eq!(
            e.to_string(),
            "process \"x\" was killed by signal 11 (SIGSEGV, core dumped)"
        );
        let e = exit_error("x", ExitStatus::from_raw(40)).unwrap();
        assert_eq!(e.to_string(), "process \"x\" was killed by signal 40");
    }
}
