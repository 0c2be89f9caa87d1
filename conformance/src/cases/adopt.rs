//! Adopted descriptors: `fd:` and systemd socket activation (through the real
//! `systemd-socket-activate`), each run in a child process of this test binary.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use crate::child::{self, CHILD_ENV, ChildProcess, Stamped};
use crate::{Backend, expect_error, server, socket_path, temp_dir};

/// How long a child process may take from start to exit.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Listens on `fd:<fd>:domain=<domain>` and checks the error.
async fn expect_rejected<B: Backend>(fd: i32, domain: &str, words: &[&str]) {
    let desc = format!("fd:{fd}:domain={domain}");
    let result = B::listen(&server(&desc)).await;
    let mut words = words.to_vec();
    words.push(&desc);
    expect_error(result, io::ErrorKind::InvalidInput, &words);
}

/// Whether descriptor `fd` is still open (a rejected descriptor is not taken).
fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// `fd:` on a regular file fails, saying it is not a socket, and leaves it open.
pub async fn fd_rejects_non_socket<B: Backend>() {
    let file = tempfile::tempfile().expect("temporary file");
    let fd = file.as_raw_fd();
    expect_rejected::<B>(fd, "INET", &["not a socket"]).await;
    assert!(is_open(fd), "the rejected descriptor was closed");
    drop(file);
}

/// `fd:` on a UDP socket fails, saying a stream socket is needed.
pub async fn fd_rejects_datagram_socket<B: Backend>() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let fd = udp.as_raw_fd();
    expect_rejected::<B>(fd, "INET", &["datagram", "stream socket"]).await;
    assert!(is_open(fd), "the rejected descriptor was closed");
}

/// `fd:` on a connected (not listening) TCP socket fails, saying so.
pub async fn fd_rejects_non_listening_socket<B: Backend>() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let stream =
        std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    let fd = stream.as_raw_fd();
    expect_rejected::<B>(fd, "INET", &["not listening"]).await;
    assert!(is_open(fd), "the rejected descriptor was closed");
}

/// `fd:` with the wrong `domain` fails, naming both families.
pub async fn fd_rejects_wrong_family<B: Backend>() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let fd = listener.as_raw_fd();
    expect_rejected::<B>(fd, "UNIX", &["INET", "UNIX"]).await;
    expect_rejected::<B>(fd, "INET6", &["INET", "INET6"]).await;
    assert!(is_open(fd), "the rejected descriptor was closed");
}

/// `fd:` adopts an inherited listening socket: a child process given a listener's
/// descriptor listens on `fd:<n>:domain=INET`, accepts and echoes.
pub async fn fd_adopts_inherited_listener<B: Backend + Stamped>() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = listener.local_addr().expect("address").port();
    let fd = listener.as_raw_fd();
    let mut command = Command::new(child::test_executable());
    command
        .args(child::test_args::<B>())
        .env(CHILD_ENV, format!("fd:{fd}:domain=INET"));
    // SAFETY: between fork and exec, only fcntl (async-signal-safe) runs: it clears
    // close-on-exec on the child's copy of the listener so the child inherits it.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = ChildProcess::spawn(command, "the fd: child").expect("spawn child");
    child::check_child_echo::<B>(&mut child, &format!("tcp:127.0.0.1:{port}:timeout=5")).await;
    child.expect_success::<B>(CHILD_LIMIT).await;
    drop(listener);
}

/// `systemd:` with no sockets passed fails with `NotFound`, explaining why.
pub async fn systemd_not_activated_is_reported<B: Backend>() {
    if std::env::var_os("LISTEN_FDS").is_some() {
        println!("note: skipped: this test process has LISTEN_FDS set");
        return;
    }
    let result = B::listen(&server("systemd:domain=INET:index=0")).await;
    expect_error(
        result,
        io::ErrorKind::NotFound,
        &["systemd:domain=INET:index=0", "LISTEN_FDS"],
    );
}

/// Where `systemd-socket-activate` listens.
enum Activation {
    Inet,
    Unix,
}

/// Runs a child under `systemd-socket-activate` listening on `systemd:<selector>`,
/// and checks an echo through the activation socket. Passes `--fdname` only when
/// selecting by name, so `index=` is also checked without `LISTEN_FDNAMES`.
async fn activation_round_trip<B: Backend + Stamped>(kind: Activation, name: Option<&str>) {
    let dir = temp_dir();
    let (address, domain, connect) = match kind {
        Activation::Inet => {
            let port = crate::closed_port();
            (
                format!("127.0.0.1:{port}"),
                "INET",
                format!("tcp:127.0.0.1:{port}:timeout=5"),
            )
        }
        Activation::Unix => {
            let (path, text) = socket_path(&dir, "activated.sock");
            (
                path.to_string_lossy().into_owned(),
                "UNIX",
                format!("unix:{text}:timeout=5"),
            )
        }
    };
    let selector = match name {
        Some(n) => format!("name={n}"),
        None => "index=0".to_owned(),
    };
    let mut command = Command::new("systemd-socket-activate");
    command.arg("-l").arg(&address);
    if let Some(n) = name {
        command.arg(format!("--fdname={n}"));
    }
    command
        .arg("-E")
        .arg(format!("{CHILD_ENV}=systemd:domain={domain}:{selector}"))
        .arg(child::test_executable())
        .args(child::test_args::<B>());
    let Some(mut child) = child::socket_activate(command) else {
        return;
    };
    child::check_child_echo::<B>(&mut child, &connect).await;
    child.expect_success::<B>(CHILD_LIMIT).await;
}

/// `systemd:domain=INET:index=0` under `systemd-socket-activate -l 127.0.0.1:PORT`.
pub async fn systemd_inet_by_index<B: Backend + Stamped>() {
    activation_round_trip::<B>(Activation::Inet, None).await;
}

/// `systemd:domain=INET:name=web` under `systemd-socket-activate --fdname=web`.
pub async fn systemd_inet_by_name<B: Backend + Stamped>() {
    activation_round_trip::<B>(Activation::Inet, Some("web")).await;
}

/// `systemd:domain=UNIX:index=0` under `systemd-socket-activate -l PATH`.
pub async fn systemd_unix_by_index<B: Backend + Stamped>() {
    activation_round_trip::<B>(Activation::Unix, None).await;
}

/// `systemd:domain=UNIX:name=admin` under `systemd-socket-activate --fdname=admin`.
pub async fn systemd_unix_by_name<B: Backend + Stamped>() {
    activation_round_trip::<B>(Activation::Unix, Some("admin")).await;
}

/// The child body of [`systemd_environment_is_consumed`].
pub(super) const SYSTEMD_HYGIENE: &str = "systemd_hygiene";

/// The first `systemd:` listen consumes the systemd environment as libsystemd's
/// `sd_listen_fds(1)` does: `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` are gone
/// from the environment, every passed descriptor is close-on-exec (a `process:`
/// child sees neither the variables nor the descriptor not yet adopted), and a later
/// `systemd:` description still finds its socket. Runs under
/// `systemd-socket-activate` with two sockets, in a child process of this test binary.
pub async fn systemd_environment_is_consumed<B: Backend + Stamped>() {
    let ports = [crate::closed_port(), crate::closed_port()];
    let mut command = Command::new("systemd-socket-activate");
    for port in ports {
        command.arg("-l").arg(format!("127.0.0.1:{port}"));
    }
    command
        .arg("-E")
        .arg(format!("{}={SYSTEMD_HYGIENE}", child::CASE_ENV))
        .arg(child::test_executable())
        .args(child::test_args::<B>())
        .env_remove(CHILD_ENV);
    let Some(mut child) = child::socket_activate(command) else {
        return;
    };
    // The first connection makes systemd-socket-activate start the child; it is
    // never served (the child only checks its environment and exits).
    let desc = crate::client(&format!("tcp:127.0.0.1:{}:timeout=5", ports[0]));
    let stream = child::connect_to_child::<B>(&mut child, &desc, Duration::from_secs(15)).await;
    child.expect_success::<B>(CHILD_LIMIT).await;
    drop(stream);
}

/// Whether descriptor `fd` is open and close-on-exec.
fn is_cloexec(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

/// The body of [`systemd_environment_is_consumed`], in the activated child.
pub(super) async fn systemd_hygiene_body<B: Backend>() {
    let variables = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];
    assert_eq!(
        std::env::var("LISTEN_FDS").as_deref(),
        Ok("2"),
        "systemd-socket-activate passes two sockets"
    );
    assert!(is_open(4) && !is_cloexec(4), "fd 4 comes inheritable");
    let first = B::listen(&server("systemd:domain=INET:index=0"))
        .await
        .expect("listen on the first socket");
    for name in variables {
        assert_eq!(std::env::var_os(name), None, "{name} is still set");
    }
    assert!(
        is_cloexec(4),
        "the second passed socket is not close-on-exec"
    );
    // A child started now inherits neither the variables nor fd 4.
    let script = "ls /proc/$$/fd; env";
    let mut stream = match B::connect(&crate::program_client(&format!(
        "process:sh:-c:{}",
        strports_core::quote(script)
    )))
    .await
    {
        Ok(s) => s,
        Err(e) => panic!("run {script:?}: {e}"),
    };
    let output = crate::within::<B, _>(Duration::from_secs(20), "the child's output", async {
        crate::read_to_end::<B>(&mut stream).await
    })
    .await
    .expect("read the child's output");
    let output = String::from_utf8_lossy(&output);
    let fds: Vec<&str> = output
        .lines()
        .take_while(|line| line.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(
        fds,
        ["0", "1", "2"],
        "the child's descriptors; output:\n{output}"
    );
    assert!(
        output.lines().all(|line| !line.starts_with("LISTEN_")),
        "the child sees LISTEN_ variables; output:\n{output}"
    );
    // The environment is gone, but the second socket is still found.
    let second = B::listen(&server("systemd:domain=INET:index=1"))
        .await
        .expect("listen on the second socket after the environment was consumed");
    drop((first, second));
}
