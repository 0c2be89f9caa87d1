//! TLS over futures-rustls: `ssl:` and `tls:` servers ([`TlsListener`], built on the
//! reusable per-connection [`TlsAcceptorStep`]) and the client handshake over any
//! stream.
//!
//! Configs (certificates, keys, trust roots) are read and built on the runtime's
//! blocking pool: at `listen` for servers; for clients at the first connect of a
//! `Client`, which keeps its config, and for connects without a `Client` (the free
//! `connect`) whenever the process-wide cache of client configs has none for the
//! description's TLS parameters, or the files it was built from changed (see
//! [`client_config_builds`]). The crypto provider is always
//! [`strports_core::tls::default_provider`], passed explicitly.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_rustls::{TlsAcceptor, TlsConnector};
use strports_core::ClientDescription;
use strports_core::ServerDescription;
use strports_core::endpoint::Address;
use strports_core::tls::SniResolver;
use strports_core::tls::default_provider;
use strports_core::tls::rustls::ServerConfig;
use strports_core::tls::rustls::server::Acceptor;
use strports_sys::tls::{ClientTls, ServerTls, handshake_outcome};

use crate::plan::ClientTlsCache;

use crate::admission::{Admission, RateLimitedLog};
use crate::in_flight::{Shared, Start};
use crate::io::Io;
use crate::runtime::{Interest, Runtime, timeout};
use crate::stream::{Stream, TlsStream};
use crate::wrap::{Accepting, Wrapped};

pub use strports_sys::tls::DEFAULT_HANDSHAKE_TIMEOUT;

/// The server side of a TLS handshake, applied to one raw accepted stream: a
/// `ServerConfig` and a time limit. Cheap to clone.
///
/// The config can be replaced while connections are served
/// ([`replace_config`](TlsAcceptorStep::replace_config)): every clone of a step
/// shares one config slot, read once per handshake (one atomic load), so handshakes
/// that start afterwards use the new config while the connections already
/// established keep theirs. This is how [`Reloader`](crate::reload::Reloader) swaps the
/// certificates of `ssl:` and `tls:` servers.
#[derive(Clone)]
pub struct TlsAcceptorStep {
    served: Arc<ArcSwap<ServerTls>>,
    options: TlsServerOptions,
}

/// How long a TLS client may stay silent after its connection is accepted before
/// the first byte of its ClientHello arrives, unless [`TlsServerOptions`] say
/// otherwise: 3 s (the same as a PROXY header's first byte).
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration =
    strports_core::proxy_protocol::DEFAULT_FIRST_BYTE_TIMEOUT;

/// How many TLS handshakes a server runs at once, unless [`TlsServerOptions`] say
/// otherwise: 256. Beyond it, new connections wait in the kernel's backlog.
pub const DEFAULT_MAX_HANDSHAKES: usize = crate::in_flight::MAX_IN_FLIGHT;

/// How many TLS handshakes from one source (an IPv4 address or an IPv6 /64) a
/// server runs at once, unless [`TlsServerOptions`] say otherwise: 32. A connection
/// beyond it is closed at once, so one source cannot take every handshake slot.
pub const DEFAULT_MAX_HANDSHAKES_PER_SOURCE: usize = 32;

/// Limits of a TLS server's handshakes (`ssl:`, `tls:`, also under `haproxy:`),
/// set with `Server::with_tls_options`.
///
/// ```
/// use std::time::Duration;
/// use strports_endpoints::tls::TlsServerOptions;
///
/// let options = TlsServerOptions::default()
///     .with_handshake_timeout(Duration::from_secs(5))
///     .with_max_handshakes_per_source(8);
/// assert_eq!(options.max_handshakes_per_source(), 8);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsServerOptions {
    handshake_timeout: Duration,
    first_byte_timeout: Duration,
    max_handshakes: usize,
    max_handshakes_per_source: usize,
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        TlsServerOptions {
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            max_handshakes_per_source: DEFAULT_MAX_HANDSHAKES_PER_SOURCE,
        }
    }
}

impl TlsServerOptions {
    /// These options with `timeout` as the limit of a whole handshake (see
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// These options with `timeout` as the time the ClientHello's first byte may
    /// take (see [`DEFAULT_FIRST_BYTE_TIMEOUT`]; never more than the handshake
    /// timeout).
    pub fn with_first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = timeout;
        self
    }

    /// These options with at most `max` handshakes at once (at least 1; see
    /// [`DEFAULT_MAX_HANDSHAKES`]).
    pub fn with_max_handshakes(mut self, max: usize) -> Self {
        self.max_handshakes = max.max(1);
        self
    }

    /// These options with at most `max` handshakes from one source at once (at
    /// least 1; see [`DEFAULT_MAX_HANDSHAKES_PER_SOURCE`]).
    pub fn with_max_handshakes_per_source(mut self, max: usize) -> Self {
        self.max_handshakes_per_source = max.max(1);
        self
    }

    /// The limit of a whole handshake.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The limit of the wait for the ClientHello's first byte.
    pub fn first_byte_timeout(&self) -> Duration {
        self.first_byte_timeout.min(self.handshake_timeout)
    }

    /// How many handshakes run at once at most.
    pub fn max_handshakes(&self) -> usize {
        self.max_handshakes
    }

    /// How many handshakes from one source run at once at most.
    pub fn max_handshakes_per_source(&self) -> usize {
        self.max_handshakes_per_source
    }
}

impl TlsAcceptorStep {
    /// A step serving with `config`, with [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptorStep {
        TlsAcceptorStep::from_tls(ServerTls { config, sni: None })
    }

    /// The config new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.served.load().config.clone()
    }

    /// Serves handshakes that start from now on with `config`, for this step and
    /// every clone of it (those of a running [`TlsListener`] included); connections
    /// already established, and handshakes under way, keep the config they started
    /// with. Returns the config replaced. A fresh config also has fresh session
    /// storage, so sessions from before are not resumed: every client gets the new
    /// certificate.
    pub fn replace_config(&self, config: Arc<ServerConfig>) -> Arc<ServerConfig> {
        self.replace_tls(ServerTls { config, sni: None })
    }

    /// [`replace_config`](Self::replace_config) with the SNI resolver of a `tls:`
    /// server's config.
    pub(crate) fn replace_tls(&self, tls: ServerTls) -> Arc<ServerConfig> {
        self.served.swap(Arc::new(tls)).config.clone()
    }

    /// A step serving `tls` (a `tls:` server's config waits, in the handshake, for
    /// the rescan an unknown name starts).
    pub(crate) fn from_tls(tls: ServerTls) -> TlsAcceptorStep {
        TlsAcceptorStep {
            served: Arc::new(ArcSwap::new(Arc::new(tls))),
            options: TlsServerOptions::default(),
        }
    }

    /// The same step with another handshake time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> TlsAcceptorStep {
        self.options = self.options.with_handshake_timeout(timeout);
        self
    }

    /// The same step with `options` (time limits; a [`TlsListener`] takes its limits
    /// of handshakes at once from its step).
    pub fn with_options(mut self, options: TlsServerOptions) -> TlsAcceptorStep {
        self.options = options;
        self
    }

    /// The handshake time limit.
    pub fn timeout(&self) -> Duration {
        self.options.handshake_timeout()
    }

    /// The options it runs with.
    pub fn options(&self) -> &TlsServerOptions {
        &self.options
    }

    /// Runs the server handshake on `raw`; gives [`Stream::Tls`]. Errors are those of
    /// [`handshake_outcome`]; a peer too slow fails with [`io::ErrorKind::TimedOut`],
    /// also one that sends nothing within the first-byte timeout.
    pub async fn handshake<R: Runtime>(&self, mut raw: Stream<R>) -> io::Result<Stream<R>> {
        let first_byte = self.options.first_byte_timeout();
        match timeout::<R, _>(first_byte, raw.readable()).await {
            Some(ready) => ready?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("tls handshake: no byte from the client within {first_byte:?}"),
                ));
            }
        }
        let limit = self.options.handshake_timeout();
        let served = self.served.load_full();
        let outcome = match &served.sni {
            None => {
                let acceptor = TlsAcceptor::from(served.config.clone());
                timeout::<R, _>(limit, acceptor.accept(raw)).await
            }
            Some(sni) => timeout::<R, _>(limit, sni_handshake::<R>(raw, &served.config, sni)).await,
        };
        let s = handshake_outcome(outcome, limit)?;
        Ok(Stream::Tls(Box::new(TlsStream::new(
            futures_rustls::TlsStream::Server(s),
        ))))
    }
}

/// How often a handshake asking for a name the `tls:` directory does not have looks
/// whether the rescan it started is over.
const RESCAN_POLL: Duration = Duration::from_millis(5);

/// The server handshake of a `tls:` server: the ClientHello is read first, and if
/// it asks for a name the directory does not serve, the rescan that starts (on a
/// thread of its own, at most one a second) is waited for, without blocking the
/// runtime thread, before the certificate is chosen. So a certificate added to the
/// directory is served to the first client that asks for it, as in Twisted, and
/// the other handshakes go on meanwhile.
async fn sni_handshake<R: Runtime>(
    raw: Stream<R>,
    config: &Arc<ServerConfig>,
    sni: &SniResolver,
) -> io::Result<futures_rustls::server::TlsStream<Stream<R>>> {
    let start = futures_rustls::LazyConfigAcceptor::new(Acceptor::default(), raw).await?;
    if let Some(name) = start.client_hello().server_name()
        && !sni.knows(name)
    {
        // Starts the rescan if the policy allows one now.
        let _ = sni.certified_key_for(Some(name));
        while sni.is_rescanning() {
            crate::runtime::sleep_until::<R>(Some(R::now() + RESCAN_POLL)).await;
        }
    }
    start.into_stream(config.clone()).await
}

impl fmt::Debug for TlsAcceptorStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptorStep")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A listener whose connections go through the TLS handshake before
/// [`accept`](TlsListener::accept) returns them: the `ssl:` and `tls:` servers.
///
/// Handshakes run concurrently, inside `accept`: each call accepts every raw
/// connection that is ready (up to [`TlsServerOptions::max_handshakes`] in flight,
/// 256 by default) and polls the unfinished handshakes that were woken, so a slow
/// peer, or one sending garbage, never holds up the others. A source (IPv4 address,
/// IPv6 /64) with [`TlsServerOptions::max_handshakes_per_source`] handshakes under
/// way has its further connections closed at once (logged at warn level, at most
/// once a second), and a client silent for the first-byte timeout is dropped well
/// before the handshake timeout, so one source cannot take every slot. A failed or
/// timed-out handshake is logged (`tracing`, debug level, at most once a second),
/// counted ([`failed_handshakes`](TlsListener::failed_handshakes)), and its
/// connection dropped. Handshakes progress only while someone is in `accept` (as
/// `serve` always is). Cancel-safe: a dropped `accept` loses no connection.
pub struct TlsListener<R: Runtime, L> {
    raw: Arc<L>,
    step: TlsAcceptorStep,
    /// The raw accept in progress and the handshakes in flight.
    state: Shared<Accepting<R>>,
    admission: Arc<Admission>,
    log: RateLimitedLog,
    failed: AtomicU64,
    /// The `ssl:`/`tls:` description the step's config was built from, when it
    /// was (see `TlsListener::reloader`).
    source: Option<Box<ServerDescription>>,
}

impl<R: Runtime, L: Wrapped<R>> TlsListener<R, L> {
    /// Runs `step`'s handshake on every connection `raw` accepts, with the limits
    /// of the step's [`options`](TlsAcceptorStep::options).
    pub fn new(raw: L, step: TlsAcceptorStep) -> Self {
        let options = *step.options();
        TlsListener {
            raw: Arc::new(raw),
            step,
            state: Shared::with_limit(options.max_handshakes()),
            admission: Admission::new(options.max_handshakes_per_source()),
            log: RateLimitedLog::new(),
            failed: AtomicU64::new(0),
            source: None,
        }
    }

    /// This listener, its step's config built from `desc` (an `ssl:` or `tls:`
    /// description), which `TlsListener::reloader` builds again.
    pub(crate) fn built_from(mut self, desc: &ServerDescription) -> Self {
        self.source = Some(Box::new(desc.clone()));
        self
    }

    /// The description the step's config was built from, if it was.
    pub(crate) fn source(&self) -> Option<&ServerDescription> {
        self.source.as_deref()
    }

    /// The handshake step (cheap to clone; clones share the config slot).
    pub(crate) fn step(&self) -> &TlsAcceptorStep {
        &self.step
    }

    /// The next connection whose handshake succeeded, with the peer's address.
    pub async fn accept(&self) -> io::Result<(Stream<R>, Address)> {
        let accept = || self.raw.accepting();
        let step = |(stream, peer): (Stream<R>, Address)| {
            let Some(ticket) = self.admission.admit(&peer) else {
                return Start::Refused(io::Error::other(SourceBusy {
                    peer,
                    limit: self.admission.limit(),
                }));
            };
            let step = self.step.clone();
            let handshake: Accepting<R> = Box::pin(async move {
                let done = step.handshake(stream).await;
                drop(ticket);
                Ok((done?, peer))
            });
            Start::Step(handshake)
        };
        let failed = |e: io::Error| {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let refused = e.get_ref().is_some_and(|e| e.is::<SourceBusy>());
            let kind = if refused { "refused" } else { "failed" };
            let Some(held_back) = self.log.permit(kind, R::now()) else {
                return;
            };
            if refused {
                tracing::warn!(
                    "strports: {e}; connection closed ({held_back} more like it since the last such line)"
                );
            } else {
                tracing::debug!(
                    error = %e,
                    "strports: tls handshake failed; connection dropped ({held_back} more like it since the last such line)"
                );
            }
        };
        self.state.accept(accept, step, failed).await
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<Address> {
        self.raw.local_addr()
    }

    /// The listener under TLS (for `haproxy:ssl:`, the PROXY protocol wrapper).
    pub fn raw(&self) -> &L {
        &self.raw
    }

    /// How many connections were dropped because their handshake failed or timed out.
    pub fn failed_handshakes(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl<R: Runtime, L: Wrapped<R> + fmt::Debug> fmt::Debug for TlsListener<R, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("raw", &self.raw)
            .field("failed_handshakes", &self.failed_handshakes())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime, L: Wrapped<R>> AsFd for TlsListener<R, L> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

/// A connection turned away because its source had the most handshakes allowed
/// under way.
#[derive(Debug)]
struct SourceBusy {
    peer: Address,
    limit: usize,
}

impl fmt::Display for SourceBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many tls handshakes under way from the source of {} (limit {})",
            self.peer, self.limit
        )
    }
}

impl std::error::Error for SourceBusy {}

/// The two halves of an `ssl:` or `tls:` server: its plain TCP listener and the TLS
/// step to run on each connection, both set up on the blocking pool (config files,
/// a named interface). Wrappers that must see the raw bytes first (`haproxy:ssl:`
/// reads the PROXY header before the handshake) wrap the listener, then give it to
/// [`TlsListener::new`] with the step.
pub(crate) async fn plain_listen<R: Runtime>(
    desc: &ServerDescription,
) -> io::Result<(Io<R, std::net::TcpListener>, TlsAcceptorStep)> {
    let owned = desc.clone();
    let (raw, config) =
        R::unblock(move || strports_sys::tls::listen(&owned, default_provider())).await??;
    let raw = Io::new(raw, Interest::Read)
        .map_err(|e| strports_sys::context(e, format_args!("cannot listen on {desc}")))?;
    Ok((raw, TlsAcceptorStep::from_tls(config)))
}

/// The client's TLS config: from `cache` (a `Client`'s slot) if it holds one, else
/// from the process-wide cache of client configs (keyed by the description's TLS
/// parameters, checked against the identity of the files it was built from with
/// `stat` alone), else built now on the blocking pool (it reads files) and kept in
/// both. One-shot connects (whose `cache` keeps nothing) with the same parameters
/// thus share one config, and with it rustls' session store: they resume sessions.
pub(crate) async fn client_tls<R: Runtime>(
    desc: &ClientDescription,
    cache: &ClientTlsCache,
) -> io::Result<Arc<ClientTls>> {
    if let Some(tls) = cache.get() {
        return Ok(tls);
    }
    let tls = crate::tls_configs::client_tls::<R>(desc).await?;
    // A `Client`'s slot keeps it from now on; a one-shot's keeps nothing.
    drop(cache.set(ClientTls::clone(&tls)));
    Ok(tls)
}

/// How many client TLS configs this process has built (each reading its files)
/// for client connects. A connect builds one only when its `Client` holds none yet
/// (or it has no `Client`: the free `connect`) and the process-wide cache has none
/// for its TLS parameters (the type, the name verified, the trust roots
/// directory, the client certificate and key paths, ALPN), or the files that one
/// was built from changed since (by `stat`: device, inode, size, mtime or ctime of
/// the directory, of each `*.pem` in it, of the certificate and key files; a file
/// changed less than two seconds before a build is read again at the next connect).
/// The cache keeps 64 configs, the least recently used dropped first. For tests and
/// diagnostics.
#[doc(hidden)]
pub fn client_config_builds() -> u64 {
    crate::tls_configs::builds()
}

/// The client handshake over any stream: verification as `tls` says. Errors come
/// from [`handshake_outcome`]: untrusted certificate, host-name mismatch, expired
/// certificate, or handshake failure.
pub(crate) async fn client_handshake<R: Runtime>(
    inner: Stream<R>,
    tls: &ClientTls,
    limit: Duration,
) -> io::Result<Stream<R>> {
    let connector = TlsConnector::from(tls.config.clone());
    let outcome = timeout::<R, _>(limit, connector.connect(tls.server_name.clone(), inner)).await;
    let s = handshake_outcome(outcome, limit)?;
    Ok(Stream::Tls(Box::new(TlsStream::new(
        futures_rustls::TlsStream::Client(s),
    ))))
}
