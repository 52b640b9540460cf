//! Settings changed at run time, through the control API (the desktop's Settings window asks
//! the core the same way), against a real registrar: a registration test, a wrong value
//! refused with the field named and nothing written, a save that fixes the password and
//! registers at once, with the file's own comments kept.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::kamailio_baresip::{account_config, await_registration, kamailio, registration_state};
use crate::support::{Headless, get_json, http, post_json, scratch};

/// Reads the event stream until the next `registration_test` event.
fn next_registration_test(events: &mut BufReader<TcpStream>) -> serde_json::Value {
    let mut line = String::new();
    while events.read_line(&mut line).is_ok_and(|n| n > 0) {
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).expect("json event");
            if event["type"] == "registration_test" {
                return event;
            }
        }
        line.clear();
    }
    panic!("the event stream ended before a registration test");
}

/// `PUT /v1/settings`: status and body.
fn put_settings(agent: &Headless, settings: &serde_json::Value) -> (u16, String) {
    http(
        agent.control,
        "PUT",
        "/v1/settings",
        Some(&settings.to_string()),
        None,
    )
}

fn event_stream(agent: &Headless) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(agent.control).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("request");
    BufReader::new(stream)
}

#[test]
fn settings_are_tested_refused_saved_and_used_at_once_against_kamailio() {
    let dir = scratch("settings-kamailio");
    let (kam, registrar) = kamailio(&dir);
    let config = account_config(&dir, registrar, "not-the-password");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.insert_str(0, "# alice's desk, kept by hand\n");
    text.push_str("\n[sip]\nt1_ms = 500 # tuned for the lab\n");
    std::fs::write(&config, &text).expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    await_registration(&agent, "failed", String::new);

    let read = get_json(agent.control, "/v1/settings");
    assert_eq!(read["file"], config.display().to_string());
    let mut settings = read["settings"].clone();
    assert_eq!(settings["accounts"][0]["name"], "alice");
    assert_eq!(settings["accounts"][0]["password"], "not-the-password");

    // A registration test with the password as it is, then as it should be.
    let mut events = event_stream(&agent);
    let mut form = settings["accounts"][0].clone();
    let (status, body) = post_json(
        agent.control,
        "/v1/settings/test-registration",
        &form.to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let failed = next_registration_test(&mut events);
    assert_eq!(failed["account"], "alice");
    assert_eq!(failed["registered"], false, "{failed}");
    assert!(
        failed["detail"]
            .as_str()
            .is_some_and(|d| d.contains("authentication failed")),
        "{failed}"
    );
    form["password"] = "alice-secret".into();
    let (status, body) = post_json(
        agent.control,
        "/v1/settings/test-registration",
        &form.to_string(),
    );
    assert_eq!(status, 202, "{body}");
    let passed = next_registration_test(&mut events);
    assert_eq!(passed["registered"], true, "{passed}\n{}", kam.log_text());
    assert_eq!(passed["detail"], "registered for 60 s");
    assert_eq!(registration_state(&agent), "failed", "a test is not a save");
    // A form that cannot be read is refused before anything is sent.
    let mut broken = form.clone();
    broken["proxy"] = "pbx.example:5060".into();
    let (status, body) = post_json(
        agent.control,
        "/v1/settings/test-registration",
        &broken.to_string(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("proxy"), "{body}");

    // A wrong value: 422 naming it, and the file is as it was.
    settings["not_ready_status"] = 500.into();
    let (status, body) = put_settings(&agent, &settings);
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("callbacks.not_ready_status is 500; use 480, 486 or 603"),
        "{body}"
    );
    assert_eq!(std::fs::read_to_string(&config).expect("config"), text);
    let (status, body) = http(
        agent.control,
        "PUT",
        "/v1/settings",
        Some(r#"{"codecs": ["pcmu"], "colour": "blue"}"#),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("colour"), "{body}");

    // The right password saved: registered at once, the file rewritten around its comments.
    settings["not_ready_status"] = 603.into();
    settings["accounts"][0]["password"] = "alice-secret".into();
    settings["preview_timeout"] = 30.into();
    let (status, body) = put_settings(&agent, &settings);
    assert_eq!(status, 200, "{body}");
    await_registration(&agent, "registered", || kam.log_text());
    let saved = std::fs::read_to_string(&config).expect("config");
    for kept in [
        "# alice's desk, kept by hand",
        "t1_ms = 500 # tuned for the lab",
        "password = \"alice-secret\"",
        "not_ready_status = 603",
        "preview_timeout = 30",
    ] {
        assert!(saved.contains(kept), "{kept:?} missing:\n{saved}");
    }
    assert_eq!(
        get_json(agent.control, "/v1/settings")["settings"],
        settings,
        "what is read back is what was saved"
    );

    // The account removed: it is un-registered and gone from the status.
    settings["accounts"] = serde_json::json!([]);
    let (status, body) = put_settings(&agent, &settings);
    assert_eq!(status, 200, "{body}");
    assert_eq!(agent.status()["registrations"], serde_json::json!([]));
}
