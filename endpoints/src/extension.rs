//! Extension types that open: how a type added to a `Registry` listens or connects.
//!
//! A `Registry` teaches the parser a new type; an opener teaches `listen` and
//! `connect` what to do with it, like Twisted's string-parser plugins, which return
//! a working endpoint. An opener is written once, generic over the [`Runtime`]
//! (`impl<R: Runtime> OpenClient<R> for MyType`), and works on tokio and smol alike.
//! Give it to a [`Connector`](crate::Connector) (`with_client_type`) or a
//! [`Server`](crate::Server) (`with_server_type`); nested descriptions (`tls:`'s
//! `endpoint=`, `haproxy:`) reach it too. Without one, opening an extension type
//! fails with [`io::ErrorKind::Unsupported`], naming the type and what to register.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use strports_core::Extension;
use strports_core::{ClientDescription, ServerDescription};

use crate::listener::Listener;
use crate::runtime::Runtime;
use crate::stream::Stream;

/// The future an opener returns.
pub type OpenFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// How a client extension type connects.
///
/// ```
/// use std::io;
/// use strports_core::Extension;
/// use strports_endpoints::extension::{Dial, OpenClient, OpenFuture};
/// use strports_endpoints::{Runtime, Stream};
///
/// /// `loopback:PORT` connects to 127.0.0.1:PORT (its value's Display is the
/// /// description, e.g. "loopback:8080").
/// struct Loopback;
///
/// impl<R: Runtime> OpenClient<R> for Loopback {
///     fn connect<'a>(&'a self, ext: &'a Extension, dial: Dial<'a, R>) -> OpenFuture<'a, Stream<R>> {
///         Box::pin(async move {
///             let port = ext.to_string().rsplit(':').next().unwrap_or_default().to_owned();
///             let desc = format!("tcp:127.0.0.1:{port}")
///                 .parse()
///                 .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
///             dial.connect(&desc).await
///         })
///     }
/// }
/// ```
pub trait OpenClient<R: Runtime>: Send + Sync + 'static {
    /// Connects as `ext` (a value this type's registry parser made) says; `dial`
    /// connects nested descriptions with the same resolver and openers.
    fn connect<'a>(&'a self, ext: &'a Extension, dial: Dial<'a, R>) -> OpenFuture<'a, Stream<R>>;
}

/// How a server extension type listens.
pub trait OpenServer<R: Runtime>: Send + Sync + 'static {
    /// Listens as `ext` says; `nested` listens on other descriptions with the same
    /// options and openers.
    fn listen<'a>(
        &'a self,
        ext: &'a Extension,
        nested: Nested<'a, R>,
    ) -> OpenFuture<'a, Listener<R>>;
}

/// The openers of extension types, by type name (ASCII case-insensitive, as type
/// names are). Cheap to clone.
pub struct Openers<R: Runtime> {
    clients: HashMap<String, Arc<dyn OpenClient<R>>>,
    servers: HashMap<String, Arc<dyn OpenServer<R>>>,
}

impl<R: Runtime> Openers<R> {
    /// No openers.
    pub fn new() -> Self {
        Openers {
            clients: HashMap::new(),
            servers: HashMap::new(),
        }
    }

    /// Connects client descriptions of type `name` with `opener`.
    pub fn add_client(&mut self, name: &str, opener: impl OpenClient<R>) -> &mut Self {
        self.clients
            .insert(name.to_ascii_lowercase(), Arc::new(opener));
        self
    }

    /// Listens on server descriptions of type `name` with `opener`.
    pub fn add_server(&mut self, name: &str, opener: impl OpenServer<R>) -> &mut Self {
        self.servers
            .insert(name.to_ascii_lowercase(), Arc::new(opener));
        self
    }

    /// Whether there is no opener at all.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.servers.is_empty()
    }

    pub(crate) fn client(&self, ext: &Extension) -> io::Result<&dyn OpenClient<R>> {
        self.clients
            .get(&ext.name().to_ascii_lowercase())
            .map(|o| &**o)
            .ok_or_else(|| no_opener(ext.name(), "client", "Connector::with_client_type"))
    }

    pub(crate) fn server(&self, ext: &Extension) -> io::Result<&dyn OpenServer<R>> {
        self.servers
            .get(&ext.name().to_ascii_lowercase())
            .map(|o| &**o)
            .ok_or_else(|| no_opener(ext.name(), "server", "Server::with_server_type"))
    }
}

/// The error of an extension type nobody said how to open.
fn no_opener(name: &str, side: &str, how: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "{name}: a {side} extension type without an opener (its registry parses it; \
             register how it opens with {how})"
        ),
    )
}

impl<R: Runtime> Default for Openers<R> {
    fn default() -> Self {
        Openers::new()
    }
}

impl<R: Runtime> Clone for Openers<R> {
    fn clone(&self) -> Self {
        Openers {
            clients: self.clients.clone(),
            servers: self.servers.clone(),
        }
    }
}

impl<R: Runtime> fmt::Debug for Openers<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut clients: Vec<_> = self.clients.keys().collect();
        let mut servers: Vec<_> = self.servers.keys().collect();
        clients.sort();
        servers.sort();
        f.debug_struct("Openers")
            .field("clients", &clients)
            .field("servers", &servers)
            .finish()
    }
}

/// What a client opener connects nested descriptions with: the connect's resolver
/// and openers.
pub struct Dial<'a, R: Runtime> {
    via: &'a dyn ConnectNested<R>,
}

/// How [`Dial`] connects (implemented where descriptions are opened).
pub(crate) trait ConnectNested<R: Runtime>: Send + Sync {
    /// Connects `desc` with the resolver and openers of the connect in progress.
    fn connect_nested<'d>(&'d self, desc: &'d ClientDescription) -> OpenFuture<'d, Stream<R>>;
}

impl<R: Runtime> Clone for Dial<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Runtime> Copy for Dial<'_, R> {}

impl<'a, R: Runtime> Dial<'a, R> {
    pub(crate) fn new(via: &'a dyn ConnectNested<R>) -> Self {
        Dial { via }
    }

    /// Connects `desc` (any client description, extension types included); a TLS
    /// config is built for this connect.
    pub fn connect<'d>(self, desc: &'d ClientDescription) -> OpenFuture<'d, Stream<R>>
    where
        'a: 'd,
    {
        self.via.connect_nested(desc)
    }
}

/// What a server opener listens on nested descriptions with: the server's options
/// and openers.
pub struct Nested<'a, R: Runtime> {
    via: &'a dyn ListenNested<R>,
}

/// How [`Nested`] listens (implemented where descriptions are opened).
pub(crate) trait ListenNested<R: Runtime>: Send + Sync {
    /// Listens on `desc` with the options and openers of the listen in progress.
    fn listen_nested<'d>(&'d self, desc: &'d ServerDescription) -> OpenFuture<'d, Listener<R>>;
}

impl<R: Runtime> Clone for Nested<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Runtime> Copy for Nested<'_, R> {}

impl<'a, R: Runtime> Nested<'a, R> {
    pub(crate) fn new(via: &'a dyn ListenNested<R>) -> Self {
        Nested { via }
    }

    /// Listens on `desc` (any server description, extension types included).
    pub fn listen<'d>(self, desc: &'d ServerDescription) -> OpenFuture<'d, Listener<R>>
    where
        'a: 'd,
    {
        self.via.listen_nested(desc)
    }
}
