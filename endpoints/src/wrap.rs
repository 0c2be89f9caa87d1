//! What a wrapper listener (TLS, `haproxy:`) asks of the listener it wraps.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;

use strports_core::endpoint::Address;

use crate::runtime::Runtime;
use crate::stream::Stream;

/// One raw accept on a wrapped listener, owning it (so it can wait in the
/// wrapper's in-flight state between `accept` calls).
pub type Accepting<R> = Pin<Box<dyn Future<Output = io::Result<(Stream<R>, Address)>> + Send>>;

/// A listener a wrapper can run its per-connection step over.
pub trait Wrapped<R: Runtime>: AsFd + Send + Sync + 'static {
    /// The next raw connection, as an [`Accepting`] that owns the listener.
    fn accepting(self: &Arc<Self>) -> Accepting<R>;

    /// The address listened on.
    fn local_addr(&self) -> io::Result<Address>;

    /// How many connections the `haproxy:` wrappers inside it have closed.
    fn proxy_rejections(&self) -> u64;
}
