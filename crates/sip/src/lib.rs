//! Sans-IO SIP user agent for recall, built on sipx-sip's parser and RFC 3261 §17 /
//! RFC 6026 transaction machines.
//!
//! Everything here is a pure state machine. Time and received bytes go in through
//! [`UserAgent::handle_datagram`], [`UserAgent::handle_timeout`] and the command methods;
//! datagrams to send and events come out of [`UserAgent::poll_output`]. Nothing in this crate
//! reads the clock, sleeps, opens a socket or draws from the operating system's entropy: the
//! random source is seeded at construction, so a whole call replays identically.

mod auth;
mod config;
mod dialog;
mod error;
mod event;
mod incoming;
mod leg;
mod message;
mod mwi;
mod registration;
mod resolve;
mod stream;
pub mod stun;
mod subscription;
mod timers;
mod transport;
mod ua;

pub use auth::DigestAuth;
pub use config::{AccountConfig, Credentials, UaConfig};
pub use error::CommandError;
pub use event::{EndReason, Event, RegistrationFailure};
pub use incoming::IncomingInvite;
pub use leg::{LegId, LegState};
pub use message::{body_parts, sdp_body};
pub use mwi::MessageSummary;
pub use registration::AccountId;
pub use resolve::{
    Answer, LookupId, Query, QueryId, Record, RecordType, ResolveError, Resolver, ServerName,
    Target,
};
pub use stream::StreamFramer;
pub use subscription::{Subscribe, SubscriptionId, SubscriptionState};
pub use timers::TimerTable;
pub use transport::{Dest, DestError, Transmit, Transport};
pub use ua::{Invitation, Output, Stats, UserAgent};

/// Re-exported sipx-sip types that appear in this crate's API (events carry whole requests so
/// that higher layers can read attached data from any header).
pub use sipx_sip::{HeaderName, Message, Request, Response, Uri, headers};
