//! The voicemail indicator (RFC 3842): recall subscribes to its account's mailbox at a SIPp
//! voicemail server, which NOTIFYs 3 new and 1 old messages — the status says so; then an
//! unsolicited summary (as Asterisk sends) says all were heard — and the status follows.

use std::time::Duration;

use crate::support::{
    Headless, run_sipp, scratch, sipp_call_args, sipp_counts, sipp_finished, sipp_uas, wait_until,
};

fn voicemail(agent: &Headless) -> serde_json::Value {
    agent.status()["registrations"][0]["voicemail"].clone()
}

#[test]
fn the_mailbox_is_subscribed_and_its_summaries_light_the_indicator() {
    let dir = scratch("mwi");
    let (mut notifier, port) = sipp_uas(&dir, "mwi", "sipp/uas_mwi_notifier.xml", &[]);
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\nname = \"desk\"\naor = \"sip:alice@127.0.0.1\"\n\
             proxy = \"udp:127.0.0.1:{port}\"\nregister = false\nmwi = true\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let mut seen = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            seen = voicemail(&agent);
            !seen.is_null()
        }),
        "no summary: {}\n{}",
        agent.status(),
        notifier.log_text()
    );
    assert_eq!(
        seen,
        serde_json::json!({"waiting": true, "new": 3, "old": 1})
    );
    let (completed, failed) = sipp_finished(&dir, "mwi", &mut notifier, Duration::from_secs(10));
    assert_eq!(
        (completed, failed),
        (1, 0),
        "the notifier's scenario ran through"
    );

    let (status, screen) = run_sipp(
        &dir,
        "unsolicited",
        &sipp_call_args("sipp/uac_mwi_unsolicited.xml", agent.sip),
        Duration::from_secs(20),
    );
    assert!(status.success(), "{screen}");
    assert_eq!(sipp_counts(&screen), (1, 0));
    assert!(
        wait_until(Duration::from_secs(5), || voicemail(&agent)
            == serde_json::json!({"waiting": false, "new": 0, "old": 4})),
        "{}",
        agent.status()
    );
}
