//! `recall` and `recall desktop`: the core on its own thread, the window on this one.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::error::StartError;
use crate::{Common, Failure, HeadlessArgs};

/// What a first run writes to the user's config file.
const FIRST_CONFIG: &str = r#"# recall: the agent desktop's configuration. Every section is optional.
# See README.md ("Configuration") for every key.

[sip]
# listen = ["udp:0.0.0.0:5060"]

# [[accounts]]
# name = "work"
# aor = "sip:agent@pbx.example.com"
# registrar = "sip:pbx.example.com"
# username = "agent"
# password = "secret"

[callbacks]
disposition_mandatory = true

# [[desktop.targets]]
# name = "Billing queue"
# kind = "queue"
# uri = "sip:billing@pbx.example.com"
"#;

/// `recall` alone: the user's config (written on first run), database and sound devices.
pub fn default_args() -> Result<HeadlessArgs, StartError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config_dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")))
        .ok_or(StartError::NoHome("XDG_CONFIG_HOME"))?
        .join("recall");
    let data_dir = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".local/share")))
        .ok_or(StartError::NoHome("XDG_DATA_HOME"))?
        .join("recall");
    for dir in [&config_dir, &data_dir] {
        std::fs::create_dir_all(dir).map_err(StartError::file("create", dir))?;
    }
    let config = config_dir.join("config.toml");
    if !config.exists() {
        std::fs::write(&config, FIRST_CONFIG).map_err(StartError::file("write", &config))?;
    }
    Ok(HeadlessArgs {
        common: Common {
            config: Some(config),
            listen: Vec::new(),
            audio: default_audio().to_owned(),
            log_sip: false,
        },
        control: None,
        auto_answer: None,
        db: Some(data_dir.join("recall.db")),
        seed: None,
    })
}

/// The sound devices when there is a sound card; otherwise calls without sound, so a machine
/// without one still gets a working desktop.
pub fn default_audio() -> &'static str {
    let has_card = std::fs::read_to_string("/proc/asound/cards").is_ok_and(|cards| {
        cards
            .lines()
            .any(|l| l.trim_start().starts_with(char::is_numeric))
    });
    if has_card { "device" } else { "null" }
}

static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Reads the agent's time zone while this is the only thread (the `time` crate refuses to
/// afterwards); call first thing in `main`.
pub fn read_local_offset() {
    let _ =
        LOCAL_OFFSET.set(time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC));
}

/// Runs the core on its own thread and the window on this one until the window closes.
pub fn run(
    phone_config: engine::PhoneConfig,
    mut runtime_config: runtime::RuntimeConfig,
    mut settings: gui::DeskSettings,
    shortcuts: (Option<String>, Option<String>),
) -> Result<ExitCode, Failure> {
    let accept = crate::hotkeys::parse(
        "accept_shortcut",
        shortcuts.0.as_deref(),
        crate::hotkeys::ACCEPT,
    )
    .map_err(Failure::Usage)?;
    let reject = crate::hotkeys::parse(
        "reject_shortcut",
        shortcuts.1.as_deref(),
        crate::hotkeys::REJECT,
    )
    .map_err(Failure::Usage)?;
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(Failure::Runtime(
            "cannot open the desktop window: no display (DISPLAY and WAYLAND_DISPLAY are unset); `recall headless` runs without one".to_owned(),
        ));
    }
    // Read before any other thread exists (the `time` crate refuses afterwards).
    settings.utc_offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    settings.time_zone = system_time_zone();
    let (postbox, inbox) = gui::mailbox();
    let (requests_tx, requests_rx) = tokio::sync::mpsc::unbounded_channel();
    let to_core = requests_tx.clone();
    let mut desktop = gui::Desktop::new(
        settings,
        inbox,
        Box::new(move |request| {
            let _ = to_core.send(request);
        }),
    );
    let control = desktop.control();
    // The tray keeps recall running with the window closed; without a tray host (or a
    // session bus) the window closes as any window does.
    let to_core = requests_tx.clone();
    let tray = crate::tray::spawn(crate::tray::Tray::new(
        Box::new(move |request| {
            let _ = to_core.send(request);
        }),
        control.clone(),
    ));
    let tray = match tray {
        Ok(handle) => {
            desktop.set_tray(true);
            Some(handle)
        }
        Err(reason) => {
            tracing::info!(%reason, "no tray icon: closing the window quits");
            None
        }
    };
    runtime_config.desk = Some(runtime::Desk {
        requests: requests_rx,
        post: Box::new(move |delivery| {
            if let Some(tray) = &tray {
                crate::tray::follow(tray, &delivery);
            }
            postbox.post(delivery);
        }),
    });
    let core_ended = control.clone();
    // Accept and reject from any window, where the display allows global keys (X11).
    let _shortcuts = match crate::hotkeys::spawn(accept, reject, control.clone()) {
        Ok(shortcuts) => Some(shortcuts),
        Err(reason) => {
            tracing::info!(%reason, "no global shortcuts: F5 and F6 work in the window");
            None
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), StartError>>();
    let core = std::thread::Builder::new()
        .name("recall-core".to_owned())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(source) => {
                    let _ = started_tx.send(Err(StartError::Spawn {
                        what: "runtime",
                        source,
                    }));
                    return;
                }
            };
            let stop = async move {
                tokio::select! {
                    _ = stop_rx => {}
                    () = crate::shutdown_signal() => {}
                }
            };
            // The start is over once the runtime is serving or has failed.
            let started = started_tx.clone();
            let result = rt.block_on(async move {
                let run = runtime::run(phone_config, runtime_config, None, stop);
                tokio::pin!(run);
                tokio::select! {
                    result = &mut run => result,
                    () = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
                        let _ = started.send(Ok(()));
                        run.await
                    }
                }
            });
            if let Err(e) = result {
                let _ = started_tx.send(Err(e.into()));
            }
            // Stopped by a signal (or failed): the window goes too.
            core_ended.send(gui::DeskCommand::Quit);
        })
        .map_err(|e| Failure::Runtime(format!("cannot start the core thread: {e}")))?;
    match started_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Failure::Runtime(e.to_string())),
        Err(_) => return Err(Failure::Runtime(StartError::Stopped.to_string())),
    }
    drop(requests_tx);
    let shown = gui::run(desktop, "recall");
    let _ = stop_tx.send(());
    let _ = core.join();
    shown.map_err(|e| Failure::Runtime(format!("cannot open the desktop window: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The desktop's settings from the config.
pub(crate) fn desk_settings(config: &Config) -> gui::DeskSettings {
    let defaults = gui::DeskSettings::default();
    let callbacks = config.callbacks.to_settings();
    let domain = config
        .callbacks
        .dial_domain
        .clone()
        .or_else(|| {
            let aor = &config.accounts.first()?.aor;
            let host = aor.rsplit_once('@').map(|(_, h)| h)?;
            Some(host.split([';', '>']).next().unwrap_or(host).to_owned())
        })
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    gui::DeskSettings {
        dispositions: callbacks.dispositions,
        disposition_mandatory: callbacks.disposition_mandatory,
        case_fields: if config.desktop.case_fields.is_empty() {
            defaults.case_fields
        } else {
            config
                .desktop
                .case_fields
                .iter()
                .map(|f| (f.key.clone(), f.label.clone()))
                .collect()
        },
        contact_fields: config
            .desktop
            .contact_fields
            .iter()
            .map(|f| (f.key.clone(), f.label.clone()))
            .collect(),
        targets: config
            .desktop
            .targets
            .iter()
            .map(|t| gui::Target {
                name: t.name.clone(),
                kind: t.kind.clone(),
                uri: t.uri.clone(),
            })
            .collect(),
        dial_plan: format!("sip:{{number}}@{domain}"),
        utc_offset: defaults.utc_offset,
        time_zone: defaults.time_zone,
        language: desk_language(config.desktop.language.as_deref(), |name| {
            std::env::var(name).ok()
        }),
        theme: config
            .desktop
            .theme
            .as_deref()
            .and_then(gui::Theme::parse)
            .unwrap_or_default(),
        scale: config.desktop.scale.unwrap_or(100),
    }
}

/// The desktop's language: the config's when it names one, else the locale's (`LC_ALL`,
/// `LC_MESSAGES`, `LANG`, as POSIX reads them).
pub(crate) fn desk_language(
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> gui::i18n::Language {
    configured
        .filter(|language| *language != "auto")
        .and_then(gui::i18n::Language::parse)
        .unwrap_or_else(|| {
            gui::i18n::Language::from_locale(
                env("LC_ALL").as_deref(),
                env("LC_MESSAGES").as_deref(),
                env("LANG").as_deref(),
            )
        })
}

/// The system's IANA zone: `TZ` when it names one, else `/etc/timezone`, else the target of
/// the `/etc/localtime` link (`…/zoneinfo/Europe/Madrid`); `None` when none of them names a
/// zone recall knows (times are then shown at the offset read at start).
fn system_time_zone() -> Option<String> {
    let known = |name: &str| {
        api::Zone::parse(name.trim_start_matches(':'))
            .ok()
            .map(|zone| zone.name().to_owned())
    };
    if let Some(zone) = std::env::var("TZ").ok().as_deref().and_then(known) {
        return Some(zone);
    }
    if let Some(zone) = std::fs::read_to_string("/etc/timezone")
        .ok()
        .as_deref()
        .map(str::trim)
        .and_then(known)
    {
        return Some(zone);
    }
    let link = std::fs::read_link("/etc/localtime").ok()?;
    let link = link.to_string_lossy();
    let (_, name) = link.split_once("zoneinfo/")?;
    known(name)
}

#[cfg(test)]
mod tests {
    use super::desk_language;
    use gui::i18n::Language;

    #[test]
    fn the_language_is_the_configs_else_the_locales() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let spanish_locale = env(&[("LANG", "es_ES.UTF-8")]);
        assert_eq!(desk_language(None, spanish_locale), Language::Spanish);
        assert_eq!(
            desk_language(Some("auto"), spanish_locale),
            Language::Spanish
        );
        assert_eq!(desk_language(Some("en"), spanish_locale), Language::English);
        assert_eq!(
            desk_language(None, env(&[("LC_ALL", "en_GB.UTF-8"), ("LANG", "es_MX")])),
            Language::English,
            "LC_ALL comes first"
        );
        assert_eq!(
            desk_language(None, env(&[("LANG", "C.UTF-8")])),
            Language::English
        );
    }
}
