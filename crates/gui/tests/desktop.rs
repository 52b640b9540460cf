//! The desktop in a headless egui harness: found by accessibility role and label, clicked and
//! typed into; what it asks the core for is checked as requests. And the reducer without egui.

use api::{
    AgentState, AgentStatus, CallId, Command, Delivery, Event, Interaction, InteractionCommand,
    InteractionId, InteractionState, Reply, Request, TimelineEntry, TimelineKind, TransferOutcome,
};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gui::{AppState, DeskSettings, Target};
use time::OffsetDateTime;

#[path = "desktop/look.rs"]
mod look;
#[path = "desktop/spanish.rs"]
mod spanish;

/// The harness's state: the desktop's, plus what it asked for.
struct Desk {
    state: AppState,
    asked: Vec<Request>,
    /// The case-history lookups, kept apart: every view of an interaction asks once.
    cases: Vec<Request>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_796_000_000).expect("time")
}

fn harness(state: AppState) -> Harness<'static, Desk> {
    sized(state, [1280.0, 800.0])
}

/// The desktop in a window of `size` points.
fn sized(state: AppState, size: [f32; 2]) -> Harness<'static, Desk> {
    Harness::builder().with_size(size).build_ui_state(
        |ui, desk: &mut Desk| {
            let asked = gui::desktop(ui, &mut desk.state, now());
            let (cases, asked): (Vec<_>, Vec<_>) = asked
                .into_iter()
                .partition(|r| matches!(r, Request::Case(_)));
            desk.asked.extend(asked);
            desk.cases.extend(cases);
        },
        Desk {
            state,
            asked: Vec::new(),
            cases: Vec::new(),
        },
    )
}

/// An interaction as the core sends it: `state`, a callback of `kind`, on call `call`.
fn interaction(id: u64, state: &str, kind: &str, call: Option<u64>) -> Interaction {
    let mut data = interaction::AttachedData::default();
    for (key, value) in [
        ("_callback_type", kind),
        ("_customer_number", "+1 555 0100"),
        ("_desired_time", "2026-11-25T15:30:00Z"),
        ("CaseID", "4711"),
        ("Language", "es"),
        ("Language", "en"),
    ] {
        data.push(key, value.to_owned());
    }
    let callback = interaction::CallbackInfo::from_attached(&data, &interaction::KeyMap::default());
    let mut made = Interaction::notified(
        InteractionId(id),
        OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("time"),
        callback,
        data,
    );
    made.state = serde_json::from_value(serde_json::json!(state)).expect("a state");
    made.call_id = call.map(|c| format!("c-{c}"));
    made.remote = Some("sip:gms@pbx.example".to_owned());
    made.contact = Some(api::Contact {
        id: 1,
        name: "Ana Ruiz".to_owned(),
        numbers: vec!["+1 555 0100".to_owned()],
        email: None,
        notes: None,
        ..api::Contact::default()
    });
    made
}

fn call(id: u64, state: &str, interaction: Option<u64>) -> api::CallView {
    api::CallView {
        id: CallId(id),
        state: serde_json::from_value(serde_json::json!(state)).expect("a call state"),
        direction: api::CallDirection::Inbound,
        remote: "sip:customer@127.0.0.1".to_owned(),
        interaction_id: interaction.map(InteractionId),
        codec: Some("PCMU".to_owned()),
        muted: false,
        stats: api::CallStats::default(),
        sip_call_id: "x".to_owned(),
        end_reason: None,
        dtmf_received: String::new(),
        transfer: None,
        conference: None,
        consultation_of: None,
        early_media: false,
        encryption: None,
        ice: None,
        recording: None,
        recording_file: None,
    }
}

/// The core's word that `interaction` changed.
fn update(state: &mut AppState, interaction: Interaction) {
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction),
    }));
}

/// The request for `command` on interaction `i-{id}`.
fn act(id: u64, command: InteractionCommand) -> Request {
    Request::Interaction {
        id: InteractionId(id),
        command,
    }
}

fn state_with(interactions: Vec<Interaction>, calls: Vec<api::CallView>) -> AppState {
    let settings = DeskSettings {
        disposition_mandatory: true,
        targets: vec![Target {
            name: "Billing queue".to_owned(),
            kind: "queue".to_owned(),
            uri: "sip:billing@pbx.example".to_owned(),
        }],
        ..DeskSettings::default()
    };
    let mut state = AppState::new(settings);
    for call in calls {
        state.apply(Delivery::Event(Event::Call { call }));
    }
    for interaction in interactions {
        update(&mut state, interaction);
    }
    state
}

#[test]
fn a_callback_is_accepted_from_the_toast() {
    let mut h = harness(state_with(
        vec![interaction(1, "notified", "scheduled", Some(1))],
        vec![call(1, "ringing", Some(1))],
    ));
    h.run();
    // The toast shows who and what.
    h.get_by_label_contains("Incoming scheduled callback");
    h.get_by_label("Ana Ruiz");
    h.get_by_label("Customer number: +1 555 0100");
    h.get_by_label("Case: 4711");
    h.get_by_role_and_label(Role::Button, "Accept").click();
    h.run();
    assert_eq!(h.state().asked, vec![act(1, InteractionCommand::Accept)]);
}

#[test]
fn a_preview_is_called_done_or_scheduled() {
    let mut h = harness(state_with(
        vec![interaction(2, "previewing", "preview", None)],
        vec![],
    ));
    h.run();
    // Accepting a preview selects it: the work area offers Call, Schedule callback, Done.
    h.get_by_label("Ready to call");
    h.get_by_role_and_label(Role::Button, "Call").click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(2, InteractionCommand::Call))
    );

    h.get_by_role_and_label(Role::Button, "Schedule callback")
        .click();
    h.run();
    // The dialog's fields are there; what the agent types lands in the draft.
    h.get_by_role_and_label(Role::TextInput, "Date (YYYY-MM-DD)");
    h.get_by_role_and_label(Role::TextInput, "Time zone (Europe/Madrid or +01:00)");
    {
        let desk = h.state_mut();
        let (_, draft) = desk.state.reschedule.as_mut().expect("the dialog is open");
        draft.date = "2026-12-24".to_owned();
        draft.time = "09:30".to_owned();
        draft.zone = "+01:00".to_owned();
    }
    h.run();
    h.get_by_role_and_label(Role::Button, "Schedule").click();
    h.run();
    let Some(Request::Interaction {
        id,
        command: InteractionCommand::Reschedule { request },
    }) = h.state().asked.last().cloned()
    else {
        panic!("no reschedule: {:?}", h.state().asked);
    };
    assert_eq!(id, InteractionId(2));
    assert_eq!(request.at.unix_timestamp(), 1_798_101_000);
    assert_eq!(request.time_zone.as_deref(), Some("+01:00"));
    assert!(h.state().state.reschedule.is_none(), "the dialog closed");

    // Done without calling, once a disposition is chosen.
    let mut chosen = interaction(2, "previewing", "preview", None);
    chosen.disposition = Some("no_answer".to_owned());
    update(&mut h.state_mut().state, chosen);
    h.run();
    h.get_by_role_and_label(Role::Button, "Mark done").click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(2, InteractionCommand::Done))
    );
}

#[test]
fn the_keypad_sends_digits_on_the_call() {
    let mut h = harness(state_with(
        vec![interaction(3, "connected", "immediate", Some(4))],
        vec![call(4, "connected", Some(3))],
    ));
    h.state_mut().state.selected = Some(InteractionId(3));
    h.run();
    h.get_by_role_and_label(Role::Button, "Keypad").click();
    h.run();
    for key in ["1", "2", "#"] {
        h.get_by_role_and_label(Role::Button, key).click();
        h.run();
    }
    let digits: Vec<&str> = h
        .state()
        .asked
        .iter()
        .filter_map(|r| match r {
            Request::Command(Command::Dtmf { call, digits }) if *call == CallId(4) => {
                Some(digits.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(digits, ["1", "2", "#"]);
}

#[test]
fn the_call_line_records_pauses_resumes_and_shows_it() {
    let recorded = |state: Option<&str>| {
        let mut connected = call(4, "connected", Some(3));
        connected.recording = state.map(str::to_owned);
        let mut h = harness(state_with(
            vec![interaction(3, "connected", "immediate", Some(4))],
            vec![connected],
        ));
        h.state_mut().state.selected = Some(InteractionId(3));
        h.run();
        h
    };
    let asked = |h: &Harness<'static, Desk>| match h.state().asked.last() {
        Some(Request::Command(Command::Record { call, action })) if *call == CallId(4) => {
            Some(*action)
        }
        _ => None,
    };
    for (state, mark, button, action) in [
        (None, None, "Record", api::RecordAction::Start),
        (
            Some("recording"),
            Some("⏺ REC"),
            "Pause recording",
            api::RecordAction::Pause,
        ),
        (
            Some("paused"),
            Some("⏸ REC paused"),
            "Resume recording",
            api::RecordAction::Resume,
        ),
        (
            Some("recording"),
            Some("⏺ REC"),
            "Stop recording",
            api::RecordAction::Stop,
        ),
    ] {
        let mut h = recorded(state);
        if let Some(mark) = mark {
            h.get_by_label(mark);
        } else {
            assert!(
                h.query_by_label_contains("REC").is_none(),
                "no mark unrecorded"
            );
        }
        h.get_by_role_and_label(Role::Button, button).click();
        h.run();
        assert_eq!(asked(&h), Some(action), "{button}");
    }
}

#[test]
fn a_call_line_says_whether_its_media_is_encrypted() {
    for (encryption, shown) in [
        (
            "sdes-srtp AES_CM_128_HMAC_SHA1_80",
            "· 🔒 encrypted (SDES AES_CM_128_HMAC_SHA1_80)",
        ),
        (
            "dtls-srtp AEAD_AES_128_GCM",
            "· 🔒 encrypted (DTLS AEAD_AES_128_GCM)",
        ),
        ("dtls-srtp (handshaking)", "securing the media (DTLS)"),
        ("none", "NOT encrypted"),
        ("none (DTLS failed)", "NOT encrypted"),
    ] {
        let mut connected = call(4, "connected", Some(3));
        connected.encryption = Some(encryption.to_owned());
        let mut h = harness(state_with(
            vec![interaction(3, "connected", "immediate", Some(4))],
            vec![connected],
        ));
        h.state_mut().state.selected = Some(InteractionId(3));
        h.run();
        h.get_by_label_contains(shown);
    }
}

#[test]
fn a_call_line_says_which_way_ice_sent_the_media() {
    for (ice, shown) in [
        (
            "relay 203.0.113.100:49308 -> srflx 203.0.113.2:44620",
            "· media via TURN relay",
        ),
        (
            "host 192.0.2.10:4000 -> host 203.0.113.20:5000",
            "· media direct (ICE)",
        ),
        ("checking", "connecting the media (ICE)"),
    ] {
        let mut connected = call(4, "connected", Some(3));
        connected.ice = Some(ice.to_owned());
        let mut h = harness(state_with(
            vec![interaction(3, "connected", "immediate", Some(4))],
            vec![connected],
        ));
        h.state_mut().state.selected = Some(InteractionId(3));
        h.run();
        h.get_by_label_contains(shown);
    }
}

#[test]
fn done_waits_for_a_disposition_when_one_is_mandatory() {
    let mut h = harness(state_with(
        vec![interaction(5, "ended", "delayed", Some(6))],
        vec![],
    ));
    h.state_mut().state.selected = Some(InteractionId(5));
    h.run();
    h.get_by_label("Choose a disposition first");
    h.get_by_role_and_label(Role::Button, "Mark done").click();
    h.run();
    assert!(h.state().asked.is_empty(), "{:?}", h.state().asked);
    h.get_by_label("Resolved").click();
    h.run();
    assert_eq!(
        h.state().asked,
        vec![Request::Interaction {
            id: InteractionId(5),
            command: InteractionCommand::Disposition {
                code: "resolved".to_owned()
            }
        }]
    );
    // The core confirms; Done opens up.
    let mut chosen = interaction(5, "ended", "delayed", Some(6));
    chosen.disposition = Some("resolved".to_owned());
    update(&mut h.state_mut().state, chosen);
    h.run();
    assert!(h.query_by_label("Choose a disposition first").is_none());
    h.get_by_role_and_label(Role::Button, "Mark done").click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(5, InteractionCommand::Done))
    );
}

#[test]
fn a_transfer_target_is_found_through_team_communicator_search() {
    let mut h = harness(state_with(
        vec![interaction(7, "connected", "web", Some(8))],
        vec![call(8, "connected", Some(7))],
    ));
    transfer_call_8_to_billing(&mut h, "bill");
    assert!(
        h.state().state.team.is_none(),
        "the Team Communicator closed"
    );
}

/// With interaction 7 on call 8 open, the agent transfers the call to the billing queue found
/// by typing `search` into the Team Communicator; checks the request that makes.
fn transfer_call_8_to_billing(h: &mut Harness<'static, Desk>, search: &str) {
    h.state_mut().state.selected = Some(InteractionId(7));
    h.run();
    h.get_by_role_and_label(Role::Button, "Transfer").click();
    h.run();
    assert_eq!(h.state().asked.last(), Some(&Request::Directory));
    h.get_by_role_and_label(Role::TextInput, "Search team")
        .focus();
    h.get_by_role_and_label(Role::TextInput, "Search team")
        .type_text(search);
    h.run();
    h.get_by_role_and_label(Role::Button, "Billing queue (queue)")
        .click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&Request::Command(Command::Transfer {
            call: CallId(8),
            target: Some("sip:billing@pbx.example".to_owned()),
            replaces: None
        }))
    );
}

#[test]
fn an_instant_transfer_to_a_queue_moves_the_view_on_to_the_disposition() {
    let mut h = harness(state_with(
        vec![interaction(7, "connected", "immediate", Some(8))],
        vec![call(8, "connected", Some(7))],
    ));
    transfer_call_8_to_billing(&mut h, "billing");
    // The core holds the customer and the PBX accepts the REFER.
    let mut held = call(8, "held", Some(7));
    held.transfer = Some("accepted".to_owned());
    h.state_mut()
        .state
        .apply(Delivery::Event(Event::Call { call: held }));
    h.run();
    h.get_by_label("Transferring (accepted); the customer is on hold");
    // The grace passes with only "100 Trying" (a queue): the agent's leg is released.
    let mut released = call(8, "ended", Some(7));
    released.transfer = Some("unconfirmed".to_owned());
    h.state_mut()
        .state
        .apply(Delivery::Event(Event::Call { call: released }));
    let mut ended = interaction(7, "ended", "immediate", Some(8));
    ended.timeline.push(TimelineEntry {
        at: now(),
        kind: TimelineKind::Transferred {
            target: "sip:billing@pbx.example".to_owned(),
            outcome: Some(TransferOutcome::Unconfirmed),
            detail: None,
            late: false,
        },
    });
    update(&mut h.state_mut().state, ended);
    h.run();
    h.get_by_label("Transferred to sip:billing@pbx.example (unconfirmed)");
    assert!(
        h.query_by_label("Hang up").is_none(),
        "no call actions left"
    );
    h.get_by_label("Choose a disposition first");
    let before = h.state().asked.len();
    h.get_by_label("Escalated").click();
    h.run();
    assert_eq!(h.state().asked.len(), before + 1);
    assert_eq!(
        h.state().asked.last(),
        Some(&act(
            7,
            InteractionCommand::Disposition {
                code: "escalated".to_owned()
            }
        ))
    );
}

#[test]
fn not_ready_is_toggled_from_the_status_bar() {
    let mut h = harness(state_with(vec![], vec![]));
    h.run();
    h.get_by_label("Voice: Ready").click();
    h.run();
    assert_eq!(
        h.state().asked,
        vec![Request::Agent {
            voice: Some(AgentState::NotReady),
            web_callback: Some(AgentState::Ready)
        }]
    );
    // The core confirms: the toggle reads Not Ready and turns back to Ready.
    h.state_mut().state.apply(Delivery::Event(Event::Agent {
        agent: AgentStatus {
            voice: AgentState::NotReady,
            web_callback: AgentState::Ready,
        },
    }));
    h.run();
    h.get_by_label("Voice: Not Ready").click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&Request::Agent {
            voice: Some(AgentStatus::default().voice),
            web_callback: Some(AgentStatus::default().web_callback)
        })
    );
}

#[test]
fn the_note_is_saved_as_it_is_typed() {
    let mut h = harness(state_with(
        vec![interaction(9, "connected", "immediate", Some(10))],
        vec![call(10, "connected", Some(9))],
    ));
    h.state_mut().state.selected = Some(InteractionId(9));
    h.run();
    h.get_by_role_and_label(Role::MultilineTextInput, "Note")
        .focus();
    h.get_by_role_and_label(Role::MultilineTextInput, "Note")
        .type_text("ok");
    h.run();
    let notes: Vec<&str> = h
        .state()
        .asked
        .iter()
        .filter_map(|r| match r {
            Request::Interaction {
                command: InteractionCommand::Note { text },
                ..
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.last(), Some(&"ok"), "{notes:?}");
}

// The reducer, without egui.

#[test]
fn the_reducer_follows_snapshot_interactions_and_refusals() {
    let mut state = AppState::new(DeskSettings::default());
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction(1, "notified", "immediate", Some(1))),
    }));
    assert_eq!(state.ringing().len(), 1);
    assert!(
        state.selected.is_none(),
        "a ringing callback does not take the work area"
    );

    // Accepted and connected: it is in hand and selected.
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction(1, "connected", "immediate", Some(1))),
    }));
    assert!(state.ringing().is_empty());
    assert_eq!(state.current().len(), 1);
    assert_eq!(state.selected, Some(InteractionId(1)));

    // A second one connecting does not steal the work area from the first.
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction(2, "connected", "immediate", Some(2))),
    }));
    assert_eq!(state.selected, Some(InteractionId(1)));

    // Done: it moves to the history, newest first, searchable.
    for id in [1, 2] {
        let mut done = interaction(id, "done", "immediate", None);
        done.state = InteractionState::Done;
        update(&mut state, done);
    }
    assert!(state.current().is_empty());
    let history: Vec<u64> = state.history().iter().map(|i| i.id.0).collect();
    assert_eq!(history, [2, 1]);
    state.history_query = "i-1 ".trim().to_owned();
    assert_eq!(state.history().len(), 1);

    // A refusal is shown; a snapshot replaces everything and drops a vanished selection.
    state.apply(Delivery::Refused {
        request: api::RequestKind::Interaction,
        what: "mark done i-1".to_owned(),
        refusal: api::Refusal::new(
            api::RefusalKind::Invalid,
            "a disposition is required".to_owned(),
        ),
    });
    assert_eq!(
        state.notice.as_deref(),
        Some("Could not mark done i-1: a disposition is required")
    );
    let status: api::StatusView = serde_json::from_value(serde_json::json!({
        "version": "0", "listen": [], "active_calls": 0,
        "agent": { "voice": "not_ready", "web_callback": "ready" },
        "registrations": [], "sip": { "malformed_dropped": 0, "bad_requests": 0, "retransmissions": 0 }
    }))
    .expect("status");
    state.apply(Delivery::Event(Event::Snapshot {
        status,
        calls: vec![],
        interactions: vec![],
    }));
    assert!(state.interactions.is_empty());
    assert!(state.selected.is_none());
    assert!(!state.ready());
}

#[test]
fn team_search_covers_targets_contacts_recent_calls_and_typed_numbers() {
    let mut state = state_with(vec![], vec![call(1, "ended", None)]);
    state.apply(Delivery::Reply(Reply::Directory {
        contacts: vec![api::Contact {
            id: 1,
            name: "Lena Fischer".to_owned(),
            numbers: vec!["+1 555 0103".to_owned()],
            email: None,
            notes: None,
            ..api::Contact::default()
        }],
        responses: vec![],
    }));
    state.team_query = "lena".to_owned();
    let found = state.team_matches();
    assert_eq!(found[0].0, "Lena Fischer +1 555 0103");
    assert_eq!(found[0].1, "sip:+15550103@127.0.0.1");
    state.team_query = "customer".to_owned();
    assert!(
        state
            .team_matches()
            .iter()
            .any(|(l, _)| l.starts_with("Recent: "))
    );
    state.team_query = "sip:x@y".to_owned();
    assert_eq!(
        state.team_matches().last().map(|m| m.1.as_str()),
        Some("sip:x@y")
    );
}

#[test]
fn a_reschedule_in_a_named_zone_keeps_its_hour_across_the_clock_change() {
    // Chosen in winter (+01:00) for a date after the clocks go forward (+02:00).
    let draft = gui::RescheduleDraft {
        date: "2027-03-29".to_owned(),
        time: "10:00".to_owned(),
        zone: "Europe/Madrid".to_owned(),
        ..gui::RescheduleDraft::default()
    };
    let request = gui::parse_reschedule(&draft).expect("reschedule");
    assert_eq!(request.at, time::macros::datetime!(2027-03-29 08:00 UTC));
    assert_eq!(request.time_zone.as_deref(), Some("Europe/Madrid"));
    let skipped = gui::RescheduleDraft {
        date: "2027-03-28".to_owned(),
        time: "02:30".to_owned(),
        ..draft.clone()
    };
    let error = gui::parse_reschedule(&skipped)
        .expect_err("skipped")
        .to_string();
    assert!(error.contains("does not exist in Europe/Madrid"), "{error}");
    let unknown = gui::RescheduleDraft {
        zone: "Madrid".to_owned(),
        ..draft
    };
    let error = gui::parse_reschedule(&unknown)
        .expect_err("unknown")
        .to_string();
    assert!(error.contains("unknown time zone \"Madrid\""), "{error}");
}

#[test]
fn a_reschedule_dialog_with_a_bad_date_explains_itself() {
    let draft = gui::RescheduleDraft {
        date: "24/12/2026".to_owned(),
        time: "9:30".to_owned(),
        ..gui::RescheduleDraft::default()
    };
    let error = gui::parse_reschedule(&draft)
        .expect_err("bad date")
        .to_string();
    assert!(error.contains("2026-12-24"), "{error}");
}

#[test]
fn a_note_saved_elsewhere_reaches_an_untouched_draft_but_not_a_changed_one() {
    let mut state = state_with(
        vec![interaction(1, "connected", "immediate", Some(1))],
        vec![],
    );
    state.notes.insert(InteractionId(1), String::new());
    let mut saved = interaction(1, "connected", "immediate", Some(1));
    saved.note = Some("from the API".to_owned());
    state.apply(Delivery::Event(Event::Interaction {
        interaction: Box::new(saved.clone()),
    }));
    assert_eq!(state.notes[&InteractionId(1)], "from the API");
    state.notes.insert(InteractionId(1), "typing…".to_owned());
    saved.note = Some("again".to_owned());
    update(&mut state, saved);
    assert_eq!(state.notes[&InteractionId(1)], "typing…");
}

#[test]
fn a_preview_whose_server_call_is_up_still_offers_call() {
    let mut h = harness(state_with(
        vec![interaction(2, "previewing", "preview", Some(3))],
        vec![call(3, "connected", Some(2))],
    ));
    h.run();
    assert!(h.query_by_label("Hang up").is_none());
    h.get_by_role_and_label(Role::Button, "Call").click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(2, InteractionCommand::Call))
    );
}

/// The settings as the core sends them: one account, PCMU then Opus.
fn saved_settings() -> Delivery {
    Delivery::Reply(Reply::Settings {
        settings: api::Settings {
            accounts: vec![api::Account {
                name: "work".to_owned(),
                aor: "sip:1001@127.0.0.1".to_owned(),
                expires: 600,
                register: true,
                dtmf: "auto".to_owned(),
                ..api::Account::default()
            }],
            codecs: vec!["pcmu".to_owned(), "opus".to_owned()],
            opus_bitrate: 24_000,
            reject_status: 486,
            not_ready_status: 486,
            disposition_mandatory: true,
            keepalive_s: 30,
            ..api::Settings::default()
        },
        inputs: vec!["alsa:headset-mic".to_owned()],
        outputs: vec!["alsa:headset".to_owned()],
        devices_note: None,
        headsets: vec!["/dev/hidraw3".to_owned()],
        file: Some("/home/agent/.config/recall/config.toml".to_owned()),
    })
}

fn saved_request(asked: &[Request]) -> Option<api::Settings> {
    asked.iter().rev().find_map(|r| match r {
        Request::SaveSettings(s) => Some(s.clone()),
        _ => None,
    })
}

#[test]
fn settings_open_from_the_status_bar_and_save_what_was_typed() {
    let mut h = harness(state_with(vec![], vec![]));
    h.run();
    h.get_by_role_and_label(Role::Button, "Settings").click();
    h.run();
    assert_eq!(h.state().asked, vec![Request::Settings]);
    h.state_mut().state.apply(saved_settings());
    h.run();
    // The account's form: a password typed, a second account added and named.
    let password = h.get_by_role_and_label(Role::TextInput, "Password");
    password.focus();
    password.type_text("s3cret");
    h.run();
    h.get_by_role_and_label(Role::Button, "Add account").click();
    h.run();
    h.get_by_role_and_label(Role::TextInput, "Address (AOR)")
        .focus();
    h.get_by_role_and_label(Role::TextInput, "Address (AOR)")
        .type_text("sip:2002@127.0.0.1");
    h.run();
    // Callbacks: Done no longer needs a disposition.
    h.get_by_label("Callbacks").click();
    h.run();
    h.get_by_label("Done needs a disposition").click();
    h.run();
    // Audio: noise suppression and gain control switched on, echo cancellation stays off.
    h.get_by_label("Audio").click();
    h.run();
    h.get_by_label("Noise suppression (the room behind you)")
        .click();
    h.get_by_label("Automatic gain control (a steady voice level)")
        .click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    let saved = saved_request(&h.state().asked).expect("Save sent the settings");
    assert_eq!(saved.accounts.len(), 2);
    assert_eq!(saved.accounts[0].password, "s3cret");
    assert_eq!(saved.accounts[1].name, "new");
    assert_eq!(saved.accounts[1].aor, "sip:2002@127.0.0.1");
    assert!(!saved.disposition_mandatory);
    assert!(saved.noise_suppression && saved.auto_gain && !saved.echo_cancellation);
    assert_eq!(saved.codecs, ["pcmu", "opus"], "pcma stays off");
    // The core saved them: the window says where, and Done is no longer gated.
    h.get_by_label("Saving…");
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::SettingsSaved {
            on_restart: vec!["the sound devices".to_owned()],
        }));
    h.run();
    h.get_by_label_contains(
        "Saved to /home/agent/.config/recall/config.toml; in use now, except the sound devices",
    );
    assert!(!h.state().state.settings.disposition_mandatory);
}

#[test]
fn settings_that_do_not_read_are_named_and_not_sent() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_label("Codecs").click();
    h.run();
    let bitrate = h.get_by_role_and_label(Role::TextInput, "Opus bitrate (bit/s)");
    bitrate.focus();
    bitrate.type_text("k");
    h.run();
    h.get_by_label_contains("Opus bitrate \"24000k\" is not a number of bits per second");
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    assert_eq!(saved_request(&h.state().asked), None, "nothing is sent");
    // The core's own check: its message is shown in the window, not lost.
    h.state_mut().state.apply(Delivery::Refused {
        request: api::RequestKind::SaveSettings,
        what: "save the settings".to_owned(),
        refusal: api::Refusal::new(
            api::RefusalKind::Invalid,
            "media.opus_bitrate is 5; use 6000 to 510000 bits per second".to_owned(),
        ),
    });
    h.run();
    h.get_by_label_contains("Could not save the settings: media.opus_bitrate is 5");
    assert_eq!(h.state().state.notice, None);
}

#[test]
fn the_stun_server_and_keep_alive_are_checked_as_typed_and_saved() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    h.run();
    let stun = h.get_by_role_and_label(Role::TextInput, "STUN server");
    stun.focus();
    stun.type_text("stun.example.com");
    h.run();
    h.get_by_label_contains("STUN server \"stun.example.com\" is not IP:PORT");
    let keepalive = h.get_by_role_and_label(Role::TextInput, "Keep-alive interval (s)");
    keepalive.focus();
    keepalive.type_text("s");
    h.run();
    h.get_by_label_contains("Keep-alive interval \"30s\" is not a number of seconds");
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    assert_eq!(saved_request(&h.state().asked), None, "nothing is sent");
    // Corrected, both go out with the settings.
    if let Some(draft) = h.state_mut().state.settings_window.as_mut() {
        draft.stun_server.clear();
        draft.keepalive_s = "15".to_owned();
    }
    h.run();
    let stun = h.get_by_role_and_label(Role::TextInput, "STUN server");
    stun.focus();
    stun.type_text("192.0.2.50:3478");
    h.run();
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    let saved = saved_request(&h.state().asked).expect("Save sent the settings");
    assert_eq!(saved.stun_server.as_deref(), Some("192.0.2.50:3478"));
    assert_eq!(saved.keepalive_s, 15);
}

#[test]
fn a_registration_is_tested_from_the_account_form() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_role_and_label(Role::Button, "Test registration")
        .click();
    h.run();
    let Some(Request::TestRegistration(form)) = h.state().asked.last().cloned() else {
        panic!("no test: {:?}", h.state().asked);
    };
    assert_eq!(form.aor, "sip:1001@127.0.0.1");
    h.get_by_label("Registering…");
    h.state_mut()
        .state
        .apply(Delivery::Event(Event::RegistrationTest {
            account: "work".to_owned(),
            registered: false,
            detail: "authentication failed (realm \"pbx\")".to_owned(),
        }));
    h.run();
    h.get_by_label("Not registered: authentication failed (realm \"pbx\")");
}

#[test]
fn a_refused_registration_test_lands_on_its_account_whatever_the_words() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_role_and_label(Role::Button, "Test registration")
        .click();
    h.run();
    h.get_by_label("Registering…");
    // The refusal is placed by the request it answers, not by matching its sentence.
    h.state_mut().state.apply(Delivery::Refused {
        request: api::RequestKind::TestRegistration {
            account: "work".to_owned(),
        },
        what: "probar el registro".to_owned(),
        refusal: api::Refusal::new(
            api::RefusalKind::Invalid,
            "the proxy is not an address".to_owned(),
        ),
    });
    h.run();
    h.get_by_label("Not registered: the proxy is not an address");
    assert_eq!(h.state().state.notice, None);
}

#[test]
fn the_audio_page_has_devices_level_meters_and_a_test_tone() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    let mut status = api::StatusView {
        version: "test".to_owned(),
        listen: Vec::new(),
        active_calls: 0,
        agent: AgentStatus::default(),
        registrations: Vec::new(),
        sip: api::SipStats::default(),
        audio: api::AudioStatus::default(),
        presence: Vec::new(),
        store: None,
        store_pending: 0,
    };
    status.audio.input_db = -12;
    status.audio.output_db = -90;
    status.audio.tone = Some("test".to_owned());
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::Status(status)));
    h.run();
    h.get_by_label("Audio").click();
    h.run();
    h.get_by_label("Microphone level: -12 dB");
    h.get_by_label("Headset level: silent");
    h.get_by_label("Playing the test tone…");
    h.get_by_role_and_label(Role::Button, "Play test tone")
        .click();
    h.run();
    assert_eq!(h.state().asked.last(), Some(&Request::TestTone));
    h.get_by_role_and_label(Role::ComboBox, "Headset").click();
    h.run();
    h.get_by_label("alsa:headset").click();
    h.run();
    // The USB headset's buttons: automatic until one is picked.
    assert_eq!(
        h.state()
            .state
            .settings_window
            .as_ref()
            .map(|d| d.headset.clone()),
        Some(None)
    );
    h.get_by_role_and_label(Role::ComboBox, "Headset buttons and lights")
        .click();
    h.run();
    h.get_by_label("/dev/hidraw3").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    let saved = saved_request(&h.state().asked).expect("saved");
    assert_eq!(saved.output.as_deref(), Some("alsa:headset"));
    assert_eq!(saved.input, None);
    assert_eq!(saved.headset.as_deref(), Some("/dev/hidraw3"));
}

#[test]
fn the_status_bar_names_each_accounts_transport_and_lights_waiting_voicemail() {
    let mut h = harness(state_with(vec![], vec![]));
    let status = api::StatusView {
        version: "test".to_owned(),
        listen: Vec::new(),
        active_calls: 0,
        agent: AgentStatus::default(),
        registrations: vec![
            api::RegistrationView {
                account: "work".to_owned(),
                aor: "sips:1001@pbx.example.com".to_owned(),
                state: api::RegistrationState::Registered,
                reason: None,
                server: Some(
                    "tls:203.0.113.10:5061 (sip1.pbx.example.com from _sips._tcp.pbx.example.com)"
                        .to_owned(),
                ),
                voicemail: Some(api::Voicemail {
                    waiting: true,
                    new: 3,
                    old: 1,
                }),
            },
            api::RegistrationView {
                account: "lab".to_owned(),
                aor: "sip:alice@192.0.2.7".to_owned(),
                state: api::RegistrationState::Failed,
                reason: Some(
                    "could not reach the registrar: invalid peer certificate: UnknownIssuer"
                        .to_owned(),
                ),
                server: Some("udp:192.0.2.7:5060".to_owned()),
                voicemail: Some(api::Voicemail::default()),
            },
        ],
        sip: api::SipStats::default(),
        audio: api::AudioStatus::default(),
        presence: Vec::new(),
        store: None,
        store_pending: 0,
    };
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::Status(status)));
    h.run();
    h.get_by_label("work: registered over TLS");
    h.get_by_label("lab: failed over UDP");
    // The message-waiting indicator: lit for the mailbox with messages, not for the empty one.
    h.get_by_label("✉ 3 new voicemails");
    assert_eq!(h.query_all_by_label_contains("voicemail").count(), 1);
}

#[test]
fn the_account_form_sets_the_transport_in_the_registrar() {
    let mut h = harness(state_with(vec![], vec![]));
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "Transport").click();
    h.run();
    h.get_by_label("TLS (encrypted)").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Save").click();
    h.run();
    let saved = saved_request(&h.state().asked).expect("saved");
    assert_eq!(saved.accounts[0].registrar, "sip:127.0.0.1;transport=tls");
}

#[test]
fn the_team_communicator_shows_each_watched_colleagues_state_and_follows_it() {
    let mut state = AppState::new(DeskSettings {
        targets: vec![Target {
            name: "Bob".to_owned(),
            kind: "agent".to_owned(),
            uri: "sip:bob@pbx.example".to_owned(),
        }],
        ..DeskSettings::default()
    });
    let bob = |state: api::PresenceState| api::PresenceView {
        name: "Bob".to_owned(),
        uri: "sip:bob@pbx.example".to_owned(),
        state,
    };
    state.apply(Delivery::Reply(Reply::Status(api::StatusView {
        version: "test".to_owned(),
        listen: Vec::new(),
        active_calls: 0,
        agent: AgentStatus::default(),
        registrations: Vec::new(),
        sip: api::SipStats::default(),
        audio: api::AudioStatus::default(),
        presence: vec![bob(api::PresenceState::OnCall)],
        store: None,
        store_pending: 0,
    })));
    let label = |state: &AppState| state.team_matches()[0].0.clone();
    assert_eq!(label(&state), "Bob (agent) — on a call");
    state.apply(Delivery::Event(Event::Presence {
        target: bob(api::PresenceState::Ringing),
    }));
    assert_eq!(label(&state), "Bob (agent) — ringing");
}

/// The URLs and clipboard texts a frame handed to the system.
fn handed_out(h: &Harness<'static, Desk>) -> (Vec<String>, Vec<String>) {
    let mut urls = Vec::new();
    let mut copied = Vec::new();
    for command in &h.output().platform_output.commands {
        match command {
            egui::OutputCommand::OpenUrl(open) => urls.push(open.url.clone()),
            egui::OutputCommand::CopyText(text) => copied.push(text.clone()),
            _ => {}
        }
    }
    (urls, copied)
}

#[test]
fn the_customer_is_e_mailed_a_standard_response_and_their_number_copied() {
    let mut connected = interaction(3, "connected", "immediate", Some(3));
    connected.contact = Some(api::Contact {
        id: 7,
        name: "Ana Ruiz".to_owned(),
        numbers: vec!["+1 555 0100".to_owned()],
        email: Some("ana.ruiz@example.com".to_owned()),
        notes: None,
        ..api::Contact::default()
    });
    let mut state = state_with(vec![connected], vec![call(3, "connected", Some(3))]);
    state.apply(Delivery::Reply(Reply::Directory {
        contacts: vec![],
        responses: vec![api::StandardResponse {
            id: 1,
            title: "Payment received".to_owned(),
            body: "Thank you, Ana: payment & case 4711 closed.".to_owned(),
        }],
    }));
    state.selected = Some(InteractionId(3));
    let mut h = harness(state);
    h.run();
    h.get_by_role_and_label(Role::Button, "E-mail").click();
    h.step();
    let (urls, _) = handed_out(&h);
    assert_eq!(
        urls,
        [
            "mailto:ana.ruiz@example.com?subject=Payment%20received&body=Thank%20you%2C%20Ana%3A%20payment%20%26%20case%204711%20closed."
        ]
    );
    h.run();
    h.get_by_role_and_label(Role::Button, "Participants")
        .click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Copy number").click();
    h.step();
    assert_eq!(handed_out(&h).1, ["+1 555 0100"]);
    h.run();
    h.get_by_role_and_label(Role::Button, "Participants")
        .click();
    h.run();
    h.get_by_role_and_label(Role::Button, "E-mail the contact")
        .click();
    h.step();
    assert_eq!(handed_out(&h).0, ["mailto:ana.ruiz@example.com"]);
}

#[test]
fn mailto_urls_encode_what_a_mail_handler_would_misread() {
    assert_eq!(
        gui::mailto(
            "a+b@example.com",
            "Re: case #4711?",
            "Línea 1\nLínea 2 = 100%"
        ),
        "mailto:a+b@example.com?subject=Re%3A%20case%20%234711%3F&body=L%C3%ADnea%201%0AL%C3%ADnea%202%20%3D%20100%25"
    );
    assert_eq!(
        gui::mailto("x@y.z", "", "only a body"),
        "mailto:x@y.z?body=only%20a%20body"
    );
}

#[test]
fn the_interaction_history_reads_in_the_agents_time_zone() {
    let mut state = state_with(
        vec![interaction(3, "connected", "immediate", Some(4))],
        vec![call(4, "connected", Some(3))],
    );
    // Notified at 2026-11-18 11:06:40 UTC: 12:06:40 in Madrid (+01:00 in November).
    state.settings.time_zone = Some("Europe/Madrid".to_owned());
    state.selected = Some(InteractionId(3));
    let mut h = harness(state);
    h.run();
    h.get_by_label("12:06:40  notified");
    h.state_mut().state.settings.time_zone = Some("America/New_York".to_owned());
    h.run();
    h.get_by_label("06:06:40  notified");
}

#[test]
fn the_contacts_full_record_is_shown_edited_and_saved() {
    let mut connected = interaction(3, "connected", "immediate", Some(3));
    let contact = api::Contact {
        id: 7,
        name: "Ana Ruiz".to_owned(),
        numbers: vec!["+1 555 0100".to_owned()],
        email: Some("ana.ruiz@example.com".to_owned()),
        notes: None,
        address: Some("12 High Street\nLeeds LS1 4AP".to_owned()),
        language: Some("es".to_owned()),
        fields: [("tier".to_owned(), "Gold".to_owned())].into(),
    };
    connected.contact = Some(contact.clone());
    let mut state = state_with(vec![connected], vec![call(3, "connected", Some(3))]);
    state.settings.contact_fields = vec![
        ("tier".to_owned(), "Customer tier".to_owned()),
        ("since".to_owned(), "Customer since".to_owned()),
    ];
    state.selected = Some(InteractionId(3));
    let mut h = harness(state);
    h.run();
    // Not in the directory yet: read only, every field the record has.
    h.get_by_label("12 High Street\nLeeds LS1 4AP");
    h.get_by_label("Customer tier");
    h.get_by_label("Gold");
    assert!(
        h.query_by_label("Customer since").is_none(),
        "empty fields stay out"
    );
    h.state_mut().state.apply(Delivery::Reply(Reply::Directory {
        contacts: vec![contact],
        responses: vec![],
    }));
    h.run();
    // In the directory: every field is a named text field.
    h.get_by_role_and_label(Role::MultilineTextInput, "Address");
    h.get_by_role_and_label(Role::TextInput, "Language");
    let since = h.get_by_role_and_label(Role::TextInput, "Customer since");
    since.focus();
    since.type_text("2019");
    h.run();
    // The tier is changed: its old value is taken away first.
    let tier = h.get_by_role_and_label(Role::TextInput, "Customer tier");
    tier.focus();
    for _ in 0.."Gold".len() {
        h.key_press(egui::Key::Backspace);
    }
    tier.type_text("Platinum");
    h.run();
    h.get_by_role_and_label(Role::Button, "Save contact")
        .click();
    h.run();
    let Some(Request::SaveContact(saved)) = h.state().asked.last().cloned() else {
        panic!("not saved: {:?}", h.state().asked);
    };
    assert_eq!(
        saved.address.as_deref(),
        Some("12 High Street\nLeeds LS1 4AP")
    );
    assert_eq!(saved.language.as_deref(), Some("es"));
    assert_eq!(saved.fields.get("since").map(String::as_str), Some("2019"));
    assert_eq!(
        saved.fields.get("tier").map(String::as_str),
        Some("Platinum")
    );
}

#[test]
fn closed_to_the_tray_a_callback_still_rings_shows_the_window_and_raises_it() {
    use egui::ViewportCommand as V;
    let mut state = state_with(vec![], vec![]);
    // Without a tray, closing the window closes it (recall stops).
    assert_eq!(gui::window_commands(&mut state, true), vec![]);
    state.window.tray = true;
    // With one, the window hides and recall keeps running.
    assert_eq!(
        gui::window_commands(&mut state, true),
        vec![V::CancelClose, V::Visible(false)]
    );
    assert!(state.window.hidden);
    assert_eq!(gui::window_commands(&mut state, false), vec![]);
    // A callback rings while hidden: the core's delivery is taken in, the window comes back,
    // raised above the others with its toast, once.
    update(&mut state, interaction(1, "notified", "immediate", Some(1)));
    assert_eq!(state.ringing().len(), 1);
    assert_eq!(
        gui::window_commands(&mut state, false),
        vec![
            V::Visible(true),
            V::Minimized(false),
            V::WindowLevel(egui::WindowLevel::AlwaysOnTop),
            V::Focus,
            V::RequestUserAttention(egui::UserAttentionType::Critical),
        ]
    );
    assert!(!state.window.hidden);
    assert_eq!(gui::window_commands(&mut state, false), vec![]);
    // Answered: back to an ordinary window.
    update(
        &mut state,
        interaction(1, "connected", "immediate", Some(1)),
    );
    assert_eq!(
        gui::window_commands(&mut state, false),
        vec![V::WindowLevel(egui::WindowLevel::Normal)]
    );
    // Quit from the tray: the window closes for good, and a close it asked for is not
    // cancelled.
    state.window.quit = true;
    assert_eq!(gui::window_commands(&mut state, false), vec![V::Close]);
    assert_eq!(gui::window_commands(&mut state, true), vec![]);
}

#[test]
fn the_window_is_shown_from_the_tray_and_quits_from_it() {
    let (postbox, inbox) = gui::mailbox();
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = asked.clone();
    let mut desktop = gui::Desktop::new(
        DeskSettings::default(),
        inbox,
        Box::new(move |r| sink.borrow_mut().push(r)),
    );
    desktop.set_tray(true);
    let control = desktop.control();
    let ctx = egui::Context::default();
    // Closed to the tray (the close button pressed).
    let close = egui::RawInput {
        viewports: std::iter::once((
            egui::ViewportId::ROOT,
            egui::ViewportInfo {
                events: vec![egui::ViewportEvent::Close],
                ..Default::default()
            },
        ))
        .collect(),
        ..Default::default()
    };
    let frame = |desktop: &mut gui::Desktop, input: egui::RawInput| {
        let mut output = ctx.run_ui(input, |ui| {
            desktop.tick(ui.ctx());
            desktop.frame(ui);
        });
        // No renderer here: the fonts' texture is not uploaded anywhere.
        output.textures_delta.clear();
        output.viewport_output[&egui::ViewportId::ROOT]
            .commands
            .clone()
    };
    let commands = frame(&mut desktop, close);
    assert!(
        commands.contains(&egui::ViewportCommand::Visible(false)),
        "{commands:?}"
    );
    assert!(desktop.state().window.hidden);
    // The core posts a ringing callback from its thread: taken in while hidden.
    postbox.post(Delivery::Event(Event::Interaction {
        interaction: Box::new(interaction(1, "notified", "immediate", Some(1))),
    }));
    let commands = frame(&mut desktop, egui::RawInput::default());
    assert!(
        commands.contains(&egui::ViewportCommand::Visible(true)),
        "{commands:?}"
    );
    // Show and Quit from the tray's menu.
    control.send(gui::DeskCommand::Quit);
    let commands = frame(&mut desktop, egui::RawInput::default());
    assert!(
        commands.contains(&egui::ViewportCommand::Close),
        "{commands:?}"
    );
    assert!(asked.borrow().contains(&Request::Directory));
}

#[test]
fn the_case_history_shows_what_other_agents_wrote_about_the_customer() {
    let mut h = harness(state_with(
        vec![interaction(9, "connected", "immediate", Some(10))],
        vec![call(10, "connected", Some(9))],
    ));
    h.state_mut().state.selected = Some(InteractionId(9));
    h.run();
    h.get_by_label("Looking up the case history…");
    h.run();
    // Asked once, however often the view is drawn.
    let asked = |h: &Harness<'static, Desk>| {
        h.state()
            .cases
            .iter()
            .filter(|r| **r == Request::Case(InteractionId(9)))
            .count()
    };
    assert_eq!(asked(&h), 1);
    let entry =
        |agent: &str, id: u64, disposition: Option<&str>, note: Option<&str>| api::CaseEntry {
            agent: agent.to_owned(),
            interaction: InteractionId(id),
            at: Some(OffsetDateTime::from_unix_timestamp(1_794_000_000).expect("time")),
            state: api::InteractionState::Done,
            disposition: disposition.map(str::to_owned),
            note: note.map(str::to_owned),
            number: Some("+1 555 0100".to_owned()),
            matched: "number".to_owned(),
        };
    h.state_mut().state.apply(Delivery::Reply(Reply::Case {
        id: InteractionId(9),
        entries: vec![
            entry(
                "ana",
                3,
                Some("resolved"),
                Some("Card declined; will pay by transfer"),
            ),
            entry("bo", 7, None, None),
        ],
    }));
    h.run();
    h.get_by_label("Earlier in this case");
    h.get_by_label("ana · Resolved");
    h.get_by_label("Card declined; will pay by transfer");
    h.get_by_label("bo · no disposition");
    assert_eq!(asked(&h), 1);

    // A customer seen for the first time says so.
    h.state_mut().state.apply(Delivery::Reply(Reply::Case {
        id: InteractionId(9),
        entries: Vec::new(),
    }));
    h.run();
    h.get_by_label("No earlier interactions with this customer");
}

#[test]
fn the_status_bar_says_when_changes_wait_for_the_team_database() {
    let mut h = harness(state_with(Vec::new(), Vec::new()));
    let status = |pending: u64| api::StatusView {
        version: "test".to_owned(),
        listen: Vec::new(),
        active_calls: 0,
        agent: AgentStatus::default(),
        registrations: Vec::new(),
        sip: api::SipStats::default(),
        audio: api::AudioStatus::default(),
        presence: Vec::new(),
        store: Some("postgres 198.51.100.7:5432/team".to_owned()),
        store_pending: pending,
    };
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::Status(status(0))));
    h.run();
    assert!(
        h.query_by_label_contains("Team database unreachable")
            .is_none()
    );
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::Status(status(3))));
    h.run();
    h.get_by_label("Team database unreachable: 3 changes kept on this computer");
    h.state_mut()
        .state
        .apply(Delivery::Reply(Reply::Status(status(0))));
    h.run();
    assert!(
        h.query_by_label_contains("Team database unreachable")
            .is_none()
    );
}
