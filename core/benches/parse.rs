//! Parsing throughput over a mix of realistic server and client descriptions.
//!
//! Run with `cargo bench -p strports-core --bench parse`; criterion reports the
//! throughput in descriptions (elements) per second.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strports_core::grammar::parse_raw;
use strports_core::{Registry, ServerDescription};

const SERVERS: &[&str] = &[
    "tcp:8080",
    "tcp:8080:interface=127.0.0.1",
    "tcp:80:interface=0.0.0.0:backlog=128",
    r"tcp6:8443:interface=\:\:1",
    r"tcp6:port=80:backlog=100:interface=fe80\:\:1",
    "unix:/run/app.sock:mode=660",
    "unix:/var/run/daemon/control.sock:mode=0o600:lockfile=0",
    "unix:@app-abstract",
    "ssl:443:privateKey=/etc/ssl/private/key.pem:certKey=/etc/ssl/certs/cert.pem",
    r"ssl:8443:privateKey=C\:\\keys\\server.pem:sslmethod=TLS_METHOD:interface=10.0.0.1",
    "tls:/etc/letsencrypt/live:443",
    "systemd:domain=INET6:index=0",
    "systemd:domain=UNIX:name=web",
    "haproxy:tcp:8080:interface=10.1.2.3",
    "stdio",
    "fd:3:domain=INET",
];

const CLIENTS: &[&str] = &[
    "tcp:example.com:80",
    "tcp:host=10.0.0.5:port=5432:timeout=5:bindAddress=10.0.0.2",
    r"tcp:\:\:1:8080",
    "ssl:example.com:443:caCertsDir=/etc/ssl/certs",
    "tls:example.com:443",
    r"tls:api.example.com:443:endpoint=tcp\:10.0.0.1\:443",
    r"tls:internal.example:8443:trustRoots=/etc/ca:endpoint=unix\:/run/proxy.sock",
    "unix:/run/app.sock:timeout=3",
    "process:/usr/bin/ssh:-T:bastion.example.com:errFlag=drop",
    "process:cat",
];

/// Clients are parsed with `process:` allowed (the mix has two).
fn parse_all(programs: &Registry) -> usize {
    let mut ok = 0;
    for s in SERVERS {
        ok += usize::from(black_box(s).parse::<ServerDescription>().is_ok());
    }
    for s in CLIENTS {
        ok += usize::from(programs.parse_client(black_box(s)).is_ok());
    }
    ok
}

fn bench(c: &mut Criterion) {
    let programs = Registry::with_programs();
    // Every description in the mix is valid.
    assert_eq!(parse_all(&programs), SERVERS.len() + CLIENTS.len());

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements((SERVERS.len() + CLIENTS.len()) as u64));
    group.bench_function("mixed", |b| b.iter(|| parse_all(&programs)));

    group.throughput(Throughput::Elements(SERVERS.len() as u64));
    group.bench_function("servers", |b| {
        b.iter(|| {
            for s in SERVERS {
                black_box(black_box(s).parse::<ServerDescription>().is_ok());
            }
        })
    });

    group.throughput(Throughput::Elements(CLIENTS.len() as u64));
    group.bench_function("clients", |b| {
        b.iter(|| {
            for s in CLIENTS {
                black_box(programs.parse_client(black_box(s)).is_ok());
            }
        })
    });

    group.throughput(Throughput::Elements((SERVERS.len() + CLIENTS.len()) as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for s in SERVERS.iter().chain(CLIENTS) {
                black_box(parse_raw(black_box(s)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
