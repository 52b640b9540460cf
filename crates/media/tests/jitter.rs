//! The adaptive jitter buffer in virtual time, through a real receiving `MediaSession`: a
//! G.711 (or Opus) sender whose packets cross a seeded model network — delay, jitter, loss
//! bursts, reordering, duplication, a sender clock running ±1% off ours, sequence and
//! timestamp wrap, silence (DTX) — and the counts the buffer reports.

// The test takes one real instant as the epoch of its virtual time; the code under test never
// reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{Codec, Direction, Encoder, MediaSession, Negotiated, OpusSettings, SessionParams};
use rtp_rs::RtpPacketBuilder;

/// A seeded xorshift, so every run sees the same network.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the network does to the stream.
#[derive(Clone)]
struct Network {
    /// One-way delay every packet has.
    base: Duration,
    /// Extra delay, uniform in [0, jitter).
    jitter: Duration,
    /// Packet indices dropped.
    lost: Vec<usize>,
    /// Every `n`th packet arrives twice (0: never).
    duplicate_every: usize,
    /// Every `n`th packet swaps places with the one after it (0: never).
    swap_every: usize,
    /// The sender's clock runs this much fast (+) or slow (-), in parts per million.
    drift_ppm: i64,
    /// (index, gap): before packet `index` the sender pauses for `gap` (DTX: its sequence
    /// goes on, its timestamps jump).
    pause: Option<(usize, Duration)>,
    /// Every `n`th packet is held up by the second value on top of the jitter (0: never).
    spike_every: usize,
    spike: Duration,
    /// From this packet on the sender is a new source: another SSRC, its sequence numbers
    /// 20 000 lower and its timestamps elsewhere (a PBX bridging another leg in).
    new_source_at: Option<usize>,
    seed: u64,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(30),
            jitter: Duration::ZERO,
            lost: Vec::new(),
            duplicate_every: 0,
            swap_every: 0,
            drift_ppm: 0,
            pause: None,
            spike_every: 0,
            spike: Duration::ZERO,
            new_source_at: None,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

struct Outcome {
    stats: media::MediaStats,
    /// 20 ms frames played that held sound.
    audible_frames: usize,
    frames: usize,
    /// For each talk spurt after the first: from its first packet's arrival to the moment its
    /// first loud sample is played (the tick's time plus the sample's place in the frame).
    spurt_delays: Vec<Duration>,
}

fn negotiated(codec: Codec) -> Negotiated {
    let remote = SocketAddr::from(([127, 0, 0, 1], 4000));
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

/// Sends `packets` 20 ms packets of a tone, starting at sequence `seq0` and timestamp `ts0`,
/// across `net` to a receiving session; plays until everything has arrived.
fn stream(codec: Codec, packets: usize, seq0: u16, ts0: u32, net: &Network) -> Outcome {
    let t0 = Instant::now();
    let rate = codec.clock_rate();
    let frame = codec.frame_samples();
    let mut receiver = MediaSession::new(
        negotiated(codec),
        SessionParams {
            ssrc: 2,
            seq: 1,
            timestamp: 1,
            cname: "rx@test".to_owned(),
            opus: OpusSettings::default(),
            jitter_min: Duration::from_millis(20),
            jitter_max: Duration::from_millis(300),
            wall: Duration::from_secs(1_795_000_000),
            epoch: t0,
            dtls_identity: None,
            srtp_suites: Vec::new(),
            silence_suppression: false,
        },
    )
    .expect("receiver");
    let mut encoder = Encoder::new(codec, OpusSettings::default()).expect("encoder");
    let mut rng = Rng(net.seed);

    // The sender: packet i leaves at i × 20 ms on its own clock (plus any pause).
    let period =
        Duration::from_nanos((20_000_000i64 * 1_000_000 / (1_000_000 + net.drift_ppm)) as u64);
    let mut arrivals: Vec<(Duration, Vec<u8>)> = Vec::new();
    let mut spurt_arrivals: Vec<Duration> = Vec::new();
    let mut pause_so_far = Duration::ZERO;
    let mut ts_pause = 0u32;
    for i in 0..packets {
        if let Some((at, gap)) = net.pause
            && at == i
        {
            pause_so_far = gap;
            ts_pause = (gap.as_millis() as u32) * rate / 1000;
        }
        // Talk spurts: 1.7 s of a tone, then 0.3 s of silence, like speech between phrases.
        let talking = i % 100 < 85;
        let samples: Vec<i16> = (0..frame)
            .map(|k| {
                let n = (i * frame + k) as f32;
                let tone = (n * 300.0 * 2.0 * std::f32::consts::PI / rate as f32).sin() * 8000.0;
                if talking { tone as i16 } else { 0 }
            })
            .collect();
        let mut payload = Vec::new();
        encoder.encode(&samples, &mut payload);
        let renumbered = net.new_source_at.is_some_and(|at| i >= at);
        let (ssrc, seq0, ts0) = if renumbered {
            (8, seq0.wrapping_sub(20_000), ts0.wrapping_add(0x4000_0000))
        } else {
            (7, seq0, ts0)
        };
        let bytes = RtpPacketBuilder::new()
            .payload_type(codec.default_payload_type())
            .ssrc(ssrc)
            .sequence(seq0.wrapping_add(i as u16).into())
            .timestamp(ts0.wrapping_add((i * frame) as u32).wrapping_add(ts_pause))
            .payload(&payload)
            .build()
            .expect("rtp");
        if net.lost.contains(&i) {
            continue;
        }
        let sent = period * i as u32 + pause_so_far;
        let mut delay = net.base + net.jitter.mul_f64(rng.unit());
        if net.spike_every > 0 && i % net.spike_every == net.spike_every - 1 {
            delay += net.spike;
        }
        if i > 0 && i % 100 == 0 {
            spurt_arrivals.push(sent + delay);
        }
        arrivals.push((sent + delay, bytes.clone()));
        if net.duplicate_every > 0 && i % net.duplicate_every == net.duplicate_every - 1 {
            arrivals.push((sent + delay + Duration::from_millis(3), bytes));
        }
    }
    if net.swap_every > 0 {
        // A packet is held up 25 ms, so the one after it overtakes.
        let mut i = net.swap_every - 1;
        while i + 1 < arrivals.len() {
            arrivals[i].0 = arrivals[i + 1].0 + Duration::from_millis(5);
            i += net.swap_every;
        }
    }
    arrivals.sort_by_key(|(at, _)| *at);

    // The receiver ticks every 20 ms on our clock, 7 ms out of phase with the sender.
    let end = arrivals.last().map_or(Duration::ZERO, |(at, _)| *at) + Duration::from_millis(400);
    let from = SocketAddr::from(([127, 0, 0, 1], 4000));
    let mut next_arrival = 0;
    let mut out = vec![0i16; frame];
    let mut audible_frames = 0;
    let mut frames = 0;
    let mut spurt_delays = Vec::new();
    let mut tick = Duration::from_millis(7);
    while tick < end {
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= tick {
            let (at, bytes) = &arrivals[next_arrival];
            receiver.handle_packet(t0 + *at, from, bytes);
            next_arrival += 1;
        }
        receiver.tick(t0 + tick, &vec![0; frame], &mut out);
        while receiver.poll_transmit().is_some() {}
        frames += 1;
        if out.iter().map(|&s| i32::from(s).abs()).max().unwrap_or(0) > 1000 {
            audible_frames += 1;
        }
        // The first loud sample after a spurt's first packet has arrived (the tone starts at
        // zero: its first loud sample is 0.4 ms in, which is counted as delay).
        if let Some(&arrived) = spurt_arrivals.get(spurt_delays.len())
            && arrived <= tick
            && let Some(k) = out.iter().position(|&s| i32::from(s).abs() > 1000)
        {
            let heard = tick + Duration::from_micros(k as u64 * 1_000_000 / u64::from(rate));
            spurt_delays.push(heard - arrived);
        }
        tick += Duration::from_millis(20);
    }
    Outcome {
        stats: receiver.stats(),
        audible_frames,
        frames,
        spurt_delays,
    }
}

#[test]
fn a_clean_network_plays_everything_at_the_minimum_delay() {
    let o = stream(Codec::Pcmu, 500, 1000, 5000, &Network::default());
    let j = o.stats.jitter;
    assert_eq!(
        (j.played, j.concealed, j.late, j.duplicate),
        (500, 0, 0, 0),
        "{j:?}"
    );
    assert_eq!(j.underruns, 1, "only when the stream ends: {j:?}");
    assert_eq!(j.target_ms, 20);
    // The start-up delay (three packets) comes down to one in the first pauses.
    assert!(j.accelerated <= 5, "{j:?}");
    assert!(
        o.audible_frames >= 420,
        "{} of {}",
        o.audible_frames,
        o.frames
    );
}

#[test]
fn on_a_clean_network_a_packet_waits_only_for_the_tick_that_plays_it() {
    // Packets arrive 3 ms after a tick (30 ms delay, ticks 7 ms out of phase): the least any
    // player can wait is 17 ms. Once settled, every spurt is heard within 2.5 ms of that: the
    // start-up delay is taken out, and so is decoded audio left over between ticks.
    let o = stream(Codec::Pcmu, 1000, 1, 1, &Network::default());
    assert_eq!(o.spurt_delays.len(), 9, "{:?}", o.spurt_delays);
    for (n, delay) in o.spurt_delays.iter().enumerate().skip(2) {
        let ms = delay.as_secs_f64() * 1000.0;
        assert!((17.0..=19.5).contains(&ms), "spurt {}: {ms:.2} ms", n + 1);
    }
    assert_eq!(o.stats.jitter.concealed, 0, "{:?}", o.stats.jitter);
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    let net = Network {
        swap_every: 10,
        ..Network::default()
    };
    let o = stream(Codec::Pcmu, 1000, 1, 1, &net);
    let j = o.stats.jitter;
    // The first one can come before the buffer has learnt it must wait for them: it is
    // concealed when its turn comes, and counted late when it arrives.
    assert!(j.late <= 1 && j.concealed == j.late, "{j:?}");
    assert_eq!(j.played + j.late, 1000, "{j:?}");
    assert!(
        (40..=50).contains(&j.target_ms),
        "the target covers the 25 ms: {j:?}"
    );
}

#[test]
fn duplicates_are_counted_and_played_once() {
    let net = Network {
        duplicate_every: 7,
        ..Network::default()
    };
    let o = stream(Codec::Pcmu, 700, 1, 1, &net);
    let j = o.stats.jitter;
    assert_eq!((j.duplicate, j.played, j.concealed), (100, 700, 0), "{j:?}");
}

#[test]
fn loss_bursts_are_concealed_packet_for_packet() {
    let lost: Vec<usize> = (100..103).chain(300..305).chain([400]).collect();
    let net = Network {
        lost: lost.clone(),
        ..Network::default()
    };
    for codec in [Codec::Pcmu, Codec::Opus] {
        let o = stream(codec, 500, 1, 1, &net);
        let j = o.stats.jitter;
        assert_eq!(
            (j.concealed, j.played, j.late),
            (9, 491, 0),
            "{codec}: {j:?}"
        );
        // Each burst's last packet had its successor at hand: Opus decodes it from FEC.
        assert_eq!(j.recoverable, 3, "{codec}: {j:?}");
        if codec == Codec::Opus {
            assert_eq!(o.stats.recovered_fec, 3, "{:?}", o.stats);
        } else {
            assert_eq!(o.stats.recovered_fec, 0);
        }
        // Concealment keeps the tone going through single losses and fades in bursts.
        assert!(
            o.audible_frames >= 415,
            "{codec}: {} audible",
            o.audible_frames
        );
    }
}

#[test]
fn sequence_numbers_and_timestamps_wrap_without_a_hitch() {
    let o = stream(
        Codec::Pcmu,
        600,
        65_300,
        u32::MAX - 20_000,
        &Network::default(),
    );
    let j = o.stats.jitter;
    assert_eq!(
        (j.played, j.concealed, j.late, j.underruns),
        (600, 0, 0, 1),
        "{j:?}"
    );
}

#[test]
fn a_sender_clock_one_percent_fast_is_followed_by_shortening_the_playout() {
    let net = Network {
        drift_ppm: 10_000,
        jitter: Duration::from_millis(5),
        ..Network::default()
    };
    // 60 s: the sender gets 600 ms ahead of our clock.
    let o = stream(Codec::Pcmu, 3000, 1, 1, &net);
    let j = o.stats.jitter;
    assert_eq!((j.concealed, j.late, j.played), (0, 0, 3000), "{j:?}");
    // 600 ms removed, 10 ms at a time in pauses, a pitch period at a time in speech, without
    // dropping a packet.
    assert!(j.accelerated >= 20, "{j:?}");
    // The buffer stayed near its target: playback ended soon after the last arrival.
    assert!(o.frames <= 3000 * 99 / 100 + 30, "{} frames", o.frames);
}

#[test]
fn a_sender_clock_one_percent_slow_is_followed_by_lengthening_the_playout() {
    let net = Network {
        drift_ppm: -10_000,
        jitter: Duration::from_millis(5),
        ..Network::default()
    };
    let o = stream(Codec::Pcmu, 3000, 1, 1, &net);
    let j = o.stats.jitter;
    assert_eq!((j.concealed, j.late, j.played), (0, 0, 3000), "{j:?}");
    // 600 ms added, 10 ms at a time in pauses, a pitch period at a time in speech.
    assert!(j.decelerated >= 20, "{j:?}");
    // Lengthening keeps ahead of the drain: the buffer ran dry only when the stream ended.
    assert_eq!(j.underruns, 1, "{j:?}");
}

#[test]
fn silence_after_dtx_is_not_loss() {
    let net = Network {
        pause: Some((200, Duration::from_secs(2))),
        ..Network::default()
    };
    for codec in [Codec::Pcmu, Codec::Opus] {
        let o = stream(codec, 400, 1, 1, &net);
        let j = o.stats.jitter;
        assert_eq!(
            (j.played, j.concealed, j.late),
            (400, 0, 0),
            "{codec}: {j:?}"
        );
        assert_eq!(
            j.underruns, 2,
            "{codec}: the pause and the end, each counted once: {j:?}"
        );
        // About 2 s (100 frames) of the pause were quiet, and the pauses between talk spurts
        // (60 frames), the talk on both sides audible.
        let quiet = o.frames - o.audible_frames - 60;
        assert!(
            (95..=130).contains(&quiet),
            "{codec}: {quiet} quiet frames of {}",
            o.frames
        );
    }
}

#[test]
fn the_target_follows_the_measured_jitter_within_its_bounds() {
    let mut targets = Vec::new();
    for jitter_ms in [0u64, 20, 40, 80, 500] {
        let net = Network {
            jitter: Duration::from_millis(jitter_ms),
            ..Network::default()
        };
        let o = stream(Codec::Pcmu, 1000, 1, 1, &net);
        let j = o.stats.jitter;
        targets.push(j.target_ms);
        if jitter_ms <= 80 {
            let late_share = j.concealed as f64 / 1000.0;
            assert!(late_share <= 0.03, "{jitter_ms} ms jitter: {j:?}");
        }
    }
    assert_eq!(targets[0], 20);
    assert!(targets.windows(2).all(|w| w[0] <= w[1]), "{targets:?}");
    // About jitter (95th percentile) + one packet, never above the 300 ms bound.
    assert!((50..=65).contains(&targets[2]), "{targets:?}");
    assert_eq!(targets[4], 300, "{targets:?}");
}

#[test]
fn a_packet_that_came_too_late_makes_room_for_the_next_one_like_it() {
    // Every 80th packet is held up 70 ms on an otherwise steady network: the first is too
    // late and concealed; what it showed of the network keeps the later ones in time.
    let net = Network {
        spike_every: 80,
        spike: Duration::from_millis(70),
        ..Network::default()
    };
    let o = stream(Codec::Pcmu, 1500, 1, 1, &net);
    let j = o.stats.jitter;
    assert!(j.late >= 1, "{j:?}");
    assert!(j.late <= 2, "later spikes are not late: {j:?}");
    assert_eq!(j.concealed, j.late, "{j:?}");
    assert_eq!(j.duplicate, 0, "{j:?}");
}

#[test]
fn a_new_source_is_played_from_its_first_packets() {
    // Halfway through, another source takes over with lower sequence numbers: it must not be
    // taken for a stream of late packets.
    let net = Network {
        new_source_at: Some(500),
        ..Network::default()
    };
    let o = stream(Codec::Pcmu, 1000, 30_000, 1, &net);
    let j = o.stats.jitter;
    assert!(j.played >= 995, "{j:?}");
    assert_eq!((j.late, j.concealed), (0, 0), "{j:?}");
    assert!(
        o.audible_frames >= 840,
        "{} of {}",
        o.audible_frames,
        o.frames
    );
}

#[test]
fn a_packet_overtaken_by_the_next_is_not_given_up_while_the_playout_is_adjusted() {
    // 40 ms of uniform jitter reorders packets all the time, and a sender clock running 1%
    // slow or 0.3% fast keeps the playout lengthening or shortening, which decodes ahead of
    // need: a packet not here yet must then wait for its tick instead of being concealed
    // because the one after it came first (which made 9-19 of 1500 late on these seeds).
    for codec in [Codec::Pcmu, Codec::Opus] {
        for drift_ppm in [-10_000, 3000] {
            for seed in 1..=5u64 {
                let net = Network {
                    jitter: Duration::from_millis(40),
                    drift_ppm,
                    seed: 0x9e37_79b9_7f4a_7c15 ^ seed,
                    ..Network::default()
                };
                let o = stream(codec, 1500, 1, 1, &net);
                let j = o.stats.jitter;
                assert!(j.accelerated + j.decelerated >= 8, "{codec:?}: {j:?}");
                assert_eq!(
                    (j.late, j.concealed, j.played),
                    (0, 0, 1500),
                    "{codec:?}, {drift_ppm} ppm, seed {seed}: {j:?}"
                );
            }
        }
    }
}

#[test]
fn a_timestamp_leaping_ahead_is_concealed_as_one_packet_not_as_the_whole_leap() {
    // Found by fuzzing: a packet whose timestamp leapt a billion samples past a lost one had
    // the receiver conceal the whole leap, seconds of CPU for one packet.
    let epoch = Instant::now();
    let mut jitter =
        media::JitterBuffer::new(8000, Duration::from_millis(20), Duration::from_millis(300));
    jitter.push(epoch, 7, 1, 0, 160, vec![0xff; 160]);
    jitter.push(epoch, 7, 3, 1_000_000_000, 160, vec![0xff; 160]);
    let later = epoch + Duration::from_millis(200);
    assert!(matches!(
        jitter.next(later),
        media::Playout::Packet { duration: 160, .. }
    ));
    match jitter.next(later) {
        media::Playout::Lost { duration, .. } => assert_eq!(duration, 160),
        other => panic!("{other:?}"),
    }
}
