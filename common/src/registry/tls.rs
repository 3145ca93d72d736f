//! TLS settings for one registry host, as Docker and skopeo find them: the
//! system's roots, CA files from a cert dir (`*.crt`), a client certificate
//! pair (`*.cert` + `*.key`), or no verification at all when asked.

use super::RegistryError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where Docker and the containers tools keep per-host certificates.
const CERT_ROOTS: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// The certificate files of one host's cert dir.
#[derive(Default, Debug)]
pub struct CertDir {
    pub cas: Vec<PathBuf>,
    pub client: Option<(PathBuf, PathBuf)>,
}

impl CertDir {
    /// Reads DIR: every `*.crt` is a CA, `NAME.cert` with `NAME.key` a
    /// client pair. A missing directory is an empty one.
    pub fn read(dir: &Path) -> Result<CertDir, RegistryError> {
        let mut out = CertDir::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(tls_err(format!("{}: {e}", dir.display()))),
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            match p.extension().and_then(|e| e.to_str()) {
                Some("crt") => out.cas.push(p),
                Some("cert") => {
                    let key = p.with_extension("key");
                    if !key.exists() {
                        return Err(tls_err(format!(
                            "{}: client certificate without its key {}",
                            p.display(),
                            key.display()
                        )));
                    }
                    out.client = Some((p, key));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The default cert dirs of `host` (`/etc/docker/certs.d/HOST`, …).
    pub fn for_host(host: &str) -> Result<CertDir, RegistryError> {
        let mut all = CertDir::default();
        for root in CERT_ROOTS {
            let d = CertDir::read(&Path::new(root).join(host))?;
            all.cas.extend(d.cas);
            all.client = all.client.or(d.client);
        }
        Ok(all)
    }
}

fn tls_err(message: String) -> RegistryError {
    RegistryError::Tls(message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration: verifying against the system's roots plus
/// `certs.cas`, or not verifying at all.
pub fn client_config(certs: &CertDir, verify: bool) -> Result<Arc<ClientConfig>, RegistryError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let builder = if verify {
        let mut roots = RootCertStore::empty();
        // Unreadable system certificates are skipped, as Go's loader does:
        // one bad file in /etc/ssl must not stop every push.
        let native = rustls_native_certs::load_native_certs().unwrap_or_default();
        roots.add_parsable_certificates(native);
        for ca in &certs.cas {
            let list = read_certs(ca)?;
            let (added, _) = roots.add_parsable_certificates(list);
            if added == 0 {
                return Err(tls_err(format!(
                    "{}: no usable CA certificate",
                    ca.display()
                )));
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let config = match &certs.client {
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(format!("{}: {e}", cert.display())))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let list: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(format!("{}: {e}", path.display())))?
        .collect();
    let list = list.map_err(|e| tls_err(format!("{}: {e}", path.display())))?;
    if list.is_empty() {
        return Err(tls_err(format!("{}: no PEM certificate", path.display())));
    }
    Ok(list)
}

/// `--tls-verify=false`: any certificate is taken, though the handshake's
/// signatures are still checked so the session itself is sound.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_dir_finds_cas_and_client_pairs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.crt"), "x").unwrap();
        std::fs::write(d.path().join("client.cert"), "x").unwrap();
        std::fs::write(d.path().join("client.key"), "x").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        let c = CertDir::read(d.path()).unwrap();
        assert_eq!(c.cas, vec![d.path().join("ca.crt")]);
        assert_eq!(
            c.client,
            Some((d.path().join("client.cert"), d.path().join("client.key")))
        );
        assert!(CertDir::read(&d.path().join("none"))
            .unwrap()
            .cas
            .is_empty());
    }

    #[test]
    fn a_client_cert_without_its_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("client.cert"), "x").unwrap();
        assert!(CertDir::read(d.path()).is_err());
    }

    #[test]
    fn a_ca_file_that_holds_no_certificate_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("ca.crt"), "not pem").unwrap();
        let c = CertDir::read(d.path()).unwrap();
        assert!(client_config(&c, true).is_err());
        assert!(client_config(&CertDir::default(), false).is_ok());
    }
}
