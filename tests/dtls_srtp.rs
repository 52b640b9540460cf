//! DTLS-SRTP (RFC 5763/5764) against baresip's dtls_srtp module: the handshake on the media
//! port in both roles, audio both ways, the suite in the call view; a plain peer refused
//! with a reason when encryption is mandatory.

use std::time::Duration;

use crate::ipv6::baresip_command;
use crate::srtp::{baresip, ended, first_call, flowing, hang_up_and_check_audio, recall_with};
use crate::support::{post_json, scratch, wait_until};

#[test]
fn recall_calls_baresip_over_dtls_srtp() {
    let dir = scratch("dtls-out");
    let (bob, sip, _) = baresip(&dir, "dtls_srtp");
    // Over plain SIP: DTLS keys never cross the signalling, so no lab switch is needed.
    let agent = recall_with(&dir, "encryption = \"mandatory\"\nkeying = \"dtls\"", false);
    let (status, call) = post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:bob@127.0.0.1:{sip}"}}"#),
    );
    assert_eq!(status, 201, "{call}");
    let view = flowing(&agent, &bob);
    let encryption = view["encryption"].as_str().unwrap_or_default().to_owned();
    assert!(encryption.starts_with("dtls-srtp "), "{view}");
    let log = agent.proc.log_text();
    assert!(
        log.contains("UDP/TLS/RTP/SAVP") && log.contains("a=setup:actpass"),
        "{log}"
    );
    assert!(
        bob.log_text().contains("verified") || bob.log_text().contains("DTLS"),
        "{}",
        bob.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, true);
}

#[test]
fn baresip_calls_recall_over_dtls_srtp_and_recall_answers_encrypted() {
    let dir = scratch("dtls-in");
    let (bob, _, ctrl) = baresip(&dir, "dtls_srtp");
    // recall prefers SDES for its own offers; an offer keyed by DTLS is answered by DTLS.
    let agent = recall_with(&dir, "encryption = \"optional\"", true);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = flowing(&agent, &bob);
    let encryption = view["encryption"].as_str().unwrap_or_default().to_owned();
    assert!(encryption.starts_with("dtls-srtp "), "{view}");
    assert!(
        agent.proc.log_text().contains("a=setup:active"),
        "{}",
        agent.proc.log_text()
    );
    hang_up_and_check_audio(&dir, agent, &bob, &view, true);
}

#[test]
fn a_dtls_offer_to_recall_with_encryption_off_is_refused_488_with_a_reason() {
    let dir = scratch("dtls-mismatch");
    let (bob, _, ctrl) = baresip(&dir, "dtls_srtp");
    let agent = recall_with(&dir, "encryption = \"off\"", true);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = ended(&agent);
    let reason = view["end_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("DTLS-SRTP") && reason.ends_with("(488)"),
        "{view}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || bob.log_text().contains("488")),
        "{}",
        bob.log_text()
    );
    let _ = first_call(&agent);
}
