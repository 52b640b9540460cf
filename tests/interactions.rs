//! Callback interactions over the control API: a SIPp "GMS" rings in a callback with attached
//! data; the agent accepts, sends digits, the customer hangs up, the agent wraps up to Done.

use std::time::Duration;

use crate::support::{
    Headless, fixture, free_port, get_json, http, post_json, run_sipp, scratch, sipp_call_args,
    sipp_counts, sipp_in_background, wait_until,
};

#[test]
fn a_callback_is_worked_from_notification_to_done_through_the_api() {
    let dir = scratch("api-interaction");
    let agent = Headless::start(&dir, &[]);
    let sipp = sipp_in_background(&dir, "sipp-callback", "sipp/uac_callback.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let list = get_json(agent.control, "/v1/interactions?state=notified");
    let interaction = &list[0];
    let id = interaction["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("i-"));
    assert_eq!(interaction["callback"]["type"], "scheduled");
    assert_eq!(interaction["callback"]["customer_number"], "+1 555 0100");
    assert_eq!(
        interaction["callback"]["desired_time"],
        "2026-11-25T15:30:00Z"
    );
    assert_eq!(interaction["callback"]["service_name"], "Billing");
    assert_eq!(
        interaction["attached_data"]["Language"],
        serde_json::json!(["es", "en"])
    );
    // The shape PRODUCT.md fixes.
    assert_eq!(interaction["channel"], "voice");
    assert_eq!(interaction["direction"], "inbound");
    assert_eq!(interaction["call_id"], agent.calls()[0]["id"]);
    assert!(
        interaction["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("sip:sipp@127.0.0.1")),
        "{interaction}"
    );
    let search = get_json(agent.control, "/v1/interactions?q=billing");
    assert_eq!(search.as_array().map(Vec::len), Some(1));
    let count = |query: &str| {
        get_json(agent.control, &format!("/v1/interactions?{query}"))
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(
        count("from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z"),
        1
    );
    assert_eq!(count("from=2999-01-01T00:00:00Z"), 0);
    assert_eq!(count("to=2000-01-01T00:00:00Z"), 0);
    assert_eq!(count("state=done"), 0);
    for bad in [
        "from=yesterday",
        "state=sleepy",
        "limit=0",
        "limit=x",
        "colour=red",
    ] {
        let (status, body) = http(
            agent.control,
            "GET",
            &format!("/v1/interactions?{bad}"),
            None,
            None,
        );
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("\"error\""), "{bad}: {body}");
    }

    let (status, view) = post_json(agent.control, &format!("/v1/interactions/{id}/accept"), "");
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("connected")),
        "{view}"
    );
    let (status, body) = post_json(agent.control, &format!("/v1/interactions/{id}/accept"), "");
    assert_eq!(status, 409, "accepting twice: {body}");
    let call = agent.calls()[0]["id"].as_str().expect("call id").to_owned();
    assert_eq!(agent.calls()[0]["interaction_id"], id.as_str());
    let (status, _) = post_json(
        agent.control,
        &format!("/v1/calls/{call}/dtmf"),
        r#"{"digits": "12#"}"#,
    );
    assert_eq!(status, 200);

    // The customer hangs up after two seconds.
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, &format!("/v1/interactions/{id}"))["state"] == "ended"
    }));

    let (status, body) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/reschedule"),
        r#"{"at": "2001-01-01T00:00:00Z"}"#,
    );
    assert_eq!(status, 422, "a reschedule into the past: {body}");
    // A wall-clock time in a named zone: July in Madrid is +02:00.
    for (request, expect) in [
        (
            r#"{"local": "2099-07-01T10:00", "time_zone": "Mars/Olympus"}"#,
            "unknown time zone",
        ),
        (
            r#"{"local": "2099-03-29T02:30", "time_zone": "Europe/Madrid"}"#,
            "does not exist in Europe/Madrid",
        ),
        (r#"{"local": "2099-07-01T10:00"}"#, "time_zone"),
        (
            r#"{"local": "2099-07-01T10:00", "at": "2099-07-01T10:00:00Z", "time_zone": "UTC"}"#,
            "not both",
        ),
    ] {
        let (status, body) = post_json(
            agent.control,
            &format!("/v1/interactions/{id}/reschedule"),
            request,
        );
        assert_eq!(status, 400, "{request}: {body}");
        assert!(body.to_string().contains(expect), "{request}: {body}");
    }
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/reschedule"),
        r#"{"local": "2099-07-01T10:00", "time_zone": "europe/madrid", "personal": true}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["reschedule"]["at"], "2099-07-01T10:00:00+02:00",
        "{body}"
    );
    assert_eq!(body["reschedule"]["time_zone"], "Europe/Madrid", "{body}");
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/disposition"),
        r#"{"code": "nope"}"#,
    );
    assert_eq!(status, 422, "{body}");
    // Disposition and note can be changed until Done.
    for (action, body) in [
        ("disposition", r#"{"code": "busy"}"#),
        ("note", r#"{"text": "Line busy"}"#),
        ("disposition", r#"{"code": "resolved"}"#),
        ("note", r#"{"text": "Paid by card"}"#),
    ] {
        let (status, view) = post_json(
            agent.control,
            &format!("/v1/interactions/{id}/{action}"),
            body,
        );
        assert_eq!(status, 200, "{action}: {view}");
    }
    let (status, done) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("done")),
        "{done}"
    );
    assert_eq!(done["disposition"], "resolved");
    assert_eq!(done["note"], "Paid by card");
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
            "connected",
            "dtmf",
            "ended",
            "rescheduled",
            "disposition",
            "note",
            "disposition",
            "note",
            "done"
        ]
    );
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/note"),
        r#"{"text": "too late"}"#,
    );
    assert_eq!(status, 409, "no change after Done: {body}");
    let dtmf = done["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "dtmf"))
        .expect("dtmf entry");
    assert_eq!(dtmf["digits"], "12#");

    let (status, _) = http(agent.control, "GET", "/v1/interactions/i-999", None, None);
    assert_eq!(status, 404);
    let (status, body) = http(
        agent.control,
        "PUT",
        "/v1/agent/state",
        Some(r#"{"voice": "not_ready"}"#),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(agent.status()["agent"]["voice"], "not_ready");
    let (status, _) = http(
        agent.control,
        "PUT",
        "/v1/agent/state",
        Some(r#"{"voice": "sleepy"}"#),
        None,
    );
    assert_eq!(status, 400);
}

#[test]
fn an_acknowledged_note_survives_kill_9_mid_call() {
    let dir = scratch("kill9");
    let db = dir.join("recall.db");
    let db_arg = db.display().to_string();
    let mut agent = Headless::start(&dir, &["--db", &db_arg]);
    crate::support::require("sipp");
    let mut command = std::process::Command::new("sipp");
    command
        .args([
            "-sf",
            &fixture("sipp/uac_callback.xml").display().to_string(),
        ])
        .arg(agent.sip.to_string())
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string(), "-m", "1"])
        .args(["-nostdin", "-timeout", "20"])
        .current_dir(&dir);
    let sipp = crate::support::Proc::spawn("sipp", command, &dir.join("sipp.log"));
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let (status, _) = post_json(agent.control, "/v1/interactions/i-1/accept", "");
    assert_eq!(status, 200);
    let (status, view) = post_json(
        agent.control,
        "/v1/interactions/i-1/note",
        r#"{"text": "Customer wants a refund"}"#,
    );
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("connected")),
        "{view}"
    );
    // Mid-call, right after the acknowledgement: SIGKILL, no chance to flush anything.
    agent.proc.child.kill().expect("kill -9");
    let _ = agent.proc.child.wait();
    drop(sipp);

    let restarted = Headless::start(&dir, &["--db", &db_arg]);
    let back = get_json(restarted.control, "/v1/interactions/i-1");
    assert_eq!(back["note"], "Customer wants a refund", "{back}");
    assert_eq!(back["callback"]["customer_number"], "+1 555 0100");
    assert_eq!(
        back["state"], "ended",
        "the lost call is ended on recovery: {back}"
    );
    let kinds: Vec<&str> = back["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["notified", "accepted", "connected", "note", "ended"]
    );
    let (status, body) = post_json(restarted.control, "/v1/interactions/i-1/done", "");
    assert_eq!(status, 200, "{body}");

    // The history exports as CSV and JSON, with a time range.
    let export = |args: &[&str]| {
        let output = crate::support::recall()
            .args(["export", "--db", &db_arg])
            .args(args)
            .output()
            .expect("run export");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, csv, _) = export(&["--format", "csv"]);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,state,type,customer_number,desired_time,service_name,disposition,note,dtmf,created_at,updated_at,recordings"
    );
    assert!(
        lines[1].starts_with(
            "i-1,done,scheduled,+1 555 0100,2026-11-25T15:30:00Z,Billing,,Customer wants a refund,,"
        ),
        "{csv}"
    );
    let (code, json, _) = export(&["--format", "json", "--from", "2000-01-01T00:00:00Z"]);
    assert_eq!(code, Some(0));
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(parsed[0]["note"], "Customer wants a refund");
    let (code, json, _) = export(&["--format", "json", "--from", "2999-01-01T00:00:00Z"]);
    assert_eq!((code, json.trim()), (Some(0), "[]"));
    let (code, _, stderr) = export(&["--format", "csv", "--to", "yesterday"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("recall: --to \"yesterday\" is not an RFC 3339 time"),
        "{stderr}"
    );
}

#[test]
fn an_unusable_database_stops_the_start_with_a_clear_message() {
    let dir = scratch("bad-db");
    let corrupt = dir.join("corrupt.db");
    std::fs::write(&corrupt, vec![b'x'; 4096]).expect("write");
    for (db, expected) in [
        (
            "/nonexistent-dir/recall.db".to_owned(),
            "cannot open the database /nonexistent-dir/recall.db",
        ),
        (corrupt.display().to_string(), "is not usable"),
    ] {
        let output = crate::support::recall()
            .args([
                "headless",
                "--listen",
                "udp:127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
                "--db",
                &db,
            ])
            .output()
            .expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.trim().lines().last().unwrap_or_default().to_owned();
        assert!(
            last.starts_with("recall: ") && last.contains(expected),
            "{stderr}"
        );
    }
}

#[test]
fn a_rescheduled_callback_comes_back_and_the_agent_calls_the_customer() {
    let dir = scratch("preview-call");
    // The customer: a SIPp callee that answers.
    crate::support::require("sipp");
    let customer_port = free_port();
    let mut command = std::process::Command::new("sipp");
    command
        .args(["-sf", &fixture("sipp/uas_answer.xml").display().to_string()])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &customer_port.to_string(),
            "-m",
            "1",
        ])
        .args(["-nostdin", "-timeout", "30"])
        .current_dir(&dir);
    let mut customer = crate::support::Proc::spawn("customer", command, &dir.join("customer.log"));
    let config = dir.join("callbacks.toml");
    std::fs::write(
        &config,
        format!(
            "[callbacks]\ndial_domain = \"127.0.0.1:{customer_port}\"\ndisposition_mandatory = true\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);

    // A callback rings in; while it rings, the agent reschedules it a few seconds ahead.
    let sipp = crate::support::Proc::spawn(
        "gms",
        {
            let mut c = std::process::Command::new("sipp");
            c.args([
                "-sf",
                &fixture("sipp/uac_callback.xml").display().to_string(),
            ])
            .arg(agent.sip.to_string())
            .args(["-i", "127.0.0.1", "-p", &free_port().to_string(), "-m", "1"])
            .args(["-nostdin", "-timeout", "20"])
            .current_dir(&dir);
            c
        },
        &dir.join("gms.log"),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let (status, body) = post_json(
        agent.control,
        "/v1/interactions/i-1/reschedule",
        &format!(r#"{{"at": "{soon}", "number": "+1 555 0199", "personal": true}}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        wait_until(Duration::from_secs(6), || {
            http(agent.control, "GET", "/v1/interactions/i-2", None, None).0 == 200
        }),
        "the callback was raised again at its time"
    );
    let raised = get_json(agent.control, "/v1/interactions/i-2");
    assert_eq!(raised["origin"], "i-1");
    assert_eq!(raised["callback"]["type"], "scheduled");
    assert_eq!(raised["callback"]["customer_number"], "+1 555 0199");
    drop(sipp);

    // Preview: accept, then Call dials the customer through the dial plan.
    let (status, view) = post_json(agent.control, "/v1/interactions/i-2/accept", "");
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("previewing")),
        "{view}"
    );
    let (status, view) = post_json(agent.control, "/v1/interactions/i-2/call", "");
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("dialing")),
        "{view}"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions/i-2")["state"] == "connected"
    }));
    let call = agent
        .calls()
        .into_iter()
        .find(|c| c["interaction_id"] == "i-2")
        .expect("the customer call");
    assert_eq!(
        call["remote"],
        format!("sip:+15550199@127.0.0.1:{customer_port}")
    );
    std::thread::sleep(Duration::from_secs(1));
    let id = call["id"].as_str().expect("id");
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert!(
        customer.wait(Duration::from_secs(10)).success(),
        "{}",
        customer.log_text()
    );
    let (status, body) = post_json(agent.control, "/v1/interactions/i-2/done", "");
    assert_eq!(status, 409, "a disposition is mandatory: {body}");
    assert_eq!(
        body["error"],
        "choose a disposition before marking the interaction done"
    );
    let (status, _) = post_json(
        agent.control,
        "/v1/interactions/i-2/disposition",
        r#"{"code": "resolved"}"#,
    );
    assert_eq!(status, 200);
    let (status, done) = post_json(agent.control, "/v1/interactions/i-2/done", "");
    assert_eq!(
        (status, done["state"].as_str()),
        (200, Some("done")),
        "{done}"
    );
}

/// Runs one SIPp caller with `scenario` against `agent`; returns (successful, failed).
fn one_call(dir: &std::path::Path, agent: &Headless, scenario: &str, name: &str) -> (u64, u64) {
    let args = sipp_call_args(scenario, agent.sip);
    let (_, screen) = run_sipp(dir, name, &args, Duration::from_secs(30));
    sipp_counts(&screen)
}

fn last_interaction(agent: &Headless) -> serde_json::Value {
    get_json(agent.control, "/v1/interactions")
        .as_array()
        .and_then(|a| a.last().cloned())
        .expect("an interaction")
}

#[test]
fn not_ready_cancel_and_preview_timeout_each_leave_a_missed_interaction() {
    let dir = scratch("missed");
    let config = dir.join("timeout.toml");
    std::fs::write(
        &config,
        "[callbacks]\npreview_timeout = 1\non_timeout = \"reject\"\n",
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);

    // Not Ready: 486 with no agent action.
    let (status, _) = http(
        agent.control,
        "PUT",
        "/v1/agent/state",
        Some(r#"{"voice": "not_ready"}"#),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        one_call(&dir, &agent, "sipp/uac_refused_486.xml", "not-ready"),
        (1, 0)
    );
    let missed = last_interaction(&agent);
    assert_eq!(missed["state"], "missed", "{missed}");
    assert_eq!(missed["timeline"][1]["reason"], "agent not ready (486)");

    // Ready again: the server cancels while it rings (200 + 487).
    let (status, _) = http(
        agent.control,
        "PUT",
        "/v1/agent/state",
        Some(r#"{"voice": "ready"}"#),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        one_call(&dir, &agent, "sipp/uac_cancel.xml", "cancel"),
        (1, 0)
    );
    let cancelled = last_interaction(&agent);
    assert_eq!(cancelled["state"], "missed", "{cancelled}");
    assert_eq!(cancelled["callback"]["type"], "immediate");
    assert_eq!(cancelled["timeline"][1]["reason"], "caller cancelled");

    // Nobody answers within the preview timeout: refused locally with 480.
    assert_eq!(
        one_call(&dir, &agent, "sipp/uac_refused_480.xml", "timeout"),
        (1, 0)
    );
    let timed_out = last_interaction(&agent);
    assert_eq!(timed_out["state"], "missed", "{timed_out}");
    assert_eq!(timed_out["timeline"][1]["reason"], "preview timeout (480)");
}

#[test]
fn contacts_match_incoming_callbacks_and_responses_are_searchable() {
    let dir = scratch("directory");
    let db = dir.join("recall.db").display().to_string();
    let agent = Headless::start(&dir, &["--db", &db]);
    let (status, ana) = post_json(
        agent.control,
        "/v1/contacts",
        r#"{"name": "Ana Ruiz", "numbers": ["+1 (555) 0100"], "email": "ana@example.com"}"#,
    );
    assert_eq!((status, ana["id"].as_u64()), (201, Some(1)), "{ana}");
    let (status, body) = post_json(agent.control, "/v1/contacts", r#"{"numbers": ["1"]}"#);
    assert_eq!(status, 422, "a contact needs a name: {body}");
    let (status, _) = http(
        agent.control,
        "PUT",
        "/v1/contacts/1",
        Some(r#"{"name": "Ana Ruiz García", "numbers": ["+1 (555) 0100"]}"#),
        None,
    );
    assert_eq!(status, 200);
    let (status, _) = http(
        agent.control,
        "PUT",
        "/v1/contacts/9",
        Some(r#"{"name": "x"}"#),
        None,
    );
    assert_eq!(status, 404);

    // The callback's customer number (+1 555 0100) matches Ana.
    let sipp = sipp_in_background(&dir, "sipp-directory", "sipp/uac_callback.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let interaction = last_interaction(&agent);
    assert_eq!(
        interaction["contact"]["name"], "Ana Ruiz García",
        "{interaction}"
    );
    let (status, _) = post_json(agent.control, "/v1/interactions/i-1/reject", "");
    assert_eq!(status, 200);
    let _ = sipp.join();

    for (title, body) in [
        ("Refund policy", "Refunds take five working days."),
        ("Opening hours", "We open at nine."),
    ] {
        let (status, _) = post_json(
            agent.control,
            "/v1/responses",
            &format!(r#"{{"title": "{title}", "body": "{body}"}}"#),
        );
        assert_eq!(status, 201);
    }
    let found = get_json(agent.control, "/v1/responses?q=refund%20days");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["title"], "Refund policy");
    let (status, _) = http(agent.control, "DELETE", "/v1/responses/2", None, None);
    assert_eq!(status, 204);
    let (status, _) = http(agent.control, "DELETE", "/v1/contacts/1", None, None);
    assert_eq!(status, 204);
    let (status, _) = http(agent.control, "DELETE", "/v1/contacts/1", None, None);
    assert_eq!(status, 404);
    assert_eq!(
        get_json(agent.control, "/v1/responses")
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn the_demo_seed_fills_an_empty_directory_once() {
    let dir = scratch("seed");
    let db = dir.join("recall.db").display().to_string();
    let demo = fixture("demo").display().to_string();
    let count = |agent: &Headless, what: &str| {
        get_json(agent.control, &format!("/v1/{what}"))
            .as_array()
            .map_or(0, Vec::len)
    };

    let mut agent = Headless::start(&dir, &["--db", &db, "--seed", &demo]);
    assert_eq!(count(&agent, "contacts"), 9);
    assert_eq!(count(&agent, "responses"), 8);
    let found = get_json(agent.control, "/v1/responses?q=refund");
    assert_eq!(found[0]["title"], "Refund timeline", "{found}");
    // The demo's callback customer (+1 555 0100) is a seeded contact.
    let sipp = sipp_in_background(&dir, "sipp-seed", "sipp/uac_callback.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || count(
        &agent,
        "interactions"
    ) > 0));
    assert_eq!(last_interaction(&agent)["contact"]["name"], "Ana Ruiz");
    let (status, _) = post_json(agent.control, "/v1/interactions/i-1/reject", "");
    assert_eq!(status, 200);
    let _ = sipp.join();
    // The agent's edits stand: seeding again neither duplicates nor brings back what went.
    let (status, _) = http(agent.control, "DELETE", "/v1/contacts/2", None, None);
    assert_eq!(status, 204);
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());

    let mut agent = Headless::start(&dir, &["--db", &db, "--seed", &demo]);
    assert_eq!(count(&agent, "contacts"), 8);
    assert_eq!(count(&agent, "responses"), 8);
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());

    // A seed directory that is not one stops the start with the file named.
    let output = crate::support::recall()
        .args(["headless", "--listen", "udp:127.0.0.1:0", "--seed"])
        .arg(dir.join("nowhere"))
        .output()
        .expect("run recall");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nowhere/contacts.json"), "{stderr}");
}

/// `recall demo --headless` with `extra` arguments, in an English locale, its control API on a
/// free port; waits until the API answers.
fn headless_demo(
    dir: &std::path::Path,
    extra: &[&str],
) -> (crate::support::Proc, std::net::SocketAddr) {
    let control: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut command = crate::support::recall();
    command
        .args(["demo", "--headless", "--audio", "null", "--control"])
        .arg(control.to_string())
        .args(extra)
        .env("RUST_LOG", "info")
        .env("LANG", "en_US.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    let demo = crate::support::Proc::spawn("recall demo", command, &dir.join("demo.log"));
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(
            control
        )
        .is_ok()),
        "recall demo did not come up: {}",
        demo.log_text()
    );
    (demo, control)
}

#[test]
fn the_demo_pbx_rings_in_each_callback_type_in_turn() {
    let dir = scratch("demo");
    let (mut demo, control) = headless_demo(&dir, &[]);
    let scratch_dir = std::env::temp_dir().join(format!("recall-demo-{}", demo.child.id()));
    let ringing = |n: usize| {
        let mut found = None;
        wait_until(Duration::from_secs(20), || {
            let all = get_json(control, "/v1/interactions");
            found = all
                .as_array()
                .and_then(|a| a.get(n).cloned())
                .filter(|i| i["state"] == "notified");
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("callback {n} never rang in"))
    };
    // First an immediate callback for the seeded contact, with its case data.
    let first = ringing(0);
    assert_eq!(first["callback"]["type"], "immediate", "{first}");
    assert_eq!(first["callback"]["customer_number"], "+1 555 0100");
    assert_eq!(first["contact"]["name"], "Ana Ruiz");
    assert_eq!(first["attached_data"]["CaseID"], "4711");
    assert_eq!(first["attached_data"]["Reason"], "Router replacement");
    assert_eq!(
        first["callback"]["instructions"],
        "Confirm the delivery address first"
    );
    let (status, accepted) = post_json(control, "/v1/interactions/i-1/accept", "");
    assert_eq!(status, 200, "{accepted}");
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(control, "/v1/interactions/i-1")["state"] == "connected"
    }));
    let call = get_json(control, "/v1/interactions/i-1")["call_id"]
        .as_str()
        .expect("a call")
        .to_owned();
    // The PBX plays its tune: packets arrive.
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(control, &format!("/v1/calls/{call}"))["stats"]["packets_received"]
            .as_u64()
            .unwrap_or(0)
            > 20
    }));
    // The customer's phone echoes the keypad.
    let (status, _) = post_json(
        control,
        &format!("/v1/calls/{call}/dtmf"),
        r#"{"digits": "12#"}"#,
    );
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || {
            get_json(control, &format!("/v1/calls/{call}"))["dtmf_received"] == "12#"
        }),
        "{}",
        get_json(control, &format!("/v1/calls/{call}"))
    );
    let (status, _) = post_json(control, &format!("/v1/calls/{call}/hangup"), "");
    assert_eq!(status, 200);
    // Then, once that call is over, the next type, for the next contact.
    let second = ringing(1);
    assert_eq!(second["callback"]["type"], "scheduled", "{second}");
    assert_eq!(second["contact"]["name"], "Lena Fischer");
    // Calling a customer reaches the PBX, which answers.
    let (status, _) = post_json(control, "/v1/interactions/i-2/reject", "");
    assert_eq!(status, 200);
    let (status, _) = post_json(control, "/v1/interactions/i-1/call", "");
    assert_eq!(status, 200);
    assert!(wait_until(Duration::from_secs(10), || {
        get_json(control, "/v1/interactions/i-1")["state"] == "connected"
    }));
    // Stopped, the demo leaves nothing behind.
    assert!(scratch_dir.join("seed/contacts.json").exists());
    assert!(demo.terminate(Duration::from_secs(10)).success());
    assert!(
        !scratch_dir.exists(),
        "{} was left behind",
        scratch_dir.display()
    );
}

#[test]
fn the_demo_speaks_spanish_when_asked_and_refuses_a_language_it_lacks() {
    let dir = scratch("demo-es");
    let (demo, control) = headless_demo(&dir, &["--language", "es"]);
    let mut first = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(20), || {
            first = get_json(control, "/v1/interactions")[0].clone();
            first["state"] == "notified"
        }),
        "{first}"
    );
    // The case data and the seeded contact in Spanish (accents through percent-encoding).
    assert_eq!(
        first["attached_data"]["Reason"], "Cambio de router",
        "{first}"
    );
    assert_eq!(
        first["callback"]["instructions"],
        "Confirme primero la dirección de entrega"
    );
    assert_eq!(
        first["contact"]["notes"],
        "Devolución por el cambio de router; habla español e inglés."
    );
    // The contact's full record: address, language, the centre's own fields.
    assert_eq!(
        first["contact"]["address"],
        "Calle Mayor 1, 3º B\n28013 Madrid"
    );
    assert_eq!(first["contact"]["language"], "es");
    assert_eq!(first["contact"]["fields"]["plan"], "Fibra 600");
    let directory = get_json(control, "/v1/responses");
    assert!(
        directory.to_string().contains("Saludo (devolución)"),
        "{directory}"
    );
    drop(demo);

    let output = crate::support::recall()
        .args(["demo", "--headless", "--audio", "null", "--language", "fr"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--language \"fr\": use en or es"),
        "{stderr}"
    );
}
