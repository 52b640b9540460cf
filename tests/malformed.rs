//! Bad input over a real socket: garbage and truncated datagrams are dropped, invalid requests
//! are answered 400 naming the fault, and the agent keeps answering OPTIONS.

use std::net::UdpSocket;
use std::time::Duration;

use crate::support::{Headless, fixture, scratch};

fn sip(name: &str, vars: &[(&str, &str)]) -> Vec<u8> {
    let mut text = std::fs::read_to_string(fixture(name)).expect("fixture");
    for (k, v) in vars {
        text = text.replace(&format!("{{{k}}}"), v);
    }
    text.replace('\n', "\r\n").into_bytes()
}

fn exchange(socket: &UdpSocket, bytes: &[u8]) -> String {
    socket.send(bytes).expect("send");
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn garbage_is_survived_and_invalid_requests_get_400_naming_the_fault() {
    let dir = scratch("malformed");
    let agent = Headless::start(&dir, &[]);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(agent.sip).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let invite = sip("sip/torture/mpart01.sip", &[]);
    for len in (0..invite.len()).step_by(7) {
        socket.send(&invite[..len]).expect("send");
    }
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..500 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let len = (rng % 1400) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (rng >> (i % 56)) as u8).collect();
        socket.send(&bytes).expect("send");
    }
    std::thread::sleep(Duration::from_millis(300));
    // Drain whatever the truncated INVITEs that happened to parse were answered with.
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while socket.recv(&mut buf).is_ok() {}
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let answer = exchange(&socket, &sip("sip/options.sip", &[]));
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
    let answer = exchange(&socket, &sip("sip/torture/mismatch01.sip", &[]));
    assert!(
        answer.starts_with("SIP/2.0 400 CSeq Method Does Not Match\r\n"),
        "{answer}"
    );
    let answer = exchange(&socket, &sip("sip/torture/badaspec.sip", &[]));
    assert!(
        answer.starts_with("SIP/2.0 400 Malformed To Header\r\n"),
        "{answer}"
    );

    let status = agent.status();
    assert!(
        status["sip"]["malformed_dropped"].as_u64().unwrap_or(0) > 100,
        "{status}"
    );
    // The two above, and each prefix of the INVITE that holds its whole head but not all of
    // its body (RFC 3261 §18.3: 400, not silence).
    let head = invite
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let truncated = (0..invite.len())
        .step_by(7)
        .filter(|len| *len >= head)
        .count() as u64;
    assert_eq!(
        status["sip"]["bad_requests"].as_u64(),
        Some(2 + truncated),
        "{status}"
    );
}

#[test]
fn broken_attached_data_is_kept_raw_and_flagged_and_the_call_still_rings() {
    let dir = scratch("bad-attached");
    let agent = Headless::start(&dir, &[]);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(agent.sip).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    // 20 kB of case notes: over the 16 kB a value may have, still one UDP datagram.
    let huge = "n".repeat(20_000);
    let len = sdp.len().to_string();
    let invite = sip(
        "sip/invite-bad-attached-data.sip",
        &[
            ("branch", "1"),
            ("call_id", "bad-attached-1@127.0.0.1"),
            ("huge", &huge),
            ("len", &len),
        ],
    );
    let mut invite = String::from_utf8(invite).expect("utf8");
    invite = invite.replace("{sdp}\r\n", sdp);
    let mut answers = Vec::new();
    socket.send(invite.as_bytes()).expect("send");
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = socket.recv(&mut buf) {
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        let ringing = answer.starts_with("SIP/2.0 180");
        answers.push(answer);
        if ringing {
            break;
        }
    }
    assert!(
        answers.iter().any(|a| a.starts_with("SIP/2.0 180 Ringing")),
        "the call rings: {answers:?}"
    );

    let list = crate::support::get_json(agent.control, "/v1/interactions");
    let interaction = &list[0];
    let flags: Vec<&str> = interaction["attached_data_flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f["flag"].as_str())
        .collect();
    assert_eq!(
        flags,
        [
            "invalid_encoding",
            "invalid_json",
            "oversized",
            "invalid_hex"
        ],
        "{}",
        interaction["attached_data_flags"]
    );
    let data = &interaction["attached_data"];
    assert_eq!(data["_customer_number"], "%ZZ555%", "kept as received");
    assert_eq!(data["GMS_UserData"], r#"{"_service_name": "Billing","#);
    assert_eq!(data["CaseNotes"].as_str().map(str::len), Some(20_000));
    assert_eq!(data["User-to-User"], "6e6f7420686578!");
    assert_eq!(data["CallUUID"], "0BADDA7A");
    assert_eq!(interaction["callback"]["type"], "immediate");

    let id = interaction["id"].as_str().expect("id");
    let (status, _) =
        crate::support::post_json(agent.control, &format!("/v1/interactions/{id}/reject"), "");
    assert_eq!(status, 200);
    let answer = loop {
        let n = socket.recv(&mut buf).expect("the 486");
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !answer.starts_with("SIP/2.0 1") {
            break answer;
        }
    };
    assert!(answer.starts_with("SIP/2.0 486"), "{answer}");
    let answer = exchange(&socket, &sip("sip/options.sip", &[]));
    assert!(answer.starts_with("SIP/2.0 200 OK\r\n"), "{answer}");
}
