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
    assert_eq!(status["sip"]["bad_requests"], 2, "{status}");
}
