//! Why a command to the phone was refused.

use api::{CallId, InteractionId};
use thiserror::Error;

/// A refused command. Each variant maps to one HTTP status in the control API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    /// The call id is unknown.
    #[error("no call {0}")]
    NoSuchCall(CallId),
    /// The call is not in a state that allows this.
    #[error("call {call} is {state}; cannot {action}")]
    WrongState {
        /// The call.
        call: CallId,
        /// Its state in words.
        state: String,
        /// What was asked.
        action: &'static str,
    },
    /// A bare number or user with no account domain to dial it at.
    #[error("{0:?} is not a SIP URI and no account gives a domain to dial it at")]
    NotDialable(String),
    /// No account has that name.
    #[error("no account named {0:?}")]
    NoSuchAccount(String),
    /// The user agent refused (a URI it cannot read, no address to send from…).
    #[error("{0}")]
    Sip(sip::CommandError),
    /// The peer's offer cannot be answered (no codec in common, bad SDP).
    #[error("cannot answer: {0}")]
    CannotAnswer(media::SdpError),
    /// A refusal status outside 400-699.
    #[error("reject status must be 400-699, not {0}")]
    BadRejectStatus(u16),
    /// A character that is not a DTMF digit.
    #[error("{0}")]
    BadDigit(media::DtmfError),
    /// DTMF with no digits.
    #[error("no digits to send")]
    NoDigits,
    /// The account sends RFC 4733 only, and the peer did not agree to it.
    #[error(
        "the peer did not agree to RFC 4733 telephone-event, and this account sends DTMF only that way (dtmf = \"rfc4733\")"
    )]
    Rfc4733Refused,
    /// The test tone while a call is up.
    #[error("the test tone plays only between calls")]
    CallInProgress,
    /// Call on an interaction without a customer number.
    #[error("the interaction has no customer number to call")]
    NoCustomerNumber,
    /// A customer number with no domain to dial it at.
    #[error("no domain to dial the customer number at: set callbacks.dial_domain or an account")]
    NoDialDomain,
    /// A second transfer of a call already being transferred.
    #[error("{0} is already being transferred")]
    AlreadyTransferring(CallId),
    /// A call transferred, or conferenced, with itself.
    #[error("a call cannot be {0} itself")]
    WithItself(&'static str),
    /// An attended transfer to a call that is not established.
    #[error("{0} is not an established call to transfer to")]
    NotEstablished(CallId),
    /// A transfer or conference that says neither whom nor which call.
    #[error("{0}")]
    MissingTarget(&'static str),
    /// The phone answered without what the request asks for (a bug, said plainly).
    #[error("the phone answered {0} without it")]
    NoReply(&'static str),
    /// Nothing to carry media on: every RTP port is in use.
    #[error("no free RTP port")]
    NoMediaPort,
    /// Encryption is mandatory and no SDES key may be offered over this call's signalling.
    #[error(
        "media encryption is mandatory, but SDES keys may only cross TLS signalling (RFC 4568 §7.1): call over sips: or ;transport=tls, or set [media] sdes_over_plain_sip = true for a lab"
    )]
    KeysNeedTls,
    /// The recording policy does not allow this (`never` allows no recording; `always`
    /// allows no stop).
    #[error("{0}")]
    RecordingPolicy(&'static str),
    /// A recording action that does not fit where the recording is (pause when not
    /// recording, resume when not paused, start twice).
    #[error("call {call}: {why}")]
    Recording {
        /// The call.
        call: CallId,
        /// What does not fit.
        why: &'static str,
    },
    /// The interaction id is unknown.
    #[error("no interaction {0}")]
    NoSuchInteraction(InteractionId),
    /// The interaction refused the action.
    #[error("{0}")]
    Interaction(#[from] interaction::InteractionError),
}

impl EngineError {
    pub(crate) fn from_sip(call: CallId, error: sip::CommandError) -> Self {
        match error {
            sip::CommandError::WrongState { state, action, .. } => Self::WrongState {
                call,
                state: state.to_owned(),
                action,
            },
            sip::CommandError::NoSuchLeg(_) => Self::NoSuchCall(call),
            other => Self::Sip(other),
        }
    }
}

impl From<EngineError> for api::Refusal {
    fn from(e: EngineError) -> Self {
        use api::RefusalKind as K;
        let kind = match &e {
            EngineError::NoSuchCall(_) | EngineError::NoSuchInteraction(_) => K::NotFound,
            EngineError::WrongState { .. }
            | EngineError::Recording { .. }
            | EngineError::Interaction(
                interaction::InteractionError::InvalidTransition { .. }
                | interaction::InteractionError::DispositionRequired,
            ) => K::Conflict,
            EngineError::NotDialable(_)
            | EngineError::NoSuchAccount(_)
            | EngineError::Sip(_)
            | EngineError::CannotAnswer(_)
            | EngineError::BadRejectStatus(_)
            | EngineError::BadDigit(_)
            | EngineError::NoDigits
            | EngineError::Rfc4733Refused
            | EngineError::CallInProgress
            | EngineError::NoCustomerNumber
            | EngineError::NoDialDomain
            | EngineError::AlreadyTransferring(_)
            | EngineError::WithItself(_)
            | EngineError::NotEstablished(_)
            | EngineError::MissingTarget(_)
            | EngineError::KeysNeedTls
            | EngineError::RecordingPolicy(_)
            | EngineError::Interaction(_) => K::Invalid,
            EngineError::NoReply(_) => K::Failed,
            EngineError::NoMediaPort => K::Unavailable,
        };
        Self::new(kind, e.to_string())
    }
}
