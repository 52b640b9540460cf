//! The Team Communicator's BLF (RFC 4235): recall subscribes to a colleague's dialog events
//! and shows idle, ringing, on a call and idle again as the presence server NOTIFYs them
//! (a SIPp notifier here, in order and on time).

use std::time::{Duration, Instant};

use crate::support::{Headless, scratch, sipp_finished, sipp_uas};

fn colleague_state(agent: &Headless) -> String {
    agent.status()["presence"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The states `agent` shows for its first colleague, in order, until `until` is seen (or
/// `limit` passes), each with when it was first seen.
fn follow(agent: &Headless, until: &[&str], limit: Duration) -> Vec<(String, Duration)> {
    let start = Instant::now();
    let mut seen: Vec<(String, Duration)> = Vec::new();
    while start.elapsed() < limit {
        let state = colleague_state(agent);
        if seen.last().is_none_or(|(last, _)| *last != state) {
            seen.push((state, start.elapsed()));
        }
        let states: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
        if states.ends_with(until) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[test]
fn a_colleagues_dialogs_show_as_idle_ringing_on_a_call_and_idle() {
    let dir = scratch("blf");
    let (mut notifier, port) = sipp_uas(&dir, "blf", "sipp/uas_blf_notifier.xml", &[]);
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[presence]\nwatch = \"dialog\"\n\
             [[desktop.targets]]\nname = \"Bob\"\nuri = \"sip:bob@127.0.0.1:{port}\"\n\
             [[desktop.targets]]\nname = \"Sales queue\"\nkind = \"queue\"\n\
             uri = \"sip:sales@127.0.0.1:{port}\"\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let presence = agent.status()["presence"].clone();
    assert_eq!(
        presence.as_array().map(Vec::len),
        Some(1),
        "only agents are watched: {presence}"
    );
    assert_eq!(presence[0]["name"], "Bob");
    let seen = follow(
        &agent,
        &["idle", "ringing", "on_call", "idle"],
        Duration::from_secs(15),
    );
    let states: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        states.ends_with(&["idle", "ringing", "on_call", "idle"]),
        "{seen:?}\n{}",
        notifier.log_text()
    );
    // The NOTIFYs are 1.5 s apart: each state shows within a poll of its NOTIFY.
    let at = |i: usize| seen[seen.len() - 4 + i].1;
    for i in 1..4 {
        let gap = at(i) - at(i - 1);
        assert!(
            gap > Duration::from_millis(1200) && gap < Duration::from_millis(2000),
            "{seen:?}"
        );
    }
    let (completed, failed) = sipp_finished(&dir, "blf", &mut notifier, Duration::from_secs(10));
    assert_eq!((completed, failed), (1, 0));
}
