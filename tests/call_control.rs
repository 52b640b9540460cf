//! Call control against SIPp as the remote party: hold and resume (direction checked by
//! regex), a remote hold, call waiting, blind transfer (REFER, NOTIFY sipfrag 100 → 200) and
//! its faults (target busy, no answer to the REFER), being transferred (a REFER to recall),
//! an INVITE with Replaces taking over a call, and a BYE from the held party during a
//! consultation.

use std::path::Path;
use std::time::Duration;

use crate::support::{
    Headless, Proc, get_json, post_json, run_sipp, scratch, sipp_call_args, sipp_counts,
    sipp_finished, sipp_in_background, sipp_uas, wait_until,
};

/// Waits for a SIPp started by `sipp_uas` and returns its (successful, failed) counts.
fn finished(dir: &Path, name: &str, proc: &mut Proc) -> (u64, u64) {
    sipp_finished(dir, name, proc, Duration::from_secs(40))
}

fn call(agent: &Headless, id: &str) -> serde_json::Value {
    get_json(agent.control, &format!("/v1/calls/{id}"))
}

fn wait_state(agent: &Headless, id: &str, state: &str) -> bool {
    wait_until(Duration::from_secs(10), || {
        call(agent, id)["state"] == state
    })
}

/// recall dials `port` through the API; returns the call id once connected.
fn dial_connected(agent: &Headless, port: u16, user: &str) -> String {
    let (status, view) = post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:{user}@127.0.0.1:{port}"}}"#),
    );
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().expect("id").to_owned();
    assert!(
        wait_state(agent, &id, "connected"),
        "not connected: {}",
        call(agent, &id)
    );
    id
}

#[test]
fn hold_and_resume_reach_the_peer_as_sendonly_then_sendrecv() {
    let dir = scratch("cc-hold");
    let agent = Headless::start(&dir, &[]);
    let (mut sipp, port) = sipp_uas(&dir, "peer", "sipp/uas_hold_resume.xml", &[]);
    let id = dial_connected(&agent, port, "peer");
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hold"), "");
    assert_eq!(status, 200);
    assert!(wait_state(&agent, &id, "held"), "{}", call(&agent, &id));
    let (status, body) = post_json(agent.control, &format!("/v1/calls/{id}/hold"), "");
    assert_eq!(status, 409, "holding twice: {body}");
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/resume"), "");
    assert_eq!(status, 200);
    assert!(wait_state(&agent, &id, "connected"));
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(
        finished(&dir, "peer", &mut sipp),
        (1, 0),
        "the peer saw sendonly, then sendrecv"
    );
}

#[test]
fn a_remote_hold_is_answered_recvonly_then_sendrecv() {
    let dir = scratch("cc-remote-hold");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let (_, screen) = run_sipp(
        &dir,
        "holder",
        &sipp_call_args("sipp/uac_remote_hold.xml", agent.sip),
        Duration::from_secs(20),
    );
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
}

#[test]
fn answering_a_second_call_puts_the_first_on_hold() {
    let dir = scratch("cc-waiting");
    let agent = Headless::start(&dir, &[]);
    let first = sipp_in_background(&dir, "first", "sipp/uac_waiting.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || agent.calls().len() == 1));
    let a = agent.calls()[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{a}/answer"), "");
    assert_eq!(status, 200);
    let second = sipp_in_background(&dir, "second", "sipp/uac.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || agent.calls().len() == 2));
    let b = agent.calls()[1]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        call(&agent, &b)["state"],
        "ringing",
        "the second call is notified"
    );
    assert_eq!(call(&agent, &a)["state"], "connected");
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{b}/answer"), "");
    assert_eq!(status, 200);
    assert!(wait_state(&agent, &a, "held"), "{}", call(&agent, &a));
    let (_, screen) = first.join().expect("first");
    assert_eq!(
        sipp_counts(&screen),
        (1, 0),
        "the first caller was held: {screen}"
    );
    let (_, screen) = second.join().expect("second");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
}

#[test]
fn a_blind_transfer_completes_when_the_sipfrag_says_200() {
    let dir = scratch("cc-blind");
    let agent = Headless::start(&dir, &[]);
    let (mut sipp, port) = sipp_uas(&dir, "transferee", "sipp/uas_refer.xml", &[]);
    let id = dial_connected(&agent, port, "transferee");
    let (status, view) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/transfer"),
        r#"{"target": "sip:transfer-target@127.0.0.1:9"}"#,
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["transfer"], "trying");
    assert_eq!(
        finished(&dir, "transferee", &mut sipp),
        (1, 0),
        "REFER, NOTIFY 100, NOTIFY 200, BYE"
    );
    let view = call(&agent, &id);
    assert_eq!(
        (view["state"].as_str(), view["transfer"].as_str()),
        (Some("ended"), Some("confirmed")),
        "{view}"
    );
}

#[test]
fn a_busy_transfer_target_brings_the_call_back_with_a_clear_message() {
    let dir = scratch("cc-busy");
    let agent = Headless::start(&dir, &[]);
    let (mut sipp, port) = sipp_uas(&dir, "transferee", "sipp/uas_refer_busy.xml", &[]);
    let id = dial_connected(&agent, port, "transferee");
    let (status, _) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/transfer"),
        r#"{"target": "sip:transfer-target@127.0.0.1:9"}"#,
    );
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let view = call(&agent, &id);
            view["state"] == "connected"
                && view["transfer"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("failed"))
        }),
        "{}",
        call(&agent, &id)
    );
    assert_eq!(
        call(&agent, &id)["transfer"],
        "failed: the target answered 486 Busy Here"
    );
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(
        finished(&dir, "transferee", &mut sipp),
        (1, 0),
        "taken off hold, then BYE"
    );
}

#[test]
fn a_refer_nobody_answers_times_out_and_the_call_comes_back() {
    let dir = scratch("cc-silent");
    let config = dir.join("fast.toml");
    // T1 = 50 ms: the REFER transaction gives up after 64 × T1 = 3.2 s.
    std::fs::write(&config, "[sip]\nt1_ms = 50\n").expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let (mut sipp, port) = sipp_uas(&dir, "transferee", "sipp/uas_refer_silent.xml", &[]);
    let id = dial_connected(&agent, port, "transferee");
    let (status, _) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/transfer"),
        r#"{"target": "sip:transfer-target@127.0.0.1:9"}"#,
    );
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let view = call(&agent, &id);
            view["state"] == "connected"
                && view["transfer"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("failed"))
        }),
        "{}",
        call(&agent, &id)
    );
    assert_eq!(
        call(&agent, &id)["transfer"],
        "failed: the peer refused the transfer (408)"
    );
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(finished(&dir, "transferee", &mut sipp), (1, 0));
}

#[test]
fn a_refer_to_recall_makes_it_call_the_target_and_report_back() {
    let dir = scratch("cc-transferee");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let (mut target, target_port) = sipp_uas(&dir, "target", "sipp/uas_answer.xml", &[]);
    let mut args = sipp_call_args("sipp/uac_refer.xml", agent.sip);
    args.extend([
        "-key".to_owned(),
        "target".to_owned(),
        format!("sip:target@127.0.0.1:{target_port}"),
    ]);
    let (_, screen) = run_sipp(&dir, "transferor", &args, Duration::from_secs(30));
    assert_eq!(
        sipp_counts(&screen),
        (1, 0),
        "NOTIFY 100, 180, 200 came back: {screen}"
    );
    // recall now talks to the target, and the transferor's call is over.
    let calls = agent.calls();
    let to_target = calls
        .iter()
        .find(|c| {
            c["remote"]
                .as_str()
                .is_some_and(|r| r.contains(&target_port.to_string()))
        })
        .expect("a call to the target");
    assert_eq!(to_target["state"], "connected", "{to_target}");
    let id = to_target["id"].as_str().expect("id").to_owned();
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(finished(&dir, "target", &mut target), (1, 0));
}

#[test]
fn an_invite_with_replaces_takes_over_the_call_it_names() {
    let dir = scratch("cc-replaces");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let mut args = sipp_call_args("sipp/uac_replaced.xml", agent.sip);
    args.push("-trace_logs".to_owned());
    let replaced = {
        let (dir, args) = (dir.clone(), args.clone());
        std::thread::spawn(move || run_sipp(&dir, "replaced", &args, Duration::from_secs(30)))
    };
    // The first call's dialog, as SIPp logged it.
    let mut replaces = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let logs = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with("_logs.log"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect::<String>();
            if let Some(line) = logs.lines().find_map(|l| l.split("REPLACES ").nth(1)) {
                replaces = line.trim().to_owned();
            }
            !replaces.is_empty()
        }),
        "SIPp logged the dialog"
    );
    let first = agent.calls()[0]["id"].as_str().expect("id").to_owned();
    let mut args = sipp_call_args("sipp/uac_replaces.xml", agent.sip);
    args.extend(["-key".to_owned(), "replaces".to_owned(), replaces]);
    let (_, screen) = run_sipp(&dir, "replacing", &args, Duration::from_secs(20));
    assert_eq!(
        sipp_counts(&screen),
        (1, 0),
        "the INVITE with Replaces was answered: {screen}"
    );
    let (_, screen) = replaced.join().expect("replaced");
    assert_eq!(
        sipp_counts(&screen),
        (1, 0),
        "the replaced call got its BYE: {screen}"
    );
    assert_eq!(call(&agent, &first)["state"], "ended");
    assert_eq!(call(&agent, &first)["end_reason"], "hung up locally");
}

#[test]
fn a_bye_from_the_held_party_during_a_consultation_leaves_the_consultation_up() {
    let dir = scratch("cc-consult-bye");
    let agent = Headless::start(&dir, &[]);
    let (mut held, held_port) = sipp_uas(&dir, "held", "sipp/uas_hold_then_bye.xml", &[]);
    let (mut consulted, consulted_port) = sipp_uas(&dir, "consulted", "sipp/uas_answer.xml", &[]);
    let id = dial_connected(&agent, held_port, "held");
    let (status, consult) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/consult"),
        &format!(r#"{{"target": "sip:consulted@127.0.0.1:{consulted_port}"}}"#),
    );
    assert_eq!(status, 200, "{consult}");
    assert_eq!(consult["consultation_of"], id.as_str());
    let consult_id = consult["id"].as_str().expect("id").to_owned();
    assert!(wait_state(&agent, &consult_id, "connected"));
    // The held party gives up after 1.5 s.
    assert_eq!(finished(&dir, "held", &mut held), (1, 0));
    assert!(wait_state(&agent, &id, "ended"));
    assert_eq!(call(&agent, &id)["end_reason"], "remote party hung up");
    assert_eq!(
        call(&agent, &consult_id)["state"],
        "connected",
        "the consultation goes on"
    );
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/calls/{consult_id}/transfer"),
        &format!(r#"{{"replaces": "{id}"}}"#),
    );
    assert_eq!(status, 409, "nothing left to transfer to: {body}");
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{consult_id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(finished(&dir, "consulted", &mut consulted), (1, 0));
}

#[test]
fn bad_call_control_requests_get_clear_errors() {
    let dir = scratch("cc-bad");
    let agent = Headless::start(&dir, &[]);
    let (status, body) = post_json(
        agent.control,
        "/v1/calls/c-9/transfer",
        r#"{"target": "sip:x@127.0.0.1"}"#,
    );
    assert_eq!(status, 404, "{body}");
    let (mut sipp, port) = sipp_uas(&dir, "peer", "sipp/uas_answer.xml", &[]);
    let id = dial_connected(&agent, port, "peer");
    for (action, request, expected) in [
        ("transfer", "{}", 422),
        ("transfer", r#"{"replaces": "nonsense"}"#, 422),
        ("consult", "{}", 400),
        ("conference", "{}", 422),
        ("conference", &format!(r#"{{"with": "{id}"}}"#), 422),
        ("transfer", r#"{"colour": "red"}"#, 400),
    ] {
        let (status, body) = post_json(agent.control, &format!("/v1/calls/{id}/{action}"), request);
        assert_eq!(status, expected, "{action} {request}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(finished(&dir, "peer", &mut sipp), (1, 0));
}
