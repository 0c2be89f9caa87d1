//! Several listeners in one process: `serve_many_with` (one loop, one connection
//! limit, one stop; each handler told its listener) and `listen_systemd` (every
//! socket systemd passed, with its name), the latter in a child process under the
//! real `systemd-socket-activate`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use strports_core::Domain;
use strports_endpoints::{Runtime, ServeOptions, Stream, listen_systemd, serve_many_with};

use crate::child::{self, Stamped};
use crate::{
    Backend, Flavor, client, echo_check, finish, read_exact, server, socket_path, tcp_address,
    temp_dir, within,
};

const LIMIT: Duration = Duration::from_secs(10);

/// The variable that makes the stamped `child_process` test run a child body of
/// this module (see [`run_flavor_child`]).
pub const FLAVOR_CASE_ENV: &str = "STRPORTS_CONFORMANCE_FLAVOR_CHILD";

/// The child body of [`systemd_every_socket_with_its_name`].
const SYSTEMD_ALL: &str = "systemd_all";

/// Runs the child body named by [`FLAVOR_CASE_ENV`], if set (called by the stamped
/// `child_process` test).
pub fn run_flavor_child<F: Flavor>() {
    let Ok(name) = std::env::var(FLAVOR_CASE_ENV) else {
        return;
    };
    match name.as_str() {
        SYSTEMD_ALL => crate::run::<F, _>(&name, systemd_all_child::<F>()),
        other => panic!("no child body named {other:?}"),
    }
}

/// Writes `greeting`, then echoes until EOF and closes.
async fn greet_and_echo<R: Runtime>(mut stream: Stream<R>, greeting: &[u8]) {
    if stream.write_all(greeting).await.is_ok() {
        crate::backend::echo(stream).await;
    }
}

/// Reads one byte: the index of the listener that accepted us.
async fn listener_index<F: Flavor>(stream: &mut Stream<F::Rt>) -> u8 {
    let mut index = [0u8; 1];
    within::<F, _>(
        LIMIT,
        "the listener's index",
        read_exact::<F>(stream, &mut index),
    )
    .await
    .expect("the listener's index");
    index[0]
}

/// `serve_many_with` over a TCP and a UNIX listener: each handler is told which
/// listener accepted its connection; the connection limit (1) counts both, so a
/// connection to one waits in its backlog while the other's is served, and is
/// served once that one ends; one stop closes both (TCP refused, socket file gone).
pub async fn serve_many_shares_the_limit_and_the_stop<F: Flavor>() {
    let dir = temp_dir();
    let (path, path_text) = socket_path(&dir, "many.sock");
    let tcp = F::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen tcp");
    let unix = F::listen(&server(&format!("unix:{path_text}")))
        .await
        .expect("listen unix");
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (running.clone(), most.clone());
    let serving = serve_many_with(
        &F::spawner(),
        [tcp, unix],
        ServeOptions::new().with_max_connections(1),
        move |stream, _peer, index| {
            let (running, most) = (r.clone(), m.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let index = u8::try_from(index).unwrap_or(u8::MAX);
                greet_and_echo(stream, &[index]).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        },
    );
    let addresses = serving.local_addrs();
    assert_eq!(addresses.len(), 2);
    let port = tcp_address(addresses[0].as_ref().expect("tcp address")).port();
    assert_eq!(
        addresses[1].as_ref().expect("unix address").unix_path(),
        Some(path.as_path())
    );

    let unix_desc = format!("unix:{path_text}");
    let tcp_desc = format!("tcp:127.0.0.1:{port}");
    let mut first = F::connect(&client(&unix_desc)).await.expect("connect unix");
    assert_eq!(listener_index::<F>(&mut first).await, 1);
    echo_check::<F>(&mut first, b"first").await;
    // The limit is reached: a TCP client waits in the TCP listener's backlog.
    let mut second = F::connect(&client(&tcp_desc)).await.expect("connect tcp");
    crate::cases::accept_queue_reaches::<F>(port, 1, "the tcp client held in the backlog").await;
    // A negative wait: it can only pass wrongly (too short to see a broken limit),
    // never fail from slowness.
    let mut byte = [0u8; 1];
    let early = futures_lite::future::or(
        async { Some(F::read(&mut second, &mut byte).await) },
        async {
            F::sleep(Duration::from_millis(300)).await;
            None
        },
    )
    .await;
    assert!(
        early.is_none(),
        "served past the shared limit of 1: {early:?}"
    );
    finish::<F>(&mut first).await;
    drop(first);
    assert_eq!(listener_index::<F>(&mut second).await, 0);
    echo_check::<F>(&mut second, b"second").await;
    finish::<F>(&mut second).await;
    drop(second);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never two connections at once"
    );

    within::<F, _>(LIMIT, "stop", F::stop(serving)).await;
    let refused = F::connect(&client(&tcp_desc)).await;
    assert!(
        refused.is_err(),
        "the tcp listener is closed after the stop"
    );
    assert!(
        !path.exists(),
        "the unix socket file is removed by the stop"
    );
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

/// `listen_systemd` under `systemd-socket-activate` with a TCP and a UNIX socket
/// named `web` and `admin`: the child opens both with their index, name and family
/// and serves them with one `serve_many_with`, greeting each connection with the
/// name of its socket.
pub async fn systemd_every_socket_with_its_name<F: Flavor + Stamped>() {
    let dir = temp_dir();
    let port = crate::closed_port();
    let (path, path_text) = socket_path(&dir, "admin.sock");
    let mut command = Command::new("systemd-socket-activate");
    command
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-l")
        .arg(&path)
        .arg("--fdname=web:admin")
        .arg("-E")
        .arg(format!("{FLAVOR_CASE_ENV}={SYSTEMD_ALL}"))
        .arg(child::test_executable())
        .args(child::test_args::<F>());
    let Some(mut child) = child::socket_activate(command) else {
        return;
    };
    for (desc, greeting) in [
        (format!("tcp:127.0.0.1:{port}:timeout=5"), &b"web\n"[..]),
        (format!("unix:{path_text}:timeout=5"), &b"admin\n"[..]),
    ] {
        let mut stream =
            child::connect_to_child::<F>(&mut child, &client(&desc), Duration::from_secs(15)).await;
        let mut got = vec![0u8; greeting.len()];
        within::<F, _>(
            LIMIT,
            "the greeting",
            read_exact::<F>(&mut stream, &mut got),
        )
        .await
        .unwrap_or_else(|e| panic!("{desc}: {e}; child output:\n{}", child.output()));
        assert_eq!(got, greeting, "{desc}");
        echo_check::<F>(&mut stream, b"through the activated socket").await;
        finish::<F>(&mut stream).await;
    }
    child.expect_success::<F>(Duration::from_secs(30)).await;
}

/// In the child: every passed socket, checked, served until two connections ended.
async fn systemd_all_child<F: Flavor>() {
    let sockets = listen_systemd::<F::Rt>().await.expect("listen_systemd");
    let found: Vec<(u32, Option<&str>, Domain)> = sockets
        .iter()
        .map(|(s, _)| (s.index, s.name.as_deref(), s.domain))
        .collect();
    assert_eq!(
        found,
        [
            (0, Some("web"), Domain::Inet),
            (1, Some("admin"), Domain::Unix)
        ]
    );
    assert_eq!(
        sockets[0].0.to_string(),
        "systemd:domain=INET:index=0 (name \"web\")"
    );
    let (described, listeners): (Vec<_>, Vec<_>) = sockets.into_iter().unzip();
    let names: Arc<Vec<String>> = Arc::new(
        described
            .iter()
            .map(|s| format!("{}\n", s.name.as_deref().unwrap_or("?")))
            .collect(),
    );
    let done = Arc::new(AtomicUsize::new(0));
    let finished = done.clone();
    let serving = serve_many_with(
        &F::spawner(),
        listeners,
        ServeOptions::new(),
        move |stream, _peer, index| {
            let (names, finished) = (names.clone(), finished.clone());
            async move {
                greet_and_echo(stream, names[index].as_bytes()).await;
                finished.fetch_add(1, Ordering::SeqCst);
            }
        },
    );
    within::<F, _>(Duration::from_secs(25), "two connections served", async {
        while done.load(Ordering::SeqCst) < 2 {
            F::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    within::<F, _>(LIMIT, "stop", F::stop(serving)).await;
}
