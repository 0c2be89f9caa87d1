//! What a serve loop does when `accept` fails: one policy, [`after_error`], for
//! every accept loop of strports (the `serve` loop, and with the `axum` feature the
//! `accept` of `axum::serve::Listener`).

use std::io;
use std::time::Duration;

/// How long a serve loop pauses after `accept` failed with `error`, before accepting
/// again. A serve loop never exits on an accept error.
///
/// Errors about one pending connection (the peer reset or aborted it while it waited
/// in the queue, a signal interrupted the call) give [`Duration::ZERO`]: the next
/// connection is unaffected, and each such error used up a queued connection, so
/// retrying at once cannot spin. Anything else (`EMFILE`, `ENFILE`, `ENOBUFS`,
/// `ENOMEM`, ...) lasts a while, and retrying at once would spin: pause 100 ms.
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use strports_endpoints::accept::retry_delay;
///
/// let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
/// assert_eq!(retry_delay(&reset), Duration::ZERO);
/// let emfile = io::Error::from_raw_os_error(libc::EMFILE);
/// assert_eq!(retry_delay(&emfile), Duration::from_millis(100));
/// ```
pub fn retry_delay(error: &io::Error) -> Duration {
    if is_per_connection(error) {
        Duration::ZERO
    } else {
        Duration::from_millis(100)
    }
}

/// What an accept loop does after `accept` failed, as [`after_error`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Accept again after this pause ([`Duration::ZERO`]: at once); see
    /// [`retry_delay`].
    Retry(Duration),
    /// Stop accepting: the listener has no more connections to give; see
    /// [`ends_serving`].
    Finish,
}

/// The accept-error policy of a serve loop, written once: logs `error` with
/// `tracing` and says what to do next. An error about one pending connection is
/// logged at `debug` and retried at once; the end of a listener's connections
/// (`stdio`) is logged at `debug` and stops accepting; any other error (`EMFILE`,
/// `ENFILE`, `ENOBUFS`, ...) is logged at `warn` and retried after a pause, so that
/// the loop neither spins nor exits.
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use strports_endpoints::accept::{Next, after_error};
///
/// let emfile = io::Error::from_raw_os_error(libc::EMFILE);
/// assert_eq!(after_error(&emfile), Next::Retry(Duration::from_millis(100)));
/// let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
/// assert_eq!(after_error(&reset), Next::Retry(Duration::ZERO));
/// assert_eq!(after_error(&strports_sys::stdio::only_one_connection()), Next::Finish);
/// ```
pub fn after_error(error: &io::Error) -> Next {
    if ends_serving(error) {
        tracing::debug!(error = %error, "strports: no more connections to accept");
        return Next::Finish;
    }
    let pause = retry_delay(error);
    if pause.is_zero() {
        tracing::debug!(error = %error, "strports: accept failed; accepting the next connection");
    } else {
        tracing::warn!(error = %error, ?pause, "strports: accept failed; pausing before accepting again");
    }
    Next::Retry(pause)
}

/// Whether a serve loop stops accepting after `accept` failed with `error`: the
/// listener has no more connections to give (a `stdio` listener after its one
/// connection, kind [`io::ErrorKind::NotConnected`]). The loop then waits for the
/// running connections, as after `stop`.
///
/// ```
/// use strports_endpoints::accept::ends_serving;
/// assert!(ends_serving(&strports_sys::stdio::only_one_connection()));
/// assert!(!ends_serving(&std::io::Error::from_raw_os_error(libc::EMFILE)));
/// ```
pub fn ends_serving(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotConnected
}

/// Whether an `accept` error concerns only the connection being accepted.
pub fn is_per_connection(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) {
        return true;
    }
    // Linux's accept(2) passes on pending network errors of the new socket.
    matches!(
        error.raw_os_error(),
        Some(
            libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ENETDOWN
                | libc::EPERM
        )
    )
}
