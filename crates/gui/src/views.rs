//! The views: each draws part of the state and returns what the agent asked for, as requests
//! for the core. Typing changes the state directly (it is the agent's own); nothing here waits.

use api::{
    AgentState, CallId, CallState, CallView, Command, Interaction, InteractionCommand,
    InteractionState, Request, TimelineKind,
};
use egui::{Align2, Color32, RichText, Ui};
use time::OffsetDateTime;

use crate::i18n::t;
use crate::icons;
use crate::state::{
    AppState, RescheduleDraft, TeamAction, call_state_key, kind_key, state_key, summary,
};

/// Draws the whole desktop for one frame; returns the agent's requests.
pub fn desktop(ui: &mut Ui, state: &mut AppState, now: OffsetDateTime) -> Vec<Request> {
    crate::i18n::set_language(state.settings.language);
    let look = (state.settings.theme, state.settings.scale);
    if state.applied_look != Some(look) {
        ui.ctx().set_visuals(look.0.visuals());
        ui.ctx().set_zoom_factor(f32::from(look.1) / 100.0);
        state.applied_look = Some(look);
    }
    let mut out = Vec::new();
    shortcuts(ui, state, &mut out);
    egui::Panel::top("status").show(ui, |ui| status_bar(ui, state, &mut out));
    egui::Panel::left("lists")
        .default_size(300.0)
        .show(ui, |ui| lists(ui, state, &mut out));
    // egui names the panel's resize handle in English for screen readers; it is ours to say.
    let handle = ui.scope_id().with("lists").with("__resize");
    ui.ctx().accesskit_node_builder(handle, |node| {
        node.set_label(t!("panel-resize"));
    });
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
            t!("agent-voice-ready")
        } else {
            t!("agent-voice-not-ready")
        };
        let web_label = if web {
            t!("agent-web-ready")
        } else {
            t!("agent-web-not-ready")
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
        if let Some(pending) = state
            .status
            .as_ref()
            .map(|s| s.store_pending)
            .filter(|n| *n > 0)
        {
            ui.colored_label(
                Color32::from_rgb(200, 120, 0),
                t!("status-store-offline", count = pending),
            );
            ui.separator();
        }
        match &state.status {
            Some(status) if status.registrations.is_empty() => {
                ui.label(t!("status-no-account"));
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
                        .map_or_else(|| "none".to_owned(), str::to_ascii_uppercase);
                    let label = ui.colored_label(
                        color,
                        t!(
                            "registration-line",
                            account = &registration.account,
                            state = registration.state.as_str(),
                            transport = transport
                        ),
                    );
                    let mut detail = Vec::new();
                    if let Some(server) = &registration.server {
                        detail.push(t!("registration-server", server = server));
                    }
                    if let Some(reason) = &registration.reason {
                        detail.push(reason.clone());
                    }
                    if !detail.is_empty() {
                        label.on_hover_text(detail.join("\n"));
                    }
                    if let Some(mail) = registration.voicemail.filter(|m| m.waiting) {
                        // The message-waiting indicator (RFC 3842).
                        let text = t!("voicemail-waiting", new = mail.new);
                        ui.label(
                            RichText::new(text)
                                .strong()
                                .color(Color32::from_rgb(200, 60, 40)),
                        )
                        .on_hover_text(t!(
                            "voicemail-detail",
                            account = &registration.account,
                            new = mail.new,
                            old = mail.old
                        ));
                    }
                }
            }
            None => {
                ui.label(t!("status-connecting"));
            }
        }
        if let Some(status) = &state.status {
            ui.separator();
            ui.label(t!(
                "status-levels",
                mic = status.audio.input_db,
                headset = status.audio.output_db
            ));
        }
        ui.separator();
        let settings = icons::button(ui, true, icons::SETTINGS, None, &t!("settings-open"));
        if settings.clicked() && state.settings_window.is_none() {
            out.push(Request::Settings);
        }
    });
    if let Some(notice) = state.notice.clone() {
        ui.horizontal(|ui| {
            ui.colored_label(Color32::from_rgb(200, 60, 40), notice);
            if ui.button(t!("notice-dismiss")).clicked() {
                state.notice = None;
            }
        });
    }
}

fn lists(ui: &mut Ui, state: &mut AppState, out: &mut Vec<Request>) {
    ui.heading(t!("dial-heading"));
    ui.horizontal(|ui| {
        let field = ui.add(
            egui::TextEdit::singleline(&mut state.dial)
                .hint_text(t!("dial-hint"))
                .desired_width(170.0),
        );
        field.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::TextInput, true, t!("dial-field"))
        });
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let dial = icons::button(ui, true, icons::CALL, Some(icons::GO), &t!("dial-button"));
        if (dial.clicked() || enter) && !state.dial.trim().is_empty() {
            out.push(Request::Command(Command::Dial {
                to: state.dial_uri(&state.dial),
                account: None,
            }));
            state.dial.clear();
        }
    });
    egui::CollapsingHeader::new(t!("dial-pad"))
        .id_salt("dial pad")
        .show(ui, |ui| {
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
    ui.heading(t!("current-heading"));
    let current: Vec<(api::InteractionId, String)> =
        state.current().iter().map(|i| (i.id, summary(i))).collect();
    if current.is_empty() {
        ui.label(t!("current-empty"));
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
        .map(|c| {
            t!(
                "call-row",
                id = c.id.to_string(),
                remote = &c.remote,
                state = call_state_key(c.state)
            )
        })
        .collect();
    for text in calls {
        ui.label(text);
    }
    ui.separator();
    ui.heading(t!("history-heading"));
    let search = ui
        .add(egui::TextEdit::singleline(&mut state.history_query).hint_text(t!("history-search")));
    search.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::TextInput, true, t!("history-search"))
    });
    let history = state.history_ids().to_vec();
    if history.is_empty() {
        ui.label(t!("history-empty"));
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

fn toasts(ctx: &egui::Context, state: &AppState, now: OffsetDateTime, out: &mut Vec<Request>) {
    for (n, interaction) in state.ringing().into_iter().enumerate() {
        let id = interaction.id;
        egui::Window::new(t!(
            "toast-title",
            kind = interaction.callback.kind.map_or("call", kind_key)
        ))
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
                ui.label(t!("toast-number", number = number));
            }
            for (key, label) in &state.settings.case_fields {
                if let Some(value) = interaction.attached.get(key) {
                    ui.label(t!(
                        "field-line",
                        label = crate::i18n::ours(&format!("case-field-{key}"), label),
                        value = value
                    ));
                }
            }
            if let Some(left) = countdown(interaction, now) {
                ui.label(t!("toast-countdown", seconds = left));
            }
            ui.horizontal(|ui| {
                if icons::button(ui, true, icons::CALL, Some(icons::GO), &t!("toast-accept"))
                    .clicked()
                {
                    out.push(Request::Interaction {
                        id,
                        command: InteractionCommand::Accept,
                    });
                }
                if icons::button(
                    ui,
                    true,
                    icons::REJECT,
                    Some(icons::STOP_RED),
                    &t!("toast-reject"),
                )
                .clicked()
                {
                    out.push(Request::Interaction {
                        id,
                        command: InteractionCommand::Reject { status: None },
                    });
                }
            });
        });
    }
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
        ui.heading(t!("idle-heading"));
        ui.label(t!("idle-hint"));
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
        case_history(&mut columns[0], state, id, out);
        callback_information(&mut columns[0], &interaction, &agent_zone(&state.settings));
        contact(&mut columns[0], state, &interaction, out);
        dispositions(&mut columns[1], state, &interaction, out);
        note(&mut columns[1], state, &interaction, out);
        let email = interaction.contact.as_ref().and_then(|c| c.email.clone());
        responses(&mut columns[1], state, email.as_deref());
    });
    ui.separator();
    ui.heading(t!("timeline-heading"));
    let zone = agent_zone(&state.settings);
    for entry in &interaction.timeline {
        ui.label(t!(
            "timeline-line",
            time = clock(zone.local(entry.at)),
            what = timeline_text(&entry.kind, &state.settings.dispositions)
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
        return t!("status-transferring", progress = progress);
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
        return t!(
            "status-transferred",
            target = target,
            outcome = outcome.as_str()
        );
    }
    match (interaction.state, call.map(|c| c.state)) {
        (InteractionState::Previewing, _) => t!("status-ready-to-call"),
        (_, Some(CallState::Ringing)) => t!("status-ringing"),
        (_, Some(CallState::Dialing)) if call.is_some_and(|c| c.early_media) => {
            t!("status-dialing-early-media")
        }
        (_, Some(CallState::Dialing)) | (InteractionState::Dialing, _) => t!("status-dialing"),
        (_, Some(CallState::Held)) => t!(
            "status-held",
            duration = since(|k| matches!(k, TimelineKind::Held)).unwrap_or_default()
        ),
        (_, Some(CallState::Connected)) => {
            let duration = since(|k| matches!(k, TimelineKind::Connected)).unwrap_or_default();
            let mut text = if call.is_some_and(|c| c.muted) {
                t!("status-connected-muted", duration = duration)
            } else {
                t!("status-connected", duration = duration)
            };
            let extra = [
                call.and_then(|c| c.encryption.as_deref()).map(protection),
                call.and_then(|c| c.ice.as_deref()).map(media_route),
            ];
            for part in extra.into_iter().flatten() {
                text.push_str(" · ");
                text.push_str(&part);
            }
            text
        }
        (InteractionState::Ended, _) => t!("status-ended"),
        (state, _) => t!("status-ended-as", state = state_key(state)),
    }
}

/// How a call's media is protected, for its status line: a lock with the keying and suite,
/// a note while DTLS is still keying it, or a plain mark that it is not encrypted.
fn protection(encryption: &str) -> String {
    let keyed = encryption
        .split_once("-srtp ")
        .filter(|(keying, _)| matches!(*keying, "sdes" | "dtls"));
    match keyed {
        Some((_, suite)) if suite.starts_with('(') => t!("media-securing"),
        Some((keying, suite)) => t!(
            "media-encrypted",
            keying = keying.to_ascii_uppercase(),
            suite = suite
        ),
        None => t!("media-not-encrypted"),
    }
}

/// Which way a call's media goes when ICE chose it: straight to the peer, or through the
/// TURN relay (the agent's network lets nothing else through).
fn media_route(ice: &str) -> String {
    if ice.starts_with("relay ") {
        t!("media-relayed")
    } else if ice.contains(" -> ") {
        t!("media-direct")
    } else if ice.starts_with("failed") {
        t!("media-lost")
    } else {
        t!("media-connecting")
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
            ui.label(
                RichText::new(t!("recording-on"))
                    .color(egui::Color32::RED)
                    .strong(),
            );
            if icons::button(ui, true, icons::HOLD, None, &t!("recording-pause")).clicked() {
                act(api::RecordAction::Pause);
            }
        }
        Some("paused") => {
            ui.label(RichText::new(t!("recording-paused")).strong());
            if icons::button(ui, true, icons::RECORD, None, &t!("recording-resume")).clicked() {
                act(api::RecordAction::Resume);
            }
        }
        _ => {
            if icons::button(
                ui,
                true,
                icons::RECORD,
                Some(icons::STOP_RED),
                &t!("recording-start"),
            )
            .clicked()
            {
                act(api::RecordAction::Start);
            }
            return;
        }
    }
    if icons::button(ui, true, icons::STOP, None, &t!("recording-stop")).clicked() {
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
            let hang_up = icons::button(
                ui,
                true,
                icons::HANG_UP,
                Some(icons::STOP_RED),
                &t!("call-hang-up"),
            );
            if hang_up.clicked() {
                out.push(Request::Command(Command::Hangup { call: c }));
            }
            if call.state == CallState::Held {
                if icons::button(ui, true, icons::RESUME, None, &t!("call-resume")).clicked() {
                    out.push(Request::Command(Command::Resume { call: c }));
                }
            } else if call.state == CallState::Connected
                && icons::button(ui, true, icons::HOLD, None, &t!("call-hold")).clicked()
            {
                out.push(Request::Command(Command::Hold { call: c }));
            }
            let mute = if call.muted {
                icons::button(ui, true, icons::UNMUTE, None, &t!("call-unmute"))
            } else {
                icons::button(ui, true, icons::MUTE, None, &t!("call-mute"))
            };
            if mute.clicked() {
                out.push(Request::Command(Command::Mute {
                    call: c,
                    muted: !call.muted,
                }));
            }
            recording_controls(ui, call, out);
            for (label, icon, action) in [
                ("call-transfer", icons::TRANSFER, TeamAction::Transfer),
                ("call-consult", icons::CONSULT, TeamAction::Consult),
                ("call-conference", icons::CONFERENCE, TeamAction::Conference),
            ] {
                if icons::button(ui, true, icon, None, &t!(label)).clicked() {
                    state.team = Some((c, action));
                    state.team_query.clear();
                    out.push(Request::Directory);
                }
            }
            icons::toggle(ui, &mut state.keypad, icons::KEYPAD, &t!("call-keypad"));
            participants(ui, state, call, interaction, out);
        } else {
            let can_call = matches!(
                interaction.state,
                InteractionState::Previewing | InteractionState::Ended
            );
            if can_call
                && icons::button(
                    ui,
                    true,
                    icons::CALL,
                    Some(icons::GO),
                    &t!("interaction-call"),
                )
                .clicked()
            {
                out.push(act(InteractionCommand::Call));
            }
        }
        if !matches!(
            interaction.state,
            InteractionState::Done | InteractionState::Notified
        ) {
            let label = if interaction.state == InteractionState::Previewing {
                t!("interaction-schedule")
            } else {
                t!("interaction-reschedule")
            };
            if icons::button(ui, true, icons::SCHEDULE, None, &label).clicked() {
                state.reschedule = Some((id, RescheduleDraft::default()));
            }
            let finish = state.can_finish(interaction).map_err(|why| t!(why));
            let done = icons::button(
                ui,
                finish.is_ok(),
                icons::DONE,
                None,
                &t!("interaction-done"),
            );
            let done = match &finish {
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
    let participants = t!("participants");
    let menu = ui.menu_button(icons::with(icons::PARTICIPANTS, &participants), |ui| {
        ui.label(t!(
            "participant-line",
            remote = &call.remote,
            state = call_state_key(call.state)
        ));
        // The customer's other channels: the number to paste elsewhere, an e-mail.
        let number = interaction
            .callback
            .customer_number
            .clone()
            .unwrap_or_else(|| uri_user(&call.remote));
        if ui
            .button(t!("participant-copy-number"))
            .on_hover_text(&number)
            .clicked()
        {
            ui.ctx().copy_text(number);
        }
        if let Some(email) = interaction
            .contact
            .as_ref()
            .and_then(|c| c.email.as_deref())
            && ui
                .button(t!("participant-email"))
                .on_hover_text(email)
                .clicked()
        {
            ui.ctx()
                .open_url(egui::OpenUrl::new_tab(mailto(email, "", "")));
        }
        for other in others {
            ui.separator();
            ui.label(t!(
                "participant-line",
                remote = &other.remote,
                state = call_state_key(other.state)
            ));
            if other.consultation_of == Some(call.id) || call.consultation_of == Some(other.id) {
                let (original, consult) = if other.consultation_of == Some(call.id) {
                    (call.id, other.id)
                } else {
                    (other.id, call.id)
                };
                if ui.button(t!("participant-complete-transfer")).clicked() {
                    out.push(Request::Command(Command::Transfer {
                        call: original,
                        target: None,
                        replaces: Some(consult),
                    }));
                }
                if ui.button(t!("participant-merge")).clicked() {
                    out.push(Request::Command(Command::Conference {
                        call: original,
                        target: None,
                        with: Some(consult),
                    }));
                }
            }
            if ui
                .button(t!("participant-hang-up", remote = &other.remote))
                .clicked()
            {
                out.push(Request::Command(Command::Hangup { call: other.id }));
            }
        }
    });
    icons::name(&menu.response, egui::Role::Button, true, &participants);
}

fn keypad(ui: &mut Ui, call: CallId, out: &mut Vec<Request>) {
    ui.group(|ui| {
        ui.label(t!("keypad-heading"));
        egui::Grid::new("keypad").show(ui, |ui| {
            for row in ["123", "456", "789", "*0#"] {
                for key in row.chars() {
                    let button = ui.add_sized([44.0, 30.0], egui::Button::new(key.to_string()));
                    let button = button.on_hover_text(t!("keypad-send", key = key.to_string()));
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
    ui.heading(t!("case-heading"));
    egui::Grid::new("case").num_columns(2).show(ui, |ui| {
        let mut any = false;
        for (key, label) in &state.settings.case_fields {
            let values = interaction.attached.get_all(key);
            if !values.is_empty() {
                any = true;
                let label = crate::i18n::ours(&format!("case-field-{key}"), label);
                ui.label(RichText::new(label).strong());
                ui.label(values.join(", "));
                ui.end_row();
            }
        }
        if !any {
            ui.label(t!("case-empty"));
            ui.end_row();
        }
    });
    if !interaction.attached_data_flags.is_empty() {
        ui.colored_label(Color32::from_rgb(200, 120, 0), t!("case-unreadable"));
    }
}

/// The customer's earlier interactions with any agent of the team (same number or case key),
/// asked of the store once when the interaction is first shown.
fn case_history(ui: &mut Ui, state: &mut AppState, id: api::InteractionId, out: &mut Vec<Request>) {
    if state.cases_asked.insert(id) {
        out.push(Request::Case(id));
    }
    ui.heading(t!("case-history-heading"));
    let Some(entries) = state.cases.get(&id) else {
        ui.label(t!("case-history-loading"));
        return;
    };
    if entries.is_empty() {
        ui.label(t!("case-history-empty"));
        return;
    }
    let zone = agent_zone(&state.settings);
    egui::Grid::new("case-history")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for entry in entries {
                let when = entry
                    .at
                    .map(|at| date_time(zone.local(at)))
                    .unwrap_or_default();
                ui.label(RichText::new(when).strong());
                let disposition = entry.disposition.as_ref().map_or_else(
                    || t!("case-history-no-disposition"),
                    |code| {
                        state
                            .settings
                            .dispositions
                            .iter()
                            .find(|d| &d.code == code)
                            .map_or_else(
                                || code.clone(),
                                |d| crate::i18n::ours(&format!("disposition-{code}"), &d.label),
                            )
                    },
                );
                ui.vertical(|ui| {
                    ui.label(t!(
                        "case-history-line",
                        agent = entry.agent.clone(),
                        disposition = disposition
                    ));
                    if let Some(note) = entry.note.as_deref().filter(|n| !n.is_empty()) {
                        ui.label(RichText::new(note).italics());
                    }
                });
                ui.end_row();
            }
        });
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
    ui.heading(t!("callback-heading"));
    egui::Grid::new("callback").num_columns(2).show(ui, |ui| {
        let mut row = |label: &str, value: String| {
            ui.label(RichText::new(t!(label)).strong());
            ui.label(value);
            ui.end_row();
        };
        row(
            "callback-type",
            t!(
                "callback-kind",
                kind = callback.kind.map_or("none", kind_key)
            ),
        );
        if let Some(number) = &callback.customer_number {
            row("callback-number", number.clone());
        }
        if let Some(desired) = &callback.desired_time {
            let text = match desired {
                api::DesiredTime::At(at) => {
                    let local = zone.local(*at);
                    date_time(local)
                }
                api::DesiredTime::Unreadable(raw) => {
                    t!("callback-desired-unreadable", raw = raw)
                }
            };
            row("callback-desired", text);
        }
        if let Some(instructions) = &callback.instructions {
            row("callback-instructions", instructions.clone());
        }
        if let Some(reason) = &callback.reason {
            row("callback-reason", reason.clone());
        }
        if let Some(service) = &callback.service_name {
            row("callback-service", service.clone());
        }
    });
}

/// A date and time as the agent's language writes it, with the offset from UTC it has.
fn date_time(local: OffsetDateTime) -> String {
    t!(
        "date-time",
        weekday = t!("weekday", day = local.weekday().number_days_from_monday()),
        day = local.day(),
        month = t!("month", month = u8::from(local.month())),
        year = local.year().to_string(),
        time = format!("{:02}:{:02}", local.hour(), local.minute()),
        offset = offset_text(local.offset())
    )
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
    ui.heading(t!("contact-heading"));
    let Some(contact) = &interaction.contact else {
        ui.label(t!("contact-none"));
        return;
    };
    let fields = state.settings.contact_fields.clone();
    // Edits go to the directory's copy (the interaction keeps what matched when it rang).
    let stored = state.contacts.iter_mut().find(|c| c.id == contact.id);
    match stored {
        Some(stored) => {
            egui::Grid::new("contact").num_columns(2).show(ui, |ui| {
                let name = t!("contact-name");
                ui.label(&name);
                named_edit(ui.text_edit_singleline(&mut stored.name), name);
                ui.end_row();
                ui.label(t!("contact-numbers"));
                ui.label(stored.numbers.join(", "));
                ui.end_row();
                optional_edit(ui, &t!("contact-email"), &mut stored.email, false);
                optional_edit(ui, &t!("contact-address"), &mut stored.address, true);
                optional_edit(ui, &t!("contact-language"), &mut stored.language, false);
                for (key, label) in &fields {
                    let mut value = stored.fields.get(key).cloned();
                    optional_edit(ui, label, &mut value, false);
                    match value {
                        Some(value) => stored.fields.insert(key.clone(), value),
                        None => stored.fields.remove(key),
                    };
                }
                optional_edit(ui, &t!("contact-notes"), &mut stored.notes, true);
            });
            if icons::button(ui, true, icons::SAVE, None, &t!("contact-save")).clicked() {
                out.push(Request::SaveContact(stored.clone()));
            }
        }
        None => {
            egui::Grid::new("contact").num_columns(2).show(ui, |ui| {
                let mut row = |label: String, value: &str| {
                    ui.label(label);
                    ui.label(value);
                    ui.end_row();
                };
                row(t!("contact-name"), &contact.name);
                row(t!("contact-numbers"), &contact.numbers.join(", "));
                let own = [
                    (t!("contact-email"), contact.email.as_deref()),
                    (t!("contact-address"), contact.address.as_deref()),
                    (t!("contact-language"), contact.language.as_deref()),
                ];
                for (label, value) in own {
                    if let Some(value) = value {
                        row(label, value);
                    }
                }
                for (key, label) in &fields {
                    if let Some(value) = contact.fields.get(key) {
                        row(label.clone(), value);
                    }
                }
                if let Some(notes) = &contact.notes {
                    row(t!("contact-notes"), notes);
                }
            });
            if ui.button(t!("contact-edit")).clicked() {
                out.push(Request::Directory);
            }
        }
    }
}

/// A grid row editing an optional text (empty is none), named by its label.
fn optional_edit(ui: &mut Ui, label: &str, value: &mut Option<String>, multiline: bool) {
    ui.label(label);
    let mut text = value.clone().unwrap_or_default();
    let (edit, role) = if multiline {
        (
            ui.add(egui::TextEdit::multiline(&mut text).desired_rows(2)),
            egui::Role::MultilineTextInput,
        )
    } else {
        (ui.text_edit_singleline(&mut text), egui::Role::TextInput)
    };
    edit.widget_info(|| egui::WidgetInfo::labeled(role, true, label));
    if edit.changed() {
        *value = (!text.is_empty()).then_some(text);
    }
    ui.end_row();
}

/// Names a resizable window's eight resize handles in the agent's language (egui names them
/// in English for screen readers).
pub(crate) fn name_resize_handles(ctx: &egui::Context, window: egui::Id) {
    let edges = egui::Id::unique(egui::LayerId::new(egui::Order::Middle, window)).with("edge_drag");
    for (salt, id) in [
        ("right", "resize-right"),
        ("left", "resize-left"),
        ("bottom", "resize-bottom"),
        ("top", "resize-top"),
        ("right_bottom", "resize-bottom-right"),
        ("right_top", "resize-top-right"),
        ("left_bottom", "resize-bottom-left"),
        ("left_top", "resize-top-left"),
    ] {
        ctx.accesskit_node_builder(edges.with(salt), |node| node.set_label(t!(id)));
    }
}

/// Names a text field for screen readers (its label beside it is not its name).
fn named_edit(edit: egui::Response, name: String) -> egui::Response {
    edit.widget_info(|| egui::WidgetInfo::labeled(egui::Role::TextInput, true, &name));
    edit
}

fn dispositions(ui: &mut Ui, state: &AppState, interaction: &Interaction, out: &mut Vec<Request>) {
    ui.heading(if state.settings.disposition_mandatory {
        t!("disposition-heading-required")
    } else {
        t!("disposition-heading")
    });
    let open = interaction.state != InteractionState::Done;
    ui.add_enabled_ui(open, |ui| {
        for disposition in &state.settings.dispositions {
            let chosen = interaction.disposition.as_deref() == Some(disposition.code.as_str());
            let label = crate::i18n::ours(
                &format!("disposition-{}", disposition.code),
                &disposition.label,
            );
            if ui.radio(chosen, label).clicked() && !chosen {
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
    ui.heading(t!("note-heading"));
    let id = interaction.id;
    let draft = state
        .notes
        .entry(id)
        .or_insert_with(|| interaction.note.clone().unwrap_or_default());
    let open = interaction.state != InteractionState::Done;
    let edit = ui.add_enabled(
        open,
        egui::TextEdit::multiline(draft)
            .hint_text(t!("note-hint"))
            .desired_rows(4),
    );
    edit.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::MultilineTextInput, open, t!("note-heading"))
    });
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
    ui.heading(t!("responses-heading"));
    let search = ui.add(
        egui::TextEdit::singleline(&mut state.response_query).hint_text(t!("responses-search")),
    );
    search.widget_info(|| {
        egui::WidgetInfo::labeled(egui::Role::TextInput, true, t!("responses-search"))
    });
    let found: Vec<(String, String)> = state
        .found_responses()
        .into_iter()
        .take(8)
        .map(|r| (r.title.clone(), r.body.clone()))
        .collect();
    for (title, body) in found {
        ui.horizontal(|ui| {
            let copy = t!("response-copy");
            let copy = ui.small_button(icons::with(icons::COPY, &copy));
            icons::name(&copy, egui::Role::Button, true, &t!("response-copy"));
            if copy.on_hover_text(&body).clicked() {
                ui.ctx().copy_text(body.clone());
            }
            let mail = email.map(|email| {
                let words = t!("response-email");
                let button = ui.small_button(icons::with(icons::MAIL, &words));
                icons::name(&button, egui::Role::Button, true, &words);
                (email, button)
            });
            if let Some((email, button)) = mail
                && button
                    .on_hover_text(t!("response-email-to", title = &title, email = email))
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
        TeamAction::Transfer => t!("team-transfer"),
        TeamAction::Consult => t!("team-consult"),
        TeamAction::Conference => t!("team-conference"),
    };
    let mut open = true;
    let mut chosen = None;
    // Closed by its own button (egui's close cross names itself in English).
    egui::Window::new(t!("team-title"))
        .id(egui::Id::unique("team communicator"))
        .resizable(false)
        .anchor(Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .show(ctx, |ui| {
            ui.label(title);
            let search = ui
                .add(egui::TextEdit::singleline(&mut state.team_query).hint_text(t!("team-hint")));
            search.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::TextInput, true, t!("team-search"))
            });
            for (label, uri) in state.team_matches().into_iter().take(12) {
                if ui.button(label).clicked() {
                    chosen = Some(uri);
                }
            }
            ui.separator();
            if ui.button(t!("team-cancel")).clicked() {
                open = false;
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
    egui::Window::new(t!("reschedule-title"))
        .id(egui::Id::unique("reschedule"))
        .resizable(false)
        .anchor(Align2::CENTER_CENTER, [0.0, 0.0])
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("reschedule").num_columns(2).show(ui, |ui| {
                for (label, field) in [
                    (t!("reschedule-date"), &mut draft.date),
                    (t!("reschedule-time"), &mut draft.time),
                    (t!("reschedule-zone"), &mut draft.zone),
                    (t!("reschedule-number"), &mut draft.number),
                ] {
                    ui.label(&label);
                    let edit = ui.text_edit_singleline(field);
                    edit.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::TextInput, true, &label)
                    });
                    ui.end_row();
                }
            });
            ui.checkbox(&mut draft.personal, t!("reschedule-personal"));
            ui.horizontal(|ui| {
                if ui.button(t!("reschedule-confirm")).clicked() {
                    match parse_reschedule(draft) {
                        Ok(request) => {
                            out.push(Request::Interaction {
                                id,
                                command: InteractionCommand::Reschedule { request },
                            });
                            close = true;
                        }
                        Err(e) => error = Some(t!("reschedule-refused", reason = e.0)),
                    }
                }
                if ui.button(t!("reschedule-cancel")).clicked() {
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
    .map_err(|e| {
        BadReschedule(match e {
            api::ZoneError::Unknown(zone) => t!("zone-unknown", zone = format!("{zone:?}")),
            api::ZoneError::Unreadable(typed) => {
                t!("zone-unreadable", typed = format!("{typed:?}"))
            }
            api::ZoneError::Skipped {
                time,
                zone,
                suggestion,
            } => t!(
                "zone-skipped",
                time = time,
                zone = zone,
                suggestion = suggestion
            ),
        })
    })
}

fn timeline_text(kind: &TimelineKind, dispositions: &[api::Disposition]) -> String {
    match kind {
        TimelineKind::Notified => t!("timeline-notified"),
        TimelineKind::Accepted => t!("timeline-accepted"),
        TimelineKind::Rejected { status } => t!("timeline-rejected", status = *status),
        TimelineKind::Missed { reason } => t!("timeline-missed", reason = reason),
        TimelineKind::Dialing { target } => t!("timeline-dialing", target = target),
        TimelineKind::Connected => t!("timeline-connected"),
        TimelineKind::Held => t!("timeline-held"),
        TimelineKind::Resumed => t!("timeline-resumed"),
        TimelineKind::Dtmf { digits } => t!("timeline-dtmf", digits = digits),
        TimelineKind::Transferred {
            target,
            outcome,
            detail,
            late,
        } => match outcome {
            None => t!("timeline-transferred", target = target),
            Some(outcome) => {
                let mut how = t!("transfer-outcome", outcome = outcome.as_str());
                if let Some(detail) = detail {
                    how = t!("transfer-outcome-detail", outcome = how, detail = detail);
                }
                if *late {
                    how = t!("transfer-outcome-late", outcome = how);
                }
                t!("timeline-transferred-how", target = target, how = how)
            }
        },
        TimelineKind::Conferenced => t!("timeline-conferenced"),
        TimelineKind::Recording { action, file } => match (action.as_str(), file) {
            ("start", Some(file)) => t!("timeline-recording-started", file = file),
            (action, _) => t!("timeline-recording", action = action),
        },
        TimelineKind::Rescheduled { request } => {
            t!("timeline-rescheduled", when = request.wall_text())
        }
        TimelineKind::Disposition { code } => {
            let label = dispositions.iter().find(|d| &d.code == code).map_or_else(
                || code.clone(),
                |d| crate::i18n::ours(&format!("disposition-{code}"), &d.label),
            );
            t!("timeline-disposition", disposition = label)
        }
        TimelineKind::Note => t!("timeline-note"),
        TimelineKind::Ended => t!("timeline-ended"),
        TimelineKind::Done => t!("timeline-done"),
    }
}
