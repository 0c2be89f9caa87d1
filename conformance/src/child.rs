//! Re-running the test binary as a child process, for cases that need a fresh
//! process: systemd socket activation (`systemd-socket-activate` execs the child
//! with `LISTEN_*` set) and inheriting a descriptor for `fd:`.
//!
//! [`conformance_tests!`](crate::conformance_tests) stamps a `child_process` test
//! next to the cases. It does nothing unless [`CHILD_ENV`] is set; a case that wants
//! a child runs the current test executable filtered to exactly that test
//! ([`test_args`]) with `CHILD_ENV` naming a server description. The child then
//! listens on it, accepts one connection, echoes it until EOF and exits, so the
//! parent checks the listener end to end over a real connection.
//!
//! With [`CASE_ENV`] set instead, the child runs the child body of that name
//! ([`crate::cases::run_child_body`]) and nothing else: for cases that measure or
//! change something process-wide (the count of open descriptors, `RLIMIT_NOFILE`,
//! child processes), which the cases running in parallel threads of the test
//! process would disturb. [`run_in_child`] starts such a child and checks it passed.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use strports_core::ClientDescription;

use crate::{Backend, read_exact, within};

/// The variable that makes `child_process` act: a server description to listen on.
pub const CHILD_ENV: &str = "STRPORTS_CONFORMANCE_CHILD";

/// The variable that makes `child_process` run a child body instead: its name (see
/// [`run_in_child`]).
pub const CASE_ENV: &str = "STRPORTS_CONFORMANCE_CHILD_CASE";

/// Where `conformance_tests!` was invoked for a backend: lets cases name the
/// backend's `child_process` test. Implemented by the macro, never by hand.
pub trait Stamped {
    /// `module_path!()` at the macro invocation.
    const MODULE_PATH: &'static str;
}

/// The libtest name of `B`'s `child_process` test (its module path without the
/// crate name).
pub fn test_name<B: Stamped>() -> String {
    match B::MODULE_PATH.split_once("::") {
        Some((_, module)) => format!("{module}::child_process"),
        None => "child_process".to_owned(),
    }
}

/// Arguments that make the test binary run only `B`'s `child_process` test.
pub fn test_args<B: Stamped>() -> Vec<String> {
    vec![
        "--exact".to_owned(),
        test_name::<B>(),
        "--nocapture".to_owned(),
        "--test-threads=1".to_owned(),
    ]
}

/// The current test executable.
pub fn test_executable() -> std::path::PathBuf {
    std::env::current_exe().expect("current test executable")
}

/// A child process, killed when dropped if still running; its standard output and
/// error go to one temporary file.
pub struct ChildProcess {
    child: std::process::Child,
    output: File,
    what: String,
}

impl ChildProcess {
    /// Spawns `command` (its stdin is null). `what` names it in failures.
    pub fn spawn(mut command: Command, what: &str) -> io::Result<ChildProcess> {
        let output = tempfile::tempfile()?;
        command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output.try_clone()?);
        let child = command.spawn()?;
        Ok(ChildProcess {
            child,
            output,
            what: what.to_owned(),
        })
    }

    /// Everything the child printed so far.
    pub fn output(&mut self) -> String {
        let mut text = String::new();
        if self.output.rewind().is_ok() {
            let _ = self.output.read_to_string(&mut text);
        }
        text
    }

    /// Panics (with the child's output) if the child has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let output = self.output();
            panic!("{} exited early ({status}); output:\n{output}", self.what);
        }
    }

    /// Waits (polling, without blocking the runtime) for the child to exit, at most
    /// `limit`.
    pub async fn wait<B: Backend>(&mut self, limit: Duration) -> ExitStatus {
        let what = format!("waiting for {} to exit", self.what);
        within::<B, _>(limit, &what, async {
            loop {
                match self.child.try_wait() {
                    Ok(Some(status)) => return status,
                    Ok(None) => B::sleep(Duration::from_millis(10)).await,
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        })
        .await
    }

    /// Waits for the child to exit and checks that it ran its one test and passed.
    pub async fn expect_success<B: Backend>(&mut self, limit: Duration) {
        let status = self.wait::<B>(limit).await;
        let output = self.output();
        assert!(
            status.success() && output.contains("1 passed"),
            "{} failed ({status}); output:\n{output}",
            self.what
        );
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the child body `name` ([`crate::cases::run_child_body`]) in a fresh process
/// of this test binary and fails, with the child's output, unless it ran its one
/// test and passed within `limit` (the child is killed then). Returns the child's
/// output, which is also printed (shown with `--nocapture`).
pub async fn run_in_child<B: Backend + Stamped>(name: &str, limit: Duration) -> String {
    let mut command = Command::new(test_executable());
    command
        .args(test_args::<B>())
        .env(CASE_ENV, name)
        .env_remove(CHILD_ENV);
    let what = format!("the {} child process running {name}", B::NAME);
    let mut child = match ChildProcess::spawn(command, &what) {
        Ok(c) => c,
        Err(e) => panic!("cannot start {what}: {e}"),
    };
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        match child.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                B::sleep(Duration::from_millis(20)).await;
            }
            Ok(None) => {
                let _ = child.child.kill();
                let _ = child.child.wait();
                let output = child.output();
                panic!("{what} did not finish within {limit:?}; output:\n{output}");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    };
    let output = child.output();
    assert!(
        status.success() && output.contains("1 passed"),
        "{what} failed ({status}); output:\n{output}"
    );
    eprintln!("{what} passed; output:\n{output}");
    output
}

/// Connects to a child's listener with `desc`, retrying while it is not listening
/// yet and failing at once if the child died; fails after `limit`.
pub async fn connect_to_child<B: Backend>(
    child: &mut ChildProcess,
    desc: &ClientDescription,
    limit: Duration,
) -> B::Stream {
    within::<B, _>(limit, "connecting to the child", async {
        loop {
            child.assert_running();
            match B::connect(desc).await {
                Ok(s) => return s,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                    ) =>
                {
                    B::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("connect {desc}: {e}"),
            }
        }
    })
    .await
}

/// Connects to a child's listener with `desc`, retrying while it is not listening
/// yet (and failing at once if the child died), then checks an echo round trip and
/// a clean close.
pub async fn check_child_echo<B: Backend>(child: &mut ChildProcess, desc: &str) {
    let client = crate::client(desc);
    let mut stream = connect_to_child::<B>(child, &client, Duration::from_secs(15)).await;
    let message = b"hello from the parent process";
    within::<B, _>(Duration::from_secs(15), "echo through the child", async {
        B::write_all(&mut stream, message).await.expect("write");
        let mut back = vec![0u8; message.len()];
        if let Err(e) = read_exact::<B>(&mut stream, &mut back).await {
            let output = child.output();
            panic!("reading the child's echo: {e}; child output:\n{output}");
        }
        assert_eq!(back, message);
    })
    .await;
    crate::finish::<B>(&mut stream).await;
}

/// Starts `command`, a `systemd-socket-activate` running a test child; `None`
/// (with a note) when the program is not installed and `CI` is not set, so the
/// case is skipped; in CI a missing program fails the case.
pub fn socket_activate(command: std::process::Command) -> Option<ChildProcess> {
    match ChildProcess::spawn(command, "the systemd-socket-activate child") {
        Ok(c) => Some(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            println!(
                "note: skipped: systemd-socket-activate is not installed (Debian package systemd)"
            );
            None
        }
        Err(e) => panic!("cannot run systemd-socket-activate: {e}"),
    }
}
