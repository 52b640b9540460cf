//! The views: each draws part of the state and returns what the agent asked for, as requests
//! for the core. Typing changes the state directly (it is the agent's own); nothing here waits.

use api::{
    AgentState, CallId, CallState, CallView, Command, Interaction, InteractionCommand,
    InteractionState, Request, TimelineKind,
};
use egui::{Align2, Color32, RichText, Ui};
use time::OffsetDateTime;

use crate::state::{AppState, RescheduleDraft, TeamAction, kind_label, state_label, summary};

/// Draws the whole desktop for one frame; returns the agent's requests.
pub fn desktop(ui: &mut Ui, state: &mut AppState, now: OffsetDateTime) -> Vec<Request> {
    let mut out = Vec::new();
    shortcuts(ui, state, &mut out);
    egui::Panel::top("status").show(ui, |ui| status_bar(ui, state, &mut out));
    egui::Panel::left("lists")
        .default_size(300.0)
        .show(ui, |ui| lists(ui, state, &mut out));
    egui::CentralPanel::default().show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| work_area(ui, state, now, &mut out));
    });
    let ctx = ui.ctx().clone();
    toasts(&ctx, state, now, &mut out);
    team_communicator(&ctx, state, &mut out);
    reschedule_dialog(&ctx, state, now, &mut out);
    crate::settings_view::settings_window(&ctx, state, &mut out);
    out
}

/// F5 accept, F6 reject (the oldest ringing), F8 hang up, F9 hold or resume, F10 mute or
/// unmute (the selected interaction's call), and digits as DTMF while the keypad is open.
fn shortcuts(ui: &Ui, state: &mut AppState, out: &mut Vec<Request>) {
    let ringing = state.ringing().first().map(|i| i.id);
    let call = selected_call(state).map(|c| (c.id, c.state, c.muted));
    ui.input(|input| {
        if let Some(id) = ringing {
            if input.key_pressed(egui::Key::F5) {
                out.push(Request::Interaction {
                    id,
                    command: InteractionCommand::Accept,
                });
            }
            if input.key_pressed(egui::Key::F6) {
                out.push(Request::Interaction {
                    id,
                    command: InteractionCommand::Reject { status: None },
                });
            }
        }
        if let Some((call, call_state, muted)) = call {
            if input.key_pressed(egui::Key::F8) {
                out.push(Request::Command(Command::Hangup { call }));
            }
            if input.key_pressed(egui::Key::F9) {
                out.push(Request::Command(if call_state == CallState::Held {
                    Command::Resume { call }
                } else {
                    Command::Hold { call }
                }));
            }
            if input.key_pressed(egui::Key::F10) {
                out.push(Request::Command(Command::Mute {
                    call,
                    muted: !muted,
                }));
            }
            if state.keypad {
                for event in &input.events {
                    if let egui::Event::Text(text) = event {
                        let digits: String = text
                            .chars()
                            .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
                            .collect();
                        if !digits.is_empty() {
                            out.push(Request::Command(Command::Dtmf { call, digits }));
                        }
                    }
                }
            }
        }
    });
}

fn selected_call(state: &AppState) -> Option<&CallView> {
    let interaction = state.interactions.get(&state.selected?)?;
    state
        .call_of(interaction)
        .filter(|c| c.state != CallState::Ended)
}

fn status_bar(ui: &mut Ui, state: &mut AppState, out: &mut Vec<Request>) {
    ui.horizontal(|ui| {
        ui.heading("recall");
        ui.separator();
        let mut voice = state.agent.voice == AgentState::Ready;
        let mut web = state.agent.web_callback == AgentState::Ready;
        let voice_label = if voice {
            "Voice: Ready"
        } else {
            "Voice: Not Ready"
        };
        let web_label = if web {
            "Web callback: Ready"
        } else {
            "Web callback: Not Ready"
        };
        let voice_changed = ui.toggle_value(&mut voice, voice_label).changed();
        let web_changed = ui.toggle_value(&mut web, web_label).changed();
        if voice_changed || web_changed {
            let level = |ready: bool| {
                if ready {
                    AgentState::Ready
                } else {
                    AgentState::NotReady
                }
            };
            out.push(Request::Agent {
                voice: Some(level(voice)),
                web_callback: Some(level(web)),
            });
        }
        ui.separator();
        match &state.status {
            Some(status) if status.registrations.is_empty() => {
                ui.label("No account: direct calls only");
            }
            Some(status) => {
                for registration in &status.registrations {
                    let color = if registration.state == api::RegistrationState::Registered {
                        Color32::from_rgb(40, 150, 60)
                    } else {
                        Color32::from_rgb(200, 90, 40)
                    };
                    // The transport and the server in use (located by DNS or given), and
                    // why it failed, when it did.
                    let transport = registration
                        .server
                        .as_deref()
                        .and_then(|s| s.split(':').next())
                        .map(|t| format!(" over {}", t.to_ascii_uppercase()))
                        .unwrap_or_default();
                    let label = ui.colored_label(
                        color,
                        format!(
                            "{}: {}{transport}",
                            registration.account, registration.state
                        ),
                    );
                    let mut detail = Vec::new();
                    if let Some(server) = &registration.server {
                        detail.push(format!("Server: {server}"));
                    }
                    if let Some(reason) = &registration.reason {
                        detail.push(reason.clone());
                    }
                    if !detail.is_empty() {
                        label.on_hover_text(detail.join("\n"));
                    }
                    if let Some(mail) = registration.voicemail.filter(|m| m.waiting) {
                        // The message-waiting indicator (RFC 3842).
                        let text = match mail.new {
                            0 => "✉ messages waiting".to_owned(),
                            1 => "✉ 1 new voicemail".to_owned(),
                            n => format!("✉ {n} new voicemails"),
                        };
                        ui.label(
                            RichText::new(text)
                                .strong()
                                .color(Color32::from_rgb(200, 60, 40)),
                        )
                        .on_hover_text(format!(
                            "{}: {} new, {} old",
                            registration.account, mail.new, mail.old
                        ));
                    }
                }
            }
            None => {
                ui.label("Connecting…");
            }
        }
        if let Some(status) = &state.status {
            ui.separator();
            ui.label(format!(
                "Mic {} dB · Headset {} dB",
                status.audio.input_db, status.audio.output_db
            ));
        }
        ui.separator();
        if ui.button("Settings").clicked() && state.settings_window.is_none() {
            out.push(Request::Settings);
        }
    });
    if let Some(notice) = state.notice.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(Color32::from_rgb(200, 60, 40), notice);
            if ui.button("Dismiss").clicked() {
                state.notice = None;
            }
        });
    }
}

fn lists(ui: &mut Ui, state: &mut AppState, out: &mut Vec<Request>) {
    ui.heading("Dial");
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.dial)
                .hint_text("Number or SIP URI")
                .desired_width(170.0),
        );
        field.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Number to dial")
        });
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Dial").clicked() || enter) && !state.dial.trim().is_empty() {
            out.push(Request::Command(Command::Dial {
                to: state.dial_uri(&state.dial),
                account: None,
            }));
            state.dial.clear();
        }
    });
    egui::CollapsingHeader::new("Dial pad").show(ui, |ui| {
        egui::Grid::new("dialpad").show(ui, |ui| {
            for row in ["123", "456", "789", "*0#"] {
                for key in row.chars() {
                    if ui
                        .add_sized([40.0, 28.0], egui::Button::new(format!(" {key} ")))
                        .clicked()
                    {
                        state.dial.push(key);
                    }
                }
                ui.end_row();
            }
        });
    });
    ui.separator();
    ui.heading("Current");
    let current: Vec<(api::InteractionId, String)> =
        state.current().iter().map(|i| (i.id, summary(i))).collect();
    if current.is_empty() {
        ui.label("Nothing in hand");
    }
    for (id, text) in current {
        if ui
            .selectable_label(state.selected == Some(id), text)
            .clicked()
        {
            state.selected = Some(id);
        }
    }
    let calls: Vec<String> = state
        .live_calls()
        .iter()
        .filter(|c| c.interaction_id.is_none())
        .map(|c| format!("{} {} ({})", c.id, c.remote, call_state_label(c.state)))
        .collect();
    for text in calls {
        ui.label(text);
    }
    ui.separator();
    ui.heading("History");
    ui.add(egui::TextEdit::singleline(&mut state.history_query).hint_text("Search history"));
    let history = state.history_ids().to_vec();
    if history.is_empty() {
        ui.label("No closed interactions yet");
    }
    // Only the rows in view are laid out: the history can hold tens of thousands.
    let row = ui.spacing().interact_size.y;
    egui::ScrollArea::vertical().id_salt("history").show_rows(
        ui,
        row,
        history.len(),
        |ui, rows| {
            for id in &history[rows] {
                let text = state.interactions.get(id).map(summary).unwrap_or_default();
                if ui
                    .selectable_label(state.selected == Some(*id), text)
                    .clicked()
                {
                    state.selected = Some(*id);
                }
            }
        },
    );
    let _ = out;
}

fn call_state_label(state: CallState) -> &'static str {
    match state {
        CallState::Ringing => "Ringing",
        CallState::Dialing => "Dialing",
        CallState::Connected => "Connected",
        CallState::Held => "On hold",
        CallState::Ended => "Ended",
    }
}

fn toasts(ctx: &egui::Context, state: &AppState, now: OffsetDateTime, out: &mut Vec<Request>) {
    for (n, interaction) in state.ringing().into_iter().enumerate() {
        let id = interaction.id;
        egui::Window::new(format!("Incoming {}", kind_title(interaction)))
            .id(egui::Id::unique(("toast", id.0)))
            .anchor(Align2::RIGHT_TOP, [-12.0, 60.0 + 190.0 * n as f32])
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let who = interaction
                    .contact
                    .as_ref()
                    .map(|c| c.name.clone())
                    .or_else(|| interaction.remote.clone())
                    .unwrap_or_default();
                ui.label(RichText::new(who).strong());
                if let Some(number) = &interaction.callback.customer_number {
                    ui.label(format!("Customer number: {number}"));
                }
                for (key, label) in &state.settings.case_fields {
                    if let Some(value) = interaction.attached.get(key) {
                        ui.label(format!("{label}: {value}"));
                    }
                }
                if let Some(left) = countdown(interaction, now) {
                    ui.label(format!("Returns to the queue in {left} s"));
                }
                ui.horizontal(|ui| {
                    if ui.button("Accept").clicked() {
                        out.push(Request::Interaction {
                            id,
                            command: InteractionCommand::Accept,
                        });
                    }
                    if ui.button("Reject").clicked() {
                        out.push(Request::Interaction {
                            id,
                            command: InteractionCommand::Reject { status: None },
                        });
                    }
                });
            });
    }
}

fn kind_title(interaction: &Interaction) -> String {
    interaction.callback.kind.map_or("call".to_owned(), |k| {
        format!("{} callback", kind_label(k).to_lowercase())
    })
}

/// Seconds left of the preview timeout, when the callback has one.
fn countdown(interaction: &Interaction, now: OffsetDateTime) -> Option<i64> {
    let limit = interaction.callback.preview_timeout?;
    let since = interaction.timeline.first()?.at;
    let left = limit.as_secs() as i64 - (now - since).whole_seconds();
    Some(left.max(0))
}

fn work_area(ui: &mut Ui, state: &mut AppState, now: OffsetDateTime, out: &mut Vec<Request>) {
    let Some(id) = state.selected else {
        ui.heading("Ready for the next callback");
        ui.label("Incoming callbacks appear at the top right. F5 accepts, F6 rejects.");
        return;
    };
    let Some(interaction) = state.interactions.get(&id).cloned() else {
        return;
    };
    ui.heading(summary(&interaction));
    let call = state.call_of(&interaction).cloned();
    ui.label(RichText::new(status_line(&interaction, call.as_ref(), now)).size(16.0));
    toolbar(ui, state, &interaction, call.as_ref(), out);
    if state.keypad
        && let Some(call) = call.as_ref().filter(|c| c.state != CallState::Ended)
    {
        keypad(ui, call.id, out);
    }
    ui.separator();
    ui.columns(2, |columns| {
        case_information(&mut columns[0], state, &interaction);
        callback_information(&mut columns[0], &interaction, &agent_zone(&state.settings));
        contact(&mut columns[0], state, &interaction, out);
        dispositions(&mut columns[1], state, &interaction, out);
        note(&mut columns[1], state, &interaction, out);
        let email = interaction.contact.as_ref().and_then(|c| c.email.clone());
        responses(&mut columns[1], state, email.as_deref());
    });
    ui.separator();
    ui.heading("History of this interaction");
    let zone = agent_zone(&state.settings);
    for entry in &interaction.timeline {
        ui.label(format!(
            "{}  {}",
            clock(zone.local(entry.at)),
            timeline_text(&entry.kind)
        ));
    }
}

fn status_line(interaction: &Interaction, call: Option<&CallView>, now: OffsetDateTime) -> String {
    let since = |kind: fn(&TimelineKind) -> bool| {
        interaction
            .timeline
            .iter()
            .rev()
            .find(|e| kind(&e.kind))
            .map(|e| duration(now - e.at))
    };
    let transferring = call
        .filter(|c| c.state != CallState::Ended)
        .and_then(|c| c.transfer.as_deref())
        .filter(|t| matches!(*t, "trying" | "accepted" | "ringing"));
    if let Some(progress) = transferring {
        return format!("Transferring ({progress}); the customer is on hold");
    }
    let transferred = interaction
        .timeline
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            TimelineKind::Transferred {
                target,
                outcome: Some(outcome),
                ..
            } if *outcome != api::TransferOutcome::Failed => Some((target, outcome)),
            _ => None,
        });
    if let (InteractionState::Ended, Some((target, outcome))) = (interaction.state, transferred) {
        return format!("Transferred to {target} ({})", outcome.as_str());
    }
    match (interaction.state, call.map(|c| c.state)) {
        (InteractionState::Previewing, _) => "Ready to call".to_owned(),
        (_, Some(CallState::Ringing)) => "Ringing".to_owned(),
        (_, Some(CallState::Dialing)) if call.is_some_and(|c| c.early_media) => {
            "Dialing (early media playing)".to_owned()
        }
        (_, Some(CallState::Dialing)) | (InteractionState::Dialing, _) => "Dialing".to_owned(),
        (_, Some(CallState::Held)) => format!(
            "On hold {}",
            since(|k| matches!(k, TimelineKind::Held)).unwrap_or_default()
        ),
        (_, Some(CallState::Connected)) => format!(
            "Connected {}{}{}{}",
            since(|k| matches!(k, TimelineKind::Connected)).unwrap_or_default(),
            if call.is_some_and(|c| c.muted) {
                " (muted)"
            } else {
                ""
            },
            call.and_then(|c| c.encryption.as_deref())
                .map(protection)
                .unwrap_or_default(),
            call.and_then(|c| c.ice.as_deref())
                .map(media_route)
                .unwrap_or_default()
        ),
        (InteractionState::Ended, _) => "Ended".to_owned(),
        (state, _) => format!("Ended ({})", state_label(state)),
    }
}

/// How a call's media is protected, for its status line: a lock with the keying and suite,
/// a note while DTLS is still keying it, or a plain mark that it is not encrypted.
fn protection(encryption: &str) -> String {
    let keyed = encryption
        .split_once("-srtp ")
        .filter(|(keying, _)| matches!(*keying, "sdes" | "dtls"));
    match keyed {
        Some((_, suite)) if suite.starts_with('(') => " · securing the media (DTLS)…".to_owned(),
        Some((keying, suite)) => {
            format!(" · 🔒 encrypted ({} {suite})", keying.to_ascii_uppercase())
        }
        None => " · NOT encrypted".to_owned(),
    }
}

/// Which way a call's media goes when ICE chose it: straight to the peer, or through the
/// TURN relay (the agent's network lets nothing else through).
fn media_route(ice: &str) -> String {
    if ice.starts_with("relay ") {
        " · media via TURN relay".to_owned()
    } else if ice.contains(" -> ") {
        " · media direct (ICE)".to_owned()
    } else if ice.starts_with("failed") {
        " · media lost".to_owned()
    } else {
        " · connecting the media (ICE)…".to_owned()
    }
}

fn duration(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    format!("{:02}:{:02}", s / 60, s % 60)
}

fn clock(at: OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

/// The call's recording: a red REC (or a paused mark) while it is recorded, and the buttons
/// that start, pause, resume and stop it.
fn recording_controls(ui: &mut Ui, call: &CallView, out: &mut Vec<Request>) {
    let c = call.id;
    let mut act = |action| out.push(Request::Command(Command::Record { call: c, action }));
    match call.recording.as_deref() {
        Some("recording") => {
            ui.label(RichText::new("⏺ REC").color(egui::Color32::RED).strong());
            if ui.button("Pause recording").clicked() {
                act(api::RecordAction::Pause);
            }
        }
        Some("paused") => {
            ui.label(RichText::new("⏸ REC paused").strong());
            if ui.button("Resume recording").clicked() {
                act(api::RecordAction::Resume);
            }
        }
        _ => {
            if ui.button("Record").clicked() {
                act(api::RecordAction::Start);
            }
            return;
        }
    }
    if ui.button("Stop recording").clicked() {
        act(api::RecordAction::Stop);
    }
}

fn toolbar(
    ui: &mut Ui,
    state: &mut AppState,
    interaction: &Interaction,
    call: Option<&CallView>,
    out: &mut Vec<Request>,
) {
    let id = interaction.id;
    let act = |command: InteractionCommand| Request::Interaction { id, command };
    ui.horizontal_wrapped(|ui| {
        // A preview's own call (if its server's INVITE was answered) is not the customer's:
        // the toolbar offers Call until the customer is dialled.
        let previewing = interaction.state == InteractionState::Previewing;
        let live = call.filter(|c| c.state != CallState::Ended && !previewing);
        if let Some(call) = live {
            let c = call.id;
            if ui.button("Hang up").clicked() {
                out.push(Request::Command(Command::Hangup { call: c }));
            }
            if call.state == CallState::Held {
                if ui.button("Resume").clicked() {
                    out.push(Request::Command(Command::Resume { call: c }));
                }
            } else if call.state == CallState::Connected && ui.button("Hold").clicked() {
                out.push(Request::Command(Command::Hold { call: c }));
            }
            let mute = if call.muted { "Unmute" } else { "Mute" };
            if ui.button(mute).clicked() {
                out.push(Request::Command(Command::Mute {
                    call: c,
                    muted: !call.muted,
                }));
            }
            recording_controls(ui, call, out);
            for (label, action) in [
                ("Transfer", TeamAction::Transfer),
                ("Consult", TeamAction::Consult),
                ("Conference", TeamAction::Conference),
            ] {
                if ui.button(label).clicked() {
                    state.team = Some((c, action));
                    state.team_query.clear();
                    out.push(Request::Directory);
                }
            }
            ui.toggle_value(&mut state.keypad, "Keypad");
            participants(ui, state, call, interaction, out);
        } else {
            let can_call = matches!(
                interaction.state,
                InteractionState::Previewing | InteractionState::Ended
            );
            if can_call && ui.button("Call").clicked() {
                out.push(act(InteractionCommand::Call));
            }
        }
        if !matches!(
            interaction.state,
            InteractionState::Done | InteractionState::Notified
        ) {
            let label = if interaction.state == InteractionState::Previewing {
                "Schedule callback"
            } else {
                "Reschedule"
            };
            if ui.button(label).clicked() {
                state.reschedule = Some((id, RescheduleDraft::default()));
            }
            let finish = state.can_finish(interaction);
            let done = ui.add_enabled(finish.is_ok(), egui::Button::new("Mark done"));
            let done = match finish {
                Err(why) => done.on_disabled_hover_text(why),
                Ok(()) => done,
            };
            if done.clicked() {
                out.push(act(InteractionCommand::Done));
            }
            if let Err(why) = finish {
                ui.label(RichText::new(why).italics());
            }
        }
    });
}

/// The participants of the call (its peer, a consultation, a conference), each with a menu.
fn participants(
    ui: &mut Ui,
    state: &AppState,
    call: &CallView,
    interaction: &Interaction,
    out: &mut Vec<Request>,
) {
    let others: Vec<&CallView> = state
        .live_calls()
        .into_iter()
        .filter(|c| {
            c.id != call.id
                && (c.consultation_of == Some(call.id)
                    || call.consultation_of == Some(c.id)
                    || c.conference.is_some() && c.conference == call.conference)
        })
        .collect();
    ui.menu_button("Participants", |ui| {
        ui.label(format!(
            "{} ({})",
            call.remote,
            call_state_label(call.state)
        ));
        // The customer's other channels: the number to paste elsewhere, an e-mail.
        let number = interaction
            .callback
            .customer_number
            .clone()
            .unwrap_or_else(|| uri_user(&call.remote));
        if ui.button("Copy number").on_hover_text(&number).clicked() {
            ui.ctx().copy_text(number);
        }
        if let Some(email) = interaction
            .contact
            .as_ref()
            .and_then(|c| c.email.as_deref())
            && ui
                .button("E-mail the contact")
                .on_hover_text(email)
                .clicked()
        {
            ui.ctx()
                .open_url(egui::OpenUrl::new_tab(mailto(email, "", "")));
        }
        for other in others {
            ui.separator();
            ui.label(format!(
                "{} ({})",
                other.remote,
                call_state_label(other.state)
            ));
            if other.consultation_of == Some(call.id) || call.consultation_of == Some(other.id) {
                let (original, consult) = if other.consultation_of == Some(call.id) {
                    (call.id, other.id)
                } else {
                    (other.id, call.id)
                };
                if ui.button("Complete transfer").clicked() {
                    out.push(Request::Command(Command::Transfer {
                        call: original,
                        target: None,
                        replaces: Some(consult),
                    }));
                }
                if ui.button("Merge into conference").clicked() {
                    out.push(Request::Command(Command::Conference {
                        call: original,
                        target: None,
                        with: Some(consult),
                    }));
                }
            }
            if ui.button(format!("Hang up {}", other.remote)).clicked() {
                out.push(Request::Command(Command::Hangup { call: other.id }));
            }
        }
    });
}

fn keypad(ui: &mut Ui, call: CallId, out: &mut Vec<Request>) {
    ui.group(|ui| {
        ui.label("Keypad (digits go to the interaction's history)");
        egui::Grid::new("keypad").show(ui, |ui| {
            for row in ["123", "456", "789", "*0#"] {
                for key in row.chars() {
                    let button = ui.add_sized([44.0, 30.0], egui::Button::new(key.to_string()));
                    let button = button.on_hover_text(format!("Send DTMF {key}"));
                    if button.clicked() {
                        out.push(Request::Command(Command::Dtmf {
                            call,
                            digits: key.to_string(),
                        }));
                    }
                }
                ui.end_row();
            }
        });
    });
}

fn case_information(ui: &mut Ui, state: &AppState, interaction: &Interaction) {
    ui.heading("Case information");
    egui::Grid::new("case").num_columns(2).show(ui, |ui| {
        let mut any = false;
        for (key, label) in &state.settings.case_fields {
            let values = interaction.attached.get_all(key);
            if !values.is_empty() {
                any = true;
                ui.label(RichText::new(label).strong());
                ui.label(values.join(", "));
                ui.end_row();
            }
        }
        if !any {
            ui.label("No case data attached");
            ui.end_row();
        }
    });
    if !interaction.attached_data_flags.is_empty() {
        ui.colored_label(
            Color32::from_rgb(200, 120, 0),
            "Some attached data could not be read; it is kept as received.",
        );
    }
}

/// The agent's zone: the system's IANA zone when it names one, else the offset read at start.
fn agent_zone(settings: &crate::DeskSettings) -> api::Zone {
    settings
        .time_zone
        .as_deref()
        .and_then(|name| api::Zone::parse(name).ok())
        .or_else(|| api::Zone::parse(&offset_text(settings.utc_offset)).ok())
        .unwrap_or_else(api::Zone::utc)
}

fn callback_information(ui: &mut Ui, interaction: &Interaction, zone: &api::Zone) {
    let callback = &interaction.callback;
    ui.heading("Callback information");
    egui::Grid::new("callback").num_columns(2).show(ui, |ui| {
        let mut row = |label: &str, value: String| {
            ui.label(RichText::new(label).strong());
            ui.label(value);
            ui.end_row();
        };
        row(
            "Type",
            callback
                .kind
                .map_or("Not a callback".to_owned(), |k| kind_label(k).to_owned()),
        );
        if let Some(number) = &callback.customer_number {
            row("Number", number.clone());
        }
        if let Some(desired) = &callback.desired_time {
            let text = match desired {
                api::DesiredTime::At(at) => {
                    let local = zone.local(*at);
                    format!(
                        "{}-{:02}-{:02} {:02}:{:02} (UTC{})",
                        local.year(),
                        u8::from(local.month()),
                        local.day(),
                        local.hour(),
                        local.minute(),
                        offset_text(local.offset())
                    )
                }
                api::DesiredTime::Unreadable(raw) => format!("{raw} (unreadable)"),
            };
            row("Desired time", text);
        }
        if let Some(instructions) = &callback.instructions {
            row("Instructions", instructions.clone());
        }
        if let Some(reason) = &callback.reason {
            row("Reason", reason.clone());
        }
        if let Some(service) = &callback.service_name {
            row("Service", service.clone());
        }
    });
}

fn offset_text(offset: time::UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    format!(
        "{}{:02}:{:02}",
        if h < 0 || m < 0 { '-' } else { '+' },
        h.abs(),
        m.abs()
    )
}

fn contact(ui: &mut Ui, state: &mut AppState, interaction: &Interaction, out: &mut Vec<Request>) {
    ui.heading("Contact");
    let Some(contact) = &interaction.contact else {
        ui.label("No contact matches this number");
        return;
    };
    // Edits go to the directory's copy (the interaction keeps what matched when it rang).
    let stored = state.contacts.iter_mut().find(|c| c.id == contact.id);
    match stored {
        Some(stored) => {
            egui::Grid::new("contact").num_columns(2).show(ui, |ui| {
                ui.label("Name");
                ui.text_edit_singleline(&mut stored.name);
                ui.end_row();
                ui.label("Numbers");
                ui.label(stored.numbers.join(", "));
                ui.end_row();
                ui.label("E-mail");
                let mut email = stored.email.clone().unwrap_or_default();
                if ui.text_edit_singleline(&mut email).changed() {
                    stored.email = (!email.is_empty()).then_some(email);
                }
                ui.end_row();
                ui.label("Notes");
                let mut notes = stored.notes.clone().unwrap_or_default();
                if ui.text_edit_multiline(&mut notes).changed() {
                    stored.notes = (!notes.is_empty()).then_some(notes);
                }
                ui.end_row();
            });
            if ui.button("Save contact").clicked() {
                out.push(Request::SaveContact(stored.clone()));
            }
        }
        None => {
            ui.label(RichText::new(&contact.name).strong());
            ui.label(contact.numbers.join(", "));
            if let Some(email) = &contact.email {
                ui.label(email);
            }
            if let Some(notes) = &contact.notes {
                ui.label(notes);
            }
            if ui.button("Edit contact").clicked() {
                out.push(Request::Directory);
            }
        }
    }
}

fn dispositions(ui: &mut Ui, state: &AppState, interaction: &Interaction, out: &mut Vec<Request>) {
    let mandatory = if state.settings.disposition_mandatory {
        " (required)"
    } else {
        ""
    };
    ui.heading(format!("Disposition{mandatory}"));
    let open = interaction.state != InteractionState::Done;
    ui.add_enabled_ui(open, |ui| {
        for disposition in &state.settings.dispositions {
            let chosen = interaction.disposition.as_deref() == Some(disposition.code.as_str());
            if ui.radio(chosen, &disposition.label).clicked() && !chosen {
                out.push(Request::Interaction {
                    id: interaction.id,
                    command: InteractionCommand::Disposition {
                        code: disposition.code.clone(),
                    },
                });
            }
        }
    });
}

fn note(ui: &mut Ui, state: &mut AppState, interaction: &Interaction, out: &mut Vec<Request>) {
    ui.heading("Note");
    let id = interaction.id;
    let draft = state
        .notes
        .entry(id)
        .or_insert_with(|| interaction.note.clone().unwrap_or_default());
    let open = interaction.state != InteractionState::Done;
    let edit = ui.add_enabled(
        open,
        egui::TextEdit::multiline(draft)
            .hint_text("What was agreed")
            .desired_rows(4),
    );
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, open, "Note"));
    // Saved as typed: each change is one durable write.
    if edit.changed() {
        out.push(Request::Interaction {
            id,
            command: InteractionCommand::Note {
                text: draft.clone(),
            },
        });
    }
}

/// The user part of a SIP URI (`sip:+15550100@pbx` → `+15550100`), or the URI itself.
fn uri_user(uri: &str) -> String {
    let rest = uri
        .trim_start_matches('<')
        .trim_start_matches("sips:")
        .trim_start_matches("sip:")
        .trim_start_matches("tel:");
    rest.split(['@', ';', '>'])
        .next()
        .filter(|user| !user.is_empty())
        .unwrap_or(uri)
        .to_owned()
}

/// A `mailto:` URL (RFC 6068) the system's mail handler opens: subject and body
/// percent-encoded as UTF-8, empty ones left out.
#[must_use]
pub fn mailto(to: &str, subject: &str, body: &str) -> String {
    fn encode(text: &str, keep: &[u8]) -> String {
        let mut out = String::new();
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    }
    let mut url = format!("mailto:{}", encode(to.trim(), b"@+"));
    let mut sep = '?';
    for (key, value) in [("subject", subject), ("body", body)] {
        if !value.is_empty() {
            url.push(sep);
            url.push_str(key);
            url.push('=');
            url.push_str(&encode(value, b""));
            sep = '&';
        }
    }
    url
}

fn responses(ui: &mut Ui, state: &mut AppState, email: Option<&str>) {
    ui.heading("Responses");
    let search =
        ui.add(egui::TextEdit::singleline(&mut state.response_query).hint_text("Search responses"));
    search
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Search responses"));
    let found: Vec<(String, String)> = state
        .found_responses()
        .into_iter()
        .take(8)
        .map(|r| (r.title.clone(), r.body.clone()))
        .collect();
    for (title, body) in found {
        ui.horizontal(|ui| {
            if ui.small_button("Copy").on_hover_text(&body).clicked() {
                ui.ctx().copy_text(body.clone());
            }
            if let Some(email) = email
                && ui
                    .small_button("E-mail")
                    .on_hover_text(format!("{title} to {email}"))
                    .clicked()
            {
                ui.ctx()
                    .open_url(egui::OpenUrl::new_tab(mailto(email, &title, &body)));
            }
            ui.label(RichText::new(title).strong());
        });
    }
}

fn team_communicator(ctx: &egui::Context, state: &mut AppState, out: &mut Vec<Request>) {
    let Some((call, action)) = state.team else {
        return;
    };
    let title = match action {
        TeamAction::Transfer => "Transfer to",
        TeamAction::Consult => "Consult with",
        TeamAction::Conference => "Conference in",
    };
    let mut open = true;
    let mut chosen = None;
    egui::Window::new("Team Communicator")
        .open(&mut open)
        .anchor(Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label(title);
            let search = ui.add(
                egui::TextEdit::singleline(&mut state.team_query)
                    .hint_text("Name, number, queue or SIP URI"),
            );
            search.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::TextInput, true, "Search team")
            });
            for (label, uri) in state.team_matches().into_iter().take(12) {
                if ui.button(label).clicked() {
                    chosen = Some(uri);
                }
            }
        });
    if let Some(target) = chosen {
        out.push(Request::Command(match action {
            TeamAction::Transfer => Command::Transfer {
                call,
                target: Some(target),
                replaces: None,
            },
            TeamAction::Consult => Command::Consult { call, target },
            TeamAction::Conference => Command::Conference {
                call,
                target: Some(target),
                with: None,
            },
        }));
        state.team = None;
    } else if !open {
        state.team = None;
    }
}

fn reschedule_dialog(
    ctx: &egui::Context,
    state: &mut AppState,
    now: OffsetDateTime,
    out: &mut Vec<Request>,
) {
    let Some((id, draft)) = &mut state.reschedule else {
        return;
    };
    let id = *id;
    if draft.date.is_empty() {
        let tomorrow = now + time::Duration::days(1);
        draft.date = format!(
            "{}-{:02}-{:02}",
            tomorrow.year(),
            u8::from(tomorrow.month()),
            tomorrow.day()
        );
        draft.time = "10:00".to_owned();
        draft.zone = agent_zone(&state.settings).name().to_owned();
    }
    let mut close = false;
    let mut error = None;
    egui::Window::new("Schedule callback")
        .anchor(Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("reschedule").num_columns(2).show(ui, |ui| {
                for (label, field) in [
                    ("Date (YYYY-MM-DD)", &mut draft.date),
                    ("Time (HH:MM)", &mut draft.time),
                    ("Time zone (Europe/Madrid or +01:00)", &mut draft.zone),
                    ("New number (optional)", &mut draft.number),
                ] {
                    ui.label(label);
                    let edit = ui.text_edit_singleline(field);
                    edit.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::TextInput, true, label)
                    });
                    ui.end_row();
                }
            });
            ui.checkbox(
                &mut draft.personal,
                "Personal callback (to me, not the queue)",
            );
            ui.horizontal(|ui| {
                if ui.button("Schedule").clicked() {
                    match parse_reschedule(draft) {
                        Ok(request) => {
                            out.push(Request::Interaction {
                                id,
                                command: InteractionCommand::Reschedule { request },
                            });
                            close = true;
                        }
                        Err(e) => error = Some(e.to_string()),
                    }
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
    if let Some(e) = error {
        state.notice = Some(e);
    }
    if close {
        state.reschedule = None;
    }
}

/// A reschedule dialog whose date, time or zone does not read, or names a time the zone skips.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot schedule the callback: {0}")]
pub struct BadReschedule(pub String);

/// The dialog's fields as a reschedule request: the date and time are wall-clock time in the
/// chosen zone, on that date (so a callback set across a daylight saving change keeps its hour).
///
/// # Errors
/// The date, time or zone does not read, or the zone skips that time.
pub fn parse_reschedule(draft: &RescheduleDraft) -> Result<api::Reschedule, BadReschedule> {
    let zone = if draft.zone.trim().is_empty() {
        "UTC"
    } else {
        draft.zone.trim()
    };
    let number = draft.number.trim();
    api::Reschedule::local(
        &draft.date,
        &draft.time,
        zone,
        (!number.is_empty()).then(|| number.to_owned()),
        draft.personal,
    )
    .map_err(|e| BadReschedule(e.to_string()))
}

fn timeline_text(kind: &TimelineKind) -> String {
    match kind {
        TimelineKind::Notified => "notified".to_owned(),
        TimelineKind::Accepted => "accepted".to_owned(),
        TimelineKind::Rejected { status } => format!("rejected ({status})"),
        TimelineKind::Missed { reason } => format!("missed: {reason}"),
        TimelineKind::Dialing { target } => format!("dialing {target}"),
        TimelineKind::Connected => "connected".to_owned(),
        TimelineKind::Held => "held".to_owned(),
        TimelineKind::Resumed => "resumed".to_owned(),
        TimelineKind::Dtmf { digits } => format!("DTMF {digits}"),
        TimelineKind::Transferred {
            target,
            outcome,
            detail,
            late,
        } => {
            let mut text = format!("transferred to {target}");
            if let Some(outcome) = outcome {
                text.push_str(&format!(" ({}", outcome.as_str()));
                if let Some(detail) = detail {
                    text.push_str(&format!(": {detail}"));
                }
                if *late {
                    text.push_str(", after the call was released");
                }
                text.push(')');
            }
            text
        }
        TimelineKind::Conferenced => "conferenced".to_owned(),
        TimelineKind::Recording { action, file } => match (action.as_str(), file) {
            ("start", Some(file)) => format!("recording started: {file}"),
            ("pause", _) => "recording paused".to_owned(),
            ("resume", _) => "recording resumed".to_owned(),
            ("stop", _) => "recording stopped".to_owned(),
            (other, _) => format!("recording {other}"),
        },
        TimelineKind::Rescheduled { request } => {
            format!("rescheduled for {}", request.wall_text())
        }
        TimelineKind::Disposition { code } => format!("disposition {code}"),
        TimelineKind::Note => "note saved".to_owned(),
        TimelineKind::Ended => "ended".to_owned(),
        TimelineKind::Done => "done".to_owned(),
    }
}
