//! The strports conformance suite: behaviour tests written once, run against each
//! backend over real loopback sockets, files and processes.
//!
//! A runtime flavour implements [`Flavor`] (and so [`Backend`]); `tests/<runtime>.rs`
//! then says `strports_conformance::conformance_tests!(MyFlavor);`, which stamps one `#[test]`
//! per case, each run under [`CASE_TIMEOUT`]. Case bodies are ordinary generic async
//! functions in [`cases`]. Anything a backend does that this suite does not check is
//! not promised.
//!
//! To run the cases for several backend values in one file (for example one runtime
//! flavour each), invoke the macro once per module. Cases that need a fresh process
//! (systemd activation, inherited descriptors) re-run the test binary itself through
//! the stamped `child_process` test; see [`child`].
//!
//! Nothing here depends on timing: waits are bounded with [`within`] so a broken
//! backend fails quickly, but no case asserts how long anything took.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_core::endpoint::{Address, Resolver};
use strports_core::proxy_protocol::{HaproxyOptions, ProxyHeader};
use strports_core::{ClientDescription, ServerDescription};
use strports_endpoints::runtime::{Runtime, Spawn};
use strports_endpoints::{
    Connector, Listener, ServeOptions, Server, Serving, Stream, TlsAcceptorStep, TlsListener,
};

pub mod cases;
pub mod child;
mod util;

pub use child::Stamped;
pub use util::*;

/// How long one case may run before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One runtime flavour the suite runs on: a strports runtime ([`Runtime`]), a way to
/// block on a future, and the spawner `serve` and the cases use. This is all a
/// `tests/<runtime>.rs` file provides; every case reaches strports through
/// [`Backend`], which each flavour gets for free.
pub trait Flavor: Sized + Send + Sync + 'static {
    /// The strports runtime (`strports_tokio::Tokio`, `strports_smol::Smol`).
    type Rt: Runtime;
    /// The flavour's name, for messages.
    const NAME: &'static str;
    /// Runs a future to completion on this flavour's runtime.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Where `serve` and [`Backend::spawn`] put tasks.
    fn spawner() -> <Self::Rt as Runtime>::Spawner {
        Self::Rt::spawner()
    }
}

/// What the suite does with strports: the one generic implementation, on any
/// [`Flavor`]. Streams implement futures-io's traits on every runtime.
pub trait Backend: Sized + 'static {
    /// The listener.
    type Listener: Send + Sync + 'static;
    /// The connection stream (its descriptor reachable, so that cases can inject
    /// faults such as a reset).
    type Stream: Send + std::os::fd::AsFd + 'static;
    /// A running `serve` loop.
    type Serving: Send + 'static;
    /// The `Client` endpoint (system resolver).
    type Client: Send + Sync + 'static;

    /// The flavour's name, for messages.
    const NAME: &'static str;

    /// Runs a future to completion on this backend's runtime.
    fn block_on<F: Future>(future: F) -> F::Output;
    /// Spawns a detached task.
    fn spawn<F: Future<Output = ()> + Send + 'static>(future: F);
    /// Sleeps on the runtime's timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
    /// Runs a blocking function off the async threads.
    fn unblock<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> + Send;

    /// `listen(desc)`.
    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `listener.accept()`.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, Address)>> + Send;
    /// `listener.local_addr()`.
    fn local_address(listener: &Self::Listener) -> io::Result<Address>;
    /// `Server::new(desc).with_haproxy_options(options).listen()`.
    fn listen_with_haproxy(
        desc: &ServerDescription,
        options: HaproxyOptions,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `Server::new(desc).with_tls_handshake_timeout(timeout).listen()`.
    fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// `listener.proxy_rejections()`: connections its `haproxy:` wrappers closed.
    fn proxy_rejections(listener: &Self::Listener) -> u64;
    /// `connect(desc)` with the system resolver.
    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// `Client::new(desc)`: an endpoint that keeps what its first connect built.
    fn client(desc: ClientDescription) -> Self::Client;
    /// `client.connect()`.
    fn connect_client(
        client: &Self::Client,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// `Connector::with_resolver(resolver).connect(desc)`.
    fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// `serve(listener, echo handler)`: echoes every connection until EOF, then closes it.
    fn serve_echo(listener: Self::Listener) -> Self::Serving;
    /// `serve_with(listener, options, echo handler)`.
    fn serve_echo_with(listener: Self::Listener, options: ServeOptions) -> Self::Serving;
    /// The serving loop's local address.
    fn serving_address(serving: &Self::Serving) -> io::Result<Address>;
    /// `serving.stop()`.
    fn stop(serving: Self::Serving) -> impl Future<Output = ()> + Send;
    /// `serving.abort()`.
    fn abort(serving: Self::Serving) -> impl Future<Output = ()> + Send;

    /// Writes all of `buf`.
    fn write_all(
        stream: &mut Self::Stream,
        buf: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads some bytes (0 at EOF).
    fn read(
        stream: &mut Self::Stream,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Shuts down the write side (half-close), keeping the read side open.
    fn shutdown_write(stream: &mut Self::Stream) -> impl Future<Output = io::Result<()>> + Send;
    /// The stream's peer address.
    fn peer_address(stream: &Self::Stream) -> io::Result<Address>;

    /// `stream.alpn_protocol()`: the protocol ALPN agreed on a TLS stream.
    fn alpn_protocol(stream: &Self::Stream) -> Option<Vec<u8>>;
    /// Listens as `desc` says, then runs the TLS handshake with `config` on every
    /// accepted connection: `TlsListener::new(listen(desc), TlsAcceptorStep::new(config))`
    /// (how a program serves TLS with a config of its own, e.g. asking for client
    /// certificates).
    fn listen_tls(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// [`listen_tls`](Backend::listen_tls) with a handshake time limit of `timeout`
    /// instead of the default: `TlsAcceptorStep::new(config).with_timeout(timeout)`.
    fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// How many connections a TLS listener dropped because their handshake failed
    /// (`None` for other listeners).
    fn failed_handshakes(listener: &Self::Listener) -> Option<u64>;
    /// The stream's local address.
    fn stream_local_address(stream: &Self::Stream) -> io::Result<Address>;
    /// The PROXY header a `haproxy:` listener's stream started with.
    fn proxy_header(stream: &Self::Stream) -> Option<ProxyHeader>;
    /// A `process:` stream's exit status once known (`Stream::exit_status`).
    fn exit_status(stream: &Self::Stream) -> Option<std::process::ExitStatus>;
}

/// Echoes `stream` until EOF or an error, then closes its write side.
async fn echo<R: Runtime>(mut stream: Stream<R>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = stream.close().await;
}

impl<F: Flavor> Backend for F {
    type Listener = Listener<F::Rt>;
    type Stream = Stream<F::Rt>;
    type Serving = Serving<F::Rt>;
    type Client = strports_endpoints::Client<F::Rt>;

    const NAME: &'static str = F::NAME;

    fn block_on<T: Future>(future: T) -> T::Output {
        <F as Flavor>::block_on(future)
    }

    fn spawn<T: Future<Output = ()> + Send + 'static>(future: T) {
        F::spawner().detach(future);
    }

    async fn sleep(duration: Duration) {
        strports_endpoints::runtime::sleep_until::<F::Rt>(Some(F::Rt::now() + duration)).await;
    }

    async fn unblock<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        match F::Rt::unblock(f).await {
            Ok(v) => v,
            Err(e) => panic!("blocking task: {e}"),
        }
    }

    fn listen(desc: &ServerDescription) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        strports_endpoints::listen::<F::Rt>(desc)
    }

    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, Address)>> + Send {
        listener.accept()
    }

    fn local_address(listener: &Self::Listener) -> io::Result<Address> {
        listener.local_addr()
    }

    async fn listen_with_haproxy(
        desc: &ServerDescription,
        options: HaproxyOptions,
    ) -> io::Result<Self::Listener> {
        Server::<F::Rt>::new(desc.clone())
            .with_haproxy_options(options)
            .listen()
            .await
    }

    async fn listen_with_tls_timeout(
        desc: &ServerDescription,
        timeout: Duration,
    ) -> io::Result<Self::Listener> {
        Server::<F::Rt>::new(desc.clone())
            .with_tls_handshake_timeout(timeout)
            .listen()
            .await
    }

    fn proxy_rejections(listener: &Self::Listener) -> u64 {
        listener.proxy_rejections()
    }

    fn connect(desc: &ClientDescription) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        strports_endpoints::connect::<F::Rt>(desc)
    }

    fn client(desc: ClientDescription) -> Self::Client {
        strports_endpoints::Client::new(desc)
    }

    fn connect_client(
        client: &Self::Client,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        client.connect()
    }

    async fn connect_with(
        desc: &ClientDescription,
        resolver: Arc<dyn Resolver>,
    ) -> io::Result<Self::Stream> {
        Connector::<F::Rt>::with_resolver(resolver)
            .connect(desc)
            .await
    }

    fn serve_echo(listener: Self::Listener) -> Self::Serving {
        Self::serve_echo_with(listener, ServeOptions::default())
    }

    fn serve_echo_with(listener: Self::Listener, options: ServeOptions) -> Self::Serving {
        strports_endpoints::serve_with(&F::spawner(), listener, options, |stream, _peer| {
            echo(stream)
        })
    }

    fn serving_address(serving: &Self::Serving) -> io::Result<Address> {
        serving.local_addr()
    }

    fn stop(serving: Self::Serving) -> impl Future<Output = ()> + Send {
        serving.stop()
    }

    fn abort(serving: Self::Serving) -> impl Future<Output = ()> + Send {
        serving.abort()
    }

    async fn write_all(stream: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        stream.write_all(buf).await
    }

    async fn read(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf).await
    }

    async fn shutdown_write(stream: &mut Self::Stream) -> io::Result<()> {
        // futures-io's `close` on a strports stream is a half-close.
        stream.close().await
    }

    fn peer_address(stream: &Self::Stream) -> io::Result<Address> {
        stream.peer_addr()
    }

    fn alpn_protocol(stream: &Self::Stream) -> Option<Vec<u8>> {
        stream.alpn_protocol().map(<[u8]>::to_vec)
    }

    async fn listen_tls(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
    ) -> io::Result<Self::Listener> {
        let raw = strports_endpoints::listen::<F::Rt>(desc).await?;
        let step = TlsAcceptorStep::new(config);
        Ok(Listener::Tls(TlsListener::new(raw, step)))
    }

    async fn listen_tls_with_timeout(
        desc: &ServerDescription,
        config: Arc<strports_core::tls::rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Self::Listener> {
        let raw = strports_endpoints::listen::<F::Rt>(desc).await?;
        let step = TlsAcceptorStep::new(config).with_timeout(timeout);
        Ok(Listener::Tls(TlsListener::new(raw, step)))
    }

    fn failed_handshakes(listener: &Self::Listener) -> Option<u64> {
        listener.failed_handshakes()
    }

    fn stream_local_address(stream: &Self::Stream) -> io::Result<Address> {
        stream.local_addr()
    }

    fn proxy_header(stream: &Self::Stream) -> Option<ProxyHeader> {
        stream.proxy_header().cloned()
    }

    fn exit_status(stream: &Self::Stream) -> Option<std::process::ExitStatus> {
        stream.exit_status()
    }
}

/// Runs one case on backend `B` under [`CASE_TIMEOUT`]; a timeout fails the test.
pub fn run<B: Backend, F: Future<Output = ()>>(name: &str, case: F) {
    B::block_on(async {
        let timed_out = async {
            B::sleep(CASE_TIMEOUT).await;
            true
        };
        let done = async {
            case.await;
            false
        };
        if futures_lite::future::or(done, timed_out).await {
            panic!("{} case {name} timed out after {CASE_TIMEOUT:?}", B::NAME);
        }
    });
}

/// Fails with `what` if `future` takes longer than `limit`.
pub async fn within<B: Backend, T>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> T {
    let timer = async {
        B::sleep(limit).await;
        None
    };
    match futures_lite::future::or(async { Some(future.await) }, timer).await {
        Some(v) => v,
        None => panic!("{what}: took longer than {limit:?}"),
    }
}

/// Reads until `buf` is full; fails on early EOF.
pub async fn read_exact<B: Backend>(stream: &mut B::Stream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = B::read(stream, &mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "early eof"));
        }
        filled += n;
    }
    Ok(())
}

/// Reads until EOF.
pub async fn read_to_end<B: Backend>(stream: &mut B::Stream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = B::read(stream, &mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Parses a server description or panics with the parse error (test input only).
pub fn server(desc: &str) -> ServerDescription {
    match desc.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad test description {desc:?}: {e}"),
    }
}

/// Parses a client description or panics with the parse error (test input only).
pub fn client(desc: &str) -> ClientDescription {
    match desc.parse() {
        Ok(d) => d,
        Err(e) => panic!("bad test description {desc:?}: {e}"),
    }
}

/// Stamps one `#[test]` per conformance case for backend `$backend`, plus the
/// `child_process` entry that cases re-run this test binary with (see [`child`]).
///
/// Invoke it once per backend type, at most once per module (several backends in one
/// file go in separate modules).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:ty) => {
        impl $crate::Stamped for $backend {
            const MODULE_PATH: &'static str = module_path!();
        }

        /// Does nothing unless this test binary was started by a conformance case as a
        /// child process (see `strports_conformance::child`).
        #[test]
        fn child_process() {
            $crate::child::entry::<$backend>();
        }

        $crate::conformance_tests!(@cases $backend;
            // Keep sorted; one line per case in `cases`.
            connect_bind_address,
            connect_closed_port_is_refused,
            connect_ip_literal_skips_resolver,
            connect_resolver_failure_is_reported,
            connect_timeout_when_queue_full,
            connect_tries_resolved_addresses_in_order,
            connect_with_custom_resolver,
            fault_client_reset_mid_transfer_server_keeps_serving,
            fault_early_half_close_mid_proxy_header_rejected_promptly,
            fault_early_half_close_server_sees_eof_and_keeps_serving,
            fault_early_half_close_tls_handshake_fails_promptly,
            fault_half_close_after_data_loses_no_byte,
            fault_peer_process_killed_server_keeps_serving,
            fault_proxy_header_stall_closed_while_others_served,
            fault_reset_before_accept_or_mid_handshake_is_dropped,
            fault_server_process_killed_client_sees_end,
            fault_server_reset_mid_transfer_client_sees_error,
            fault_server_vanishes_tls_truncation_is_an_error,
            fault_tls_handshake_stall_does_not_block_others,
            fault_tls_handshakes_failing_at_capacity_resume_accepting,
            fault_tls_server_gone_mid_handshake_client_fails_at_once,
            fault_tls_server_stall_client_times_out,
            fd_adopts_inherited_listener,
            fd_rejects_datagram_socket,
            fd_rejects_non_listening_socket,
            fd_rejects_non_socket,
            fd_rejects_wrong_family,
            happy_eyeballs_all_fail_lists_every_address,
            happy_eyeballs_drop_closes_every_attempt,
            happy_eyeballs_prefers_ipv6,
            happy_eyeballs_refused_address_tries_next_at_once,
            happy_eyeballs_unresponsive_first_address_loses,
            haproxy_concurrent_accepts,
            haproxy_datagram_header_rejected,
            haproxy_garbage_header_rejected,
            haproxy_header_split_across_small_writes,
            haproxy_header_timeout_closes_connection,
            haproxy_interop_real_haproxy,
            haproxy_max_pending_holds_further_connections_in_the_backlog,
            haproxy_nested_haproxy_reads_two_headers,
            haproxy_payload_in_same_write_as_header,
            haproxy_serve_echo_round_trip,
            haproxy_slow_client_does_not_block_others,
            haproxy_ssl_header_before_tls_handshake,
            haproxy_unix_listener,
            haproxy_v1_tcp4,
            haproxy_v1_tcp6,
            haproxy_v2_local_reports_real_addresses,
            haproxy_v2_tcp4_with_tlvs,
            haproxy_v2_tcp6_with_tlvs,
            haproxy_v2_unix_with_tlvs,
            leaks_ten_thousand_connections_return_every_descriptor,
            listen_port_zero_reports_real_port,
            process_drop_reaps_child,
            process_echo_through_cat,
            process_exit_status_is_an_error,
            process_killed_by_signal_is_an_error,
            process_large_transfer_through_cat,
            process_not_found_names_program,
            process_path_and_env,
            process_stderr_dropped,
            process_stderr_logged,
            serve_keeps_serving_after_emfile,
            serve_abort_ends_every_waiting_connection,
            serve_stop_refuses_new_connections,
            serve_stop_removes_unix_socket,
            serve_stop_waits_for_running_connections,
            stdio_echo_in_child_over_files,
            stdio_echo_in_child_over_pipes,
            stdio_on_terminal_stays_blocking,
            systemd_inet_by_index,
            systemd_inet_by_name,
            systemd_not_activated_is_reported,
            systemd_unix_by_index,
            systemd_unix_by_name,
            tcp6_default_interface_is_ipv6,
            tcp6_loopback_round_trip,
            tcp_backlog_honoured,
            tcp_echo_round_trip,
            tcp_half_close,
            tcp_interface_refuses_other_addresses,
            tcp_large_transfer_both_ways,
            tcp_many_concurrent_clients,
            tls_alpn_negotiated,
            tls_client_certificate_accepted,
            tls_client_certificate_rejected,
            tls_client_interop_openssl_s_server,
            tls_client_keeps_its_config_after_the_first_connect,
            tls_server_handshake_timeout_set_on_the_server,
            tls_concurrent_accepts,
            tls_expired_certificate_rejected,
            tls_garbage_instead_of_client_hello_is_dropped,
            tls_over_process_endpoint,
            tls_over_unix_endpoint,
            tls_server_default_interface_is_ipv6,
            tls_server_interop_openssl_s_client,
            tls_sni_picks_certificate,
            tls_ssl_server_ssl_client_echo,
            tls_ssl_server_tls_client_echo,
            tls_tls_server_ssl_client_echo,
            tls_tls_server_tls_client_echo,
            tls_unknown_ca_rejected,
            tls_wrong_hostname_rejected,
            unix_abstract_round_trip,
            unix_client_lockfile_needs_live_lock,
            unix_echo_round_trip,
            unix_half_close,
            unix_large_transfer_both_ways,
            unix_listener_drop_removes_socket_and_lock,
            unix_lock_held_refuses_second_listener,
            unix_lockfile_off_creates_no_lock,
            unix_many_concurrent_clients,
            unix_mode_set_before_first_accept,
            unix_stale_lock_keeps_non_socket_file,
            unix_stale_socket_reclaimed,
        );
    };
    (@cases $backend:ty; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $crate::run::<$backend, _>(stringify!($case), $crate::cases::$case::<$backend>());
            }
        )*
    };
}
