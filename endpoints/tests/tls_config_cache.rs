//! The process-wide cache of client TLS configs behind one-shot `connect`: an
//! unchanged trust root is not read again, a changed one is read at the next connect.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use strports_endpoints::tls::client_config_builds;
use strports_tokio::core::endpoint::Address;

/// A CA's PEM, and a `localhost` server certificate and key it signed.
fn pki(name: &str) -> (String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, format!("{}\n{}", leaf.pem(), key.serialize_pem()))
}

fn quoted(p: &Path) -> String {
    strports_tokio::core::quote(&p.display().to_string()).into_owned()
}

/// An `ssl:` server for the certificate in `pem`, answering nothing; its port.
async fn server(dir: &Path, name: &str, pem: &str) -> (strports_tokio::Serving, u16) {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    let desc = format!("ssl:0:interface=127.0.0.1:privateKey={}", quoted(&path));
    let listener = strports_tokio::listen(&desc.parse().unwrap())
        .await
        .unwrap();
    let Address::Tcp(addr) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    let serving = strports_tokio::serve(listener, |s, _| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
    });
    (serving, addr.port())
}

/// Overwrites `path` in place with `contents` (padded to `len` bytes) and puts its
/// mtime back: only its ctime tells the change.
fn rewrite_keeping_mtime(path: &Path, contents: &str, len: usize) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, format!("{contents:\n<len$}")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len() as usize, len);
}

/// Files younger than this are not trusted to be unchanged (`FileIds::RACY_WINDOW`).
const SETTLE: Duration = Duration::from_millis(2100);

#[test]
fn one_shot_connects_reuse_a_config_until_its_ca_file_changes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (ca1, server1) = pki("ca one");
        let (ca2, server2) = pki("ca two");
        let len = ca1.len().max(ca2.len());
        std::fs::create_dir(dir.path().join("ca")).unwrap();
        let ca_file = dir.path().join("ca/ca.pem");
        std::fs::write(&ca_file, format!("{ca1:\n<len$}")).unwrap();
        let (_one, port1) = server(dir.path(), "server1.pem", &server1).await;
        let (_two, port2) = server(dir.path(), "server2.pem", &server2).await;
        let client = |port: u16| {
            format!(
                "ssl:127.0.0.1:{port}:hostname=localhost:caCertsDir={}",
                quoted(&dir.path().join("ca"))
            )
            .parse()
            .unwrap()
        };
        let connect = |port: u16| {
            let desc = client(port);
            async move { strports_tokio::connect(&desc).await.map(drop) }
        };
        tokio::time::sleep(SETTLE).await;

        // The first connect builds the config; the next ones (another port, same
        // TLS parameters) reuse it: the CA file is not read again.
        let before = client_config_builds();
        connect(port1).await.unwrap();
        assert_eq!(client_config_builds(), before + 1);
        connect(port1).await.unwrap();
        connect(port1).await.unwrap();
        connect(port2).await.unwrap_err();
        assert_eq!(client_config_builds(), before + 1);

        // The CA file now holds the other CA, same size, same mtime: the next
        // connect reads it (server1 is no longer trusted, server2 is).
        rewrite_keeping_mtime(&ca_file, &ca2, len);
        let e = connect(port1).await.unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
        assert!(client_config_builds() >= before + 2);
        connect(port2).await.unwrap();

        // A file just changed is read at each connect until it is old enough for
        // its identity to vouch for it; then it is read once more and not again.
        tokio::time::sleep(SETTLE).await;
        connect(port2).await.unwrap();
        let settled = client_config_builds();
        connect(port2).await.unwrap();
        connect(port2).await.unwrap();
        assert_eq!(client_config_builds(), settled);

        // Replaced by a rename (a new inode): read again.
        let tmp = dir.path().join("ca/ca.pem.tmp");
        std::fs::write(&tmp, &ca1).unwrap();
        std::fs::rename(&tmp, &ca_file).unwrap();
        connect(port1).await.unwrap();
        connect(port2).await.unwrap_err();
        assert!(client_config_builds() > settled);
    });
}
