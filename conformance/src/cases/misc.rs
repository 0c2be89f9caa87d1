//! Description types this backend does not open yet.

use std::io;

use crate::{Backend, client, expect_error, server};

/// Server and client types not supported yet fail with `Unsupported`, naming the type.
pub async fn unsupported_types_are_reported<B: Backend>() {
    for (desc, name) in [("stdio", "stdio"), ("haproxy:tcp:0", "haproxy")] {
        let result = B::listen(&server(desc)).await;
        expect_error(
            result,
            io::ErrorKind::Unsupported,
            &[&format!("{name} endpoints are not supported yet")],
        );
    }
    let result = B::connect(&client("process:true")).await;
    expect_error(
        result,
        io::ErrorKind::Unsupported,
        &["process endpoints are not supported yet"],
    );
}
