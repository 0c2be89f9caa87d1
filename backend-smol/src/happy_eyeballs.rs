//! The Happy Eyeballs driver: core's [`HappyEyeballs`] machine run on async-io's
//! sockets and timer (see the machine's documentation for the calling order).

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use async_io::{Async, Timer};
use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};
use strports_core::happy_eyeballs::{Action, AttemptId, Event, HappyEyeballs, HappyEyeballsConfig};
use strports_sys::tcp::{attempt_outcome, attempt_socket};

/// What moved the race on.
enum Input {
    Resolved(Lookup, io::Result<Vec<SocketAddr>>),
    Connected(AttemptId),
    Failed(AttemptId, io::Error),
    Timeout,
}

/// Connects to `host` (a name) on `port`, racing its addresses as RFC 8305 says,
/// from `bind` if given. Lookups and attempt sockets are owned by this future:
/// dropping it drops them, which closes every socket at once.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    bind: Option<IpAddr>,
    config: HappyEyeballsConfig,
    resolver: &dyn Resolver,
) -> io::Result<Async<TcpStream>> {
    let mut he = HappyEyeballs::new(host, port, config, Instant::now());
    let mut lookups: Vec<(Lookup, ResolveFuture)> = Vec::new();
    let mut attempts: Vec<(AttemptId, Async<TcpStream>)> = Vec::new();
    let mut timer = Timer::never();
    let mut armed = None;
    loop {
        while let Some(action) = he.poll_action() {
            match action {
                Action::Resolve(lookup) => {
                    lookups.push((lookup, resolver.resolve(host, port, lookup)));
                }
                Action::Connect { id, addr } => {
                    match attempt_socket(addr, bind).and_then(Async::new_nonblocking) {
                        Ok(stream) => attempts.push((id, stream)),
                        Err(e) => he.handle_failed(id, e, Instant::now()),
                    }
                }
                Action::Cancel { id } => attempts.retain(|(a, _)| *a != id),
                _ => {}
            }
        }
        match he.poll_event() {
            Some(Event::Done { id, .. }) => {
                let Some(i) = attempts.iter().position(|(a, _)| *a == id) else {
                    return Err(io::Error::other("happy eyeballs: the winner was dropped"));
                };
                let (_, stream) = attempts.swap_remove(i);
                // Best effort, as on accepted connections.
                let _ = stream.get_ref().set_nodelay(true);
                return Ok(stream);
            }
            Some(Event::Failed(e)) => return Err(e.into()),
            _ => {}
        }
        let deadline = he.poll_timeout();
        if deadline != armed {
            match deadline {
                Some(t) => timer.set_at(t),
                None => timer = Timer::never(),
            }
            armed = deadline;
        }
        // Attempts first: a connection that is ready wins over a timer that is due.
        let input = poll_fn(|cx| {
            for i in 0..attempts.len() {
                let (id, stream) = &attempts[i];
                if let Poll::Ready(ready) = stream.poll_writable(cx) {
                    let id = *id;
                    return Poll::Ready(
                        match ready.and_then(|()| attempt_outcome(stream.get_ref())) {
                            Ok(()) => Input::Connected(id),
                            Err(e) => {
                                attempts.swap_remove(i);
                                Input::Failed(id, e)
                            }
                        },
                    );
                }
            }
            for i in 0..lookups.len() {
                if let Poll::Ready(result) = lookups[i].1.as_mut().poll(cx) {
                    let (lookup, _) = lookups.swap_remove(i);
                    return Poll::Ready(Input::Resolved(lookup, result));
                }
            }
            if armed.is_some() && Pin::new(&mut timer).poll(cx).is_ready() {
                return Poll::Ready(Input::Timeout);
            }
            Poll::Pending
        })
        .await;
        let now = Instant::now();
        match input {
            Input::Resolved(lookup, result) => he.handle_resolved(lookup, result, now),
            Input::Connected(id) => he.handle_connected(id, now),
            Input::Failed(id, e) => he.handle_failed(id, e, now),
            Input::Timeout => {
                armed = None;
                he.handle_timeout(now);
            }
        }
    }
}
