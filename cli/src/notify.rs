//! Telling systemd (a `Type=notify` or `Type=notify-reload` service) how the server
//! is doing, with the `sd-notify` crate: `READY=1` once every listener is open,
//! `RELOADING=1` then `READY=1` around a certificate reload (SIGHUP), `STOPPING=1`
//! on SIGINT/SIGTERM. Each is one datagram to `$NOTIFY_SOCKET`; without that
//! variable nothing is sent. A failure to send is logged, never fatal.

use sd_notify::NotifyState;
use tracing::debug;

/// Sends `states`; logs a failure at debug level.
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "cannot notify the service manager");
    }
}

/// Every listener is open: `READY=1`.
pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

/// A reload starts: `RELOADING=1`, with the `MONOTONIC_USEC=` a `notify-reload`
/// service needs.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The server stops: `STOPPING=1`.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}
