//! SIP over TLS (RFC 3261 §26, RFC 5922) with rustls: the client side checks each server's
//! certificate against the account's `tls_ca`, the `[tls] ca` or the system's roots, and its
//! name against the SIP domain the engine says it meant to reach ([`engine::TlsPeer`]); the
//! server side (a `tls:` listener) presents `[tls] cert`/`key`, which are also offered as the
//! client certificate when a server asks for one. TLS 1.2 and 1.3, with ring as the provider.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use thiserror::Error;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::warn;

/// The `[tls]` files.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// The certificate chain (PEM) a `tls:` listener presents, also offered as the client
    /// certificate.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// Authorities (PEM) trusted for servers' certificates instead of the system's roots.
    pub ca: Option<PathBuf>,
}

impl TlsFiles {
    /// Reads the files as a start would: a missing, unreadable or wrong file is named.
    ///
    /// # Errors
    /// What is wrong with the first bad file.
    pub fn check(&self) -> Result<(), TlsError> {
        Tls::new(self).map(|_| ())
    }
}

/// Reads a CA file (`what` names it in the error: an account's `tls_ca`, the webhook's) as
/// a connection would.
///
/// # Errors
/// The file cannot be read or holds no certificate.
pub fn check_ca_file(what: &'static str, path: &Path) -> Result<(), TlsError> {
    read_certs(what, path).map(|_| ())
}

/// The TLS set-up cannot be made from the files given.
#[derive(Debug, Error)]
pub enum TlsError {
    /// Only one of `cert` and `key`.
    #[error("[tls] cert and key go together: set both or neither")]
    Half,
    /// A file that cannot be read or holds no certificate / key.
    #[error("{what} {path}: {why}")]
    File {
        /// Which file.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// rustls refused the certificate and key.
    #[error("[tls] cert and key: {0}")]
    Identity(rustls::Error),
    /// rustls refused a set-up (protocol versions, a client certificate).
    #[error("TLS set-up: {0}")]
    Setup(rustls::Error),
    /// A certificate from a CA file that rustls will not trust.
    #[error("{what} {path}: {why}")]
    Anchor {
        /// Which file.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// What rustls said.
        why: rustls::Error,
    },
    /// No CA file and no trusted certificates on this system.
    #[error("no trusted certificates on this system; set {0} to a PEM file")]
    NoSystemRoots(&'static str),
    /// A server name that cannot be checked against a certificate.
    #[error("{0:?} is not a DNS name or an IP address")]
    Name(String),
}

/// What a connection needs to be secured: from the engine's [`engine::TlsPeer`], or the
/// address itself when the engine said nothing of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Trust {
    ca: Option<String>,
    insecure: bool,
}

/// The TLS side of the transport layer.
pub(crate) struct Tls {
    provider: Arc<CryptoProvider>,
    default_ca: Option<PathBuf>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    acceptor: Option<TlsAcceptor>,
    clients: HashMap<Trust, Arc<ClientConfig>>,
    peers: HashMap<SocketAddr, engine::TlsPeer>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("listener", &self.acceptor.is_some())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the files; a bad one is an error now rather than at the first connection.
    pub(crate) fn new(files: &TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let identity = match (&files.cert, &files.key) {
            (Some(cert), Some(key)) => Some((read_certs("[tls] cert", cert)?, read_key(key)?)),
            (None, None) => None,
            _ => return Err(TlsError::Half),
        };
        if let Some(ca) = &files.ca {
            read_certs("[tls] ca", ca)?;
        }
        let acceptor = match &identity {
            Some((chain, key)) => {
                let config = ServerConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                    .map_err(TlsError::Identity)?
                    .with_no_client_auth()
                    .with_single_cert(chain.clone(), key.clone_key())
                    .map_err(TlsError::Identity)?;
                Some(TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        Ok(Self {
            provider,
            default_ca: files.ca.clone(),
            identity,
            acceptor,
            clients: HashMap::new(),
            peers: HashMap::new(),
        })
    }

    /// The acceptor for a `tls:` listener; `None` without `[tls] cert` and `key`.
    pub(crate) fn acceptor(&self) -> Option<TlsAcceptor> {
        self.acceptor.clone()
    }

    /// Remembers how the server at `peer.addr` is to be checked.
    pub(crate) fn set_peer(&mut self, peer: engine::TlsPeer) {
        self.peers.insert(peer.addr, peer);
    }

    /// A connector for `addr` and the name its certificate must carry; an error names why
    /// none can be made (an unreadable CA file).
    pub(crate) fn connector(
        &mut self,
        addr: SocketAddr,
    ) -> Result<(TlsConnector, ServerName<'static>), TlsError> {
        let (name, trust) = match self.peers.get(&addr) {
            Some(peer) => (
                peer.name.clone(),
                Trust {
                    ca: peer.ca.clone(),
                    insecure: peer.insecure,
                },
            ),
            None => (
                addr.ip().to_string(),
                Trust {
                    ca: None,
                    insecure: false,
                },
            ),
        };
        let server_name =
            ServerName::try_from(name.clone()).map_err(|_| TlsError::Name(name.clone()))?;
        let config = match self.clients.get(&trust) {
            Some(config) => config.clone(),
            None => {
                let config = Arc::new(self.client_config(&trust)?);
                self.clients.insert(trust, config.clone());
                config
            }
        };
        Ok((TlsConnector::from(config), server_name))
    }

    fn client_config(&self, trust: &Trust) -> Result<ClientConfig, TlsError> {
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(TlsError::Setup)?;
        let builder = if trust.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(self.provider.clone())))
        } else {
            builder.with_root_certificates(self.roots(trust.ca.as_deref())?)
        };
        match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(TlsError::Setup),
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// The account's CA file, else `[tls] ca`, else the system's roots.
    fn roots(&self, ca: Option<&str>) -> Result<RootCertStore, TlsError> {
        let what = if ca.is_some() { "tls_ca" } else { "[tls] ca" };
        let file = ca.map(PathBuf::from).or_else(|| self.default_ca.clone());
        roots(what, file)
    }
}

/// A client set-up for HTTPS (the webhook): trusting `ca` or the system's roots.
pub(crate) fn web_client(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Setup)?
        .with_root_certificates(roots("webhook ca", ca.map(Path::to_owned))?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Trust anchors from a PEM file, or the system's.
fn roots(what: &'static str, file: Option<PathBuf>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(path) => {
            for cert in read_certs(what, &path)? {
                roots.add(cert).map_err(|why| TlsError::Anchor {
                    what,
                    path: path.clone(),
                    why,
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                warn!(error = %e, "reading the system's trusted certificates");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::NoSystemRoots(what));
            }
        }
    }
    Ok(roots)
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = |why: String| TlsError::File {
        what,
        path: path.to_owned(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file(e.to_string()))?;
    if certs.is_empty() {
        return Err(file("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        what: "[tls] key",
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// `tls_insecure`: any certificate is taken, but the handshake's signatures are still checked
/// against it (so the peer holds the key of the certificate it showed).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
