//! Descriptions as lists of named parameters (Twisted's names, defaults filled in),
//! for tools that show or serialize them field by field.

use std::path::Path;

use crate::client::ClientDescription;
use crate::common::{UnixAddress, path_text};
use crate::server::{ServerDescription, SystemdSelector};

/// The value of one parameter, as shown by [`ServerDescription::fields`] and
/// [`ClientDescription::fields`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// An absent optional value.
    Null,
    /// A number.
    Int(i64),
    /// Text.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A list of strings (a process's argv, ALPN protocol names).
    List(Vec<String>),
    /// A nested server description (`haproxy`).
    Server(Box<ServerDescription>),
    /// A nested client description (`tls` `endpoint`), or none.
    Client(Option<Box<ClientDescription>>),
}

fn s(v: &str) -> FieldValue {
    FieldValue::Str(v.to_owned())
}

fn p(v: &Path) -> FieldValue {
    FieldValue::Str(path_text(v))
}

fn opt_p(v: Option<&Path>) -> FieldValue {
    v.map_or(FieldValue::Null, p)
}

fn opt_s(v: Option<&str>) -> FieldValue {
    v.map_or(FieldValue::Null, s)
}

fn unix(a: &UnixAddress) -> FieldValue {
    FieldValue::Str(a.to_description_text())
}

fn int(v: impl Into<i64>) -> FieldValue {
    FieldValue::Int(v.into())
}

/// Appends `alpn` (a strports extension) only when given, so that descriptions using
/// only Twisted's parameters show exactly Twisted's parameter list.
fn with_alpn(
    mut fields: Vec<(&'static str, FieldValue)>,
    alpn: &[String],
) -> Vec<(&'static str, FieldValue)> {
    if !alpn.is_empty() {
        fields.push(("alpn", FieldValue::List(alpn.to_vec())));
    }
    fields
}

impl ServerDescription {
    /// Every parameter by Twisted's name, with defaults filled in.
    ///
    /// ```
    /// use strports_core::{FieldValue, ServerDescription};
    /// let d: ServerDescription = "tcp:80".parse().unwrap();
    /// assert_eq!(d.fields()[2], ("backlog", FieldValue::Int(50)));
    /// ```
    pub fn fields(&self) -> Vec<(&'static str, FieldValue)> {
        match self {
            ServerDescription::Tcp(t) | ServerDescription::Tcp6(t) => vec![
                ("port", int(t.port)),
                ("interface", s(&t.interface)),
                ("backlog", int(t.backlog)),
            ],
            ServerDescription::Unix(u) => vec![
                ("address", unix(&u.address)),
                ("mode", int(u.mode)),
                ("backlog", int(u.backlog)),
                ("lockfile", FieldValue::Bool(u.lockfile)),
            ],
            ServerDescription::Ssl(t) => with_alpn(
                vec![
                    ("port", int(t.port)),
                    ("interface", s(&t.interface)),
                    ("backlog", int(t.backlog)),
                    ("privateKey", p(&t.private_key)),
                    ("certKey", p(t.cert_key_path())),
                    ("sslmethod", opt_s(t.sslmethod.map(|m| m.name()))),
                    ("extraCertChain", opt_p(t.extra_cert_chain.as_deref())),
                    ("dhParameters", opt_p(t.dh_parameters.as_deref())),
                ],
                &t.alpn,
            ),
            ServerDescription::Tls(t) => with_alpn(
                vec![
                    ("path", p(&t.path)),
                    ("port", int(t.port)),
                    ("backlog", int(t.backlog)),
                    ("interface", s(&t.interface)),
                ],
                &t.alpn,
            ),
            ServerDescription::Systemd(t) => {
                let selector = match &t.selector {
                    SystemdSelector::Index(i) => ("index", int(*i)),
                    SystemdSelector::Name(n) => ("name", s(n)),
                };
                vec![("domain", s(t.domain.name())), selector]
            }
            ServerDescription::Stdio => Vec::new(),
            ServerDescription::Adopted(a) => {
                vec![("fileno", int(a.fileno)), ("domain", s(a.domain.name()))]
            }
            ServerDescription::Haproxy(inner) => {
                vec![("wrapped", FieldValue::Server(inner.clone()))]
            }
            ServerDescription::Extension(e) => vec![("description", s(&e.to_string()))],
        }
    }
}

impl ClientDescription {
    /// Every parameter by Twisted's name, with defaults filled in.
    ///
    /// ```
    /// use strports_core::{ClientDescription, FieldValue};
    /// let d: ClientDescription = "tcp:localhost:80".parse().unwrap();
    /// assert_eq!(d.fields()[2], ("timeout", FieldValue::Int(30)));
    /// ```
    pub fn fields(&self) -> Vec<(&'static str, FieldValue)> {
        let tcp = |t: &crate::client::TcpClient| {
            vec![
                ("host", s(&t.host)),
                ("port", int(t.port)),
                ("timeout", int(t.timeout)),
                ("bindAddress", opt_s(t.bind_address.as_deref())),
            ]
        };
        match self {
            ClientDescription::Tcp(t) => tcp(t),
            ClientDescription::Ssl(c) => {
                let mut v = tcp(&c.tcp);
                v.extend([
                    ("hostname", opt_s(c.hostname.as_deref())),
                    ("certKey", opt_p(c.cert_key.as_deref())),
                    ("privateKey", opt_p(c.private_key.as_deref())),
                    ("caCertsDir", opt_p(c.ca_certs_dir.as_deref())),
                ]);
                with_alpn(v, &c.alpn)
            }
            ClientDescription::Unix(u) => vec![
                ("path", unix(&u.path)),
                ("timeout", int(u.timeout)),
                ("lockfile", FieldValue::Bool(u.lockfile)),
            ],
            ClientDescription::Tls(t) => with_alpn(
                vec![
                    ("host", s(&t.host)),
                    ("port", int(t.port)),
                    ("timeout", int(t.timeout)),
                    ("bindAddress", opt_s(t.bind_address.as_deref())),
                    ("certificate", opt_p(t.certificate.as_deref())),
                    ("privateKey", opt_p(t.private_key.as_deref())),
                    ("trustRoots", opt_p(t.trust_roots.as_deref())),
                    ("endpoint", FieldValue::Client(t.endpoint.clone())),
                ],
                &t.alpn,
            ),
            ClientDescription::Process(c) => vec![
                ("argv", FieldValue::List(c.argv.clone())),
                ("path", opt_p(c.path.as_deref())),
                ("env", s(c.env.name())),
                ("errFlag", s(c.err_flag.name())),
            ],
            ClientDescription::Extension(e) => vec![("description", s(&e.to_string()))],
        }
    }
}
