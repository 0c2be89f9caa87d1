//! Certificate reload (`Listener::reloader`): an `ssl:` server re-reads its
//! certificate and key, a `tls:` server rescans its directory; new handshakes get the
//! new certificate, open connections go on, and a bad new file keeps the old one.
//! Observed with real TLS clients (the certificate each handshake was served).

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use strports_core::quote;
use strports_endpoints::Stream;

use crate::{Backend, Flavor, client, echo_check, finish, server, tcp_address, temp_dir, within};

const LIMIT: Duration = Duration::from_secs(10);

/// A CA and two leaves it signed for `localhost`, 127.0.0.1 and ::1, each as
/// (certificate PEM, key PEM, certificate DER).
struct Material {
    ca: String,
    leaves: [(String, String, Vec<u8>); 2],
}

fn material() -> Material {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params
        .distinguished_name
        .push(DnType::CommonName, "strports reload ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("ca key");
    let ca = params.self_signed(&key).expect("self-signed ca").pem();
    let issuer = Issuer::new(params, key);
    let leaf = |cn: &str| {
        let names = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &issuer).expect("sign leaf");
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    };
    Material {
        ca,
        leaves: [leaf("first"), leaf("second")],
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create directory");
    }
    std::fs::write(path, text).expect("write pem file");
}

fn q(path: &Path) -> String {
    quote(&path.to_string_lossy()).into_owned()
}

/// The certificate the server presented on `stream` (DER).
fn served<R: strports_endpoints::Runtime>(stream: &Stream<R>) -> Vec<u8> {
    let Stream::Tls(tls) = stream else {
        panic!("not a tls stream");
    };
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("peer certificates");
    certs.first().expect("a certificate").to_vec()
}

/// Connects with `desc` and returns the stream after an echo round trip.
async fn connect<F: Flavor>(desc: &str) -> Stream<F::Rt> {
    let desc = client(desc);
    let mut stream = within::<F, _>(LIMIT, "connect", F::connect(&desc))
        .await
        .unwrap_or_else(|e| panic!("connect {desc}: {e}"));
    echo_check::<F>(&mut stream, b"hello").await;
    stream
}

/// `ssl:` server: `reload()` re-reads the certificate and key files; the next
/// handshake is served the new certificate while a connection opened before goes
/// on; a new key that does not match the certificate fails the reload (naming the
/// server and the file) and the certificate served stays the previous one.
pub async fn reload_ssl_new_handshakes_get_the_new_certificate<F: Flavor>() {
    let dir = temp_dir();
    let m = material();
    let (cert, key, ca) = (
        dir.path().join("cert.pem"),
        dir.path().join("key.pem"),
        dir.path().join("ca/ca.pem"),
    );
    write(&ca, &m.ca);
    write(&cert, &m.leaves[0].0);
    write(&key, &m.leaves[0].1);
    let desc = format!(
        "ssl:0:interface=127.0.0.1:certKey={}:privateKey={}",
        q(&cert),
        q(&key)
    );
    let listener = F::listen(&server(&desc)).await.expect("listen");
    let reloader = listener.reloader();
    assert_eq!(
        reloader
            .servers()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [server(&desc).to_string()]
    );
    let serving = F::serve_echo(listener);
    let port = tcp_address(&F::serving_address(&serving).expect("address")).port();
    let connect_desc = format!(
        "ssl:127.0.0.1:{port}:hostname=localhost:caCertsDir={}",
        q(&dir.path().join("ca"))
    );

    let mut before = connect::<F>(&connect_desc).await;
    assert!(served(&before) == m.leaves[0].2, "the first certificate");

    write(&cert, &m.leaves[1].0);
    write(&key, &m.leaves[1].1);
    let reloaded = within::<F, _>(LIMIT, "reload", reloader.reload()).await;
    assert_eq!(reloaded.expect("reload"), 1);
    let mut after = connect::<F>(&connect_desc).await;
    assert!(
        served(&after) == m.leaves[1].2,
        "a handshake after the reload gets the new certificate"
    );
    echo_check::<F>(&mut before, b"the connection opened before goes on").await;

    // A key that does not match the certificate: the reload fails, nothing changes.
    write(&key, &m.leaves[0].1);
    let error = within::<F, _>(LIMIT, "reload", reloader.reload())
        .await
        .expect_err("a key that does not match its certificate");
    let text = error.to_string();
    assert!(
        text.contains("cannot reload the certificates of ssl:"),
        "{text}"
    );
    assert!(text.contains("key.pem"), "{text}");
    assert_eq!((error.failures().len(), error.reloaded()), (1, 0));
    let mut later = connect::<F>(&connect_desc).await;
    assert!(
        served(&later) == m.leaves[1].2,
        "after a failed reload the previous certificate is served"
    );
    for stream in [&mut before, &mut after, &mut later] {
        finish::<F>(stream).await;
    }
    within::<F, _>(LIMIT, "stop", F::stop(serving)).await;
}

/// `tls:` server: `reload()` rescans the directory (a replaced file gives the new
/// certificate to new handshakes, open connections go on); a directory left
/// without a certificate fails the reload and the old certificates stay.
pub async fn reload_tls_directory_is_rescanned<F: Flavor>() {
    let dir = temp_dir();
    let m = material();
    let (site, ca) = (
        dir.path().join("certs/site.pem"),
        dir.path().join("ca/ca.pem"),
    );
    write(&ca, &m.ca);
    write(&site, &format!("{}\n{}", m.leaves[0].0, m.leaves[0].1));
    let desc = format!("tls:{}:0:interface=\\:\\:1", q(&dir.path().join("certs")));
    let listener = F::listen(&server(&desc)).await.expect("listen");
    let reloader = listener.reloader();
    let serving = F::serve_echo(listener);
    let port = tcp_address(&F::serving_address(&serving).expect("address")).port();
    let connect_desc = format!(
        "ssl:\\:\\:1:{port}:hostname=localhost:caCertsDir={}",
        q(&dir.path().join("ca"))
    );

    let mut before = connect::<F>(&connect_desc).await;
    assert!(served(&before) == m.leaves[0].2, "the first certificate");
    write(&site, &format!("{}\n{}", m.leaves[1].0, m.leaves[1].1));
    let reloaded = within::<F, _>(LIMIT, "reload", reloader.reload()).await;
    assert_eq!(reloaded.expect("reload"), 1);
    let mut after = connect::<F>(&connect_desc).await;
    assert!(
        served(&after) == m.leaves[1].2,
        "a handshake after the rescan gets the new certificate"
    );
    echo_check::<F>(&mut before, b"the connection opened before goes on").await;

    std::fs::remove_file(&site).expect("remove the certificate");
    let error = within::<F, _>(LIMIT, "reload", reloader.reload())
        .await
        .expect_err("a directory without a certificate");
    assert!(error.to_string().contains("no certificate"), "{error}");
    let mut later = connect::<F>(&connect_desc).await;
    assert!(served(&later) == m.leaves[1].2, "the old certificates stay");
    for stream in [&mut before, &mut after, &mut later] {
        finish::<F>(stream).await;
    }
    within::<F, _>(LIMIT, "stop", F::stop(serving)).await;
}

/// Listeners without certificate files give a reloader that does nothing;
/// `haproxy:ssl:` gives one for its `ssl:` server.
pub async fn reload_without_certificates_does_nothing<F: Flavor>() {
    let listener = F::listen(&server("tcp:0:interface=127.0.0.1"))
        .await
        .expect("listen");
    let reloader = listener.reloader();
    assert!(reloader.is_empty());
    assert_eq!(reloader.reload().await.expect("nothing to reload"), 0);

    let dir = temp_dir();
    let m = material();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    write(&cert, &m.leaves[0].0);
    write(&key, &m.leaves[0].1);
    let ssl = format!(
        "ssl:0:interface=127.0.0.1:certKey={}:privateKey={}",
        q(&cert),
        q(&key)
    );
    let proxied = F::listen(&server(&format!("haproxy:{ssl}")))
        .await
        .expect("listen");
    let joined: strports_endpoints::Reloader<F::Rt> = [listener.reloader(), proxied.reloader()]
        .into_iter()
        .collect();
    assert_eq!(
        joined
            .servers()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [server(&ssl).to_string()]
    );
    assert_eq!(joined.reload().await.expect("reload"), 1);
}
