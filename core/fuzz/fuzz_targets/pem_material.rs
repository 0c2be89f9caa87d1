//! Feeds arbitrary bytes as the PEM files of `ssl:` and `tls:` endpoints through the
//! `core::tls` builders: `certKey` / `privateKey` / `extraCertChain` of an `ssl:`
//! server (and client certificate), a `caCertsDir` / `trustRoots` directory, and a
//! `tls:` server's SNI directory. Nothing may panic; every error must be a
//! `TlsMaterialError` that names one of the files (or the directory) it was given.
//!
//! Input format: the first byte holds flags, the rest is split into files at the
//! separator line `\n--8<--\n` (seeds: `core/fuzz/corpus/pem_material/`, written by
//! `write_pem_fuzz_seeds` in `core/tests/bad_input.rs`).

#![no_main]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use strports_core::tls::rustls::crypto::CryptoProvider;
use strports_core::tls::{
    self, CertDirectory, PemFile, SniResolver, SslServerFiles, TlsMaterialError,
};

const SEPARATOR: &[u8] = b"\n--8<--\n";

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(tls::default_provider).clone()
}

fn split(mut data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    while let Some(at) = data.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&data[..at]);
        data = &data[at + SEPARATOR.len()..];
    }
    parts.push(data);
    parts
}

/// The error names one of `files` (or `dir`), both in its fields and its message.
fn check(err: &TlsMaterialError, files: &[&Path], dir: Option<&Path>) {
    let named: Vec<&Path> = match err {
        TlsMaterialError::InvalidPem { file, .. }
        | TlsMaterialError::NoCertificate { file }
        | TlsMaterialError::NoPrivateKey { file }
        | TlsMaterialError::EncryptedKey { file }
        | TlsMaterialError::UnsupportedKey { file, .. }
        | TlsMaterialError::InvalidCertificate { file, .. }
        | TlsMaterialError::NoChainCertificates { file }
        | TlsMaterialError::NoRootCertificates { file } => vec![file],
        TlsMaterialError::KeyMismatch {
            key_file,
            cert_file,
        } => vec![key_file, cert_file],
        TlsMaterialError::EmptyTrustRoots { dir: d } => {
            assert_eq!(Some(d.as_path()), dir, "{err}");
            vec![d]
        }
        other => panic!("unexpected error for key material: {other:?}"),
    };
    let message = err.to_string();
    for path in named {
        assert!(
            files.contains(&path) || Some(path) == dir,
            "{err:?} names a file it was not given"
        );
        assert!(
            message.contains(&format!("\"{}\"", path.display())),
            "{message:?} does not quote {path:?}"
        );
    }
    let first = message.chars().next().expect("non-empty message");
    assert!(!first.is_uppercase(), "{message}");
}

#[derive(Debug)]
struct Dir(Vec<PemFile>);

impl CertDirectory for Dir {
    fn scan(&self) -> io::Result<Vec<PemFile>> {
        Ok(self.0.clone())
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let parts = split(rest);
    let files: Vec<PemFile> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| PemFile::new(format!("dir/file{i}.pem"), p.to_vec()))
        .collect();
    let paths: Vec<&Path> = files.iter().map(PemFile::path).collect();
    let provider = provider();

    // ssl: server / client certificate: certKey, then (by flags) privateKey and
    // extraCertChain from the next files.
    let cert_key = &files[0];
    let mut next = files.iter().skip(1);
    let private_key = if flags & 1 != 0 { next.next() } else { None };
    let extra_cert_chain = if flags & 2 != 0 { next.next() } else { None };
    match tls::certified_key(cert_key, private_key, extra_cert_chain, &provider) {
        Ok(key) => assert!(!key.cert.is_empty()),
        Err(e) => check(&e, &paths, None),
    }
    if flags & 4 != 0 {
        let server = tls::ssl_server_config(
            SslServerFiles {
                cert_key,
                private_key,
                extra_cert_chain,
            },
            None,
            vec![b"h2".to_vec()],
            provider.clone(),
        );
        if let Err(e) = server {
            check(&e, &paths, None);
        }
    }

    // caCertsDir / trustRoots: every file is a trust-root file.
    let dir = PathBuf::from("dir");
    let roots = if flags & 8 != 0 {
        &files[..0]
    } else {
        &files[..]
    };
    match tls::trust_roots(&dir, roots) {
        Ok(store) => {
            let config = tls::client_config(Arc::new(store), None, Vec::new(), provider.clone());
            if let Err(e) = config {
                // An empty store is refused by the verifier; nothing else may fail.
                assert!(matches!(e, TlsMaterialError::Config { .. }), "{e}");
            }
        }
        Err(e) => check(&e, &paths, Some(&dir)),
    }

    // tls: server: every file is in the SNI directory.
    if flags & 16 != 0 {
        match SniResolver::new(Box::new(Dir(files.clone())), provider) {
            Ok(resolver) => {
                let _ = resolver.certified_key_for(None);
                let _ = resolver.certified_key_for(Some("localhost"));
                let _ = resolver.names();
            }
            Err(e) => {
                let inner = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<TlsMaterialError>())
                    .unwrap_or_else(|| panic!("not a TlsMaterialError: {e}"));
                check(inner, &paths, None);
            }
        }
    }
});
