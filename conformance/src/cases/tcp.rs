//! TCP cases.

use strports_core::endpoint::Address;

use crate::{Backend, server};

/// `tcp:0` listens on a real port and reports it.
pub async fn listen_port_zero_reports_real_port<B: Backend>() {
    let listener = B::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    match B::local_address(&listener).expect("local address") {
        Address::Tcp(addr) => {
            assert_ne!(addr.port(), 0);
            assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
        }
        other => panic!("not a tcp address: {other:?}"),
    }
}
