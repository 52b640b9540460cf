//! Interactions inside the phone: an INVITE with attached data opens one; the agent's actions
//! and the call's life move it along its timeline; Not Ready refuses and records it missed.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, Host};
use api::{AgentState, CallState, InteractionCommand, InteractionState};
use engine::{Input, Output};
use sip::{Dest, Transport};
use test_support::sip_fixture;

fn gms() -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: "127.0.0.1:40000".parse().expect("addr"),
    }
}

/// Feeds a datagram; returns the SIP messages the phone sent.
pub(crate) fn feed(host: &mut Host, now: Instant, bytes: &[u8]) -> Vec<String> {
    host.phone.handle_input(Input::Sip {
        now,
        source: gms(),
        bytes,
    });
    drain(host)
}

pub(crate) fn drain(host: &mut Host) -> Vec<String> {
    let mut sent = Vec::new();
    loop {
        match host.phone.poll_output() {
            Output::Sip(t) => sent.push(String::from_utf8_lossy(&t.bytes).into_owned()),
            Output::Event(e) => host.events.push(*e),
            Output::Timeout(_) => return sent,
            Output::Rtp { .. } | Output::Resolve(_) | Output::TlsPeer(_) | Output::Recording(_) => {
            }
        }
    }
}

fn invite(kind: &str, call_id: &str) -> Vec<u8> {
    sip_fixture(
        "sip/invite-callback.sip",
        &[
            ("type", kind),
            ("call_id", call_id),
            ("branch", &branch(call_id)),
        ],
    )
}

fn branch(call_id: &str) -> String {
    call_id.replace('@', "-")
}

fn to_tag(response: &str) -> String {
    response
        .lines()
        .find(|l| l.starts_with("To:"))
        .and_then(|l| l.split("tag=").nth(1))
        .expect("a To tag")
        .trim()
        .to_owned()
}

#[test]
fn a_callback_invite_opens_an_interaction_that_the_agent_works_to_done() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33000, 3, false, now);
    feed(&mut host, now, &invite("scheduled", "cb-1@gms"));
    let interaction = host.phone.interactions().pop().expect("an interaction");
    assert_eq!(interaction.state, InteractionState::Notified);
    let cb = &interaction.callback;
    assert_eq!(cb.kind, Some(api::CallbackType::Scheduled));
    assert_eq!(cb.customer_number.as_deref(), Some("+1 555 0100"));
    assert_eq!(cb.server_id.as_deref(), Some("0A1B2C3D4E5F"));
    assert_eq!(cb.instructions.as_deref(), Some("Call after lunch"));
    assert_eq!(
        cb.service_name.as_deref(),
        Some("Billing"),
        "from the JSON body part"
    );
    assert_eq!(interaction.attached.get_all("Language"), ["es", "en"]);
    let call = host.phone.calls().pop().expect("its call");
    assert_eq!(call.interaction_id, Some(interaction.id));
    assert_eq!(call.state, CallState::Ringing);

    let later = now + Duration::from_secs(2);
    let id = interaction.id;
    let accepted = host
        .phone
        .interaction_command(later, id, InteractionCommand::Accept)
        .expect("accept");
    assert_eq!(accepted.state, InteractionState::Connected);
    let sent = drain(&mut host);
    let ok = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 200 OK"))
        .expect("the call is answered");
    let tag = to_tag(ok);
    host.phone
        .command(
            later,
            api::Command::Dtmf {
                call: call.id,
                digits: "42".to_owned(),
            },
        )
        .expect("dtmf");
    let bye = sip_fixture(
        "sip/bye-in-dialog.sip",
        &[("to_tag", &tag), ("call_id", "cb-1@gms"), ("branch", "1")],
    );
    feed(&mut host, later + Duration::from_secs(3), &bye);
    let ended = host.phone.interaction(id).expect("interaction");
    assert_eq!(ended.state, InteractionState::Ended);
    let done = host
        .phone
        .interaction_command(later, id, InteractionCommand::Done)
        .expect("done without a mandatory disposition");
    let kinds: Vec<String> = serde_json::to_value(&done.timeline)
        .expect("json")
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["notified", "accepted", "connected", "dtmf", "ended", "done"]
    );
    let stamps: Vec<String> = done.timeline.iter().map(|e| e.at.to_string()).collect();
    assert_eq!(
        stamps[0], "2026-11-25 15:00:00.0 +00:00:00",
        "stamped from the phone's epoch"
    );
    assert_eq!(stamps[1], "2026-11-25 15:00:02.0 +00:00:00");
}

#[test]
fn not_ready_refuses_with_486_and_records_a_missed_interaction() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33100, 4, true, now);
    host.phone
        .set_agent_state(now, Some(AgentState::NotReady), None);
    let sent = feed(&mut host, now, &invite("immediate", "cb-2@gms"));
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 486 Busy Here")),
        "{sent:?}"
    );
    let interaction = host.phone.interactions().pop().expect("an interaction");
    assert_eq!(interaction.state, InteractionState::Missed);
    // Web callbacks have their own channel state: still Ready, so it rings (and auto-answers).
    let sent = feed(&mut host, now, &invite("web", "cb-3@gms"));
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 200 OK")),
        "{sent:?}"
    );
    let web = host.phone.interactions().pop().expect("the web callback");
    assert_eq!(web.state, InteractionState::Previewing);
}

#[test]
fn a_caller_who_gives_up_leaves_a_missed_interaction() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33200, 5, false, now);
    feed(&mut host, now, &invite("delayed", "cb-4@gms"));
    let cancel = sip_fixture(
        "sip/cancel.sip",
        &[("call_id", "cb-4@gms"), ("branch", &branch("cb-4@gms"))],
    );
    let sent = feed(&mut host, now + Duration::from_secs(1), &cancel);
    assert!(
        sent.iter().any(|m| m.starts_with("SIP/2.0 487")),
        "{sent:?}"
    );
    let interaction = host.phone.interactions().pop().expect("an interaction");
    assert_eq!(interaction.state, InteractionState::Missed);
}

/// The agent reschedules the interaction and marks it done.
fn reschedule_and_finish(
    host: &mut Host,
    now: Instant,
    id: api::InteractionId,
    request: api::Reschedule,
) {
    host.phone
        .interaction_command(now, id, InteractionCommand::Reschedule { request })
        .expect("reschedule");
    host.phone
        .interaction_command(now, id, InteractionCommand::Done)
        .expect("done");
    drain(host);
}

#[test]
fn a_rescheduled_callback_is_raised_again_at_its_time() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33300, 6, false, now);
    feed(&mut host, now, &invite("preview", "cb-5@gms"));
    let id = host.phone.interactions().pop().expect("interaction").id;
    let accepted = host
        .phone
        .interaction_command(now, id, InteractionCommand::Accept)
        .expect("accept");
    assert_eq!(accepted.state, InteractionState::Previewing);
    // The phone's wall clock starts at 15:00:00; ask for 17:00 with a new number.
    let request = api::Reschedule {
        at: time::macros::datetime!(2026-11-25 17:00:00 UTC),
        time_zone: Some("Europe/Madrid".to_owned()),
        number: Some("+1 555 0199".to_owned()),
        personal: true,
    };
    reschedule_and_finish(&mut host, now, id, request);
    let deadline = match host.phone.poll_output() {
        Output::Timeout(at) => at,
        other => panic!("{other:?}"),
    };
    assert!(
        deadline <= now + Duration::from_secs(2 * 3600),
        "the scheduler wakes the phone"
    );
    host.phone
        .handle_input(Input::Timeout(now + Duration::from_secs(2 * 3600 - 1)));
    assert_eq!(host.phone.interactions().len(), 1, "not yet");
    host.phone
        .handle_input(Input::Timeout(now + Duration::from_secs(2 * 3600)));
    let raised = host.phone.interactions().pop().expect("raised");
    assert_eq!(raised.origin, Some(id));
    assert_eq!(raised.state, InteractionState::Notified);
    assert_eq!(raised.callback.kind, Some(api::CallbackType::Scheduled));
    assert_eq!(
        raised.callback.customer_number.as_deref(),
        Some("+1 555 0199")
    );
    assert_eq!(
        raised.timeline[0].at,
        time::macros::datetime!(2026-11-25 17:00:00 UTC)
    );
    let accepted = host
        .phone
        .interaction_command(
            now + Duration::from_secs(7200),
            raised.id,
            InteractionCommand::Accept,
        )
        .expect("accept");
    assert_eq!(
        accepted.state,
        InteractionState::Previewing,
        "no call yet: preview, then call"
    );
}

#[test]
fn a_callback_back_to_the_queue_is_not_raised_here_but_a_claimed_team_callback_is() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33320, 6, false, now);
    feed(&mut host, now, &invite("preview", "cb-queue@gms"));
    let id = host.phone.interactions().pop().expect("interaction").id;
    host.phone
        .interaction_command(now, id, InteractionCommand::Accept)
        .expect("accept");
    let request = api::Reschedule {
        at: time::macros::datetime!(2026-11-25 17:00:00 UTC),
        time_zone: None,
        number: Some("+1 555 0199".to_owned()),
        personal: false,
    };
    reschedule_and_finish(&mut host, now, id, request);
    // Its time comes and goes: the queue (the server's, or the team's store) raises it.
    host.phone
        .handle_input(Input::Timeout(now + Duration::from_secs(3 * 3600)));
    assert_eq!(
        host.phone.interactions().len(),
        1,
        "not raised by this agent"
    );
    // Nor after a restart from the store.
    let stored = host.phone.interactions();
    let mut restarted = Host::new("agent", "127.0.0.1:5073", 33330, 6, false, now);
    let ask = |phone: &mut engine::Phone, at: Instant, request: engine::Request| {
        phone
            .handle_input(Input::Command {
                now: at,
                request: Box::new(request),
            })
            .expect("answered")
    };
    ask(
        &mut restarted.phone,
        now,
        engine::Request::Restore(stored.clone()),
    )
    .expect("restore");
    restarted
        .phone
        .handle_input(Input::Timeout(now + Duration::from_secs(3 * 3600)));
    assert_eq!(
        restarted.phone.interactions().len(),
        1,
        "not raised after a restart"
    );
    // Claimed from the team's queue (here the agent's own record), it is raised at once as a
    // new notified callback with the rescheduled number, pointing at nothing of this agent's.
    let raised = ask(
        &mut restarted.phone,
        now + Duration::from_secs(3 * 3600),
        engine::Request::RaiseTeamCallback(Box::new(stored[0].clone())),
    )
    .expect("raised")
    .into_interaction()
    .expect("an interaction");
    assert_ne!(raised.id, id);
    assert_eq!(raised.state, InteractionState::Notified);
    assert_eq!(raised.origin, None);
    assert_eq!(
        raised.callback.customer_number.as_deref(),
        Some("+1 555 0199")
    );
    assert_eq!(restarted.phone.interactions().len(), 2);
    // Accepted, it is a preview: no call until the agent calls the customer.
    let previewing = ask(
        &mut restarted.phone,
        now + Duration::from_secs(3 * 3600),
        engine::Request::Interaction {
            id: raised.id,
            command: InteractionCommand::Accept,
        },
    )
    .expect("accept")
    .into_interaction()
    .expect("an interaction");
    assert_eq!(previewing.state, InteractionState::Previewing);
    assert!(restarted.phone.calls().is_empty());
}

#[test]
fn a_callback_set_in_madrid_time_across_the_spring_change_rings_at_that_hour() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33340, 6, false, now);
    feed(&mut host, now, &invite("preview", "cb-dst@gms"));
    let id = host.phone.interactions().pop().expect("interaction").id;
    host.phone
        .interaction_command(now, id, InteractionCommand::Accept)
        .expect("accept");
    // The phone's wall clock reads 2026-11-25 15:00 UTC (16:00 in Madrid, +01:00). The agent
    // asks for Monday 29 March 2027 at 10:00 Madrid time: the clocks went forward on the 28th,
    // so that is 08:00 UTC; the offset of the day it was chosen (+01:00) would say 09:00.
    let request = api::Reschedule::local("2027-03-29", "10:00", "Europe/Madrid", None, true)
        .expect("a time Madrid has");
    assert_eq!(request.at, time::macros::datetime!(2027-03-29 08:00:00 UTC));
    reschedule_and_finish(&mut host, now, id, request);
    let due = (time::macros::datetime!(2027-03-29 08:00:00 UTC)
        - time::macros::datetime!(2026-11-25 15:00:00 UTC))
    .unsigned_abs();
    host.phone
        .handle_input(Input::Timeout(now + due - Duration::from_secs(1)));
    assert_eq!(host.phone.interactions().len(), 1, "not a second early");
    host.phone.handle_input(Input::Timeout(now + due));
    let raised = host
        .phone
        .interactions()
        .pop()
        .expect("raised at 10:00 Madrid");
    assert_eq!(raised.origin, Some(id));
    assert_eq!(raised.state, InteractionState::Notified);
    assert_eq!(
        raised.timeline[0].at,
        time::macros::datetime!(2027-03-29 08:00:00 UTC)
    );
}

#[test]
fn auto_answer_headers_are_honoured_only_when_the_policy_allows() {
    let cases = [
        ("Call-Info: <sip:127.0.0.1>;answer-after=0", true),
        ("Alert-Info: <http://127.0.0.1>;info=alert-autoanswer", true),
        ("Answer-Mode: Auto", true),
        ("Subject: no request", false),
    ];
    for (allowed, base) in [(false, 33400u16), (true, 33500)] {
        for (i, (header, requests)) in cases.iter().enumerate() {
            let now = Instant::now();
            let mut host = Host::new(
                "agent",
                "127.0.0.1:5073",
                base + 20 * i as u16,
                7,
                false,
                now,
            );
            host.set_callbacks(engine::CallbackSettings {
                honour_auto_answer: allowed,
                ..engine::CallbackSettings::default()
            });
            let call_id = format!("aa-{i}");
            let invite = sip_fixture(
                "sip/invite-autoanswer.sip",
                &[
                    ("header", header),
                    ("call_id", &call_id),
                    ("branch", &call_id),
                ],
            );
            let sent = feed(&mut host, now, &invite);
            let answered = sent.iter().any(|m| m.starts_with("SIP/2.0 200 OK"));
            assert_eq!(
                answered,
                allowed && *requests,
                "{header} with policy {allowed}"
            );
            if !answered {
                let ringing = sent
                    .iter()
                    .find(|m| m.starts_with("SIP/2.0 180"))
                    .expect("180");
                assert!(ringing.contains("Allow-Events: talk, hold"), "{ringing}");
            }
        }
    }
}

#[test]
fn notify_event_talk_answers_a_ringing_call() {
    let now = Instant::now();
    let mut host = Host::new("agent", "127.0.0.1:5073", 33700, 8, false, now);
    let sent = feed(&mut host, now, &invite("immediate", "talk-1@gms"));
    let tag = to_tag(
        sent.iter()
            .find(|m| m.starts_with("SIP/2.0 180"))
            .expect("180"),
    );
    let notify = |event: &str, cseq: &str| {
        sip_fixture(
            "sip/notify-talk.sip",
            &[
                ("to_tag", &tag),
                ("call_id", "talk-1@gms"),
                ("branch", event),
                ("event", event),
                ("cseq", cseq),
            ],
        )
    };
    let sent = feed(&mut host, now, &notify("presence", "2"));
    assert!(sent[0].starts_with("SIP/2.0 489 Bad Event"), "{sent:?}");
    let sent = feed(&mut host, now, &notify("talk", "3"));
    assert!(
        sent.iter()
            .any(|m| m.starts_with("SIP/2.0 200 OK") && m.contains("NOTIFY"))
    );
    assert!(
        sent.iter()
            .any(|m| m.starts_with("SIP/2.0 200 OK") && m.contains("INVITE"))
    );
    let interaction = host.phone.interactions().pop().expect("interaction");
    assert_eq!(interaction.state, InteractionState::Connected);
}
