//! Errors returned by the user agent's commands.

use thiserror::Error;

use crate::leg::LegId;

/// Why a command to the user agent was refused. Network input never produces these: it is
/// answered on the wire or counted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// The leg does not exist (it may have ended).
    #[error("no call leg {0}")]
    NoSuchLeg(LegId),
    /// The leg is in a state where the command makes no sense.
    #[error("call leg {leg} is {state}; cannot {action}")]
    WrongState {
        /// The leg.
        leg: LegId,
        /// Its current state, in words.
        state: &'static str,
        /// What was asked.
        action: &'static str,
    },
    /// The target is not a usable SIP URI.
    #[error("invalid SIP URI {uri:?}: {reason}")]
    BadUri {
        /// What was given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The next hop cannot be derived without DNS, and no outbound proxy is configured.
    #[error("cannot route to {0}: host is not an IP address and no outbound proxy is set")]
    Unroutable(String),
    /// A header value given by the caller would inject a line break.
    #[error("invalid header value for {0}")]
    BadHeader(String),
    /// No local address is known for the transport.
    #[error("no local {0} address is bound")]
    NoLocalAddress(crate::Transport),
    /// The status code is not valid for this command.
    #[error("status {0} is not a valid final response here")]
    BadStatus(u16),
}
