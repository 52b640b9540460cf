//! The TOML configuration file: plain structs with defaults, validated once at start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// SIP settings.
    pub sip: SipSection,
    /// Media settings.
    pub media: MediaSection,
    /// Control API settings.
    pub control: ControlSection,
    /// Callback handling.
    pub callbacks: CallbackSection,
    /// Accounts.
    pub accounts: Vec<api::Account>,
    /// The outcome webhook.
    pub webhook: WebhookSection,
    /// Sound devices.
    pub audio: AudioSection,
    /// The agent desktop.
    pub desktop: DesktopSection,
    /// Name resolution.
    pub dns: DnsSection,
    /// SIP over TLS.
    pub tls: TlsSection,
    /// How much the phone takes on at once.
    pub limits: LimitsSection,
    /// Call recording.
    pub recording: RecordingSection,
    /// Watching colleagues (BLF, presence).
    pub presence: PresenceSection,
    /// The headset's buttons and lights.
    pub headset: HeadsetSection,
    /// Where interactions, contacts and responses are kept (a team's PostgreSQL).
    pub store: StoreSection,
    /// The team's LDAP directory.
    pub directory: DirectorySection,
}

/// `[directory]`: the team's LDAP directory, read into the contacts (number matching and the
/// Team Communicator) now and every `refresh_s`. Without `url` there is none.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorySection {
    /// `ldap://host:port`.
    pub url: Option<String>,
    /// Where people are, e.g. `ou=people,dc=example,dc=com`.
    pub base: String,
    /// Which entries are people.
    pub filter: String,
    /// Bind as this DN (else anonymously).
    pub bind_dn: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The attribute with the name shown.
    pub name_attribute: String,
    /// The attributes with phone numbers.
    pub number_attributes: Vec<String>,
    /// The attribute with the e-mail address ("" for none).
    pub email_attribute: String,
    /// Seconds between readings.
    pub refresh_s: u64,
    /// At most this many entries.
    pub size_limit: usize,
}

impl Default for DirectorySection {
    fn default() -> Self {
        Self {
            url: None,
            base: String::new(),
            filter: "(objectClass=inetOrgPerson)".to_owned(),
            bind_dn: None,
            password: None,
            name_attribute: "cn".to_owned(),
            number_attributes: vec!["telephoneNumber".to_owned(), "mobile".to_owned()],
            email_attribute: "mail".to_owned(),
            refresh_s: 300,
            size_limit: 5000,
        }
    }
}

impl DirectorySection {
    /// Checks the values (the server itself is read after start).
    pub fn check(&self) -> Result<(), ConfigError> {
        let Some(url) = &self.url else {
            return Ok(());
        };
        if !(url.starts_with("ldap://") || url.starts_with("ldapi://")) {
            return Err(ConfigError::Value {
                key: "directory.url",
                value: format!("{url:?}"),
                expected: "use ldap://host:port (or ldapi://)",
            });
        }
        if self.base.trim().is_empty() {
            return Err(ConfigError::Value {
                key: "directory.base",
                value: "empty".to_owned(),
                expected: "name where people are, e.g. \"ou=people,dc=example,dc=com\"",
            });
        }
        if !(self.filter.starts_with('(') && self.filter.ends_with(')')) {
            return Err(ConfigError::Value {
                key: "directory.filter",
                value: format!("{:?}", self.filter),
                expected: "an LDAP filter in parentheses, e.g. \"(objectClass=inetOrgPerson)\"",
            });
        }
        if !(10..=86_400).contains(&self.refresh_s) || self.size_limit == 0 {
            return Err(ConfigError::Value {
                key: "directory.refresh_s",
                value: format!("{} (size_limit {})", self.refresh_s, self.size_limit),
                expected: "refresh_s from 10 to 86400 and a size_limit above 0",
            });
        }
        Ok(())
    }

    /// The runtime's settings, when a directory is configured.
    #[must_use]
    pub fn to_runtime(&self) -> Option<runtime::ldap::DirectoryConfig> {
        Some(runtime::ldap::DirectoryConfig {
            url: self.url.clone()?,
            base: self.base.clone(),
            filter: self.filter.clone(),
            bind_dn: self.bind_dn.clone(),
            password: self.password.clone(),
            name_attribute: self.name_attribute.clone(),
            number_attributes: self.number_attributes.clone(),
            email_attribute: Some(self.email_attribute.clone()).filter(|a| !a.is_empty()),
            refresh: Duration::from_secs(self.refresh_s),
            size_limit: self.size_limit,
        })
    }
}

/// `[store]`: a team's shared database and how a customer's case is recognised. Without `url`
/// the store is the `--db` SQLite file (or memory); `--db postgres://…` overrides `url`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `postgres://user[:password]@host[:port]/database` for a team.
    pub url: Option<String>,
    /// This agent's name in the shared store (default: the first account's user, else the
    /// host's name): its interactions are kept under it and the case history shows it.
    pub agent: Option<String>,
    /// Attached-data keys that name a case: interactions with the same value (or the same
    /// customer number) are one case.
    pub case_keys: Vec<String>,
    /// Seconds a claimed team callback stays this agent's without renewal (renewed every
    /// second while it waits for the agent): how soon another agent gets a dead agent's.
    pub lease_s: u64,
    /// Whether this agent may change the standard responses (default: yes for its own file,
    /// no on a team's store, where they are the team's).
    pub responses_editor: Option<bool>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            url: None,
            agent: None,
            case_keys: vec!["CaseID".to_owned()],
            lease_s: 30,
            responses_editor: None,
        }
    }
}

impl StoreSection {
    /// Checks the URL's form (the server itself is reached at start).
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url
            && !store::is_server_url(url)
        {
            return Err(ConfigError::Value {
                key: "store.url",
                value: format!("{url:?}"),
                expected: "use postgres://user@host:port/database (a SQLite file is --db PATH)",
            });
        }
        if !(2..=3600).contains(&self.lease_s) {
            return Err(ConfigError::Value {
                key: "store.lease_s",
                value: self.lease_s.to_string(),
                expected: "seconds from 2 to 3600 (renewed every second)",
            });
        }
        if let Some(agent) = &self.agent
            && (agent.trim().is_empty() || agent.len() > 200)
        {
            return Err(ConfigError::Value {
                key: "store.agent",
                value: format!("{agent:?}"),
                expected: "a name of 1 to 200 characters, such as the agent's login",
            });
        }
        Ok(())
    }
}

/// `[headset]`: the USB headset whose buttons answer, reject, mute, hold and hang up, and whose
/// off-hook, ring and mute lights follow the calls (HID telephony page through hidraw).
/// `device = "auto"` (the default: the first hidraw device with a hook switch), `"off"`, or a
/// node such as `"/dev/hidraw3"`; `descriptor` names the report descriptor's file for a node
/// that is not a hidraw device (a virtual headset in a lab).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadsetSection {
    /// `auto`, `off` or a device node.
    pub device: Option<String>,
    /// The report descriptor's file, for a node without one in sysfs.
    pub descriptor: Option<std::path::PathBuf>,
}

impl HeadsetSection {
    /// The runtime's choice.
    ///
    /// # Errors
    /// `device` is neither `auto`, `off` nor an absolute path.
    pub fn to_choice(&self) -> Result<runtime::HeadsetChoice, ConfigError> {
        match self.device.as_deref() {
            None | Some("auto") => Ok(runtime::HeadsetChoice::Auto),
            Some("off") => Ok(runtime::HeadsetChoice::Off),
            Some(path) if path.starts_with('/') => Ok(runtime::HeadsetChoice::Device {
                path: path.into(),
                descriptor: self.descriptor.clone(),
            }),
            Some(other) => Err(ConfigError::Value {
                key: "headset.device",
                value: other.to_owned(),
                expected: "use \"auto\", \"off\" or a device node such as \"/dev/hidraw3\"",
            }),
        }
    }
}

/// `[presence]`: how the Team Communicator watches the `agent` targets of `[[desktop.targets]]`
/// — `watch = "dialog"` (BLF, RFC 4235: ringing, on a call), `"presence"` (RFC 3856) or
/// `"off"` (the default) — subscribing through the first account.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceSection {
    /// `off`, `dialog` or `presence`.
    pub watch: Option<String>,
}

impl PresenceSection {
    /// The phone's watch list from the desktop's targets.
    pub fn to_settings(
        &self,
        targets: &[TargetSection],
    ) -> Result<engine::PresenceSettings, ConfigError> {
        let event = match self.watch.as_deref() {
            None | Some("off") => engine::WatchEvent::Off,
            Some("dialog") => engine::WatchEvent::Dialog,
            Some("presence") => engine::WatchEvent::Presence,
            Some(other) => {
                return Err(ConfigError::Value {
                    key: "presence.watch",
                    value: other.to_owned(),
                    expected: "use \"off\", \"dialog\" (BLF) or \"presence\"",
                });
            }
        };
        Ok(engine::PresenceSettings {
            event,
            targets: targets
                .iter()
                .filter(|t| t.kind == "agent")
                .map(|t| (t.name.clone(), t.uri.clone()))
                .collect(),
        })
    }
}

/// `[recording]`: when calls are recorded (`policy = "never" | "on_demand" | "always"`,
/// default `on_demand`) and where the files go (`dir`; default `recordings/` beside the
/// database, or in the working directory without one).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSection {
    /// `never`, `on_demand` or `always`.
    pub policy: Option<String>,
    /// The directory the files go into.
    pub dir: Option<std::path::PathBuf>,
}

impl RecordingSection {
    /// The phone's recording settings; `db` is the database's path, if any.
    pub fn to_settings(
        &self,
        db: Option<&std::path::Path>,
    ) -> Result<engine::RecordingSettings, ConfigError> {
        let policy = match self.policy.as_deref() {
            None | Some("on_demand") => engine::RecordingPolicy::OnDemand,
            Some("never") => engine::RecordingPolicy::Never,
            Some("always") => engine::RecordingPolicy::Always,
            Some(other) => {
                return Err(ConfigError::Value {
                    key: "recording.policy",
                    value: other.to_owned(),
                    expected: "use \"never\", \"on_demand\" or \"always\"",
                });
            }
        };
        let dir = match (&self.dir, db.and_then(std::path::Path::parent)) {
            (Some(dir), _) => dir.clone(),
            (None, Some(beside)) if !beside.as_os_str().is_empty() => beside.join("recordings"),
            (None, _) => std::path::PathBuf::from("recordings"),
        };
        Ok(engine::RecordingSettings {
            policy,
            dir: dir.to_string_lossy().into_owned(),
        })
    }
}

/// `[limits]`: calls in progress and ringing at once (one more is refused 486 Busy Here), how
/// long a call may ring unanswered (then 480), and how many new calls a second one address
/// may send before it is refused as a flood (503 for 30 s). Unset keys take the mode's defaults:
/// `engine::Limits::DESKTOP` for the desktop, `HEADLESS` for headless labs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Calls in progress at once.
    pub max_calls: Option<usize>,
    /// Calls ringing at once.
    pub max_ringing: Option<usize>,
    /// Seconds a call may ring before it is ended 480 (Timer C).
    pub ring_timeout_s: Option<u64>,
    /// New calls a second from one address before it is refused as a flood (0: no limit).
    pub max_invites_per_source: Option<u32>,
}

impl LimitsSection {
    /// `base` with what is set here, or what is wrong.
    pub fn to_limits(&self, base: engine::Limits) -> Result<engine::Limits, ConfigError> {
        let count = |key: &'static str, value: Option<usize>, default: usize| match value {
            None => Ok(default),
            Some(n) if (1..=100_000).contains(&n) => Ok(n),
            Some(n) => Err(ConfigError::Value {
                key,
                value: n.to_string(),
                expected: "it must be between 1 and 100000",
            }),
        };
        let ring_timeout = match self.ring_timeout_s {
            None => base.ring_timeout,
            Some(s) if (1..=3600).contains(&s) => std::time::Duration::from_secs(s),
            Some(s) => {
                return Err(ConfigError::Value {
                    key: "limits.ring_timeout_s",
                    value: s.to_string(),
                    expected: "it must be between 1 and 3600 seconds",
                });
            }
        };
        let max_invites_per_source = match self.max_invites_per_source {
            None => base.max_invites_per_source,
            Some(n) if n <= 100_000 => n,
            Some(n) => {
                return Err(ConfigError::Value {
                    key: "limits.max_invites_per_source",
                    value: n.to_string(),
                    expected: "it must be between 0 (no limit) and 100000",
                });
            }
        };
        Ok(engine::Limits {
            max_calls: count("limits.max_calls", self.max_calls, base.max_calls)?,
            max_ringing: count("limits.max_ringing", self.max_ringing, base.max_ringing)?,
            ring_timeout,
            max_invites_per_source,
        })
    }
}

/// `[tls]`: the certificate a `tls:` listener presents (also offered as the client
/// certificate) and the authorities trusted for servers when an account names none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// The certificate chain, PEM.
    pub cert: Option<std::path::PathBuf>,
    /// Its private key, PEM.
    pub key: Option<std::path::PathBuf>,
    /// Trusted authorities, PEM (the system's roots when unset).
    pub ca: Option<std::path::PathBuf>,
}

impl TlsSection {
    /// The files for the runtime, checked now: a missing or unreadable file stops the start
    /// with its name.
    pub fn to_runtime(&self) -> Result<runtime::tls::TlsFiles, runtime::tls::TlsError> {
        let files = runtime::tls::TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
            ca: self.ca.clone(),
        };
        files.check()?;
        Ok(files)
    }
}

/// `[dns]`: where names (registrars, proxies, dialled domains) are looked up.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSection {
    /// DNS servers as `IP:PORT`, asked instead of the system's resolvers (labs, tests).
    pub servers: Vec<String>,
}

impl DnsSection {
    /// The servers, read; the first that is not `IP:PORT` is named.
    pub fn addresses(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.servers
            .iter()
            .map(|text| {
                text.trim().parse().map_err(|_| ConfigError::Value {
                    key: "dns.servers",
                    value: text.clone(),
                    expected: "each must be IP:PORT, e.g. \"192.0.2.53:53\" or \"[2001:db8::53]:53\"",
                })
            })
            .collect()
    }
}

/// `[desktop]`: what the agent desktop shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DesktopSection {
    /// Case information fields, in order (the built-in set when empty).
    pub case_fields: Vec<CaseField>,
    /// Agents, queues and routing points for the Team Communicator.
    pub targets: Vec<TargetSection>,
    /// The contact record's own fields, in order (key and label, like case fields).
    pub contact_fields: Vec<CaseField>,
    /// The desktop's language: `auto` (the locale's, the default), `en` or `es`.
    pub language: Option<String>,
    /// The desktop's theme: `dark` (the default), `light` or `high_contrast`.
    pub theme: Option<String>,
    /// The desktop's UI scale in percent (100 unless given; 50 to 300).
    pub scale: Option<u16>,
    /// The global shortcut that accepts the ringing callback from any window (`Ctrl+Shift+F5`
    /// unless given; `off` for none).
    pub accept_shortcut: Option<String>,
    /// The global shortcut that rejects it (`Ctrl+Shift+F6` unless given; `off` for none).
    pub reject_shortcut: Option<String>,
}

/// `[[desktop.case_fields]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseField {
    /// The attached-data key (as it reads after the prefix).
    pub key: String,
    /// The label shown.
    pub label: String,
}

/// `[[desktop.targets]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// What the agent sees.
    pub name: String,
    /// `agent`, `queue` or `routing point`.
    #[serde(default = "default_target_kind")]
    pub kind: String,
    /// Where it is called.
    pub uri: String,
}

fn default_target_kind() -> String {
    "agent".to_owned()
}

/// `[audio]`: the sound devices `--audio device` opens, by id or name (see `recall devices`);
/// unset means the system default. With no `ring` device the ringtone plays on `output`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioSection {
    /// The microphone.
    pub input: Option<String>,
    /// The headset or speaker.
    pub output: Option<String>,
    /// The ring device.
    pub ring: Option<String>,
}

/// `[webhook]`: where outcomes (done, rescheduled, disposition) are posted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSection {
    /// `http://` or `https://host[:port]/path`; no webhook when absent.
    pub url: Option<String>,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// Authorities (PEM) trusted for an https:// server (`[tls] ca`, else the system's
    /// roots, when unset).
    pub ca: Option<std::path::PathBuf>,
}

impl WebhookSection {
    /// The runtime's view; `None` when no URL is set. `default_ca` is `[tls] ca`.
    pub fn to_runtime(
        &self,
        default_ca: Option<&Path>,
    ) -> Result<Option<runtime::WebhookConfig>, ConfigError> {
        let ca = self.ca.clone().or_else(|| default_ca.map(Path::to_owned));
        if let (Some(_), Some(file)) = (&self.url, &ca) {
            let what = if self.ca.is_some() {
                "webhook.ca"
            } else {
                "[tls] ca"
            };
            runtime::tls::check_ca_file(what, file)
                .map_err(|e| ConfigError::WebhookCa(Box::new(e)))?;
        }
        self.url
            .as_deref()
            .map(|url| runtime::WebhookConfig::new(url, self.token.clone()))
            .transpose()
            .map(|hook| hook.map(|h| h.with_ca(ca)))
            .map_err(ConfigError::Webhook)
    }
}

/// `[callbacks]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSection {
    /// Header prefix of attached data.
    pub prefix: String,
    /// Done needs a disposition.
    pub disposition_mandatory: bool,
    /// Status sent by Reject.
    pub reject_status: u16,
    /// Status new calls get while Not Ready: 480, 486 or 603.
    pub not_ready_status: u16,
    /// Domain a bare customer number is dialled at.
    pub dial_domain: Option<String>,
    /// Disposition codes and labels; the default set when empty.
    pub dispositions: Vec<DispositionSection>,
    /// Seconds an interaction may ring unanswered (`_agent_preview_timeout` overrides it).
    pub preview_timeout: Option<u64>,
    /// On the preview timeout: "keep_ringing" (the server CANCELs, 487) or "reject" (local 480).
    pub on_timeout: String,
    /// Honour auto-answer requests in the INVITE (Call-Info answer-after, Alert-Info, Answer-Mode).
    pub honour_auto_answer: bool,
    /// Milliseconds a blind transfer the peer accepted may still fail before the agent's leg
    /// is released without a final outcome (instant transfer to queues and IVRs).
    pub transfer_grace_ms: u64,
}

impl Default for CallbackSection {
    fn default() -> Self {
        Self {
            prefix: "X-Genesys-".to_owned(),
            disposition_mandatory: false,
            reject_status: 486,
            not_ready_status: 486,
            dial_domain: None,
            dispositions: Vec::new(),
            preview_timeout: None,
            on_timeout: "keep_ringing".to_owned(),
            honour_auto_answer: false,
            transfer_grace_ms: engine::DEFAULT_TRANSFER_GRACE.as_millis() as u64,
        }
    }
}

/// `[[callbacks.dispositions]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionSection {
    /// The code.
    pub code: String,
    /// The label.
    pub label: String,
}

impl CallbackSection {
    /// The engine's view.
    pub fn to_settings(&self) -> engine::CallbackSettings {
        let defaults = engine::CallbackSettings::default();
        engine::CallbackSettings {
            key_map: interaction::KeyMap {
                prefix: self.prefix.clone(),
                ..defaults.key_map
            },
            dispositions: if self.dispositions.is_empty() {
                defaults.dispositions
            } else {
                self.dispositions
                    .iter()
                    .map(|d| interaction::Disposition {
                        code: d.code.clone(),
                        label: d.label.clone(),
                    })
                    .collect()
            },
            disposition_mandatory: self.disposition_mandatory,
            reject_status: self.reject_status,
            not_ready_status: self.not_ready_status,
            dial_domain: self.dial_domain.clone(),
            preview_timeout: self.preview_timeout.map(std::time::Duration::from_secs),
            timeout_status: (self.on_timeout == "reject").then_some(480),
            honour_auto_answer: self.honour_auto_answer,
            transfer_grace: std::time::Duration::from_millis(self.transfer_grace_ms),
        }
    }
}

/// `[sip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    /// Listeners, `udp:IP:PORT` or `tcp:IP:PORT`.
    pub listen: Vec<String>,
    /// `User-Agent` / `Server` value.
    pub user_agent: String,
    /// RFC 3261 T1 in milliseconds.
    pub t1_ms: u64,
    /// Seconds an outgoing call may ring before it is cancelled.
    pub ring_timeout: u64,
    /// Seconds of quiet before a TCP/TLS flow recall opened is probed with a CRLF keep-alive
    /// (RFC 5626 §4.4.1; a flow that does not answer within 10 s is closed and the
    /// registration made again on a new one); 0 turns keep-alives off.
    pub keepalive_s: u64,
    /// A STUN server, `IP:PORT`, asked every `keepalive_s` (30 s when that is 0) from the SIP
    /// UDP socket: its answer (the NAT's public address) goes into Via and Contact, and a
    /// changed answer registers again.
    pub stun_server: Option<String>,
    /// The session interval our calls ask for (RFC 4028 `Session-Expires`), in seconds; the
    /// refresher refreshes at half of it and a call nobody refreshes ends. 0 asks for none
    /// (a peer's request is still honoured). At least 90 (RFC 4028's smallest `Min-SE`).
    pub session_expires_s: u64,
}

impl SipSection {
    /// The session interval to ask for, checked.
    pub fn session_expires(&self) -> Result<Option<Duration>, ConfigError> {
        match self.session_expires_s {
            0 => Ok(None),
            s if s < 90 => Err(ConfigError::Value {
                key: "sip.session_expires_s",
                value: s.to_string(),
                expected: "it must be 0 (no session timer) or at least 90 (RFC 4028's Min-SE)",
            }),
            s => Ok(Some(Duration::from_secs(s))),
        }
    }

    /// The STUN server, read.
    pub fn stun(&self) -> Result<Option<SocketAddr>, ConfigError> {
        self.stun_server
            .as_deref()
            .map(|text| {
                text.trim().parse().map_err(|_| ConfigError::Value {
                    key: "sip.stun_server",
                    value: text.to_owned(),
                    expected: "it must be IP:PORT, e.g. \"192.0.2.50:3478\"",
                })
            })
            .transpose()
    }
}

impl Default for SipSection {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            user_agent: concat!("recall/", env!("CARGO_PKG_VERSION")).to_owned(),
            t1_ms: 500,
            ring_timeout: 120,
            keepalive_s: 30,
            stun_server: None,
            session_expires_s: 1800,
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSection {
    /// The address RTP binds to and SDP advertises.
    pub rtp_ip: IpAddr,
    /// Codecs in order of preference: `opus`, `g722`, `pcmu`, `pcma`.
    pub codecs: Vec<String>,
    /// Opus bitrate in bits per second (6000-510000).
    pub opus_bitrate: u32,
    /// Opus in-band FEC (sent when the peer says it decodes it).
    pub opus_fec: bool,
    /// Opus discontinuous transmission during silence.
    pub opus_dtx: bool,
    /// G.711 and G.722 send only a frame a second while what they send is silent (RFC 3551
    /// §4.1): a null audio device, a muted or held call.
    pub silence_suppression: bool,
    /// The jitter buffer's least delay, in ms.
    pub jitter_min_ms: u64,
    /// The jitter buffer's greatest delay, in ms.
    pub jitter_max_ms: u64,
    /// `off`, `optional` (SRTP when the peer takes it, RFC 8643) or `mandatory`.
    pub encryption: String,
    /// How our offers key SRTP: `sdes` (RFC 4568 `a=crypto`, over TLS signalling) or `dtls`
    /// (RFC 5763 DTLS-SRTP); answers take whichever the offer uses.
    pub keying: String,
    /// Let SDES keys cross unencrypted SIP (for labs; RFC 4568 §7.1 forbids it).
    pub sdes_over_plain_sip: bool,
    /// SRTP suites offered and accepted, in order of preference.
    pub srtp_suites: Vec<String>,
    /// ICE (RFC 8445) on calls' media: candidates in our offers and answers, checks when the
    /// peer does ICE too (else symmetric RTP as without).
    pub ice: bool,
    /// The STUN server for the server-reflexive candidate, `IP:PORT`.
    pub stun_server: Option<String>,
    /// The TURN server for the relayed candidate (RFC 8656): `IP:PORT` over UDP, or a URI —
    /// `turn:IP:PORT?transport=tcp` over TCP, `turns:IP:PORT` over TLS (RFC 7065).
    pub turn_server: Option<String>,
    /// The TURN server's user name.
    pub turn_user: String,
    /// The TURN server's password.
    pub turn_password: String,
    /// Cancel the far end's echo in the microphone (agents on speakers).
    pub echo_cancellation: bool,
    /// Suppress the room's noise in the microphone.
    pub noise_suppression: bool,
    /// Bring the agent's voice to a steady level.
    pub auto_gain: bool,
}

impl Default for MediaSection {
    fn default() -> Self {
        let engine = engine::MediaSettings::default();
        Self {
            rtp_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            codecs: engine
                .codecs
                .iter()
                .map(|c| c.name().to_ascii_lowercase())
                .collect(),
            opus_bitrate: engine.opus.bitrate,
            opus_fec: engine.opus.inband_fec,
            opus_dtx: engine.opus.dtx,
            silence_suppression: engine.silence_suppression,
            jitter_min_ms: engine.jitter_min.as_millis() as u64,
            jitter_max_ms: engine.jitter_max.as_millis() as u64,
            encryption: "off".to_owned(),
            keying: "sdes".to_owned(),
            sdes_over_plain_sip: false,
            srtp_suites: media::Suite::ALL
                .iter()
                .map(|s| s.name().to_owned())
                .collect(),
            ice: false,
            stun_server: None,
            turn_server: None,
            turn_user: String::new(),
            turn_password: String::new(),
            echo_cancellation: engine.voice.echo_cancellation,
            noise_suppression: engine.voice.noise_suppression,
            auto_gain: engine.voice.auto_gain,
        }
    }
}

/// A TURN server as `IP:PORT` (UDP) or as an RFC 7065 URI: `turn:IP[:PORT][?transport=udp|tcp]`
/// (port 3478) or `turns:IP[:PORT][?transport=tcp]` (TLS, port 5349); IPv6 in brackets.
fn turn_uri(text: &str) -> Option<(SocketAddr, media::TurnTransport)> {
    use media::TurnTransport;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr, TurnTransport::Udp));
    }
    let (scheme, rest) = text.split_once(':')?;
    let (host, query) = match rest.split_once('?') {
        Some((host, query)) => (host, Some(query)),
        None => (rest, None),
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "turn" => false,
        "turns" => true,
        _ => return None,
    };
    let transport = match query.map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("transport=udp") => Some("udp"),
        Some("transport=tcp") => Some("tcp"),
        Some(_) => return None,
    };
    let transport = match (tls, transport) {
        (false, None | Some("udp")) => TurnTransport::Udp,
        (false, Some(_)) => TurnTransport::Tcp,
        (true, None | Some("tcp")) => TurnTransport::Tls,
        // DTLS to the TURN server (turns: over UDP) is not offered.
        (true, Some(_)) => return None,
    };
    let default_port = if tls { 5349 } else { 3478 };
    let addr = host.parse::<SocketAddr>().ok().or_else(|| {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        bare.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, default_port))
    })?;
    Some((addr, transport))
}

impl MediaSection {
    /// ICE's servers when ICE is on, or what is wrong with them.
    fn ice_servers(&self) -> Result<Option<media::IceServers>, ConfigError> {
        let addr = |key: &'static str, text: &Option<String>| {
            text.as_deref()
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    t.trim()
                        .parse::<SocketAddr>()
                        .map_err(|_| ConfigError::Value {
                            key,
                            value: t.to_owned(),
                            expected: "it must be IP:PORT, e.g. \"192.0.2.50:3478\"",
                        })
                })
                .transpose()
        };
        let stun = addr("media.stun_server", &self.stun_server)?;
        let turn = self
            .turn_server
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                turn_uri(t.trim()).ok_or_else(|| ConfigError::Value {
                    key: "media.turn_server",
                    value: t.to_owned(),
                    expected: "it must be IP:PORT (UDP) or a TURN URI (RFC 7065), e.g. \
                               \"turn:192.0.2.50:3478?transport=tcp\" or \"turns:192.0.2.50:5349\"",
                })
            })
            .transpose()?;
        if !self.ice {
            return Ok(None);
        }
        let turn = match turn {
            Some((addr, transport)) => {
                if self.turn_user.trim().is_empty() || self.turn_password.is_empty() {
                    return Err(ConfigError::Value {
                        key: "media.turn_user",
                        value: self.turn_user.clone(),
                        expected: "a TURN server needs turn_user and turn_password (RFC 8656 long-term credentials)",
                    });
                }
                Some(media::TurnServer {
                    addr,
                    transport,
                    username: self.turn_user.trim().to_owned(),
                    password: self.turn_password.clone(),
                })
            }
            None => None,
        };
        Ok(Some(media::IceServers { stun, turn }))
    }

    /// The engine's view, or what is wrong.
    pub fn to_settings(&self) -> Result<engine::MediaSettings, ConfigError> {
        let defaults = engine::MediaSettings::default();
        if !(6000..=510_000).contains(&self.opus_bitrate) {
            return Err(ConfigError::Value {
                key: "media.opus_bitrate",
                value: self.opus_bitrate.to_string(),
                expected: "use 6000 to 510000 bits per second (24000 is good for voice)",
            });
        }
        if self.jitter_min_ms < 10
            || self.jitter_max_ms > 2000
            || self.jitter_min_ms > self.jitter_max_ms
        {
            return Err(ConfigError::Jitter {
                min: self.jitter_min_ms,
                max: self.jitter_max_ms,
            });
        }
        let encryption =
            media::Encryption::parse(self.encryption.trim()).ok_or_else(|| ConfigError::Value {
                key: "media.encryption",
                value: self.encryption.clone(),
                expected: "use off, optional or mandatory",
            })?;
        let keying =
            media::Keying::parse(self.keying.trim()).ok_or_else(|| ConfigError::Value {
                key: "media.keying",
                value: self.keying.clone(),
                expected: "use sdes or dtls",
            })?;
        let srtp_suites = self
            .srtp_suites
            .iter()
            .map(|name| {
                media::Suite::from_name(name.trim()).ok_or_else(|| ConfigError::Value {
                    key: "media.srtp_suites",
                    value: name.clone(),
                    expected: "use AES_CM_128_HMAC_SHA1_80, AES_CM_128_HMAC_SHA1_32 or AEAD_AES_128_GCM",
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if srtp_suites.is_empty() {
            return Err(ConfigError::Value {
                key: "media.srtp_suites",
                value: "[]".to_owned(),
                expected: "name at least one suite",
            });
        }
        let ice = self.ice_servers()?;
        Ok(engine::MediaSettings {
            ice,
            srtp_suites,
            encryption,
            keying,
            // Made by the runtime once per run (`with_dtls_certificate`), never from a file.
            dtls_identity: None,
            sdes_over_plain_sip: self.sdes_over_plain_sip,
            codecs: engine::parse_codecs("media.codecs", &self.codecs)
                .map_err(ConfigError::Codecs)?,
            opus: media::OpusSettings {
                bitrate: self.opus_bitrate,
                inband_fec: self.opus_fec,
                dtx: self.opus_dtx,
                ..defaults.opus
            },
            jitter_min: Duration::from_millis(self.jitter_min_ms),
            jitter_max: Duration::from_millis(self.jitter_max_ms),
            voice: media::VoiceSettings {
                echo_cancellation: self.echo_cancellation,
                noise_suppression: self.noise_suppression,
                auto_gain: self.auto_gain,
            },
            silence_suppression: self.silence_suppression,
        })
    }
}

/// `[control]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSection {
    /// Where the control API listens (loopback by default).
    pub listen: Option<SocketAddr>,
    /// Bearer token required on every request, if set.
    pub token: Option<String>,
}

/// A config problem, said in one line that names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config: cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not TOML that recall reads (syntax, an unknown key, a wrong type).
    #[error("config: {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What the TOML reader said.
        message: String,
    },
    /// A value that does not fit.
    #[error("config: {key} is {value}; {expected}")]
    Value {
        /// Its key, `section.name`.
        key: &'static str,
        /// The value given, as written.
        value: String,
        /// What would fit, as advice.
        expected: &'static str,
    },
    /// The jitter buffer's bounds do not fit.
    #[error(
        "config: media.jitter_min_ms = {min} and jitter_max_ms = {max}: use 10 <= min <= max <= 2000"
    )]
    Jitter {
        /// `media.jitter_min_ms`.
        min: u64,
        /// `media.jitter_max_ms`.
        max: u64,
    },
    /// A `sip.listen` entry that is not `transport:IP:PORT`.
    #[error("config: sip.listen: {0}")]
    Listen(sip::DestError),
    /// The webhook URL.
    #[error("config: webhook.url: {0}")]
    Webhook(runtime::WebhookError),
    /// The webhook's CA file.
    #[error("config: {0}")]
    WebhookCa(Box<runtime::tls::TlsError>),
    /// The codec list.
    #[error("config: {0}")]
    Codecs(engine::CodecError),
    /// Two accounts with one name.
    #[error("config: {0} is defined twice")]
    Twice(String),
    /// An account does not make sense.
    #[error("config: {label}: {source}")]
    Account {
        /// `account "name"` or `accounts[i]`.
        label: String,
        /// What is wrong with it.
        source: engine::AccountError,
    },
    /// An account's `tls_ca` cannot be used.
    #[error("config: {label}: {source}")]
    AccountCa {
        /// `account "name"` or `accounts[i]`.
        label: String,
        /// What is wrong with the file.
        source: Box<runtime::tls::TlsError>,
    },
}

/// Reads an account's `tls_ca` as a connection would (the engine cannot read files).
pub fn check_account_ca(account: &api::Account) -> Result<(), runtime::tls::TlsError> {
    if account.tls_ca.trim().is_empty() {
        return Ok(());
    }
    runtime::tls::check_ca_file("tls_ca", Path::new(account.tls_ca.trim()))
}

impl ConfigError {
    /// The problem without the `config:` prefix (for the Settings window, where the field
    /// is all that needs naming).
    #[must_use]
    pub fn problem(&self) -> String {
        let text = self.to_string();
        text.strip_prefix("config: ").unwrap_or(&text).to_owned()
    }
}

impl Config {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a config's text; `origin` names it in errors (the file's path).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.message().trim().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits.to_limits(engine::Limits::DESKTOP)?;
        self.recording.to_settings(None)?;
        self.presence.to_settings(&self.desktop.targets)?;
        self.headset.to_choice()?;
        self.store.check()?;
        self.directory.check()?;
        if let Some(language) = &self.desktop.language
            && !["auto", "en", "es"].contains(&language.as_str())
        {
            return Err(ConfigError::Value {
                key: "desktop.language",
                value: format!("{language:?}"),
                expected: "use \"auto\" (the locale's), \"en\" or \"es\"",
            });
        }
        if let Some(theme) = &self.desktop.theme
            && !["dark", "light", "high_contrast"].contains(&theme.as_str())
        {
            return Err(ConfigError::Value {
                key: "desktop.theme",
                value: format!("{theme:?}"),
                expected: "use \"dark\", \"light\" or \"high_contrast\"",
            });
        }
        if let Some(scale) = self.desktop.scale
            && !(50..=300).contains(&scale)
        {
            return Err(ConfigError::Value {
                key: "desktop.scale",
                value: scale.to_string(),
                expected: "a percentage from 50 to 300, e.g. 125",
            });
        }
        for listen in &self.sip.listen {
            parse_listen(listen).map_err(ConfigError::Listen)?;
        }
        if self.sip.t1_ms == 0 || self.sip.t1_ms > 10_000 {
            return Err(ConfigError::Value {
                key: "sip.t1_ms",
                value: self.sip.t1_ms.to_string(),
                expected: "it must be between 1 and 10000",
            });
        }
        if ![480, 486, 603].contains(&self.callbacks.not_ready_status) {
            return Err(ConfigError::Value {
                key: "callbacks.not_ready_status",
                value: self.callbacks.not_ready_status.to_string(),
                expected: "use 480, 486 or 603",
            });
        }
        if !["keep_ringing", "reject"].contains(&self.callbacks.on_timeout.as_str()) {
            return Err(ConfigError::Value {
                key: "callbacks.on_timeout",
                value: format!("{:?}", self.callbacks.on_timeout),
                expected: "use \"keep_ringing\" or \"reject\"",
            });
        }
        if self.callbacks.transfer_grace_ms > 30_000 {
            return Err(ConfigError::Value {
                key: "callbacks.transfer_grace_ms",
                value: self.callbacks.transfer_grace_ms.to_string(),
                expected: "it must be between 0 and 30000",
            });
        }
        if !(400..=699).contains(&self.callbacks.reject_status) {
            return Err(ConfigError::Value {
                key: "callbacks.reject_status",
                value: self.callbacks.reject_status.to_string(),
                expected: "use a 4xx-6xx status such as 486 or 603",
            });
        }
        self.webhook.to_runtime(self.tls.ca.as_deref())?;
        self.dns.addresses()?;
        self.sip.stun()?;
        self.sip.session_expires()?;
        self.media.to_settings()?;
        let mut names = std::collections::HashSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            let label = if account.name.is_empty() {
                format!("accounts[{i}]")
            } else {
                format!("account {:?}", account.name)
            };
            if !names.insert(account.name.clone()) {
                return Err(ConfigError::Twice(label));
            }
            engine::check_account(account).map_err(|source| ConfigError::Account {
                label: label.clone(),
                source,
            })?;
            check_account_ca(account).map_err(|source| ConfigError::AccountCa {
                label,
                source: Box::new(source),
            })?;
        }
        Ok(())
    }
}

/// Reads `udp:IP:PORT`, `tcp:IP:PORT` or `tls:IP:PORT` (`udp:` may be left out).
pub fn parse_listen(text: &str) -> Result<sip::Dest, sip::DestError> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs_parse_or_explain() {
        assert_eq!(
            parse_listen("tcp:127.0.0.1:5070").map(|d| d.transport),
            Ok(sip::Transport::Tcp)
        );
        assert!(parse_listen("127.0.0.1:5060").is_ok());
        assert!(
            parse_listen("udp:nowhere")
                .expect_err("not an address")
                .to_string()
                .contains("transport:IP:PORT")
        );
    }

    #[test]
    fn recording_policy_and_directory() {
        let config: Config = toml::from_str("").expect("toml");
        let settings = config
            .recording
            .to_settings(Some(std::path::Path::new("/var/lib/recall/history.db")))
            .expect("defaults");
        assert_eq!(settings.policy, engine::RecordingPolicy::OnDemand);
        assert_eq!(settings.dir, "/var/lib/recall/recordings");
        let config: Config =
            toml::from_str("[recording]\npolicy = \"always\"\ndir = \"/srv/rec\"\n").expect("toml");
        let settings = config.recording.to_settings(None).expect("set");
        assert_eq!(
            (settings.policy, settings.dir.as_str()),
            (engine::RecordingPolicy::Always, "/srv/rec")
        );
        let error =
            Config::parse("[recording]\npolicy = \"sometimes\"\n", "x.toml").expect_err("refused");
        assert!(error.to_string().contains("recording.policy"), "{error}");
    }

    #[test]
    fn limits_take_the_modes_defaults_and_refuse_nonsense() {
        let config: Config = toml::from_str("[limits]\nmax_ringing = 2\n").expect("toml");
        let limits = config
            .limits
            .to_limits(engine::Limits::HEADLESS)
            .expect("limits");
        assert_eq!(limits.max_ringing, 2);
        assert_eq!(limits.max_calls, engine::Limits::HEADLESS.max_calls);
        assert_eq!(limits.max_invites_per_source, 0);
        let config: Config =
            toml::from_str("[limits]\nmax_invites_per_source = 5\n").expect("toml");
        let limits = config
            .limits
            .to_limits(engine::Limits::DESKTOP)
            .expect("limits");
        assert_eq!(limits.max_invites_per_source, 5);
        for (text, key) in [
            ("[limits]\nmax_calls = 0\n", "limits.max_calls"),
            ("[limits]\nmax_ringing = 1000000\n", "limits.max_ringing"),
            ("[limits]\nring_timeout_s = 0\n", "limits.ring_timeout_s"),
            (
                "[limits]\nmax_invites_per_source = 200000\n",
                "limits.max_invites_per_source",
            ),
        ] {
            let config: Config = toml::from_str(text).expect("toml");
            let error = config.validate().expect_err("invalid").to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn turn_servers_are_ip_port_or_rfc_7065_uris() {
        use media::TurnTransport::{Tcp, Tls, Udp};
        let at = |text: &str| turn_uri(text).map(|(a, t)| (a.to_string(), t));
        assert_eq!(at("192.0.2.50:3478"), Some(("192.0.2.50:3478".into(), Udp)));
        assert_eq!(at("turn:192.0.2.50"), Some(("192.0.2.50:3478".into(), Udp)));
        assert_eq!(
            at("turn:192.0.2.50:80?transport=tcp"),
            Some(("192.0.2.50:80".into(), Tcp))
        );
        assert_eq!(
            at("TURNS:192.0.2.50"),
            Some(("192.0.2.50:5349".into(), Tls))
        );
        assert_eq!(
            at("turns:[2001:db8::1]:443?transport=tcp"),
            Some(("[2001:db8::1]:443".into(), Tls))
        );
        assert_eq!(
            at("turns:[2001:db8::1]"),
            Some(("[2001:db8::1]:5349".into(), Tls))
        );
        for bad in [
            "turns:192.0.2.50?transport=udp",
            "turn:192.0.2.50?transport=sctp",
            "stun:192.0.2.50",
            "turn:turn.example.com",
            "192.0.2.50",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        let config: Config = toml::from_str(
            "[media]\nice = true\nturn_server = \"turns:192.0.2.50:5349?transport=sctp\"\n\
             turn_user = \"a\"\nturn_password = \"b\"\n",
        )
        .expect("toml");
        let error = config.validate().expect_err("invalid").to_string();
        assert!(
            error.contains("media.turn_server") && error.contains("RFC 7065"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_account_is_named_in_the_error() {
        let config: Config =
            toml::from_str("[[accounts]]\nname = \"desk\"\naor = \"1001\"\n").expect("toml");
        let error = config.validate().expect_err("invalid").to_string();
        assert_eq!(
            error,
            "config: account \"desk\": aor \"1001\" must look like sip:user@host"
        );
        let config: Config = toml::from_str(
            "[[accounts]]\nname = \"desk\"\naor = \"sips:1001@pbx.example.com\"\n\
             tls_ca = \"/nonexistent/ca.pem\"\n",
        )
        .expect("toml");
        let error = config.validate().expect_err("invalid").to_string();
        assert!(
            error.starts_with("config: account \"desk\": tls_ca /nonexistent/ca.pem: "),
            "{error}"
        );
    }

    #[test]
    fn the_transfer_grace_defaults_to_three_seconds_and_is_bounded() {
        let config: Config = toml::from_str("").expect("toml");
        assert_eq!(
            config.callbacks.to_settings().transfer_grace,
            std::time::Duration::from_secs(3)
        );
        let config: Config =
            toml::from_str("[callbacks]\ntransfer_grace_ms = 1500\n").expect("toml");
        config.validate().expect("valid");
        assert_eq!(
            config.callbacks.to_settings().transfer_grace,
            std::time::Duration::from_millis(1500)
        );
        let config: Config =
            toml::from_str("[callbacks]\ntransfer_grace_ms = 90000\n").expect("toml");
        assert_eq!(
            config.validate().expect_err("too long").to_string(),
            "config: callbacks.transfer_grace_ms is 90000; it must be between 0 and 30000"
        );
    }
}
