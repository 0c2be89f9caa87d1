//! `socks5:`, a strports client extension type: connect to a host through a SOCKS5
//! proxy (RFC 1928, no authentication), the proxy itself reached through any client
//! description.
//!
//! ```text
//! socks5:HOST:PORT:endpoint=DESCRIPTION
//! socks5:example.com:443:endpoint=tcp\:127.0.0.1\:1080
//! tls:example.com:443:endpoint=socks5\:example.com\:443\:endpoint=tcp\\\:127.0.0.1\\\:1080
//! ```
//!
//! `HOST` goes to the proxy as a name (the proxy resolves it) unless it is an IP
//! literal; `endpoint` is where the proxy listens, any client description (`tcp:`,
//! `unix:`, `tls:`, ...). It shows the whole life of an extension type, once for
//! both runtimes: [`register`] teaches a [`Registry`] to parse it, and [`Socks5`]
//! (an [`OpenClient`] for every runtime) connects it:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use strports_core::Registry;
//! use strports_tokio::{Client, Connector};
//!
//! let mut registry = Registry::default();
//! strports_socks5::register(&mut registry).map_err(std::io::Error::other)?;
//! let desc = registry
//!     .parse_client(r"socks5:example.com:80:endpoint=tcp\:127.0.0.1\:1080")
//!     .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
//! let connector = Connector::new().with_client_type("socks5", strports_socks5::Socks5);
//! let stream = Client::with_connector(desc, connector).connect().await?;
//! # drop(stream); Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::IpAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use strports_core::args::{Param, Positionals};
use strports_core::{ClientDescription, Extension, Registry, RegistryError, quote};
use strports_endpoints::extension::{Dial, OpenClient, OpenFuture};
use strports_endpoints::{Runtime, Stream};

/// The type name.
pub const NAME: &str = "socks5";

/// A parsed `socks5:` description.
#[derive(Debug, Clone, PartialEq)]
pub struct Socks5Client {
    /// The host the proxy connects to: a name, or an IP literal.
    pub host: String,
    /// The port the proxy connects to.
    pub port: u16,
    /// Where the proxy listens.
    pub endpoint: ClientDescription,
}

impl fmt::Display for Socks5Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{NAME}:{}:{}:endpoint={}",
            quote(&self.host),
            self.port,
            quote(&self.endpoint.to_string())
        )
    }
}

const PARAMS: &[Param] = &[
    Param::positional("host"),
    Param::positional("port"),
    Param::keyword("endpoint"),
];

/// Adds `socks5:` to `registry`'s client types. Its `endpoint=` is parsed with the
/// registry as it is now (so it may name the registry's other types, and programs
/// only if the registry already allows them). Fails if the registry has a
/// `socks5` client type already.
pub fn register(registry: &mut Registry) -> Result<(), RegistryError> {
    let nested = registry.clone();
    registry.add_client(NAME, move |args| {
        let b = args.bind(PARAMS, Positionals::InOrder)?;
        let host = b.required("host", b.non_empty("host")?)?;
        let port = b.required("port", b.port("port")?)?;
        let endpoint = b.client_description("endpoint", &nested)?;
        let endpoint = b.required("endpoint", endpoint)?;
        Ok(Socks5Client {
            host,
            port,
            endpoint,
        })
    })
}

/// The opener of `socks5:` descriptions, for any runtime: give it to a
/// `Connector` with `with_client_type("socks5", Socks5)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Socks5;

impl<R: Runtime> OpenClient<R> for Socks5 {
    fn connect<'a>(&'a self, ext: &'a Extension, dial: Dial<'a, R>) -> OpenFuture<'a, Stream<R>> {
        Box::pin(async move {
            let desc = ext.downcast_ref::<Socks5Client>().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a socks5 description", ext.name()),
                )
            })?;
            let mut stream = dial.connect(&desc.endpoint).await?;
            handshake(&mut stream, &desc.host, desc.port)
                .await
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "socks5 proxy {} cannot reach {}:{}: {e}",
                            desc.endpoint, desc.host, desc.port
                        ),
                    )
                })?;
            Ok(stream)
        })
    }
}

/// The client side of RFC 1928 without authentication: greeting, CONNECT, reply.
async fn handshake<R: Runtime>(stream: &mut Stream<R>, host: &str, port: u16) -> io::Result<()> {
    stream.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    match choice {
        [5, 0] => {}
        [5, 0xff] => return Err(protocol("the proxy wants authentication")),
        [5, m] => return Err(protocol(&format!("the proxy chose method {m}, not 0"))),
        _ => return Err(protocol("the proxy does not speak socks5")),
    }
    stream.write_all(&request(host, port)?).await?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await?;
    if reply[0] != 5 {
        return Err(protocol("the proxy's reply is not socks5"));
    }
    if reply[1] != 0 {
        return Err(io::Error::new(refusal_kind(reply[1]), refusal(reply[1])));
    }
    // The address the proxy bound: skipped.
    let skip = match reply[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            usize::from(len[0]) + 2
        }
        t => return Err(protocol(&format!("unknown address type {t} in the reply"))),
    };
    let mut bound = [0u8; 258];
    stream.read_exact(&mut bound[..skip]).await?;
    stream.flush().await
}

/// The CONNECT request for `host:port`.
fn request(host: &str, port: u16) -> io::Result<Vec<u8>> {
    let mut out = vec![5, 1, 0];
    match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            out.push(1);
            out.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let name = host.as_bytes();
            let len = u8::try_from(name.len())
                .map_err(|_| protocol("a host name longer than 255 bytes"))?;
            out.push(3);
            out.push(len);
            out.extend_from_slice(name);
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

fn protocol(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// RFC 1928's reply codes.
fn refusal(code: u8) -> String {
    match code {
        1 => "general socks server failure".into(),
        2 => "connection not allowed by ruleset".into(),
        3 => "network unreachable".into(),
        4 => "host unreachable".into(),
        5 => "connection refused".into(),
        6 => "ttl expired".into(),
        7 => "command not supported".into(),
        8 => "address type not supported".into(),
        c => format!("reply code {c}"),
    }
}

fn refusal_kind(code: u8) -> io::ErrorKind {
    match code {
        5 => io::ErrorKind::ConnectionRefused,
        2 => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let mut registry = Registry::default();
        register(&mut registry).expect("a fresh registry");
        let text = r"socks5:example.com:443:endpoint=tcp\:127.0.0.1\:1080";
        let desc = registry.parse_client(text).expect("parses");
        let ClientDescription::Extension(ext) = &desc else {
            panic!("not an extension: {desc:?}");
        };
        let socks = ext.downcast_ref::<Socks5Client>().expect("a socks5 value");
        assert_eq!(socks.host, "example.com");
        assert_eq!(socks.port, 443);
        assert_eq!(socks.endpoint.to_string(), "tcp:127.0.0.1:1080");
        let again = registry.parse_client(&desc.to_string()).expect("reparses");
        assert_eq!(again, desc);
    }

    #[test]
    fn bad_descriptions_say_what_and_where() {
        let mut registry = Registry::default();
        register(&mut registry).expect("a fresh registry");
        let err = registry.parse_client("socks5:example.com:443").unwrap_err();
        assert!(err.message().contains("endpoint"), "{err}");
        let err = registry
            .parse_client(r"socks5:h:1:endpoint=tcp\:h\:99999")
            .unwrap_err();
        assert!(err.offset() >= "socks5:h:1:endpoint=".len(), "{err:?}");
        // Programs stay opt-in inside, too.
        assert!(
            registry
                .parse_client(r"socks5:h:1:endpoint=process\:sh")
                .is_err()
        );
    }

    #[test]
    fn registering_twice_is_an_error() {
        let mut registry = Registry::default();
        register(&mut registry).expect("a fresh registry");
        assert!(register(&mut registry).is_err());
    }

    #[test]
    fn requests_name_hosts_by_name_and_literals_by_address() {
        assert_eq!(
            request("example.com", 80).expect("request"),
            [&[5, 1, 0, 3, 11][..], b"example.com", &[0, 80]].concat()
        );
        assert_eq!(
            request("192.0.2.1", 443).expect("request"),
            [5, 1, 0, 1, 192, 0, 2, 1, 1, 187]
        );
        assert_eq!(request("[::1]", 1).expect("request")[3], 4);
        assert!(request(&"a".repeat(256), 1).is_err());
    }
}
