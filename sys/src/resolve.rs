//! The system resolver (`getaddrinfo`), blocking.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

use strports_core::endpoint::Lookup;

/// Resolves `host` with the system resolver (blocking; run it on a blocking thread)
/// and returns the addresses with `port`, in the resolver's order.
///
/// [`Lookup::Ipv4`] and [`Lookup::Ipv6`] ask `getaddrinfo` for that family only
/// (so only the A or only the AAAA query goes out, and Happy Eyeballs can start on
/// whichever answer comes first). A per-family lookup of a name that has no address
/// of that family gives an empty list, not an error: the system cannot tell that
/// apart from an unknown name, and the other family's lookup decides. A
/// [`Lookup::Any`] lookup that finds nothing is a [`io::ErrorKind::NotFound`] error.
///
/// ```
/// use strports_core::endpoint::Lookup;
/// use strports_sys::resolve::system_lookup;
/// assert_eq!(system_lookup("127.0.0.1", 80, Lookup::Any)?, ["127.0.0.1:80".parse().unwrap()]);
/// assert_eq!(system_lookup("127.0.0.1", 80, Lookup::Ipv4)?, ["127.0.0.1:80".parse().unwrap()]);
/// assert_eq!(system_lookup("127.0.0.1", 80, Lookup::Ipv6)?, []);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn system_lookup(host: &str, port: u16, lookup: Lookup) -> io::Result<Vec<SocketAddr>> {
    let fail = |e: io::Error| crate::error::context(e, format_args!("cannot resolve {host:?}"));
    let family = match lookup {
        Lookup::Ipv4 => libc::AF_INET,
        Lookup::Ipv6 => libc::AF_INET6,
        _ => libc::AF_UNSPEC,
    };
    let name = CString::new(host).map_err(|_| {
        fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte in name",
        ))
    })?;
    let addrs = match getaddrinfo(&name, family, port) {
        Ok(addrs) => addrs,
        Err(code) if lookup != Lookup::Any && no_such_name(code) => Vec::new(),
        Err(code) => return Err(fail(gai_error(code))),
    };
    if addrs.is_empty() && lookup == Lookup::Any {
        return Err(fail(io::Error::new(
            io::ErrorKind::NotFound,
            "no addresses",
        )));
    }
    Ok(addrs)
}

/// `getaddrinfo(name, NULL, {family, SOCK_STREAM})`, as std's `ToSocketAddrs` calls
/// it but with a family; the error is the `EAI_*` code.
fn getaddrinfo(name: &CStr, family: libc::c_int, port: u16) -> Result<Vec<SocketAddr>, i32> {
    /// Frees the list however the walk ends.
    struct List(*mut libc::addrinfo);
    impl Drop for List {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: a list returned by a successful getaddrinfo, freed once.
                unsafe { libc::freeaddrinfo(self.0) };
            }
        }
    }

    // SAFETY: all-zero is a valid addrinfo (null pointers, no flags).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut list = List(ptr::null_mut());
    // SAFETY: valid C string, hints and out-pointer; the result is freed by `List`.
    let code = unsafe { libc::getaddrinfo(name.as_ptr(), ptr::null(), &hints, &mut list.0) };
    if code != 0 {
        return Err(code);
    }
    let mut out = Vec::new();
    let mut next = list.0;
    while !next.is_null() {
        // SAFETY: a node of the list getaddrinfo returned, alive until `list` drops.
        let ai = unsafe { &*next };
        next = ai.ai_next;
        if ai.ai_addr.is_null() {
            continue;
        }
        let len = ai.ai_addrlen as usize;
        let addr = match ai.ai_family {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: an AF_INET address of at least sockaddr_in's size.
                let sin = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in>()) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                SocketAddr::V4(SocketAddrV4::new(ip, port))
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: an AF_INET6 address of at least sockaddr_in6's size.
                let sin6 = unsafe { ptr::read_unaligned(ai.ai_addr.cast::<libc::sockaddr_in6>()) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                ))
            }
            _ => continue,
        };
        out.push(addr);
    }
    Ok(out)
}

/// Whether `getaddrinfo` failed because the name has no (such) address: for a
/// one-family lookup, a name with only the other family's addresses fails this way
/// (glibc: `EAI_NONAME`; `EAI_ADDRFAMILY` for an IP literal of the other family).
fn no_such_name(code: i32) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    if code == libc::EAI_NODATA {
        return true;
    }
    // glibc's value; the libc crate does not export it for Linux.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if code == -9 {
        return true;
    }
    code == libc::EAI_NONAME
}

/// An `EAI_*` code as an `io::Error`, with `gai_strerror`'s message lowercased.
fn gai_error(code: i32) -> io::Error {
    if code == libc::EAI_SYSTEM {
        return io::Error::last_os_error();
    }
    // SAFETY: gai_strerror returns a static, nul-terminated message for any code.
    let message = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }.to_string_lossy();
    let mut chars = message.chars();
    let message: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("getaddrinfo error {code}"),
    };
    let kind = if no_such_name(code) {
        io::ErrorKind::NotFound
    } else if code == libc::EAI_MEMORY {
        io::ErrorKind::OutOfMemory
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_family_lookups_of_a_one_family_name_are_empty() {
        // 127.0.0.1 is an IPv4 literal: the IPv6 lookup finds nothing, without error.
        assert!(
            system_lookup("127.0.0.1", 1, Lookup::Ipv6)
                .unwrap()
                .is_empty()
        );
        assert!(system_lookup("::1", 1, Lookup::Ipv4).unwrap().is_empty());
        let v6 = system_lookup("::1", 1, Lookup::Ipv6).unwrap();
        assert_eq!(v6, ["[::1]:1".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn localhost_resolves_per_family() {
        let v4 = system_lookup("localhost", 80, Lookup::Ipv4).unwrap();
        assert!(!v4.is_empty());
        assert!(v4.iter().all(|a| a.is_ipv4() && a.port() == 80), "{v4:?}");
        // Maybe empty (no `::1 localhost` line), never an error, never IPv4.
        let v6 = system_lookup("localhost", 80, Lookup::Ipv6).unwrap();
        assert!(v6.iter().all(SocketAddr::is_ipv6), "{v6:?}");
    }

    #[test]
    fn unknown_names() {
        // `.invalid` never resolves (RFC 2606).
        let name = "no-such-host.invalid";
        let e = system_lookup(name, 80, Lookup::Any).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot resolve \"no-such-host.invalid\": "),
            "{e}"
        );
        for lookup in [Lookup::Ipv4, Lookup::Ipv6] {
            match system_lookup(name, 80, lookup) {
                Ok(addrs) => assert!(addrs.is_empty()),
                // Without a working DNS server: a temporary failure.
                Err(e) => assert_ne!(e.kind(), io::ErrorKind::NotFound, "{e}"),
            }
        }
        let e = system_lookup("a\0b", 80, Lookup::Ipv4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
