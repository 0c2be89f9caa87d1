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

pub mod backend;
pub mod cases;
pub mod child;
pub mod child_entry;
pub mod pki;
mod util;

pub use backend::*;
pub use child::Stamped;
pub use util::*;

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
            $crate::child_entry::entry::<$backend>();
            $crate::cases::run_flavor_child::<$backend>();
        }

        $crate::conformance_tests!(@cases $backend;
            // Keep sorted; one line per case in `cases`.
            admission_first_byte_deadline_drops_silent_clients,
            admission_haproxy_silent_source_cannot_keep_others_out,
            admission_tls_silent_source_cannot_keep_others_out,
            admission_trusted_proxies_are_not_capped_per_source,
            connect_bind_address,
            connect_closed_port_is_refused,
            connect_ip_literal_skips_resolver,
            connect_resolver_failure_is_reported,
            connect_timeout_when_queue_full,
            connect_tries_resolved_addresses_in_order,
            connect_with_custom_resolver,
            escaping_process_stderr_logged_without_control_characters,
            escaping_proxy_v2_unix_source_shows_no_control_characters,
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
            haproxy_noop_tlvs_dropped_and_oversized_tlvs_rejected,
            haproxy_payload_in_same_write_as_header,
            haproxy_serve_echo_round_trip,
            haproxy_slow_client_does_not_block_others,
            haproxy_ssl_header_before_tls_handshake,
            haproxy_unix_listener,
            haproxy_trust_list_decides_whose_header_counts,
            haproxy_v1_tcp4,
            haproxy_v1_tcp6,
            haproxy_v2_local_reports_real_addresses,
            haproxy_v2_tcp4_with_tlvs,
            haproxy_v2_tcp6_with_tlvs,
            haproxy_v2_unix_with_tlvs,
            leaks_ten_thousand_connections_return_every_descriptor,
            listen_port_zero_reports_real_port,
            process_drop_ends_grandchildren,
            process_drop_kills_what_ignores_sigterm_after_the_grace,
            process_drop_reaps_child,
            process_echo_through_cat,
            process_exit_status_is_an_error,
            process_killed_by_signal_is_an_error,
            process_large_transfer_through_cat,
            process_not_found_names_program,
            process_path_and_env,
            process_stderr_dropped,
            process_stderr_logged,
            reload_ssl_new_handshakes_get_the_new_certificate,
            reload_tls_directory_is_rescanned,
            reload_without_certificates_does_nothing,
            serve_keeps_serving_after_emfile,
            serve_many_shares_the_limit_and_the_stop,
            serve_abort_ends_every_waiting_connection,
            serve_max_connections_holds_the_rest_in_the_backlog,
            serve_stop_accepting_closes_the_listener_and_keeps_connections,
            serve_stop_cancels_connections_after_the_grace_period,
            serve_stop_refuses_new_connections,
            serve_stop_removes_unix_socket,
            serve_stop_waits_for_running_connections,
            stdio_echo_in_child_over_files,
            stdio_echo_in_child_over_pipes,
            stdio_on_terminal_stays_blocking,
            systemd_environment_is_consumed,
            systemd_every_socket_with_its_name,
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
            tls_absolute_host_name_with_trailing_dot,
            tls_alpn_negotiated,
            tls_ca_certificate_as_server_certificate_rejected,
            tls_client_certificate_accepted,
            tls_client_certificate_rejected,
            tls_client_interop_openssl_s_server,
            tls_client_keeps_its_config_after_the_first_connect,
            tls_client_resumes_sessions,
            tls_server_handshake_timeout_set_on_the_server,
            tls_concurrent_accepts,
            tls_dropped_stream_ends_cleanly,
            tls_expired_certificate_rejected,
            tls_garbage_instead_of_client_hello_is_dropped,
            tls_over_process_endpoint,
            tls_over_unix_endpoint,
            tls_readme_test_certificate_recipe,
            tls_server_default_interface_is_ipv6,
            tls_server_interop_openssl_s_client,
            tls_server_without_certificate_fails_to_listen,
            tls_sni_certificate_added_later_is_served,
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
            unix_stale_lock_with_live_server_is_refused,
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
