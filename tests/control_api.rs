//! The control API over HTTP: calls placed, answered and ended through it; errors as JSON with
//! fitting statuses; the bearer token; the event stream.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{
    Headless, Proc, fixture, free_port, get_json, http, post_json, scratch, sipp_counts,
    sipp_in_background, wait_until,
};

/// SIPp places one call to `target` in the background.
fn one_sipp_call(
    dir: &std::path::Path,
    target: std::net::SocketAddr,
) -> std::thread::JoinHandle<(std::process::ExitStatus, String)> {
    sipp_in_background(dir, "sipp-uac", "sipp/uac.xml", target)
}

fn call_state(agent: &Headless, id: &str) -> String {
    get_json(agent.control, &format!("/v1/calls/{id}"))["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_call_placed_through_the_api_connects_sends_dtmf_and_hangs_up() {
    let dir = scratch("api-dial");
    crate::support::require("sipp");
    let port = free_port();
    let mut command = std::process::Command::new("sipp");
    command
        .args(["-sf", &fixture("sipp/uas_answer.xml").display().to_string()])
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-nostdin",
        ])
        .args(["-timeout", "30"])
        .current_dir(&dir);
    let mut uas = Proc::spawn("sipp uas", command, &dir.join("sipp.log"));
    let agent = Headless::start(&dir, &[]);
    assert!(wait_until(Duration::from_secs(10), || {
        crate::support::udp_bound(port)
    }));

    let (status, call) = post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:service@127.0.0.1:{port}"}}"#),
    );
    assert_eq!(status, 201, "{call}");
    let id = call["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("c-"));
    assert_eq!(call["direction"], "outbound");
    assert!(wait_until(Duration::from_secs(5), || call_state(
        &agent, &id
    ) == "connected"));

    let (status, view) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/dtmf"),
        r#"{"digits": "12#"}"#,
    );
    assert_eq!(status, 200, "{view}");
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/mute"), "");
    assert_eq!((status, view["muted"].as_bool()), (200, Some(true)));
    std::thread::sleep(Duration::from_millis(1500));
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200, "{view}");
    let view = get_json(agent.control, &format!("/v1/calls/{id}"));
    assert_eq!(view["state"], "ended");
    assert_eq!(view["stats"]["dtmf_sent"], 3, "{view}");
    assert!(
        view["stats"]["packets_sent"].as_u64().unwrap_or(0) > 50,
        "{view}"
    );
    assert!(
        uas.wait(Duration::from_secs(10)).success(),
        "{}",
        uas.log_text()
    );

    // Errors are JSON with fitting statuses.
    let (status, body) = post_json(agent.control, &format!("/v1/calls/{id}/answer"), "");
    assert_eq!(
        (status, body["error"].as_str().is_some()),
        (409, true),
        "{body}"
    );
    let (status, body) = post_json(agent.control, "/v1/calls/c-999/hangup", "");
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no call c-999"))
    );
    let (status, body) = post_json(agent.control, "/v1/calls", "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("invalid JSON body")
    );
    let (status, body) = post_json(agent.control, "/v1/calls", "{}");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("missing \"to\": the SIP URI to call"))
    );
    let (status, body) = post_json(agent.control, "/v1/calls", r#"{"to": "sip:bad uri"}"#);
    assert_eq!(status, 422, "{body}");
    let (status, body) = post_json(agent.control, &format!("/v1/calls/{id}/fly"), "");
    assert_eq!(status, 404, "{body}");
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/dtmf"),
        r#"{"digits": "9x"}"#,
    );
    assert_eq!(status, 422, "{body}");
    let (status, _) = http(agent.control, "GET", "/v1/nothing", None, None);
    assert_eq!(status, 404);
}

#[test]
fn an_incoming_call_rings_until_answered_through_the_api() {
    let dir = scratch("api-answer");
    let agent = Headless::start(&dir, &[]);
    let handle = one_sipp_call(&dir, agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        agent
            .calls()
            .first()
            .is_some_and(|c| c["state"] == "ringing")
    }));
    let id = agent.calls()[0]["id"].as_str().expect("id").to_owned();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        call_state(&agent, &id),
        "ringing",
        "nobody answers by itself"
    );
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/answer"), "");
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("connected")),
        "{view}"
    );
    let (_, screen) = handle.join().expect("sipp thread");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    assert_eq!(call_state(&agent, &id), "ended");
}

#[test]
fn the_token_guards_every_endpoint() {
    let dir = scratch("api-token");
    let config = dir.join("token.toml");
    std::fs::write(&config, "[control]\ntoken = \"s3cret\"\n").expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let (status, body) = http(agent.control, "GET", "/v1/status", None, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("bearer token"));
    let (status, _) = http(agent.control, "GET", "/v1/status", None, Some("wrong"));
    assert_eq!(status, 401);
    let (status, body) = http(agent.control, "GET", "/v1/status", None, Some("s3cret"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn the_event_stream_starts_with_a_snapshot_then_follows_calls() {
    let dir = scratch("api-events");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let mut stream = TcpStream::connect(agent.control).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("request");
    let mut reader = BufReader::new(stream);
    let mut events = Vec::new();
    let mut line = String::new();
    // Place a call once the stream is open, then read until the call has ended.
    let mut sipp = None;
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).expect("json event");
            let ended = event["type"] == "call" && event["call"]["state"] == "ended";
            events.push(event);
            if sipp.is_none() {
                sipp = Some(one_sipp_call(&dir, agent.sip));
            }
            if ended {
                break;
            }
        }
        line.clear();
    }
    assert_eq!(events[0]["type"], "snapshot", "{:?}", events[0]);
    assert_eq!(events[0]["calls"], serde_json::json!([]));
    let states: Vec<&str> = events[1..]
        .iter()
        .filter(|e| e["type"] == "call")
        .filter_map(|e| e["call"]["state"].as_str())
        .collect();
    assert_eq!(states.first(), Some(&"ringing"), "{states:?}");
    assert!(states.contains(&"connected"), "{states:?}");
    assert_eq!(states.last(), Some(&"ended"), "{states:?}");
    if let Some(sipp) = sipp {
        let (_, screen) = sipp.join().expect("sipp");
        assert_eq!(sipp_counts(&screen).0, 1, "{screen}");
    }
}

#[test]
fn a_ringing_call_rejected_through_the_api_gets_the_chosen_status() {
    let dir = scratch("api-reject");
    let agent = Headless::start(&dir, &[]);
    let sipp = sipp_in_background(&dir, "sipp-rejected", "sipp/uac_rejected.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        agent
            .calls()
            .first()
            .is_some_and(|c| c["state"] == "ringing")
    }));
    let id = agent.calls()[0]["id"].as_str().expect("id").to_owned();
    let (status, body) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/reject"),
        r#"{"status": 299}"#,
    );
    assert_eq!(
        status, 422,
        "a reject status must be a failure code: {body}"
    );
    let (status, view) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/reject"),
        r#"{"status": 603}"#,
    );
    assert_eq!(
        (status, view["state"].as_str()),
        (200, Some("ended")),
        "{view}"
    );
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "SIPp saw the 603: {screen}");
}

#[test]
fn auto_answer_after_a_delay_rings_first_and_log_sip_traces_messages() {
    let dir = scratch("api-auto-delay");
    let agent = Headless::start(&dir, &["--auto-answer=1", "--log-sip"]);
    let sipp = one_sipp_call(&dir, agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        agent
            .calls()
            .first()
            .is_some_and(|c| c["state"] == "ringing")
    }));
    let rang_at = std::time::Instant::now();
    assert!(wait_until(Duration::from_secs(5), || {
        agent
            .calls()
            .first()
            .is_some_and(|c| c["state"] != "ringing")
    }));
    let waited = rang_at.elapsed();
    assert!(
        waited > Duration::from_millis(600),
        "answered after {waited:?}"
    );
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    let log = agent.proc.log_text();
    assert!(log.contains("received from udp:127.0.0.1:"), "{log}");
    assert!(log.contains("INVITE sip:service@127.0.0.1"), "{log}");
    assert!(log.contains("SIP/2.0 180 Ringing"), "{log}");
}

#[test]
fn an_oversized_body_is_413_and_every_refusal_is_json() {
    let dir = scratch("api-limits");
    let agent = Headless::start(&dir, &[]);
    let huge = format!(
        r#"{{"to": "sip:a@127.0.0.1", "pad": "{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let (status, body) = http(agent.control, "POST", "/v1/calls", Some(&huge), None);
    assert_eq!(status, 413, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("over 262144 bytes"),
        "{body}"
    );
    // A method a path does not take: axum's own refusal, made JSON too.
    let (status, body) = http(agent.control, "DELETE", "/v1/status", None, None);
    assert_eq!(status, 405, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(error["error"].is_string(), "{body}");
    // Nothing was placed, and the API goes on answering.
    let (status, _) = http(agent.control, "GET", "/v1/calls", None, None);
    assert_eq!(status, 200);
    assert!(agent.calls().is_empty());
}
