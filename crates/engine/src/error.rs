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
    /// The request itself is wrong (bad URI, bad digits, unknown account).
    #[error("{0}")]
    Invalid(String),
    /// Nothing to carry media on: every RTP port is in use.
    #[error("no free RTP port")]
    NoMediaPort,
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
            other => Self::Invalid(other.to_string()),
        }
    }
}
