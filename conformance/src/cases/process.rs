//! `process:` clients (a child's stdin/stdout as a stream) and the `stdio` server
//! (our own stdin/stdout, checked in a child process of this test binary).

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use strports_core::endpoint::Address;

use crate::child::{self, CHILD_ENV, Stamped};
use crate::{Backend, Pattern, expect_error, read_to_end, within};

/// How long a short child process may take.
const LIMIT: Duration = Duration::from_secs(20);

/// Connects to `desc` (a `process:` description).
async fn spawn<B: Backend>(desc: &str) -> B::Stream {
    match B::connect(&crate::program_client(desc)).await {
        Ok(s) => s,
        Err(e) => panic!("connect {desc}: {e}"),
    }
}

/// The child's pid, from the stream's peer address.
fn pid<B: Backend>(stream: &B::Stream) -> u32 {
    match B::peer_address(stream) {
        Ok(Address::Process(pid)) => pid,
        other => panic!("peer address of a process stream: {other:?}"),
    }
}

/// Echo through `cat`: bytes written come back, closing the write side closes
/// cat's stdin, and the stream then ends with EOF and exit status 0. The peer
/// address is the child's pid.
pub async fn process_echo_through_cat<B: Backend>() {
    let mut stream = spawn::<B>("process:cat").await;
    assert!(pid::<B>(&stream) > 0);
    crate::echo_check::<B>(&mut stream, b"hello through cat").await;
    crate::echo_check::<B>(&mut stream, b"and again").await;
    crate::finish::<B>(&mut stream).await;
    let status = B::exit_status(&stream).expect("exit status after EOF");
    assert!(status.success(), "{status}");
}

/// 16 MiB through `cat`, byte-exact. Writes and reads interleave with at most
/// 64 KiB in flight, so neither side waits for the other to drain a full pipe.
pub async fn process_large_transfer_through_cat<B: Backend>() {
    const TOTAL: u64 = 16 * 1024 * 1024;
    const CHUNK: u64 = 32 * 1024;
    let pattern = Pattern::new(0x5eed_cafe);
    let mut stream = spawn::<B>("process:cat").await;
    within::<B, _>(Duration::from_secs(50), "16 MiB through cat", async {
        let mut buf = vec![0u8; 64 * 1024];
        let (mut sent, mut received) = (0u64, 0u64);
        while received < TOTAL {
            if sent < TOTAL && sent - received <= CHUNK {
                let chunk = pattern.slice(sent, (TOTAL - sent).min(CHUNK) as usize);
                B::write_all(&mut stream, chunk).await.expect("write");
                sent += chunk.len() as u64;
                if sent == TOTAL {
                    B::shutdown_write(&mut stream).await.expect("close stdin");
                }
                continue;
            }
            let n = B::read(&mut stream, &mut buf).await.expect("read");
            assert!(n > 0, "early EOF after {received} bytes");
            assert!(
                pattern.check(received, &buf[..n]),
                "bytes differ within offset {received}..{}",
                received + n as u64
            );
            received += n as u64;
        }
        let rest = read_to_end::<B>(&mut stream).await.expect("read to EOF");
        assert!(rest.is_empty(), "{} bytes too many", rest.len());
    })
    .await;
}

/// A child that exits with status 3: the read that would give EOF fails, naming
/// the program and the status; the accessor has the status too.
pub async fn process_exit_status_is_an_error<B: Backend>() {
    let mut stream = spawn::<B>("process:sh:-c:echo partial; exit 3").await;
    let mut out = vec![0u8; 8];
    crate::read_exact::<B>(&mut stream, &mut out)
        .await
        .expect("output before the exit");
    assert_eq!(out, b"partial\n");
    let result = within::<B, _>(LIMIT, "final read", read_to_end::<B>(&mut stream)).await;
    expect_error(
        result,
        io::ErrorKind::Other,
        &["process \"sh\" exited with status 3"],
    );
    let status = B::exit_status(&stream).expect("exit status");
    assert_eq!(status.code(), Some(3));
}

/// A child killed by a signal: the final read fails naming the signal.
pub async fn process_killed_by_signal_is_an_error<B: Backend>() {
    let mut stream = spawn::<B>("process:sh:-c:kill -9 $$").await;
    let result = within::<B, _>(LIMIT, "final read", read_to_end::<B>(&mut stream)).await;
    expect_error(
        result,
        io::ErrorKind::Other,
        &["process \"sh\" was killed by signal 9 (SIGKILL)"],
    );
    let status = B::exit_status(&stream).expect("exit status");
    assert_eq!(status.code(), None);
}

/// A program that does not exist: `connect` fails with `NotFound`, naming it.
pub async fn process_not_found_names_program<B: Backend>() {
    let desc = crate::program_client("process:strports-no-such-program:arg");
    let result = B::connect(&desc).await;
    expect_error(
        result,
        io::ErrorKind::NotFound,
        &["cannot run \"strports-no-such-program\"", "no such file"],
    );
    let desc = crate::program_client("process:true:path=/strports-no-such-directory");
    let result = B::connect(&desc).await;
    expect_error(
        result,
        io::ErrorKind::NotFound,
        &["\"/strports-no-such-directory\""],
    );
}

/// `path=` sets the working directory; `env=clear` empties the environment, which
/// is otherwise inherited.
pub async fn process_path_and_env<B: Backend>() {
    let dir = crate::temp_dir();
    let expected = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    // One of our variables that a shell passes on unchanged (`cargo test` sets
    // several); the shell may add its own (`PWD`, `SHLVL`) even to an empty one.
    let ours = std::env::vars()
        .map(|(name, _)| name)
        .find(|n| {
            n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && ![
                    "PWD", "OLDPWD", "SHLVL", "_", "PATH", "IFS", "PS1", "PS2", "PS4",
                ]
                .contains(&n.as_str())
        })
        .unwrap_or_else(|| "STRPORTS_UNSET".to_owned());
    let inherited = std::env::var_os(&ours).is_some();
    let script = format!("pwd; printenv {ours} >/dev/null && echo has-var || echo no-var");
    let want_inherit = if inherited { "has-var" } else { "no-var" };
    for (env, want) in [("inherit", want_inherit), ("clear", "no-var")] {
        let desc = format!(
            "process:sh:-c:{script}:path={}:env={env}",
            dir.path().display()
        );
        let mut stream = spawn::<B>(&desc).await;
        B::shutdown_write(&mut stream).await.expect("close stdin");
        let out = within::<B, _>(LIMIT, "output", read_to_end::<B>(&mut stream))
            .await
            .expect("output");
        let out = String::from_utf8_lossy(&out);
        let mut lines = out.lines();
        assert_eq!(
            lines.next().map(Path::new),
            Some(expected.as_path()),
            "{out}"
        );
        assert_eq!(lines.next(), Some(want), "env={env}: {out}");
    }
}

/// A script writing 1 MB to stderr, then "done" to stdout.
const NOISY: &str = "head -c 1000000 /dev/zero >&2; echo done";

/// `errFlag=drop`: a child writing lots of stderr is not blocked by it.
pub async fn process_stderr_dropped<B: Backend>() {
    for flag in ["drop", "log"] {
        let mut stream = spawn::<B>(&format!("process:sh:-c:{NOISY}:errFlag={flag}")).await;
        let out = within::<B, _>(LIMIT, "output", read_to_end::<B>(&mut stream))
            .await
            .expect("output");
        assert_eq!(out, b"done\n", "errFlag={flag}");
    }
}

/// `errFlag=log` (the default): each stderr line becomes a `tracing` event at WARN
/// with the program and pid.
pub async fn process_stderr_logged<B: Backend>() {
    let events = capture_events();
    let mut stream =
        spawn::<B>("process:sh:-c:echo \"first line $$\" >&2; echo second >&2; echo out").await;
    let pid = pid::<B>(&stream);
    let out = within::<B, _>(LIMIT, "output", read_to_end::<B>(&mut stream))
        .await
        .expect("output");
    assert_eq!(out, b"out\n");
    let first = format!("WARN program=sh pid={pid} first line {pid}");
    let second = format!("WARN program=sh pid={pid} second");
    within::<B, _>(LIMIT, "stderr lines logged", async {
        loop {
            let logged = events.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let at = |line: &str| logged.iter().position(|e| e == line);
            if let (Some(a), Some(b)) = (at(&first), at(&second)) {
                assert!(a < b, "lines logged out of order: {logged:?}");
                return;
            }
            B::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Installs (once per test binary) a global `tracing` subscriber that records
/// `strports::process` events as `"LEVEL field=value ... message"`.
pub(super) fn capture_events() -> &'static Mutex<Vec<String>> {
    static EVENTS: OnceLock<&'static Mutex<Vec<String>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let events: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let subscriber = Capture { events };
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global tracing subscriber in the conformance tests");
        events
    })
}

struct Capture {
    events: &'static Mutex<Vec<String>>,
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target().starts_with("strports::process")
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String, String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.1 = format!("{value:?}");
                } else {
                    self.0.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.1 = value.to_owned();
                } else {
                    self.0.push_str(&format!(" {}={value}", field.name()));
                }
            }
        }
        let mut fields = Fields(String::new(), String::new());
        event.record(&mut fields);
        let line = format!("{}{} {}", event.metadata().level(), fields.0, fields.1);
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Dropping the stream kills and reaps the child: its `/proc` entry disappears (a
/// zombie would keep it, in state `Z`).
pub async fn process_drop_reaps_child<B: Backend>() {
    let stream = spawn::<B>("process:sleep:1000").await;
    let pid = pid::<B>(&stream);
    let stat = format!("/proc/{pid}/stat");
    assert!(Path::new(&stat).exists(), "child {pid} is not running");
    drop(stream);
    within::<B, _>(LIMIT, "child killed and reaped", async {
        // Still there: running, or a zombie (state `Z`) not reaped yet.
        while Path::new(&stat).exists() {
            B::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Reads the first line the child writes (a process id) from `stream`.
async fn read_pid_line<B: Backend>(stream: &mut B::Stream) -> u32 {
    let line = within::<B, _>(LIMIT, "the pid line", async {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") {
            match B::read(stream, &mut byte).await {
                Ok(0) => panic!("EOF before a whole line: {line:?}"),
                Ok(_) => line.push(byte[0]),
                Err(e) => panic!("reading the pid line: {e}"),
            }
        }
        line
    })
    .await;
    let text = String::from_utf8_lossy(&line);
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("not a pid: {text:?} ({e})"))
}

/// The start time (field 22 of `/proc/PID/stat`) of process `pid` if it is alive:
/// `None` once it is gone or a zombie. With the start time, a pid reused by another
/// process is not taken for the one we watch.
fn alive_since(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Waits (bounded by `limit`, polling) until process `pid`, alive since `since`, is
/// gone; otherwise kills it, so that nothing is left behind, and fails.
async fn expect_gone<B: Backend>(pid: u32, since: u64, what: &str, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    while alive_since(pid) == Some(since) {
        if std::time::Instant::now() >= deadline {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill only sends a signal, to the process we watched.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            panic!("{what} {pid} outlived its process stream");
        }
        B::sleep(Duration::from_millis(10)).await;
    }
}

/// Dropping the stream ends the child's whole process group: a grandchild the child
/// left running in the background goes too (`SIGTERM` to the group), not only the
/// child (which used to leave the grandchild to init).
pub async fn process_drop_ends_grandchildren<B: Backend>() {
    let mut stream = spawn::<B>("process:sh:-c:sleep 321 & echo $!; wait").await;
    let child = pid::<B>(&stream);
    let grandchild = read_pid_line::<B>(&mut stream).await;
    let since = alive_since(grandchild).expect("the grandchild runs");
    let child_since = alive_since(child).expect("the child runs");
    drop(stream);
    expect_gone::<B>(grandchild, since, "grandchild", LIMIT).await;
    expect_gone::<B>(child, child_since, "child", LIMIT).await;
}

/// A child and grandchild that ignore `SIGTERM` get `SIGKILL` once the grace period
/// ([`strports_endpoints::process::DEFAULT_KILL_GRACE`]) has passed after the
/// stream was dropped.
pub async fn process_drop_kills_what_ignores_sigterm_after_the_grace<B: Backend>() {
    let mut stream = spawn::<B>("process:sh:-c:trap '' TERM; sleep 321 & echo $!; wait").await;
    let child = pid::<B>(&stream);
    let grandchild = read_pid_line::<B>(&mut stream).await;
    let since = alive_since(grandchild).expect("the grandchild runs");
    let child_since = alive_since(child).expect("the child runs");
    drop(stream);
    let limit = strports_endpoints::process::DEFAULT_KILL_GRACE + LIMIT;
    expect_gone::<B>(grandchild, since, "grandchild", limit).await;
    expect_gone::<B>(child, child_since, "child", limit).await;
}

/// The `stdio` server, in a child process of this test binary whose stdin and stdout
/// are pipes: it echoes what we write, the connection ends when we close its stdin,
/// and the child then exits promptly with status 0 (no hang in runtime shutdown).
pub async fn stdio_echo_in_child_over_pipes<B: Backend + Stamped>() {
    let pattern = Pattern::new(0x57d10);
    let payload = pattern.slice(0, 512 * 1024).to_vec();
    let expected = payload.clone();
    let run = B::unblock(move || {
        let mut child = stdio_child::<B>(Stdio::piped(), Stdio::piped());
        let mut stdin = child.stdin.take().expect("child stdin");
        // Write from another thread while reading here: the echo flows both ways at once.
        let writer = std::thread::spawn(move || {
            let written = stdin.write_all(&payload);
            drop(stdin);
            written
        });
        let mut out = Vec::new();
        let read = child.stdout.take().expect("stdout").read_to_end(&mut out);
        let written = writer.join().expect("writer thread");
        let (status, err) = wait_child(child);
        read.expect("read the child's stdout");
        written.expect("write the child's stdin");
        (status, out, err)
    });
    let (status, out, err) = within::<B, _>(2 * LIMIT, "stdio child", run).await;
    check_stdio_child(status, &out, &expected, &err);
}

/// The `stdio` server with a regular file as stdin and stdout (the blocking
/// fallback: files cannot be polled): it echoes the file and exits with status 0.
pub async fn stdio_echo_in_child_over_files<B: Backend + Stamped>() {
    let payload = Pattern::new(0xf11e).slice(0, 200_000).to_vec();
    let expected = payload.clone();
    let run = B::unblock(move || {
        let mut input = tempfile::tempfile().expect("temporary file");
        input.write_all(&payload).expect("write input");
        std::io::Seek::rewind(&mut input).expect("rewind");
        let mut output = tempfile::tempfile().expect("temporary file");
        let child = stdio_child::<B>(input.into(), output.try_clone().expect("dup output").into());
        let (status, err) = wait_child(child);
        std::io::Seek::rewind(&mut output).expect("rewind");
        let mut out = Vec::new();
        output.read_to_end(&mut out).expect("read output");
        (status, out, err)
    });
    let (status, out, err) = within::<B, _>(2 * LIMIT, "stdio child", run).await;
    check_stdio_child(status, &out, &expected, &err);
}

/// Starts this test binary's `child_process` test, listening on `stdio`.
fn stdio_child<B: Stamped>(stdin: Stdio, stdout: Stdio) -> std::process::Child {
    let mut command = Command::new(child::test_executable());
    command
        .args(child::test_args::<B>())
        .env(CHILD_ENV, "stdio")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped());
    command.spawn().expect("start the stdio child")
}

/// Waits for `child` (killing it after [`LIMIT`]) and returns its status and stderr.
fn wait_child(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + LIMIT;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let status = child.wait().expect("wait after kill");
                let err = reader.join().unwrap_or_default();
                panic!("stdio child did not exit within {LIMIT:?} ({status}); stderr:\n{err}");
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    (status, reader.join().unwrap_or_default())
}

fn check_stdio_child(status: std::process::ExitStatus, out: &[u8], expected: &[u8], err: &str) {
    let found = out.windows(expected.len()).any(|w| w == expected);
    let text = String::from_utf8_lossy(out);
    let tail = String::from_utf8_lossy(&out[out.len().saturating_sub(300)..]);
    assert!(
        status.success() && text.contains("1 passed"),
        "stdio child failed ({status}); end of stdout:\n{tail}\nstderr:\n{err}"
    );
    assert!(
        found,
        "the echo ({} bytes) is not in the child's stdout ({} bytes); stderr:\n{err}",
        expected.len(),
        out.len()
    );
    assert!(
        err.contains("second accept: cannot accept a connection: stdio has only one connection"),
        "stderr:\n{err}"
    );
}

/// The `stdio` server on a terminal (a pseudo-terminal as the child's stdin and
/// stdout): the terminal is never switched to non-blocking mode (that flag is shared
/// with the shell that started the program), the echo still works through the
/// reading thread, and end of input (`^D`) ends the connection and the child.
pub async fn stdio_on_terminal_stays_blocking<B: Backend + Stamped>() {
    let run = B::unblock(|| {
        let (master, slave) = open_pty();
        let mut child = stdio_child::<B>(
            slave.try_clone().expect("dup the pty").into(),
            slave.try_clone().expect("dup the pty").into(),
        );
        // Wait until the child has accepted the connection, then check the flag on
        // our descriptor of the same terminal.
        let mut stderr = child.stderr.take().expect("stderr");
        let mut err = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&err).contains("child: second accept") {
            match stderr.read(&mut byte) {
                Ok(1) => err.push(byte[0]),
                _ => break,
            }
        }
        // SAFETY: F_GETFL only reads the flags of our open descriptor.
        let flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&slave), libc::F_GETFL) };
        let mut master_out = master.try_clone().expect("dup the master");
        master_out
            .write_all(b"ping\n\x04")
            .expect("type into the terminal");
        // Read the terminal's output until the child's test result appears.
        let reader = std::thread::spawn(move || {
            let mut master = master;
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&out).contains("test result") {
                match master.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
            out
        });
        drop(slave);
        child.stderr = Some(stderr);
        let (status, rest) = wait_child(child);
        let out = reader.join().expect("terminal reader");
        let err = String::from_utf8_lossy(&err).into_owned() + &rest;
        (flags, status, out, err)
    });
    let (flags, status, out, err) = within::<B, _>(2 * LIMIT, "stdio child", run).await;
    assert!(flags >= 0, "F_GETFL failed");
    assert_eq!(
        flags & libc::O_NONBLOCK,
        0,
        "the terminal was made non-blocking; stderr:\n{err}"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        status.success(),
        "stdio child failed ({status}); terminal:\n{text}\nstderr:\n{err}"
    );
    // The terminal turns the echoed "\n" into "\r\n".
    assert!(
        text.contains("ping\r\n"),
        "no echo on the terminal:\n{text}\nstderr:\n{err}"
    );
}

/// A pseudo-terminal `(master, slave)`, with the slave's echo off (so the only
/// "ping" on the master is the child's) and canonical input on (so `^D` is EOF).
fn open_pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given ints; the other
    // arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", io::Error::last_os_error());
    // SAFETY: openpty succeeded: both descriptors are open and ours alone.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&slave);
    // SAFETY: an all-zero termios is valid for tcgetattr to fill in.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open terminal and `termios` is valid and writable.
    assert_eq!(unsafe { libc::tcgetattr(fd, &mut termios) }, 0);
    termios.c_lflag &= !(libc::ECHO | libc::ECHONL);
    termios.c_lflag |= libc::ICANON;
    // SAFETY: as above; `termios` came from tcgetattr.
    assert_eq!(unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) }, 0);
    (master, slave)
}
