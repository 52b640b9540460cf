//! What a phone is built from.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use api::{AudioStatus, CallId};
use interaction::{Disposition, KeyMap, default_dispositions};
use media::{AudioPort, Codec, OpusSettings, Tone};

/// How DTMF digits are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DtmfMode {
    /// RFC 4733 events when the peer agreed to telephone-event, else SIP INFO.
    #[default]
    Auto,
    /// RFC 4733 events only (digits are refused when the peer did not agree to them).
    Rfc4733,
    /// SIP INFO with `application/dtmf-relay`.
    Info,
}

/// When calls are recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecordingPolicy {
    /// Never: recording cannot be started.
    Never,
    /// When the agent (or the API) starts it.
    #[default]
    OnDemand,
    /// Every connected call, from its start; it can be paused, not stopped.
    Always,
}

/// Call recording: stereo WAV files, the agent on the left channel, the customer on the
/// right. The phone names the files; the runtime writes them.
#[derive(Debug, Clone, Default)]
pub struct RecordingSettings {
    /// When calls are recorded.
    pub policy: RecordingPolicy,
    /// The directory the files go into (a path for the runtime; the phone opens nothing).
    pub dir: String,
}

/// How calls' media is set up.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Codecs in order of preference (offers list them so; answers take the offerer's order).
    pub codecs: Vec<Codec>,
    /// Our Opus encoder.
    pub opus: OpusSettings,
    /// The jitter buffer's least delay.
    pub jitter_min: Duration,
    /// The jitter buffer's greatest delay.
    pub jitter_max: Duration,
    /// Whether calls' media is encrypted (SRTP).
    pub encryption: media::Encryption,
    /// How our offers key SRTP (answers take whichever keying the offer uses).
    pub keying: media::Keying,
    /// This run's DTLS certificate (DTLS-SRTP); `None`: offers keyed by DTLS are refused.
    pub dtls_identity: Option<media::DtlsIdentity>,
    /// Let SDES keys cross unencrypted SIP (RFC 4568 §7.1 forbids it; labs need it).
    pub sdes_over_plain_sip: bool,
    /// SRTP crypto suites offered and accepted, in order of preference.
    pub srtp_suites: Vec<media::Suite>,
    /// ICE on calls' media (RFC 8445) with these STUN/TURN servers; `None`: no ICE.
    pub ice: Option<media::IceServers>,
    /// The microphone's processing (echo cancellation, noise suppression, gain control), run
    /// by the audio backend.
    pub voice: media::VoiceSettings,
    /// G.711/G.722 calls send next to nothing while what they send is silent.
    pub silence_suppression: bool,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            codecs: vec![Codec::Opus, Codec::G722, Codec::Pcmu, Codec::Pcma],
            opus: OpusSettings::default(),
            jitter_min: Duration::from_millis(20),
            jitter_max: Duration::from_millis(300),
            encryption: media::Encryption::Off,
            keying: media::Keying::Sdes,
            dtls_identity: None,
            sdes_over_plain_sip: false,
            srtp_suites: media::Suite::ALL.to_vec(),
            ice: None,
            voice: media::VoiceSettings::default(),
            silence_suppression: false,
        }
    }
}

/// How much the phone takes on at once (issue 14: a flood of INVITEs must not ring without
/// end, nor a lab's soak grow without bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Calls in progress (ringing, dialing, talking, held); one more is refused 486 Busy Here.
    pub max_calls: usize,
    /// Calls ringing at once; one more is refused 486 Busy Here.
    pub max_ringing: usize,
    /// A call ringing this long with no answer and no CANCEL is ended 480 and its
    /// interaction missed (RFC 3261 §16.6's Timer C, which a UAS keeps for itself here).
    pub ring_timeout: Duration,
    /// New calls a second from one IP address (0: no limit). One more marks the address a
    /// flood for [`FLOOD_BLOCK`]: the calls it has ringing are ended and what it sends next is
    /// refused 503 with Retry-After, so a flood cannot hold the ringing slots a PBX's
    /// calls need.
    pub max_invites_per_source: u32,
}

/// How long an address that flooded is refused.
pub const FLOOD_BLOCK: Duration = Duration::from_secs(30);

impl Limits {
    /// An agent's desktop: one person talks on one call, with a consultation and a
    /// three-way conference at most, and a few more waiting to be picked up; more at once is
    /// a flood, not work. A PBX offers an agent a call or two a second at most; twenty from
    /// one address in a second is a scanner or a flood.
    pub const DESKTOP: Self = Self {
        max_calls: 8,
        max_ringing: 4,
        ring_timeout: Duration::from_secs(180),
        max_invites_per_source: 20,
    };
    /// A headless lab phone answering SIPp load: the capacity sweep keeps about a second's
    /// worth of calls up (800 at 800 calls/s); room for twice its top rate, and ringing calls
    /// bounded well below it (an auto-answered call rings for no time). SIPp sends its whole
    /// load from one address, so no per-address rate.
    pub const HEADLESS: Self = Self {
        max_calls: 4000,
        max_ringing: 500,
        ring_timeout: Duration::from_secs(180),
        max_invites_per_source: 0,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DESKTOP
    }
}

/// Makes the audio port of each call (null, WAV files, devices). Called on the core thread
/// when a call's media starts and ends; implementations only touch memory.
pub trait AudioFactory: Send {
    /// The port for a call whose media starts now, exchanging 20 ms frames at `rate` Hz.
    fn open(&mut self, call: CallId, rate: u32) -> Box<dyn AudioPort>;
    /// The call's media stopped; the port is handed back.
    fn close(&mut self, call: CallId, port: Box<dyn AudioPort>);
    /// The tones to play now: on the headset (ringback, busy, reorder) and on the ring
    /// device (the ringtone). Backends with no one listening ignore them.
    fn tones(&mut self, _headset: Option<Tone>, _ring: Option<Tone>) {}
    /// What the backend is and its levels, for the status view.
    fn status(&self) -> AudioStatus {
        AudioStatus::default()
    }
    /// The microphone processing to run from now on (at start and on every settings change).
    /// Backends with no microphone ignore it.
    fn processing(&mut self, _voice: media::VoiceSettings) {}
}

/// A factory whose ports capture silence and discard playback.
#[derive(Debug, Default)]
pub struct NullAudio;

impl AudioFactory for NullAudio {
    fn open(&mut self, _call: CallId, _rate: u32) -> Box<dyn AudioPort> {
        Box::new(())
    }
    fn close(&mut self, _call: CallId, _port: Box<dyn AudioPort>) {}
}

/// How callback interactions are handled.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    /// Which attached-data keys mean what.
    pub key_map: KeyMap,
    /// The disposition codes the agent can choose.
    pub dispositions: Vec<Disposition>,
    /// Whether Done needs a disposition.
    pub disposition_mandatory: bool,
    /// The status a Reject sends (486 so the server re-routes).
    pub reject_status: u16,
    /// The status new calls get while the agent is Not Ready (480, 486 or 603).
    pub not_ready_status: u16,
    /// The domain a bare customer number is dialled at (`sip:{number}@{domain}`); the first
    /// account's domain when unset.
    pub dial_domain: Option<String>,
    /// How long an interaction may ring unanswered (`_agent_preview_timeout` overrides it).
    pub preview_timeout: Option<std::time::Duration>,
    /// What the timeout does: `None` keeps ringing until the server CANCELs (487); a status
    /// (480) refuses the call locally. Either way the interaction is missed.
    pub timeout_status: Option<u16>,
    /// Whether auto-answer requests in the INVITE (`Call-Info: …;answer-after=N`,
    /// `Alert-Info: …;info=alert-autoanswer`, RFC 5373 `Answer-Mode: Auto`) are honoured.
    pub honour_auto_answer: bool,
    /// How long a blind transfer the peer accepted (202) may still fail (a 4xx-6xx sipfrag
    /// brings the call back) before the agent's leg is released without a final outcome.
    pub transfer_grace: Duration,
}

/// The default transfer grace: a transfer that fails at once (busy, declined, unknown
/// extension) is reported by a PBX within a second or two; a 2xx from a phone that rings
/// takes longer than any grace, and a queue or IVR never sends one. Three seconds lets the
/// quick failures bring the call back and frees the agent almost at once otherwise.
pub const DEFAULT_TRANSFER_GRACE: Duration = Duration::from_secs(3);

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            key_map: KeyMap::default(),
            dispositions: default_dispositions(),
            disposition_mandatory: false,
            reject_status: 486,
            not_ready_status: 486,
            dial_domain: None,
            preview_timeout: None,
            timeout_status: None,
            honour_auto_answer: false,
            transfer_grace: DEFAULT_TRANSFER_GRACE,
        }
    }
}

/// Fills a buffer with cryptographically secure random bytes; `false` when it could not.
pub type SecureRandom = Box<dyn FnMut(&mut [u8]) -> bool + Send>;

/// Settings of a phone.
pub struct PhoneConfig {
    /// The SIP user agent's settings.
    pub ua: sip::UaConfig,
    /// Accounts, registered at start when they say so.
    pub accounts: Vec<api::Account>,
    /// Answer incoming calls by themselves after this delay.
    pub auto_answer: Option<Duration>,
    /// The address written into SDP for our RTP.
    pub media_ip: IpAddr,
    /// Where calls' audio comes from and goes to.
    pub audio: Box<dyn AudioFactory>,
    /// Codecs, Opus and the jitter buffer.
    pub media: MediaSettings,
    /// A cryptographically secure source of random bytes (SRTP keys). The phone does no
    /// I/O, so the caller supplies it: the OS's generator in the product, a seeded one in
    /// virtual-time tests.
    pub secure_random: SecureRandom,
    /// How many ended calls `calls()` remembers.
    pub keep_ended: usize,
    /// Calls in progress and ringing at once, and how long a call may ring.
    pub limits: Limits,
    /// Call recording.
    pub recording: RecordingSettings,
    /// The colleagues watched for the Team Communicator (BLF or presence).
    pub presence: crate::presence::PresenceSettings,
    /// Seed for tags, branches, Call-IDs and SSRCs.
    pub seed: u64,
    /// Callback handling.
    pub callbacks: CallbackSettings,
    /// The wall-clock time at the `now` the phone is created with; timelines are stamped
    /// from it (the phone never reads a clock).
    pub wall_clock: time::OffsetDateTime,
    /// A STUN server (RFC 8489) asked every so often from the SIP UDP socket: its answer is
    /// the public address put in Via and Contact, and the asking keeps a NAT's mapping alive.
    pub stun: Option<(SocketAddr, Duration)>,
    /// How often a UDP flow to a registrar is kept alive with a STUN Binding request
    /// (RFC 5626 §4.4.2; `None`: not at all). An answer that shows a new public address is
    /// taken as STUN's would be.
    pub udp_keepalive: Option<Duration>,
}

impl std::fmt::Debug for PhoneConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneConfig")
            .field("ua", &self.ua)
            .field("accounts", &self.accounts)
            .field("auto_answer", &self.auto_answer)
            .field("media_ip", &self.media_ip)
            .finish_non_exhaustive()
    }
}
