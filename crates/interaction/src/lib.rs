//! The callback domain of recall, pure: no SIP, no I/O, no clock.
//!
//! Callback interactions (Genesys-style Immediate, Delayed, Scheduled, Agent-Preview and Web
//! callbacks) arrive as calls carrying *attached data*. [`AttachedData::extract`] reads it from
//! header fields and body parts through a configurable [`KeyMap`]; [`CallbackInfo`] types the
//! fields an agent works with; [`Interaction`] is the state machine from notification to Done,
//! with its timeline, disposition, note and reschedule request. Every time is a parameter.

mod attached;
mod callback;
mod case;
mod directory;
mod interaction;
mod query;
mod zone;

pub use attached::{AttachedData, BodyPart, DataFlag, KeyMap, Limits};
pub use callback::{CallbackInfo, CallbackType, DesiredTime};
pub use case::{CaseEntry, CaseKey};
pub use directory::{
    Contact, StandardResponse, find_contact, number_key, same_number, search_responses,
};
pub use interaction::{
    Channel, Direction, Disposition, IdError, Interaction, InteractionError, InteractionId,
    InteractionState, Reschedule, TimelineEntry, TimelineKind, TransferOutcome,
    default_dispositions,
};
pub use query::Query;
pub use zone::{Zone, ZoneError, offset_text, parse_wall};
