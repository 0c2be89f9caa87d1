//! The system resolver (`getaddrinfo`), blocking.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use strports_core::endpoint::Lookup;

/// Resolves `host` with the system resolver (blocking; run it on a blocking thread)
/// and keeps the addresses of the requested family, in the resolver's order.
///
/// ```
/// use strports_core::endpoint::Lookup;
/// let addrs = strports_sys::resolve::system_lookup("127.0.0.1", 80, Lookup::Any).unwrap();
/// assert_eq!(addrs, ["127.0.0.1:80".parse().unwrap()]);
/// ```
pub fn system_lookup(host: &str, port: u16, lookup: Lookup) -> io::Result<Vec<SocketAddr>> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| crate::context(e, format_args!("cannot resolve {host:?}")))?;
    let out: Vec<SocketAddr> = addrs
        .filter(|a| match lookup {
            Lookup::Ipv4 => a.is_ipv4(),
            Lookup::Ipv6 => a.is_ipv6(),
            _ => true,
        })
        .collect();
    if out.is_empty() && lookup == Lookup::Any {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot resolve {host:?}: no addresses"),
        ));
    }
    Ok(out)
}
