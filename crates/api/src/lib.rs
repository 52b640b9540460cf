//! Plain data shared by every part of recall: ids, commands, events and the views the control
//! API and the desktop show. No logic lives here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The interaction types (plain data from the callback domain), as the API returns them.
pub use interaction::{
    CallbackInfo, CallbackType, CaseEntry, Channel, Contact, DesiredTime, Disposition, IdError,
    Interaction, InteractionId, InteractionState, Reschedule, StandardResponse, TimelineEntry,
    TimelineKind, TransferOutcome, Zone, ZoneError, default_dispositions,
};

/// Identifies a call for as long as the process lives: `c-1`, `c-2`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c-{}", self.0)
    }
}

impl FromStr for CallId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix("c-")
            .and_then(|n| n.parse().ok())
            .map(Self)
            .ok_or_else(|| IdError {
                text: s.to_owned(),
                what: "a call id",
                form: "c-N",
            })
    }
}

impl Serialize for CallId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CallId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The state of a call as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Incoming, not answered yet.
    Ringing,
    /// Outgoing, not answered yet.
    Dialing,
    /// Talking.
    Connected,
    /// Put on hold by us.
    Held,
    /// Over.
    Ended,
}

/// Who placed the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// The peer called us.
    Inbound,
    /// We called the peer.
    Outbound,
}

/// Media counters and measurements of a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Packets concealed because they never came (or came too late).
    pub concealed: u64,
    /// Of those, recovered from the next packet's in-band FEC (Opus).
    pub recovered_fec: u64,
    /// Packets that came too late to play.
    pub late: u64,
    /// Datagrams on the media ports that were not expected RTP or RTCP.
    pub ignored: u64,
    /// Times the jitter buffer ran dry (the peer paused, or the network stalled).
    pub underruns: u64,
    /// The jitter buffer's target delay now, in ms.
    pub jitter_buffer_ms: u32,
    /// Pitch periods the playout removed (accelerate) or repeated (decelerate) to follow it.
    pub playout_adjustments: u64,
    /// Interarrival jitter of the stream we receive (RFC 3550), in ms.
    pub jitter_ms: f32,
    /// Packets of the stream we receive that never arrived.
    pub lost: i64,
    /// What the peer's RTCP says of our stream: the share it lost lately, 0-1.
    pub remote_fraction_lost: f32,
    /// What the peer's RTCP says of our stream: its interarrival jitter, in ms.
    pub remote_jitter_ms: f32,
    /// Round-trip time from RTCP (RFC 3550 §6.4.1), in ms, once measured.
    pub rtt_ms: Option<f32>,
    /// RTCP reports received.
    pub rtcp_received: u64,
    /// DTMF digits sent.
    pub dtmf_sent: u64,
    /// DTMF digits received.
    pub dtmf_received: u64,
    /// SRTP/SRTCP packets refused because their authentication failed.
    #[serde(default)]
    pub srtp_auth_failures: u64,
}

/// A call, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    /// Its id.
    pub id: CallId,
    /// Its state.
    pub state: CallState,
    /// Who called whom.
    pub direction: CallDirection,
    /// The peer's URI.
    pub remote: String,
    /// The interaction this call belongs to.
    pub interaction_id: Option<InteractionId>,
    /// The codec in use, once media is agreed.
    pub codec: Option<String>,
    /// Whether our microphone is muted.
    pub muted: bool,
    /// Media counters.
    pub stats: CallStats,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// Why it ended, once it has.
    pub end_reason: Option<String>,
    /// Digits received during the call, in order.
    pub dtmf_received: String,
    /// A transfer of this call's peer under way or over: `trying`, `accepted`, `ringing`,
    /// then `confirmed` (a 2xx sipfrag, or the PBX ended our call), `unconfirmed` (released
    /// after the grace with no final word) or `failed: the target answered 486 Busy Here`.
    pub transfer: Option<String>,
    /// The local conference this call is mixed in, if any.
    pub conference: Option<u64>,
    /// The call this one consults for (the original, on hold).
    pub consultation_of: Option<CallId>,
    /// Still dialing, and the far end's audio already plays (a 183 with a session
    /// description: a carrier announcement, an IVR prompt).
    #[serde(default)]
    pub early_media: bool,
    /// How the media is protected once it flows: `sdes-srtp AES_CM_128_HMAC_SHA1_80` (the
    /// suite) or `none`.
    #[serde(default)]
    pub encryption: Option<String>,
    /// Which ICE candidate pair carries the media: `relay 203.0.113.5:50000 -> srflx
    /// 198.51.100.7:4000` (our candidate's type and address, then the peer's), `checking`
    /// while ICE looks for one, `failed: …`; `None` when the call does not use ICE.
    #[serde(default)]
    pub ice: Option<String>,
    /// The call's recording: `recording` or `paused`; `None` when it is not recorded.
    #[serde(default)]
    pub recording: Option<String>,
    /// The file the call is recorded into, once recording started.
    #[serde(default)]
    pub recording_file: Option<String>,
}

/// What to do with a call's recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    /// Start recording (policy `on_demand`; `always` starts by itself).
    Start,
    /// Pause: silence is recorded meanwhile (a card number is being read out).
    Pause,
    /// Go on after a pause.
    Resume,
    /// Stop for good (not under policy `always`).
    Stop,
}

impl RecordAction {
    /// The action in the words of the API and the history.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }
}

/// Registration of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    /// The account's name in the config.
    pub account: String,
    /// Its address-of-record.
    pub aor: String,
    /// Where its registration stands.
    pub state: RegistrationState,
    /// Why it failed, when it did (or what it is doing: looking up its registrar, trying the
    /// next server).
    pub reason: Option<String>,
    /// The server it registers through: the configured proxy, or the target DNS located
    /// (`tcp:192.0.2.1:5060 (pbx1.example.com from _sip._tcp.example.com)`).
    #[serde(default)]
    pub server: Option<String>,
    /// Its mailbox (RFC 3842 message summary), once the voicemail server has said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voicemail: Option<Voicemail>,
}

/// A mailbox's message summary (RFC 3842): whether messages wait, and how many voice
/// messages are new and old.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voicemail {
    /// Messages are waiting (the indicator is lit).
    pub waiting: bool,
    /// New voice messages.
    pub new: u32,
    /// Old (heard) voice messages.
    pub old: u32,
}

/// Where an account's registration stands; serialised as `unregistered`, `registering`,
/// `registered` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Not registered (never asked, or un-registered).
    Unregistered,
    /// A REGISTER is on its way.
    Registering,
    /// The registrar accepted us.
    Registered,
    /// The last attempt failed (see the reason); retried unless the failure is final.
    Failed,
}

impl RegistrationState {
    /// The state in the API's words.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unregistered => "unregistered",
            Self::Registering => "registering",
            Self::Registered => "registered",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RegistrationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RegistrationState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Whether the agent takes new interactions on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// New interactions ring.
    Ready,
    /// New interactions are refused (and recorded as missed).
    NotReady,
}

/// The agent's state per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// Voice calls and voice callbacks.
    pub voice: AgentState,
    /// Web callbacks.
    pub web_callback: AgentState,
}

impl Default for AgentStatus {
    fn default() -> Self {
        Self {
            voice: AgentState::Ready,
            web_callback: AgentState::Ready,
        }
    }
}

/// What the agent does with an interaction (`POST /v1/interactions/{id}/{action}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum InteractionCommand {
    /// Take it: answers its call (a preview goes to `previewing`).
    Accept,
    /// Refuse it with a SIP status (the configured one unless given).
    Reject {
        /// The status.
        status: Option<u16>,
    },
    /// Call the customer (from a preview, or again after a call).
    Call,
    /// Close it.
    Done,
    /// Ask for the callback again at a new time.
    Reschedule {
        /// The request.
        #[serde(flatten)]
        request: Reschedule,
    },
    /// Choose a disposition code.
    Disposition {
        /// The code.
        code: String,
    },
    /// Write the note.
    Note {
        /// Its text.
        text: String,
    },
}

/// The answer to `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The program's version.
    pub version: String,
    /// Where SIP is received, e.g. `udp:127.0.0.1:5060`.
    pub listen: Vec<String>,
    /// Calls not yet ended.
    pub active_calls: usize,
    /// The agent's state per channel.
    pub agent: AgentStatus,
    /// Each account's registration.
    pub registrations: Vec<RegistrationView>,
    /// SIP counters.
    pub sip: SipStats,
    /// The audio backend, its levels and tones.
    #[serde(default)]
    pub audio: AudioStatus,
    /// The Team Communicator's watched colleagues (BLF or presence), in config order.
    #[serde(default)]
    pub presence: Vec<PresenceView>,
    /// Where interactions are kept: `postgres HOST:PORT/DB` (a team's), `sqlite PATH`, or
    /// none (memory).
    #[serde(default)]
    pub store: Option<String>,
    /// Writes waiting on this machine for the team's database, unreachable since they were
    /// made (0 when everything is there).
    #[serde(default)]
    pub store_pending: u64,
}

/// A watched colleague's state, from their dialog (RFC 4235) or presence (RFC 3856)
/// subscription; serialised as `idle`, `ringing`, `on_call`, `offline` or `unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// Free: no call (or presence `open`).
    Idle,
    /// A call rings at them.
    Ringing,
    /// On a call.
    OnCall,
    /// Presence `closed`: not there.
    Offline,
    /// Not known: no answer yet, or the server refused the subscription.
    #[default]
    Unknown,
}

impl PresenceState {
    /// In words, for the desktop.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Ringing => "ringing",
            Self::OnCall => "on a call",
            Self::Offline => "offline",
            Self::Unknown => "unknown",
        }
    }
}

/// One watched colleague.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceView {
    /// Their name in the Team Communicator.
    pub name: String,
    /// Their SIP URI (what is subscribed to).
    pub uri: String,
    /// Where they are.
    pub state: PresenceState,
}

/// The audio backend as the status view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioStatus {
    /// `null`, `file` or `device`.
    pub backend: String,
    /// The devices in use (device backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<String>,
    /// The microphone's level, dBFS of the last frame's peak (−90 is silence).
    pub input_db: i16,
    /// The headset's level, likewise.
    pub output_db: i16,
    /// The tone on the headset: `ringback`, `busy`, `reorder`, or none.
    pub tone: Option<String>,
    /// The tone on the ring device: `ring`, or none.
    pub ring: Option<String>,
    /// Samples the headset wanted before the calls delivered them.
    pub underruns: u64,
    /// Captured samples lost because the calls did not take them in time.
    pub overruns: u64,
    /// The microphone processing running: `echo_cancellation`, `noise_suppression`,
    /// `auto_gain` (device backend).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processing: Vec<String>,
}

impl Default for AudioStatus {
    fn default() -> Self {
        Self {
            backend: "null".to_owned(),
            devices: None,
            input_db: -90,
            output_db: -90,
            tone: None,
            ring: None,
            underruns: 0,
            overruns: 0,
            processing: Vec::new(),
        }
    }
}

/// SIP counters for the status view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipStats {
    /// Datagrams dropped because they were not SIP.
    pub malformed_dropped: u64,
    /// Requests answered 400 because they were invalid.
    pub bad_requests: u64,
    /// Retransmissions sent.
    pub retransmissions: u64,
    /// STUN keep-alives (RFC 5626 §4.4.2) sent on UDP flows to registrars.
    #[serde(default)]
    pub keepalives_sent: u64,
    /// Of those, how many the registrar answered.
    #[serde(default)]
    pub keepalives_answered: u64,
}

/// Something a user (the desktop, the API, the CLI) asks the phone to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Place a call.
    Dial {
        /// The SIP URI to call.
        to: String,
        /// Place it as this account (by name); the first account when absent.
        account: Option<String>,
    },
    /// Place a call carrying extra INVITE headers (the demo PBX rings callbacks in this way,
    /// with their attached data).
    DialWith {
        /// The SIP URI to call.
        to: String,
        /// Header names and values.
        headers: Vec<(String, String)>,
    },
    /// Answer a ringing call.
    Answer {
        /// Which.
        call: CallId,
    },
    /// Refuse a ringing call.
    Reject {
        /// Which.
        call: CallId,
        /// The SIP status to send (486 unless told).
        status: Option<u16>,
    },
    /// End a call in any state.
    Hangup {
        /// Which.
        call: CallId,
    },
    /// Put a call on hold (re-INVITE, sendonly).
    Hold {
        /// Which.
        call: CallId,
    },
    /// Take a call off hold (re-INVITE, sendrecv).
    Resume {
        /// Which.
        call: CallId,
    },
    /// Mute or unmute our microphone.
    Mute {
        /// Which.
        call: CallId,
        /// Muted or not.
        muted: bool,
    },
    /// Start, pause, resume or stop the call's recording.
    Record {
        /// Which.
        call: CallId,
        /// What to do.
        action: RecordAction,
    },
    /// Send DTMF digits.
    Dtmf {
        /// Which.
        call: CallId,
        /// `0-9 * # A-D`.
        digits: String,
    },
    /// Hand the call's peer over: blind to `target` (RFC 3515 REFER), or attended to the peer
    /// of the call `replaces` (REFER with Replaces, RFC 3891). The call is held meanwhile and
    /// comes back if the transfer fails.
    Transfer {
        /// The call whose peer is transferred.
        call: CallId,
        /// Blind: whom to send the peer to.
        target: Option<String>,
        /// Attended: the consultation call whose peer takes this call over.
        replaces: Option<CallId>,
    },
    /// Hold the call and call `target` to consult (the second call can then be transferred
    /// to, conferenced, or hung up to return).
    Consult {
        /// The call to hold.
        call: CallId,
        /// Whom to consult.
        target: String,
    },
    /// Make a local three-way conference: call `target` and mix it with the call, or mix the
    /// call with the existing call `with` (a consultation).
    Conference {
        /// The call.
        call: CallId,
        /// Instant conference: whom to add.
        target: Option<String>,
        /// Merge: the other call.
        with: Option<CallId>,
    },
}

/// Something that happened, for the desktop and `GET /v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The whole state, sent first to every new listener.
    Snapshot {
        /// The status.
        status: StatusView,
        /// Every call the phone remembers.
        calls: Vec<CallView>,
        /// Every interaction the phone remembers.
        interactions: Vec<Interaction>,
    },
    /// An interaction changed.
    Interaction {
        /// The interaction as it is now.
        interaction: Box<Interaction>,
    },
    /// The agent's state changed.
    Agent {
        /// The new state.
        agent: AgentStatus,
    },
    /// A call changed (state, codec, mute, end).
    Call {
        /// The call as it is now.
        call: CallView,
    },
    /// A DTMF digit was received on a call.
    Dtmf {
        /// Which call.
        call: CallId,
        /// The digit.
        digit: String,
    },
    /// A watched colleague's state changed.
    Presence {
        /// The colleague as they are now.
        target: PresenceView,
    },
    /// An account's registration changed.
    Registration {
        /// Its registration.
        registration: RegistrationView,
    },
    /// What a registration test ([`Request::TestRegistration`]) came to.
    RegistrationTest {
        /// The account's name as the form had it.
        account: String,
        /// Whether the registrar accepted it.
        registered: bool,
        /// In words: the lifetime granted, or why not.
        detail: String,
    },
}

/// What is asked of the core, by the desktop and by the control API alike: the one
/// vocabulary at the edge. Each request is answered by one [`Reply`] (the desktop is sent only
/// the replies it shows; what comes of a command arrives as [`Event`]s too).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A call command; answered [`Reply::Call`].
    Command(Command),
    /// Every call; answered [`Reply::Calls`].
    Calls,
    /// One call; answered [`Reply::Call`].
    GetCall(CallId),
    /// An action on an interaction; answered [`Reply::Interaction`].
    Interaction {
        /// Which.
        id: InteractionId,
        /// What.
        command: InteractionCommand,
    },
    /// A history search; answered [`Reply::Interactions`].
    Interactions(interaction::Query),
    /// One interaction, current or from the history; answered [`Reply::Interaction`].
    GetInteraction(InteractionId),
    /// The customer's earlier interactions with any agent (same number or case key); answered
    /// [`Reply::Case`].
    Case(InteractionId),
    /// Set the agent's state per channel (`None` leaves a channel as it is); answered
    /// [`Reply::Agent`].
    Agent {
        /// Voice calls.
        voice: Option<AgentState>,
        /// Web callbacks.
        web_callback: Option<AgentState>,
    },
    /// Every contact; answered [`Reply::Contacts`].
    Contacts,
    /// Create (id 0) or change a contact; answered [`Reply::Contact`].
    SaveContact(Contact),
    /// Delete a contact; answered [`Reply::Done`].
    DeleteContact(u64),
    /// Every standard response; answered [`Reply::Responses`].
    Responses,
    /// Create (id 0) or change a standard response; answered [`Reply::Response`].
    SaveResponse(StandardResponse),
    /// Delete a standard response; answered [`Reply::Done`].
    DeleteResponse(u64),
    /// The contacts and standard responses together ([`Reply::Directory`]).
    Directory,
    /// The status now ([`Reply::Status`]): the settings' level meters poll it.
    Status,
    /// The settings as saved and the sound devices there are ([`Reply::Settings`]).
    Settings,
    /// Check, save and apply settings ([`Reply::SettingsSaved`], or a refusal naming the
    /// field that is wrong; then nothing is changed).
    SaveSettings(Settings),
    /// REGISTER once with an account as the form has it, without saving it; answered
    /// [`Reply::Done`] at once, the outcome arrives as [`Event::RegistrationTest`].
    TestRegistration(Account),
    /// Play the test tone on the headset for two seconds; answered [`Reply::Done`].
    TestTone,
}

impl Request {
    /// Which kind of request this is, for the refusal that may answer it.
    #[must_use]
    pub fn kind(&self) -> RequestKind {
        match self {
            Self::Command(_) => RequestKind::Command,
            Self::Calls | Self::GetCall(_) => RequestKind::Calls,
            Self::Interaction { .. } => RequestKind::Interaction,
            Self::Interactions(_) | Self::GetInteraction(_) | Self::Case(_) => RequestKind::History,
            Self::Agent { .. } => RequestKind::Agent,
            Self::SaveContact(_) => RequestKind::SaveContact,
            Self::Contacts
            | Self::DeleteContact(_)
            | Self::Responses
            | Self::SaveResponse(_)
            | Self::DeleteResponse(_)
            | Self::Directory => RequestKind::Directory,
            Self::Status => RequestKind::Status,
            Self::Settings => RequestKind::Settings,
            Self::SaveSettings(_) => RequestKind::SaveSettings,
            Self::TestRegistration(form) => RequestKind::TestRegistration {
                account: form.name.clone(),
            },
            Self::TestTone => RequestKind::TestTone,
        }
    }

    /// What is asked, in words, for "Could not …".
    #[must_use]
    pub fn describe(&self) -> String {
        use Command as C;
        use InteractionCommand as I;
        match self {
            Self::Command(command) => match command {
                C::Dial { to, .. } | C::DialWith { to, .. } => format!("call {to}"),
                C::Answer { call } => format!("answer {call}"),
                C::Reject { call, .. } => format!("reject {call}"),
                C::Hangup { call } => format!("hang up {call}"),
                C::Hold { call } => format!("hold {call}"),
                C::Resume { call } => format!("resume {call}"),
                C::Mute { call, muted } => {
                    format!("{} {call}", if *muted { "mute" } else { "unmute" })
                }
                C::Record { call, action } => format!("recording {} on {call}", action.as_str()),
                C::Dtmf { call, digits } => format!("send {digits} on {call}"),
                C::Transfer { call, .. } => format!("transfer {call}"),
                C::Consult { call, target } => format!("consult {target} from {call}"),
                C::Conference { call, .. } => format!("conference {call}"),
            },
            Self::Calls => "list the calls".to_owned(),
            Self::GetCall(id) => format!("show {id}"),
            Self::Interaction { id, command } => {
                let verb = match command {
                    I::Accept => "accept",
                    I::Reject { .. } => "reject",
                    I::Call => "call back",
                    I::Done => "mark done",
                    I::Reschedule { .. } => "reschedule",
                    I::Disposition { .. } => "set the disposition of",
                    I::Note { .. } => "save the note of",
                };
                format!("{verb} {id}")
            }
            Self::Interactions(_) => "search the history".to_owned(),
            Self::GetInteraction(id) => format!("show {id}"),
            Self::Case(id) => format!("read the case history of {id}"),
            Self::Agent { .. } => "change the agent state".to_owned(),
            Self::Contacts | Self::Responses | Self::Directory => "read the directory".to_owned(),
            Self::SaveContact(_) => "save the contact".to_owned(),
            Self::DeleteContact(id) => format!("delete contact {id}"),
            Self::SaveResponse(_) => "save the response".to_owned(),
            Self::DeleteResponse(id) => format!("delete response {id}"),
            Self::Status => "read the status".to_owned(),
            Self::Settings => "open the settings".to_owned(),
            Self::SaveSettings(_) => "save the settings".to_owned(),
            Self::TestRegistration(form) => format!("test the registration of {:?}", form.name),
            Self::TestTone => "play the test tone".to_owned(),
        }
    }
}

/// The kind of a [`Request`] a refusal answers, so that the desktop puts the refusal where
/// the request was made (the Settings window, an account's test, the notice line) without
/// reading its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// [`Request::Command`].
    Command,
    /// [`Request::Calls`], [`Request::GetCall`].
    Calls,
    /// [`Request::Interaction`].
    Interaction,
    /// [`Request::Interactions`], [`Request::GetInteraction`], [`Request::Case`].
    History,
    /// [`Request::Agent`].
    Agent,
    /// [`Request::SaveContact`].
    SaveContact,
    /// The other directory requests.
    Directory,
    /// [`Request::Status`].
    Status,
    /// [`Request::Settings`].
    Settings,
    /// [`Request::SaveSettings`].
    SaveSettings,
    /// [`Request::TestRegistration`] of the account form with this name.
    TestRegistration {
        /// The form's name.
        account: String,
    },
    /// [`Request::TestTone`].
    TestTone,
}

/// Why a request was refused, as a kind (which the control API turns into its HTTP status)
/// and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What sort of refusal.
    pub kind: RefusalKind,
    /// Why, in words.
    pub message: String,
}

impl Refusal {
    /// A refusal of this kind.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The sorts of refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// What it names does not exist (no such call, interaction, contact).
    NotFound,
    /// Not now: the thing is in a state that does not allow it.
    Conflict,
    /// The request itself is wrong (a bad value, a missing field).
    Invalid,
    /// The phone cannot do it now (shutting down, no media port, nowhere to save).
    Unavailable,
    /// Something failed inside recall (the database, the settings file).
    Failed,
    /// This agent may not (a team's standard responses without the editor's role).
    Forbidden,
}

/// The core's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Done; nothing to show.
    Done,
    /// A call as it stands.
    Call(CallView),
    /// Every call.
    Calls(Vec<CallView>),
    /// An interaction as it stands.
    Interaction(Box<Interaction>),
    /// Interactions found.
    Interactions(Vec<Interaction>),
    /// An interaction's case history, newest first.
    Case {
        /// The interaction asked about.
        id: InteractionId,
        /// The earlier interactions of its case.
        entries: Vec<CaseEntry>,
    },
    /// The agent's state per channel.
    Agent(AgentStatus),
    /// A contact as saved.
    Contact(Contact),
    /// Every contact.
    Contacts(Vec<Contact>),
    /// A standard response as saved.
    Response(StandardResponse),
    /// Every standard response.
    Responses(Vec<StandardResponse>),
    /// The directory.
    Directory {
        /// Every contact.
        contacts: Vec<Contact>,
        /// Every standard response.
        responses: Vec<StandardResponse>,
    },
    /// The status, as asked.
    Status(StatusView),
    /// The settings as saved, and what can be chosen.
    Settings {
        /// The settings.
        settings: Settings,
        /// Microphones there are, by id (as `recall devices` lists them).
        inputs: Vec<String>,
        /// Headsets and speakers there are, by id.
        outputs: Vec<String>,
        /// Why no devices are listed, when none are.
        devices_note: Option<String>,
        /// Telephony headsets there are (hidraw nodes whose descriptor has a hook switch).
        headsets: Vec<String>,
        /// Where they are saved (`None`: they last until recall stops).
        file: Option<String>,
    },
    /// The settings were saved and are in use.
    SettingsSaved {
        /// Changes that take effect only when recall starts again, in words.
        on_restart: Vec<String>,
    },
    /// Refused: why.
    Refused(Refusal),
}

impl Reply {
    /// A refusal of this kind.
    pub fn refused(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self::Refused(Refusal::new(kind, message))
    }
}

/// What the Settings window edits: the parts of the config file an agent changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The SIP accounts.
    pub accounts: Vec<Account>,
    /// Codecs in order of preference (`opus`, `pcmu`, `pcma`).
    pub codecs: Vec<String>,
    /// The Opus bitrate, bits per second.
    pub opus_bitrate: u32,
    /// The microphone by name (the system's default when `None`).
    pub input: Option<String>,
    /// The headset or speaker by name.
    pub output: Option<String>,
    /// The ring device by name (the headset when `None`).
    pub ring: Option<String>,
    /// The status a Reject sends.
    pub reject_status: u16,
    /// The status calls get while Not Ready (480, 486 or 603).
    pub not_ready_status: u16,
    /// Seconds a callback may ring unanswered (`None`: until the server gives up).
    pub preview_timeout: Option<u64>,
    /// On that timeout, refuse the call here (480) instead of letting it ring on.
    pub reject_on_timeout: bool,
    /// Answer callbacks whose INVITE asks for auto-answer.
    pub honour_auto_answer: bool,
    /// Done needs a disposition.
    pub disposition_mandatory: bool,
    /// The STUN server (`IP:PORT`) that tells the SIP socket its public address
    /// (`[sip] stun_server`; `None`: none).
    #[serde(default)]
    pub stun_server: Option<String>,
    /// Seconds between keep-alives on flows to registrars (`[sip] keepalive_s`; 0: off).
    #[serde(default = "default_keepalive")]
    pub keepalive_s: u64,
    /// Cancel the far end's echo in the microphone (`[media] echo_cancellation`).
    #[serde(default = "yes")]
    pub echo_cancellation: bool,
    /// Suppress the room's noise in the microphone (`[media] noise_suppression`).
    #[serde(default = "yes")]
    pub noise_suppression: bool,
    /// Bring the agent's voice to a steady level (`[media] auto_gain`).
    #[serde(default)]
    pub auto_gain: bool,
    /// The headset whose buttons and lights follow the calls (`[headset] device`): `None` is
    /// `auto` (the first telephony headset found), `"off"`, or a node such as `/dev/hidraw3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headset: Option<String>,
    /// The desktop's language (`[desktop] language`): `"en"`, `"es"`, or `None` for the
    /// locale's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The desktop's theme (`[desktop] theme`): `"dark"`, `"light"`, `"high_contrast"`, or
    /// `None` for dark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// The desktop's UI scale in percent (`[desktop] scale`), `None` for 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u16>,
}

fn default_keepalive() -> u64 {
    30
}

fn yes() -> bool {
    true
}

/// One account: the one shape the config file (`[[accounts]]`), the control API, the
/// Settings window and the engine share. Empty strings are unset; keys left out of the file
/// take the defaults (register every 600 s, DTMF `auto`, the `[media]` codecs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Account {
    /// A short name, unique among the accounts (calls choose an account by it).
    pub name: String,
    /// The address-of-record, `sip:user@host`.
    pub aor: String,
    /// Shown to the people called (in `From`).
    pub display_name: String,
    /// The registrar URI (the AOR's domain when empty).
    pub registrar: String,
    /// The next hop for REGISTER and calls, `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT`
    /// (the registrar located by DNS, or its host and port, when empty).
    pub proxy: String,
    /// The digest user name (the AOR's user when empty).
    pub username: String,
    /// The digest password (no authentication when empty).
    pub password: String,
    /// The registration lifetime, seconds.
    pub expires: u64,
    /// Whether to register.
    pub register: bool,
    /// Codecs for calls placed as this account, in order of preference (the `[media]` codecs
    /// when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    /// How DTMF is sent: `auto` (RFC 4733 when agreed, else SIP INFO), `rfc4733` or `info`.
    pub dtmf: String,
    /// A PEM file of the certificate authorities trusted for this account's TLS server (the
    /// `[tls] ca`, else the system's roots, when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tls_ca: String,
    /// Accept any server certificate over TLS: a lab switch, logged loudly; never for real
    /// deployments.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
    /// Media encryption on this account's calls: `off`, `optional` or `mandatory` (the
    /// `[media] encryption` when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_encryption: String,
    /// Subscribe to the mailbox's message summary (RFC 3842) at the address-of-record: the
    /// voicemail indicator.
    #[serde(default)]
    pub mwi: bool,
    /// How this account's offers key SRTP: `sdes` or `dtls` (the `[media] keying` when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub media_keying: String,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            name: String::new(),
            aor: String::new(),
            display_name: String::new(),
            registrar: String::new(),
            proxy: String::new(),
            username: String::new(),
            password: String::new(),
            expires: 600,
            register: true,
            codecs: Vec::new(),
            dtmf: "auto".to_owned(),
            tls_ca: String::new(),
            tls_insecure: false,
            media_encryption: String::new(),
            media_keying: String::new(),
            mwi: false,
        }
    }
}

/// What the core sends the desktop.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // events are the traffic; boxing them would cost each one
pub enum Delivery {
    /// Something happened.
    Event(Event),
    /// An answer to a request.
    Reply(Reply),
    /// A request was refused.
    Refused {
        /// The kind of request refused.
        request: RequestKind,
        /// What was asked, in words ([`Request::describe`]).
        what: String,
        /// Why not.
        refusal: Refusal,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_read_and_write_as_c_n() {
        let id: CallId = "c-42".parse().expect("parses");
        assert_eq!(id, CallId(42));
        assert_eq!(serde_json::to_string(&id).expect("json"), "\"c-42\"");
        assert!("42".parse::<CallId>().is_err());
        assert!("c-x".parse::<CallId>().is_err());
    }
}
