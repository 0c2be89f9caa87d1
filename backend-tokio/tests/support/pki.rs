//! Test certificates, made by rcgen: a CA and a server certificate for `localhost`
//! signed by it. Shared by the HTTP tests of `strports-tokio` and `strports-smol`.

use std::error::Error;
use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// The description parameters of a TLS server and of a client that trusts it, for
/// the files this writes in `dir` (`quote` escapes a path for a description).
pub struct Pki {
    /// `certKey=...:privateKey=...`, for an `ssl:` server.
    pub server: String,
    /// `hostname=localhost:caCertsDir=...`, for an `ssl:` client.
    pub client: String,
}

/// Writes a CA (`ca/ca.pem`) and a server certificate for `localhost` signed by it
/// (`server.pem`, `server.key`) in `dir`.
pub fn make_pki(
    dir: &Path,
    quote: impl Fn(&str) -> String,
) -> Result<Pki, Box<dyn Error + Send + Sync>> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_pem = ca.self_signed(&ca_key)?.pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(dir.join("ca"))?;
    std::fs::write(dir.join("ca/ca.pem"), ca_pem)?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    std::fs::write(dir.join("server.key"), key.serialize_pem())?;
    let path = |name: &str| quote(&dir.join(name).to_string_lossy());
    Ok(Pki {
        server: format!(
            "certKey={}:privateKey={}",
            path("server.pem"),
            path("server.key")
        ),
        client: format!("hostname=localhost:caCertsDir={}", path("ca")),
    })
}
