//! The rustls client settings of a `rediss://` node for our own stream ([`super::wire`]): the
//! same trust as the redis crate's (the system's roots, or the URL's `tls_ca` file instead,
//! or no checks at all with `tls_insecure`), with rustls's ring provider.

use std::sync::Arc;

use redis::{RedisError, RedisResult};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::redis::options::Tls;

/// The client settings for `tls`. Loading the system's roots reads files: done once per
/// connection object, not per connect.
pub(crate) fn client_config(tls: &Tls) -> RedisResult<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let config = if tls.insecure {
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoChecks(provider)))
            .with_no_client_auth();
        config.enable_sni = false;
        config
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots.add(cert.map_err(tls_error)?).map_err(tls_error)?;
                }
                if roots.is_empty() {
                    return Err(RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "the CA file holds no PEM certificate",
                    )));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                if let Some(e) = found.errors.into_iter().next() {
                    return Err(tls_error(e));
                }
                roots.add_parsable_certificates(found.certs);
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn tls_error(e: impl std::error::Error + Send + Sync + 'static) -> RedisError {
    RedisError::from(std::io::Error::other(e))
}

/// `tls_insecure`: every certificate is taken (the start-up warning says so); only the
/// handshake's signature is checked against it.
#[derive(Debug)]
struct NoChecks(Arc<CryptoProvider>);

impl ServerCertVerifier for NoChecks {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    // The certificate is not checked, but the handshake is still signed by its key: a peer
    // that cannot sign is refused as with any other verifier.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
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
        verify_tls13_signature(
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
