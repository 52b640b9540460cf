//! The desktop's Settings window, kept in the config file: what it shows is read from the
//! file's sections, what it saves is written back into the same file with its comments and
//! every other key left as they were, and checked exactly as the file is checked at start.

use std::path::PathBuf;

use api::{Account, Settings};
use runtime::SettingsError;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::{AudioSection, Config, ConfigError};

/// The config file behind the Settings window (or, with no file, settings that last until
/// recall stops).
pub struct ConfigFile {
    path: Option<PathBuf>,
    config: Config,
    /// The text saved last (or read at start), edited by the next save.
    text: String,
}

impl ConfigFile {
    /// The settings in `config`, read from `path` (`None`: no file).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn new(path: Option<PathBuf>, config: Config) -> Result<Self, SettingsError> {
        let text = match &path {
            Some(path) => std::fs::read_to_string(path).map_err(|source| SettingsError::File {
                action: "read",
                path: path.display().to_string(),
                source,
            })?,
            None => String::new(),
        };
        Ok(Self { path, config, text })
    }
}

impl runtime::SettingsStore for ConfigFile {
    fn load(&self) -> Result<Settings, SettingsError> {
        Ok(settings_of(&self.config))
    }

    fn save(&mut self, settings: &Settings) -> Result<runtime::Applied, SettingsError> {
        for (i, form) in settings.accounts.iter().enumerate() {
            check_form(i, form)?;
        }
        let mut doc: DocumentMut = self
            .text
            .parse()
            .map_err(|e: toml_edit::TomlError| SettingsError::Unreadable(e.to_string()))?;
        write_settings(&mut doc, settings);
        let text = doc.to_string();
        let invalid = |e: ConfigError| SettingsError::Invalid(Box::new(Problem(e)));
        let config: Config =
            toml::from_str(&text).map_err(|e| SettingsError::Invalid(Box::new(TomlProblem(e))))?;
        config.validate().map_err(invalid)?;
        let accounts = config.accounts.clone();
        let media = crate::with_dtls_certificate(config.media.to_settings().map_err(invalid)?);
        if let Some(path) = &self.path {
            let temporary = path.with_extension("toml.saving");
            std::fs::write(&temporary, &text)
                .and_then(|()| std::fs::rename(&temporary, path))
                .map_err(|source| SettingsError::File {
                    action: "write",
                    path: path.display().to_string(),
                    source,
                })?;
        }
        let mut on_restart = Vec::new();
        if !same_devices(&self.config.audio, &config.audio) {
            on_restart.push("the sound devices".to_owned());
        }
        if self.config.headset.device.as_deref().unwrap_or("auto")
            != config.headset.device.as_deref().unwrap_or("auto")
        {
            on_restart.push("the headset".to_owned());
        }
        if (&self.config.sip.stun_server, self.config.sip.keepalive_s)
            != (&config.sip.stun_server, config.sip.keepalive_s)
        {
            on_restart.push("the STUN server and keep-alive interval".to_owned());
        }
        let applied = runtime::Applied {
            accounts,
            media,
            callbacks: config.callbacks.to_settings(),
            on_restart,
        };
        self.config = config;
        self.text = text;
        Ok(applied)
    }

    fn account(&self, form: &Account) -> Result<Account, SettingsError> {
        check_form(0, form)?;
        engine::check_account(form).map_err(|e| SettingsError::Invalid(Box::new(e)))?;
        crate::config::check_account_ca(form).map_err(|e| SettingsError::Invalid(Box::new(e)))?;
        Ok(form.clone())
    }

    fn file(&self) -> Option<String> {
        self.path.as_ref().map(|p| p.display().to_string())
    }
}

fn same_devices(a: &AudioSection, b: &AudioSection) -> bool {
    (&a.input, &a.output, &a.ring) == (&b.input, &b.output, &b.ring)
}

/// A config problem as the Settings window says it: without the `config:` prefix, since the
/// field is all that needs naming there.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.problem())]
struct Problem(ConfigError);

/// What the TOML reader said of the settings as written.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message().trim())]
struct TomlProblem(toml::de::Error);

/// What the config file cannot say wrong by itself.
#[derive(Debug, thiserror::Error)]
enum FormError {
    /// A form with no name.
    #[error("account {0}: give it a name (it is how calls choose it)")]
    NoName(usize),
    /// A form with no address-of-record.
    #[error("account {0:?}: the address (aor) is empty; it looks like sip:user@host")]
    NoAddress(String),
}

/// Checks a form for a name and an address.
fn check_form(index: usize, form: &Account) -> Result<(), SettingsError> {
    let problem = if form.name.trim().is_empty() {
        FormError::NoName(index + 1)
    } else if form.aor.trim().is_empty() {
        FormError::NoAddress(form.name.clone())
    } else {
        return Ok(());
    };
    Err(SettingsError::Invalid(Box::new(problem)))
}

/// The window's view of a config.
pub fn settings_of(config: &Config) -> Settings {
    let callbacks = &config.callbacks;
    Settings {
        accounts: config.accounts.clone(),
        codecs: config.media.codecs.clone(),
        opus_bitrate: config.media.opus_bitrate,
        input: config.audio.input.clone(),
        output: config.audio.output.clone(),
        ring: config.audio.ring.clone(),
        reject_status: callbacks.reject_status,
        not_ready_status: callbacks.not_ready_status,
        preview_timeout: callbacks.preview_timeout,
        reject_on_timeout: callbacks.on_timeout == "reject",
        honour_auto_answer: callbacks.honour_auto_answer,
        disposition_mandatory: callbacks.disposition_mandatory,
        stun_server: config.sip.stun_server.clone(),
        keepalive_s: config.sip.keepalive_s,
        echo_cancellation: config.media.echo_cancellation,
        noise_suppression: config.media.noise_suppression,
        auto_gain: config.media.auto_gain,
        headset: config
            .headset
            .device
            .clone()
            .filter(|device| device != "auto"),
        language: config
            .desktop
            .language
            .clone()
            .filter(|language| language != "auto"),
        theme: config.desktop.theme.clone(),
        scale: config.desktop.scale,
    }
}

/// Writes the window's settings into the document, leaving everything else in it alone.
fn write_settings(doc: &mut DocumentMut, settings: &Settings) {
    let old: Vec<Table> = match doc.remove("accounts") {
        Some(Item::ArrayOfTables(tables)) => tables.into_iter().collect(),
        _ => Vec::new(),
    };
    let mut accounts = ArrayOfTables::new();
    // Empty is unset: the key goes.
    fn text(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    for form in &settings.accounts {
        let name = form.name.trim();
        // An account edited keeps what the window does not show (comments; its own codecs
        // when the request leaves them out).
        let mut table = old
            .iter()
            .find(|t| t.get("name").and_then(Item::as_str) == Some(name))
            .cloned()
            .unwrap_or_default();
        set(&mut table, "name", Some(name));
        set(&mut table, "aor", Some(form.aor.trim()));
        set(&mut table, "display_name", text(&form.display_name));
        set(&mut table, "registrar", text(&form.registrar));
        set(&mut table, "proxy", text(&form.proxy));
        set(&mut table, "username", text(&form.username));
        set(
            &mut table,
            "password",
            Some(form.password.as_str()).filter(|p| !p.is_empty()),
        );
        table.insert("expires", number(form.expires));
        table.insert("register", toml_edit::value(form.register));
        let kept: Option<Vec<&str>> = table
            .get("codecs")
            .and_then(Item::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect());
        let same = kept
            .is_some_and(|kept| kept == form.codecs.iter().map(String::as_str).collect::<Vec<_>>());
        if !form.codecs.is_empty() && !same {
            let codecs: toml_edit::Array = form.codecs.iter().map(String::as_str).collect();
            table.insert("codecs", toml_edit::value(codecs));
        }
        set(
            &mut table,
            "dtmf",
            text(&form.dtmf).filter(|d| *d != "auto"),
        );
        // Switches written only when on: off is their default.
        for (key, on) in [("mwi", form.mwi), ("tls_insecure", form.tls_insecure)] {
            if on {
                table.insert(key, toml_edit::value(true));
            } else {
                table.remove(key);
            }
        }
        accounts.push(table);
    }
    if !accounts.is_empty() {
        doc.insert("accounts", Item::ArrayOfTables(accounts));
    }
    edit_section(doc, "media", |media| {
        let codecs: toml_edit::Array = settings.codecs.iter().map(String::as_str).collect();
        media.insert("codecs", toml_edit::value(codecs));
        media.insert("opus_bitrate", number(u64::from(settings.opus_bitrate)));
        media.insert(
            "echo_cancellation",
            toml_edit::value(settings.echo_cancellation),
        );
        media.insert(
            "noise_suppression",
            toml_edit::value(settings.noise_suppression),
        );
        media.insert("auto_gain", toml_edit::value(settings.auto_gain));
    });
    edit_section(doc, "headset", |headset| {
        let device = settings.headset.as_deref().unwrap_or("auto");
        headset.insert("device", toml_edit::value(device));
    });
    edit_section(doc, "desktop", |desktop| {
        let language = settings.language.as_deref().unwrap_or("auto");
        desktop.insert("language", toml_edit::value(language));
        if let Some(theme) = &settings.theme {
            desktop.insert("theme", toml_edit::value(theme.as_str()));
        }
        if let Some(scale) = settings.scale {
            desktop.insert("scale", number(u64::from(scale)));
        }
    });
    edit_section(doc, "sip", |sip| {
        set(
            sip,
            "stun_server",
            settings.stun_server.as_deref().and_then(text),
        );
        sip.insert("keepalive_s", number(settings.keepalive_s));
    });
    edit_section(doc, "audio", |audio| {
        set(audio, "input", settings.input.as_deref());
        set(audio, "output", settings.output.as_deref());
        set(audio, "ring", settings.ring.as_deref());
    });
    edit_section(doc, "callbacks", |callbacks| {
        callbacks.insert("reject_status", number(u64::from(settings.reject_status)));
        callbacks.insert(
            "not_ready_status",
            number(u64::from(settings.not_ready_status)),
        );
        match settings.preview_timeout {
            Some(seconds) => {
                callbacks.insert("preview_timeout", number(seconds));
            }
            None => {
                callbacks.remove("preview_timeout");
            }
        }
        let on_timeout = if settings.reject_on_timeout {
            "reject"
        } else {
            "keep_ringing"
        };
        callbacks.insert("on_timeout", toml_edit::value(on_timeout));
        callbacks.insert(
            "honour_auto_answer",
            toml_edit::value(settings.honour_auto_answer),
        );
        callbacks.insert(
            "disposition_mandatory",
            toml_edit::value(settings.disposition_mandatory),
        );
    });
}

/// Edits one `[section]`, made if missing (an inline table becomes a section).
fn edit_section(doc: &mut DocumentMut, name: &str, edit: impl FnOnce(&mut Table)) {
    let mut table = match doc.remove(name) {
        Some(Item::Table(table)) => table,
        Some(Item::Value(Value::InlineTable(table))) => table.into_table(),
        _ => Table::new(),
    };
    edit(&mut table);
    doc.insert(name, Item::Table(table));
}

/// Sets a string key, or removes it for `None`.
fn set(table: &mut Table, key: &str, text: Option<&str>) {
    match text {
        Some(text) => {
            table.insert(key, toml_edit::value(text));
        }
        None => {
            table.remove(key);
        }
    }
}

fn number(n: u64) -> Item {
    toml_edit::value(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use runtime::SettingsStore;

    use super::*;

    const FILE: &str = r#"# my desk
[sip]
listen = ["udp:127.0.0.1:5099"] # keep this

[[accounts]]
name = "work"
aor = "sip:1001@127.0.0.1"
codecs = ["pcmu"] # only G.711 here

[callbacks]
reject_status = 603
"#;

    fn store() -> (ConfigFile, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "recall-settings-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("config.toml");
        std::fs::write(&path, FILE).expect("write");
        let config = Config::load(&path).expect("loads");
        (
            ConfigFile::new(Some(path.clone()), config).expect("reads"),
            path,
        )
    }

    fn unique() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }

    #[test]
    fn saving_keeps_comments_and_keys_the_window_does_not_show() {
        let (mut store, path) = store();
        let mut settings = store.load().expect("loads");
        assert_eq!(settings.reject_status, 603);
        assert_eq!(settings.accounts[0].name, "work");
        settings.accounts[0].password = "s3cret".to_owned();
        settings.accounts.push(Account {
            name: "lab".to_owned(),
            aor: "sip:2002@127.0.0.1:5070".to_owned(),
            expires: 120,
            register: false,
            dtmf: "info".to_owned(),
            mwi: true,
            ..Account::default()
        });
        settings.codecs = vec!["pcma".to_owned(), "opus".to_owned()];
        settings.preview_timeout = Some(25);
        settings.reject_on_timeout = true;
        assert!(settings.echo_cancellation && settings.noise_suppression && !settings.auto_gain);
        settings.noise_suppression = false;
        settings.auto_gain = true;
        assert_eq!(
            settings.headset, None,
            "automatic unless the file says otherwise"
        );
        settings.headset = Some("/dev/hidraw3".to_owned());
        assert_eq!(settings.language, None, "the locale's unless the file says");
        settings.language = Some("es".to_owned());
        settings.theme = Some("high_contrast".to_owned());
        settings.scale = Some(125);
        let applied = store.save(&settings).expect("saves");
        assert_eq!(
            applied.media.voice,
            media::VoiceSettings {
                echo_cancellation: true,
                noise_suppression: false,
                auto_gain: true,
            },
            "the microphone's processing changes without a restart"
        );
        assert_eq!(applied.accounts.len(), 2);
        assert_eq!(
            applied.accounts[1].dtmf, "info",
            "the lab account sends DTMF by INFO"
        );
        assert_eq!(
            applied.callbacks.preview_timeout,
            Some(std::time::Duration::from_secs(25))
        );
        assert_eq!(applied.callbacks.timeout_status, Some(480));
        assert_eq!(
            applied.media.codecs,
            vec![media::Codec::Pcma, media::Codec::Opus]
        );
        assert_eq!(
            applied.on_restart,
            ["the headset"],
            "a new headset is opened at start"
        );

        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(
            text.contains("[headset]\ndevice = \"/dev/hidraw3\""),
            "{text}"
        );
        assert!(text.contains("language = \"es\""), "{text}");
        assert!(text.contains("theme = \"high_contrast\""), "{text}");
        assert!(text.contains("scale = 125"), "{text}");
        for kept in [
            "# my desk",
            "# keep this",
            "codecs = [\"pcmu\"] # only G.711 here",
        ] {
            assert!(text.contains(kept), "{kept:?} lost from:\n{text}");
        }
        let reread = Config::load(&path).expect("the saved file loads");
        assert_eq!(settings_of(&reread), settings);
        assert_eq!(reread.sip.listen, vec!["udp:127.0.0.1:5099".to_owned()]);
    }

    #[test]
    fn a_wrong_value_is_named_and_nothing_is_written() {
        let (mut store, path) = store();
        let good = store.load().expect("loads");
        for (change, expected) in [
            (
                Box::new(|s: &mut Settings| s.not_ready_status = 500) as Box<dyn Fn(&mut Settings)>,
                "callbacks.not_ready_status is 500; use 480, 486 or 603",
            ),
            (
                Box::new(|s: &mut Settings| s.opus_bitrate = 100),
                "media.opus_bitrate is 100",
            ),
            (
                Box::new(|s: &mut Settings| s.codecs.clear()),
                "media.codecs is empty",
            ),
            (
                Box::new(|s: &mut Settings| s.accounts[0].aor = "1001".to_owned()),
                "account \"work\": aor \"1001\" must look like sip:user@host",
            ),
            (
                Box::new(|s: &mut Settings| s.accounts[0].proxy = "pbx:5060".to_owned()),
                "account \"work\": proxy: \"pbx:5060\" is not transport:IP:PORT",
            ),
            (
                Box::new(|s: &mut Settings| s.accounts[0].name = " ".to_owned()),
                "account 1: give it a name",
            ),
            (
                Box::new(|s: &mut Settings| s.stun_server = Some("stun.example".to_owned())),
                "sip.stun_server",
            ),
            (
                Box::new(|s: &mut Settings| {
                    let copy = s.accounts[0].clone();
                    s.accounts.push(copy);
                }),
                "account \"work\" is defined twice",
            ),
        ] {
            let mut settings = good.clone();
            change(&mut settings);
            let error = store.save(&settings).expect_err("refused").to_string();
            assert!(
                error.contains(expected),
                "{error:?} should say {expected:?}"
            );
            assert_eq!(std::fs::read_to_string(&path).expect("reads"), FILE);
        }
        assert!(store.save(&good).is_ok());
    }

    #[test]
    fn the_stun_server_and_keep_alive_are_written_to_sip_and_used_from_the_next_start() {
        let (mut store, path) = store();
        let mut settings = store.load().expect("loads");
        assert_eq!(
            (settings.stun_server.as_deref(), settings.keepalive_s),
            (None, 30)
        );
        settings.stun_server = Some("192.0.2.50:3478".to_owned());
        settings.keepalive_s = 15;
        let applied = store.save(&settings).expect("saves");
        assert_eq!(
            applied.on_restart,
            ["the STUN server and keep-alive interval"]
        );
        let reread = Config::load(&path).expect("the saved file loads");
        assert_eq!(reread.sip.stun_server.as_deref(), Some("192.0.2.50:3478"));
        assert_eq!(reread.sip.keepalive_s, 15);
        assert_eq!(reread.sip.listen, vec!["udp:127.0.0.1:5099".to_owned()]);
        let text = std::fs::read_to_string(&path).expect("reads");
        assert!(text.contains("# keep this"), "{text}");
        // Cleared: the key goes.
        settings.stun_server = None;
        store.save(&settings).expect("saves");
        let reread = Config::load(&path).expect("the saved file loads");
        assert_eq!(reread.sip.stun_server, None);
    }

    #[test]
    fn changed_devices_take_effect_on_restart() {
        let (mut store, _path) = store();
        let mut settings = store.load().expect("loads");
        settings.output = Some("alsa:plughw:1,0".to_owned());
        let applied = store.save(&settings).expect("saves");
        assert_eq!(applied.on_restart, vec!["the sound devices".to_owned()]);
        assert!(store.save(&settings).expect("saves").on_restart.is_empty());
    }
}
