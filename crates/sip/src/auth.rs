//! Digest authentication state of a client (RFC 3261 §22.2, RFC 7616, RFC 8760).
//!
//! sipx-sip computes the digest; this keeps what a user agent must remember between
//! requests: the challenge in force, the nonce-count (RFC 7616 §3.4: eight hex digits, strictly
//! increasing per nonce) and the client nonce.

use sipx_sip::auth::{Challenge, Credentials as SipxCredentials, respond, strongest};
use sipx_sip::{HeaderName, Response};

use crate::config::Credentials;

/// What a client remembers of the last digest challenge it answered.
#[derive(Debug, Clone)]
pub struct DigestAuth {
    challenge: Challenge,
    nonce_count: u32,
    cnonce: String,
}

impl DigestAuth {
    /// Reads the strongest Digest challenge of a 401 (`WWW-Authenticate`) or 407
    /// (`Proxy-Authenticate`) response. `None` when the response carries no usable challenge.
    pub(crate) fn from_response(response: &Response, cnonce: String) -> Option<Self> {
        let (name, from_proxy) = if response.status.code() == 407 {
            (HeaderName::ProxyAuthenticate, true)
        } else {
            (HeaderName::WwwAuthenticate, false)
        };
        let challenges = response
            .headers
            .get_all(&name)
            .filter_map(|h| Challenge::parse(&h.value(), from_proxy))
            .collect();
        let challenge = strongest(challenges)?;
        Some(Self {
            challenge,
            nonce_count: 0,
            cnonce,
        })
    }

    /// The server's nonce.
    #[must_use]
    pub fn nonce(&self) -> &str {
        &self.challenge.nonce
    }

    /// The current nonce-count (the last value sent).
    #[must_use]
    pub fn nonce_count(&self) -> u32 {
        self.nonce_count
    }

    /// Whether the server said the old nonce was merely stale (RFC 7616 §3.3), so the
    /// password is still believed good.
    pub(crate) fn is_stale(&self) -> bool {
        self.challenge.stale
    }

    /// Builds the `Authorization` / `Proxy-Authorization` header for one request, advancing
    /// the nonce-count.
    pub(crate) fn authorize(
        &mut self,
        credentials: &Credentials,
        method: &str,
        uri: &str,
    ) -> (HeaderName, String) {
        self.nonce_count = self.nonce_count.wrapping_add(1);
        let creds =
            SipxCredentials::new(credentials.username.clone(), credentials.password.clone());
        let value = respond(
            &self.challenge,
            &creds,
            method,
            uri,
            self.nonce_count,
            &self.cnonce,
        );
        (self.challenge.response_header(), value)
    }
}
