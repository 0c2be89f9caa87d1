//! TLS config building (feature `tls`): key material rules, the SNI resolver, and
//! in-memory handshakes (rustls connections pumping bytes through buffers, no sockets)
//! with certificates generated here by rcgen.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use strports_core::SslMethod;
use strports_core::tls::rustls::pki_types::{CertificateDer, ServerName};
use strports_core::tls::rustls::server::WebPkiClientVerifier;
use strports_core::tls::rustls::sign::SingleCertAndKey;
use strports_core::tls::rustls::{
    self, ClientConfig, ClientConnection, Connection, ProtocolVersion, RootCertStore, ServerConfig,
    ServerConnection,
};
use strports_core::tls::{
    self as tls, CertDirectory, PemFile, SniResolver, SslServerFiles, TlsError, TlsErrorKind,
    TlsMaterialError,
};

// ---------------------------------------------------------------- certificates

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn root_ca(name: &str) -> Ca {
    let params = ca_params(name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

fn intermediate_ca(name: &str, parent: &Ca) -> Ca {
    let params = ca_params(name);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        pem: cert.pem(),
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    cert: String,
    key: String,
    der: CertificateDer<'static>,
}

fn leaf_with(ca: &Ca, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    edit(&mut params);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

fn leaf(ca: &Ca, names: &[&str]) -> Leaf {
    leaf_with(ca, names, |_| {})
}

fn other_key() -> String {
    KeyPair::generate().unwrap().serialize_pem()
}

fn pem(path: &str, parts: &[&str]) -> PemFile {
    PemFile::new(path, parts.join("\n"))
}

fn roots(cas: &[&Ca]) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    for ca in cas {
        store.add(ca.der.clone()).unwrap();
    }
    Arc::new(store)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    tls::default_provider()
}

fn ssl_server(leaf: &Leaf, alpn: &[&str]) -> Arc<ServerConfig> {
    let file = pem("server.pem", &[&leaf.cert, &leaf.key]);
    let files = SslServerFiles {
        cert_key: &file,
        private_key: None,
        extra_cert_chain: None,
    };
    tls::ssl_server_config(files, None, alpn_list(alpn), provider()).unwrap()
}

fn client(roots: Arc<RootCertStore>, alpn: &[&str]) -> Arc<ClientConfig> {
    tls::client_config(roots, None, alpn_list(alpn), provider()).unwrap()
}

fn alpn_list(alpn: &[&str]) -> Vec<Vec<u8>> {
    alpn.iter().map(|p| p.as_bytes().to_vec()).collect()
}

// ---------------------------------------------------------------- handshakes

struct Outcome {
    client: Connection,
    server: Connection,
    client_error: Option<rustls::Error>,
    server_error: Option<rustls::Error>,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.client_error.is_none()
            && self.server_error.is_none()
            && !self.client.is_handshaking()
            && !self.server.is_handshaking()
    }

    fn client_kind(&self) -> Option<TlsErrorKind> {
        self.client_error.as_ref().map(TlsErrorKind::of)
    }
}

/// Moves everything `from` wants to send into `to`; the number of bytes moved, and
/// `to`'s error if processing them failed.
fn transfer(from: &mut Connection, to: &mut Connection) -> (usize, Option<rustls::Error>) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut rest = &buf[..];
    while !rest.is_empty() {
        if to.read_tls(&mut rest).unwrap() == 0 {
            break;
        }
        if let Err(e) = to.process_new_packets() {
            return (buf.len(), Some(e));
        }
    }
    (buf.len(), None)
}

fn handshake_as(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
) -> Outcome {
    let mut c = Connection::Client(ClientConnection::new(client, name).unwrap());
    let mut s = Connection::Server(ServerConnection::new(server).unwrap());
    let (mut client_error, mut server_error) = (None, None);
    for _ in 0..20 {
        let (a, e) = transfer(&mut c, &mut s);
        server_error = server_error.or(e);
        let (b, e) = transfer(&mut s, &mut c);
        client_error = client_error.or(e);
        if a + b == 0 {
            break;
        }
    }
    Outcome {
        client: c,
        server: s,
        client_error,
        server_error,
    }
}

fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>, name: &str) -> Outcome {
    handshake_as(client, server, tls::server_name(name).unwrap())
}

fn peer_leaf(o: &Outcome) -> CertificateDer<'static> {
    o.client.peer_certificates().unwrap()[0].clone()
}

// ---------------------------------------------------------------- ssl: key material

#[test]
fn the_key_matching_the_certificate_is_chosen() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    // certKey holds the certificate and a *wrong* key (Twisted would use that key and
    // fail); privateKey holds the right one.
    let cert_key = pem("cert.pem", &[&l.cert, &other_key()]);
    let private_key = pem("key.pem", &[&l.key]);
    let files = SslServerFiles {
        cert_key: &cert_key,
        private_key: Some(&private_key),
        extra_cert_chain: None,
    };
    let server = tls::ssl_server_config(files, None, vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&ca]), &[]), server, "localhost");
    assert!(o.ok(), "{:?} {:?}", o.client_error, o.server_error);
}

#[test]
fn a_key_matching_nothing_is_an_error_naming_the_file() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let cert_key = pem("cert.pem", &[&l.cert]);
    let private_key = pem("key.pem", &[&other_key()]);
    let err = tls::certified_key(&cert_key, Some(&private_key), None, &provider()).unwrap_err();
    assert_eq!(
        err,
        TlsMaterialError::KeyMismatch {
            key_file: "key.pem".into(),
            cert_file: "cert.pem".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"key in "key.pem" does not match certificate in "cert.pem""#
    );
    let io_err = io::Error::from(err);
    assert_eq!(io_err.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn missing_certificate_or_key_name_the_file() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let key_only = pem("server.pem", &[&l.key]);
    let err = tls::certified_key(&key_only, None, None, &provider()).unwrap_err();
    assert_eq!(err.to_string(), r#"no certificate in "server.pem""#);

    let cert_only = pem("cert.pem", &[&l.cert]);
    let empty_key = pem("key.pem", &["nothing here"]);
    let err = tls::certified_key(&cert_only, Some(&empty_key), None, &provider()).unwrap_err();
    assert_eq!(err.to_string(), r#"no private key in "key.pem""#);

    let encrypted = pem(
        "key.pem",
        &["-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"],
    );
    let err = tls::certified_key(&cert_only, Some(&encrypted), None, &provider()).unwrap_err();
    assert!(
        matches!(err, TlsMaterialError::EncryptedKey { .. }),
        "{err}"
    );

    let broken = pem("cert.pem", &["-----BEGIN CERTIFICATE-----\nAAAA"]);
    let err = tls::certified_key(&broken, None, None, &provider()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid pem in "cert.pem" at line 1 (byte 0): the CERTIFICATE section has no end line (-----END CERTIFICATE-----); is the file cut short?"#
    );
}

#[test]
fn an_empty_extra_cert_chain_is_an_error() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let file = pem("server.pem", &[&l.cert, &l.key]);
    let chain = pem("chain.pem", &[&l.key]);
    let err = tls::certified_key(&file, None, Some(&chain), &provider()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#""chain.pem" contains no certificates (extraCertChain)"#
    );
}

#[test]
fn extra_cert_chain_completes_the_chain() {
    let root = root_ca("root");
    let mid = intermediate_ca("intermediate", &root);
    let l = leaf(&mid, &["localhost"]);
    let file = pem("server.pem", &[&l.cert, &l.key]);
    let chain = pem("chain.pem", &[&mid.pem]);
    let with_chain = SslServerFiles {
        cert_key: &file,
        private_key: None,
        extra_cert_chain: Some(&chain),
    };
    let server = tls::ssl_server_config(with_chain, None, vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&root]), &[]), server, "localhost");
    assert!(o.ok(), "{:?}", o.client_error);
    assert_eq!(o.client.peer_certificates().unwrap().len(), 2);

    let without = SslServerFiles {
        extra_cert_chain: None,
        ..with_chain
    };
    let server = tls::ssl_server_config(without, None, vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&root]), &[]), server, "localhost");
    assert_eq!(o.client_kind(), Some(TlsErrorKind::UntrustedCertificate));
}

#[test]
fn sslmethod_tls12_allows_only_tls12() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let file = pem("server.pem", &[&l.cert, &l.key]);
    let files = SslServerFiles {
        cert_key: &file,
        private_key: None,
        extra_cert_chain: None,
    };
    let tls12 =
        tls::ssl_server_config(files, Some(SslMethod::TlsV1_2), vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&ca]), &[]), tls12.clone(), "localhost");
    assert!(o.ok());
    assert_eq!(o.server.protocol_version(), Some(ProtocolVersion::TLSv1_2));

    // A client that only speaks TLS 1.3 cannot connect.
    let tls13_only = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(&[&ca]))
        .with_no_client_auth();
    let o = handshake(Arc::new(tls13_only), tls12, "localhost");
    assert!(!o.ok());

    let default = tls::ssl_server_config(files, None, vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&ca]), &[]), default, "localhost");
    assert_eq!(o.server.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(tls::protocol_versions(Some(SslMethod::Tls)).len(), 2);
}

// ---------------------------------------------------------------- clients

#[test]
fn handshake_with_the_right_name_succeeds() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost", "example.com"]);
    let o = handshake(
        client(roots(&[&ca]), &[]),
        ssl_server(&l, &[]),
        "example.com",
    );
    assert!(o.ok(), "{:?}", o.client_error);
    let Connection::Server(s) = &o.server else {
        panic!()
    };
    assert_eq!(s.server_name(), Some("example.com"));
}

#[test]
fn an_ip_name_is_verified_and_sends_no_sni() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["127.0.0.1"]);
    let o = handshake(client(roots(&[&ca]), &[]), ssl_server(&l, &[]), "127.0.0.1");
    assert!(o.ok(), "{:?}", o.client_error);
    let Connection::Server(s) = &o.server else {
        panic!()
    };
    assert_eq!(s.server_name(), None);
}

#[test]
fn a_wrong_host_name_is_a_host_name_mismatch() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let o = handshake(
        client(roots(&[&ca]), &[]),
        ssl_server(&l, &[]),
        "example.com",
    );
    assert_eq!(o.client_kind(), Some(TlsErrorKind::HostnameMismatch));
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert_eq!(
        e.to_string(),
        r#"host-name mismatch: the peer's certificate is not valid for "example.com" (it is valid for localhost)"#
    );
}

#[test]
fn an_unknown_ca_is_untrusted() {
    let ca = root_ca("ca");
    let stranger = root_ca("someone else");
    let l = leaf(&ca, &["localhost"]);
    let o = handshake(
        client(roots(&[&stranger]), &[]),
        ssl_server(&l, &[]),
        "localhost",
    );
    assert_eq!(o.client_kind(), Some(TlsErrorKind::UntrustedCertificate));
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert!(e.to_string().starts_with("untrusted certificate: "), "{e}");
}

#[test]
fn an_expired_certificate_is_expired() {
    let ca = root_ca("ca");
    let l = leaf_with(&ca, &["localhost"], |p| {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    });
    let o = handshake(client(roots(&[&ca]), &[]), ssl_server(&l, &[]), "localhost");
    assert_eq!(o.client_kind(), Some(TlsErrorKind::ExpiredCertificate));
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert!(
        e.to_string().starts_with(
            "expired certificate: the peer's certificate expired at 2001-01-01T00:00:00Z (now "
        ),
        "{e}"
    );
    assert_eq!(
        TlsError::from_io(&e).unwrap().kind(),
        TlsErrorKind::ExpiredCertificate
    );
}

#[test]
fn alpn_is_negotiated() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["localhost"]);
    let server = ssl_server(&l, &["h2", "http/1.1"]);
    let o = handshake(
        client(roots(&[&ca]), &["http/1.1"]),
        server.clone(),
        "localhost",
    );
    assert!(o.ok());
    assert_eq!(o.client.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(o.server.alpn_protocol(), Some(&b"http/1.1"[..]));

    let o = handshake(
        client(roots(&[&ca]), &["h2", "http/1.1"]),
        server.clone(),
        "localhost",
    );
    assert_eq!(o.client.alpn_protocol(), Some(&b"h2"[..]));

    let o = handshake(client(roots(&[&ca]), &["imap"]), server, "localhost");
    assert!(!o.ok());
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert!(e.to_string().starts_with("tls handshake failed: "), "{e}");
}

fn mtls_server(server_leaf: &Leaf, client_ca: &Ca) -> Arc<ServerConfig> {
    let file = pem("server.pem", &[&server_leaf.cert, &server_leaf.key]);
    let key = tls::certified_key(&file, None, None, &provider()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(&[client_ca]), provider())
        .build()
        .unwrap();
    tls::server_config(
        Arc::new(SingleCertAndKey::from(key)),
        None,
        vec![],
        Some(verifier),
        provider(),
    )
    .unwrap()
}

#[test]
fn mutual_tls_accepts_a_trusted_client_certificate() {
    let ca = root_ca("ca");
    let server_leaf = leaf(&ca, &["localhost"]);
    let client_leaf = leaf(&ca, &["client.example"]);
    // certificate= and privateKey= as separate files.
    let cert = pem("client.pem", &[&client_leaf.cert]);
    let key = pem("client-key.pem", &[&client_leaf.key]);
    let identity = tls::certified_key(&cert, Some(&key), None, &provider()).unwrap();
    let config = tls::client_config(roots(&[&ca]), Some(identity), vec![], provider()).unwrap();
    let o = handshake(config, mtls_server(&server_leaf, &ca), "localhost");
    assert!(o.ok(), "{:?} {:?}", o.client_error, o.server_error);
    assert_eq!(o.server.peer_certificates().unwrap()[0], client_leaf.der);
}

#[test]
fn mutual_tls_rejects_a_missing_or_untrusted_client_certificate() {
    let ca = root_ca("ca");
    let server_leaf = leaf(&ca, &["localhost"]);

    let o = handshake(
        client(roots(&[&ca]), &[]),
        mtls_server(&server_leaf, &ca),
        "localhost",
    );
    assert!(o.server_error.is_some());
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert!(
        e.to_string()
            .starts_with("tls handshake failed: the peer rejected our certificate"),
        "{e}"
    );

    let stranger = root_ca("stranger");
    let bad = leaf(&stranger, &["client.example"]);
    let identity = tls::certified_key(
        &pem("c.pem", &[&bad.cert, &bad.key]),
        None,
        None,
        &provider(),
    )
    .unwrap();
    let config = tls::client_config(roots(&[&ca]), Some(identity), vec![], provider()).unwrap();
    let o = handshake(config, mtls_server(&server_leaf, &ca), "localhost");
    assert!(matches!(
        o.server_error,
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    ));
    assert!(o.client_error.is_some());
}

#[test]
fn trust_root_files_are_checked_one_by_one() {
    let ca = root_ca("ca");
    let other = root_ca("other");
    let files = vec![
        pem("certs/a.pem", &[&ca.pem]),
        pem("certs/b.pem", &[&other.pem, &ca.pem]),
    ];
    let store = tls::trust_roots("certs".as_ref(), &files).unwrap();
    assert_eq!(store.len(), 2);

    let bad = vec![
        pem("certs/a.pem", &[&ca.pem]),
        pem("certs/junk.pem", &["junk"]),
    ];
    let err = tls::trust_roots("certs".as_ref(), &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#""certs/junk.pem" contains no certificates (trust roots)"#
    );

    let err = tls::trust_roots("certs".as_ref(), &[]).unwrap_err();
    assert!(
        matches!(err, TlsMaterialError::EmptyTrustRoots { .. }),
        "{err}"
    );

    let garbage = vec![pem(
        "certs/bad.pem",
        &["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"],
    )];
    let err = tls::trust_roots("certs".as_ref(), &garbage).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"invalid certificate in "certs/bad.pem""#),
        "{err}"
    );
}

#[test]
fn server_names_follow_idna_and_reject_junk() {
    assert_eq!(
        tls::server_name("Example.COM").unwrap(),
        ServerName::try_from("example.com").unwrap()
    );
    assert!(matches!(
        tls::server_name("::1").unwrap(),
        ServerName::IpAddress(_)
    ));
    assert_eq!(
        tls::server_name("a b").unwrap_err().to_string(),
        r#"invalid host name "a b": must be an ip address or a valid dns name"#
    );
}

// ---------------------------------------------------------------- tls: directory

/// A certificate directory in memory, with a clock the test moves.
#[derive(Debug, Default)]
struct MemDir {
    files: Mutex<Vec<PemFile>>,
    now: Mutex<Option<Instant>>,
    scans: Mutex<usize>,
}

impl MemDir {
    fn add(&self, file: PemFile) {
        self.files.lock().unwrap().push(file);
    }

    fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        *now = Some(now.unwrap_or_else(Instant::now) + by);
    }

    fn scans(&self) -> usize {
        *self.scans.lock().unwrap()
    }
}

/// What the resolver owns: a handle on the test's directory.
#[derive(Debug)]
struct Handle(Arc<MemDir>);

impl CertDirectory for Handle {
    fn scan(&self) -> io::Result<Vec<PemFile>> {
        *self.0.scans.lock().unwrap() += 1;
        Ok(self.0.files.lock().unwrap().clone())
    }

    fn now(&self) -> Instant {
        let mut now = self.0.now.lock().unwrap();
        *now.get_or_insert_with(Instant::now)
    }
}

fn resolver(dir: &Arc<MemDir>) -> SniResolver {
    SniResolver::new(Box::new(Handle(dir.clone())), provider()).unwrap()
}

fn served(r: &SniResolver, name: Option<&str>) -> Option<CertificateDer<'static>> {
    r.certified_key_for(name).map(|k| k.cert[0].clone())
}

#[test]
fn sni_picks_exact_then_wildcard_then_default() {
    let ca = root_ca("ca");
    let a = leaf(&ca, &["a.example.com"]);
    let wild = leaf(&ca, &["*.example.com"]);
    let b = leaf(&ca, &["b.example.com", "B.example.org"]);
    let dir = Arc::new(MemDir::default());
    // Keys and certificates in separate files and in any order: paired by public key.
    dir.add(pem("1-a.pem", &[&a.cert, &a.key]));
    dir.add(pem("2-wild/cert.pem", &[&wild.cert]));
    dir.add(pem("2-wild/key.pem", &[&wild.key]));
    dir.add(pem("3-b.pem", &[&b.key, &b.cert]));
    let r = resolver(&dir);
    assert_eq!(
        r.names(),
        [
            "*.example.com",
            "a.example.com",
            "b.example.com",
            "b.example.org"
        ]
    );
    assert_eq!(served(&r, Some("a.example.com")), Some(a.der.clone()));
    assert_eq!(served(&r, Some("B.Example.Com")), Some(b.der.clone()));
    assert_eq!(served(&r, Some("b.example.org.")), Some(b.der.clone()));
    assert_eq!(served(&r, Some("c.example.com")), Some(wild.der.clone()));
    // A wildcard covers one label only.
    assert_eq!(served(&r, Some("x.c.example.com")), Some(a.der.clone()));
    // No SNI, or an unknown name: the first certificate loaded.
    assert_eq!(served(&r, None), Some(a.der.clone()));
    assert_eq!(served(&r, Some("unknown.test")), Some(a.der));
}

#[test]
fn an_unknown_name_rescans_the_directory_at_most_once_per_interval() {
    let ca = root_ca("ca");
    let a = leaf(&ca, &["a.example.com"]);
    let dir = Arc::new(MemDir::default());
    dir.add(pem("a.pem", &[&a.cert, &a.key]));
    let r = resolver(&dir);
    assert_eq!(dir.scans(), 1);

    // Known names never rescan.
    served(&r, Some("a.example.com"));
    assert_eq!(dir.scans(), 1);

    // A certificate added while running is found by the first handshake asking for it.
    let n = leaf(&ca, &["new.example.com"]);
    dir.add(pem("new.pem", &[&n.cert, &n.key]));
    assert_eq!(served(&r, Some("new.example.com")), Some(n.der.clone()));
    assert_eq!(dir.scans(), 2);

    // A flood of unknown names: no rescan until the interval has passed.
    for i in 0..100 {
        served(&r, Some(&format!("flood{i}.test")));
    }
    assert_eq!(dir.scans(), 2);
    dir.advance(tls::DEFAULT_RESCAN_INTERVAL);
    for i in 0..100 {
        served(&r, Some(&format!("flood{i}.test")));
    }
    assert_eq!(dir.scans(), 3);
}

/// A source that keeps each rescan it is handed, to run when the test says (as a
/// directory on disk runs it on a thread of its own).
struct Deferred {
    dir: Arc<MemDir>,
    pending: Pending,
}

/// The rescans a [`Deferred`] was handed and has not run.
type Pending = Arc<Mutex<Vec<Box<dyn FnOnce() + Send>>>>;

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred").field("dir", &self.dir).finish()
    }
}

impl CertDirectory for Deferred {
    fn scan(&self) -> io::Result<Vec<PemFile>> {
        Handle(self.dir.clone()).scan()
    }

    fn now(&self) -> Instant {
        Handle(self.dir.clone()).now()
    }

    fn spawn_rescan(&self, rescan: Box<dyn FnOnce() + Send>) {
        self.pending.lock().unwrap().push(rescan);
    }
}

#[test]
fn a_rescan_handed_off_never_holds_up_the_handshake_and_runs_one_at_a_time() {
    let ca = root_ca("ca");
    let a = leaf(&ca, &["a.example.com"]);
    let dir = Arc::new(MemDir::default());
    dir.add(pem("a.pem", &[&a.cert, &a.key]));
    let pending = Arc::new(Mutex::new(Vec::new()));
    let source = Deferred {
        dir: dir.clone(),
        pending: pending.clone(),
    };
    let r = SniResolver::new(Box::new(source), provider()).unwrap();
    let n = leaf(&ca, &["new.example.com"]);
    dir.add(pem("new.pem", &[&n.cert, &n.key]));

    // The asking handshake gets the certificates of before, at once.
    assert_eq!(served(&r, Some("new.example.com")), Some(a.der.clone()));
    assert_eq!(pending.lock().unwrap().len(), 1);
    assert!(r.is_rescanning());
    // While that rescan has not run, no other starts, even after the interval.
    dir.advance(tls::DEFAULT_RESCAN_INTERVAL);
    assert_eq!(served(&r, Some("new.example.com")), Some(a.der.clone()));
    assert_eq!(pending.lock().unwrap().len(), 1);
    assert_eq!(dir.scans(), 1);

    // Once it ran, the new certificate is served.
    let rescan = pending.lock().unwrap().pop().unwrap();
    rescan();
    assert!(!r.is_rescanning());
    assert_eq!(dir.scans(), 2);
    assert_eq!(served(&r, Some("new.example.com")), Some(n.der.clone()));

    // A rescan dropped unrun (no thread to run it) does not block later ones.
    dir.advance(tls::DEFAULT_RESCAN_INTERVAL);
    served(&r, Some("other.example.com"));
    drop(pending.lock().unwrap().pop().unwrap());
    assert!(!r.is_rescanning());
    dir.advance(tls::DEFAULT_RESCAN_INTERVAL);
    served(&r, Some("other.example.com"));
    assert_eq!(pending.lock().unwrap().len(), 1);
}

#[test]
fn unpaired_certificates_are_chain_intermediates() {
    let root = root_ca("root");
    let mid = intermediate_ca("intermediate", &root);
    let l = leaf(&mid, &["deep.example.com"]);
    let dir = Arc::new(MemDir::default());
    dir.add(pem("chain/mid.pem", &[&mid.pem, &root.pem]));
    dir.add(pem("site.pem", &[&l.cert, &l.key]));
    let r = Arc::new(resolver(&dir));
    let chain = r
        .certified_key_for(Some("deep.example.com"))
        .unwrap()
        .cert
        .clone();
    assert_eq!(chain, vec![l.der.clone(), mid.der.clone()]);

    // And a real handshake through the tls: server config, trusting only the root.
    let server = tls::tls_server_config(r, vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&root]), &[]), server, "deep.example.com");
    assert!(o.ok(), "{:?}", o.client_error);
    assert_eq!(peer_leaf(&o), l.der);
}

#[test]
fn sni_handshakes_get_the_certificate_for_their_name() {
    let ca = root_ca("ca");
    let a = leaf(&ca, &["a.example.com"]);
    let b = leaf(&ca, &["b.example.com"]);
    let dir = Arc::new(MemDir::default());
    dir.add(pem("a.pem", &[&a.cert, &a.key]));
    dir.add(pem("b.pem", &[&b.cert, &b.key]));
    let server = tls::tls_server_config(Arc::new(resolver(&dir)), vec![], provider()).unwrap();
    let o = handshake(client(roots(&[&ca]), &[]), server.clone(), "b.example.com");
    assert!(o.ok());
    assert_eq!(peer_leaf(&o), b.der);
    let o = handshake(client(roots(&[&ca]), &[]), server, "c.example.com");
    assert_eq!(o.client_kind(), Some(TlsErrorKind::HostnameMismatch));
}

#[test]
fn bad_directory_material_names_the_file() {
    let dir = Arc::new(MemDir::default());
    dir.add(pem(
        "sub/bad.pem",
        &["-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"],
    ));
    let err = SniResolver::new(Box::new(Handle(dir.clone())), provider()).unwrap_err();
    let inner = err
        .get_ref()
        .unwrap()
        .downcast_ref::<TlsMaterialError>()
        .unwrap();
    assert!(
        matches!(inner, TlsMaterialError::UnsupportedKey { file, .. } if file.as_path() == Path::new("sub/bad.pem")),
        "{inner}"
    );
}

#[test]
fn an_empty_directory_serves_nothing_until_a_certificate_appears() {
    let dir = Arc::new(MemDir::default());
    let r = resolver(&dir);
    assert!(r.certified_key_for(None).is_none());
    let ca = root_ca("ca");
    let a = leaf(&ca, &["a.example.com"]);
    dir.add(pem("a.pem", &[&a.cert, &a.key]));
    assert_eq!(served(&r, Some("a.example.com")), Some(a.der));
}

#[test]
fn host_name_mismatch_lists_ip_names_plainly() {
    let ca = root_ca("ca");
    let l = leaf(&ca, &["10.0.0.1", "a.example"]);
    let o = handshake(client(roots(&[&ca]), &[]), ssl_server(&l, &[]), "127.0.0.1");
    let e = tls::describe_tls_error(o.client_error.as_ref().unwrap());
    assert_eq!(
        e.to_string(),
        r#"host-name mismatch: the peer's certificate is not valid for "127.0.0.1" (it is valid for 10.0.0.1, a.example)"#
    );
}
