//! SRTP and SRTCP (RFC 3711; AEAD_AES_128_GCM from RFC 7714) for a call's media, and the
//! SDES key exchange of RFC 4568 (`a=crypto`).
//!
//! The packet transforms are in `transform`: ours, on ring's AES-GCM and RustCrypto's AES and
//! HMAC-SHA1, checked against libsrtp's reference packets and against rtc-srtp (the
//! webrtc-rs stack) packet for packet; ARCHITECTURE.md says why. What else is here: the
//! choice of suites, the `a=crypto` lines, and the counting of what fails.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use transform::Direction;

/// An SRTP crypto suite, by its RFC 4568 / RFC 7714 name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 tag of 80 bits (the default everywhere).
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag (4 bytes less a packet; weaker authentication).
    AesCm128HmacSha1_32,
    /// AES-128 in Galois/counter mode (RFC 7714), 16-byte tag.
    AeadAes128Gcm,
}

impl Suite {
    /// Every suite, in the order we offer them.
    pub const ALL: [Suite; 3] = [
        Suite::AesCm128HmacSha1_80,
        Suite::AesCm128HmacSha1_32,
        Suite::AeadAes128Gcm,
    ];

    /// Its name in `a=crypto` (and in the call view).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    /// The suite a name stands for (case as written in RFC 4568 and RFC 7714).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Master key length in bytes.
    #[must_use]
    pub fn key_len(self) -> usize {
        16
    }

    /// Master salt length in bytes (RFC 3711: 112 bits; RFC 7714: 96 bits).
    #[must_use]
    pub fn salt_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 | Self::AesCm128HmacSha1_32 => 14,
            Self::AeadAes128Gcm => 12,
        }
    }

    /// Bytes of SRTP authentication tag after each RTP packet.
    fn rtp_tag_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
            Self::AeadAes128Gcm => 16,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What can go wrong with SRTP: keys that do not fit, and packets that do not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The key material is not the suite's key and salt.
    #[error("{suite} needs {expected} bytes of key and salt, not {got}")]
    KeyLength {
        /// The suite.
        suite: Suite,
        /// Its key and salt length.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// The two directions were keyed for different suites.
    #[error("the keys are for different suites ({0} and {1})")]
    SuiteMismatch(Suite, Suite),
    /// An `a=crypto` attribute that does not read.
    #[error("a=crypto {line:?}: {why}")]
    BadAttribute {
        /// The attribute's value.
        line: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A packet whose authentication tag is wrong: forged, damaged, or keyed otherwise.
    #[error("authentication failed")]
    AuthFailed,
    /// A packet seen before (RFC 3711 §3.3.2).
    #[error("replayed packet")]
    Replayed,
    /// A packet too short or otherwise not SRTP.
    #[error("not an SRTP packet: {0}")]
    Malformed(String),
}

/// An SRTP master key and salt for one direction of one suite.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: Suite,
    /// Key then salt.
    material: Vec<u8>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("MasterKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A key from its key-and-salt bytes.
    ///
    /// # Errors
    /// When `material` is not the suite's key and salt length.
    pub fn new(suite: Suite, material: &[u8]) -> Result<Self, SrtpError> {
        let expected = suite.key_len() + suite.salt_len();
        if material.len() != expected {
            return Err(SrtpError::KeyLength {
                suite,
                expected,
                got: material.len(),
            });
        }
        Ok(Self {
            suite,
            material: material.to_vec(),
        })
    }

    /// A fresh key, its bytes from `fill` (which must be a cryptographically secure source:
    /// the caller's, since this crate does no I/O).
    ///
    /// # Errors
    /// Never for a `fill` that fills what it is given.
    pub fn generate(suite: Suite, fill: impl FnOnce(&mut [u8])) -> Result<Self, SrtpError> {
        let mut material = vec![0u8; suite.key_len() + suite.salt_len()];
        fill(&mut material);
        Self::new(suite, &material)
    }

    /// Its suite.
    #[must_use]
    pub fn suite(&self) -> Suite {
        self.suite
    }

    fn key(&self) -> &[u8] {
        &self.material[..self.suite.key_len()]
    }

    fn salt(&self) -> &[u8] {
        &self.material[self.suite.key_len()..]
    }
}

/// One `a=crypto` attribute (RFC 4568 §9.1): `tag suite inline:key||salt[|lifetime][|MKI]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// Its tag, echoed in the answer.
    pub tag: u32,
    /// The key it carries.
    pub key: MasterKey,
}

impl CryptoAttribute {
    /// Reads an attribute's value (what follows `a=crypto:`). A lifetime is accepted and
    /// ignored (calls are far shorter than 2^31 packets); an MKI is refused, since we send
    /// none and one key per direction is all a call needs.
    ///
    /// # Errors
    /// A value that is not `tag suite inline:…` with a suite we have, base64 key material of
    /// its length, and no MKI or session parameters we would have to honour.
    pub fn parse(value: &str) -> Result<Self, SrtpError> {
        let bad = |why| SrtpError::BadAttribute {
            line: value.to_owned(),
            why,
        };
        let mut fields = value.split_ascii_whitespace();
        let tag = fields
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|t| *t < 1_000_000_000)
            .ok_or_else(|| bad("the tag is not a number"))?;
        let suite = fields
            .next()
            .and_then(Suite::from_name)
            .ok_or_else(|| bad("a crypto suite recall does not have"))?;
        let params = fields.next().ok_or_else(|| bad("no key parameters"))?;
        if fields.next().is_some() {
            // Session parameters (UNENCRYPTED_SRTP, KDR=…) change what the suite means.
            return Err(bad("session parameters are not supported"));
        }
        if params.contains(';') {
            return Err(bad("more than one key is not supported"));
        }
        let inline = params
            .strip_prefix("inline:")
            .ok_or_else(|| bad("the key is not inline:"))?;
        let mut parts = inline.split('|');
        let material = parts.next().unwrap_or_default();
        for part in parts {
            if part.contains(':') {
                return Err(bad("an MKI is not supported"));
            }
        }
        let bytes = STANDARD
            .decode(material)
            .map_err(|_| bad("the key is not base64"))?;
        let key = MasterKey::new(suite, &bytes).map_err(|_| bad("the key has the wrong length"))?;
        Ok(Self { tag, key })
    }

    /// The attribute's value, for `a=crypto:`.
    #[must_use]
    pub fn to_value(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.key.suite.name(),
            STANDARD.encode(&self.key.material)
        )
    }
}

/// Counters of what SRTP refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpStats {
    /// Packets (RTP and RTCP) whose authentication failed.
    pub auth_failures: u64,
    /// Packets dropped as replays.
    pub replayed: u64,
}

/// SRTP for one media stream: our key protects what we send, the peer's unprotects what
/// arrives. Both directions' state is one allocation (see `transform`).
pub struct Srtp {
    suite: Suite,
    directions: Box<[Direction; 2]>,
    /// What an RTP packet touches of a direction, from its start ([`Srtp::prefetch_send`]).
    hot_len: usize,
    stats: SrtpStats,
}

const SEND: usize = 0;
const RECEIVE: usize = 1;

impl fmt::Debug for Srtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Srtp")
            .field("suite", &self.suite)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Srtp {
    /// SRTP keyed with our key (`local`) and the peer's (`remote`).
    ///
    /// # Errors
    /// When the keys are for different suites, or the cipher cannot be made.
    pub fn new(local: &MasterKey, remote: &MasterKey) -> Result<Self, SrtpError> {
        if local.suite != remote.suite {
            return Err(SrtpError::SuiteMismatch(local.suite, remote.suite));
        }
        let directions = Box::new([Direction::new(local)?, Direction::new(remote)?]);
        Ok(Self {
            suite: local.suite,
            hot_len: directions[SEND].hot_len(),
            directions,
            stats: SrtpStats::default(),
        })
    }

    /// Asks the CPU for what protecting the next RTP packet will read, ahead of it: with a
    /// few hundred calls up, a call's SRTP state has left the cache by its next packet, and
    /// its lines asked for together cost about one miss, where read one after another each
    /// costs its own. A hint only; call it some work before [`Srtp::protect_rtp_in_place`].
    pub fn prefetch_send(&self) {
        transform::prefetch(&self.directions[SEND], self.hot_len);
    }

    /// The same for the next packet to unprotect.
    pub fn prefetch_receive(&self) {
        transform::prefetch(&self.directions[RECEIVE], self.hot_len);
    }

    /// The suite in use.
    #[must_use]
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// What was refused so far.
    #[must_use]
    pub fn stats(&self) -> SrtpStats {
        self.stats
    }

    /// An RTP packet made SRTP.
    ///
    /// # Errors
    /// When it is not an RTP packet.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut protected = Vec::with_capacity(packet.len() + 16);
        protected.extend_from_slice(packet);
        self.protect_rtp_in_place(&mut protected)?;
        Ok(protected)
    }

    /// An RTP packet made SRTP where it lies: its payload encrypted, its tag appended. On an
    /// error the packet is left as it was.
    ///
    /// # Errors
    /// When it is not an RTP packet.
    pub fn protect_rtp_in_place(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.directions[SEND].protect_rtp(packet)
    }

    /// An SRTP packet checked and decrypted; failures are counted.
    ///
    /// # Errors
    /// [`SrtpError::AuthFailed`], [`SrtpError::Replayed`] or [`SrtpError::Malformed`].
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut plain = vec![0; packet.len()];
        let len = self.unprotect_rtp_into(packet, &mut plain)?;
        plain.truncate(len);
        Ok(plain)
    }

    /// An SRTP packet checked and decrypted into `out` (at least as long as `packet`); how
    /// long the RTP packet is. Failures are counted.
    ///
    /// # Errors
    /// As [`Srtp::unprotect_rtp`]; [`SrtpError::Malformed`] when `out` is too short.
    pub fn unprotect_rtp_into(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SrtpError> {
        let result = self.directions[RECEIVE].unprotect_rtp(packet, out);
        self.count(result)
    }

    /// An RTCP packet made SRTCP.
    ///
    /// # Errors
    /// When it is not an RTCP packet.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut protected = Vec::with_capacity(packet.len() + 4 + 16);
        protected.extend_from_slice(packet);
        self.protect_rtcp_in_place(&mut protected)?;
        Ok(protected)
    }

    /// An RTCP packet made SRTCP where it lies.
    ///
    /// # Errors
    /// When it is not an RTCP packet.
    pub fn protect_rtcp_in_place(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        self.directions[SEND].protect_rtcp(packet)
    }

    /// An SRTCP packet checked and decrypted; failures are counted.
    ///
    /// # Errors
    /// As [`Srtp::unprotect_rtp`].
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let result = self.directions[RECEIVE].unprotect_rtcp(packet);
        self.count(result)
    }

    fn count<T>(&mut self, result: Result<T, SrtpError>) -> Result<T, SrtpError> {
        match &result {
            Err(SrtpError::AuthFailed) => self.stats.auth_failures += 1,
            Err(SrtpError::Replayed) => self.stats.replayed += 1,
            _ => {}
        }
        result
    }
}

#[cfg(test)]
mod tests;
mod transform;
