//! The Settings window: accounts (with a registration test), sound devices (with level
//! meters and a test tone), codecs and callback options. What is typed is checked as it is
//! typed; Save sends it to the core, which checks it as the config file is checked, saves it
//! and puts it in use.

use api::{AudioStatus, Request};
use egui::{Color32, RichText, Ui};

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
    let Some(draft) = &mut state.settings_window else {
        return;
    };
    let mut open = true;
    egui::Window::new("Settings")
        .open(&mut open)
        .default_size([620.0, 460.0])
        .collapsible(false)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                for (tab, label) in [
                    (SettingsTab::Accounts, "Accounts"),
                    (SettingsTab::Audio, "Audio"),
                    (SettingsTab::Codecs, "Codecs"),
                    (SettingsTab::Callbacks, "Callbacks"),
                ] {
                    ui.selectable_value(&mut draft.tab, tab, label);
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
            }
            ui.separator();
            footer(ui, draft, out);
        });
    if !open {
        state.settings_window = None;
    }
}

/// A labelled one-line text field (the label is also its name for screen readers).
fn field(ui: &mut Ui, label: &str, text: &mut String, hint: &str, password: bool) {
    ui.label(label);
    let edit = ui.add(
        egui::TextEdit::singleline(text)
            .hint_text(hint)
            .password(password)
            .desired_width(300.0),
    );
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, label));
    ui.end_row();
}

fn accounts(ui: &mut Ui, draft: &mut SettingsDraft, out: &mut Vec<Request>) {
    ui.horizontal(|ui| {
        for index in 0..draft.accounts.len() {
            let name = draft.accounts[index].form.name.clone();
            let label = if name.is_empty() { "(no name)" } else { &name };
            if ui.selectable_label(draft.account == index, label).clicked() {
                draft.account = index;
            }
        }
        if ui.button("Add account").clicked() {
            draft.add_account();
        }
        if !draft.accounts.is_empty() && ui.button("Remove account").clicked() {
            draft.remove_account();
        }
    });
    let index = draft.account;
    let Some(account) = draft.accounts.get_mut(index) else {
        ui.label("No account: calls go straight to SIP addresses. Add one to register at a PBX.");
        return;
    };
    egui::Grid::new("account").num_columns(2).show(ui, |ui| {
        let form = &mut account.form;
        field(ui, "Name", &mut form.name, "work", false);
        field(
            ui,
            "Address (AOR)",
            &mut form.aor,
            "sip:agent@pbx.example.com",
            false,
        );
        field(
            ui,
            "Display name",
            &mut form.display_name,
            "Ana at Support",
            false,
        );
        field(
            ui,
            "Registrar",
            &mut form.registrar,
            "sip:pbx.example.com (from the address)",
            false,
        );
        ui.label("Transport");
        let current = transport_of(&form.registrar, &form.aor);
        let mut chosen = current;
        let combo = egui::ComboBox::from_id_salt("transport")
            .selected_text(transport_label(current))
            .show_ui(ui, |ui| {
                for choice in ["auto", "udp", "tcp", "tls"] {
                    ui.selectable_value(&mut chosen, choice, transport_label(choice));
                }
            });
        named(&combo.response, "Transport");
        if chosen != current {
            form.registrar = with_transport(&form.registrar, &form.aor, chosen);
        }
        ui.end_row();
        field(
            ui,
            "Outbound proxy",
            &mut form.proxy,
            "udp:192.0.2.10:5060 (the registrar)",
            false,
        );
        field(
            ui,
            "User name",
            &mut form.username,
            "(the address's user)",
            false,
        );
        field(ui, "Password", &mut form.password, "", true);
        field(
            ui,
            "Registration lifetime (s)",
            &mut account.expires,
            "600",
            false,
        );
        ui.label("");
        ui.checkbox(&mut account.form.register, "Register");
        ui.end_row();
        ui.label("DTMF");
        let mode = &mut account.form.dtmf;
        let combo = egui::ComboBox::from_id_salt("dtmf")
            .selected_text(dtmf_label(mode))
            .show_ui(ui, |ui| {
                for choice in ["auto", "rfc4733", "info"] {
                    ui.selectable_value(mode, choice.to_owned(), dtmf_label(choice));
                }
            });
        named(&combo.response, "DTMF");
        ui.end_row();
        field(
            ui,
            "TLS trusted CAs (PEM file)",
            &mut account.form.tls_ca,
            "(the system's, or [tls] ca)",
            false,
        );
        ui.label("");
        ui.checkbox(
            &mut account.form.tls_insecure,
            "Accept any TLS certificate (lab only: anyone on the path can listen in)",
        );
        ui.end_row();
        ui.label("");
        ui.checkbox(
            &mut account.form.mwi,
            "Voicemail indicator (subscribe to the mailbox's message summary)",
        );
        ui.end_row();
    });
    ui.horizontal(|ui| {
        let form = draft.account_form(index);
        let name = draft.accounts[index].form.name.clone();
        if ui.button("Test registration").clicked() {
            match form {
                Ok(form) => {
                    draft.tests.insert(name.clone(), TestOutcome::Waiting);
                    out.push(Request::TestRegistration(form));
                }
                Err(e) => {
                    draft
                        .tests
                        .insert(name.clone(), TestOutcome::Done(false, e.to_string()));
                }
            }
        }
        match draft.tests.get(&name) {
            Some(TestOutcome::Waiting) => {
                ui.label("Registering…");
            }
            Some(TestOutcome::Done(true, detail)) => {
                ui.colored_label(GOOD, format!("Registered: {detail}"));
            }
            Some(TestOutcome::Done(false, detail)) => {
                ui.colored_label(BAD, format!("Not registered: {detail}"));
            }
            None => {}
        }
    });
}

/// What every account shares: the STUN server and the keep-alive interval (`[sip]`).
fn network(ui: &mut Ui, draft: &mut SettingsDraft) {
    ui.separator();
    ui.label("Network (every account; used from the next start)");
    egui::Grid::new("network").num_columns(2).show(ui, |ui| {
        field(
            ui,
            "STUN server",
            &mut draft.stun_server,
            "192.0.2.50:3478 (none)",
            false,
        );
        field(
            ui,
            "Keep-alive interval (s)",
            &mut draft.keepalive_s,
            "30 (0: off)",
            false,
        );
    });
}

fn transport_label(transport: &str) -> &'static str {
    match transport {
        "udp" => "UDP",
        "tcp" => "TCP",
        "tls" => "TLS (encrypted)",
        _ => "Automatic (DNS decides)",
    }
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

fn dtmf_label(mode: &str) -> &'static str {
    match mode {
        "rfc4733" => "RFC 4733 only",
        "info" => "SIP INFO",
        _ => "Automatic (RFC 4733, else SIP INFO)",
    }
}

fn sound(ui: &mut Ui, draft: &mut SettingsDraft, audio: &AudioStatus, out: &mut Vec<Request>) {
    if let Some(note) = &draft.devices_note {
        ui.colored_label(BAD, format!("Sound devices: {note}"));
    }
    if audio.backend != "device" {
        ui.label(format!(
            "recall runs with {} audio now; the devices chosen here are used when it runs with sound devices (--audio device).",
            audio.backend
        ));
    }
    let inputs = draft.inputs.clone();
    let outputs = draft.outputs.clone();
    egui::Grid::new("devices").num_columns(2).show(ui, |ui| {
        device(
            ui,
            "Microphone",
            &mut draft.input,
            &inputs,
            "System default",
        );
        device(ui, "Headset", &mut draft.output, &outputs, "System default");
        device(
            ui,
            "Ring device",
            &mut draft.ring,
            &outputs,
            "Same as the headset",
        );
        meter(ui, "Microphone level", audio.input_db);
        meter(ui, "Headset level", audio.output_db);
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
                "Headset buttons and lights",
                &mut draft.headset,
                &headsets,
                "Automatic (the first telephony headset)",
            );
        });
    if draft.headsets.is_empty() {
        ui.label("No telephony headset is plugged in (USB HID, telephony page).");
    }
    ui.label("Microphone processing (applied when saved, during calls too):");
    ui.checkbox(
        &mut draft.echo_cancellation,
        "Echo cancellation (for speakers and open headsets)",
    );
    ui.checkbox(
        &mut draft.noise_suppression,
        "Noise suppression (the room behind you)",
    );
    ui.checkbox(
        &mut draft.auto_gain,
        "Automatic gain control (a steady voice level)",
    );
    ui.horizontal(|ui| {
        if ui.button("Play test tone").clicked() {
            out.push(Request::TestTone);
        }
        if audio.tone.as_deref() == Some("test") {
            ui.label("Playing the test tone…");
        }
    });
}

/// Gives a widget its name for screen readers.
fn named(response: &egui::Response, name: &str) {
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ComboBox, true, name));
}

fn device(ui: &mut Ui, label: &str, chosen: &mut Option<String>, names: &[String], none: &str) {
    ui.label(label);
    let combo = egui::ComboBox::from_id_salt(label)
        .width(300.0)
        .selected_text(chosen.as_deref().unwrap_or(none))
        .show_ui(ui, |ui| {
            ui.selectable_value(chosen, None, none);
            for name in names {
                ui.selectable_value(chosen, Some(name.clone()), name);
            }
        });
    named(&combo.response, label);
    ui.end_row();
}

/// A level meter (a grid row): −60 dBFS and below is empty, 0 dBFS full.
fn meter(ui: &mut Ui, label: &str, db: i16) {
    ui.label(label);
    let fraction = ((f32::from(db) + 60.0) / 60.0).clamp(0.0, 1.0);
    let text = if db <= -90 {
        "silent".to_owned()
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
    ui.label("Offered in this order; the first both sides have is used.");
    let mut moved = None;
    for index in 0..draft.codecs.len() {
        ui.horizontal(|ui| {
            let (name, on) = &mut draft.codecs[index];
            let label = match name.as_str() {
                "opus" => "Opus (wide-band, 48 kHz)",
                "g722" => "G.722 (wide-band, 16 kHz)",
                "pcmu" => "G.711 µ-law (PCMU)",
                "pcma" => "G.711 A-law (PCMA)",
                other => other,
            };
            ui.checkbox(on, label);
            if ui.small_button("Up").clicked() {
                moved = Some((index, true));
            }
            if ui.small_button("Down").clicked() {
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
            "Opus bitrate (bit/s)",
            &mut draft.opus_bitrate,
            "24000",
            false,
        );
    });
}

fn callbacks(ui: &mut Ui, draft: &mut SettingsDraft) {
    egui::Grid::new("callbacks").num_columns(2).show(ui, |ui| {
        field(
            ui,
            "Reject sends status",
            &mut draft.reject_status,
            "486",
            false,
        );
        ui.label("While Not Ready, answer");
        let status = &mut draft.not_ready_status;
        let combo = egui::ComboBox::from_id_salt("not_ready")
            .selected_text(status_label(*status))
            .show_ui(ui, |ui| {
                for choice in [480, 486, 603] {
                    ui.selectable_value(status, choice, status_label(choice));
                }
            });
        named(&combo.response, "While Not Ready, answer");
        ui.end_row();
        field(
            ui,
            "Preview timeout (s)",
            &mut draft.preview_timeout,
            "empty: until the server gives up",
            false,
        );
    });
    ui.checkbox(
        &mut draft.reject_on_timeout,
        "When it times out, refuse the callback here (480) instead of letting it ring on",
    );
    ui.checkbox(
        &mut draft.honour_auto_answer,
        "Answer callbacks whose INVITE asks for auto-answer",
    );
    ui.checkbox(&mut draft.disposition_mandatory, "Done needs a disposition");
}

fn status_label(status: u16) -> &'static str {
    match status {
        480 => "480 Temporarily Unavailable",
        603 => "603 Decline",
        _ => "486 Busy Here",
    }
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
            egui::Button::new("Save"),
        );
        if save.clicked()
            && let Ok(settings) = draft.to_settings()
        {
            draft.saving = true;
            draft.outcome = None;
            out.push(Request::SaveSettings(settings));
        }
        if draft.saving {
            ui.label("Saving…");
        }
        if let Some(file) = &draft.file {
            ui.label(RichText::new(format!("Saved in {file}")).weak());
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
