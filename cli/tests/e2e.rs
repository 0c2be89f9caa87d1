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
