//! End-to-end tests of `strports listen`, `connect` and `relay`: the built binary,
//! real sockets, both runtimes. Every wait is bounded by [`TIMEOUT`]; nothing
//! asserts on how long something took.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use strports_conformance::pki::TestCa;

/// The bound on every wait.
const TIMEOUT: Duration = Duration::from_secs(30);

const RUNTIMES: [&str; 2] = ["tokio", "smol"];

fn strports() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strports"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A running `strports` (or wrapper) process whose stderr is read line by line;
/// killed when dropped.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the command starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[strports] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    fn wait_for_line(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no stderr line with {needle:?} ({e}); saw {:?}", self.seen),
            }
        }
    }

    /// Waits until `n` stderr lines contain `needle`.
    fn wait_for_lines(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.seen.iter().filter(|l| l.contains(needle)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(e) => panic!(
                    "fewer than {n} stderr lines with {needle:?} ({e}); saw {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for "listening on ADDR" and returns the TCP address.
    fn tcp_address(&mut self) -> SocketAddr {
        let line = self.wait_for_line("listening on ");
        let rest = &line[line.find("listening on ").expect("found") + "listening on ".len()..];
        let addr = rest.split_whitespace().next().expect("an address");
        addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}"))
    }

    /// Collects whatever stderr lines arrived until the process exited.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) with our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        wait_child(&mut self.child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_child(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit in time", child.id());
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `strports connect ...` with `input` on stdin; returns its output.
fn connect(runtime: &str, client: &str, input: &[u8]) -> Output {
    let mut child = strports()
        .args(["connect", "--runtime", runtime, client])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("connect starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
        // Dropping stdin closes it: connect half-closes the connection.
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let err_reader = thread::spawn(move || {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err);
        err
    });
    let status = wait_child(&mut child);
    writer.join().expect("writer");
    Output {
        status,
        stdout: reader.join().expect("reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

fn tcp_client(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connects");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    stream.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    stream
}

/// Sends `request`, half-closes, and reads the reply to EOF.
fn round_trip<S: Read + Write>(
    mut stream: S,
    request: &[u8],
    shutdown: impl FnOnce(&S),
) -> Vec<u8> {
    stream.write_all(request).expect("write");
    shutdown(&stream);
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read to EOF");
    reply
}

fn tcp_round_trip(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    round_trip(tcp_client(addr), request, |s| {
        s.shutdown(Shutdown::Write).expect("half-close")
    })
}

/// A UNIX socket server in a thread: for each connection, reads to EOF, then
/// writes back the bytes upper-cased and closes.
fn upper_unix_server(path: &Path) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("bind");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            thread::spawn(move || {
                let mut data = Vec::new();
                if stream.read_to_end(&mut data).is_ok() {
                    let _ = stream.write_all(&data.to_ascii_uppercase());
                }
            });
        }
    })
}

/// Bytes 0, 1, ..., 250, 0, 1, ... (a prime period, so shifted data does not match).
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------------------

#[test]
fn echo_over_tcp_and_unix_on_both_runtimes() {
    let dir = temp_dir();
    for server_rt in RUNTIMES {
        // TCP
        let mut server = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--echo",
                "--runtime",
                server_rt,
                "tcp:0:interface=127.0.0.1",
            ]);
            c
        });
        let addr = server.tcp_address();
        for client_rt in RUNTIMES {
            let out = connect(
                client_rt,
                &format!("tcp:127.0.0.1:{}", addr.port()),
                b"hello tcp\n",
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                out.stdout, b"hello tcp\n",
                "{server_rt} server, {client_rt} client"
            );
            // Quiet like nc: no summary line unless -v.
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                "",
                "{client_rt} connect printed on stderr"
            );
        }
        // With -v, connect says how the connection ended.
        let out = strports()
            .args(["connect", "-v", "--runtime", server_rt])
            .arg(format!("tcp:127.0.0.1:{}", addr.port()))
            .stdin(Stdio::null())
            .output()
            .expect("connect -v runs");
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("connection closed"), "connect -v: {stderr}");
        // A larger transfer, through a plain socket client.
        let big = pattern(3 << 20);
        assert!(
            tcp_round_trip(addr, &big) == big,
            "{server_rt}: 3 MiB echoed"
        );
        server.wait_for_line("connection closed");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));

        // UNIX
        let path = dir.path().join(format!("echo-{server_rt}.sock"));
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", server_rt])
                .arg(format!("unix:{}", path.display()));
            c
        });
        server.wait_for_line("listening on ");
        for client_rt in RUNTIMES {
            let out = connect(
                client_rt,
                &format!("unix:{}", path.display()),
                b"hello unix\n",
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                out.stdout, b"hello unix\n",
                "{server_rt} server, {client_rt} client"
            );
        }
        let summary = server.wait_for_line("connection closed");
        assert!(summary.contains("from_peer=11"), "{summary}");
        assert!(summary.contains("to_peer=11"), "{summary}");
        assert!(summary.contains("end=closed"), "{summary}");
        server.signal(libc::SIGINT);
        assert_eq!(server.wait().code(), Some(0));
        assert!(!path.exists(), "the socket file is removed on shutdown");
    }
}

#[test]
fn relay_tcp_to_unix_on_both_runtimes() {
    let dir = temp_dir();
    let target = dir.path().join("upper.sock");
    let _upper = upper_unix_server(&target);
    for rt in RUNTIMES {
        let mut relay = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt, "tcp:0:interface=127.0.0.1"])
                .arg(format!("unix:{}", target.display()));
            c
        });
        let addr = relay.tcp_address();
        assert_eq!(
            tcp_round_trip(addr, b"through the relay"),
            b"THROUGH THE RELAY"
        );
        // Several at once.
        let clients: Vec<_> = (0..8)
            .map(|i| thread::spawn(move || tcp_round_trip(addr, format!("client {i}").as_bytes())))
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert_eq!(c.join().expect("client"), format!("CLIENT {i}").as_bytes());
        }
        relay.signal(libc::SIGTERM);
        assert_eq!(relay.wait().code(), Some(0), "{rt}");
    }
}

/// `relay --threads 2`: two runtime threads accept from one socket; concurrent
/// clients all get their own bytes back, a connection open at SIGTERM finishes in
/// the grace period whichever thread has it, and the relay exits 0.
#[test]
fn relay_on_two_threads_serves_concurrent_clients_and_stops_on_sigterm() {
    const CLIENTS: usize = 32;
    let dir = temp_dir();
    let target = dir.path().join("upper.sock");
    let _upper = upper_unix_server(&target);
    for rt in RUNTIMES {
        let mut relay = Running::start({
            let mut c = strports();
            c.args([
                "relay",
                "--threads",
                "2",
                "-v",
                "--runtime",
                rt,
                "tcp:0:interface=127.0.0.1",
            ])
            .arg(format!("unix:{}", target.display()));
            c
        });
        let addr = relay.tcp_address();
        relay.wait_for_line("accepting on 2 threads");
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                thread::spawn(move || {
                    let request: Vec<u8> = pattern((64 << 10) + i * 1000)
                        .iter()
                        .map(|b| b'a' + b % 26)
                        .collect();
                    let reply = tcp_round_trip(addr, &request);
                    reply == request.to_ascii_uppercase()
                })
            })
            .collect();
        for (i, c) in clients.into_iter().enumerate() {
            assert!(
                c.join().expect("client"),
                "{rt}: client {i} got its bytes back"
            );
        }
        relay.wait_for_lines("connection closed", CLIENTS);
        let mut open = tcp_client(addr);
        open.write_all(b"still here").expect("write");
        relay.wait_for_lines("connected upstream", CLIENTS + 1);
        relay.signal(libc::SIGTERM);
        let line = relay.wait_for_line("stopped accepting");
        assert!(line.contains("for 1 open connection(s)"), "{line}");
        assert!(
            TcpStream::connect(addr).is_err(),
            "{rt}: no new connections after SIGTERM"
        );
        open.shutdown(Shutdown::Write).expect("half-close");
        let mut reply = Vec::new();
        open.read_to_end(&mut reply).expect("reply");
        assert_eq!(reply, b"STILL HERE");
        assert_eq!(relay.wait().code(), Some(0), "{rt}");
        relay.drain();
        let closed: Vec<_> = relay
            .seen
            .iter()
            .filter(|l| l.contains("connection closed"))
            .collect();
        assert_eq!(closed.len(), CLIENTS + 1, "{closed:?}");
        assert!(
            closed.iter().all(|l| l.contains("end=closed")),
            "{closed:?}"
        );
    }
}

/// Connects, sends a byte and half-closes: the server must close without a reply
/// (EOF, or a reset since it closed with our byte unread).
fn assert_closed_without_reply(addr: SocketAddr) {
    let mut stream = tcp_client(addr);
    let _ = stream.write_all(b"x");
    let _ = stream.shutdown(Shutdown::Write);
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => assert!(reply.is_empty(), "{reply:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn relay_reports_failed_upstream_connects_and_keeps_serving() {
    let dir = temp_dir();
    let missing = dir.path().join("nobody.sock");
    for rt in RUNTIMES {
        let mut relay = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt, "tcp:0:interface=127.0.0.1"])
                .arg(format!("unix:{}", missing.display()));
            c
        });
        let addr = relay.tcp_address();
        assert_closed_without_reply(addr);
        let line = relay.wait_for_line("connection closed");
        assert!(line.contains("connect failed"), "{line}");
        assert_closed_without_reply(addr);
        relay.signal(libc::SIGTERM);
        assert_eq!(relay.wait().code(), Some(0));
    }
}

#[test]
fn exec_cat_on_both_runtimes() {
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--runtime",
                rt,
                "--exec",
                "cat",
                "tcp:0:interface=127.0.0.1",
            ]);
            c
        });
        let addr = server.tcp_address();
        let data = pattern(1 << 20);
        assert!(
            tcp_round_trip(addr, &data) == data,
            "{rt}: 1 MiB through cat"
        );
        let mut upper = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--runtime",
                rt,
                "--exec",
                "tr a-z A-Z | tr -d ' '",
            ])
            .arg("tcp:0:interface=127.0.0.1");
            c
        });
        let addr2 = upper.tcp_address();
        assert_eq!(tcp_round_trip(addr2, b"sh -c rules"), b"SH-CRULES");
        for s in [&server, &upper] {
            s.signal(libc::SIGTERM);
        }
        assert_eq!(server.wait().code(), Some(0));
        assert_eq!(upper.wait().code(), Some(0));
    }
}

#[test]
fn listen_without_echo_relays_the_first_connection_to_stdio() {
    for rt in RUNTIMES {
        let mut cmd = strports();
        cmd.args(["listen", "--runtime", rt, "tcp:0:interface=127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut listen = Running::start(cmd);
        let mut stdin = listen.child.stdin.take().expect("stdin");
        stdin.write_all(b"from stdin").expect("write");
        drop(stdin);
        let mut stdout = listen.child.stdout.take().expect("stdout");
        let addr = listen.tcp_address();
        let reply = tcp_round_trip(addr, b"from the network");
        assert_eq!(reply, b"from stdin");
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).expect("stdout");
        assert_eq!(out, b"from the network");
        assert_eq!(listen.wait().code(), Some(0), "{rt}");
    }
}

#[test]
fn idle_timeout_closes_quiet_connections() {
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--idle-timeout", "0.2", "--runtime", rt])
                .arg("tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        let mut stream = tcp_client(addr);
        stream.write_all(b"ping").expect("write");
        // No half-close: only the idle timeout ends this connection.
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .expect("closed by the server");
        assert_eq!(reply, b"ping");
        let line = server.wait_for_line("connection closed");
        assert!(line.contains("end=idle"), "{line}");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));
    }
}

#[test]
fn max_connections_makes_excess_connections_wait() {
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--echo",
                "--max-connections",
                "1",
                "-v",
                "--runtime",
                rt,
            ])
            .arg("tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        let mut first = tcp_client(addr);
        first.write_all(b"1").expect("write");
        let mut byte = [0; 1];
        first.read_exact(&mut byte).expect("echo of the first");
        server.wait_for_line("all connection slots taken");
        // The second connection is made (the kernel queues it) but not served yet.
        let mut second = tcp_client(addr);
        second.write_all(b"2").expect("write");
        drop(first);
        // Once the first closes, the second is accepted and echoed.
        second.read_exact(&mut byte).expect("echo of the second");
        assert_eq!(&byte, b"2");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));
    }
}

#[test]
fn bad_descriptions_show_the_caret_and_exit_1() {
    for args in [
        &["listen", "--echo", "tcp:70000"][..],
        &["relay", "tcp:8080", "tcp:host:70000"],
        &["connect", "tcp:host:70000"],
    ] {
        let out = strports().args(args).output().expect("runs");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains('^'), "{err}");
        assert!(err.contains("error: invalid port \"70000\""), "{err}");
    }
    let out = strports()
        .args(["listen", "--runtime", "rayon", "tcp:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// The tool allows the program types: its user typed the command. `connect` runs
/// `process:` (also as the transport of `tls:...:endpoint=`, which `parse` shows).
#[test]
fn connect_runs_a_process_description() {
    for rt in RUNTIMES {
        let out = connect(rt, "process:tr:a-z:A-Z", b"shout\n");
        assert!(out.status.success(), "{rt}: {out:?}");
        assert_eq!(out.stdout, b"SHOUT\n", "{rt}");
    }
    let out = strports()
        .args([
            "parse",
            "--client",
            r"tls:example.com:443:endpoint=process\:sh\:-c\:id",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
}

/// A PROXY v2 header (AF_UNIX stream) whose source path holds a newline, a fake
/// summary line and ESC sequences: the summary line must show it escaped, on one line.
#[test]
fn summary_line_escapes_control_characters_of_a_proxied_unix_peer() {
    let forged: &[u8] =
        b"/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1 forged=1\x1b[2K";
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x31".to_vec();
    header.extend_from_slice(&216u16.to_be_bytes());
    for path in [forged, b"/run/app.sock"] {
        let mut field = [0u8; 108];
        field[..path.len()].copy_from_slice(path);
        header.extend_from_slice(&field);
    }
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", rt])
                .arg("haproxy:tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        let reply = tcp_round_trip(addr, &[&header[..], b"hi"].concat());
        assert_eq!(reply, b"hi", "{rt}: the payload after the header is echoed");
        let line = server.wait_for_line("connection closed");
        assert!(
            line.contains(r"peer=/tmp/a\n2026-01-01T00:00:00Z  INFO connection closed peer=10.0.0.1 forged=1\x1b[2K"),
            "{rt}: {line:?}"
        );
        assert!(!line.contains('\x1b'), "{rt}: raw ESC in {line:?}");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));
        server.drain();
        assert!(
            !server
                .seen
                .iter()
                .any(|l| l.contains("forged=1") && !l.contains("peer=/tmp/a")),
            "{rt}: a forged line: {:?}",
            server.seen
        );
    }
}

#[test]
fn cannot_connect_exits_1() {
    let dir = temp_dir();
    for rt in RUNTIMES {
        let out = connect(
            rt,
            &format!("unix:{}", dir.path().join("none").display()),
            b"",
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error: "));
    }
}

#[test]
fn systemd_socket_activation() {
    let Ok(activate) = which("systemd-socket-activate") else {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    };
    for rt in RUNTIMES {
        // A free port: bind, read it, close (systemd-socket-activate binds it again).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new(&activate);
        cmd.arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .arg(env!("CARGO_BIN_EXE_strports"))
            .args([
                "listen",
                "--echo",
                "--runtime",
                rt,
                "systemd:domain=INET:index=0",
            ])
            .env_remove("RUST_LOG");
        let mut activated = Running::start(cmd);
        activated.wait_for_line("Listening on");
        // The first connection starts strports, which adopts the listening socket.
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        assert_eq!(tcp_round_trip(addr, b"activated"), b"activated");
        assert_eq!(tcp_round_trip(addr, b"again"), b"again");
        activated.wait_for_line("listening on");
        activated.signal(libc::SIGTERM);
        activated.wait();
    }
}

/// Under systemd socket activation with two sockets, a `--exec` command inherits
/// neither the LISTEN_* variables nor the passed socket strports did not adopt:
/// strports consumes the systemd environment as sd_listen_fds(1) does.
#[test]
fn exec_children_inherit_no_systemd_sockets_or_variables() {
    let Ok(activate) = which("systemd-socket-activate") else {
        eprintln!("skipped: systemd-socket-activate is not installed");
        return;
    };
    for rt in RUNTIMES {
        // Free ports: bind, read, close (systemd-socket-activate binds them again).
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free port")
                    .port()
            })
            .collect();
        let mut cmd = Command::new(&activate);
        for port in &ports {
            cmd.arg("-l").arg(format!("127.0.0.1:{port}"));
        }
        cmd.arg(env!("CARGO_BIN_EXE_strports"))
            .args([
                "listen",
                "--runtime",
                rt,
                "--exec",
                // The shell's own descriptors, then its environment.
                "ls /proc/$$/fd; env",
                "systemd:domain=INET:index=0",
            ])
            .env_remove("RUST_LOG");
        let mut activated = Running::start(cmd);
        activated.wait_for_line("Listening on");
        // The first connection starts strports, which runs the command for it.
        let addr: SocketAddr = format!("127.0.0.1:{}", ports[0]).parse().expect("addr");
        let reply = tcp_round_trip(addr, b"");
        let text = String::from_utf8_lossy(&reply);
        let fds: Vec<&str> = text
            .lines()
            .take_while(|line| line.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        assert_eq!(
            fds,
            ["0", "1", "2"],
            "{rt}: the command's descriptors; output:\n{text}"
        );
        assert!(
            !text.lines().any(|line| line.starts_with("LISTEN_")),
            "{rt}: the command sees LISTEN_ variables; output:\n{text}"
        );
        activated.signal(libc::SIGTERM);
        activated.wait();
    }
}

/// The start time (field 22 of `/proc/PID/stat`) of process `pid` while it is
/// alive; `None` once it is gone or a zombie. Compared with an earlier value, a pid
/// reused by another process is not taken for the one watched.
fn alive_since(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// A `--exec` command that left a process running in the background (`sleep 321
/// &`): when the connection ends (here the client resets it), that process ends
/// too: the command runs in a process group of its own, which gets SIGTERM.
#[test]
fn exec_connection_end_ends_the_commands_background_processes() {
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--runtime",
                rt,
                "--exec",
                "sleep 321 & echo $!; wait",
                "tcp:0:interface=127.0.0.1",
            ]);
            c
        });
        let addr = server.tcp_address();
        let client = tcp_client(addr);
        let mut line = String::new();
        BufReader::new(&client)
            .read_line(&mut line)
            .expect("the background pid");
        let pid: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{rt}: not a pid: {line:?} ({e})"));
        let since = alive_since(pid).expect("the background process runs");
        // Reset the connection (SO_LINGER 0, then close), as a crashed client would.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads `linger` (of the size given) for the client's own
        // socket.
        let set = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&client),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0, "SO_LINGER");
        drop(client);
        server.wait_for_line("connection closed");
        let deadline = Instant::now() + TIMEOUT;
        while alive_since(pid) == Some(since) {
            if Instant::now() > deadline {
                if let Ok(pid) = libc::pid_t::try_from(pid) {
                    // SAFETY: kill only sends a signal, to the process watched.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                panic!("{rt}: background process {pid} outlived its connection");
            }
            thread::sleep(Duration::from_millis(10));
        }
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0), "{rt}");
    }
}

#[test]
fn relay_terminates_tls_checked_with_openssl_s_client() {
    let Ok(openssl) = which("openssl") else {
        eprintln!("skipped: openssl is not installed");
        return;
    };
    let dir = temp_dir();
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    let made = Command::new(&openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(made.success());
    let target = dir.path().join("upper.sock");
    let _upper = upper_line_unix_server(&target);
    for rt in RUNTIMES {
        let server = format!(
            "ssl:0:interface=127.0.0.1:privateKey={}:certKey={}",
            key.display(),
            cert.display()
        );
        let mut relay = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt, &server])
                .arg(format!("unix:{}", target.display()));
            c
        });
        // Wait for the relay to listen, or for it to fail.
        let line = relay.wait_for_line_or_exit("listening on ");
        let Some(line) = line else {
            relay.drain();
            panic!("{rt}: relay failed: {}", relay.seen.join("\n"));
        };
        let addr: SocketAddr = line[line.find("listening on ").expect("found") + 13..]
            .split_whitespace()
            .next()
            .expect("addr")
            .parse()
            .expect("addr");
        let mut client = Command::new(&openssl)
            .args(["s_client", "-quiet", "-connect"])
            .arg(addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_client starts");
        let mut stdin = client.stdin.take().expect("stdin");
        stdin.write_all(b"hello over tls\n").expect("write");
        let mut stdout = client.stdout.take().expect("stdout");
        let reader = thread::spawn(move || {
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out);
            out
        });
        wait_child(&mut client);
        drop(stdin);
        let out = reader.join().expect("reader");
        assert!(
            String::from_utf8_lossy(&out).contains("HELLO OVER TLS"),
            "{rt}: {:?}",
            String::from_utf8_lossy(&out)
        );
        relay.signal(libc::SIGTERM);
        assert_eq!(relay.wait().code(), Some(0));
    }
}

/// A UNIX socket server in a thread: for each connection, reads one line, writes it
/// back upper-cased and closes (for clients that never half-close, like s_client).
fn upper_line_unix_server(path: &Path) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).expect("bind");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_ok() {
                    let _ = reader
                        .get_mut()
                        .write_all(line.to_ascii_uppercase().as_bytes());
                }
            });
        }
    })
}

impl Running {
    /// Like [`wait_for_line`](Running::wait_for_line), but `None` if the process
    /// exits first.
    fn wait_for_line_or_exit(&mut self, needle: &str) -> Option<String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.child.try_wait().expect("try_wait").is_some() {
                        return None;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?}; saw {:?}",
                self.seen
            );
        }
    }
}

/// SIGTERM in the middle of a transfer: the relay stops accepting, but forwards
/// every byte it already accepted, and the half-close after them, within the grace
/// period.
///
/// The client writes N bytes and half-closes. The receiver (behind the relay) reads
/// the first MiB and then stops reading, so the transfer is stuck mid-way with
/// bytes inside the relay; the relay gets SIGTERM; once it logs that it stopped
/// accepting, new connections are refused and the receiver reads on. It must get
/// exactly the N bytes, then EOF; its reply reaches the client, and the relay exits 0.
#[test]
fn sigterm_during_a_transfer_loses_no_accepted_bytes() {
    const N: usize = 24 << 20;
    for rt in RUNTIMES {
        let dir = temp_dir();
        let target = dir.path().join("receiver.sock");
        let listener = UnixListener::bind(&target).expect("bind");
        let (first_mib_tx, first_mib) = mpsc::channel::<()>();
        let (go_on_tx, go_on) = mpsc::channel::<()>();
        let receiver = thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            let mut data = vec![0; 1 << 20];
            stream.read_exact(&mut data).expect("first MiB");
            first_mib_tx.send(()).expect("report");
            go_on.recv_timeout(TIMEOUT).expect("told to go on");
            stream.read_to_end(&mut data).expect("the rest, then EOF");
            stream
                .write_all(format!("got {}", data.len()).as_bytes())
                .expect("reply");
            data
        });
        let mut relay = Running::start({
            let mut c = strports();
            c.args([
                "relay",
                "--grace",
                "60",
                "--runtime",
                rt,
                "tcp:0:interface=127.0.0.1",
            ])
            .arg(format!("unix:{}", target.display()));
            c
        });
        let addr = relay.tcp_address();
        let client = thread::spawn(move || {
            let mut stream = tcp_client(addr);
            stream.write_all(&pattern(N)).expect("write N bytes");
            stream.shutdown(Shutdown::Write).expect("half-close");
            let mut reply = String::new();
            stream.read_to_string(&mut reply).expect("reply");
            reply
        });
        first_mib
            .recv_timeout(TIMEOUT)
            .expect("the receiver got the first MiB");
        relay.signal(libc::SIGTERM);
        relay.wait_for_line("stopped accepting");
        assert!(
            TcpStream::connect(addr).is_err(),
            "no new connections after SIGTERM"
        );
        go_on_tx.send(()).expect("go on");
        let data = receiver.join().expect("receiver");
        assert_eq!(data.len(), N, "{rt}: every byte arrived");
        assert!(data == pattern(N), "{rt}: in order");
        assert_eq!(client.join().expect("client"), format!("got {N}"));
        assert_eq!(relay.wait().code(), Some(0), "{rt}");
        let summary = relay.wait_for_line("connection closed");
        assert!(summary.contains(&format!("from_peer={N}")), "{summary}");
        assert!(summary.contains("end=closed"), "{summary}");
    }
}

fn which(program: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Reads until EOF or an error: the server closed the connection without a reply.
fn closed_by_server(mut stream: TcpStream) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("the server replied {n} bytes to a connection it should close"),
    }
}

/// A v1 PROXY header claiming the client is 203.0.113.66:4444.
const FORGED: &[u8] = b"PROXY TCP4 203.0.113.66 192.0.2.8 4444 80\r\n";

#[test]
fn proxy_trust_decides_whose_header_counts_and_rejections_are_logged_once_a_second() {
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", rt])
                .args(["--proxy-trust", "10.0.0.0/8", "--proxy-trust", "192.0.2.1"])
                .arg("haproxy:tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        // A peer outside the trusted networks: closed, its header not believed.
        for _ in 0..200 {
            let mut forger = tcp_client(addr);
            forger.write_all(FORGED).expect("write");
            closed_by_server(forger);
        }
        server.wait_for_line("peer is not a trusted proxy");
        // A second later, the next rejection is logged with the count held back.
        thread::sleep(Duration::from_millis(1100));
        let mut forger = tcp_client(addr);
        forger.write_all(FORGED).expect("write");
        closed_by_server(forger);
        server.wait_for_line("more like it since the last such line");
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));
        server.drain();
        let logged = server
            .seen
            .iter()
            .filter(|l| l.contains("closed connection"))
            .count();
        // 201 rejections, a line per second at most: a handful of lines.
        assert!(
            (2..=10).contains(&logged),
            "{logged} rejection lines for 201 rejections: {:?}",
            server.seen
        );
        assert!(
            !server.seen.iter().any(|l| l.contains("203.0.113.66")),
            "a forged address was believed: {:?}",
            server.seen
        );

        // With loopback trusted, the same header counts.
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", rt])
                .args(["--proxy-trust", "127.0.0.0/8"])
                .arg("haproxy:tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        let reply = tcp_round_trip(addr, &[FORGED, b"hello"].concat());
        assert_eq!(reply, b"hello");
        server.wait_for_line("peer=203.0.113.66:4444");
    }
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of KiB")
}

#[test]
fn proxy_tlv_padding_does_not_grow_the_servers_memory() {
    use strports_core::proxy_protocol::{Addresses, ProxyHeader, Tlv, encode_v2};
    let header = ProxyHeader::v2(Addresses::tcp(
        "192.0.2.1:1000".parse().expect("address"),
        "192.0.2.2:80".parse().expect("address"),
    ))
    .with_tlv(Tlv::new(Tlv::NOOP, vec![0; 65_000]));
    let bytes = encode_v2(&header).expect("encode");
    for rt in RUNTIMES {
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", rt])
                .arg("haproxy:tcp:0:interface=127.0.0.1");
            c
        });
        let addr = server.tcp_address();
        let pid = server.child.id();
        let open = |n: usize| -> Vec<TcpStream> {
            (0..n)
                .map(|_| {
                    let mut s = tcp_client(addr);
                    s.write_all(&bytes).expect("header");
                    s.write_all(b"x").expect("byte");
                    let mut byte = [0u8; 1];
                    s.read_exact(&mut byte).expect("echo after the header");
                    s
                })
                .collect()
        };
        // Warm up (allocator arenas, buffers), then measure 300 more.
        let warm = open(20);
        let before = rss_kib(pid);
        let held = open(300);
        let after = rss_kib(pid);
        let growth = after.saturating_sub(before);
        println!(
            "{rt}: server RSS {before} KiB -> {after} KiB with 300 connections holding a 64 KB NOOP TLV each (+{growth} KiB, {} KiB per connection)",
            growth / 300
        );
        // Kept, the TLVs alone would be 300 x 64 KB = 19 MB.
        assert!(
            growth < 8 * 1024,
            "{rt}: the server grew by {growth} KiB for 300 padded headers"
        );
        drop((warm, held));
    }
}

#[test]
fn default_max_connections_fits_the_open_files_limit() {
    for rt in RUNTIMES {
        // 100 descriptors: 100 - 16 - 6 = 78 connections of --echo (1 each).
        let exe = env!("CARGO_BIN_EXE_strports");
        let mut server = Running::start({
            let mut c = Command::new("sh");
            c.env_remove("RUST_LOG").arg("-c").arg(format!(
                "ulimit -n 100 && exec '{exe}' listen --echo -v --runtime {rt} tcp:0:interface=127.0.0.1"
            ));
            c
        });
        let addr = server.tcp_address();
        server.wait_for_line("at most 78 connections at once (open-files limit 100");
        // 120 connections: 78 served, the rest wait in the backlog (50) instead of
        // the server running out of descriptors.
        let clients: Vec<TcpStream> = (0..120).map(|_| tcp_client(addr)).collect();
        for (i, mut c) in clients.into_iter().enumerate() {
            let byte = [i as u8];
            c.write_all(&byte).expect("write");
            let mut echo = [0u8; 1];
            c.read_exact(&mut echo)
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            assert_eq!(echo, byte);
        }
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0));
        server.drain();
        assert!(
            !server
                .seen
                .iter()
                .any(|l| l.contains("accept failed") || l.contains("too many open files")),
            "{rt}: accept ran out of descriptors: {:?}",
            server.seen
        );
    }
}

// ---------------------------------------------------------------------------
// Operating it: several listeners, sd_notify, SIGHUP certificate reload.

/// A UNIX-socket round trip: sends `request`, half-closes, reads to EOF.
fn unix_round_trip(path: &Path, request: &[u8]) -> Vec<u8> {
    let stream = std::os::unix::net::UnixStream::connect(path).expect("connects");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    round_trip(stream, request, |s| {
        s.shutdown(Shutdown::Write).expect("half-close")
    })
}

/// `relay --listen tcp:... --listen unix:... CLIENT`: a TCP port and a UNIX socket
/// in front of the same backend, both served by one process; SIGHUP (no
/// certificates) is logged and changes nothing; one SIGTERM stops both (the port
/// refuses, the socket file is removed) and the relay exits 0.
#[test]
fn relay_serves_a_tcp_port_and_a_unix_socket_until_one_sigterm() {
    let dir = temp_dir();
    let target = dir.path().join("upper.sock");
    let _upper = upper_unix_server(&target);
    for rt in RUNTIMES {
        let front = dir.path().join(format!("front-{rt}.sock"));
        let mut relay = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt])
                .args(["--listen", "tcp:0:interface=127.0.0.1"])
                .arg("--listen")
                .arg(format!("unix:{}", front.display()))
                .arg(format!("unix:{}", target.display()));
            c
        });
        let addr = relay.tcp_address();
        relay.wait_for_line(&format!("listening on {}", front.display()));
        assert_eq!(tcp_round_trip(addr, b"over tcp"), b"OVER TCP", "{rt}");
        assert_eq!(unix_round_trip(&front, b"over unix"), b"OVER UNIX", "{rt}");
        relay.signal(libc::SIGHUP);
        relay.wait_for_line("SIGHUP: no certificates to reload");
        assert_eq!(tcp_round_trip(addr, b"after sighup"), b"AFTER SIGHUP");
        assert_eq!(unix_round_trip(&front, b"still"), b"STILL");
        relay.wait_for_lines("connection closed", 4);
        relay.signal(libc::SIGTERM);
        assert_eq!(relay.wait().code(), Some(0), "{rt}");
        assert!(
            TcpStream::connect(addr).is_err(),
            "{rt}: the port is closed"
        );
        assert!(!front.exists(), "{rt}: the socket file is removed");
    }
}

/// A datagram socket standing in for systemd's notification socket.
struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
        socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        NotifySocket { socket, path }
    }

    /// The next message, as lines (bounded by the socket's read timeout).
    fn next(&self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification within {TIMEOUT:?}: {e}"));
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// `NOTIFY_SOCKET`: `listen --echo` sends `READY=1` once it listens (the port then
/// accepts), `RELOADING=1` (with `MONOTONIC_USEC=`) then `READY=1` around a SIGHUP
/// (and keeps serving), and `STOPPING=1` on SIGTERM; in that order.
#[test]
fn sd_notify_ready_reloading_and_stopping_in_order() {
    for rt in RUNTIMES {
        let dir = temp_dir();
        let notify = NotifySocket::new(dir.path());
        let mut server = Running::start({
            let mut c = strports();
            c.args([
                "listen",
                "--echo",
                "--runtime",
                rt,
                "tcp:0:interface=127.0.0.1",
            ])
            .env("NOTIFY_SOCKET", &notify.path);
            c
        });
        assert_eq!(notify.next(), ["READY=1"], "{rt}");
        let addr = server.tcp_address();
        assert_eq!(tcp_round_trip(addr, b"ready"), b"ready");
        server.signal(libc::SIGHUP);
        let reloading = notify.next();
        assert_eq!(reloading[0], "RELOADING=1", "{rt}: {reloading:?}");
        assert!(
            reloading.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
            "{rt}: {reloading:?}"
        );
        assert_eq!(notify.next(), ["READY=1"], "{rt}");
        assert_eq!(tcp_round_trip(addr, b"reloaded"), b"reloaded");
        server.signal(libc::SIGTERM);
        assert_eq!(notify.next(), ["STOPPING=1"], "{rt}");
        assert_eq!(server.wait().code(), Some(0), "{rt}");
    }
}

/// A CA and two certificates it signed for `localhost` and 127.0.0.1:
/// (CA DER, [(certificate PEM, key PEM, certificate DER); 2]).
type TestPki = (Vec<u8>, [(String, String, Vec<u8>); 2]);

fn test_pki() -> TestPki {
    let ca = TestCa::new("strports e2e ca");
    let leaf = || {
        let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
        (leaf.cert_pem, leaf.key_pem, leaf.cert_der)
    };
    (ca.der().to_vec(), [leaf(), leaf()])
}

type TlsClient = strports_core::tls::rustls::StreamOwned<
    strports_core::tls::rustls::ClientConnection,
    TcpStream,
>;

/// A TLS connection to `addr` trusting `ca` (a fresh config: no session to
/// resume), after an echo round trip; returns it with the certificate served.
fn tls_connect(addr: SocketAddr, ca: &[u8]) -> (TlsClient, Vec<u8>) {
    use strports_core::tls::rustls::{ClientConfig, ClientConnection, RootCertStore};
    let mut roots = RootCertStore::empty();
    roots.add(ca.to_vec().into()).expect("trust the ca");
    let config = ClientConfig::builder_with_provider(strports_core::tls::default_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().expect("server name");
    let connection = ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let mut stream = TlsClient::new(connection, tcp_client(addr));
    tls_echo(&mut stream, b"hello\n");
    let served = stream
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a certificate")
        .to_vec();
    (stream, served)
}

/// Writes `line` and reads it back.
fn tls_echo(stream: &mut TlsClient, line: &[u8]) {
    stream.write_all(line).expect("tls write");
    let mut back = vec![0u8; line.len()];
    stream.read_exact(&mut back).expect("tls read");
    assert_eq!(back, line);
}

/// SIGHUP makes `listen --echo ssl:...` re-read its certificate and key: a
/// handshake after it is served the new certificate while a connection opened
/// before goes on; a new key that does not match keeps the old certificate and
/// logs an error naming the file. Checked with a rustls client.
#[test]
fn sighup_reloads_ssl_certificates_and_keeps_open_connections() {
    let (ca, leaves) = test_pki();
    for rt in RUNTIMES {
        let dir = temp_dir();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &leaves[0].0).expect("write cert");
        std::fs::write(&key, &leaves[0].1).expect("write key");
        let mut server = Running::start({
            let mut c = strports();
            c.args(["listen", "--echo", "--runtime", rt]).arg(format!(
                "ssl:0:interface=127.0.0.1:certKey={}:privateKey={}",
                cert.display(),
                key.display()
            ));
            c
        });
        let addr = server.tcp_address();
        let (mut before, served) = tls_connect(addr, &ca);
        assert!(served == leaves[0].2, "{rt}: the first certificate");

        std::fs::write(&cert, &leaves[1].0).expect("write cert");
        std::fs::write(&key, &leaves[1].1).expect("write key");
        server.signal(libc::SIGHUP);
        server.wait_for_line("SIGHUP: certificates reloaded");
        let (mut after, served) = tls_connect(addr, &ca);
        assert!(
            served == leaves[1].2,
            "{rt}: the new certificate after SIGHUP"
        );
        tls_echo(&mut before, b"opened before the reload\n");

        std::fs::write(&key, &leaves[0].1).expect("write a key that does not match");
        server.signal(libc::SIGHUP);
        let line = server.wait_for_line("SIGHUP: cannot reload the certificates");
        assert!(line.contains("key.pem"), "{rt}: {line}");
        let (mut later, served) = tls_connect(addr, &ca);
        assert!(served == leaves[1].2, "{rt}: the old certificate stays");

        for stream in [&mut before, &mut after, &mut later] {
            stream.conn.send_close_notify();
            let _ = stream.flush();
            let _ = stream.sock.shutdown(Shutdown::Both);
        }
        server.wait_for_lines("connection closed", 3);
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait().code(), Some(0), "{rt}");
    }
}

/// `strports listen --echo haproxy:tcp:0:...` (logging at info: its summary lines
/// name each connection's peer as its PROXY header gave it).
fn proxied_echo(rt: &str) -> (Running, SocketAddr) {
    let mut server = Running::start({
        let mut c = strports();
        c.args(["listen", "--echo", "--runtime", rt])
            .arg("haproxy:tcp:0:interface=127.0.0.1");
        c
    });
    let addr = server.tcp_address();
    (server, addr)
}

/// `strports relay --send-proxy VERSION SERVER tcp:<upstream>`.
fn sending_relay(
    rt: &str,
    version: &str,
    listen: &str,
    upstream: SocketAddr,
) -> (Running, SocketAddr) {
    let mut relay = Running::start({
        let mut c = strports();
        c.args(["relay", "--runtime", rt, "--send-proxy", version])
            .arg(listen)
            .arg(format!("tcp:{}:{}", upstream.ip(), upstream.port()));
        c
    });
    let addr = relay.tcp_address();
    (relay, addr)
}

#[test]
fn relay_send_proxy_names_the_client_to_a_haproxy_server() {
    for rt in RUNTIMES {
        for version in ["v1", "v2"] {
            let (mut upstream, upstream_addr) = proxied_echo(rt);
            let (_relay, relay_addr) =
                sending_relay(rt, version, "tcp:0:interface=127.0.0.1", upstream_addr);
            let client = tcp_client(relay_addr);
            let me = client.local_addr().expect("client address");
            let reply = round_trip(client, b"who am i", |s| {
                s.shutdown(Shutdown::Write).expect("half-close")
            });
            assert_eq!(reply, b"who am i");
            // The upstream's summary names the client itself, not the relay.
            upstream.wait_for_line(&format!("peer={me}"));

            // Behind haproxy:, the header sent names the client the incoming one named.
            let (mut upstream, upstream_addr) = proxied_echo(rt);
            let (_relay, relay_addr) = sending_relay(
                rt,
                version,
                "haproxy:tcp:0:interface=127.0.0.1",
                upstream_addr,
            );
            let reply = tcp_round_trip(
                relay_addr,
                b"PROXY TCP4 198.51.100.7 192.0.2.9 4321 443\r\nhello",
            );
            assert_eq!(reply, b"hello");
            upstream.wait_for_line("peer=198.51.100.7:4321");
        }
    }
}

/// Where `haproxy` may be: on `PATH`, or in `/usr/sbin`.
fn haproxy_program() -> Option<&'static str> {
    ["haproxy", "/usr/sbin/haproxy"].into_iter().find(|p| {
        Command::new(p)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

#[test]
fn relay_send_proxy_is_understood_by_real_haproxy() {
    let Some(haproxy) = haproxy_program() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "haproxy is not installed (Debian package haproxy; .ci/run installs it)"
        );
        println!("note: skipped: haproxy is not installed");
        return;
    };
    for version in ["v1", "v2"] {
        // client -> strports relay --send-proxy -> haproxy (accept-proxy,
        // send-proxy-v2) -> strports haproxy: echo server: the last one must see the
        // client, which only works if haproxy took the relay's header.
        let (mut upstream, upstream_addr) = proxied_echo("tokio");
        let frontend = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = frontend.local_addr().expect("address").port();
        drop(frontend);
        let dir = temp_dir();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n    maxconn 64\n\
                 defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
                 frontend f\n    bind 127.0.0.1:{port} accept-proxy\n    default_backend b\n\
                 backend b\n    server s {upstream_addr} send-proxy-v2\n"
            ),
        )
        .expect("write the haproxy config");
        let mut proxy = Running::start({
            let mut c = Command::new(haproxy);
            c.arg("-db").arg("-f").arg(&config);
            c
        });
        let haproxy_addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(haproxy_addr).is_err() {
            assert!(Instant::now() < deadline, "haproxy does not listen");
            if let Ok(Some(status)) = proxy.child.try_wait() {
                proxy.drain();
                panic!("haproxy exited with {status}: {:?}", proxy.seen);
            }
            thread::sleep(Duration::from_millis(20));
        }
        let (_relay, relay_addr) =
            sending_relay("tokio", version, "tcp:0:interface=127.0.0.1", haproxy_addr);
        let client = tcp_client(relay_addr);
        let me = client.local_addr().expect("client address");
        let reply = round_trip(client, b"through haproxy", |s| {
            s.shutdown(Shutdown::Write).expect("half-close")
        });
        assert_eq!(reply, b"through haproxy", "{version}");
        upstream.wait_for_line(&format!("peer={me}"));
    }
}

/// `relay tcp:... ssl:...` connects upstream through one `Client` per thread, which
/// keeps its TLS config and so resumes its sessions. The upstream is a strports
/// `ssl:` echo server in this process that records how each handshake went
/// (`Stream::handshake_kind` of the accepted stream): through `--threads 1`, the
/// first of several sequential connections is a full handshake and every later one
/// a resumed one; through `--threads 2` (a `Client` each), at most two are full.
#[test]
fn relay_to_ssl_upstream_resumes_tls_sessions() {
    use strports_core::tls::rustls::HandshakeKind;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CONNECTIONS: usize = 6;
    let dir = temp_dir();
    TestCa::new("strports e2e ca").write_server_files(dir.path());
    let upstream = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let desc = format!(
        "ssl:0:interface=127.0.0.1:certKey={}:privateKey={}",
        dir.path().join("server.pem").display(),
        dir.path().join("server.key").display()
    );
    let listener = upstream
        .block_on(strports_tokio::listen(
            &desc.parse().expect("server description"),
        ))
        .expect("the upstream listens");
    let port = listener
        .local_addr()
        .expect("address")
        .port()
        .expect("a port");
    let (kinds_tx, kinds) = mpsc::channel();
    upstream.spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = kinds_tx.send(stream.handshake_kind());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    let client = format!(
        "ssl:127.0.0.1:{port}:caCertsDir={}:hostname=localhost",
        dir.path().join("ca").display()
    );
    for rt in RUNTIMES {
        for threads in ["1", "2"] {
            let mut relay = Running::start({
                let mut c = strports();
                c.args(["relay", "--runtime", rt, "--threads", threads])
                    .args(["tcp:0:interface=127.0.0.1", &client]);
                c
            });
            let addr = relay.tcp_address();
            let mut seen = Vec::new();
            for i in 0..CONNECTIONS {
                let message = format!("connection {i} through the relay");
                assert_eq!(
                    tcp_round_trip(addr, message.as_bytes()),
                    message.as_bytes(),
                    "{rt}, --threads {threads}"
                );
                let kind = kinds
                    .recv_timeout(TIMEOUT)
                    .expect("the upstream accepted the connection");
                seen.push(kind.expect("a TLS stream"));
            }
            let full = seen
                .iter()
                .filter(|k| **k != HandshakeKind::Resumed)
                .count();
            if threads == "1" {
                assert_eq!(seen[0], HandshakeKind::Full, "{rt}: {seen:?}");
                assert_eq!(full, 1, "{rt}, --threads 1: one full handshake: {seen:?}");
            } else {
                assert!(
                    full <= 2,
                    "{rt}, --threads 2: a full handshake per thread at most: {seen:?}"
                );
            }
            relay.signal(libc::SIGTERM);
            assert_eq!(relay.wait().code(), Some(0), "{rt}");
        }
    }
    upstream.shutdown_background();
}

#[test]
fn connect_and_relay_open_the_socks5_extension_type_through_microsocks() {
    let proxy_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let proxy = match Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &proxy_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "microsocks is not installed (.ci/run installs it)"
            );
            println!("note: skipped: microsocks is not installed");
            return;
        }
        Err(e) => panic!("cannot run microsocks: {e}"),
    };
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = Kill(proxy);
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", proxy_port)).is_err() {
        assert!(Instant::now() < deadline, "microsocks does not listen");
        thread::sleep(Duration::from_millis(20));
    }
    let dir = temp_dir();
    let path = dir.path().join("upper.sock");
    // A line server: microsocks closes both directions at the first EOF, so the
    // reply must come before either side half-closes.
    let _upstream = upper_line_unix_server(&path);
    for rt in RUNTIMES {
        // The upstream is reached as a TCP port in front of the UNIX server.
        let mut bridge = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt, "tcp:0:interface=127.0.0.1"])
                .arg(format!("unix:{}", path.display()));
            c
        });
        let target = bridge.tcp_address();
        let via = format!(
            "socks5:localhost:{}:endpoint=tcp\\:127.0.0.1\\:{proxy_port}",
            target.port()
        );
        let mut client = strports()
            .args(["connect", "--runtime", rt, &via])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("strports connect starts");
        let mut stdin = client.stdin.take().expect("stdin");
        stdin.write_all(b"through socks\n").expect("write");
        // Read on a thread, so that the wait for the reply is bounded.
        let stdout = client.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reply = String::new();
            let _ = BufReader::new(stdout).read_line(&mut reply);
            let _ = tx.send(reply);
        });
        let reply = rx.recv_timeout(TIMEOUT);
        if reply.is_err() {
            let _ = client.kill();
        }
        assert_eq!(reply.as_deref(), Ok("THROUGH SOCKS\n"), "{rt}");
        drop(stdin);
        assert!(wait_child(&mut client).success());
        // And as a relay's upstream.
        let mut relay = Running::start({
            let mut c = strports();
            c.args(["relay", "--runtime", rt, "tcp:0:interface=127.0.0.1"])
                .arg(&via);
            c
        });
        let addr = relay.tcp_address();
        let mut stream = tcp_client(addr);
        stream.write_all(b"relayed\n").expect("write");
        let mut reply = String::new();
        BufReader::new(&mut stream)
            .read_line(&mut reply)
            .expect("the reply line");
        assert_eq!(reply, "RELAYED\n");
    }
}

#[test]
fn exec_children_do_not_see_the_notify_socket() {
    let dir = temp_dir();
    let notify = NotifySocket::new(dir.path());
    let mut server = Running::start({
        let mut c = strports();
        c.args(["listen", "--exec", "echo \"notify=${NOTIFY_SOCKET:-none}\""])
            .arg("tcp:0:interface=127.0.0.1")
            .env("NOTIFY_SOCKET", &notify.path);
        c
    });
    assert_eq!(notify.next(), ["READY=1"]);
    let addr = server.tcp_address();
    assert_eq!(tcp_round_trip(addr, b""), b"notify=none\n");
    server.signal(libc::SIGTERM);
    assert_eq!(notify.next(), ["STOPPING=1"]);
    assert_eq!(server.wait().code(), Some(0));
}

#[test]
fn long_help_lists_the_description_types() {
    for (command, wants) in [
        (
            "listen",
            &["Server types, by example:", "haproxy:tcp:8080"][..],
        ),
        (
            "connect",
            &["Client types, by example:", "process:", "socks5:"],
        ),
        (
            "relay",
            &[
                "Server types, by example:",
                "Client types, by example:",
                "socks5:",
            ],
        ),
    ] {
        let out = strports().args([command, "--help"]).output().expect("runs");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for want in wants {
            assert!(
                text.contains(want),
                "{command} --help lacks {want:?}:\n{text}"
            );
        }
        // The short help stays short.
        let short = strports().args([command, "-h"]).output().expect("runs");
        assert!(!String::from_utf8_lossy(&short.stdout).contains("types, by example"));
    }
}

#[test]
fn haproxy_on_a_network_without_a_trust_list_warns_at_start() {
    let (mut server, _) = proxied_echo("tokio");
    server.wait_for_line("name the load balancers' networks with --proxy-trust");
    let dir = temp_dir();
    let path = dir.path().join("p.sock");
    let mut quiet = Running::start({
        let mut c = strports();
        c.args(["listen", "--echo", "--proxy-trust", "10.0.0.0/8"])
            .arg("haproxy:tcp:0:interface=127.0.0.1")
            .args(["--listen", &format!("haproxy:unix:{}", path.display())]);
        c
    });
    quiet.tcp_address();
    quiet.signal(libc::SIGTERM);
    assert_eq!(quiet.wait().code(), Some(0));
    quiet.drain();
    assert!(
        !quiet.seen.iter().any(|l| l.contains("--proxy-trust")),
        "{:?}",
        quiet.seen
    );
}
