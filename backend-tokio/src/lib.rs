//! strports on tokio: turns descriptions into tokio sockets.
