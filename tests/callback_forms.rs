//! SIPp as a GMS-like server rings in every callback type with attached data in every form
//! (headers are in `interactions.rs`; here multipart JSON, CallUUID and User-to-User), asks
//! for auto-answer, answers remotely with `NOTIFY Event: talk`; and the preview flow runs
//! from Accept through Call (SIPp as the customer) to Done.

use std::path::Path;
use std::time::Duration;

use crate::support::{
    Headless, Proc, fixture, free_port, get_json, post_json, run_sipp, scratch, sipp_call_args,
    sipp_counts, wait_until,
};

fn write_config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config");
    path.display().to_string()
}

/// The first interaction in `state` whose callback type is `kind`, within a few seconds.
fn wait_for(agent: &Headless, state: &str, kind: &str) -> serde_json::Value {
    let mut found = None;
    let arrived = wait_until(Duration::from_secs(10), || {
        found = get_json(agent.control, &format!("/v1/interactions?state={state}"))
            .as_array()
            .and_then(|all| all.iter().find(|i| i["callback"]["type"] == kind).cloned());
        found.is_some()
    });
    assert!(
        arrived,
        "no {state} {kind} callback; log:\n{}",
        agent.proc.log_text()
    );
    found.expect("found")
}

fn sipp_proc(dir: &Path, name: &str, args: &[String]) -> Proc {
    crate::support::require("sipp");
    let mut command = std::process::Command::new("sipp");
    command
        .args(args)
        .args(["-nostdin", "-trace_screen", "-screen_file"])
        .arg(dir.join(format!("{name}-screen.txt")))
        .current_dir(dir);
    Proc::spawn(name, command, &dir.join(format!("{name}.log")))
}

#[test]
fn every_callback_type_arrives_with_multipart_json_and_user_to_user_data() {
    let dir = scratch("callback-forms");
    let customer_port = free_port();
    let mut customer = sipp_proc(
        &dir,
        "customer",
        &[
            "-sf".to_owned(),
            fixture("sipp/uas_answer.xml").display().to_string(),
            "-i".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            customer_port.to_string(),
            "-m".to_owned(),
            "1".to_owned(),
            "-timeout".to_owned(),
            "60".to_owned(),
        ],
    );
    let config = write_config(
        &dir,
        "recall.toml",
        &format!(
            "[callbacks]\ndial_domain = \"127.0.0.1:{customer_port}\"\ndisposition_mandatory = true\n"
        ),
    );
    let agent = Headless::start(&dir, &["--config", &config]);
    // Five callbacks, one at a time, a type per row of the injection file.
    let mut gms_args = sipp_call_args("sipp/uac_callback_multipart.xml", agent.sip);
    // sipp_call_args asks for one call; this run places five, one at a time.
    let m = gms_args.iter().position(|a| a == "-m").expect("-m");
    gms_args.drain(m..m + 2);
    let rows = fixture("sipp/callback_types.csv").display().to_string();
    gms_args.extend(["-inf", &rows, "-m", "5", "-l", "1", "-r", "10"].map(str::to_owned));
    let mut gms = sipp_proc(&dir, "gms", &gms_args);

    for (n, (kind, number, desired, state_after_accept)) in [
        (
            "immediate",
            "+1 555 0101",
            "2026-11-25T15:30:00Z",
            "connected",
        ),
        (
            "delayed",
            "+1 555 0102",
            "2026-11-25T16:00:00Z",
            "connected",
        ),
        (
            "scheduled",
            "+1 555 0103",
            "2026-12-24T09:00:00+01:00",
            "connected",
        ),
        (
            "preview",
            "+1 555 0104",
            "2026-11-25T16:00:00Z",
            "previewing",
        ),
        ("web", "+1 555 0105", "2026-11-25T17:45:00Z", "previewing"),
    ]
    .into_iter()
    .enumerate()
    {
        let interaction = wait_for(&agent, "notified", kind);
        let id = interaction["id"].as_str().expect("id").to_owned();
        let callback = &interaction["callback"];
        assert_eq!(callback["customer_number"], number, "{interaction}");
        assert_eq!(callback["desired_time"], desired, "{interaction}");
        assert_eq!(callback["instructions"], "Ask for the account holder");
        assert_eq!(callback["state"], "PROCESSING");
        let data = &interaction["attached_data"];
        assert_eq!(data["CallUUID"], format!("01MP{}", n + 1), "{interaction}");
        assert_eq!(data["IVR_Path"], "billing>refund");
        assert_eq!(data["User-to-User"], format!("case=471{}", n + 1));
        assert_eq!(interaction["attached_data_flags"], serde_json::json!([]));
        assert_eq!(
            interaction["channel"],
            if kind == "web" {
                "web_callback"
            } else {
                "voice"
            },
            "{interaction}"
        );

        let (status, view) = post_json(agent.control, &format!("/v1/interactions/{id}/accept"), "");
        assert_eq!(
            (status, view["state"].as_str()),
            (200, Some(state_after_accept)),
            "{kind}: {view}"
        );
        if kind != "preview" {
            continue;
        }
        // Preview: the agent reads the case, then Call dials the customer (SIPp, answering).
        let (status, view) = post_json(agent.control, &format!("/v1/interactions/{id}/call"), "");
        assert_eq!(
            (status, view["state"].as_str()),
            (200, Some("dialing")),
            "{view}"
        );
        assert!(wait_until(Duration::from_secs(5), || {
            get_json(agent.control, &format!("/v1/interactions/{id}"))["state"] == "connected"
        }));
        let call = agent
            .calls()
            .into_iter()
            .find(|c| c["interaction_id"] == id.as_str() && c["state"] == "connected")
            .expect("the customer call");
        assert_eq!(
            call["remote"],
            format!("sip:+15550104@127.0.0.1:{customer_port}")
        );
        std::thread::sleep(Duration::from_millis(500));
        let call_id = call["id"].as_str().expect("call id");
        let (status, _) = post_json(agent.control, &format!("/v1/calls/{call_id}/hangup"), "");
        assert_eq!(status, 200);
        let (status, body) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
        assert_eq!(status, 409, "a disposition is mandatory: {body}");
        let (status, _) = post_json(
            agent.control,
            &format!("/v1/interactions/{id}/disposition"),
            r#"{"code": "resolved"}"#,
        );
        assert_eq!(status, 200);
        let (status, done) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
        assert_eq!(
            (status, done["state"].as_str()),
            (200, Some("done")),
            "{done}"
        );
        let kinds: Vec<&str> = done["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "notified",
                "accepted",
                "dialing",
                "connected",
                "ended",
                "disposition",
                "done"
            ]
        );
    }
    assert!(
        gms.wait(Duration::from_secs(30)).success(),
        "{}",
        gms.log_text()
    );
    let screen = std::fs::read_to_string(dir.join("gms-screen.txt")).unwrap_or_default();
    assert_eq!(sipp_counts(&screen), (5, 0), "{screen}");
    assert!(
        customer.wait(Duration::from_secs(10)).success(),
        "{}",
        customer.log_text()
    );
}

/// The three ways a server asks for auto-answer.
const AUTO_ANSWER_HEADERS: [&str; 3] = [
    "Call-Info: <sip:gms.example>;answer-after=1",
    "Alert-Info: <http://127.0.0.1/ring>;info=alert-autoanswer",
    "Answer-Mode: Auto",
];

fn auto_answer_call(
    dir: &Path,
    agent: &Headless,
    scenario: &str,
    header: &str,
    name: &str,
) -> (u64, u64) {
    let mut args = sipp_call_args(scenario, agent.sip);
    args.extend([
        "-key".to_owned(),
        "autoanswer".to_owned(),
        header.to_owned(),
    ]);
    let (_, screen) = run_sipp(dir, name, &args, Duration::from_secs(20));
    sipp_counts(&screen)
}

fn last_interaction(agent: &Headless) -> serde_json::Value {
    get_json(agent.control, "/v1/interactions")
        .as_array()
        .and_then(|a| a.last().cloned())
        .expect("an interaction")
}

#[test]
fn auto_answer_headers_answer_only_when_the_policy_allows() {
    let dir = scratch("auto-answer-policy");
    let allowed = write_config(
        &dir,
        "allowed.toml",
        "[callbacks]\nhonour_auto_answer = true\n",
    );
    let agent = Headless::start(&dir, &["--config", &allowed]);
    for (i, header) in AUTO_ANSWER_HEADERS.iter().enumerate() {
        assert_eq!(
            auto_answer_call(
                &dir,
                &agent,
                "sipp/uac_autoanswer.xml",
                header,
                &format!("allowed-{i}")
            ),
            (1, 0),
            "{header} answered with no agent action"
        );
        let interaction = last_interaction(&agent);
        assert_eq!(
            interaction["timeline"][1]["kind"], "accepted",
            "{header}: {interaction}"
        );
    }
    drop(agent);

    // The default policy: the same requests only ring (SIPp cancels after 1.5 s).
    let ignoring = Headless::start(&dir, &[]);
    for (i, header) in AUTO_ANSWER_HEADERS.iter().enumerate() {
        assert_eq!(
            auto_answer_call(
                &dir,
                &ignoring,
                "sipp/uac_autoanswer_ignored.xml",
                header,
                &format!("ignored-{i}")
            ),
            (1, 0),
            "{header} only rang"
        );
        let interaction = last_interaction(&ignoring);
        assert_eq!(interaction["state"], "missed", "{header}: {interaction}");
    }
}

#[test]
fn notify_event_talk_answers_a_ringing_callback_and_a_configured_reject_code_is_sent() {
    let dir = scratch("notify-talk");
    let config = write_config(&dir, "recall.toml", "[callbacks]\nreject_status = 603\n");
    let agent = Headless::start(&dir, &["--config", &config]);
    let (_, screen) = run_sipp(
        &dir,
        "notify",
        &sipp_call_args("sipp/uac_notify_talk.xml", agent.sip),
        Duration::from_secs(20),
    );
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    let interaction = last_interaction(&agent);
    let kinds: Vec<&str> = interaction["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["notified", "accepted", "connected", "ended"],
        "{interaction}"
    );

    // Reject with no status in the request: the configured 603 goes out.
    let sipp =
        crate::support::sipp_in_background(&dir, "rejected", "sipp/uac_rejected.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions?state=notified")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let id = get_json(agent.control, "/v1/interactions?state=notified")[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, view) = post_json(agent.control, &format!("/v1/interactions/{id}/reject"), "");
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("rejected")),
        "{view}"
    );
    assert_eq!(view["timeline"][1]["status"], 603, "{view}");
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "SIPp saw the 603: {screen}");
}
