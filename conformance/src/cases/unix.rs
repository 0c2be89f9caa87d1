//! UNIX socket cases: echo, mode, lock files, stale sockets, abstract names.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strports_core::UnixAddress;
use strports_core::endpoint::Address;

use super::shared;
use crate::{
    Backend, accept_one, client, echo_check, expect_error, finish, server, socket_path, temp_dir,
    within,
};

/// A process id that cannot be running (above Linux's largest `pid_max`).
const DEAD_PID: &str = "999999999";

fn lock_of(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    s.into()
}

fn is_socket(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// Connects to `unix:path` and checks that `listener` accepts it.
async fn check_accepts<B: Backend>(listener: &B::Listener, desc: &str) {
    let mut stream = within::<B, _>(
        Duration::from_secs(10),
        "connect",
        B::connect(&client(desc)),
    )
    .await
    .unwrap_or_else(|e| panic!("connect {desc}: {e}"));
    let (mut accepted, _) = accept_one::<B>(listener).await;
    B::write_all(&mut stream, b"z").await.expect("write");
    let mut one = [0u8; 1];
    crate::read_exact::<B>(&mut accepted, &mut one)
        .await
        .expect("read");
}

/// An echo round trip over a UNIX socket file through `serve`.
pub async fn unix_echo_round_trip<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "echo.sock");
    shared::echo_round_trip::<B>(&format!("unix:{text}"), |serving| {
        assert_eq!(
            B::serving_address(serving).expect("serving address"),
            Address::Unix(Some(UnixAddress::Path(path.clone())))
        );
        format!("unix:{text}:timeout=5")
    })
    .await;
}

/// 200 UNIX clients at once, each echoing.
pub async fn unix_many_concurrent_clients<B: Backend>() {
    let dir = temp_dir();
    let (_, text) = socket_path(&dir, "many.sock");
    shared::many_concurrent_clients::<B>(
        &format!("unix:{text}:backlog=256"),
        |_| format!("unix:{text}:timeout=10"),
        200,
    )
    .await;
}

/// 64 MiB each way over a UNIX socket, byte-exact.
pub async fn unix_large_transfer_both_ways<B: Backend>() {
    let dir = temp_dir();
    let (_, text) = socket_path(&dir, "large.sock");
    shared::large_transfer_both_ways::<B>(&format!("unix:{text}"), |_| {
        format!("unix:{text}:timeout=10")
    })
    .await;
}

/// Over a UNIX socket, the client half-closes and still reads the server's reply.
pub async fn unix_half_close<B: Backend>() {
    let dir = temp_dir();
    let (_, text) = socket_path(&dir, "half.sock");
    shared::half_close::<B>(&format!("unix:{text}"), |_| {
        format!("unix:{text}:timeout=5")
    })
    .await;
}

/// `mode` is on the socket file as soon as `listen` returns, before any accept;
/// without `mode` the file gets Twisted's default 0666.
pub async fn unix_mode_set_before_first_accept<B: Backend>() {
    let dir = temp_dir();
    for (mode_arg, expected) in [(":mode=600", 0o600), (":mode=0o640", 0o640), ("", 0o666)] {
        let (path, text) = socket_path(&dir, &format!("mode{expected:o}.sock"));
        let listener = B::listen(&server(&format!("unix:{text}{mode_arg}")))
            .await
            .expect("listen");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(
            mode, expected,
            "unix:{text}{mode_arg} has mode {mode:o}, not {expected:o}"
        );
        check_accepts::<B>(&listener, &format!("unix:{text}:timeout=5")).await;
    }
}

/// A second listener on a path whose lock a live process holds fails with
/// `AddrInUse`; the socket file survives and the first listener keeps working.
pub async fn unix_lock_held_refuses_second_listener<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "held.sock");
    let first = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen");
    let second = B::listen(&server(&format!("unix:{text}"))).await;
    expect_error(second, io::ErrorKind::AddrInUse, &["held.sock"]);
    assert!(is_socket(&path), "the socket file was removed");
    assert!(
        fs::symlink_metadata(lock_of(&path)).is_ok(),
        "the lock file was removed"
    );
    check_accepts::<B>(&first, &format!("unix:{text}:timeout=5")).await;
}

/// A lock left by a dead process and its leftover socket file are reclaimed.
pub async fn unix_stale_socket_reclaimed<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "stale.sock");
    // A leftover socket file: std does not remove it when the listener closes.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind leftover"));
    assert!(is_socket(&path));
    symlink(DEAD_PID, lock_of(&path)).expect("stale lock");
    let listener = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen over a stale socket");
    assert_eq!(
        fs::read_link(lock_of(&path))
            .expect("lock")
            .to_string_lossy(),
        std::process::id().to_string(),
        "the lock does not name this process"
    );
    check_accepts::<B>(&listener, &format!("unix:{text}:timeout=5")).await;
}

/// With a stale lock but a regular file at the socket path, listening fails and
/// the file is left alone.
pub async fn unix_stale_lock_keeps_non_socket_file<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "precious");
    fs::write(&path, b"precious data").expect("write file");
    symlink(DEAD_PID, lock_of(&path)).expect("stale lock");
    let result = B::listen(&server(&format!("unix:{text}"))).await;
    let message = match result {
        Ok(_) => panic!("listened over a regular file"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("not a socket"),
        "error {message:?} does not say the file is not a socket"
    );
    assert_eq!(
        fs::read(&path).expect("the file is still there"),
        b"precious data"
    );
}

/// A stale lock (naming a dead process) over a socket path where a live server
/// still accepts (one started without a lock file, say): listening fails, naming the
/// path and the live server, and touches neither the lock nor the socket; the live
/// server keeps accepting.
pub async fn unix_stale_lock_with_live_server_is_refused<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "live.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).expect("bind the live server");
    symlink(DEAD_PID, lock_of(&path)).expect("stale lock");
    let result = B::listen(&server(&format!("unix:{text}"))).await;
    let message = expect_error(result, io::ErrorKind::AddrInUse, &["live server"]);
    assert!(
        message.contains(&path.display().to_string()),
        "error {message:?} does not name {}",
        path.display()
    );
    assert_eq!(
        fs::read_link(lock_of(&path))
            .expect("the stale lock is still there")
            .to_string_lossy(),
        DEAD_PID,
        "the stale lock was replaced"
    );
    assert!(is_socket(&path), "the live server's socket file is gone");
    // The live server still accepts: a client connects through its socket file.
    live.set_nonblocking(true).expect("non-blocking");
    let client_stream = within::<B, _>(
        Duration::from_secs(10),
        "connect to the live server",
        B::connect(&client(&format!("unix:{text}:lockfile=0:timeout=5"))),
    )
    .await
    .expect("connect to the live server");
    let accepted = within::<B, _>(Duration::from_secs(10), "accept", async {
        loop {
            match live.accept() {
                Ok((stream, _)) => return stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    B::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("the live server cannot accept: {e}"),
            }
        }
    })
    .await;
    drop((client_stream, accepted));
}

/// Dropping the listener removes the socket file, then the lock file.
pub async fn unix_listener_drop_removes_socket_and_lock<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "drop.sock");
    let listener = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen");
    assert!(is_socket(&path));
    assert!(fs::symlink_metadata(lock_of(&path)).is_ok());
    drop(listener);
    assert!(
        fs::symlink_metadata(&path).is_err(),
        "socket file left behind"
    );
    assert!(
        fs::symlink_metadata(lock_of(&path)).is_err(),
        "lock file left behind"
    );
    // The path is free again.
    let again = B::listen(&server(&format!("unix:{text}")))
        .await
        .expect("listen again");
    drop(again);
}

/// `lockfile=0` takes no lock file.
pub async fn unix_lockfile_off_creates_no_lock<B: Backend>() {
    let dir = temp_dir();
    let (path, text) = socket_path(&dir, "nolock.sock");
    let listener = B::listen(&server(&format!("unix:{text}:lockfile=0")))
        .await
        .expect("listen");
    assert!(is_socket(&path));
    assert!(
        fs::symlink_metadata(lock_of(&path)).is_err(),
        "a lock file was made"
    );
    check_accepts::<B>(&listener, &format!("unix:{text}:timeout=5")).await;
}

/// A Linux abstract name (`unix:@name`): listen, report the name, connect, echo.
pub async fn unix_abstract_round_trip<B: Backend>() {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        println!("note: skipped: abstract UNIX names exist only on Linux");
        return;
    }
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "strports-conformance-{}-{}-{}",
        std::process::id(),
        B::NAME,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let listener = B::listen(&server(&format!("unix:@{}", strports_core::quote(&name))))
        .await
        .expect("listen");
    assert_eq!(
        B::local_address(&listener).expect("local address"),
        Address::Unix(Some(UnixAddress::Abstract(name.clone())))
    );
    let serving = B::serve_echo(listener);
    let mut stream = B::connect(&client(&format!(
        "unix:@{}:timeout=5",
        strports_core::quote(&name)
    )))
    .await
    .expect("connect");
    echo_check::<B>(&mut stream, b"abstract").await;
    finish::<B>(&mut stream).await;
    within::<B, _>(Duration::from_secs(10), "stop", B::stop(serving)).await;
}

/// A client with `lockfile=1` refuses to connect unless a live process holds the
/// lock; with a live lock it connects.
pub async fn unix_client_lockfile_needs_live_lock<B: Backend>() {
    let dir = temp_dir();
    let (_, unlocked) = socket_path(&dir, "unlocked.sock");
    let listener = B::listen(&server(&format!("unix:{unlocked}:lockfile=0")))
        .await
        .expect("listen");
    let refused = B::connect(&client(&format!("unix:{unlocked}:lockfile=1:timeout=5"))).await;
    expect_error(
        refused,
        io::ErrorKind::ConnectionRefused,
        &["unlocked.sock.lock"],
    );
    // Without lockfile the same socket connects.
    check_accepts::<B>(&listener, &format!("unix:{unlocked}:timeout=5")).await;

    let (_, locked) = socket_path(&dir, "locked.sock");
    let listener = B::listen(&server(&format!("unix:{locked}")))
        .await
        .expect("listen");
    check_accepts::<B>(&listener, &format!("unix:{locked}:lockfile=1:timeout=5")).await;
}
