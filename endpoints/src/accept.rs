//! What a serve loop does when `accept` fails.

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
