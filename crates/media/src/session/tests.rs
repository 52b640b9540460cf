// One real instant is the epoch of the tests' virtual time; the code under test never reads
// the clock.
#![allow(clippy::disallowed_methods)]

use super::*;
use sipx_sdp::Direction;

fn agreed(codec: Codec, port: u16) -> Negotiated {
    let remote = SocketAddr::from(([127, 0, 0, 1], port));
    Negotiated {
        codec,
        payload_type: codec.default_payload_type(),
        remote: Some(remote),
        remote_rtcp: Some(remote),
        rtcp_mux: true,
        dtmf_payload_type: Some(101),
        dtmf_rate: codec.clock_rate(),
        direction: Direction::SendRecv,
        peer_uses_fec: true,
        max_bitrate: None,
        srtp: None,
        dtls: None,
        ice: None,
    }
}

fn params(ssrc: u32, epoch: Instant) -> SessionParams {
    SessionParams {
        ssrc,
        seq: 100,
        timestamp: 1000,
        cname: format!("{ssrc}@test"),
        opus: OpusSettings::default(),
        jitter_min: Duration::from_millis(20),
        jitter_max: Duration::from_millis(300),
        wall: Duration::from_secs(1_795_000_000),
        epoch,
        dtls_identity: None,
        srtp_suites: Vec::new(),
        silence_suppression: false,
    }
}

fn tone(rate: u32, n: usize, start: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| {
            ((i as f32 * 440.0 * 2.0 * std::f32::consts::PI / rate as f32).sin() * 8000.0) as i16
        })
        .collect()
}

/// Runs `a` → `b` for `ticks` 20 ms ticks over a perfect network; returns what b played.
fn run(a: &mut MediaSession, b: &mut MediaSession, t0: Instant, ticks: usize) -> Vec<i16> {
    let frame = a.frame_samples();
    let rate = a.codec().sample_rate();
    let mut heard = Vec::new();
    let mut out = vec![0i16; frame];
    let silence = vec![0i16; frame];
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20 * tick as u64);
        a.tick(now, &tone(rate, frame, tick * frame), &mut out);
        while let Some(t) = a.poll_transmit() {
            b.handle_packet(
                now + Duration::from_millis(1),
                SocketAddr::from(([127, 0, 0, 1], 1000)),
                &t.bytes,
            );
        }
        b.tick(now + Duration::from_millis(2), &silence, &mut out);
        while let Some(t) = b.poll_transmit() {
            // b's media is not a's concern here; its DTLS handshake replies are.
            if crate::dtls::is_dtls(&t.bytes) {
                a.handle_packet(
                    now + Duration::from_millis(3),
                    SocketAddr::from(([127, 0, 0, 1], 2000)),
                    &t.bytes,
                );
            }
        }
        heard.extend_from_slice(&out);
    }
    heard
}

#[test]
fn audio_crosses_between_two_sessions_with_either_codec() {
    for codec in Codec::ALL {
        let t0 = Instant::now();
        let mut a = MediaSession::new(agreed(codec, 2000), params(1, t0)).expect("a");
        let mut b = MediaSession::new(agreed(codec, 1000), params(2, t0)).expect("b");
        let heard = run(&mut a, &mut b, t0, 50);
        let tail = &heard[heard.len() / 2..];
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!(rms > 3000.0, "{codec}: b played a's tone (rms {rms})");
        let stats = b.stats();
        assert_eq!(stats.jitter.concealed, 0, "{codec}");
        assert_eq!(stats.packets_received, 50, "{codec}");
        assert_eq!(
            stats.jitter.target_ms, 20,
            "{codec}: no jitter, the minimum delay"
        );
    }
}

/// G.722 (RFC 3551 §4.5.2): 320 samples of 16 kHz audio a frame, in 160 bytes, with the RTP
/// timestamp moving 160 a frame; a 6 kHz tone, beyond what 8 kHz audio can hold, comes through.
#[test]
fn g722_carries_16_khz_audio_on_an_8_khz_clock() {
    let t0 = Instant::now();
    let mut a = MediaSession::new(agreed(Codec::G722, 2000), params(1, t0)).expect("a");
    let mut b = MediaSession::new(agreed(Codec::G722, 1000), params(2, t0)).expect("b");
    assert_eq!(a.frame_samples(), 320);
    let six_khz = |n: usize, start: usize| -> Vec<i16> {
        (start..start + n)
            .map(|i| {
                ((i as f32 * 6000.0 * 2.0 * std::f32::consts::PI / 16_000.0).sin() * 8000.0) as i16
            })
            .collect()
    };
    let mut out = vec![0i16; 320];
    let mut heard = Vec::new();
    let mut stamps = Vec::new();
    for tick in 0..50usize {
        let now = t0 + Duration::from_millis(20 * tick as u64);
        a.tick(now, &six_khz(320, tick * 320), &mut out);
        while let Some(t) = a.poll_transmit() {
            let reader = RtpReader::new(&t.bytes).expect("rtp");
            if reader.payload_type() == 9 {
                assert_eq!(reader.payload().len(), 160, "64 kb/s: 160 bytes in 20 ms");
                stamps.push(reader.timestamp());
            }
            b.handle_packet(
                now + Duration::from_millis(1),
                SocketAddr::from(([127, 0, 0, 1], 1000)),
                &t.bytes,
            );
        }
        b.tick(now + Duration::from_millis(2), &[0; 320], &mut out);
        heard.extend_from_slice(&out);
    }
    assert!(
        stamps.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 160),
        "{stamps:?}"
    );
    let tail = &heard[heard.len() / 2..];
    let rms = (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
    assert!(rms > 3000.0, "the 6 kHz tone came through (rms {rms})");
    // And it is still 6 kHz: zero crossings of a 6 kHz sine at 16 kHz, 12 000 a second.
    let crossings = tail.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    let expected = tail.len() * 12_000 / 16_000;
    assert!(
        crossings.abs_diff(expected) < expected / 10,
        "{crossings} vs {expected}"
    );
    let stats = b.stats();
    assert_eq!((stats.packets_received, stats.jitter.concealed), (50, 0));
}

#[test]
fn dtmf_is_sent_as_events_and_reported_once_per_digit() {
    for codec in [Codec::Pcmu, Codec::Opus] {
        let t0 = Instant::now();
        let mut a = MediaSession::new(agreed(codec, 2000), params(1, t0)).expect("a");
        let mut b = MediaSession::new(agreed(codec, 1000), params(2, t0)).expect("b");
        assert!(a.send_dtmf(&DtmfDigit::parse_all("12#").expect("digits")));
        let frame = a.frame_samples();
        let mut out = vec![0i16; frame];
        let mut event_packets = 0;
        let mut durations = Vec::new();
        for tick in 0..40u64 {
            let now = t0 + Duration::from_millis(20 * tick);
            a.tick(now, &vec![0; frame], &mut out);
            while let Some(t) = a.poll_transmit() {
                let reader = RtpReader::new(&t.bytes).expect("rtp");
                if reader.payload_type() == 101 {
                    event_packets += 1;
                    let p = reader.payload();
                    durations.push(u16::from_be_bytes([p[2], p[3]]));
                }
                b.handle_packet(now, SocketAddr::from(([127, 0, 0, 1], 1000)), &t.bytes);
            }
        }
        // 3 digits x (4 updates + 3 end packets).
        assert_eq!(event_packets, 21, "{codec}");
        let step = (codec.clock_rate() / 50) as u16;
        assert_eq!(
            durations[..7],
            [
                step,
                2 * step,
                3 * step,
                4 * step,
                5 * step,
                5 * step,
                5 * step
            ],
            "{codec}"
        );
        let digits: String = std::iter::from_fn(|| b.poll_event())
            .filter_map(|e| match e {
                MediaEvent::Dtmf(d) => Some(d.as_char()),
                _ => None,
            })
            .collect();
        assert_eq!(digits, "12#", "{codec}");
        assert!(!a.sending_dtmf());
    }
}

#[test]
fn garbage_on_the_rtp_port_is_ignored() {
    let t0 = Instant::now();
    let mut s = MediaSession::new(agreed(Codec::Pcmu, 2000), params(1, t0)).expect("s");
    let from = SocketAddr::from(([127, 0, 0, 1], 9));
    s.handle_packet(t0, from, b"");
    s.handle_packet(t0, from, &[0x00, 0x01, 0x00, 0x00]); // a STUN binding request header
    s.handle_packet(t0, from, &[0x80; 3]);
    s.handle_rtcp(t0, b"nonsense");
    assert_eq!(s.stats().ignored, 4);
    assert_eq!(
        s.remote().map(|r| r.port()),
        Some(2000),
        "garbage does not latch"
    );
}

#[test]
fn rtcp_reports_flow_every_five_seconds_and_measure_the_round_trip() {
    let t0 = Instant::now();
    let mut a = MediaSession::new(agreed(Codec::Pcmu, 2000), params(1, t0)).expect("a");
    let mut b = MediaSession::new(agreed(Codec::Pcmu, 1000), params(2, t0)).expect("b");
    let frame = a.frame_samples();
    let mut out = vec![0i16; frame];
    let mut reports = 0;
    // 12 s; the network takes 15 ms each way.
    for tick in 0..600u64 {
        let now = t0 + Duration::from_millis(20 * tick);
        let mut to_b = Vec::new();
        a.tick(now, &tone(8000, frame, 0), &mut out);
        while let Some(t) = a.poll_transmit() {
            if is_rtcp(&t.bytes) {
                reports += 1;
            }
            to_b.push(t.bytes);
        }
        for bytes in to_b {
            b.handle_packet(
                now + Duration::from_millis(15),
                SocketAddr::from(([127, 0, 0, 1], 1000)),
                &bytes,
            );
        }
        let mut to_a = Vec::new();
        b.tick(
            now + Duration::from_millis(15),
            &tone(8000, frame, 0),
            &mut out,
        );
        while let Some(t) = b.poll_transmit() {
            to_a.push(t.bytes);
        }
        for bytes in to_a {
            a.handle_packet(
                now + Duration::from_millis(30),
                SocketAddr::from(([127, 0, 0, 1], 2000)),
                &bytes,
            );
        }
    }
    assert_eq!(reports, 3, "at 1 s, 6 s and 11 s");
    let stats = a.stats();
    assert!(stats.rtcp_received >= 2, "{stats:?}");
    assert_eq!(stats.remote.cumulative_lost, 0);
    let rtt = stats.remote.rtt_ms.expect("rtt");
    assert!(
        (rtt - 30.0).abs() < 21.0,
        "round trip about 30 ms (plus the reply's wait): {rtt}"
    );
    assert_eq!(stats.local.lost, 0);
}

#[test]
fn an_srtp_keyed_stream_carries_the_tone_and_never_the_plain_payload() {
    use crate::srtp::{MasterKey, Suite};
    for suite in Suite::ALL {
        let t0 = Instant::now();
        let key = |seed: u8| {
            MasterKey::generate(suite, |b| {
                b.iter_mut()
                    .enumerate()
                    .for_each(|(i, x)| *x = seed ^ i as u8);
            })
            .expect("key")
        };
        let (ka, kb) = (key(1), key(99));
        let mut agreed_a = agreed(Codec::Pcmu, 2000);
        agreed_a.srtp = Some(crate::keying::SrtpKeys {
            local: ka.clone(),
            remote: kb.clone(),
        });
        let mut agreed_b = agreed(Codec::Pcmu, 1000);
        agreed_b.srtp = Some(crate::keying::SrtpKeys {
            local: kb,
            remote: ka,
        });
        let mut a = MediaSession::new(agreed_a, params(1, t0)).expect("a");
        let mut b = MediaSession::new(agreed_b, params(2, t0)).expect("b");
        assert_eq!(a.encryption(), Some(suite));
        // What goes on the wire: never the PCMU of the tone.
        let mut out = vec![0i16; 160];
        a.tick(t0, &tone(8000, 160, 0), &mut out);
        let wire = a.poll_transmit().expect("a packet").bytes;
        let plain: Vec<u8> = tone(8000, 160, 0)
            .iter()
            .map(|&s| crate::g711::ulaw_encode(s))
            .collect();
        assert!(
            !wire.windows(16).any(|w| plain.windows(16).any(|p| p == w)),
            "{suite}: PCMU in the clear"
        );
        let heard = run(&mut a, &mut b, t0 + Duration::from_millis(20), 50);
        let tail = &heard[heard.len() / 2..];
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!(rms > 3000.0, "{suite}: b decrypted a's tone (rms {rms})");
        // Plain RTP thrown at the encrypted stream is not played: it fails authentication.
        let mut plain_sender =
            MediaSession::new(agreed(Codec::Pcmu, 1000), params(3, t0)).expect("c");
        let now = t0 + Duration::from_secs(5);
        plain_sender.tick(now, &tone(8000, 160, 0), &mut out);
        let before = b.stats();
        while let Some(t) = plain_sender.poll_transmit() {
            b.handle_packet(now, SocketAddr::from(([127, 0, 0, 1], 3000)), &t.bytes);
        }
        let after = b.stats();
        assert_eq!(after.packets_received, before.packets_received, "{suite}");
        assert_eq!(
            after.srtp_auth_failures,
            before.srtp_auth_failures + 1,
            "{suite}"
        );
    }
}

#[test]
fn a_dtls_keyed_stream_sends_nothing_until_the_handshake_then_carries_the_tone() {
    use crate::dtls::{DtlsAgreed, DtlsIdentity};
    let (ida, idb) = (
        DtlsIdentity::generate().expect("a"),
        DtlsIdentity::generate().expect("b"),
    );
    let t0 = Instant::now();
    let session = |client: bool, port: u16, ours: &DtlsIdentity, theirs: &DtlsIdentity, ssrc| {
        let mut agreed = agreed(Codec::Pcmu, port);
        agreed.dtls = Some(DtlsAgreed {
            client,
            remote_fingerprint: theirs.fingerprint().clone(),
        });
        let mut params = params(ssrc, t0);
        params.dtls_identity = Some(ours.clone());
        MediaSession::new(agreed, params).expect("session")
    };
    // a (the client) sends to 127.0.0.1:2000, where b is; b's packets come from there.
    let mut a = session(true, 2000, &ida, &idb, 1);
    let mut b = session(false, 1000, &idb, &ida, 2);
    let mut out = vec![0i16; 160];
    // Before the handshake: a's first tick sends its ClientHello and no RTP.
    a.tick(t0, &tone(8000, 160, 0), &mut out);
    let first = a.poll_transmit().expect("ClientHello");
    assert!(crate::dtls::is_dtls(&first.bytes));
    assert!(a.poll_transmit().is_none(), "no RTP before the keys");
    assert_eq!(a.encryption(), None);
    b.handle_packet(t0, SocketAddr::from(([127, 0, 0, 1], 1000)), &first.bytes);
    let heard = run(&mut a, &mut b, t0 + Duration::from_millis(20), 100);
    assert_eq!(
        a.encryption(),
        Some(crate::srtp::Suite::AesCm128HmacSha1_80)
    );
    assert_eq!(b.encryption(), a.encryption());
    assert!(std::iter::from_fn(|| a.poll_event()).any(|e| e == MediaEvent::Secured));
    let tail = &heard[heard.len() / 2..];
    let rms = (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
    assert!(rms > 3000.0, "b decrypted a's tone (rms {rms})");
    assert_eq!(b.stats().srtp_auth_failures, 0);
    // b has heard a's SRTP, so a's end of the handshake is over: b lets the association's
    // state go, its keys (and the label) stay. a has heard no SRTP from b (run() passes
    // b's DTLS only), so it keeps its end, in case b still asks for a flight again.
    assert!(b.dtls.is_none());
    assert!(a.dtls.is_some());
    assert_eq!(b.encryption(), a.encryption());
    let more = run(&mut a, &mut b, t0 + Duration::from_millis(2020), 50);
    assert!(more.iter().any(|&s| s.abs() > 3000), "still heard after");
}

#[test]
fn a_dtls_stream_whose_peer_never_answers_fails_and_stays_silent() {
    use crate::dtls::{DtlsAgreed, DtlsIdentity, HANDSHAKE_DEADLINE};
    let (ida, idb) = (
        DtlsIdentity::generate().expect("a"),
        DtlsIdentity::generate().expect("b"),
    );
    let t0 = Instant::now();
    let mut agreed = agreed(Codec::Pcmu, 2000);
    agreed.dtls = Some(DtlsAgreed {
        client: false,
        remote_fingerprint: idb.fingerprint().clone(),
    });
    let mut params = params(1, t0);
    params.dtls_identity = Some(ida);
    let mut a = MediaSession::new(agreed, params).expect("a");
    let mut out = vec![0i16; 160];
    let ticks = (HANDSHAKE_DEADLINE.as_millis() / 20) as u64 + 2;
    let mut failed = None;
    for tick in 0..ticks {
        let now = t0 + Duration::from_millis(20 * tick);
        a.tick(now, &tone(8000, 160, 0), &mut out);
        assert!(
            a.poll_transmit().is_none(),
            "a server sends nothing unasked"
        );
        if let Some(MediaEvent::EncryptionFailed(why)) = a.poll_event() {
            failed = Some(why);
        }
    }
    let why = failed.expect("failed at the deadline");
    assert!(why.contains("DTLS"), "{why}");
    assert!(a.encryption_failed());
    assert_eq!(a.stats().packets_sent, 0);
}

/// Silence suppression (RFC 3551 §4.1) on a G.711 stream: silence sends the first frame and
/// then a keep-alive a second; speech goes out every frame, its first packet marked; after it,
/// ten more frames (the hangover), then silence again; a digit goes out in silence; the far
/// end hears the speech whole. Off, every frame goes out.
#[test]
fn silence_suppression_sends_speech_and_a_keepalive_a_second() {
    let t0 = Instant::now();
    let frame = Codec::Pcmu.frame_samples();
    let silence = vec![0i16; frame];
    let mut out = vec![0i16; frame];
    for on in [true, false] {
        let mut a = MediaSession::new(
            agreed(Codec::Pcmu, 2000),
            SessionParams {
                silence_suppression: on,
                ..params(1, t0)
            },
        )
        .expect("a");
        let mut b = MediaSession::new(agreed(Codec::Pcmu, 1000), params(2, t0)).expect("b");
        // (tick, marker, payload type) of every RTP packet a sent.
        let mut sent: Vec<(usize, bool, u8)> = Vec::new();
        let mut heard = Vec::new();
        for tick in 0..400 {
            let now = t0 + Duration::from_millis(20 * tick as u64);
            // 0–3 s silent, 3–4 s a tone, 4–8 s silent with a digit at 6 s.
            let speaking = (150..200).contains(&tick);
            if tick == 300 {
                assert!(a.send_dtmf(&DtmfDigit::parse_all("5").expect("digit")));
            }
            let capture = if speaking {
                tone(8000, frame, tick * frame)
            } else {
                silence.clone()
            };
            a.tick(now, &capture, &mut out);
            while let Some(t) = a.poll_transmit() {
                if let Ok(reader) = RtpReader::new(&t.bytes) {
                    sent.push((tick, reader.mark(), reader.payload_type()));
                }
                b.handle_packet(
                    now + Duration::from_millis(1),
                    SocketAddr::from(([127, 0, 0, 1], 1000)),
                    &t.bytes,
                );
            }
            b.tick(now + Duration::from_millis(2), &silence, &mut out);
            while b.poll_transmit().is_some() {}
            heard.extend_from_slice(&out);
        }
        let audio: Vec<usize> = sent.iter().filter(|s| s.2 == 0).map(|s| s.0).collect();
        if !on {
            // Every frame but those the digit's packets took.
            assert!(
                audio.len() >= 390 && sent.len() >= 400,
                "without suppression every frame goes out: {} audio of {}",
                audio.len(),
                sent.len()
            );
            continue;
        }
        // The first frame, then one a second while silent.
        let first_silence: Vec<usize> = audio.iter().copied().filter(|&t| t < 150).collect();
        assert_eq!(
            first_silence,
            vec![0, 50, 100],
            "silence: {first_silence:?}"
        );
        // Speech: every frame, the first marked; then the hangover's ten.
        let talk: Vec<usize> = audio
            .iter()
            .copied()
            .filter(|&t| (150..250).contains(&t))
            .collect();
        assert_eq!(talk, (150..210).collect::<Vec<_>>(), "speech and hangover");
        assert!(
            audio.contains(&259),
            "a keep-alive a second after the hangover"
        );
        assert!(
            sent.iter().any(|s| s.0 == 150 && s.1),
            "the talkspurt's first packet carries the marker"
        );
        assert!(
            sent.iter().any(|s| s.0 == 100 && s.1),
            "a keep-alive after suppressed frames carries the marker"
        );
        // The digit (payload type 101) goes out in silence.
        let digit = sent.iter().filter(|s| s.2 == 101).count();
        assert!(digit >= 6, "the digit's packets: {digit}");
        // Well under a tenth of the frames for the silent six seconds.
        assert!(audio.len() < 60 + 10 + 12, "{} audio packets", audio.len());
        // The far end heard the tone: its middle 0.8 s is loud.
        let middle = &heard[(155 * frame)..(195 * frame)];
        let rms = (middle.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / middle.len() as f64)
            .sqrt();
        assert!(rms > 3000.0, "b heard the speech (rms {rms})");
    }
}

/// The header we write ourselves (RFC 3550 §5.1): version 2, no padding, extension or CSRCs,
/// the agreed payload type, and sequence, timestamp and SSRC from the session's parameters,
/// stepping by one packet and one frame; the payload a G.711 frame right after it.
#[test]
fn sent_rtp_headers_carry_the_sessions_fields() {
    let t0 = Instant::now();
    let mut a = MediaSession::new(agreed(Codec::Pcma, 2000), params(0xdead_beef, t0)).expect("a");
    let frame = a.frame_samples();
    let mut out = vec![0i16; frame];
    let mut sent = Vec::new();
    for tick in 0..3u32 {
        let now = t0 + Duration::from_millis(20 * u64::from(tick));
        a.tick(now, &vec![0i16; frame], &mut out);
        while let Some(t) = a.poll_transmit() {
            if !is_rtcp(&t.bytes) {
                sent.push(t.bytes);
            }
        }
    }
    assert_eq!(sent.len(), 3);
    for (n, bytes) in sent.iter().enumerate() {
        let n = n as u16;
        assert_eq!(bytes.len(), 12 + frame, "header and one frame");
        assert_eq!(bytes[0], 0x80, "V=2, no padding, extension or CSRCs");
        let reader = RtpReader::new(bytes).expect("parses");
        assert_eq!(reader.payload_type(), 8);
        assert_eq!(u16::from(reader.sequence_number()), 100 + n);
        assert_eq!(reader.timestamp(), 1000 + u32::from(n) * 160);
        assert_eq!(reader.ssrc(), 0xdead_beef);
        assert!(reader.payload().iter().all(|&b| b == 0xd5), "A-law silence");
    }
}
