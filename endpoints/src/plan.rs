//! Connect plans: what a client description connects over and how (an IP literal
//! directly, a name raced; a TLS client's transport and handshake limit), decided
//! without any I/O; and the cache of a client's TLS config. `open` carries them out
//! with the runtime.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strports_core::happy_eyeballs::HappyEyeballsConfig;
use strports_core::{ClientDescription, TcpClient};
use strports_sys::tcp::host_ip;
use strports_sys::tls::ClientTls;

/// The Happy Eyeballs settings for a client description's `timeout` (seconds):
/// it bounds each connection attempt, as in Twisted's `HostnameEndpoint`; RFC
/// 8305's defaults otherwise.
///
/// ```
/// use std::time::Duration;
/// let config = strports_endpoints::plan::race_config(5);
/// assert_eq!(config.attempt_timeout, Some(Duration::from_secs(5)));
/// assert_eq!(config.attempt_delay, Duration::from_millis(250));
/// ```
pub fn race_config(timeout: u32) -> HappyEyeballsConfig {
    let mut config = HappyEyeballsConfig::default();
    config.attempt_timeout = Some(seconds(timeout));
    config
}

/// A description's `timeout` (whole seconds) as a [`Duration`].
///
/// ```
/// assert_eq!(strports_endpoints::plan::seconds(30), std::time::Duration::from_secs(30));
/// ```
pub fn seconds(timeout: u32) -> Duration {
    Duration::from_secs(u64::from(timeout))
}

/// Where a client connects over TCP: a `tcp:` client, the TCP under an `ssl:`
/// client, or a `tls:` client without `endpoint=`.
///
/// ```
/// use strports_core::ClientDescription;
/// use strports_endpoints::plan::{TcpConnect, TcpTarget};
/// let ClientDescription::Tcp(c) = "tcp:127.0.0.1:80:timeout=5".parse().unwrap() else { panic!() };
/// let TcpConnect::Direct { addr, timeout, .. } = TcpTarget::from(&c).plan()? else { panic!() };
/// assert_eq!((addr.to_string(), timeout), ("127.0.0.1:80".to_owned(), 5));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpTarget<'a> {
    /// The host: an IP literal (`[::1]` too) or a name.
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// `bindAddress`: the local IP to connect from, unparsed.
    pub bind_address: Option<&'a str>,
    /// `timeout` in seconds: it bounds each connection attempt.
    pub timeout: u32,
}

impl<'a> From<&'a TcpClient> for TcpTarget<'a> {
    fn from(c: &'a TcpClient) -> TcpTarget<'a> {
        TcpTarget {
            host: &c.host,
            port: c.port,
            bind_address: c.bind_address.as_deref(),
            timeout: c.timeout,
        }
    }
}

/// How a backend reaches a [`TcpTarget`] (see [`TcpTarget::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpConnect<'a> {
    /// The host is an IP literal: one connect to `addr` from `bind` (see
    /// `strports_sys::tcp::start_connect`), never through a resolver, waited for at most `timeout`
    /// seconds (the error then is [`timed_out`]).
    Direct {
        /// The address to connect to.
        addr: SocketAddr,
        /// The local IP to connect from.
        bind: Option<IpAddr>,
        /// Seconds to wait for the connect to complete.
        timeout: u32,
    },
    /// The host is a name: Happy Eyeballs over its addresses, with `config`.
    Race {
        /// The name to look up.
        host: &'a str,
        /// The port.
        port: u16,
        /// The local IP to connect from.
        bind: Option<IpAddr>,
        /// The racing settings for the target's `timeout` ([`race_config`]).
        config: HappyEyeballsConfig,
    },
}

impl<'a> TcpTarget<'a> {
    /// How to connect: an IP literal directly, a name by racing its addresses. Fails
    /// only on a `bindAddress` that is not an IP literal ([`bind_ip`]).
    pub fn plan(&self) -> io::Result<TcpConnect<'a>> {
        let bind = bind_ip(self.bind_address)?;
        Ok(match host_ip(self.host) {
            Some(ip) => TcpConnect::Direct {
                addr: SocketAddr::new(ip, self.port),
                bind,
                timeout: self.timeout,
            },
            None => TcpConnect::Race {
                host: self.host,
                port: self.port,
                bind,
                config: race_config(self.timeout),
            },
        })
    }
}

/// Parses a `bindAddress` value: an IP literal.
pub fn bind_ip(bind_address: Option<&str>) -> io::Result<Option<IpAddr>> {
    match bind_address {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid bindAddress {s:?}: must be an ip address"),
            )
        }),
    }
}

/// The timeout error every backend reports when a connect takes too long.
pub fn timed_out(target: impl std::fmt::Display, seconds: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("cannot connect to {target}: timed out after {seconds} s"),
    )
}

/// What an `ssl:` or `tls:` client connects over before its handshake.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClientTransport<'a> {
    /// TCP (`ssl:`, and `tls:` without `endpoint=`): `host:port` from `bindAddress`,
    /// each attempt bounded by `timeout`.
    Tcp(TcpTarget<'a>),
    /// A `tls:` client's nested `endpoint=`, connected to as any client.
    Endpoint(&'a ClientDescription),
}

/// How a backend connects an `ssl:` or `tls:` client ([`client_plan`]): the
/// transport, then the client handshake over it, bounded by `handshake_timeout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientPlan<'a> {
    /// What the handshake runs over.
    pub transport: ClientTransport<'a>,
    /// The handshake's time limit: the description's `timeout`.
    pub handshake_timeout: Duration,
}

/// The connect plan of an `ssl:` or `tls:` client (the config comes from
/// `strports_sys::tls::client_tls`); other types fail with `strports_sys::unsupported`.
///
/// ```
/// use strports_core::ClientDescription;
/// use strports_endpoints::plan::{ClientTransport, client_plan};
/// let desc: ClientDescription = "tls:example.com:443:endpoint=unix\\:/run/a.sock".parse().unwrap();
/// let plan = client_plan(&desc)?;
/// assert!(matches!(plan.transport, ClientTransport::Endpoint(ClientDescription::Unix(_))));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn client_plan(desc: &ClientDescription) -> io::Result<ClientPlan<'_>> {
    let (transport, timeout) = match desc {
        ClientDescription::Ssl(c) => (ClientTransport::Tcp(TcpTarget::from(&c.tcp)), c.tcp.timeout),
        ClientDescription::Tls(c) => match &c.endpoint {
            Some(inner) => (ClientTransport::Endpoint(inner), c.timeout),
            None => {
                let target = TcpTarget {
                    host: &c.host,
                    port: c.port,
                    bind_address: c.bind_address.as_deref(),
                    timeout: c.timeout,
                };
                (ClientTransport::Tcp(target), c.timeout)
            }
        },
        other => return Err(strports_sys::unsupported(other.type_name())),
    };
    Ok(ClientPlan {
        transport,
        handshake_timeout: seconds(timeout),
    })
}

/// A client endpoint's TLS config, built (by the backend, off its async threads,
/// with `strports_sys::tls::client_tls`) at its first connect and reused by the later ones. Clones of
/// a [`shared`](ClientTlsCache::shared) cache share it; the default cache keeps
/// nothing (for one-shot connects) and costs no allocation, so a plain `tcp:`
/// connect pays nothing for it.
#[derive(Clone, Default)]
pub struct ClientTlsCache(Option<Arc<Mutex<Option<Arc<ClientTls>>>>>);

impl ClientTlsCache {
    /// A cache that keeps the first config stored, shared by its clones.
    pub fn shared() -> Self {
        ClientTlsCache(Some(Arc::default()))
    }

    /// The config, if one was stored.
    pub fn get(&self) -> Option<Arc<ClientTls>> {
        Self::lock(self.0.as_ref()?).clone()
    }

    /// Stores `tls` in a shared cache (replacing any config stored meanwhile: two
    /// first connects at once may both build one) and gives it back, shared.
    pub fn set(&self, tls: ClientTls) -> Arc<ClientTls> {
        let tls = Arc::new(tls);
        if let Some(slot) = &self.0 {
            *Self::lock(slot) = Some(tls.clone());
        }
        tls
    }

    fn lock(
        slot: &Mutex<Option<Arc<ClientTls>>>,
    ) -> std::sync::MutexGuard<'_, Option<Arc<ClientTls>>> {
        // A panic elsewhere cannot leave an Option half-written.
        slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for ClientTlsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTlsCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &'static str, bind_address: Option<&'static str>) -> TcpTarget<'static> {
        TcpTarget {
            host,
            port: 443,
            bind_address,
            timeout: 7,
        }
    }

    #[test]
    fn an_ip_literal_is_connected_to_directly() {
        for (host, ip) in [("127.0.0.1", "127.0.0.1"), ("[::1]", "::1"), ("::1", "::1")] {
            let plan = target(host, Some("10.0.0.1")).plan().unwrap();
            assert_eq!(
                plan,
                TcpConnect::Direct {
                    addr: SocketAddr::new(ip.parse().unwrap(), 443),
                    bind: Some("10.0.0.1".parse().unwrap()),
                    timeout: 7,
                }
            );
        }
    }

    #[test]
    fn a_name_is_raced_with_the_timeout_bounding_each_attempt() {
        let plan = target("example.com", None).plan().unwrap();
        assert_eq!(
            plan,
            TcpConnect::Race {
                host: "example.com",
                port: 443,
                bind: None,
                config: race_config(7),
            }
        );
        assert_eq!(race_config(7).attempt_timeout, Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_bind_address_that_is_not_an_ip_fails_the_plan() {
        let e = target("127.0.0.1", Some("localhost")).plan().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            e.to_string(),
            "invalid bindAddress \"localhost\": must be an ip address"
        );
    }

    #[test]
    fn a_tcp_client_is_its_own_target() {
        let strports_core::ClientDescription::Tcp(c) =
            "tcp:host:80:timeout=3:bindAddress=127.0.0.1"
                .parse()
                .unwrap()
        else {
            panic!("not tcp")
        };
        assert_eq!(
            TcpTarget::from(&c),
            TcpTarget {
                host: "host",
                port: 80,
                bind_address: Some("127.0.0.1"),
                timeout: 3,
            }
        );
    }

    fn client(s: &str) -> ClientDescription {
        s.parse().unwrap()
    }

    #[test]
    fn an_ssl_client_goes_over_tcp_with_its_timeout() {
        let desc = client("ssl:example.com:443:timeout=9:bindAddress=127.0.0.1");
        let plan = client_plan(&desc).unwrap();
        assert_eq!(
            plan,
            ClientPlan {
                transport: ClientTransport::Tcp(TcpTarget {
                    host: "example.com",
                    port: 443,
                    bind_address: Some("127.0.0.1"),
                    timeout: 9,
                }),
                handshake_timeout: Duration::from_secs(9),
            }
        );
    }

    #[test]
    fn a_tls_client_without_endpoint_goes_over_tcp() {
        let desc = client(r"tls:example.com:8443:timeout=4:bindAddress=\:\:1");
        let plan = client_plan(&desc).unwrap();
        assert_eq!(
            plan,
            ClientPlan {
                transport: ClientTransport::Tcp(TcpTarget {
                    host: "example.com",
                    port: 8443,
                    bind_address: Some("::1"),
                    timeout: 4,
                }),
                handshake_timeout: Duration::from_secs(4),
            }
        );
    }

    #[test]
    fn a_tls_client_with_endpoint_goes_over_it_and_ignores_bind_address() {
        let desc = client(
            r"tls:example.com:443:timeout=6:bindAddress=127.0.0.1:endpoint=unix\:/run/x.sock",
        );
        let ClientDescription::Tls(tls) = &desc else {
            panic!("not tls")
        };
        let Some(inner) = tls.endpoint.as_deref() else {
            panic!("no endpoint")
        };
        let plan = client_plan(&desc).unwrap();
        assert!(
            matches!(plan.transport, ClientTransport::Endpoint(e) if std::ptr::eq(e, inner)),
            "{plan:?}"
        );
        assert_eq!(plan.handshake_timeout, Duration::from_secs(6));
    }

    #[test]
    fn other_clients_have_no_tls_plan() {
        let e = client_plan(&client("tcp:example.com:80")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert_eq!(e.to_string(), "tcp endpoints are not supported here");
    }

    #[test]
    fn a_cache_starts_empty_and_is_shared_by_clones() {
        let dir = tempfile::tempdir().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let desc = client(&format!(
            "tls:example.com:443:trustRoots={}",
            strports_core::quote(&dir.path().display().to_string())
        ));
        let tls =
            strports_sys::tls::client_tls(&desc, strports_core::tls::default_provider()).unwrap();

        let cache = ClientTlsCache::shared();
        let clone = cache.clone();
        assert!(clone.get().is_none());
        let stored = cache.set(tls);
        assert!(clone.get().is_some_and(|t| Arc::ptr_eq(&t, &stored)));

        // The default cache is for one-shot connects: it keeps nothing.
        let one_shot = ClientTlsCache::default();
        let tls =
            strports_sys::tls::client_tls(&desc, strports_core::tls::default_provider()).unwrap();
        drop(one_shot.set(tls));
        assert!(one_shot.get().is_none());
    }
}
