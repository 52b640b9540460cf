//! The only I/O shell of recall: tokio sockets (UDP and TCP for SIP, UDP for RTP), the clock,
//! WAV files, and the HTTP control API. It drives an `engine::Phone` with the run loop of
//! ARCHITECTURE.md: feed an input, drain outputs until a timeout, sleep until then.

mod api;
mod audio;
mod core;
mod desk;
pub mod dns;
mod headset;
pub mod ldap;
mod net;
mod plan;
mod recorder;
pub mod tls;
mod turn;
mod webhook;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

pub use crate::api::answer_without_phone;
pub use crate::core::{RunError, run};
pub use desk::Desk;
pub use headset::HeadsetChoice;
pub use plan::{CallOutcome, CallPlan};
pub use webhook::{WebhookConfig, WebhookError};

/// Why the settings could not be read, saved or used; each kind has its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// This run keeps no settings to change (`recall call`).
    #[error("this recall was started without settings to change (recall call)")]
    NotKept,
    /// A value is wrong; the message names the field. Nothing was changed.
    #[error("{0}")]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
    /// The config file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The config file on disk no longer reads as TOML (edited meanwhile).
    #[error("the config file no longer reads: {0}")]
    Unreadable(String),
}

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
    /// A team's PostgreSQL (`postgres://…`): interactions, contacts and responses are kept
    /// there instead of `db`.
    pub store_url: Option<String>,
    /// This agent's name in the store (its interactions are kept under it).
    pub agent: String,
    /// Attached-data keys that name a customer's case (with the number) for the case history.
    pub case_keys: Vec<String>,
    /// How long a claimed team callback is this agent's without renewal (a dead agent's
    /// callbacks go to another agent after it).
    pub callback_lease: std::time::Duration,
    /// Whether this agent may change the standard responses (on a team's store, the editors).
    pub responses_editor: bool,
    /// The team's LDAP directory, read into the contacts, when one is configured.
    pub directory: Option<ldap::DirectoryConfig>,
    /// Where outcomes (done, rescheduled, disposition) are posted, if anywhere.
    pub webhook: Option<WebhookConfig>,
    /// Contacts and standard responses to start the directory with, if it has none.
    pub seed: Option<Seed>,
    /// The desktop, when there is one.
    pub desk: Option<Desk>,
    /// Where the desktop's Settings window reads and writes settings, when it has one.
    pub settings: Option<Box<dyn SettingsStore>>,
    /// DNS servers (`IP:PORT`) to ask instead of the system's (`[dns] servers`).
    pub dns_servers: Vec<SocketAddr>,
    /// The `[tls]` files: the listener's certificate and key, the default trust.
    pub tls: tls::TlsFiles,
    /// Quiet time before a TCP/TLS flow recall opened is probed (`[sip] keepalive_s`).
    pub keepalive: Option<std::time::Duration>,
    /// The headset whose buttons answer, mute and hang up, and whose lights follow the calls.
    pub headset: HeadsetChoice,
}

/// The settings the desktop edits, kept by the binary (which owns the config file): it
/// reads them, checks and writes them, and says what the phone should now use.
pub trait SettingsStore: Send {
    /// The settings as saved.
    ///
    /// # Errors
    /// When they cannot be read, in one line.
    fn load(&self) -> Result<::api::Settings, SettingsError>;
    /// Checks `settings` as the config file is checked, then saves them; nothing changes on
    /// an error.
    ///
    /// # Errors
    /// What is wrong, in one line naming the field.
    fn save(&mut self, settings: &::api::Settings) -> Result<Applied, SettingsError>;
    /// The engine's view of one account form (for a registration test).
    ///
    /// # Errors
    /// What is wrong with the form, in one line naming the field.
    fn account(&self, form: &::api::Account) -> Result<::api::Account, SettingsError>;
    /// Where the settings are saved, in words (`None`: they last until recall stops).
    fn file(&self) -> Option<String>;
}

impl std::fmt::Debug for dyn SettingsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the settings themselves: they hold passwords.
        f.write_str("SettingsStore")
    }
}

/// Settings saved, as the phone takes them.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Every account.
    pub accounts: Vec<::api::Account>,
    /// Codecs and Opus.
    pub media: engine::MediaSettings,
    /// Callback handling.
    pub callbacks: engine::CallbackSettings,
    /// Changes that take effect only when recall starts again, in words.
    pub on_restart: Vec<String>,
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
