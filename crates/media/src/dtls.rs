//! DTLS-SRTP keying (RFC 5763, RFC 5764): the certificate fingerprint and `a=setup` role an
//! exchange carries, and the handshake on the media port that yields the SRTP keys.
//!
//! The handshake is rtc-dtls's sans-IO endpoint: datagrams in, datagrams out, time passed in.
//! The peer's certificate is self-signed, as everywhere in DTLS-SRTP; what makes it the peer's
//! is that its digest matches the `a=fingerprint` of the signalled description, checked here
//! before any key is used. The handshake draws its randoms from the operating system through
//! its crypto provider (ring); the certificate is made once per run by the runtime.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc_dtls::config::{ClientAuthType, ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig};
use rtc_dtls::crypto::Certificate;
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use shared::TransportProtocol;
use thiserror::Error;

use crate::keying::SrtpKeys;
use crate::srtp::{MasterKey, Suite};

/// How long a handshake may take from the stream's start before the media is given up.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Why DTLS could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtlsError {
    /// An `a=fingerprint` value does not read (RFC 8122 §5).
    #[error("a=fingerprint does not read: {0}")]
    Fingerprint(String),
    /// The certificate or the handshake configuration could not be made.
    #[error("DTLS: {0}")]
    Setup(String),
}

/// The hash of a certificate fingerprint (RFC 8122 §5; MD2 and MD5 are not taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintHash {
    /// `sha-1`.
    Sha1,
    /// `sha-256`, what recall sends.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl FingerprintHash {
    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    fn algorithm(self) -> &'static ring::digest::Algorithm {
        match self {
            Self::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &ring::digest::SHA256,
            Self::Sha384 => &ring::digest::SHA384,
            Self::Sha512 => &ring::digest::SHA512,
        }
    }
}

/// A certificate fingerprint, `a=fingerprint:sha-256 AB:CD:…` (RFC 8122).
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint {
    hash: FingerprintHash,
    digest: Vec<u8>,
}

impl Fingerprint {
    /// The fingerprint of a DER certificate under `hash`.
    #[must_use]
    pub fn of(der: &[u8], hash: FingerprintHash) -> Self {
        Self {
            hash,
            digest: ring::digest::digest(hash.algorithm(), der)
                .as_ref()
                .to_vec(),
        }
    }

    /// Reads an `a=fingerprint` value: a hash name (any case) and the digest as colon-separated
    /// hex pairs of the hash's length.
    ///
    /// # Errors
    /// An unknown hash, a malformed digest or one of the wrong length.
    pub fn parse(value: &str) -> Result<Self, DtlsError> {
        let bad = |why: &str| DtlsError::Fingerprint(format!("{why} in {value:?}"));
        let (name, hex) = value
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("no digest"))?;
        let hash = match name.to_ascii_lowercase().as_str() {
            "sha-1" => FingerprintHash::Sha1,
            "sha-256" => FingerprintHash::Sha256,
            "sha-384" => FingerprintHash::Sha384,
            "sha-512" => FingerprintHash::Sha512,
            _ => return Err(bad("an unsupported hash")),
        };
        let digest = hex
            .trim()
            .split(':')
            .map(|pair| {
                if pair.len() == 2 {
                    u8::from_str_radix(pair, 16).ok()
                } else {
                    None
                }
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| bad("a digest that is not colon-separated hex pairs"))?;
        if digest.len() != hash.algorithm().output_len() {
            return Err(bad("a digest of the wrong length"));
        }
        Ok(Self { hash, digest })
    }

    /// Whether a DER certificate has this fingerprint.
    #[must_use]
    pub fn matches(&self, der: &[u8]) -> bool {
        Self::of(der, self.hash).digest == self.digest
    }

    /// The attribute value, upper-case hex as RFC 8122 §5 writes it.
    #[must_use]
    pub fn to_value(&self) -> String {
        let hex: Vec<String> = self.digest.iter().map(|b| format!("{b:02X}")).collect();
        format!("{} {}", self.hash.name(), hex.join(":"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_value())
    }
}

/// The `a=setup` role (RFC 4145 §4, RFC 5763 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Starts the handshake (the DTLS client).
    Active,
    /// Waits for it (the DTLS server).
    Passive,
    /// Either: what an offer says.
    ActPass,
    /// Neither, for now.
    HoldConn,
}

impl Setup {
    /// Reads an `a=setup` value.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "active" => Some(Self::Active),
            "passive" => Some(Self::Passive),
            "actpass" => Some(Self::ActPass),
            "holdconn" => Some(Self::HoldConn),
            _ => None,
        }
    }

    /// The attribute value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }
}

/// This run's DTLS certificate (self-signed, ECDSA P-256) and its SHA-256 fingerprint.
#[derive(Clone)]
pub struct DtlsIdentity {
    certificate: Certificate,
    fingerprint: Fingerprint,
}

impl fmt::Debug for DtlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("DtlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DtlsIdentity {
    /// A fresh certificate. The runtime makes one per run (RFC 8827 §6.5's privacy advice);
    /// its key comes from the operating system's random source.
    ///
    /// # Errors
    /// When the key or certificate cannot be made.
    pub fn generate() -> Result<Self, DtlsError> {
        let provider = rtc_dtls::crypto_provider::default_provider()
            .map_err(|e| DtlsError::Setup(e.to_string()))?;
        let certificate = Certificate::generate_self_signed_with_alg(
            vec!["recall".to_owned()],
            &rcgen::PKCS_ECDSA_P256_SHA256,
            provider.crypto(),
        )
        .map_err(|e| DtlsError::Setup(e.to_string()))?;
        let der = certificate
            .certificate
            .first()
            .ok_or_else(|| DtlsError::Setup("no certificate was made".to_owned()))?;
        let fingerprint = Fingerprint::of(der.as_ref(), FingerprintHash::Sha256);
        Ok(Self {
            certificate,
            fingerprint,
        })
    }

    /// The fingerprint our descriptions carry.
    #[must_use]
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// What an exchange agreed for DTLS-SRTP: our role and the certificate the peer must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtlsAgreed {
    /// We start the handshake (`a=setup:active` on our side).
    pub client: bool,
    /// The peer's `a=fingerprint`.
    pub remote_fingerprint: Fingerprint,
}

/// What a datagram or a timer did to the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DtlsOutcome {
    /// Nothing to act on.
    Nothing,
    /// The handshake completed and the peer proved the signalled certificate: these keys.
    Keyed(SrtpKeys),
    /// The handshake failed for good.
    Failed(String),
}

fn profile(suite: Suite) -> SrtpProtectionProfile {
    match suite {
        Suite::AesCm128HmacSha1_80 => SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
        Suite::AesCm128HmacSha1_32 => SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_32,
        Suite::AeadAes128Gcm => SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
    }
}

fn suite_of(profile: SrtpProtectionProfile) -> Option<Suite> {
    Suite::ALL
        .into_iter()
        .find(|suite| self::profile(*suite) == profile)
}

/// One stream's DTLS association: the handshake, then nothing but its keys (RTP and RTCP
/// are SRTP on the same port; DTLS records after the handshake are only alerts).
pub(crate) struct DtlsTransport {
    endpoint: Endpoint,
    config: Arc<HandshakeConfig>,
    client: bool,
    remote_fingerprint: Fingerprint,
    /// Where the association is: the address we connect to, or the client that reached us.
    peer: Option<SocketAddr>,
    /// When the handshake must be done by (from the first use).
    deadline: Option<Instant>,
    done: bool,
    /// Whether the endpoint may have datagrams queued: set by whatever feeds it, cleared when
    /// it has none. A keyed call polls its transmits every 20 ms; asking rtc-dtls each time
    /// reached into its state for nothing (cache misses per packet with hundreds of calls).
    may_transmit: bool,
}

impl fmt::Debug for DtlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtlsTransport")
            .field("client", &self.client)
            .field("peer", &self.peer)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl DtlsTransport {
    /// An association in the agreed role, offering `suites` in this order.
    pub(crate) fn new(
        identity: &DtlsIdentity,
        agreed: &DtlsAgreed,
        suites: &[Suite],
    ) -> Result<Self, DtlsError> {
        let provider = rtc_dtls::crypto_provider::default_provider()
            .map_err(|e| DtlsError::Setup(e.to_string()))?;
        let config = ConfigBuilder::default()
            .with_crypto_provider(provider)
            .with_certificates(vec![identity.certificate.clone()])
            .with_srtp_protection_profiles(suites.iter().copied().map(profile).collect())
            .with_extended_master_secret(ExtendedMasterSecretType::Request)
            // Self-signed on both sides: the fingerprint check below is the verification.
            .with_insecure_skip_verify(true)
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            .build(agreed.client, None)
            .map_err(|e| DtlsError::Setup(e.to_string()))?;
        let config = Arc::new(config);
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let server = (!agreed.client).then(|| config.clone());
        Ok(Self {
            endpoint: Endpoint::new(unspecified, TransportProtocol::UDP, server),
            config,
            client: agreed.client,
            remote_fingerprint: agreed.remote_fingerprint.clone(),
            peer: None,
            deadline: None,
            done: false,
            may_transmit: false,
        })
    }

    /// Whether the handshake is over (keyed).
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// Starts the clock, and as the client the handshake towards `remote`.
    pub(crate) fn start(&mut self, now: Instant, remote: Option<SocketAddr>) -> DtlsOutcome {
        self.deadline.get_or_insert(now + HANDSHAKE_DEADLINE);
        if self.client
            && self.peer.is_none()
            && let Some(remote) = remote
        {
            self.peer = Some(remote);
            self.may_transmit = true;
            if let Err(e) = self
                .endpoint
                .connect(now, remote, self.config.clone(), None)
            {
                return DtlsOutcome::Failed(format!("DTLS handshake could not start: {e}"));
            }
        }
        DtlsOutcome::Nothing
    }

    /// A DTLS datagram from `from`.
    pub(crate) fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> DtlsOutcome {
        self.deadline.get_or_insert(now + HANDSHAKE_DEADLINE);
        match self.peer {
            // Only the association's peer is heard; a server takes the first client.
            Some(peer) if peer != from => return DtlsOutcome::Nothing,
            None if self.client => return DtlsOutcome::Nothing,
            None => self.peer = Some(from),
            Some(_) => {}
        }
        self.may_transmit = true;
        let events = match self.endpoint.read(now, from, None, BytesMut::from(bytes)) {
            Ok(events) => events,
            Err(e) if !self.done && e.to_string().contains("alert") => {
                return DtlsOutcome::Failed(format!("the peer ended the DTLS handshake: {e}"));
            }
            Err(e) => {
                tracing::debug!(%from, error = %e, "DTLS datagram not taken");
                return DtlsOutcome::Nothing;
            }
        };
        let mut outcome = DtlsOutcome::Nothing;
        for event in events {
            if matches!(event, EndpointEvent::HandshakeComplete) && !self.done {
                outcome = self.keys(from);
            }
        }
        outcome
    }

    /// Retransmits a flight that is due; fails a handshake past its deadline.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> DtlsOutcome {
        if self.done {
            return DtlsOutcome::Nothing;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            return DtlsOutcome::Failed(format!(
                "no DTLS handshake within {} s (is the peer's media port reachable?)",
                HANDSHAKE_DEADLINE.as_secs()
            ));
        }
        if let Some(peer) = self.peer
            && self
                .endpoint
                .poll_timeout(&peer)
                .is_some_and(|due| now >= due)
            && let Err(e) = {
                self.may_transmit = true;
                self.endpoint.handle_timeout(peer, now)
            }
        {
            // Only a flight retransmitted to exhaustion fails here.
            tracing::debug!(error = %e, "DTLS retransmissions exhausted");
            return DtlsOutcome::Failed(
                "no DTLS handshake: the peer did not answer its flights (is its media port \
                 reachable?)"
                    .to_owned(),
            );
        }
        DtlsOutcome::Nothing
    }

    /// The next DTLS datagram to send, and where.
    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        if !self.may_transmit {
            return None;
        }
        let next = self
            .endpoint
            .poll_transmit()
            .map(|t| (t.transport.peer_addr, t.message.to_vec()));
        self.may_transmit = next.is_some();
        next
    }

    /// The completed handshake's keys, once the peer's certificate proves to be the signalled
    /// one (RFC 5763 §5).
    fn keys(&mut self, peer: SocketAddr) -> DtlsOutcome {
        let Some(state) = self.endpoint.get_connection_state(peer) else {
            return DtlsOutcome::Failed("the DTLS association vanished".to_owned());
        };
        let Some(certificate) = state.peer_certificates.first() else {
            return DtlsOutcome::Failed("the peer showed no DTLS certificate".to_owned());
        };
        if !self.remote_fingerprint.matches(certificate) {
            return DtlsOutcome::Failed(
                "the peer's DTLS certificate does not match its a=fingerprint".to_owned(),
            );
        }
        let Some(suite) = suite_of(state.srtp_protection_profile()) else {
            return DtlsOutcome::Failed("no SRTP protection profile was agreed".to_owned());
        };
        let (key, salt) = (suite.key_len(), suite.salt_len());
        // RFC 5764 §4.2: client key, server key, client salt, server salt.
        let material =
            match state.export_keying_material("EXTRACTOR-dtls_srtp", &[], 2 * (key + salt)) {
                Ok(material) => material,
                Err(e) => return DtlsOutcome::Failed(format!("DTLS key export failed: {e}")),
            };
        let material: &[u8] = material.as_ref();
        let half = |k: usize, s: usize| -> Vec<u8> {
            let mut bytes = material[k * key..(k + 1) * key].to_vec();
            bytes.extend_from_slice(&material[2 * key + s * salt..2 * key + (s + 1) * salt]);
            bytes
        };
        let (client, server) = (half(0, 0), half(1, 1));
        let (ours, theirs) = if self.client {
            (client, server)
        } else {
            (server, client)
        };
        match (MasterKey::new(suite, &ours), MasterKey::new(suite, &theirs)) {
            (Ok(local), Ok(remote)) => {
                self.done = true;
                DtlsOutcome::Keyed(SrtpKeys { local, remote })
            }
            _ => DtlsOutcome::Failed("DTLS exported keys of the wrong length".to_owned()),
        }
    }
}

/// Whether a datagram on a media port is DTLS (RFC 7983 §7: first byte 20 to 63).
#[must_use]
pub fn is_dtls(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| (20..=63).contains(b))
}

#[cfg(test)]
mod tests;
