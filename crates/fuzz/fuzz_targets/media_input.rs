//! Media input: SDP offers and answers, and RTP packets into a session. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{Codec, Direction, LocalMedia, MediaSession, Negotiated, answer_offer, read_answer};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let local = LocalMedia::g711("127.0.0.1:20000".parse().expect("addr"), 1);
    let _ = answer_offer(&text, &local);
    let _ = read_answer(&text);
    let mut session = MediaSession::new(
        Negotiated {
            codec: Codec::Pcmu,
            payload_type: 0,
            remote: Some("127.0.0.1:30000".parse().expect("addr")),
            dtmf_payload_type: Some(101),
            direction: Direction::SendRecv,
        },
        1,
        2,
        3,
    );
    let from = "127.0.0.1:30000".parse().expect("addr");
    let mut out = [0i16; 160];
    for packet in data.chunks(172) {
        session.handle_packet(from, packet);
        let _ = session.tick(&[0; 160], &mut out);
        while session.poll_event().is_some() {}
    }
});
