//! [`Listener`] as an [`axum::serve::Listener`] (feature `axum`), so that
//! `axum::serve(listener, app)` serves on any description.

use std::io;

use strports_core::endpoint::Address;

use crate::accept::{self, Next};
use crate::listener::Listener;
use crate::runtime::Runtime;
use crate::stream::Stream;

/// `axum::serve(listener, app)` on a strports listener: every description works
/// (`tcp:`, `unix:`, `ssl:`, `tls:`, `systemd:`, `haproxy:...`), with the connection's
/// [`Stream`] as the I/O and the peer's [`Address`] as the address (for a `haproxy:`
/// listener, the client's that the PROXY header names). With `strports-core`'s
/// `axum` feature, which this one turns on, handlers get that address with
/// `ConnectInfo<Address>` when the app is served with
/// `into_make_service_with_connect_info::<Address>()`.
///
/// `accept` cannot fail here: an error is handled as the `serve` loop handles it
/// ([`accept::after_error`]): logged, then accepting resumes, at once after an
/// error about one connection and after a pause after the others (`EMFILE`), so
/// that it neither spins nor gives up. A `stdio` listener has one connection to
/// give: after it, `accept` waits for ever while axum serves that connection (end
/// it with axum's graceful shutdown).
impl<R: Runtime> axum::serve::Listener for Listener<R> {
    type Io = Stream<R>;
    type Addr = Address;

    async fn accept(&mut self) -> (Stream<R>, Address) {
        loop {
            match Listener::accept(self).await {
                Ok(accepted) => return accepted,
                Err(e) => match accept::after_error(&e) {
                    Next::Retry(pause) if pause.is_zero() => {}
                    Next::Retry(pause) => {
                        R::sleep_until(R::now() + pause).await;
                    }
                    Next::Finish => std::future::pending::<()>().await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Address> {
        Listener::local_addr(self)
    }
}
