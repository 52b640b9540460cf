//! CPU per active call on the media path: two sessions talk to each other (both ways: capture
//! → encode → RTP; RTP → jitter buffer → decode → playout, RTCP included) for 60 s of
//! virtual time, as fast as the machine goes. One session is one call's media; its share of
//! the run time over 60 s is the share of one core a call takes.
//!
//! Run with `cargo bench -p recall-media --bench call_cpu`. Targets: Opus ≤ 3% of one core,
//! G.711 ≤ 0.5%. Also: SRTP protect+unprotect per packet for each suite, and the CPU of an
//! SRTP-keyed call against a plain one in the same run (targets: +10% for G.711, +5% for Opus).

// The bench reads the clock to time itself; the code it measures never does.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{
    Codec, Direction, MasterKey, MediaSession, Negotiated, OpusSettings, SessionParams, Srtp,
    SrtpKeys, Suite,
};

/// Two keys of `suite`, made from fixed bytes (the bench needs no secrecy).
fn keys(suite: Suite) -> (MasterKey, MasterKey) {
    let key = |seed: u8| {
        MasterKey::generate(suite, |b| {
            b.iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = seed.wrapping_add(i as u8));
        })
        .expect("key")
    };
    (key(1), key(101))
}

fn session(
    codec: Codec,
    ssrc: u32,
    port: u16,
    epoch: Instant,
    srtp: Option<SrtpKeys>,
) -> MediaSession {
    let remote = SocketAddr::from(([127, 0, 0, 1], port));
    MediaSession::new(
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
            srtp,
            dtls: None,
            ice: None,
        },
        SessionParams {
            ssrc,
            seq: 1,
            timestamp: 1,
            cname: format!("{ssrc}@bench"),
            opus: OpusSettings::default(),
            jitter_min: Duration::from_millis(20),
            jitter_max: Duration::from_millis(300),
            wall: Duration::from_secs(1_795_000_000),
            epoch,
            dtls_identity: None,
            srtp_suites: Vec::new(),
            silence_suppression: false,
        },
    )
    .expect("session")
}

/// Seconds of CPU for 60 s of one call's media, averaged over the two sessions; SRTP-keyed
/// with `suite` when given.
fn run(codec: Codec, suite: Option<Suite>) -> f64 {
    let epoch = Instant::now();
    let (ka, kb) = match suite {
        Some(suite) => {
            let (x, y) = keys(suite);
            (
                Some(SrtpKeys {
                    local: x.clone(),
                    remote: y.clone(),
                }),
                Some(SrtpKeys {
                    local: y,
                    remote: x,
                }),
            )
        }
        None => (None, None),
    };
    let mut a = session(codec, 1, 2000, epoch, ka);
    let mut b = session(codec, 2, 1000, epoch, kb);
    let frame = codec.frame_samples();
    let rate = codec.clock_rate() as f32;
    // A voice-like signal: two tones and a little noise, so the codecs work as for speech.
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    let capture: Vec<Vec<i16>> = (0..50)
        .map(|f| {
            (0..frame)
                .map(|i| {
                    noise ^= noise << 13;
                    noise ^= noise >> 7;
                    noise ^= noise << 17;
                    let t = (f * frame + i) as f32 / rate;
                    let v = (t * 2.0 * std::f32::consts::PI * 180.0).sin() * 6000.0
                        + (t * 2.0 * std::f32::consts::PI * 1250.0).sin() * 2000.0
                        + ((noise % 2000) as f32 - 1000.0);
                    v as i16
                })
                .collect()
        })
        .collect();
    let mut out = vec![0i16; frame];
    let (from_a, from_b) = (
        SocketAddr::from(([127, 0, 0, 1], 1000)),
        SocketAddr::from(([127, 0, 0, 1], 2000)),
    );
    let started = Instant::now();
    for tick in 0..3000u64 {
        let now = epoch + Duration::from_millis(20 * tick);
        let frame = &capture[(tick % 50) as usize];
        a.tick(now, frame, &mut out);
        b.tick(now, frame, &mut out);
        while let Some(t) = a.poll_transmit() {
            b.handle_packet(now, from_a, &t.bytes);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_packet(now, from_b, &t.bytes);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(a.stats().packets_received > 2900 && b.stats().packets_received > 2900);
    elapsed / 2.0
}

/// Nanoseconds to protect and then unprotect one 20 ms G.711 packet (172 bytes of RTP).
fn per_packet(suite: Suite) -> f64 {
    let (x, y) = keys(suite);
    let (mut sender, mut receiver) = (
        Srtp::new(&x, &y).expect("sender"),
        Srtp::new(&y, &x).expect("receiver"),
    );
    let mut packet = vec![0u8; 172];
    packet[0] = 0x80;
    packet[11] = 7;
    let rounds = 200_000u32;
    let started = Instant::now();
    for seq in 0..rounds {
        packet[2..4].copy_from_slice(&(seq as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&(seq * 160).to_be_bytes());
        let protected = sender
            .protect_rtp(std::hint::black_box(&packet))
            .expect("protect");
        let plain = receiver.unprotect_rtp(&protected).expect("unprotect");
        std::hint::black_box(plain);
    }
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    println!("# SRTP per packet: protect + unprotect of one 172-byte RTP packet (best of 3)");
    for suite in Suite::ALL {
        let ns = (0..3).map(|_| per_packet(suite)).fold(f64::MAX, f64::min);
        println!("{:<24} {:>8.0} ns", suite.name(), ns);
    }
    println!();
    println!("# CPU per active call, media path only (60 s of audio, both directions)");
    println!(
        "{:<6} {:>14} {:>14} {:>12}",
        "codec", "cpu ms / 60 s", "% of a core", "target"
    );
    for (codec, target) in [(Codec::Pcmu, 0.5), (Codec::Pcma, 0.5), (Codec::Opus, 3.0)] {
        // The best of three runs: the machine's other work only adds.
        let seconds = (0..3).map(|_| run(codec, None)).fold(f64::MAX, f64::min);
        let percent = seconds / 60.0 * 100.0;
        let mark = if percent <= target { "ok" } else { "OVER" };
        println!(
            "{:<6} {:>14.1} {:>13.3}% {:>8.1}% {mark}",
            codec.name(),
            seconds * 1000.0,
            percent,
            target
        );
    }
    println!();
    println!(
        "# SRTP call vs plain call, same run, interleaved, best of 5 each (targets: +10% G.711, +5% Opus)"
    );
    println!(
        "{:<6} {:<24} {:>10} {:>10} {:>9} {:>7}",
        "codec", "suite", "plain ms", "srtp ms", "overhead", "target"
    );
    for (codec, target) in [(Codec::Pcmu, 10.0), (Codec::Opus, 5.0)] {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AeadAes128Gcm] {
            let (mut plain, mut srtp) = (f64::MAX, f64::MAX);
            for _ in 0..5 {
                plain = plain.min(run(codec, None));
                srtp = srtp.min(run(codec, Some(suite)));
            }
            let overhead = (srtp / plain - 1.0) * 100.0;
            let mark = if overhead <= target { "ok" } else { "OVER" };
            println!(
                "{:<6} {:<24} {:>10.1} {:>10.1} {:>8.1}% {:>6.0}% {mark}",
                codec.name(),
                suite.name(),
                plain * 1000.0,
                srtp * 1000.0,
                overhead,
                target
            );
        }
    }
}
