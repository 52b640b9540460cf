//! DTLS-SRTP (RFC 5763/5764) against baresip's dtls_srtp module: the handshake on the media
//! port in both roles, audio both ways, the suite in the call view; a plain peer refused
//! with a reason when encryption is mandatory; and what the wire carries, read by a relay on
//! the path, never the tone in the clear.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use test_support::{Impairment, Relay};

use crate::ipv6::baresip_command;
use crate::srtp::{
    baresip, call_bob, ended, first_call, flowing, hang_up_and_check_audio, recall_with,
};
use crate::support::{scratch, wait_until};

#[test]
fn recall_calls_baresip_over_dtls_srtp() {
    let dir = scratch("dtls-out");
    let (bob, sip, _) = baresip(&dir, "dtls_srtp");
    // Over plain SIP: DTLS keys never cross the signalling, so no lab switch is needed.
    let agent = recall_with(&dir, "encryption = \"mandatory\"\nkeying = \"dtls\"", false);
    let (status, call) = call_bob(&agent, &format!("127.0.0.1:{sip}"));
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

/// How much a datagram's payload, read as 20 ms of PCMU, sounds like the 440 Hz tone both
/// sides send: the share of its energy at 440 Hz (Goertzel), about 1 for the tone in the
/// clear, about 2/160 for noise (what encryption makes of it).
fn tone_likeness(datagram: &[u8]) -> f64 {
    if datagram.len() < 12 + 160 || datagram[0] >> 6 != 2 {
        return 0.0;
    }
    let samples: Vec<f64> = datagram[12..12 + 160]
        .iter()
        .map(|&b| f64::from(media::ulaw_decode(b)))
        .collect();
    let energy: f64 = samples.iter().map(|s| s * s).sum();
    if energy < 1.0 {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * 440.0 / 8000.0;
    let (re, im) = samples
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(re, im), (i, s)| {
            (re + s * (w * i as f64).cos(), im - s * (w * i as f64).sin())
        });
    (re * re + im * im) / (samples.len() as f64 / 2.0 * energy)
}

/// recall calls baresip through the relay with `[media]` set so (baresip's account takes
/// `mediaenc`); returns the most tone-like RTP datagram each way (recall's, baresip's) among
/// those the relay saw, and how many it saw.
fn on_the_wire(name: &str, media: &str, mediaenc: &str) -> (f64, f64, usize) {
    let dir = scratch(name);
    let (bob, sip, _) = baresip(&dir, mediaenc);
    let relay = Relay::start(
        IpAddr::from([127, 0, 0, 1]),
        SocketAddr::from(([127, 0, 0, 1], sip)),
        Impairment::clean(Duration::from_millis(1)),
        Impairment::clean(Duration::from_millis(1)),
        13,
    )
    .expect("relay");
    let agent = recall_with(&dir, media, false);
    let (status, call) = call_bob(&agent, &relay.sip.to_string());
    assert_eq!(status, 201, "{call}");
    let view = flowing(&agent, &bob);
    hang_up_and_check_audio(&dir, agent, &bob, &view, true);
    let capture = relay.capture.lock().expect("capture").clone();
    let most = |caller: bool| {
        capture
            .iter()
            .filter(|c| c.from_caller == caller)
            .map(|c| tone_likeness(&c.bytes))
            .fold(0.0, f64::max)
    };
    (most(true), most(false), capture.len())
}

#[test]
fn no_datagram_on_the_wire_carries_the_tone_in_the_clear() {
    // The check can fail: in the clear, the tone is plain to hear in every packet.
    let (recall, baresip, seen) = on_the_wire("wire-plain", "encryption = \"off\"", "");
    eprintln!("plain: tone-likeness recall {recall:.3}, baresip {baresip:.3} ({seen} datagrams)");
    assert!(seen > 200, "{seen}");
    assert!(
        recall > 0.5 && baresip > 0.5,
        "plain RTP shows the tone: {recall:.3} {baresip:.3}"
    );
    for (name, media, mediaenc) in [
        (
            "wire-sdes",
            "encryption = \"mandatory\"\nsdes_over_plain_sip = true",
            "srtp-mand",
        ),
        (
            "wire-dtls",
            "encryption = \"mandatory\"\nkeying = \"dtls\"",
            "dtls_srtp",
        ),
    ] {
        let (recall, baresip, seen) = on_the_wire(name, media, mediaenc);
        eprintln!(
            "{name}: tone-likeness recall {recall:.3}, baresip {baresip:.3} ({seen} datagrams)"
        );
        assert!(seen > 200, "{name}: {seen}");
        // Noise puts an exponentially distributed share (mean 2/160) at 440 Hz: over a few
        // thousand datagrams the largest is about 0.1; above 0.3 is a one-in-10^9 chance.
        assert!(
            recall < 0.3 && baresip < 0.3,
            "{name}: a datagram looks like the tone: recall {recall:.3}, baresip {baresip:.3}"
        );
    }
}
