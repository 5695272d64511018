//! TLS for `tcp://` listeners, with dockerd's flag semantics: `--tlsverify`
//! requires client certificates that chain to `--tlscacert`; `--tls` alone
//! encrypts without authenticating clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use berth_common::daemon_config::DaemonConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// No TLS. `explicit` when the user said `--tls=false`, the only way
    /// plain TCP is allowed.
    Off {
        explicit: bool,
    },
    Tls {
        cert: PathBuf,
        key: PathBuf,
    },
    Verify {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
}

impl Mode {
    pub fn from_config(c: &DaemonConfig) -> Mode {
        let dir = default_cert_dir();
        let cert = c.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem"));
        let key = c.tlskey.clone().unwrap_or_else(|| dir.join("key.pem"));
        if c.tls_enabled() && c.tls_verify() {
            let ca = c.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem"));
            Mode::Verify { ca, cert, key }
        } else if c.tls_enabled() {
            Mode::Tls { cert, key }
        } else {
            Mode::Off {
                explicit: c.tls == Some(false),
            }
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Mode::Off { .. })
    }
}

/// dockerd's default: `$DOCKER_CERT_PATH`, else `~/.docker`.
fn default_cert_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKER_CERT_PATH") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".docker")
}

pub fn acceptor(mode: &Mode) -> anyhow::Result<TlsAcceptor> {
    let builder = rustls::ServerConfig::builder();
    let (builder, cert, key) = match mode {
        Mode::Off { .. } => bail!("TLS is not enabled"),
        Mode::Tls { cert, key } => (builder.with_no_client_auth(), cert, key),
        Mode::Verify { ca, cert, key } => {
            let mut roots = RootCertStore::empty();
            for c in load_certs(ca, "--tlscacert")? {
                roots
                    .add(c)
                    .with_context(|| format!("invalid CA certificate in {}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .context("cannot build the client certificate verifier")?;
            (builder.with_client_cert_verifier(verifier), cert, key)
        }
    };
    let chain = load_certs(cert, "--tlscert")?;
    let key_der = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read the TLS key {} (--tlskey): it must be a PEM private key",
            key.display()
        )
    })?;
    let mut config = builder
        .with_single_cert(chain, key_der)
        .context("the TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_certs(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {} ({flag})", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} ({flag}) is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{} ({flag}) holds no certificate", path.display());
    }
    Ok(certs)
}
