//! Adopting a descriptor duplicates it and closes the original number, as Twisted's
//! `AdoptedStreamServerEndpoint` does. One test in its own binary: it checks which
//! descriptor numbers are open, which other tests' threads would disturb.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use strports_core::{Domain, ServerDescription};
use strports_sys::adopt::{AdoptedListener, adopt};

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn adopted_tcp(fd: OwnedFd) -> TcpListener {
    match adopt(fd, Domain::Inet) {
        Ok(AdoptedListener::Tcp(l)) => l,
        other => panic!("adopting: {other:?}"),
    }
}

/// Adopts descriptor number `fd` as the description `fd:<fd>:domain=INET` does.
fn adopt_number(fd: RawFd) -> std::io::Result<AdoptedListener> {
    let desc: ServerDescription = format!("fd:{fd}:domain=INET").parse().expect("parses");
    let ServerDescription::Adopted(server) = desc else {
        panic!("not an fd: description");
    };
    strports_sys::adopt::fd(&server)
}

/// Accepts one connection on `listener` and checks a byte goes through.
fn check_accepts(listener: &TcpListener) {
    let mut client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
    listener.set_nonblocking(false).expect("blocking");
    let (mut conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    client.write_all(b"x").expect("write");
    let mut byte = [0u8; 1];
    conn.read_exact(&mut byte).expect("read");
    assert_eq!(&byte, b"x");
}

#[test]
fn adoption_closes_the_original_number_and_frees_it_for_reuse() {
    let original = OwnedFd::from(TcpListener::bind("127.0.0.1:0").expect("listener"));
    let fd = original.as_raw_fd();
    let listener = adopted_tcp(original);
    assert_ne!(listener.as_raw_fd(), fd);
    assert!(!is_open(fd), "the original number is closed, as in Twisted");
    // SAFETY: F_GETFD only queries the descriptor table.
    let flags = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC, "close-on-exec");
    check_accepts(&listener);

    // Adopting the number again finds it closed: no two listeners own one socket.
    let err = adopt_number(fd).expect_err("second adoption");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!("cannot listen on fd:{fd}:domain=INET: descriptor {fd} is not open")
    );

    // Once the first listener is gone, a new socket at the same number can be adopted.
    drop(listener);
    let other = TcpListener::bind("127.0.0.1:0")
        .expect("listener")
        .into_raw_fd();
    if other != fd {
        // SAFETY: both are open descriptors this test owns; dup2 makes `fd` a copy of
        // `other`, which is then closed.
        unsafe {
            assert_eq!(libc::dup2(other, fd), fd);
            libc::close(other);
        }
    }
    let again = match adopt_number(fd) {
        Ok(AdoptedListener::Tcp(l)) => l,
        other => panic!("adopting {fd} by number: {other:?}"),
    };
    assert!(!is_open(fd));
    check_accepts(&again);
}
