//! [`SystemResolver`]: the system's `getaddrinfo`, off the async threads.

use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};

/// The system resolver (`getaddrinfo`, honouring `/etc/hosts`, `nsswitch.conf` and
/// the like). Each lookup runs on the [`blocking`] thread pool (`smol::unblock`), so
/// it never stalls an executor thread.
///
/// ```
/// use strports_core::endpoint::{Lookup, Resolver};
/// use strports_smol::SystemResolver;
///
/// let addrs = smol::block_on(SystemResolver.resolve("127.0.0.1", 80, Lookup::Any))?;
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16, lookup: Lookup) -> ResolveFuture {
        let host = host.to_owned();
        Box::pin(blocking::unblock(move || {
            strports_sys::resolve::system_lookup(&host, port, lookup)
        }))
    }
}
