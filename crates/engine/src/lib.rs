//! Sans-IO composition of recall: one [`Phone`] is a SIP user agent plus a media session per
//! call. It takes received bytes, commands and time; it yields datagrams to send, events and
//! its next deadline. It never reads the clock or touches a socket.

mod account;
mod call;
mod call_commands;
mod call_events;
mod calls;
mod conference;
mod config;
mod error;
mod ice;
mod interactions;
mod mixer;
mod phone;
mod presence;
mod recording;
mod registrations;
mod request;
mod timers;
mod tones;
mod transfer;

pub use account::{AccountError, CodecError, TlsPeer, check as check_account, parse_codecs};
pub use config::{
    AudioFactory, CallbackSettings, DEFAULT_TRANSFER_GRACE, DtmfMode, FLOOD_BLOCK, Limits,
    MediaSettings, NullAudio, PhoneConfig, RecordingPolicy, RecordingSettings, SecureRandom,
};
pub use error::EngineError;
pub use phone::{Input, Local, Output, Phone};
pub use presence::{PresenceSettings, WatchEvent};
pub use recording::RecordingOutput;
pub use request::{Reply, Request};
