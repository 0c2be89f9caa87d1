//! [`Reloader`]: re-reading the certificates of running `ssl:` and `tls:` servers.
//!
//! A listener opened from an `ssl:` or `tls:` description keeps the description;
//! [`Listener::reloader`](crate::Listener::reloader) gives a cloneable handle whose
//! [`reload`](Reloader::reload) builds the server config again from it (an `ssl:`
//! server reads its certificate, key and chain files again; a `tls:` server scans
//! its directory again) and swaps it into the listener's [`TlsAcceptorStep`]. Only
//! handshakes that start afterwards use it: connections already open keep theirs.
//! A config that cannot be built (a missing or bad file, a key that does not match,
//! a `tls:` directory left without a certificate) leaves the old one in place and
//! is an error naming the server and the file. Wire it to whatever should trigger
//! it: SIGHUP, a file watcher, an admin endpoint.

use std::error::Error;
use std::fmt;
use std::io;
use std::marker::PhantomData;

use strports_core::ServerDescription;
use strports_core::tls::default_provider;

use crate::runtime::Runtime;
use crate::tls::{TlsAcceptorStep, TlsListener};
use crate::wrap::Wrapped;

/// A handle that reloads the certificates of one or more listeners (see the
/// [module docs](self)). Cheap to clone; it keeps no listener open. Get one from
/// [`Listener::reloader`](crate::Listener::reloader) (or
/// [`TlsListener::reloader`](crate::TlsListener::reloader)) before the listener
/// moves into [`serve`](crate::serve()); join several with [`Extend`] or
/// [`FromIterator`]. For listeners without certificates it holds nothing, and
/// reloading does nothing.
pub struct Reloader<R> {
    servers: Vec<(ServerDescription, TlsAcceptorStep)>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for Reloader<R> {
    fn clone(&self) -> Self {
        Reloader {
            servers: self.servers.clone(),
            _runtime: PhantomData,
        }
    }
}

impl<R> Default for Reloader<R> {
    /// A reloader with nothing to reload.
    fn default() -> Self {
        Reloader {
            servers: Vec::new(),
            _runtime: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Reloader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<String> = self.servers.iter().map(|(d, _)| d.to_string()).collect();
        f.debug_struct("Reloader")
            .field("servers", &servers)
            .finish()
    }
}

impl<R: Runtime> Reloader<R> {
    /// Reloads `step`'s config from `desc`.
    pub(crate) fn for_step(desc: ServerDescription, step: TlsAcceptorStep) -> Self {
        Reloader {
            servers: vec![(desc, step)],
            _runtime: PhantomData,
        }
    }

    /// Whether there is nothing to reload (no listener with certificate files).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The `ssl:`/`tls:` descriptions whose certificates [`reload`](Reloader::reload)
    /// re-reads.
    pub fn servers(&self) -> impl Iterator<Item = &ServerDescription> + '_ {
        self.servers.iter().map(|(d, _)| d)
    }

    /// Re-reads the certificates of every server, on the runtime's blocking pool
    /// (see [`reload_blocking`](Reloader::reload_blocking)).
    pub async fn reload(&self) -> Result<usize, ReloadError> {
        if self.servers.is_empty() {
            return Ok(0);
        }
        let this = self.clone();
        match R::unblock(move || this.reload_blocking()).await {
            Ok(result) => result,
            Err(error) => Err(ReloadError {
                failures: self
                    .servers
                    .iter()
                    .map(|(desc, _)| ReloadFailure {
                        server: desc.clone(),
                        error: io::Error::new(error.kind(), error.to_string()),
                    })
                    .collect(),
                reloaded: 0,
            }),
        }
    }

    /// Re-reads the certificates of every server now, blocking the calling thread
    /// (it reads files): each `ssl:` server's certificate, key and chain, each
    /// `tls:` server's directory. Every server whose new config builds gets it for
    /// its next handshakes; one that fails keeps its old config. Returns how many
    /// servers were reloaded (0 when there are none), or an error naming each server
    /// that failed and why.
    pub fn reload_blocking(&self) -> Result<usize, ReloadError> {
        let mut failures = Vec::new();
        let mut reloaded = 0;
        for (desc, step) in &self.servers {
            match strports_sys::tls::server_tls(desc, default_provider()) {
                Ok(tls) => {
                    step.replace_tls(tls);
                    reloaded += 1;
                }
                Err(error) => failures.push(ReloadFailure {
                    server: desc.clone(),
                    error,
                }),
            }
        }
        if failures.is_empty() {
            Ok(reloaded)
        } else {
            Err(ReloadError { failures, reloaded })
        }
    }
}

impl<R> Extend<Reloader<R>> for Reloader<R> {
    fn extend<I: IntoIterator<Item = Reloader<R>>>(&mut self, iter: I) {
        for other in iter {
            self.servers.extend(other.servers);
        }
    }
}

impl<R> FromIterator<Reloader<R>> for Reloader<R> {
    fn from_iter<I: IntoIterator<Item = Reloader<R>>>(iter: I) -> Self {
        let mut all = Reloader::default();
        all.extend(iter);
        all
    }
}

/// One server whose certificates could not be reloaded.
#[derive(Debug)]
pub struct ReloadFailure {
    server: ServerDescription,
    error: io::Error,
}

impl ReloadFailure {
    /// The server's description.
    pub fn server(&self) -> &ServerDescription {
        &self.server
    }

    /// Why its new config could not be built (the message names the file).
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl fmt::Display for ReloadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reload the certificates of {}: {}; the old ones stay in use",
            self.server, self.error
        )
    }
}

/// Why [`Reloader::reload`] failed: the servers that keep their old certificates,
/// each with its reason. The other servers of the reloader were reloaded.
#[derive(Debug)]
pub struct ReloadError {
    failures: Vec<ReloadFailure>,
    reloaded: usize,
}

impl ReloadError {
    /// The servers that failed (at least one).
    pub fn failures(&self) -> &[ReloadFailure] {
        &self.failures
    }

    /// How many servers were reloaded all the same.
    pub fn reloaded(&self) -> usize {
        self.reloaded
    }

    /// The kind of the first failure's error.
    pub fn kind(&self) -> io::ErrorKind {
        self.failures
            .first()
            .map_or(io::ErrorKind::Other, |f| f.error.kind())
    }
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            failure.fmt(f)?;
        }
        Ok(())
    }
}

/// The causes are part of the message (one per server), not [`Error::source`].
impl Error for ReloadError {}

impl From<ReloadError> for io::Error {
    fn from(e: ReloadError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

impl<R: Runtime, L: Wrapped<R>> TlsListener<R, L> {
    /// A handle that re-reads this listener's certificate files and swaps them in
    /// for new handshakes (see [`Reloader`]). For a listener built by `listen` from
    /// an `ssl:` or `tls:` description; one made with [`TlsListener::new`] has
    /// nothing to re-read (its [`TlsAcceptorStep::replace_config`] swaps configs).
    pub fn reloader(&self) -> Reloader<R> {
        match self.source() {
            Some(desc) => Reloader::for_step(desc.clone(), self.step().clone()),
            None => Reloader::default(),
        }
    }
}
