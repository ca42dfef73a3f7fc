//! TLS for the server and the client (the `tls` feature), with rustls.
//!
//! [`TlsStream`] is rustls driven by hand over a green socket, so that its
//! state is never held across a park and one green thread may read while
//! another writes. [`Server::tls`](crate::http::Server::tls) serves HTTPS
//! with a [`ServerTls`]; the [`Client`](crate::http::Client) speaks
//! `https://`, verifying certificates against Mozilla's roots (the
//! `webpki-roots` crate) plus any added with
//! [`client::Builder::add_root_certificate`](crate::http::client::Builder::add_root_certificate).
//! There is no switch that turns verification off.
//!
//! rustls is re-exported so that a `ServerConfig` built by hand uses the
//! same version.

mod stream;

use std::io;
use std::path::Path;
use std::sync::Arc;

pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use stream::TlsStream;

/// The protocol a TLS server offers and a client asks for through ALPN.
const ALPN_HTTP11: &[u8] = b"http/1.1";
/// HTTP/2's ALPN name, offered first by a server with the `http2` feature.
#[cfg(feature = "http2")]
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// What a server offers through ALPN, most preferred first.
fn server_alpn() -> Vec<Vec<u8>> {
    #[cfg(feature = "http2")]
    return vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
    #[cfg(not(feature = "http2"))]
    vec![ALPN_HTTP11.to_vec()]
}

/// A server's TLS settings: its certificate chain and key, as a rustls
/// `ServerConfig`. Made from PEM files ([`from_pem_files`](Self::from_pem_files)),
/// PEM bytes, or a `ServerConfig` of your own (`ServerTls::from(config)`);
/// ALPN is set to `h2` then `http/1.1` (`http/1.1` alone without the `http2`
/// feature) unless the config names protocols itself.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// Reads a certificate chain (leaf first) and a private key (PKCS#8,
    /// PKCS#1 or SEC1) from PEM files, as nginx's `ssl_certificate` and
    /// `ssl_certificate_key` take them.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<ServerTls> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let cert_pem = std::fs::read(cert).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", cert.display())))?;
        let key_pem = std::fs::read(key).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", key.display())))?;
        ServerTls::from_pem(&cert_pem, &key_pem).map_err(|e| {
            io::Error::new(e.kind(), format!("{e} (certificate {}, key {})", cert.display(), key.display()))
        })
    }

    /// The same from PEM bytes.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<ServerTls> {
        let certs = parse_certs(cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid(format!("no usable private key: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid(format!("certificate and key do not make a TLS configuration: {e}")))?;
        Ok(ServerTls::from(config))
    }

    /// The rustls configuration in use.
    pub fn config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}

impl From<rustls::ServerConfig> for ServerTls {
    fn from(mut config: rustls::ServerConfig) -> ServerTls {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = server_alpn();
        }
        ServerTls { config: Arc::new(config) }
    }
}

impl From<Arc<rustls::ServerConfig>> for ServerTls {
    fn from(config: Arc<rustls::ServerConfig>) -> ServerTls {
        if config.alpn_protocols.is_empty() {
            return ServerTls::from((*config).clone());
        }
        ServerTls { config }
    }
}

/// The crypto in use: `ring`, whatever another crate in the build may have
/// installed as the process default.
///
/// rustls 0.23.48 deprecates `crypto::ring::default_provider` for one
/// reason: ring has no post-quantum key exchange (its provider moves to the
/// `rustls-ring` crate in rustls 0.24, with no other 0.23 entry point).
/// ring stays the choice here because it builds with a C compiler alone;
/// the allowance keeps the deprecation from warning in every build that
/// depends on greenloop.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM text; an error if there is none.
pub(crate) fn parse_certs(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no certificate found in the PEM text (expected -----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

/// The client's configuration: Mozilla's roots plus `extra` ones, ALPN `http/1.1`.
pub(crate) fn client_config(extra: &[CertificateDer<'static>]) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| invalid(format!("unusable root certificate: {e}")))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
