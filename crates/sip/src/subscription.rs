//! Subscriptions we hold (RFC 6665): to a colleague's dialog state (RFC 4235), presence
//! (RFC 3856) or a mailbox's message summary (RFC 3842). The user agent sends the SUBSCRIBE,
//! answers its challenge, refreshes it before it runs out, takes the NOTIFYs in its dialog and
//! subscribes afresh when the notifier ends it for a reason that allows that.

use std::fmt;
use std::time::Duration;

use crate::auth::DigestAuth;
use crate::dialog::Dialog;
use crate::registration::AccountId;
use crate::timers::TxId;
use crate::transport::Dest;

/// A subscription's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub u64);

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s-{}", self.0)
    }
}

/// What to subscribe to.
#[derive(Debug, Clone)]
pub struct Subscribe {
    /// The resource, e.g. `sip:1002@pbx.example` (the Request-URI and `To`).
    pub target: String,
    /// The event package: `dialog`, `presence`, `message-summary`.
    pub event: String,
    /// The body types we take in NOTIFYs (`application/dialog-info+xml`, …).
    pub accept: String,
    /// Subscribe as this account (its AOR in `From`, its proxy, its credentials).
    pub account: Option<AccountId>,
    /// Where the SUBSCRIBE goes when no account says (the target's host when `None`).
    pub dest: Option<Dest>,
    /// The lifetime asked for.
    pub expires: Duration,
}

/// Where a subscription is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionState {
    /// SUBSCRIBE sent, no answer yet.
    Subscribing,
    /// Accepted; the notifier may not have authorised it yet.
    Pending,
    /// Accepted and authorised: NOTIFYs carry the state.
    Active,
    /// Over: refused, ended by the notifier, or by us.
    Terminated,
}

impl SubscriptionState {
    /// The state as `Subscription-State` names it (and `subscribing`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribing => "subscribing",
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Terminated => "terminated",
        }
    }
}

/// One subscription's state in the user agent.
#[derive(Debug)]
pub(crate) struct Sub {
    pub(crate) request: Subscribe,
    pub(crate) dialog: Dialog,
    /// The first SUBSCRIBE's next hop (the account's proxy, or the target's host).
    pub(crate) first_dest: Dest,
    pub(crate) state: SubscriptionState,
    /// The dialog exists: a 2xx or a NOTIFY came (in-dialog refreshes from then on).
    pub(crate) established: bool,
    pub(crate) auth: Option<DigestAuth>,
    pub(crate) auth_attempts: u32,
    pub(crate) tx: Option<TxId>,
    /// An unsubscribe (Expires: 0) is under way: the subscription goes once it is answered.
    pub(crate) ending: bool,
}

/// When to refresh: a tenth of the lifetime early (at least 5 s, at most 60 s), never sooner
/// than 1 s from now.
pub(crate) fn refresh_after(granted: Duration) -> Duration {
    let margin = (granted / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
    granted.saturating_sub(margin).max(Duration::from_secs(1))
}

/// A `Subscription-State` value: the state, its `expires` and `retry-after`, and the reason
/// (RFC 6665 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateHeader {
    pub(crate) state: SubscriptionState,
    pub(crate) expires: Option<u64>,
    pub(crate) retry_after: Option<u64>,
    pub(crate) reason: Option<String>,
}

impl StateHeader {
    pub(crate) fn parse(value: &str) -> Self {
        let mut parts = value.split(';');
        let state = match parts
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "active" => SubscriptionState::Active,
            "pending" => SubscriptionState::Pending,
            // RFC 6665 §8.2.3: an unknown state is taken as pending... only while the
            // notifier has said nothing else; "terminated" ends it.
            "terminated" => SubscriptionState::Terminated,
            _ => SubscriptionState::Pending,
        };
        let mut header = Self {
            state,
            expires: None,
            retry_after: None,
            reason: None,
        };
        for part in parts {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "expires" => header.expires = value.parse().ok(),
                "retry-after" => header.retry_after = value.parse().ok(),
                "reason" => header.reason = Some(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        header
    }

    /// RFC 6665 §4.1.3: after `deactivated` or `timeout` subscribe again at once; after
    /// `probation` or `giveup`, later; after `rejected`, `noresource` or `invariant` (or no
    /// reason), never. `None`: do not; `Some(wait)`: subscribe anew after `wait`.
    pub(crate) fn resubscribe_after(&self) -> Option<Duration> {
        let later = Duration::from_secs(self.retry_after.unwrap_or(60));
        match self.reason.as_deref() {
            Some("deactivated" | "timeout") => {
                Some(self.retry_after.map_or(Duration::ZERO, Duration::from_secs))
            }
            Some("probation" | "giveup") => Some(later),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_state_headers_read_as_rfc_6665_writes_them() {
        let active = StateHeader::parse("active;expires=3600");
        assert_eq!(
            (active.state, active.expires),
            (SubscriptionState::Active, Some(3600))
        );
        let ended = StateHeader::parse("terminated;reason=timeout");
        assert_eq!(ended.state, SubscriptionState::Terminated);
        assert_eq!(ended.resubscribe_after(), Some(Duration::ZERO));
        let probation = StateHeader::parse("Terminated; reason=probation; retry-after=30");
        assert_eq!(probation.resubscribe_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            StateHeader::parse("terminated;reason=rejected").resubscribe_after(),
            None
        );
        assert_eq!(StateHeader::parse("terminated").resubscribe_after(), None);
        assert_eq!(
            StateHeader::parse("waiting").state,
            SubscriptionState::Pending
        );
    }

    #[test]
    fn refreshes_come_a_tenth_early_within_bounds() {
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(120)),
            Duration::from_secs(108)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(20)),
            Duration::from_secs(15)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(3)),
            Duration::from_secs(1)
        );
    }
}
