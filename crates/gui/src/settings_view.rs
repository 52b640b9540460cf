//! The Settings window: accounts (with a registration test), sound devices (with level
//! meters and a test tone), codecs and callback options. What is typed is checked as it is
//! typed; Save sends it to the core, which checks it as the config file is checked, saves it
//! and puts it in use.

use api::{AudioStatus, Request};
use egui::{Color32, RichText, Ui};

use crate::i18n::{Language, t};
use crate::settings::{SaveOutcome, SettingsDraft, SettingsTab, TestOutcome};
use crate::state::AppState;

const GOOD: Color32 = Color32::from_rgb(40, 150, 60);
const BAD: Color32 = Color32::from_rgb(200, 60, 40);

/// Draws the window while it is open.
pub(crate) fn settings_window(ctx: &egui::Context, state: &mut AppState, out: &mut Vec<Request>) {
    let audio = state
        .status
        .as_ref()
        .map(|s| s.audio.clone())
        .unwrap_or_default();
    let language = &mut state.settings.language;
    let theme = &mut state.settings.theme;
    let scale = &mut state.settings.scale;
    let Some(draft) = &mut state.settings_window else {
        return;
    };
    let mut open = true;
    egui::Window::new(t!("settings-title"))
        .id(egui::Id::unique("settings"))
        .default_size([620.0, 460.0])
        .collapsible(false)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                for (tab, label) in [
                    (SettingsTab::Accounts, "settings-tab-accounts"),
                    (SettingsTab::Audio, "settings-tab-audio"),
                    (SettingsTab::Codecs, "settings-tab-codecs"),
                    (SettingsTab::Callbacks, "settings-tab-callbacks"),
                    (SettingsTab::Appearance, "settings-tab-appearance"),
                ] {
                    ui.selectable_value(&mut draft.tab, tab, t!(label));
                }
                ui.separator();
                // The language changes at once (the next frame speaks it) and is saved
                // with the rest.
                ui.label(t!("settings-language"));
                let before = *language;
                let combo = egui::ComboBox::from_id_salt("language")
                    .selected_text(language.name())
                    .show_ui(ui, |ui| {
                        for choice in Language::ALL {
                            ui.selectable_value(language, choice, choice.name());
                        }
                    });
                named(&combo.response, &t!("settings-language"));
                if *language != before {
                    draft.language = Some(language.code().to_owned());
                    crate::i18n::set_language(*language);
                }
            });
            ui.separator();
            match draft.tab {
                SettingsTab::Accounts => {
                    accounts(ui, draft, out);
                    network(ui, draft);
                }
                SettingsTab::Audio => sound(ui, draft, &audio, out),
                SettingsTab::Codecs => codecs(ui, draft),
                SettingsTab::Callbacks => callbacks(ui, draft),
                SettingsTab::Appearance => appearance(ui, draft, theme, scale),
            }
            ui.separator();
            footer(ui, draft, out);
            // Closed by its own button (egui's close cross names itself in English).
            if ui.button(t!("settings-close")).clicked() {
                open = false;
            }
        });
    crate::views::name_resize_handles(ctx, egui::Id::unique("settings"));
    if !open {
        state.settings_window = None;
    }
}

/// A labelled one-line text field (the label is also its name for screen readers).
fn field(ui: &mut Ui, label: &str, text: &mut String, hint: &str, password: bool) {
    let label = t!(label);
    ui.label(&label);
    let edit = ui.add(
        egui::TextEdit::singleline(text)
            .hint_text(if hint.is_empty() {
                String::new()
            } else {
                t!(hint)
            })
            .password(password)
            .desired_width(300.0),
    );
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, &label));
    ui.end_row();
}

fn accounts(ui: &mut Ui, draft: &mut SettingsDraft, out: &mut Vec<Request>) {
    ui.horizontal(|ui| {
        for index in 0..draft.accounts.len() {
            let name = draft.accounts[index].form.name.clone();
            let label = if name.is_empty() {
                t!("account-no-name")
            } else {
                name
            };
            if ui.selectable_label(draft.account == index, label).clicked() {
                draft.account = index;
            }
        }
        if ui.button(t!("account-add")).clicked() {
            draft.add_account();
        }
        if !draft.accounts.is_empty() && ui.button(t!("account-remove")).clicked() {
            draft.remove_account();
        }
    });
    let index = draft.account;
    let Some(account) = draft.accounts.get_mut(index) else {
        ui.label(t!("account-none"));
        return;
    };
    egui::Grid::new("account").num_columns(2).show(ui, |ui| {
        let form = &mut account.form;
        field(
            ui,
            "account-name",
            &mut form.name,
            "account-name-hint",
            false,
        );
        field(ui, "account-aor", &mut form.aor, "account-aor-hint", false);
        field(
            ui,
            "account-display-name",
            &mut form.display_name,
            "account-display-name-hint",
            false,
        );
        field(
            ui,
            "account-registrar",
            &mut form.registrar,
            "account-registrar-hint",
            false,
        );
        ui.label(t!("account-transport"));
        let current = transport_of(&form.registrar, &form.aor);
        let mut chosen = current;
        let combo = egui::ComboBox::from_id_salt("transport")
            .selected_text(t!("transport", transport = current))
            .show_ui(ui, |ui| {
                for choice in ["auto", "udp", "tcp", "tls"] {
                    ui.selectable_value(&mut chosen, choice, t!("transport", transport = choice));
                }
            });
        named(&combo.response, &t!("account-transport"));
        if chosen != current {
            form.registrar = with_transport(&form.registrar, &form.aor, chosen);
        }
        ui.end_row();
        field(
            ui,
            "account-proxy",
            &mut form.proxy,
            "account-proxy-hint",
            false,
        );
        field(
            ui,
            "account-username",
            &mut form.username,
            "account-username-hint",
            false,
        );
        field(ui, "account-password", &mut form.password, "", true);
        field(
            ui,
            "account-expires",
            &mut account.expires,
            "account-expires-hint",
            false,
        );
        ui.label("");
        ui.checkbox(&mut account.form.register, t!("account-register"));
        ui.end_row();
        ui.label(t!("account-dtmf"));
        let mode = &mut account.form.dtmf;
        let combo = egui::ComboBox::from_id_salt("dtmf")
            .selected_text(t!("dtmf-mode", mode = mode.as_str()))
            .show_ui(ui, |ui| {
                for choice in ["auto", "rfc4733", "info"] {
                    ui.selectable_value(mode, choice.to_owned(), t!("dtmf-mode", mode = choice));
                }
            });
        named(&combo.response, &t!("account-dtmf"));
        ui.end_row();
        field(
            ui,
            "account-tls-ca",
            &mut account.form.tls_ca,
            "account-tls-ca-hint",
            false,
        );
        ui.label("");
        ui.checkbox(&mut account.form.tls_insecure, t!("account-tls-insecure"));
        ui.end_row();
        ui.label("");
        ui.checkbox(&mut account.form.mwi, t!("account-mwi"));
        ui.end_row();
    });
    ui.horizontal(|ui| {
        let form = draft.account_form(index);
        let name = draft.accounts[index].form.name.clone();
        if ui.button(t!("account-test")).clicked() {
            match form {
                Ok(form) => {
                    draft.tests.insert(name.clone(), TestOutcome::Waiting);
                    out.push(Request::TestRegistration(form));
                }
                Err(e) => {
                    draft
                        .tests
                        .insert(name.clone(), TestOutcome::Done(false, e.text()));
                }
            }
        }
        match draft.tests.get(&name) {
            Some(TestOutcome::Waiting) => {
                ui.label(t!("account-test-waiting"));
            }
            Some(TestOutcome::Done(true, detail)) => {
                ui.colored_label(GOOD, t!("account-test-registered", detail = detail));
            }
            Some(TestOutcome::Done(false, detail)) => {
                ui.colored_label(BAD, t!("account-test-failed", detail = detail));
            }
            None => {}
        }
    });
}

/// What every account shares: the STUN server and the keep-alive interval (`[sip]`).
fn network(ui: &mut Ui, draft: &mut SettingsDraft) {
    ui.separator();
    ui.label(t!("network-heading"));
    egui::Grid::new("network").num_columns(2).show(ui, |ui| {
        field(
            ui,
            "network-stun",
            &mut draft.stun_server,
            "network-stun-hint",
            false,
        );
        field(
            ui,
            "network-keepalive",
            &mut draft.keepalive_s,
            "network-keepalive-hint",
            false,
        );
    });
}

/// The transport a registrar URI asks for: `tls` for `sips:` or `;transport=tls`, `tcp`, `udp`,
/// or `auto` (none given: DNS decides). An empty registrar is the AOR's domain.
pub(crate) fn transport_of(registrar: &str, aor: &str) -> &'static str {
    let uri = if registrar.trim().is_empty() {
        aor
    } else {
        registrar
    };
    let uri = uri.trim();
    if uri.starts_with("sips:") {
        return "tls";
    }
    let param = uri
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("transport"))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match param.as_deref() {
        Some("udp") => "udp",
        Some("tcp") => "tcp",
        Some("tls") => "tls",
        _ => "auto",
    }
}

/// The registrar URI with its transport set to `transport` (`auto` removes it). An empty
/// registrar starts from the AOR's domain.
pub(crate) fn with_transport(registrar: &str, aor: &str, transport: &str) -> String {
    let base = if registrar.trim().is_empty() {
        let domain = aor
            .trim()
            .trim_start_matches("sips:")
            .trim_start_matches("sip:")
            .split('@')
            .nth(1)
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default();
        format!("sip:{domain}")
    } else {
        registrar.trim().to_owned()
    };
    let mut parts = base.split(';');
    let head = parts.next().unwrap_or_default();
    let head = head
        .strip_prefix("sips:")
        .map_or_else(|| head.to_owned(), |rest| format!("sip:{rest}"));
    let mut uri = head;
    for param in parts.filter(|p| {
        !p.split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("transport")
    }) {
        uri.push(';');
        uri.push_str(param);
    }
    if transport != "auto" {
        uri.push_str(";transport=");
        uri.push_str(transport);
    }
    uri
}

fn sound(ui: &mut Ui, draft: &mut SettingsDraft, audio: &AudioStatus, out: &mut Vec<Request>) {
    if let Some(note) = &draft.devices_note {
        ui.colored_label(BAD, t!("audio-devices-problem", note = note));
    }
    if audio.backend != "device" {
        ui.label(t!("audio-backend", backend = &audio.backend));
    }
    let inputs = draft.inputs.clone();
    let outputs = draft.outputs.clone();
    egui::Grid::new("devices").num_columns(2).show(ui, |ui| {
        device(
            ui,
            "audio-microphone",
            &mut draft.input,
            &inputs,
            "audio-system-default",
        );
        device(
            ui,
            "audio-headset",
            &mut draft.output,
            &outputs,
            "audio-system-default",
        );
        device(
            ui,
            "audio-ring",
            &mut draft.ring,
            &outputs,
            "audio-same-as-headset",
        );
        meter(ui, "audio-microphone-level", audio.input_db);
        meter(ui, "audio-headset-level", audio.output_db);
    });
    let mut headsets = draft.headsets.clone();
    if let Some(chosen) = &draft.headset
        && chosen != "off"
        && !headsets.contains(chosen)
    {
        // A device saved before and not plugged in now stays choosable.
        headsets.push(chosen.clone());
    }
    headsets.push("off".to_owned());
    egui::Grid::new("headset buttons")
        .num_columns(2)
        .show(ui, |ui| {
            device(
                ui,
                "audio-headset-buttons",
                &mut draft.headset,
                &headsets,
                "audio-headset-auto",
            );
        });
    if draft.headsets.is_empty() {
        ui.label(t!("audio-no-headset"));
    }
    ui.label(t!("audio-processing"));
    ui.checkbox(&mut draft.echo_cancellation, t!("audio-echo-cancellation"));
    ui.checkbox(&mut draft.noise_suppression, t!("audio-noise-suppression"));
    ui.checkbox(&mut draft.auto_gain, t!("audio-auto-gain"));
    ui.horizontal(|ui| {
        if ui.button(t!("audio-test-tone")).clicked() {
            out.push(Request::TestTone);
        }
        if audio.tone.as_deref() == Some("test") {
            ui.label(t!("audio-test-tone-playing"));
        }
    });
}

/// Gives a widget its name for screen readers.
fn named(response: &egui::Response, name: &str) {
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ComboBox, true, name));
}

fn device(ui: &mut Ui, id: &str, chosen: &mut Option<String>, names: &[String], none: &str) {
    let label = t!(id);
    let none = t!(none);
    // "off" (the headset's buttons) is a config word: it reads in the agent's language.
    let shown = |name: &str| {
        if name == "off" {
            t!("audio-off")
        } else {
            name.to_owned()
        }
    };
    ui.label(&label);
    let combo = egui::ComboBox::from_id_salt(id)
        .width(300.0)
        .selected_text(chosen.as_deref().map_or_else(|| none.clone(), shown))
        .show_ui(ui, |ui| {
            ui.selectable_value(chosen, None, &none);
            for name in names {
                ui.selectable_value(chosen, Some(name.clone()), shown(name));
            }
        });
    named(&combo.response, &label);
    ui.end_row();
}

/// A level meter (a grid row): −60 dBFS and below is empty, 0 dBFS full.
fn meter(ui: &mut Ui, id: &str, db: i16) {
    let label = t!(id);
    ui.label(&label);
    let fraction = ((f32::from(db) + 60.0) / 60.0).clamp(0.0, 1.0);
    let text = if db <= -90 {
        t!("audio-silent")
    } else {
        format!("{db} dB")
    };
    let bar = ui.add(
        egui::ProgressBar::new(fraction)
            .desired_width(300.0)
            .corner_radius(2.0)
            .text(text.clone()),
    );
    bar.widget_info(|| {
        egui::WidgetInfo::labeled(
            egui::Role::ProgressIndicator,
            true,
            format!("{label}: {text}"),
        )
    });
    ui.end_row();
}

fn codecs(ui: &mut Ui, draft: &mut SettingsDraft) {
    ui.label(t!("codecs-heading"));
    let mut moved = None;
    for index in 0..draft.codecs.len() {
        ui.horizontal(|ui| {
            let (name, on) = &mut draft.codecs[index];
            let label = t!("codec", codec = name.as_str());
            ui.checkbox(on, label);
            if ui.small_button(t!("codec-up")).clicked() {
                moved = Some((index, true));
            }
            if ui.small_button(t!("codec-down")).clicked() {
                moved = Some((index, false));
            }
        });
    }
    if let Some((index, up)) = moved {
        draft.move_codec(index, up);
    }
    egui::Grid::new("opus").num_columns(2).show(ui, |ui| {
        field(
            ui,
            "codecs-opus-bitrate",
            &mut draft.opus_bitrate,
            "codecs-opus-bitrate-hint",
            false,
        );
    });
}

fn callbacks(ui: &mut Ui, draft: &mut SettingsDraft) {
    egui::Grid::new("callbacks").num_columns(2).show(ui, |ui| {
        field(
            ui,
            "callbacks-reject-status",
            &mut draft.reject_status,
            "callbacks-reject-status-hint",
            false,
        );
        ui.label(t!("callbacks-not-ready-status"));
        let status = &mut draft.not_ready_status;
        let combo = egui::ComboBox::from_id_salt("not_ready")
            .selected_text(t!("sip-status", status = *status))
            .show_ui(ui, |ui| {
                for choice in [480, 486, 603] {
                    ui.selectable_value(status, choice, t!("sip-status", status = choice));
                }
            });
        named(&combo.response, &t!("callbacks-not-ready-status"));
        ui.end_row();
        field(
            ui,
            "callbacks-preview-timeout",
            &mut draft.preview_timeout,
            "callbacks-preview-timeout-hint",
            false,
        );
    });
    ui.checkbox(
        &mut draft.reject_on_timeout,
        t!("callbacks-reject-on-timeout"),
    );
    ui.checkbox(&mut draft.honour_auto_answer, t!("callbacks-auto-answer"));
    ui.checkbox(
        &mut draft.disposition_mandatory,
        t!("callbacks-disposition-mandatory"),
    );
}

/// The theme and the scale: shown at once, saved with the rest.
fn appearance(ui: &mut Ui, draft: &mut SettingsDraft, theme: &mut crate::Theme, scale: &mut u16) {
    egui::Grid::new("appearance").num_columns(2).show(ui, |ui| {
        let label = t!("appearance-theme");
        ui.label(&label);
        let before = *theme;
        let combo = egui::ComboBox::from_id_salt("theme")
            .selected_text(t!("theme", theme = theme.code()))
            .show_ui(ui, |ui| {
                for choice in crate::Theme::ALL {
                    ui.selectable_value(theme, choice, t!("theme", theme = choice.code()));
                }
            });
        named(&combo.response, &label);
        if *theme != before {
            draft.theme = Some(theme.code().to_owned());
        }
        ui.end_row();
        let label = t!("appearance-scale");
        ui.label(&label);
        let before = *scale;
        let combo = egui::ComboBox::from_id_salt("scale")
            .selected_text(format!("{scale} %"))
            .show_ui(ui, |ui| {
                for choice in crate::SCALES {
                    ui.selectable_value(scale, choice, format!("{choice} %"));
                }
            });
        named(&combo.response, &label);
        if *scale != before {
            draft.scale = Some(*scale);
        }
        ui.end_row();
    });
}

fn footer(ui: &mut Ui, draft: &mut SettingsDraft, out: &mut Vec<Request>) {
    let problems = draft.problems();
    for problem in &problems {
        ui.colored_label(BAD, problem);
    }
    match &draft.outcome {
        Some(SaveOutcome::Saved(text)) => {
            ui.colored_label(GOOD, text);
        }
        Some(SaveOutcome::Refused(text)) => {
            ui.colored_label(BAD, text);
        }
        None => {}
    }
    ui.horizontal(|ui| {
        let save = ui.add_enabled(
            problems.is_empty() && !draft.saving,
            egui::Button::new(t!("settings-save")),
        );
        if save.clicked()
            && let Ok(settings) = draft.to_settings()
        {
            draft.saving = true;
            draft.outcome = None;
            out.push(Request::SaveSettings(settings));
        }
        if draft.saving {
            ui.label(t!("settings-saving"));
        }
        if let Some(file) = &draft.file {
            ui.label(RichText::new(t!("settings-file", file = file)).weak());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_is_read_from_and_written_into_the_registrar_uri() {
        let aor = "sip:1001@pbx.example.com";
        assert_eq!(transport_of("", aor), "auto");
        assert_eq!(transport_of("", "sips:1001@pbx.example.com"), "tls");
        assert_eq!(
            transport_of("sip:pbx.example.com;transport=TCP", aor),
            "tcp"
        );
        assert_eq!(
            transport_of("sip:192.0.2.1:5070;lr;transport=udp", aor),
            "udp"
        );
        assert_eq!(
            with_transport("", aor, "tls"),
            "sip:pbx.example.com;transport=tls"
        );
        assert_eq!(
            with_transport("sips:pbx.example.com:5061;lr", aor, "tcp"),
            "sip:pbx.example.com:5061;lr;transport=tcp"
        );
        assert_eq!(
            with_transport("sip:pbx.example.com;transport=tls;lr", aor, "auto"),
            "sip:pbx.example.com;lr"
        );
        for t in ["auto", "udp", "tcp", "tls"] {
            assert_eq!(transport_of(&with_transport("", aor, t), aor), t);
        }
    }
}
