//! DTMF interop with real peers: SIPp plays its own RFC 4733 captures into a call and recall
//! reports the digits; recall sends digits to baresip, as RFC 4733 events and as SIP INFO,
//! and baresip reports them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    Headless, Proc, free_port, recall, require, run_sipp, scratch, sipp_call_args, sipp_counts,
    start_baresip, wait_until,
};

#[test]
fn digits_sipp_plays_from_rfc4733_captures_are_reported() {
    let dir = scratch("dtmf-pcap");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let mut args = sipp_call_args("sipp/uac_dtmf_pcap.xml", agent.sip);
    args.extend(["-mp".to_owned(), free_port().to_string()]);
    let (_, screen) = run_sipp(&dir, "sipp-dtmf", &args, Duration::from_secs(30));
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    let calls = agent.calls();
    let call = calls.last().expect("the call");
    assert_eq!(call["dtmf_received"], "19#", "{call}");
    assert_eq!(call["stats"]["dtmf_received"], 3, "{call}");
}

/// baresip answering calls, G.711 only, logging what happens; it and its SIP port.
fn baresip(dir: &Path) -> (Proc, u16) {
    require("baresip");
    let home = dir.join("baresip");
    std::fs::create_dir_all(&home).expect("dir");
    let (peer, port, _) = start_baresip("baresip", &dir.join("baresip.log"), |port, _| {
        std::fs::write(
            home.join("config"),
            format!(
                "sip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\naudio_source ausine,440\nausrc_srate 48000\n\
                 ausrc_channels 2\naudio_player aubridge,nil\n\
                 audio_alert aubridge,nil\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
                 module ausine.so\nmodule aubridge.so\nmodule account.so\nmodule menu.so\n"
            ),
        )
        .expect("config");
        std::fs::write(
            home.join("accounts"),
            format!("<sip:bob@127.0.0.1:{port}>;regint=0;answermode=auto\n"),
        )
        .expect("accounts");
        let mut command = Command::new("baresip");
        command.arg("-f").arg(&home);
        command
    });
    (peer, port)
}

/// The digits baresip logged as received, in order: "received event: '1' (end=1)" once per
/// RFC 4733 event, "received DTMF: '1'" for SIP INFO (its menu module prints both).
fn digits_baresip_heard(log: &str) -> String {
    log.split("received ")
        .skip(1)
        .filter_map(|rest| {
            let digit = rest
                .strip_prefix("event: '")
                .filter(|r| r.get(1..10) == Some("' (end=1)"))
                .or_else(|| rest.strip_prefix("DTMF: '"))?;
            digit.chars().next()
        })
        .collect()
}

#[test]
fn baresip_hears_the_digits_recall_sends_as_events_and_as_sip_info() {
    for mode in ["rfc4733", "info"] {
        let dir = scratch(&format!("dtmf-baresip-{mode}"));
        let (peer, port) = baresip(&dir);
        let config = dir.join("recall.toml");
        std::fs::write(
            &config,
            format!(
                "[[accounts]]\nname = \"desk\"\naor = \"sip:agent@127.0.0.1\"\nregister = false\nproxy = \"udp:127.0.0.1:{port}\"\ndtmf = \"{mode}\"\n"
            ),
        )
        .expect("config");
        let output = recall()
            .args(["call", &format!("sip:bob@127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config)
            .args(["--listen", &format!("udp:127.0.0.1:{}", free_port())])
            .args(["--dtmf", "12#", "--duration", "3"])
            .output()
            .expect("run recall call");
        assert!(
            output.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            wait_until(Duration::from_secs(5), || digits_baresip_heard(
                &peer.log_text()
            ) == "12#"),
            "{mode}: baresip heard {:?}; log:\n{}",
            digits_baresip_heard(&peer.log_text()),
            peer.log_text()
        );
    }
}
