//! Which way a client description connects: the one dispatch both backends'
//! `connect` follow, so a type is supported (or refused, with the same error) on
//! both or on neither.

use std::io;

use strports_core::Extension;
use strports_core::{ClientDescription, ProcessClient, UnixClient};

use crate::plan::TcpTarget;

/// The connect path of a client description ([`route`]). Deliberately exhaustive:
/// a new path must be handled by every backend before it compiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientRoute<'a> {
    /// `ssl:` and `tls:`: the TLS client, over the transport the TLS module plans
    /// ([`crate::plan::client_plan`]).
    Tls,
    /// `tcp:`: a TCP connection to this target.
    Tcp(TcpTarget<'a>),
    /// `unix:`: a UNIX socket connection.
    Unix(&'a UnixClient),
    /// `process:`: a child process's stdin and stdout.
    Process(&'a ProcessClient),
    /// A type from a `Registry`: connected by its opener ([`crate::extension`]).
    Extension(&'a Extension),
}

/// The connect path of `desc`; any other type fails with [`strports_sys::unsupported`].
///
/// ```
/// use strports_core::ClientDescription;
/// use strports_endpoints::route::{ClientRoute, route};
/// let desc: ClientDescription = "tls:example.com:443".parse().unwrap();
/// assert_eq!(route(&desc)?, ClientRoute::Tls);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn route(desc: &ClientDescription) -> io::Result<ClientRoute<'_>> {
    match desc {
        ClientDescription::Ssl(_) | ClientDescription::Tls(_) => Ok(ClientRoute::Tls),
        ClientDescription::Tcp(tcp) => Ok(ClientRoute::Tcp(TcpTarget::from(tcp))),
        ClientDescription::Unix(unix) => Ok(ClientRoute::Unix(unix)),
        ClientDescription::Process(process) => Ok(ClientRoute::Process(process)),
        ClientDescription::Extension(ext) => Ok(ClientRoute::Extension(ext)),
        other => Err(strports_sys::unsupported(other.type_name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(s: &str) -> io::Result<ClientRoute<'static>> {
        let parsed = strports_core::Registry::with_programs().parse_client(s);
        let desc: &'static ClientDescription = Box::leak(Box::new(parsed.unwrap()));
        route(desc)
    }

    #[test]
    fn each_supported_type_has_its_route() {
        assert_eq!(route_of("ssl:h:443").unwrap(), ClientRoute::Tls);
        assert_eq!(route_of("tls:h:443").unwrap(), ClientRoute::Tls);
        let tcp = route_of("tcp:h:80:timeout=4").unwrap();
        assert_eq!(
            tcp,
            ClientRoute::Tcp(TcpTarget {
                host: "h",
                port: 80,
                bind_address: None,
                timeout: 4,
            })
        );
        assert!(
            matches!(route_of("unix:/a").unwrap(), ClientRoute::Unix(u) if u.path.to_string() == "/a")
        );
        assert!(matches!(
            route_of("process:/bin/true").unwrap(),
            ClientRoute::Process(_)
        ));
    }

    #[test]
    fn an_extension_type_goes_to_its_opener() {
        let mut registry = strports_core::Registry::empty();
        registry
            .add_client("echo", |_| Ok(String::from("echo")))
            .unwrap();
        let desc = registry.parse_client("echo").unwrap();
        assert!(matches!(route(&desc), Ok(ClientRoute::Extension(e)) if e.name() == "echo"));
    }
}
