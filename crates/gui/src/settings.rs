//! The Settings window's draft: the settings as the agent is typing them, checked field by
//! field before they go to the core (which checks them again as the config file is checked).
//! No egui here.

use std::collections::BTreeMap;

use api::{Account, Settings};

use crate::i18n::t;

/// The codecs recall has, as the config names them.
pub const CODECS: [&str; 4] = ["opus", "g722", "pcmu", "pcma"];

/// Which page of the window is showing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SettingsTab {
    /// SIP accounts.
    #[default]
    Accounts,
    /// Sound devices, levels, test tone.
    Audio,
    /// Codec order, Opus bitrate.
    Codecs,
    /// Callback handling.
    Callbacks,
    /// Theme and scale.
    Appearance,
}

/// One account as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDraft {
    /// The form; `expires` is typed separately.
    pub form: Account,
    /// The registration lifetime as typed.
    pub expires: String,
}

/// What a registration test came to: still waiting, or the outcome in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    /// Sent; no answer yet.
    Waiting,
    /// Registered (`true`) or not, and the detail.
    Done(bool, String),
}

/// The window's whole state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsDraft {
    /// The page showing.
    pub tab: SettingsTab,
    /// The accounts.
    pub accounts: Vec<AccountDraft>,
    /// The account whose form is showing.
    pub account: usize,
    /// Every codec in order of preference, and whether it is offered.
    pub codecs: Vec<(String, bool)>,
    /// The Opus bitrate as typed.
    pub opus_bitrate: String,
    /// The microphone (`None`: the system's default).
    pub input: Option<String>,
    /// The headset.
    pub output: Option<String>,
    /// The ring device (`None`: the headset).
    pub ring: Option<String>,
    /// Echo cancellation of the microphone.
    pub echo_cancellation: bool,
    /// Noise suppression of the microphone.
    pub noise_suppression: bool,
    /// Automatic gain control of the microphone.
    pub auto_gain: bool,
    /// The headset for buttons and lights: `None` automatic, `off`, or a device node.
    pub headset: Option<String>,
    /// Telephony headsets to choose from (device nodes).
    pub headsets: Vec<String>,
    /// The Reject status as typed.
    pub reject_status: String,
    /// The Not Ready status (480, 486 or 603).
    pub not_ready_status: u16,
    /// The preview timeout as typed (empty: none).
    pub preview_timeout: String,
    /// Refuse here when the timeout passes.
    pub reject_on_timeout: bool,
    /// Honour auto-answer requests.
    pub honour_auto_answer: bool,
    /// Done needs a disposition.
    pub disposition_mandatory: bool,
    /// The STUN server as typed (empty: none).
    pub stun_server: String,
    /// The keep-alive interval as typed, in seconds.
    pub keepalive_s: String,
    /// Microphones to choose from.
    pub inputs: Vec<String>,
    /// Headsets to choose from.
    pub outputs: Vec<String>,
    /// Why no devices are listed.
    pub devices_note: Option<String>,
    /// Where the settings are saved.
    pub file: Option<String>,
    /// The outcome of the last save, in words.
    pub outcome: Option<SaveOutcome>,
    /// A save is on its way.
    pub saving: bool,
    /// Registration tests by account name.
    pub tests: BTreeMap<String, TestOutcome>,
    /// The desktop's language as saved (`en`, `es`; `None`: the locale's).
    pub language: Option<String>,
    /// The theme as saved (`dark`, `light`, `high_contrast`; `None`: dark).
    pub theme: Option<String>,
    /// The UI scale in percent as saved (`None`: 100).
    pub scale: Option<u16>,
}

impl SettingsDraft {
    /// A draft of saved settings, with the devices there are.
    #[must_use]
    pub fn new(
        settings: Settings,
        inputs: Vec<String>,
        outputs: Vec<String>,
        devices_note: Option<String>,
        file: Option<String>,
    ) -> Self {
        let mut codecs: Vec<(String, bool)> = settings
            .codecs
            .iter()
            .map(|c| (c.to_ascii_lowercase(), true))
            .collect();
        for codec in CODECS {
            if codecs.iter().all(|(c, _)| c != codec) {
                codecs.push((codec.to_owned(), false));
            }
        }
        Self {
            tab: SettingsTab::default(),
            accounts: settings
                .accounts
                .into_iter()
                .map(|form| AccountDraft {
                    expires: form.expires.to_string(),
                    form,
                })
                .collect(),
            account: 0,
            codecs,
            opus_bitrate: settings.opus_bitrate.to_string(),
            input: settings.input,
            output: settings.output,
            ring: settings.ring,
            echo_cancellation: settings.echo_cancellation,
            noise_suppression: settings.noise_suppression,
            auto_gain: settings.auto_gain,
            headset: settings.headset,
            headsets: Vec::new(),
            reject_status: settings.reject_status.to_string(),
            not_ready_status: settings.not_ready_status,
            preview_timeout: settings
                .preview_timeout
                .map(|s| s.to_string())
                .unwrap_or_default(),
            reject_on_timeout: settings.reject_on_timeout,
            honour_auto_answer: settings.honour_auto_answer,
            disposition_mandatory: settings.disposition_mandatory,
            stun_server: settings.stun_server.unwrap_or_default(),
            keepalive_s: settings.keepalive_s.to_string(),
            inputs,
            outputs,
            devices_note,
            file,
            outcome: None,
            saving: false,
            tests: BTreeMap::new(),
            language: settings.language,
            theme: settings.theme,
            scale: settings.scale,
        }
    }

    /// Adds an empty account and shows its form.
    pub fn add_account(&mut self) {
        let taken = |name: &str| self.accounts.iter().any(|a| a.form.name == name);
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    "new".to_owned()
                } else {
                    format!("new {n}")
                }
            })
            .find(|n| !taken(n))
            .unwrap_or_default();
        self.accounts.push(AccountDraft {
            form: Account {
                name,
                expires: 600,
                register: true,
                dtmf: "auto".to_owned(),
                ..Account::default()
            },
            expires: "600".to_owned(),
        });
        self.account = self.accounts.len() - 1;
    }

    /// Removes the account showing.
    pub fn remove_account(&mut self) {
        if self.account < self.accounts.len() {
            self.accounts.remove(self.account);
        }
        self.account = self.account.min(self.accounts.len().saturating_sub(1));
    }

    /// Moves codec `index` one place earlier (`up`) or later.
    pub fn move_codec(&mut self, index: usize, up: bool) {
        let other = if up {
            index.checked_sub(1)
        } else {
            Some(index + 1)
        };
        if let Some(other) = other.filter(|o| *o < self.codecs.len())
            && index < self.codecs.len()
        {
            self.codecs.swap(index, other);
        }
    }

    /// The account form showing, with its lifetime read, or what is wrong with it.
    ///
    /// # Errors
    /// There is no such account, or its lifetime is not a number of seconds.
    pub fn account_form(&self, index: usize) -> Result<Account, FormError> {
        let draft = self.accounts.get(index).ok_or(FormError::NoSuchAccount)?;
        let mut form = draft.form.clone();
        form.expires = seconds(&draft.expires).ok_or_else(|| FormError::Lifetime {
            account: form.name.clone(),
            typed: draft.expires.clone(),
        })?;
        Ok(form)
    }

    /// Everything wrong with what is typed, one line each (empty: it can be saved).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for index in 0..self.accounts.len() {
            if let Err(e) = self.account_form(index) {
                problems.push(e.text());
            }
        }
        if self.codecs.iter().all(|(_, on)| !on) {
            problems.push(t!("problem-no-codec"));
        }
        if self.opus_bitrate.trim().parse::<u32>().is_err() {
            problems.push(t!(
                "problem-opus-bitrate",
                typed = quoted(&self.opus_bitrate)
            ));
        }
        if self.reject_status.trim().parse::<u16>().is_err() {
            problems.push(t!(
                "problem-reject-status",
                typed = quoted(&self.reject_status)
            ));
        }
        if !self.preview_timeout.trim().is_empty() && seconds(&self.preview_timeout).is_none() {
            problems.push(t!(
                "problem-preview-timeout",
                typed = quoted(&self.preview_timeout)
            ));
        }
        let stun = self.stun_server.trim();
        if !stun.is_empty() && stun.parse::<std::net::SocketAddr>().is_err() {
            problems.push(t!("problem-stun-server", typed = quoted(&self.stun_server)));
        }
        if seconds(&self.keepalive_s).is_none() {
            problems.push(t!("problem-keepalive", typed = quoted(&self.keepalive_s)));
        }
        problems
    }

    /// The settings to save, or everything wrong with them.
    ///
    /// # Errors
    /// What [`SettingsDraft::problems`] lists.
    pub fn to_settings(&self) -> Result<Settings, Vec<String>> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let accounts = (0..self.accounts.len())
            .filter_map(|i| self.account_form(i).ok())
            .collect();
        Ok(Settings {
            accounts,
            codecs: self
                .codecs
                .iter()
                .filter(|(_, on)| *on)
                .map(|(c, _)| c.clone())
                .collect(),
            opus_bitrate: self.opus_bitrate.trim().parse().unwrap_or_default(),
            input: self.input.clone(),
            output: self.output.clone(),
            ring: self.ring.clone(),
            reject_status: self.reject_status.trim().parse().unwrap_or_default(),
            not_ready_status: self.not_ready_status,
            preview_timeout: seconds(&self.preview_timeout),
            reject_on_timeout: self.reject_on_timeout,
            honour_auto_answer: self.honour_auto_answer,
            disposition_mandatory: self.disposition_mandatory,
            stun_server: Some(self.stun_server.trim().to_owned()).filter(|s| !s.is_empty()),
            keepalive_s: seconds(&self.keepalive_s).unwrap_or_default(),
            echo_cancellation: self.echo_cancellation,
            noise_suppression: self.noise_suppression,
            auto_gain: self.auto_gain,
            headset: self.headset.clone(),
            language: self.language.clone(),
            theme: self.theme.clone(),
            scale: self.scale,
        })
    }
}

fn seconds(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// What was typed, quoted as Rust's `{:?}` does (so a blank or stray space shows).
fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// How the last save went, as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Saved (where, and what waits for a restart).
    Saved(String),
    /// Not saved, and why.
    Refused(String),
}

/// What is wrong with an account form as typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The form asked for is not there.
    #[error("no such account")]
    NoSuchAccount,
    /// The registration lifetime is not a whole number of seconds.
    #[error("Account {account:?}: registration lifetime {typed:?} is not a number of seconds")]
    Lifetime {
        /// The account's name.
        account: String,
        /// What was typed.
        typed: String,
    },
}

impl FormError {
    /// The error in the desktop's language.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::NoSuchAccount => t!("problem-no-such-account"),
            Self::Lifetime { account, typed } => t!(
                "problem-lifetime",
                account = quoted(account),
                typed = quoted(typed)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Settings {
        Settings {
            accounts: vec![Account {
                name: "work".to_owned(),
                aor: "sip:1001@127.0.0.1".to_owned(),
                expires: 600,
                register: true,
                dtmf: "auto".to_owned(),
                ..Account::default()
            }],
            codecs: vec!["pcmu".to_owned(), "opus".to_owned()],
            opus_bitrate: 24_000,
            reject_status: 486,
            not_ready_status: 486,
            ..Settings::default()
        }
    }

    #[test]
    fn a_draft_gives_back_what_it_was_made_from() {
        let draft = SettingsDraft::new(saved(), Vec::new(), Vec::new(), None, None);
        assert_eq!(
            draft.codecs.len(),
            4,
            "every codec is listed, g722 and pcma off"
        );
        assert_eq!(draft.codecs[2], ("g722".to_owned(), false));
        assert_eq!(draft.codecs[3], ("pcma".to_owned(), false));
        assert_eq!(draft.to_settings(), Ok(saved()));
    }

    #[test]
    fn each_wrong_field_is_named() {
        let mut draft = SettingsDraft::new(saved(), Vec::new(), Vec::new(), None, None);
        draft.accounts[0].expires = "ten".to_owned();
        draft.opus_bitrate = "24k".to_owned();
        draft.reject_status = String::new();
        draft.preview_timeout = "-3".to_owned();
        draft.stun_server = "stun.example.com".to_owned();
        draft.keepalive_s = "30s".to_owned();
        for codec in &mut draft.codecs {
            codec.1 = false;
        }
        let problems = draft.to_settings().expect_err("refused");
        assert_eq!(problems.len(), 7, "{problems:?}");
        assert!(problems[0].starts_with("Account \"work\": registration lifetime \"ten\""));
        assert!(problems[1].starts_with("Codecs"));
        assert!(problems[2].starts_with("Opus bitrate \"24k\""));
        assert!(problems[3].starts_with("Reject status"));
        assert!(problems[4].starts_with("Preview timeout \"-3\""));
        assert!(problems[5].starts_with("STUN server \"stun.example.com\" is not IP:PORT"));
        assert!(problems[6].starts_with("Keep-alive interval \"30s\""));
    }

    #[test]
    fn network_settings_round_trip() {
        let mut with_stun = saved();
        with_stun.stun_server = Some("192.0.2.50:3478".to_owned());
        with_stun.keepalive_s = 15;
        let mut draft = SettingsDraft::new(with_stun.clone(), Vec::new(), Vec::new(), None, None);
        assert_eq!(draft.stun_server, "192.0.2.50:3478");
        assert_eq!(draft.to_settings(), Ok(with_stun));
        draft.stun_server = "  ".to_owned();
        assert_eq!(draft.to_settings().expect("valid").stun_server, None);
    }

    #[test]
    fn codecs_move_and_accounts_come_and_go() {
        let mut draft = SettingsDraft::new(saved(), Vec::new(), Vec::new(), None, None);
        draft.move_codec(1, true);
        draft.move_codec(0, true); // already first: stays
        draft.move_codec(2, false); // already last: stays
        assert_eq!(draft.to_settings().expect("valid").codecs, ["opus", "pcmu"]);
        draft.add_account();
        draft.add_account();
        assert_eq!(draft.accounts[2].form.name, "new 2");
        assert_eq!(draft.account, 2);
        draft.account = 0;
        draft.remove_account();
        let names: Vec<_> = draft.accounts.iter().map(|a| a.form.name.clone()).collect();
        assert_eq!(names, ["new", "new 2"]);
    }
}
