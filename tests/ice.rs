//! ICE (RFC 8445) against baresip's ice module: candidates in both offers and answers, the
//! checks, the pair that carries the media named in the call view, audio both ways.

use std::time::Duration;

use crate::ipv6::baresip_command;
use crate::srtp::{baresip_at, call_bob, flowing, hang_up_and_check_audio, recall_with};
use crate::support::{scratch, wait_until};

/// baresip's account and config for ICE (RTCP multiplexed, as recall offers it).
pub(crate) const BARESIP_ICE: &str = ";medianat=ice";
pub(crate) const BARESIP_ICE_CONFIG: &str = "module ice.so\nrtcp_mux yes\nice_nomination regular";

/// Waits until the call's ICE pair is chosen; returns the call's view.
pub(crate) fn ice_pair(agent: &crate::support::Headless) -> serde_json::Value {
    let mut view = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(10), || {
        view = agent.calls().first().cloned().unwrap_or_default();
        view["ice"].as_str().is_some_and(|p| p.contains("->"))
    });
    assert!(ok, "{view}\n{}", agent.proc.log_text());
    view
}

#[test]
fn recall_calls_baresip_with_ice_and_the_host_pair_carries_the_audio() {
    let dir = scratch("ice-out");
    let (bob, sip, _) = baresip_at(&dir, None, "127.0.0.1", BARESIP_ICE, BARESIP_ICE_CONFIG);
    let agent = recall_with(&dir, "ice = true", false);
    let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
    assert_eq!(status, 201, "{call}");
    let view = ice_pair(&agent);
    let pair = view["ice"].as_str().unwrap_or_default();
    assert!(pair.starts_with("host 127.0.0.1:"), "{view}");
    // baresip lists no loopback candidate; its checks from 127.0.0.1 make it peer-reflexive.
    assert!(
        pair.contains("-> host 127.0.0.1:") || pair.contains("-> prflx 127.0.0.1:"),
        "{view}"
    );
    let log = agent.proc.log_text();
    assert!(
        log.contains("a=ice-ufrag:") && log.contains("a=candidate:"),
        "{log}"
    );
    let view = flowing(&agent, &bob);
    assert!(
        bob.log_text().contains("ice"),
        "baresip did not run ICE:\n{}",
        bob.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
}

#[test]
fn baresip_calls_recall_with_ice_and_recall_answers_with_its_candidates() {
    let dir = scratch("ice-in");
    let (bob, _, ctrl) = baresip_at(&dir, None, "127.0.0.1", BARESIP_ICE, BARESIP_ICE_CONFIG);
    let agent = recall_with(&dir, "ice = true", true);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = ice_pair(&agent);
    assert!(
        view["ice"]
            .as_str()
            .unwrap_or_default()
            .starts_with("host "),
        "{view}"
    );
    let view = flowing(&agent, &bob);
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
}

#[test]
fn a_peer_without_ice_is_latched_to_as_before() {
    let dir = scratch("ice-none");
    let (bob, sip, _) = baresip_at(&dir, None, "127.0.0.1", "", "");
    let agent = recall_with(&dir, "ice = true", false);
    let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
    assert_eq!(status, 201, "{call}");
    let view = flowing(&agent, &bob);
    assert!(view["ice"].is_null(), "{view}");
    hang_up_and_check_audio(&dir, agent, &bob, &view, false);
}

#[test]
fn dtls_srtp_runs_over_the_pair_ice_selected() {
    let dir = scratch("ice-dtls");
    let (bob, sip, _) = baresip_at(
        &dir,
        None,
        "127.0.0.1",
        &format!("{BARESIP_ICE};mediaenc=dtls_srtp"),
        BARESIP_ICE_CONFIG,
    );
    let agent = recall_with(
        &dir,
        "ice = true\nencryption = \"mandatory\"\nkeying = \"dtls\"",
        false,
    );
    let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
    assert_eq!(status, 201, "{call}");
    ice_pair(&agent);
    let view = flowing(&agent, &bob);
    assert!(
        view["encryption"]
            .as_str()
            .unwrap_or_default()
            .starts_with("dtls-srtp "),
        "{view}"
    );
    assert!(
        view["ice"].as_str().unwrap_or_default().contains("->"),
        "{view}"
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, true);
}

#[test]
fn a_turn_server_whose_certificate_is_not_trusted_is_refused_and_named() {
    crate::support::require("turnserver");
    let dir = scratch("ice-turns-untrusted");
    let served = crate::tls::make_cert(&dir, "served", &["127.0.0.1"]);
    let trusted = crate::tls::make_cert(&dir, "trusted", &["127.0.0.1"]);
    let (udp, tls) = (crate::support::free_port(), crate::support::free_port());
    let config = dir.join("turnserver.conf");
    std::fs::write(
        &config,
        format!(
            "listening-ip=127.0.0.1\nlistening-port={udp}\ntls-listening-port={tls}\n\
             cert={}\npkey={}\nrealm=recall.test\nlt-cred-mech\nuser=agent:secret\n\
             no-dtls\nno-cli\nno-multicast-peers\nallow-loopback-peers\n\
             pidfile={}\nlog-file=stdout\nsimple-log\nverbose\n",
            served.join("cert.pem").display(),
            served.join("key.pem").display(),
            dir.join("turnserver.pid").display()
        ),
    )
    .expect("coturn config");
    let mut command = std::process::Command::new("turnserver");
    command.arg("-c").arg(&config);
    let turn = crate::support::Proc::spawn("coturn", command, &dir.join("coturn.log"));
    assert!(wait_until(Duration::from_secs(10), || turn
        .log_text()
        .contains("Total General servers")));
    crate::support::write_tone(&dir.join("tone.wav"), 440.0, 1.0);
    let agent = recall_with(
        &dir,
        &format!(
            "ice = true\nturn_server = \"turns:127.0.0.1:{tls}\"\nturn_user = \"agent\"\n\
             turn_password = \"secret\"\n\n[tls]\nca = \"{}\"",
            trusted.join("ca.pem").display()
        ),
        false,
    );
    assert!(
        wait_until(Duration::from_secs(10), || agent
            .proc
            .log_text()
            .contains("TURN allocation: no answer")),
        "{}",
        agent.proc.log_text()
    );
    let log = agent.proc.log_text();
    assert!(
        log.contains("TLS with the TURN server failed") && log.contains("certificate"),
        "{log}"
    );
    assert!(!turn.log_text().contains("ALLOCATE processed, success"));
    // recall goes on: its control API answers, and a call could still use host candidates.
    assert!(agent.calls().is_empty());
}
