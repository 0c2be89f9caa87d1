//! [`SystemResolver`]: the system's `getaddrinfo`, off the async threads.

use std::io;

use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};

/// The system resolver (`getaddrinfo`, honouring `/etc/hosts`, `nsswitch.conf` and
/// the like). Each lookup runs on tokio's blocking thread pool
/// ([`tokio::task::spawn_blocking`]), so it never stalls a runtime thread; it must be
/// awaited inside a tokio runtime.
///
/// ```
/// use strports_core::endpoint::{Lookup, Resolver};
/// use strports_tokio::SystemResolver;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let addrs = SystemResolver.resolve("127.0.0.1", 80, Lookup::Any).await?;
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16, lookup: Lookup) -> ResolveFuture {
        let host = host.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                strports_sys::resolve::system_lookup(&host, port, lookup)
            })
            .await
            .unwrap_or_else(|e| Err(io::Error::other(format!("name lookup task failed: {e}"))))
        })
    }
}
