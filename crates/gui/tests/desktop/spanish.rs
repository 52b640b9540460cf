//! The desktop in Spanish: the catalogs say the same things, every view reads in Spanish with
//! nothing left in English in the code or missing from the catalog, the callback workflow is
//! worked in Spanish, and the language switches from Settings without a restart.

use api::{
    AgentStatus, CallId, Command, Delivery, Event, InteractionCommand, InteractionId, Reply,
    Request, TimelineEntry, TimelineKind, TransferOutcome,
};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable, by};
use gui::i18n::Language;
use time::OffsetDateTime;

use super::{Desk, act, call, harness, interaction, saved_settings, state_with, update};

/// What the test itself put in the views (names, numbers, addresses, case data, free text
/// from the core): everything else must come from the catalog.
const DATA: &[&str] = &[
    "recall",
    "Ana Ruiz",
    "ana.ruiz@example.com",
    "Cliente preferente",
    "sip:customer@127.0.0.1",
    "sip:supervisor@127.0.0.1",
    "sip:gms@pbx.example",
    "sip:billing@pbx.example",
    "sip:1001@127.0.0.1",
    "sip:1001@pbx.example.com",
    "Facturación",
    "Pago recibido",
    "Gracias, Ana: pago recibido y caso 4711 cerrado.",
    "Confirmó la nueva dirección.",
    "AES_CM_128_HMAC_SHA1_80",
    "SDES",
    "Europe/Madrid",
    "work",
    "/home/agent/.config/recall/config.toml",
    "/dev/hidraw3",
    "alsa:headset-mic",
    "alsa:headset",
    "tls:203.0.113.10:5061",
    "TLS",
    "UDP",
    "PCMU",
    "DTMF",
    "null",
    "English",
    "Español",
    "/var/lib/recall/i-7.wav",
    "mucho",
    "Calle Mayor 1",
    "28013 Madrid",
    "Nivel",
    "Oro",
];

/// Every label and value the views show now that is neither a catalog string handed out nor
/// the test's own data: what is left once those are taken away must hold no letter.
fn untranslated(h: &Harness<'static, Desk>) -> Vec<String> {
    let audit = gui::i18n::audited();
    let mut known: Vec<String> = audit.produced.into_iter().collect();
    known.extend(DATA.iter().map(|d| (*d).to_owned()));
    known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    let mut left = Vec::new();
    for node in h.query_all(by().predicate(|_| true)) {
        let node = node.accesskit_node();
        for text in [node.label(), node.value()].into_iter().flatten() {
            let mut rest = text.clone();
            for known in &known {
                if !known.is_empty() {
                    rest = rest.replace(known.as_str(), " ");
                }
            }
            // Interaction and call ids (i-7, c-3) are the API's; the attached Language
            // values (es, en) are the case's data.
            let rest: String = rest
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|word| {
                    let id = word.len() > 2
                        && matches!(&word[..2], "i-" | "c-")
                        && word[2..].chars().all(|c| c.is_ascii_digit());
                    !id && !matches!(*word, "es" | "en")
                })
                .collect::<Vec<_>>()
                .join(" ");
            if rest.chars().any(char::is_alphabetic) {
                left.push(format!("{text:?} (left: {rest:?})"));
            }
        }
    }
    left.sort();
    left.dedup();
    left
}

fn assert_all_spanish(h: &Harness<'static, Desk>, view: &str) {
    let left = untranslated(h);
    assert!(
        left.is_empty(),
        "{view}: not from the Spanish catalog:\n{}",
        left.join("\n")
    );
    let missing = gui::i18n::audited().missing;
    assert!(
        missing.is_empty(),
        "{view}: missing from the Spanish catalog: {missing:?}"
    );
}

fn spanish(mut state: gui::AppState) -> Harness<'static, Desk> {
    state.settings.language = Language::Spanish;
    state.settings.time_zone = Some("Europe/Madrid".to_owned());
    gui::i18n::audit();
    harness(state)
}

#[test]
fn both_catalogs_say_the_same_things_with_the_same_variables() {
    for language in Language::ALL {
        assert_eq!(
            gui::i18n::catalog_errors(language),
            Vec::<String>::new(),
            "{language:?} catalog does not read"
        );
    }
    let english = gui::i18n::catalog(Language::English);
    let spanish = gui::i18n::catalog(Language::Spanish);
    let ids = |c: &[(String, std::collections::BTreeSet<String>)]| {
        c.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>()
    };
    assert!(english.len() > 200, "{} messages", english.len());
    assert_eq!(
        ids(&english),
        ids(&spanish),
        "the same messages, in the same order"
    );
    for ((id, en), (_, es)) in english.iter().zip(&spanish) {
        assert_eq!(en, es, "{id} takes the same variables");
    }
}

#[test]
fn every_view_reads_in_spanish() {
    // Ringing: a preview callback's toast with its countdown.
    let mut ringing = interaction(1, "notified", "preview", Some(1));
    ringing.callback.preview_timeout = Some(std::time::Duration::from_secs(30));
    let mut state = state_with(vec![ringing], vec![call(1, "ringing", Some(1))]);
    state.apply(Delivery::Reply(Reply::Status(api::StatusView {
        version: "test".to_owned(),
        listen: Vec::new(),
        active_calls: 1,
        agent: AgentStatus::default(),
        registrations: vec![api::RegistrationView {
            account: "work".to_owned(),
            aor: "sip:1001@pbx.example.com".to_owned(),
            state: api::RegistrationState::Registered,
            reason: None,
            server: Some("tls:203.0.113.10:5061".to_owned()),
            voicemail: Some(api::Voicemail {
                waiting: true,
                new: 2,
                old: 0,
            }),
        }],
        audio: api::AudioStatus {
            backend: "null".to_owned(),
            ..api::AudioStatus::default()
        },
        presence: Vec::new(),
        store: None,
        store_pending: 0,
        sip: api::SipStats::default(),
    })));
    let mut h = spanish(state);
    h.run();
    h.get_by_label_contains("Devolución con vista previa entrante");
    h.get_by_label_contains("Vuelve a la cola en");
    h.get_by_label("✉ 2 mensajes de voz nuevos");
    assert_all_spanish(&h, "the toast and the status bar");

    // Nothing selected: the idle work area and the dial pad.
    h.get_by_label("Teclado de marcación").click();
    h.run();
    assert_all_spanish(&h, "the idle work area");

    // A preview in hand: case, callback (the desired time as Spanish writes it), contact in
    // the directory, dispositions, note, responses.
    let mut previewing = interaction(2, "previewing", "preview", None);
    if let Some(contact) = &mut previewing.contact {
        contact.email = Some("ana.ruiz@example.com".to_owned());
        contact.notes = Some("Cliente preferente".to_owned());
        contact.address = Some("Calle Mayor 1\n28013 Madrid".to_owned());
        contact.language = Some("es".to_owned());
        contact.fields.insert("tier".to_owned(), "Oro".to_owned());
    }
    h.state_mut().state.settings.contact_fields = vec![("tier".to_owned(), "Nivel".to_owned())];
    {
        let state = &mut h.state_mut().state;
        state.apply(Delivery::Reply(Reply::Directory {
            contacts: vec![previewing.contact.clone().expect("a contact")],
            responses: vec![api::StandardResponse {
                id: 1,
                title: "Pago recibido".to_owned(),
                body: "Gracias, Ana: pago recibido y caso 4711 cerrado.".to_owned(),
            }],
        }));
        update(state, previewing);
        state.selected = Some(InteractionId(2));
    }
    h.run();
    h.get_by_label("Lista para llamar");
    // 2026-11-25T15:30Z is a Wednesday, 16:30 in Madrid.
    h.get_by_label("miércoles, 25 de noviembre de 2026, 16:30 (UTC+01:00)");
    assert_all_spanish(&h, "a preview");

    // Reschedule dialog.
    h.get_by_role_and_label(Role::Button, "Programar devolución")
        .click();
    h.run();
    h.get_by_role_and_label(Role::TextInput, "Fecha (AAAA-MM-DD)");
    assert_all_spanish(&h, "the reschedule dialog");
    h.get_by_role_and_label(Role::Button, "Cancelar").click();
    h.run();

    // A connected, encrypted, recorded call with a consultation: keypad and participants.
    let mut connected = call(3, "connected", Some(3));
    connected.encryption = Some("sdes-srtp AES_CM_128_HMAC_SHA1_80".to_owned());
    connected.ice = Some("host 127.0.0.1:4000 -> 127.0.0.1:5000".to_owned());
    connected.recording = Some("recording".to_owned());
    let mut consult = call(4, "connected", None);
    consult.remote = "sip:supervisor@127.0.0.1".to_owned();
    consult.consultation_of = Some(CallId(3));
    {
        let state = &mut h.state_mut().state;
        state.apply(Delivery::Event(Event::Call { call: connected }));
        state.apply(Delivery::Event(Event::Call { call: consult }));
        update(state, interaction(3, "connected", "immediate", Some(3)));
        // The toast has gone (it would cover the call line's menu).
        update(state, interaction(1, "missed", "preview", Some(1)));
        state.selected = Some(InteractionId(3));
        state.keypad = true;
    }
    h.run();
    h.get_by_label_contains("🔒 cifrada (SDES AES_CM_128_HMAC_SHA1_80)");
    h.get_by_role_and_label(Role::Button, "Participantes")
        .click();
    h.run();
    h.get_by_label("Completar transferencia");
    assert_all_spanish(&h, "a connected call with its participants");

    // Team Communicator.
    h.get_by_role_and_label(Role::Button, "Transferir").click();
    h.run();
    h.get_by_label("Transferir a");
    assert_all_spanish(&h, "the Team Communicator");
    h.state_mut().state.team = None;

    // An ended interaction with every kind of history entry, and a closed one in the list.
    let at = |s: i64| OffsetDateTime::from_unix_timestamp(1_795_000_000 + s).expect("time");
    let mut ended = interaction(7, "ended", "scheduled", Some(7));
    let request =
        api::Reschedule::local("2026-12-24", "09:30", "Europe/Madrid", None, true).expect("a time");
    let kinds = vec![
        TimelineKind::Notified,
        TimelineKind::Accepted,
        TimelineKind::Rejected { status: 486 },
        TimelineKind::Dialing {
            target: "sip:customer@127.0.0.1".to_owned(),
        },
        TimelineKind::Connected,
        TimelineKind::Held,
        TimelineKind::Resumed,
        TimelineKind::Dtmf {
            digits: "12#".to_owned(),
        },
        TimelineKind::Recording {
            action: "start".to_owned(),
            file: Some("/var/lib/recall/i-7.wav".to_owned()),
        },
        TimelineKind::Recording {
            action: "pause".to_owned(),
            file: None,
        },
        TimelineKind::Transferred {
            target: "sip:billing@pbx.example".to_owned(),
            outcome: Some(TransferOutcome::Unconfirmed),
            detail: None,
            late: true,
        },
        TimelineKind::Conferenced,
        TimelineKind::Rescheduled { request },
        TimelineKind::Disposition {
            code: "resolved".to_owned(),
        },
        TimelineKind::Note,
        TimelineKind::Ended,
    ];
    ended.timeline = kinds
        .into_iter()
        .enumerate()
        .map(|(n, kind)| TimelineEntry {
            at: at(n as i64),
            kind,
        })
        .collect();
    ended.disposition = Some("resolved".to_owned());
    ended.note = Some("Confirmó la nueva dirección.".to_owned());
    let mut done = interaction(8, "done", "web", None);
    done.contact = None;
    {
        let state = &mut h.state_mut().state;
        state.keypad = false;
        state.apply(Delivery::Event(Event::Call {
            call: call(7, "ended", Some(7)),
        }));
        update(state, ended);
        update(state, done);
        state.selected = Some(InteractionId(7));
    }
    h.run();
    h.get_by_label_contains("tipificación Resuelto");
    h.get_by_label_contains("después de liberar la llamada");
    assert_all_spanish(&h, "an ended interaction and the history");

    // Settings, every page, with a problem typed and a registration tested.
    h.state_mut().state.apply(saved_settings());
    h.run();
    for tab in ["Cuentas", "Audio", "Códecs", "Devoluciones", "Apariencia"] {
        h.get_by_role_and_label(Role::Button, tab).click();
        h.run();
        if tab == "Códecs"
            && let Some(draft) = &mut h.state_mut().state.settings_window
        {
            draft.opus_bitrate = "mucho".to_owned();
        }
        h.run();
        assert_all_spanish(&h, &format!("Settings, {tab}"));
    }
    h.get_by_label_contains("La tasa de bits de Opus \"mucho\" no es un número");
}

#[test]
fn a_callback_is_worked_in_spanish_from_toast_to_done() {
    let mut h = spanish(state_with(
        vec![interaction(1, "notified", "scheduled", Some(1))],
        vec![call(1, "ringing", Some(1))],
    ));
    h.run();
    h.get_by_label_contains("Devolución programada entrante");
    h.get_by_label("Número del cliente: +1 555 0100");
    h.get_by_label("Caso: 4711");
    h.get_by_role_and_label(Role::Button, "Aceptar").click();
    h.run();
    assert_eq!(h.state().asked, vec![act(1, InteractionCommand::Accept)]);

    // Connected: the call actions in Spanish.
    {
        let state = &mut h.state_mut().state;
        state.apply(Delivery::Event(Event::Call {
            call: call(1, "connected", Some(1)),
        }));
        update(state, interaction(1, "connected", "scheduled", Some(1)));
        state.selected = Some(InteractionId(1));
    }
    h.run();
    let done = h.get_by_role_and_label(Role::Button, "Marcar como terminada");
    assert!(done.accesskit_node().is_disabled(), "not while connected");
    h.get_by_label("Elija primero una tipificación");
    h.get_by_role_and_label(Role::Button, "Silenciar").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Retener").click();
    h.run();
    h.get_by_role_and_label(Role::Button, "Colgar").click();
    h.run();
    let asked = &h.state().asked;
    assert!(asked.contains(&Request::Command(Command::Mute {
        call: CallId(1),
        muted: true
    })));
    assert!(asked.contains(&Request::Command(Command::Hold { call: CallId(1) })));
    assert!(asked.contains(&Request::Command(Command::Hangup { call: CallId(1) })));

    // Ended: reschedule in Spanish, a disposition, Done.
    {
        let state = &mut h.state_mut().state;
        state.apply(Delivery::Event(Event::Call {
            call: call(1, "ended", Some(1)),
        }));
        update(state, interaction(1, "ended", "scheduled", Some(1)));
    }
    h.run();
    h.get_by_role_and_label(Role::Button, "Reprogramar").click();
    h.run();
    {
        let (_, draft) = h.state_mut().state.reschedule.as_mut().expect("the dialog");
        draft.date = "2026-13-01".to_owned();
    }
    h.run();
    h.get_by_role_and_label(Role::Button, "Programar").click();
    h.run();
    h.get_by_label_contains(
        "No se puede programar la devolución: la fecha o la hora no son válidas",
    );
    {
        let (_, draft) = h
            .state_mut()
            .state
            .reschedule
            .as_mut()
            .expect("the dialog stays open");
        draft.date = "2026-12-24".to_owned();
        draft.time = "09:30".to_owned();
    }
    h.run();
    h.get_by_role_and_label(Role::Button, "Programar").click();
    h.run();
    assert!(
        h.state().asked.iter().any(|r| matches!(
            r,
            Request::Interaction {
                command: InteractionCommand::Reschedule { .. },
                ..
            }
        )),
        "rescheduled"
    );
    h.get_by_role_and_label(Role::RadioButton, "Resuelto")
        .click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(
            1,
            InteractionCommand::Disposition {
                code: "resolved".to_owned()
            }
        ))
    );
    let mut chosen = interaction(1, "ended", "scheduled", Some(1));
    chosen.disposition = Some("resolved".to_owned());
    update(&mut h.state_mut().state, chosen);
    h.run();
    h.get_by_role_and_label(Role::Button, "Marcar como terminada")
        .click();
    h.run();
    assert_eq!(
        h.state().asked.last(),
        Some(&act(1, InteractionCommand::Done))
    );
    assert_all_spanish(&h, "the workflow");
}

#[test]
fn the_language_switches_in_settings_without_a_restart_and_is_saved() {
    let mut h = harness(state_with(
        vec![interaction(1, "notified", "immediate", Some(1))],
        vec![call(1, "ringing", Some(1))],
    ));
    h.run();
    h.get_by_label("Incoming immediate callback");
    h.get_by_role_and_label(Role::Button, "Settings").click();
    h.run();
    h.state_mut().state.apply(saved_settings());
    h.run();
    h.get_by_role_and_label(Role::ComboBox, "Language").click();
    h.run();
    h.get_by_label("Español").click();
    h.run();
    h.run();
    // At once: the toast, the status bar and the window itself.
    h.get_by_label("Devolución inmediata entrante");
    h.get_by_role_and_label(Role::Button, "Ajustes");
    h.get_by_role_and_label(Role::Button, "Guardar").click();
    h.run();
    let saved = super::saved_request(&h.state().asked).expect("saved");
    assert_eq!(saved.language.as_deref(), Some("es"));
    // And back.
    h.get_by_role_and_label(Role::ComboBox, "Idioma").click();
    h.run();
    h.get_by_label("English").click();
    h.run();
    h.run();
    h.get_by_label("Incoming immediate callback");
}

#[test]
fn the_history_is_searched_in_the_language_it_is_shown_in() {
    let mut state = super::state_with(vec![interaction(5, "missed", "web", None)], vec![]);
    gui::i18n::set_language(Language::English);
    state.history_query = "missed".to_owned();
    assert_eq!(state.history_ids(), [InteractionId(5)]);
    // Switched to Spanish: the same interaction is "perdida" now, and found by it.
    gui::i18n::set_language(Language::Spanish);
    state.history_query = "perdida".to_owned();
    assert_eq!(state.history_ids(), [InteractionId(5)]);
    state.history_query = "missed".to_owned();
    assert!(state.history_ids().is_empty());
    gui::i18n::set_language(Language::English);
}
