//! Encrypted media against baresip's srtp module: SDES-keyed SRTP (RFC 4568) in both
//! directions for each suite, audio both ways, the suite in the call view; mismatched
//! policies refused 488 with a reason.

use std::path::Path;
use std::time::Duration;

use crate::ipv6::baresip_command;
use crate::kamailio_baresip::assert_tone_both_ways;
use crate::support::{
    Headless, Proc, get_json, post_json, require, scratch, start_baresip, wait_until, write_tone,
};

/// baresip `bob` on loopback (no registrar), answering by itself, playing a tone and dumping
/// what it decodes into DIR/baresip-bob; `mediaenc` is its account's media encryption
/// (`srtp`, `srtp-mand`, `dtls_srtp`, or empty for none). Returns it, its SIP port and its ctrl_tcp port.
pub(crate) fn baresip(dir: &Path, mediaenc: &str) -> (Proc, u16, u16) {
    let enc = if mediaenc.is_empty() {
        String::new()
    } else {
        format!(";mediaenc={mediaenc}")
    };
    baresip_at(dir, None, "127.0.0.1", &enc, "")
}

/// baresip `bob` as [`baresip`] makes it, listening on `ip`, with extra account parameters
/// (`;medianat=ice`) and extra config lines (`module ice.so`, loaded before the accounts);
/// inside the network namespace `netns` when given.
pub(crate) fn baresip_at(
    dir: &Path,
    netns: Option<&str>,
    ip: &str,
    params: &str,
    config: &str,
) -> (Proc, u16, u16) {
    require("baresip");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 10.0);
    let home = dir.join("baresip-bob");
    std::fs::create_dir_all(&home).expect("dir");
    start_baresip("baresip bob", &dir.join("baresip.log"), |sip, ctrl| {
        std::fs::write(
            home.join("config"),
            format!(
                "sip_listen {ip}:{sip}\nnet_interface {ip}\naudio_source aufile,{}\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
                 module aubridge.so\nmodule sndfile.so\nmodule srtp.so\nmodule dtls_srtp.so\n{config}\n\
                 module account.so\n\
                 module ctrl_tcp.so\nmodule menu.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n\
                 snd_path {}\n",
                tone.display(),
                home.display()
            ),
        )
        .expect("config");
        std::fs::write(
            home.join("accounts"),
            format!("<sip:bob@{ip}:{sip}>;regint=0;answermode=auto;audio_codecs=PCMU{params}\n"),
        )
        .expect("accounts");
        let mut command = match netns {
            Some(netns) => {
                let mut command = std::process::Command::new("ip");
                command.args(["netns", "exec", netns, "baresip"]);
                command
            }
            None => std::process::Command::new("baresip"),
        };
        command.arg("-f").arg(&home);
        command
    })
}

/// recall headless with `[media]` set so, recording what it hears into DIR/heard.wav.
pub(crate) fn recall_with(dir: &Path, media: &str, auto_answer: bool) -> Headless {
    let config = dir.join("recall.toml");
    std::fs::write(&config, format!("[media]\ncodecs = [\"pcmu\"]\n{media}\n")).expect("config");
    let audio = format!(
        "file:{},{}",
        dir.join("tone.wav").display(),
        dir.join("heard.wav").display()
    );
    let mut args = vec![
        "--config",
        config.to_str().expect("utf8"),
        "--audio",
        &audio,
        "--log-sip",
    ];
    if auto_answer {
        args.push("--auto-answer");
    }
    Headless::start(dir, &args)
}

/// Asks `agent` to call bob at `at` (`IP:PORT`): the API's status and answer.
pub(crate) fn call_bob(agent: &Headless, at: &str) -> (u16, serde_json::Value) {
    post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:bob@{at}"}}"#),
    )
}

pub(crate) fn first_call(agent: &Headless) -> serde_json::Value {
    agent.calls().first().cloned().unwrap_or_default()
}

/// Waits until the first call has ended; returns its view.
pub(crate) fn ended(agent: &Headless) -> serde_json::Value {
    let mut view = serde_json::Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            view = first_call(agent);
            view["state"] == "ended"
        }),
        "{view}\n{}",
        agent.proc.log_text()
    );
    view
}

/// Waits until the call carries packets both ways; returns its view.
pub(crate) fn flowing(agent: &Headless, bob: &Proc) -> serde_json::Value {
    let mut view = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(10), || {
        view = first_call(agent);
        view["state"] == "connected"
            && view["stats"]["packets_received"].as_u64().unwrap_or(0) > 100
            && view["stats"]["packets_sent"].as_u64().unwrap_or(0) > 100
    });
    assert!(ok, "{view}\n{}\n{}", agent.proc.log_text(), bob.log_text());
    view
}

/// Hangs up after 2 s more, then checks both recordings carried the tone. `clean`: no SRTP
/// or SRTCP packet failed authentication.
pub(crate) fn hang_up_and_check_audio(
    dir: &Path,
    mut agent: Headless,
    bob: &Proc,
    view: &serde_json::Value,
    clean: bool,
) {
    let id = view["id"].as_str().expect("id").to_owned();
    std::thread::sleep(Duration::from_secs(2));
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    let ended = get_json(agent.control, &format!("/v1/calls/{id}"));
    if clean {
        assert_eq!(ended["stats"]["srtp_auth_failures"], 0, "{ended}");
    }
    assert!(wait_until(Duration::from_secs(5), || bob
        .log_text()
        .contains("terminated")));
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    assert_tone_both_ways(dir, &dir.join("heard.wav"));
}

#[test]
fn recall_calls_baresip_over_sdes_srtp_with_each_suite() {
    for suite in [
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
        "AEAD_AES_128_GCM",
    ] {
        let dir = scratch(&format!("srtp-out-{suite}"));
        let (bob, sip, _) = baresip(&dir, "srtp-mand");
        let agent = recall_with(
            &dir,
            &format!(
                "encryption = \"mandatory\"\nsdes_over_plain_sip = true\nsrtp_suites = [\"{suite}\"]"
            ),
            false,
        );
        let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
        assert_eq!(status, 201, "{call}");
        let view = flowing(&agent, &bob);
        assert_eq!(view["encryption"], format!("sdes-srtp {suite}"), "{view}");
        let log = agent.proc.log_text();
        assert!(log.contains("m=audio") && log.contains("RTP/SAVP"), "{log}");
        assert!(
            bob.log_text().contains(&format!("cryptosuite={suite}")),
            "{}",
            bob.log_text()
        );
        // baresip's libre tags SRTCP with 32 bits under AES_CM_128_HMAC_SHA1_32, where RFC
        // 4568 §6.2.2 keeps 80: its RTCP fails authentication here (the audio is unaffected).
        let clean = suite != "AES_CM_128_HMAC_SHA1_32";
        hang_up_and_check_audio(&dir, agent, &bob, &view, clean);
    }
}

#[test]
fn baresip_calls_recall_over_sdes_srtp_and_recall_answers_encrypted() {
    let dir = scratch("srtp-in");
    let (bob, _, ctrl) = baresip(&dir, "srtp-mand");
    let agent = recall_with(
        &dir,
        "encryption = \"optional\"\nsdes_over_plain_sip = true",
        true,
    );
    let sip = agent.sip;
    baresip_command(ctrl, "dial", &format!("sip:alice@{sip}"));
    let view = flowing(&agent, &bob);
    let encryption = view["encryption"].as_str().unwrap_or_default().to_owned();
    assert!(encryption.starts_with("sdes-srtp "), "{view}");
    assert!(
        bob.log_text().contains("SRTP is Enabled"),
        "{}",
        bob.log_text()
    );
    let clean = !encryption.ends_with("_32");
    hang_up_and_check_audio(&dir, agent, &bob, &view, clean);
}

#[test]
fn mismatched_encryption_policies_are_refused_488_with_a_reason_both_ways() {
    // baresip offers plain RTP; recall demands SRTP: refused before it rings, and says why.
    let dir = scratch("srtp-mismatch-in");
    let (bob, _, ctrl) = baresip(&dir, "");
    let agent = recall_with(
        &dir,
        "encryption = \"mandatory\"\nsdes_over_plain_sip = true",
        true,
    );
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = ended(&agent);
    let reason = view["end_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("media encryption is mandatory") && reason.ends_with("(488)"),
        "{view}"
    );
    let log = agent.proc.log_text();
    assert!(
        log.contains("SIP/2.0 488") && log.contains("Warning: 399 recall"),
        "{log}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || bob.log_text().contains("488")),
        "{}",
        bob.log_text()
    );

    // recall offers plain RTP with encryption off to a baresip that demands SRTP.
    let dir = scratch("srtp-mismatch-out");
    let (bob, sip, _) = baresip(&dir, "srtp-mand");
    let agent = recall_with(&dir, "encryption = \"off\"", false);
    let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
    assert_eq!(status, 201, "{call}");
    assert!(
        wait_until(Duration::from_secs(10), || first_call(&agent)["state"]
            == "ended"),
        "{}\n{}",
        agent.proc.log_text(),
        bob.log_text()
    );
    let reason = first_call(&agent)["end_reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("488"), "{reason}\n{}", bob.log_text());
}

#[test]
fn sdes_keys_never_cross_plain_sip_unless_the_lab_switch_says_so() {
    let dir = scratch("srtp-needs-tls");
    let (bob, sip, ctrl) = baresip(&dir, "srtp-mand");
    let agent = recall_with(&dir, "encryption = \"mandatory\"", true);
    // Placing a call: refused at once, naming the rule and the way out.
    let (status, body) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string()
            .contains("SDES keys may only cross TLS signalling"),
        "{body}"
    );
    // Taking one: refused 488 before it rings.
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = ended(&agent);
    let reason = view["end_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("only cross TLS signalling") && reason.ends_with("(488)"),
        "{view}"
    );
    // What recall sent (logged "send to …", up to the next log line) carries no key.
    let log = agent
        .proc
        .log_text()
        .replace("\u{1b}[0m", "")
        .replace("\u{1b}[2m", "");
    let sent: Vec<&str> = log
        .split("recall::sip:")
        .filter(|m| m.trim_start().starts_with("send to "))
        .collect();
    assert!(!sent.is_empty(), "{log}");
    assert!(
        sent.iter().all(|m| !m.contains("a=crypto")),
        "a key went out: {log}"
    );
    drop(bob);
}
