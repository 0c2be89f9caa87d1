//! The `haproxy:` server wrapper (Twisted's `haproxy` endpoint plugin): every
//! accepted connection must start with a PROXY protocol v1 or v2 header, which is
//! read and taken off before the application sees the connection.
//!
//! The policy (timeout, limits, which addresses a connection reports, what is a
//! rejection) is `strports_core::proxy_protocol`'s; this module only drives it.
//! Headers are read concurrently by the accept machine [`crate::in_flight`] (the one
//! [`TlsListener`](crate::TlsListener) runs its handshakes with), with reading one
//! header as the per-connection step, at most [`HaproxyOptions::max_pending`] at
//! once, each under the header timeout.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_io::AsyncRead;
use strports_core::endpoint::Address;
use strports_core::proxy_protocol::{
    self, Decoded, Decoder, HEADER_READ_SIZE, HaproxyOptions, Rejection, Untrusted,
};

use crate::admission::{Admission, RateLimitedLog, Ticket};
use crate::in_flight::{Shared, Start};
use crate::runtime::{Runtime, timeout};
use crate::stream::{Proxied, Stream};
use crate::wrap::{Accepting, Wrapped};

/// One connection's header being read, under the header timeout; gives the
/// connection and the address it reports, or says why it failed and who the
/// transport's peer was.
type Handshake<R> = Pin<Box<dyn Future<Output = Result<Accepted<R>, (Rejection, Address)>> + Send>>;

/// A connection `accept` returns, with the address it reports.
type Accepted<R> = (Stream<R>, Address);

/// What reading one header needs to know of the options.
#[derive(Clone, Copy)]
struct Limits {
    header: Duration,
    first_byte: Duration,
    max_tlv_bytes: usize,
}

/// A listener whose connections start with a PROXY header: the `haproxy:` wrapper
/// around another listener `L`.
///
/// Headers are read concurrently, each under the header timeout, inside `accept`:
/// each call accepts every connection that is ready, up to
/// [`HaproxyOptions::max_pending`] headers in flight (beyond it, new connections
/// wait in the kernel's backlog until a header is done), and polls the unfinished
/// headers that have bytes or timed out, so a slow client never holds up the
/// others. Headers progress only while someone is in `accept` (as `serve` always
/// is).
///
/// **Admission.** A peer outside the trusted networks
/// ([`HaproxyOptions::with_trusted`]) is closed at once, before it takes a pending
/// slot (or, with [`Untrusted::Direct`], returned as it is, with its own address);
/// without a trust list, a source (IPv4 address, IPv6 /64) that already has
/// [`HaproxyOptions::max_pending_per_source`] headers pending is closed at once too
/// (the sources a trust list names are the operator's load balancers: only the
/// overall limit applies to them);
/// a connection silent for [`HaproxyOptions::first_byte_timeout`] is closed before
/// the header timeout. So one source cannot hold every slot.
///
/// A connection whose header is missing, malformed, too slow, for a datagram flow
/// or with more TLV bytes than allowed (`NOOP` padding is dropped, not counted) is
/// closed, logged (`tracing`, target `strports::haproxy`, at most one line per
/// second per kind of rejection, with the number held back) and counted in
/// [`ProxyListener::rejections`]; `accept` only returns connections with a valid
/// header, as [`Stream::Proxied`] (and untrusted peers under
/// [`Untrusted::Direct`]). Cancel-safe: accepted connections and headers in flight
/// wait in the listener, so a dropped `accept` loses none.
pub struct ProxyListener<R: Runtime, L> {
    inner: Arc<L>,
    options: HaproxyOptions,
    /// The raw accept in progress and the headers being read.
    state: Shared<Accepting<R>, Handshake<R>>,
    admission: Arc<Admission>,
    log: RateLimitedLog,
    rejections: AtomicU64,
}

impl<R: Runtime, L: Wrapped<R> + fmt::Debug> fmt::Debug for ProxyListener<R, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyListener")
            .field("inner", &self.inner)
            .field("options", &self.options)
            .field("rejections", &self.rejections())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime, L: Wrapped<R>> ProxyListener<R, L> {
    /// Reads a PROXY header on every connection `inner` accepts.
    pub fn new(inner: L, options: HaproxyOptions) -> Self {
        ProxyListener {
            inner: Arc::new(inner),
            state: Shared::with_limit(options.max_pending()),
            admission: Admission::new(options.max_pending_per_source()),
            log: RateLimitedLog::new(),
            options,
            rejections: AtomicU64::new(0),
        }
    }

    /// The wrapped listener (the raw transport).
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The options it runs with.
    pub fn options(&self) -> &HaproxyOptions {
        &self.options
    }

    /// How many connections it has closed for a bad or missing header.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    /// How many connections it and the listeners inside it closed for a bad or
    /// missing header.
    pub fn all_rejections(&self) -> u64 {
        self.rejections() + self.inner.proxy_rejections()
    }

    /// Accepts connections and reads their headers until one is complete.
    /// Cancel-safe: accepted connections wait in the listener, not in the future.
    pub async fn accept(&self) -> io::Result<(Stream<R>, Address)> {
        let options = &self.options;
        let limits = Limits {
            header: options.header_timeout(),
            first_byte: options.first_byte_timeout(),
            max_tlv_bytes: options.max_tlv_bytes(),
        };
        let accept = || self.inner.accepting();
        let step = |(stream, peer): Accepted<R>| -> Start<Handshake<R>, Accepted<R>, _> {
            if !options.trusts(&peer) {
                return match options.untrusted() {
                    Untrusted::Direct => Start::Ready((stream, peer)),
                    _ => Start::Refused((Rejection::Untrusted, peer)),
                };
            }
            // Sources a trust list names are the operator's load balancers: only
            // the overall limit applies to them.
            let ticket = if options.trusted().is_some() {
                Some(Ticket::exempt())
            } else {
                self.admission.admit(&peer)
            };
            match ticket {
                Some(ticket) => Start::Step(Box::pin(handshake(stream, peer, limits, ticket))),
                None => Start::Refused((
                    Rejection::SourceBusy {
                        limit: self.admission.limit(),
                    },
                    peer,
                )),
            }
        };
        let rejected = |(why, peer): (Rejection, Address)| {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            match self.log.permit(why.kind(), R::now()) {
                Some(0) => {
                    tracing::warn!(target: "strports::haproxy", %peer, "closed connection: {why}");
                }
                Some(held_back) => tracing::warn!(
                    target: "strports::haproxy", %peer,
                    "closed connection: {why} ({held_back} more like it since the last such line)"
                ),
                None => {}
            }
        };
        self.state.accept(accept, step, rejected).await
    }
}

impl<R: Runtime, L: Wrapped<R>> AsFd for ProxyListener<R, L> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Reads one header under `limits`, holding `ticket` (the source's slot) until done.
async fn handshake<R: Runtime>(
    stream: Stream<R>,
    peer: Address,
    limits: Limits,
    ticket: Ticket,
) -> Result<Accepted<R>, (Rejection, Address)> {
    let read = timeout::<R, _>(limits.header, read_header(stream, &peer, limits)).await;
    drop(ticket);
    match read {
        Some(Ok(proxied)) => {
            let source = proxied.source().clone();
            Ok((Stream::Proxied(Box::new(proxied)), source))
        }
        Some(Err(why)) => Err((why, peer)),
        None => Err((Rejection::TimedOut(limits.header), peer)),
    }
}

/// Reads until the header is complete (its first byte within the first-byte
/// timeout); keeps the bytes read after it.
async fn read_header<R: Runtime>(
    mut stream: Stream<R>,
    peer: &Address,
    limits: Limits,
) -> Result<Proxied<R>, Rejection> {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; HEADER_READ_SIZE];
    let first = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf));
    let mut n = match timeout::<R, _>(limits.first_byte, first).await {
        Some(read) => read?,
        None => return Err(Rejection::Silent(limits.first_byte)),
    };
    loop {
        if n == 0 {
            return Err(Rejection::Closed {
                received: decoder.buffered(),
            });
        }
        if let Decoded::Done {
            mut header,
            consumed,
        } = decoder.feed(&buf[..n])?
        {
            proxy_protocol::keep_tlvs(&mut header, limits.max_tlv_bytes)?;
            let (source, destination) =
                proxy_protocol::endpoints(&header, peer.clone(), || stream.local_addr())?;
            buf.truncate(n);
            buf.drain(..consumed);
            if buf.is_empty() {
                buf = Vec::new();
            }
            return Ok(Proxied::new(stream, buf, header, source, destination));
        }
        n = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await?;
    }
}
