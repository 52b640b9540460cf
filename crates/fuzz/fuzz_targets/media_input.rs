//! Media input: SDP offers and answers, and RTP and RTCP packets into a session, in virtual
//! time. Nothing may panic.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::{
    Codec, Direction, LocalMedia, MediaSession, Negotiated, SessionParams, answer_offer,
    read_answer,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let local = LocalMedia::g711("127.0.0.1:20000".parse().expect("addr"), 1);
    let _ = answer_offer(&text, &local);
    let _ = read_answer(&text, &local);
    let epoch = Instant::now();
    let agreed = Negotiated {
        codec: Codec::Pcmu,
        payload_type: 0,
        remote: Some("127.0.0.1:30000".parse().expect("addr")),
        remote_rtcp: None,
        rtcp_mux: false,
        dtmf_payload_type: Some(101),
        dtmf_rate: 8000,
        direction: Direction::SendRecv,
        peer_uses_fec: false,
        max_bitrate: None,
        srtp: None,
        dtls: None,
        ice: None,
    };
    let params = SessionParams {
        ssrc: 1,
        seq: 2,
        timestamp: 3,
        cname: "fuzz@recall".to_owned(),
        opus: media::OpusSettings::default(),
        jitter_min: Duration::from_millis(20),
        jitter_max: Duration::from_millis(300),
        wall: Duration::from_secs(1_800_000_000),
        epoch,
        dtls_identity: None,
        srtp_suites: Vec::new(),
    };
    let Ok(mut session) = MediaSession::new(agreed, params) else {
        return;
    };
    let from = "127.0.0.1:30000".parse().expect("addr");
    let mut out = [0i16; 160];
    for (i, packet) in data.chunks(172).enumerate() {
        let now = epoch + Duration::from_millis(20 * i as u64);
        if i % 5 == 4 {
            session.handle_rtcp(now, packet);
        } else {
            session.handle_packet(now, from, packet);
        }
        session.receive(now, &mut out);
        session.send(now, &[0; 160]);
        while session.poll_event().is_some() {}
        while session.poll_transmit().is_some() {}
    }
});
