//! The body of the stamped `child_process` test: what a child process started by a
//! case (see [`crate::child`]) runs.

use crate::child::{CASE_ENV, CHILD_ENV};
use std::time::Duration;

use crate::{Backend, accept_one, server, within};

/// The body of the stamped `child_process` test.
pub fn entry<B: Backend>() {
    if let Ok(name) = std::env::var(CASE_ENV) {
        crate::cases::run_child_body::<B>(&name);
        return;
    }
    let Ok(text) = std::env::var(CHILD_ENV) else {
        return;
    };
    let desc = server(&text);
    crate::run::<B, _>("child_process", async move {
        let listener = match B::listen(&desc).await {
            Ok(l) => l,
            Err(e) => panic!("child: listen on {desc}: {e}"),
        };
        // On stderr: stdout is the connection for `stdio`.
        eprintln!(
            "child: listening on {desc} at {:?}",
            B::local_address(&listener)
        );
        let (mut stream, peer) = accept_one::<B>(&listener).await;
        eprintln!("child: accepted {peer}");
        if matches!(desc, strports_core::ServerDescription::Stdio) {
            match B::accept(&listener).await {
                Ok((_, peer)) => panic!("child: second stdio accept gave {peer}"),
                Err(e) => eprintln!("child: second accept: {e}"),
            }
        }
        within::<B, _>(Duration::from_secs(20), "child echo", async {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = B::read(&mut stream, &mut buf).await.expect("child read");
                if n == 0 {
                    break;
                }
                B::write_all(&mut stream, &buf[..n])
                    .await
                    .expect("child write");
            }
            B::shutdown_write(&mut stream)
                .await
                .expect("child shutdown");
        })
        .await;
    });
}
