//! Configuration of the user agent and of its accounts: plain data, validated by the caller.

use std::fmt;
use std::time::Duration;

use crate::transport::Dest;

/// Settings of the user agent as a whole.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Sent in `User-Agent` and `Server`.
    pub user_agent: String,
    /// RFC 3261 §17.1.1.1: round-trip estimate, 500 ms by default.
    pub t1: Duration,
    /// RFC 3261 §17.1.2.2: cap on non-INVITE retransmission interval, 4 s by default.
    pub t2: Duration,
    /// RFC 3261 §17.1.2.2: how long the network keeps a message, 5 s by default.
    pub t4: Duration,
    /// How long an outgoing INVITE may ring (after a provisional answer) before it is CANCELled.
    pub ring_timeout: Duration,
    /// User part of the Contact of calls placed or answered without an account.
    pub contact_user: String,
    /// The session interval our INVITEs ask for (RFC 4028 `Session-Expires`); `None` asks
    /// for no session timer (one the peer asks for is still honoured).
    pub session_expires: Option<Duration>,
    /// The smallest session interval we accept (RFC 4028 `Min-SE`, at least 90 s): a peer
    /// asking for less is answered 422.
    pub min_se: Duration,
}

impl Default for UaConfig {
    fn default() -> Self {
        Self {
            user_agent: concat!("recall/", env!("CARGO_PKG_VERSION")).to_owned(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            ring_timeout: Duration::from_secs(120),
            contact_user: "recall".to_owned(),
            session_expires: Some(Duration::from_secs(1800)),
            min_se: Duration::from_secs(90),
        }
    }
}

impl UaConfig {
    pub(crate) fn timers(&self) -> sipx_sip::Timers {
        sipx_sip::Timers {
            t1: self.t1,
            t2: self.t2,
            t4: self.t4,
        }
    }
}

/// A username and password for digest authentication (RFC 3261 §22, RFC 7616).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication user name.
    pub username: String,
    /// The password. Never logged.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// One SIP account: who we are, where we register, how we authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountConfig {
    /// The address-of-record, e.g. `sip:1001@pbx.example`.
    pub aor: String,
    /// Shown in `From`.
    pub display_name: Option<String>,
    /// The registrar's URI (Request-URI of REGISTER), e.g. `sip:pbx.example`.
    pub registrar: String,
    /// Where REGISTER and out-of-dialog requests are sent (resolved by the caller).
    pub proxy: Dest,
    /// Digest credentials, if the registrar challenges.
    pub credentials: Option<Credentials>,
    /// Requested registration lifetime.
    pub expires: Duration,
}
