//! Sound devices through cpal and ALSA. The CI machine has no sound card, so this shows what a
//! headless lab machine gets: `recall devices` lists what ALSA offers, a missing device stops
//! the start with one clear line, and ALSA's `null` device (which discards and captures
//! silence) carries a real call through the device bus, with the ringtone flagged while the
//! call rings.

use std::time::Duration;

use crate::support::{
    Headless, get_json, post_json, recall, scratch, sipp_in_background, wait_until,
};

fn no_sound_card() -> bool {
    std::fs::read_to_string("/proc/asound/cards")
        .map(|cards| cards.contains("no soundcards") || cards.trim().is_empty())
        .unwrap_or(true)
}

#[test]
fn devices_are_listed_by_id_and_name() {
    let output = recall()
        .arg("devices")
        .output()
        .expect("run recall devices");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("alsa:null") && l.contains("input+output")),
        "ALSA's null device is listed:\n{text}"
    );
}

#[test]
fn a_missing_device_stops_the_start_with_one_clear_line() {
    let mut cases = vec![(
        "device:no-such-headset",
        "no sound input device \"no-such-headset\"",
    )];
    if no_sound_card() {
        cases.push(("device", "cannot open sound input device"));
    }
    for (audio, expected) in cases {
        let output = recall()
            .args([
                "headless",
                "--listen",
                "udp:127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
            ])
            .args(["--audio", audio])
            .output()
            .expect("run recall");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{audio}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("recall: audio: ") && last.contains(expected),
            "{audio}: {stderr}"
        );
        assert!(
            last.contains("recall devices") && last.contains("--audio null"),
            "{last}"
        );
    }
}

#[test]
fn a_call_rings_and_talks_through_alsa_null() {
    let dir = scratch("device-null");
    let agent = Headless::start(&dir, &["--audio", "device:null"]);
    let audio = &agent.status()["audio"];
    assert_eq!(audio["backend"], "device", "{audio}");
    assert!(
        audio["devices"]
            .as_str()
            .unwrap_or_default()
            .contains("Discard"),
        "{audio}"
    );
    let sipp = sipp_in_background(&dir, "sipp-uac", "sipp/uac.xml", agent.sip);
    assert!(
        wait_until(Duration::from_secs(10), || agent.status()["audio"]["ring"]
            == "ring"),
        "the ringtone plays while the call rings: {}",
        agent.status()
    );
    let id = agent.calls()[0]["id"].as_str().expect("call id").to_owned();
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/answer"), "");
    assert_eq!(status, 200, "{view}");
    assert!(wait_until(Duration::from_secs(5), || {
        agent.status()["audio"]["ring"].is_null()
    }));
    let (sipp_status, screen) = sipp.join().expect("sipp thread");
    assert!(
        sipp_status.success(),
        "SIPp's call through the device bus:\n{screen}"
    );
    let call = get_json(agent.control, &format!("/v1/calls/{id}"));
    assert!(
        call["stats"]["packets_sent"].as_u64().unwrap_or(0) > 20,
        "{call}"
    );
}
