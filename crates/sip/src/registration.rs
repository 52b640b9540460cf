//! Registration of one account with its registrar (RFC 3261 §10), refreshed before expiry.

use std::fmt;
use std::time::Duration;

use crate::auth::DigestAuth;
use crate::config::AccountConfig;
use crate::timers::TxId;

/// Identifies an account inside one user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub u32);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account-{}", self.0)
    }
}

/// Where a registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegState {
    /// A REGISTER (or un-REGISTER) is in flight.
    Registering,
    /// Bound at the registrar for this long.
    Registered,
    /// The last attempt failed; a retry may be armed.
    Failed,
    /// Unbound (or never bound).
    Unregistered,
}

/// One account's registration.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) config: AccountConfig,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) cseq: u32,
    pub(crate) state: RegState,
    /// Whether the request in flight asks for `Expires: 0`.
    pub(crate) unregistering: bool,
    pub(crate) auth: Option<DigestAuth>,
    /// Consecutive challenges answered without a success in between.
    pub(crate) auth_attempts: u8,
    pub(crate) tx: Option<TxId>,
    /// A `Min-Expires` from a 423 overrides the configured lifetime.
    pub(crate) expires: Duration,
    /// Transport failures since the last success: the retry after one waits 4 s, doubling
    /// to 30 s (a restarted server is back soon; an untrusted certificate is not retried in a
    /// storm).
    pub(crate) transport_failures: u32,
    /// The public address changed while a REGISTER was in flight: its Contact is stale, so
    /// the next success registers again at once.
    pub(crate) contact_stale: bool,
}

impl Registration {
    /// When to try again after a transport failure, counting it.
    pub(crate) fn transport_retry(&mut self) -> Duration {
        let wait = Duration::from_secs(4)
            .saturating_mul(1 << self.transport_failures.min(4))
            .min(Duration::from_secs(30));
        self.transport_failures = self.transport_failures.saturating_add(1);
        wait
    }

    /// When to refresh a binding granted for `granted`: well before it lapses, leaving room for
    /// a few retransmissions (RFC 3261 §10.2.4 says "before it expires").
    pub(crate) fn refresh_after(granted: Duration) -> Duration {
        let margin = (granted / 10)
            .max(Duration::from_secs(2))
            .min(Duration::from_secs(60));
        granted.saturating_sub(margin).max(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_leaves_a_margin_before_expiry() {
        for (granted, refresh) in [(3600, 3540), (600, 540), (60, 54), (10, 8), (1, 1)] {
            assert_eq!(
                Registration::refresh_after(Duration::from_secs(granted)),
                Duration::from_secs(refresh),
                "granted {granted}s"
            );
        }
    }
}
