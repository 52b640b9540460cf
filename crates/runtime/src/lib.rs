//! The only I/O shell of recall: tokio sockets (UDP and TCP for SIP, UDP for RTP), the clock,
//! WAV files, and the HTTP control API. It drives an `engine::Phone` with the run loop of
//! ARCHITECTURE.md: feed an input, drain outputs until a timeout, sleep until then.

mod api;
mod audio;
mod core;
mod desk;
mod net;
mod plan;
mod webhook;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

pub use crate::core::{RunError, run};
pub use desk::Desk;
pub use plan::{CallOutcome, CallPlan};
pub use webhook::WebhookConfig;

/// Where SIP is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// UDP or TCP.
    pub transport: sip::Transport,
    /// The address to bind; port 0 picks a free one.
    pub addr: SocketAddr,
}

/// Where a call's audio comes from and goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSpec {
    /// Silence in, nothing out.
    Null,
    /// Loop `input` as the microphone; write what the peer sent to `output` when a call ends.
    File {
        /// The WAV file to play to the peer.
        input: PathBuf,
        /// The WAV file to record the peer into (overwritten by each call that ends).
        output: PathBuf,
    },
    /// Sound devices (cpal): the microphone, the headset, the ring device.
    Device(::audio::DeviceChoice),
}

/// How the runtime is set up around the phone.
#[derive(Debug)]
pub struct RuntimeConfig {
    /// SIP listeners.
    pub listen: Vec<Listen>,
    /// The control API's address, if it is served.
    pub control: Option<SocketAddr>,
    /// Bearer token required by the control API, if set.
    pub token: Option<String>,
    /// The address RTP sockets bind to (and SDP advertises).
    pub rtp_ip: IpAddr,
    /// Audio.
    pub audio: AudioSpec,
    /// Log every SIP message sent and received.
    pub log_sip: bool,
    /// The interaction database; interactions live only in memory without it.
    pub db: Option<PathBuf>,
    /// Where outcomes (done, rescheduled, disposition) are posted, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// Contacts and standard responses to start the directory with, if it has none.
    pub seed: Option<Seed>,
    /// The desktop, when there is one.
    pub desk: Option<Desk>,
}

/// A starting directory (the demo's, or a team's shared list): each half is loaded only into a
/// database that has none of its kind yet, so starting again never duplicates and never
/// overwrites what the agent edited.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Contacts (their ids are assigned by the store).
    pub contacts: Vec<interaction::Contact>,
    /// Standard responses.
    pub responses: Vec<interaction::StandardResponse>,
}
