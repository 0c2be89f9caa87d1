//! The peer [`Address`] as axum's connect info (feature `axum`).
//!
//! This impl lives here, not in a backend, because of Rust's orphan rule: axum's
//! `Connected` trait and its `IncomingStream` type are foreign everywhere, so only
//! the crate that defines [`Address`] may implement it.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;

use crate::Address;
use crate::endpoint::Listener;

/// A strports listener that is also an axum listener (the `Listener` of
/// `strports-tokio` with its `axum` feature) gives the peer's address to
/// `Router::into_make_service_with_connect_info::<Address>()`, for the
/// `ConnectInfo<Address>` extractor.
///
/// (Bounded by this crate's [`Listener`] trait too: axum implements `Connected`
/// for the address of its own `TapIo` wrapper, which this impl must not overlap.)
impl<L> Connected<IncomingStream<'_, L>> for Address
where
    L: axum::serve::Listener<Addr = Address> + Listener,
{
    fn connect_info(stream: IncomingStream<'_, L>) -> Self {
        stream.remote_addr().clone()
    }
}
