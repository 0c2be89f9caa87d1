//! Errors about key material say which file, where in it and why, but never quote
//! what the file holds: a private key fed to the wrong parameter, with its line
//! breaks removed, cut short or mangled, must not end up in a log line through an
//! error's `Display` or `Debug`.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::Arc;
use std::time::Instant;

use rcgen::{CertificateParams, KeyPair};
use strports_core::tls::rustls::crypto::CryptoProvider;
use strports_core::tls::{
    self, CertDirectory, PemFile, SniResolver, SslServerFiles, TlsMaterialError,
};

fn provider() -> Arc<CryptoProvider> {
    tls::default_provider()
}

/// A fresh key (PKCS#8 PEM) and a self-signed certificate for it.
fn material() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (key.serialize_pem(), cert.pem())
}

/// The base64 body of a PEM text (the lines between its begin and end lines).
fn body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Every 12-byte window of `secret`: no error text may contain any of them.
fn windows(secret: &str) -> Vec<&str> {
    let bytes = secret.as_bytes();
    (0..bytes.len().saturating_sub(11))
        .filter_map(|i| secret.get(i..i + 12))
        .collect()
}

/// The error of building anything from `file`: as an `ssl:` server's key file, as a
/// client certificate's key, as a trust root, and in a `tls:` server's directory.
fn errors_for(file: &PemFile, cert: &PemFile) -> Vec<String> {
    let mut out = Vec::new();
    let mut record = |what: &str, err: TlsMaterialError| {
        let as_io = io::Error::from(err.clone());
        out.push(format!("{what}: {err}"));
        out.push(format!("{what}: {err:?}"));
        out.push(format!("{what}: {as_io}"));
        out.push(format!("{what}: {as_io:?}"));
    };
    let files = SslServerFiles {
        cert_key: cert,
        private_key: Some(file),
        extra_cert_chain: None,
    };
    if let Err(e) = tls::ssl_server_config(files, None, Vec::new(), provider()) {
        record("ssl server key", e);
    }
    if let Err(e) = tls::certified_key(file, None, None, &provider()) {
        record("certificate file", e);
    }
    if let Err(e) = tls::trust_roots("ca".as_ref(), std::slice::from_ref(file)) {
        record("trust roots", e);
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
    if let Err(e) = SniResolver::new(Box::new(Dir(vec![cert.clone(), file.clone()])), provider()) {
        out.push(format!("tls directory: {e}"));
        out.push(format!("tls directory: {e:?}"));
    }
    out
}

/// Checks that `errors` is not empty, that each names `file`, and that none holds a
/// piece of `secret`.
fn assert_no_secret(label: &str, errors: &[String], file: &str, secret: &str) {
    assert!(!errors.is_empty(), "{label}: no error at all");
    let pieces = windows(secret);
    assert!(!pieces.is_empty(), "{label}: secret too short to check");
    for text in errors {
        assert!(text.contains(file), "{label}: does not name {file}: {text}");
        if let Some(p) = pieces.iter().find(|p| text.contains(**p)) {
            panic!("{label}: error quotes the file ({p:?}): {text}");
        }
    }
}

#[test]
fn key_without_line_breaks_is_not_quoted() {
    let (key, cert) = material();
    let one_line: String = key.lines().collect();
    let file = PemFile::new("key.pem", one_line.clone());
    let cert = PemFile::new("cert.pem", cert);
    let errors = errors_for(&file, &cert);
    assert_no_secret("one-line key", &errors, "key.pem", &body(&key));
    // It says where and why.
    let err = tls::certified_key(&cert, Some(&file), None, &provider()).unwrap_err();
    assert!(
        matches!(
            err,
            TlsMaterialError::InvalidPem {
                line: 1,
                offset: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"invalid pem in "key.pem" at line 1 (byte 0): a section has no end line, and its begin line goes on after the label; were the line breaks removed?"#
    );
}

#[test]
fn truncated_key_is_not_quoted() {
    let (key, cert) = material();
    let cut = &key[..key.len() * 2 / 3];
    let text = format!("# our key\n{cut}");
    let file = PemFile::new("key.pem", text);
    let cert = PemFile::new("cert.pem", cert);
    assert_no_secret(
        "truncated key",
        &errors_for(&file, &cert),
        "key.pem",
        &body(cut),
    );
    let err = tls::certified_key(&cert, Some(&file), None, &provider()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid pem in "key.pem" at line 2 (byte 10): the PRIVATE KEY section has no end line (-----END PRIVATE KEY-----); is the file cut short?"#
    );
}

#[test]
fn mangled_sections_are_not_quoted() {
    let (_, cert) = material();
    let cert = PemFile::new("cert.pem", cert);
    let secret = "hunter2-SECRET-MARKER-0123456789";
    let cases = [
        // A begin line that does not end in five dashes.
        (
            "malformed begin line",
            format!("-----BEGIN PRIVATE KEY----- {secret}\n"),
            "at line 1 (byte 0): malformed begin line",
        ),
        // Not base64 inside a key section.
        (
            "bad base64",
            format!("\n\n-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"),
            "at line 3 (byte 2): the PRIVATE KEY section is not valid base64",
        ),
        // A label that is the secret, never closed.
        (
            "secret label",
            format!("-----BEGIN {secret}-----\nAAAA\n"),
            "at line 1 (byte 0): a section has no end line",
        ),
        // Valid base64 of something that is not a key.
        (
            "not a key inside",
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64(secret.as_bytes())
            ),
            "unsupported key type in \"key.pem\" at line 1",
        ),
    ];
    for (label, text, expected) in cases {
        let file = PemFile::new("key.pem", text);
        let errors = errors_for(&file, &cert);
        assert_no_secret(label, &errors, "key.pem", secret);
        if label == "not a key inside" {
            assert_no_secret(label, &errors, "key.pem", &base64(secret.as_bytes()));
        }
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{label}: expected {expected:?} in {errors:#?}"
        );
    }
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
