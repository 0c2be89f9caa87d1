//! systemd socket activation: interpreting `LISTEN_PID`, `LISTEN_FDS` and
//! `LISTEN_FDNAMES` from values passed in (the backends read the environment when
//! `listen()` runs, so this is pure and unit-testable).
//!
//! Differences from Twisted: `index=` works without `LISTEN_FDNAMES` (plain
//! `LISTEN_FDS` activation); a name/count mismatch only breaks `name=` lookups; a
//! duplicated name is an error rather than "last wins"; negative indices do not exist.
//!
//! ```
//! use strports_core::systemd::ListenFds;
//! use strports_core::SystemdSelector;
//! let fds = ListenFds::from_values(Some("42"), Some("2"), Some("web:admin"), 42).unwrap();
//! assert_eq!(fds.select(&SystemdSelector::Index(1)).unwrap(), 4);
//! assert_eq!(fds.select(&SystemdSelector::Name("web".into())).unwrap(), 3);
//! ```

use std::fmt;
use std::io;

use crate::server::SystemdSelector;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// The most descriptors accepted in `LISTEN_FDS` (far above any real unit; keeps
/// descriptor numbers in range).
pub const MAX_LISTEN_FDS: u32 = 65_536;

/// The descriptors systemd passed to this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenFds {
    count: u32,
    names: Option<Vec<String>>,
}

/// Why no descriptor could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemdError {
    /// `LISTEN_FDS` (or `LISTEN_PID`) is not set: not socket-activated.
    NotActivated,
    /// `LISTEN_PID` names another process (the variables were inherited).
    OtherProcess {
        /// The value of `LISTEN_PID`.
        listen_pid: String,
        /// Our process id.
        pid: u32,
    },
    /// A variable is not a valid number.
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// `index=` is beyond the passed descriptors.
    IndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// How many descriptors were passed.
        count: u32,
    },
    /// `name=` with no (usable) `LISTEN_FDNAMES`.
    NoNames {
        /// Why the names are unusable.
        reason: String,
    },
    /// `name=` names no descriptor.
    NameNotFound {
        /// The name asked for.
        name: String,
        /// The names that exist.
        names: Vec<String>,
    },
    /// `name=` names more than one descriptor.
    AmbiguousName {
        /// The name asked for.
        name: String,
        /// The indices with that name.
        indices: Vec<u32>,
    },
}

impl fmt::Display for SystemdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemdError::NotActivated => {
                f.write_str("no sockets passed by systemd: LISTEN_FDS and LISTEN_PID are not set")
            }
            SystemdError::OtherProcess { listen_pid, pid } => write!(
                f,
                "sockets passed by systemd are for process {listen_pid:?}, not this one ({pid})"
            ),
            SystemdError::Invalid { variable, value } => write!(
                f,
                "invalid {variable} {value:?}: must be ascii digits (at most {MAX_LISTEN_FDS} descriptors)"
            ),
            SystemdError::IndexOutOfRange { index, count } => write!(
                f,
                "systemd index {index} is out of range: {count} sockets were passed"
            ),
            SystemdError::NoNames { reason } => {
                write!(f, "cannot look up systemd sockets by name: {reason}")
            }
            SystemdError::NameNotFound { name, names } => write!(
                f,
                "no systemd socket named {name:?}; names passed: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            SystemdError::AmbiguousName { name, indices } => write!(
                f,
                "systemd socket name {name:?} is shared by indices {indices:?}; use index= instead"
            ),
        }
    }
}

impl std::error::Error for SystemdError {}

impl From<SystemdError> for io::Error {
    fn from(e: SystemdError) -> io::Error {
        let kind = match e {
            SystemdError::Invalid { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::NotFound,
        };
        io::Error::new(kind, e)
    }
}

impl ListenFds {
    /// Interprets the variables' values (`None` = unset) for the process `pid`.
    pub fn from_values(
        listen_pid: Option<&str>,
        listen_fds: Option<&str>,
        listen_fdnames: Option<&str>,
        pid: u32,
    ) -> Result<ListenFds, SystemdError> {
        let (Some(listen_pid), Some(listen_fds)) = (listen_pid, listen_fds) else {
            return Err(SystemdError::NotActivated);
        };
        let parsed_pid = digits(listen_pid, u64::from(u32::MAX)).ok_or(SystemdError::Invalid {
            variable: "LISTEN_PID",
            value: listen_pid.to_owned(),
        })?;
        if parsed_pid != u64::from(pid) {
            return Err(SystemdError::OtherProcess {
                listen_pid: listen_pid.to_owned(),
                pid,
            });
        }
        let count = digits(listen_fds, u64::from(MAX_LISTEN_FDS)).ok_or(SystemdError::Invalid {
            variable: "LISTEN_FDS",
            value: listen_fds.to_owned(),
        })? as u32;
        let names = listen_fdnames
            .filter(|s| !s.is_empty())
            .map(|s| s.split(':').map(str::to_owned).collect());
        Ok(ListenFds { count, names })
    }

    /// How many descriptors were passed.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The names from `LISTEN_FDNAMES`, if given.
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// The descriptor number the selector picks.
    pub fn select(&self, selector: &SystemdSelector) -> Result<i32, SystemdError> {
        match selector {
            SystemdSelector::Index(index) => {
                if *index < self.count {
                    Ok(LISTEN_FDS_START + *index as i32)
                } else {
                    Err(SystemdError::IndexOutOfRange {
                        index: *index,
                        count: self.count,
                    })
                }
            }
            SystemdSelector::Name(name) => {
                let Some(names) = &self.names else {
                    return Err(SystemdError::NoNames {
                        reason: "LISTEN_FDNAMES is not set".to_owned(),
                    });
                };
                if names.len() != self.count as usize {
                    return Err(SystemdError::NoNames {
                        reason: format!(
                            "LISTEN_FDNAMES has {} names for {} descriptors",
                            names.len(),
                            self.count
                        ),
                    });
                }
                let indices: Vec<u32> = (0..self.count)
                    .filter(|i| names[*i as usize] == *name)
                    .collect();
                match indices.as_slice() {
                    [] => Err(SystemdError::NameNotFound {
                        name: name.clone(),
                        names: names.clone(),
                    }),
                    [i] => Ok(LISTEN_FDS_START + *i as i32),
                    _ => Err(SystemdError::AmbiguousName {
                        name: name.clone(),
                        indices,
                    }),
                }
            }
        }
    }
}

fn digits(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|v| *v <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(i: u32) -> SystemdSelector {
        SystemdSelector::Index(i)
    }

    fn name(n: &str) -> SystemdSelector {
        SystemdSelector::Name(n.to_owned())
    }

    #[test]
    fn index_works_without_names() {
        let fds = ListenFds::from_values(Some("7"), Some("3"), None, 7).unwrap();
        assert_eq!(fds.select(&idx(0)).unwrap(), 3);
        assert_eq!(fds.select(&idx(2)).unwrap(), 5);
        assert_eq!(
            fds.select(&idx(3)).unwrap_err(),
            SystemdError::IndexOutOfRange { index: 3, count: 3 }
        );
        assert!(matches!(
            fds.select(&name("x")),
            Err(SystemdError::NoNames { .. })
        ));
    }

    #[test]
    fn names_select_and_mismatch_only_breaks_names() {
        let fds = ListenFds::from_values(Some("7"), Some("2"), Some("a:b:c"), 7).unwrap();
        assert_eq!(fds.select(&idx(1)).unwrap(), 4);
        let err = fds.select(&name("a")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot look up systemd sockets by name: LISTEN_FDNAMES has 3 names for 2 descriptors"
        );
        let fds = ListenFds::from_values(Some("7"), Some("3"), Some("a:b:a"), 7).unwrap();
        assert_eq!(fds.select(&name("b")).unwrap(), 4);
        assert_eq!(
            fds.select(&name("a")).unwrap_err(),
            SystemdError::AmbiguousName {
                name: "a".into(),
                indices: vec![0, 2]
            }
        );
        assert!(matches!(
            fds.select(&name("zz")),
            Err(SystemdError::NameNotFound { .. })
        ));
    }

    #[test]
    fn hostile_values() {
        let pid = 100;
        for (p, n) in [
            (Some("100"), Some("-1")),
            (Some("100"), Some("x")),
            (Some("100"), Some("")),
            (Some("100"), Some("99999999999999999999999")),
            (Some("100"), Some("65537")),
            (Some("100"), Some(" 1")),
            (Some("-100"), Some("1")),
            (Some("abc"), Some("1")),
        ] {
            let err = ListenFds::from_values(p, n, None, pid).unwrap_err();
            assert!(matches!(err, SystemdError::Invalid { .. }), "{p:?} {n:?}");
            assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
        }
        assert_eq!(
            ListenFds::from_values(Some("101"), Some("1"), None, pid).unwrap_err(),
            SystemdError::OtherProcess {
                listen_pid: "101".into(),
                pid
            }
        );
        assert_eq!(
            ListenFds::from_values(None, Some("1"), None, pid).unwrap_err(),
            SystemdError::NotActivated
        );
        assert_eq!(
            ListenFds::from_values(Some("100"), None, None, pid).unwrap_err(),
            SystemdError::NotActivated
        );
        let max = MAX_LISTEN_FDS.to_string();
        let fds = ListenFds::from_values(Some("100"), Some(&max), None, pid).unwrap();
        assert_eq!(fds.select(&idx(MAX_LISTEN_FDS - 1)).unwrap(), 3 + 65_535);
    }
}
