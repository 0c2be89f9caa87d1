//! strports on smol: turns descriptions into async-io sockets.
