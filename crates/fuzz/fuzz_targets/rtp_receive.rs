//! RTP and RTCP as they reach a running call's media socket, in virtual time: packets of any
//! shape (and well-formed RTP headers with any payload) into G.711, G.722 and Opus sessions with
//! RTCP multiplexed, DTMF events, the jitter buffer, concealment and the decoders behind them.
//! Nothing may panic.
//!
//! Input: a first byte choosing the codec, then packets, each `[flags][length][bytes…]`:
//! flag bit 0 wraps the bytes in a valid RTP header (payload type, sequence and timestamp
//! from the next bytes), bit 1 sends it as RTCP instead, bits 2–7 advance the clock by that
//! many milliseconds.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use media::{Codec, Direction, MediaSession, Negotiated, SessionParams};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, mut rest)) = data.split_first() else {
        return;
    };
    let (codec, payload_type) = match choice % 4 {
        0 => (Codec::Pcmu, 0),
        1 => (Codec::Pcma, 8),
        2 => (Codec::G722, 9),
        _ => (Codec::Opus, 111),
    };
    let epoch = Instant::now();
    let agreed = Negotiated {
        codec,
        payload_type,
        remote: Some("127.0.0.1:30000".parse().expect("addr")),
        remote_rtcp: None,
        rtcp_mux: choice & 0x80 != 0,
        dtmf_payload_type: Some(101),
        dtmf_rate: if codec == Codec::Opus { 48000 } else { 8000 },
        direction: Direction::SendRecv,
        peer_uses_fec: choice & 0x40 != 0,
        max_bitrate: None,
        srtp: None,
        dtls: None,
        ice: None,
    };
    let params = SessionParams {
        ssrc: 1,
        seq: 65530,
        timestamp: u32::MAX - 500,
        cname: "fuzz@recall".to_owned(),
        opus: media::OpusSettings::default(),
        jitter_min: Duration::from_millis(20),
        jitter_max: Duration::from_millis(300),
        wall: Duration::from_secs(1_800_000_000),
        epoch,
        dtls_identity: None,
        srtp_suites: Vec::new(),
        silence_suppression: choice & 0x20 != 0,
    };
    let Ok(mut session) = MediaSession::new(agreed, params) else {
        return;
    };
    let from = "127.0.0.1:30000".parse().expect("addr");
    let mut now = epoch;
    let mut playout = [0i16; 160];
    let mut packet = Vec::with_capacity(1500);
    while let [flags, length, tail @ ..] = rest {
        let length = usize::from(*length).min(tail.len());
        let (bytes, after) = tail.split_at(length);
        rest = after;
        packet.clear();
        if flags & 1 != 0 && bytes.len() >= 7 {
            // V=2, marker and payload type, sequence and timestamp from the input; SSRC 7.
            packet.extend_from_slice(&[0x80, bytes[0]]);
            packet.extend_from_slice(&bytes[1..3]);
            packet.extend_from_slice(&[0, 0]);
            packet.extend_from_slice(&bytes[3..5]);
            packet.extend_from_slice(&[0, 0, 0, 7]);
            packet.extend_from_slice(&bytes[5..]);
        } else {
            packet.extend_from_slice(bytes);
        }
        now += Duration::from_millis(u64::from(flags >> 2));
        if flags & 2 != 0 {
            session.handle_rtcp(now, &packet);
        } else {
            session.handle_packet(now, from, &packet);
        }
        session.receive(now, &mut playout);
        session.send(now, &[0; 160]);
        while session.poll_event().is_some() {}
        while session.poll_transmit().is_some() {}
    }
});
