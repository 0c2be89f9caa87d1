//! The Happy Eyeballs driver: core's [`HappyEyeballs`] machine run on the runtime's
//! sockets and timer (see the machine's documentation for the calling order).

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, TcpStream};
use std::pin::pin;
use std::task::Poll;

use strports_core::endpoint::{Lookup, ResolveFuture, Resolver};
use strports_core::happy_eyeballs::{Action, AttemptId, Event, HappyEyeballs, HappyEyeballsConfig};
use strports_sys::tcp::{attempt_socket, connect_progress};

use crate::io::Io;
use crate::runtime::{Interest, Runtime};

/// What moved the race on.
enum Input {
    Resolved(Lookup, io::Result<Vec<std::net::SocketAddr>>),
    Connected(AttemptId),
    Failed(AttemptId, io::Error),
    Timeout,
}

/// Connects to `host` (a name) on `port`, racing its addresses as RFC 8305 says,
/// from `bind` if given. Lookups and attempt sockets are owned by this future:
/// dropping it drops them, which closes every socket at once.
pub(crate) async fn connect<R: Runtime>(
    host: &str,
    port: u16,
    bind: Option<IpAddr>,
    config: HappyEyeballsConfig,
    resolver: &dyn Resolver,
) -> io::Result<Io<R, TcpStream>> {
    // The runtime's clock, so a paused test clock drives the race too.
    let mut he = HappyEyeballs::new(host, port, config, R::now());
    let mut lookups: Vec<(Lookup, ResolveFuture)> = Vec::new();
    let mut attempts: Vec<(AttemptId, Io<R, TcpStream>)> = Vec::new();
    let mut timer = pin!(R::sleep_until(R::now()));
    let mut armed = None;
    loop {
        while let Some(action) = he.poll_action() {
            match action {
                Action::Resolve(lookup) => {
                    lookups.push((lookup, resolver.resolve(host, port, lookup)));
                }
                Action::Connect { id, addr } => {
                    match attempt_socket(addr, bind).and_then(|s| Io::new(s, Interest::Both)) {
                        Ok(stream) => attempts.push((id, stream)),
                        Err(e) => he.handle_failed(id, e, R::now()),
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
            if let Some(t) = deadline {
                R::reset(timer.as_mut(), t);
            }
            armed = deadline;
        }
        // Attempts first: a connection that is ready wins over a timer that is due.
        let input = poll_fn(|cx| {
            for i in 0..attempts.len() {
                let (id, stream) = &attempts[i];
                if let Poll::Ready(outcome) = stream.poll_io(cx, Interest::Write, connect_progress)
                {
                    let id = *id;
                    return Poll::Ready(match outcome {
                        Ok(()) => Input::Connected(id),
                        Err(e) => {
                            attempts.swap_remove(i);
                            Input::Failed(id, e)
                        }
                    });
                }
            }
            for i in 0..lookups.len() {
                if let Poll::Ready(result) = lookups[i].1.as_mut().poll(cx) {
                    let (lookup, _) = lookups.swap_remove(i);
                    return Poll::Ready(Input::Resolved(lookup, result));
                }
            }
            if armed.is_some() && timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Input::Timeout);
            }
            Poll::Pending
        })
        .await;
        let now = R::now();
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
