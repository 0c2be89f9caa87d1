//! Extension types: a [`Registry`] value to which a program adds its own description
//! types by prefix. There is no global state: pass the registry where you parse.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::args::Arguments;
use crate::common::{CLIENT_TYPES, PROGRAM_CLIENT_TYPES, SERVER_TYPES};
use crate::error::{ParseError, ParseErrorKind};
use crate::grammar::Text;

/// A parsed extension description's value. Implemented for every
/// `Debug + Display + PartialEq + Send + Sync + 'static` type: `Display` must print
/// the whole description (prefix included) in a form its parser accepts.
pub trait ExtensionValue: fmt::Debug + fmt::Display + Send + Sync + 'static {
    /// The value as `Any`, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// Equality across trait objects.
    fn eq_dyn(&self, other: &dyn ExtensionValue) -> bool;
}

impl<T> ExtensionValue for T
where
    T: fmt::Debug + fmt::Display + PartialEq + Send + Sync + 'static,
{
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn eq_dyn(&self, other: &dyn ExtensionValue) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// A description of a type added to a [`Registry`].
#[derive(Clone)]
pub struct Extension {
    name: Arc<str>,
    value: Arc<dyn ExtensionValue>,
}

impl Extension {
    /// The prefix the type was registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed value, if it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.value.as_any().downcast_ref()
    }
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("value", &self.value)
            .finish()
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}

impl PartialEq for Extension {
    fn eq(&self, other: &Self) -> bool {
        self.name.eq_ignore_ascii_case(&other.name) && self.value.eq_dyn(&*other.value)
    }
}

type Parser =
    Arc<dyn Fn(&Arguments<'_, '_>) -> Result<Arc<dyn ExtensionValue>, ParseError> + Send + Sync>;

/// Why a type could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    prefix: String,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "type {:?} is already registered or is not a valid type name",
            self.prefix
        )
    }
}

impl std::error::Error for RegistryError {}

/// The description types a program understands. [`Registry::default`] holds the
/// built-in network types; add your own with [`add_server`](Registry::add_server) and
/// [`add_client`](Registry::add_client). Type names are ASCII case-insensitive.
///
/// Client types that run a program (`process:`) are not in the default registry:
/// a description can come from a configuration file, an environment variable or a
/// peer, and `tls:example.com:443:endpoint=process\:sh\:-c\:...` must not start a
/// shell unless the program said so. Allow them with [`Registry::with_programs`]
/// (or [`add_programs`](Registry::add_programs)); nested descriptions (`endpoint=`)
/// follow the same registry:
///
/// ```
/// use strports_core::{ClientDescription, ParseErrorKind, Registry};
///
/// let err = "process:cat".parse::<ClientDescription>().unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::ProgramNotAllowed);
/// let nested = r"tls:example.com:443:endpoint=process\:cat";
/// assert_eq!(
///     nested.parse::<ClientDescription>().unwrap_err().kind(),
///     ParseErrorKind::ProgramNotAllowed
/// );
///
/// let programs = Registry::with_programs();
/// assert!(matches!(programs.parse_client("process:cat")?, ClientDescription::Process(_)));
/// assert!(programs.parse_client(nested).is_ok());
/// # Ok::<(), strports_core::ParseError>(())
/// ```
///
/// ```
/// use std::fmt;
/// use strports_core::args::{Param, Positionals};
/// use strports_core::{Registry, ServerDescription};
///
/// #[derive(Debug, PartialEq)]
/// struct Redis { port: u16 }
/// impl fmt::Display for Redis {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "redis:{}", self.port) }
/// }
///
/// let mut registry = Registry::default();
/// registry.add_server("redis", |args| {
///     let b = args.bind(&[Param::positional("port")], Positionals::InOrder)?;
///     Ok(Redis { port: b.required("port", b.port("port")?)? })
/// }).unwrap();
/// let desc = registry.parse_server("REDIS:6379").unwrap();
/// let ServerDescription::Extension(ext) = &desc else { panic!() };
/// assert_eq!(ext.downcast_ref::<Redis>(), Some(&Redis { port: 6379 }));
/// assert_eq!(desc.to_string(), "redis:6379");
/// // Wrappers and nesting see extension types too.
/// assert!(registry.parse_server("haproxy:redis:6379").is_ok());
/// ```
#[derive(Clone)]
pub struct Registry {
    builtins: bool,
    programs: bool,
    servers: Vec<(String, Parser)>,
    clients: Vec<(String, Parser)>,
}

impl Default for Registry {
    /// The built-in types.
    fn default() -> Self {
        Registry {
            builtins: true,
            programs: false,
            servers: Vec::new(),
            clients: Vec::new(),
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("server_types", &self.server_types())
            .field("client_types", &self.client_types())
            .finish()
    }
}

impl Registry {
    /// A registry with no types at all, not even the built-ins.
    pub fn empty() -> Self {
        Registry {
            builtins: false,
            programs: false,
            servers: Vec::new(),
            clients: Vec::new(),
        }
    }

    /// The built-in types and the client types that run a program (`process:`): for
    /// programs whose user writes the descriptions, like a command line tool.
    ///
    /// ```
    /// let registry = strports_core::Registry::with_programs();
    /// assert!(registry.allows_programs());
    /// assert!(registry.parse_client("process:sh:-c:echo hi").is_ok());
    /// ```
    pub fn with_programs() -> Self {
        let mut registry = Registry::default();
        registry.add_programs();
        registry
    }

    /// Adds the client types that run a program (`process:`) to this registry.
    pub fn add_programs(&mut self) -> &mut Self {
        self.programs = true;
        self
    }

    /// Whether this registry parses the client types that run a program.
    pub fn allows_programs(&self) -> bool {
        self.programs
    }

    pub(crate) fn has_builtins(&self) -> bool {
        self.builtins
    }

    /// Every server type name this registry parses.
    pub fn server_types(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if self.builtins {
            names.extend(SERVER_TYPES.iter().map(|s| (*s).to_owned()));
        }
        names.extend(self.extension_names(true));
        names
    }

    /// Every client type name this registry parses.
    pub fn client_types(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        if self.builtins {
            names.extend(CLIENT_TYPES.iter().map(|s| (*s).to_owned()));
        }
        if self.programs {
            names.extend(PROGRAM_CLIENT_TYPES.iter().map(|s| (*s).to_owned()));
        }
        names.extend(self.extension_names(false));
        names
    }

    pub(crate) fn extension_names(&self, server: bool) -> impl Iterator<Item = String> + '_ {
        let list = if server { &self.servers } else { &self.clients };
        list.iter().map(|(n, _)| n.clone())
    }

    /// Adds a server type. `parser` gets the arguments after the type name and binds
    /// them (see [`Arguments::bind`]). Fails if the prefix is taken or is not a valid
    /// type name (non-empty ASCII letters, digits, `-`, `_`, `.`).
    pub fn add_server<T, F>(&mut self, prefix: &str, parser: F) -> Result<(), RegistryError>
    where
        T: ExtensionValue,
        F: Fn(&Arguments<'_, '_>) -> Result<T, ParseError> + Send + Sync + 'static,
    {
        let taken = self.server_types();
        add(&mut self.servers, &taken, prefix, parser)
    }

    /// Adds a client type; see [`add_server`](Registry::add_server). The names of the
    /// program types (`process`) are taken even when they are not allowed.
    pub fn add_client<T, F>(&mut self, prefix: &str, parser: F) -> Result<(), RegistryError>
    where
        T: ExtensionValue,
        F: Fn(&Arguments<'_, '_>) -> Result<T, ParseError> + Send + Sync + 'static,
    {
        let mut taken = self.client_types();
        taken.extend(PROGRAM_CLIENT_TYPES.iter().map(|s| (*s).to_owned()));
        add(&mut self.clients, &taken, prefix, parser)
    }

    pub(crate) fn parse_server_extension(
        &self,
        name: &str,
        args: Arguments<'_, '_>,
    ) -> Result<Option<Extension>, ParseError> {
        run(&self.servers, name, args, "server")
    }

    pub(crate) fn parse_client_extension(
        &self,
        name: &str,
        args: Arguments<'_, '_>,
    ) -> Result<Option<Extension>, ParseError> {
        run(&self.clients, name, args, "client")
    }
}

fn add<T, F>(
    list: &mut Vec<(String, Parser)>,
    taken: &[String],
    prefix: &str,
    parser: F,
) -> Result<(), RegistryError>
where
    T: ExtensionValue,
    F: Fn(&Arguments<'_, '_>) -> Result<T, ParseError> + Send + Sync + 'static,
{
    let valid = !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid || taken.iter().any(|t| t.eq_ignore_ascii_case(prefix)) {
        return Err(RegistryError {
            prefix: prefix.to_owned(),
        });
    }
    let parser: Parser = Arc::new(move |args: &Arguments<'_, '_>| {
        parser(args).map(|v| Arc::new(v) as Arc<dyn ExtensionValue>)
    });
    list.push((prefix.to_ascii_lowercase(), parser));
    Ok(())
}

fn run(
    list: &[(String, Parser)],
    name: &str,
    args: Arguments<'_, '_>,
    side: &str,
) -> Result<Option<Extension>, ParseError> {
    let Some((prefix, parser)) = list.iter().find(|(p, _)| p.eq_ignore_ascii_case(name)) else {
        return Ok(None);
    };
    let what = format!("{prefix} {side}");
    let value = parser(&args.with_what(&what))?;
    Ok(Some(Extension {
        name: Arc::from(prefix.as_str()),
        value,
    }))
}

/// The error for a type name that is neither built in (when `registry` has the
/// built-ins) nor registered: it lists the known types of that side.
pub(crate) fn unknown_type(
    t: &Text<'_>,
    side: &str,
    registry: Option<&Registry>,
    builtins: &[&str],
) -> ParseError {
    let mut names: Vec<String> = Vec::new();
    if registry.is_none_or(Registry::has_builtins) {
        names.extend(builtins.iter().map(|s| (*s).to_owned()));
    }
    if side == "client" && registry.is_some_and(Registry::allows_programs) {
        names.extend(PROGRAM_CLIENT_TYPES.iter().map(|s| (*s).to_owned()));
    }
    if let Some(r) = registry {
        names.extend(r.extension_names(side == "server"));
    }
    ParseError::quoting(
        ParseErrorKind::UnknownType,
        t.offset(),
        &format!("unknown {side} type"),
        t.as_str(),
        &format!("known types are {}", names.join(", ")),
    )
}
