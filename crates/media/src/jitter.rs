//! An adaptive jitter buffer, sans-IO: packets go in with their arrival time, the player asks
//! for the next one when it needs audio, and the buffer says what to play — a packet, a lost
//! packet to conceal (with the packet after it, for Opus FEC), or nothing (the sender is
//! silent). Its target delay follows the measured jitter: the 95th percentile of how late
//! packets arrive relative to the earliest one in the last few seconds, plus one packet,
//! bounded. The player keeps the buffered audio near the target by shortening or lengthening
//! the playout a pitch period at a time ([`crate::timescale`]), so a change of network, or a
//! sender whose clock runs ±1% off ours, never clicks or drops a frame.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Packets the delay statistics look back over (about 4 s of 20 ms packets).
const WINDOW: usize = 200;
/// A packet's lateness is measured against the fastest of the packets this far back (about
/// 0.5 s): short enough that a sender clock running 1% off adds only 5 ms.
const BASELINE: usize = 25;
/// The target is recomputed every this many packets (sorting the window costs).
const RETARGET_EVERY: u32 = 10;
/// Packets the arrival margin is watched over (about 2 s): the worst of them decides.
const MARGIN_WINDOW: usize = 100;
/// A sequence jump this large is a new stream (a restarted sender), not loss.
const RESYNC_GAP: u64 = 100;
/// How many packets given up as lost are remembered, to tell a late packet from a copy.
const GIVEN_UP: usize = 64;
/// The longest a lost packet is taken to be, in ordinary packets (6 × 20 ms = 120 ms, Opus's
/// longest frame).
const MAX_PACKETS_IN_ONE: u32 = 6;
/// Packets in a row from far behind the playout point that mean the sender renumbered.
const RENUMBERED: u32 = 3;

/// What the buffer has seen and done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets that arrived after their turn had passed.
    pub late: u64,
    /// Packets that arrived twice.
    pub duplicate: u64,
    /// Packets played.
    pub played: u64,
    /// Packets that never came in time and were concealed.
    pub concealed: u64,
    /// Of those, how many had the next packet at hand (Opus recovers them from its FEC).
    pub recoverable: u64,
    /// Times the buffer ran dry while playing (the sender paused, or the network stalled).
    pub underruns: u64,
    /// Pitch periods removed to bring the delay down.
    pub accelerated: u64,
    /// Pitch periods repeated to bring the delay up.
    pub decelerated: u64,
    /// The current target delay, in ms.
    pub target_ms: u32,
}

/// What to play next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode this payload; it holds `duration` samples.
    Packet {
        /// The payload.
        payload: Vec<u8>,
        /// Its duration in samples.
        duration: u32,
    },
    /// A packet of `duration` samples was lost: conceal it, or recover it from `next`.
    Lost {
        /// How many samples to make up.
        duration: u32,
        /// The packet after the lost one, if it is here (Opus carries FEC for its predecessor).
        next: Option<Vec<u8>>,
    },
    /// Nothing to play: not started yet, or the sender is silent.
    Nothing,
}

/// Whether the player should speed up or slow down to follow the target delay. A change is
/// best made where the audio is quiet (it cannot be heard there); an `urgent` one is made
/// wherever the audio is, because the buffer is about to run dry or has far too much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjust {
    /// Keep going.
    Hold,
    /// Too much is buffered: remove a pitch period.
    Accelerate {
        /// Do it now, quiet or not.
        urgent: bool,
    },
    /// Too little: repeat a pitch period.
    Decelerate {
        /// Do it now, quiet or not.
        urgent: bool,
    },
    /// Decoded audio is waiting longer than the packets' phase needs: up to `samples` of it
    /// can go (in a quiet stretch) without making any packet needed a tick sooner.
    Trim {
        /// At most this many samples.
        samples: usize,
    },
}

#[derive(Debug, Clone)]
struct Slot {
    arrival: Instant,
    timestamp: u64,
    duration: u32,
    payload: Vec<u8>,
}

/// The jitter buffer of one stream.
#[derive(Debug)]
pub struct JitterBuffer {
    rate: u32,
    min_delay: u32,
    max_delay: u32,
    epoch: Option<Instant>,
    /// The stream's source (RTP SSRC): a new one starts the stream over.
    source: Option<u32>,
    slots: BTreeMap<u64, Slot>,
    /// The latest packets given up as lost: one of them arriving after all was late, any
    /// other packet from before the playout point is a copy of one played.
    given_up: VecDeque<u64>,
    /// Packets in a row from far behind the playout point.
    behind: u32,
    highest_seq: Option<u64>,
    highest_ts: Option<u64>,
    /// The next packet to hand out, once playing.
    next_seq: Option<u64>,
    /// Where the next packet's audio begins, in (extended) RTP time.
    next_ts: u64,
    /// The typical packet duration, in samples.
    packet_samples: u32,
    /// The latest packets' transits (arrival minus RTP timestamp, in samples), with their
    /// index, kept as a sliding minimum over the last [`BASELINE`] packets.
    baseline: VecDeque<(u64, i64)>,
    arrivals: u64,
    /// How late each of the last [`WINDOW`] packets was, against its baseline.
    lateness: VecDeque<i64>,
    /// Where the playout stood at the last tick: when, and the RTP time of the next sample.
    playhead: Option<(Instant, u64)>,
    /// How early each of the latest packets arrived before the tick that needed it, in
    /// samples (negative: late), kept as a sliding minimum over [`MARGIN_WINDOW`] packets.
    margins: VecDeque<(u64, i64)>,
    /// The latest packet's lateness in the window, in samples: the jitter's spread.
    spread: i64,
    /// Packets counted when the playout was last lengthened: trimming waits a window after.
    slowed_at: Option<u64>,
    since_retarget: u32,
    target: u32,
    dry: bool,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for a stream clocked at `rate` Hz, keeping its delay within
    /// `[min_delay, max_delay]`.
    #[must_use]
    pub fn new(rate: u32, min_delay: Duration, max_delay: Duration) -> Self {
        let samples = |d: Duration| (d.as_micros() as u64 * u64::from(rate) / 1_000_000) as u32;
        let packet_samples = rate / 50;
        let min_delay = samples(min_delay).max(1);
        let max_delay = samples(max_delay).max(min_delay);
        Self {
            rate,
            min_delay,
            max_delay,
            epoch: None,
            source: None,
            given_up: VecDeque::with_capacity(GIVEN_UP),
            behind: 0,
            slots: BTreeMap::new(),
            highest_seq: None,
            highest_ts: None,
            next_seq: None,
            next_ts: 0,
            packet_samples,
            baseline: VecDeque::with_capacity(BASELINE),
            arrivals: 0,
            lateness: VecDeque::with_capacity(WINDOW),
            playhead: None,
            margins: VecDeque::with_capacity(MARGIN_WINDOW),
            spread: 0,
            slowed_at: None,
            since_retarget: 0,
            // Until jitter is measured: three packets (a late first few packets would cost
            // more than 20 ms of extra delay for a second).
            target: (3 * packet_samples).clamp(min_delay, max_delay),
            dry: false,
            stats: JitterStats::default(),
        }
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            target_ms: self.target * 1000 / self.rate,
            ..self.stats
        }
    }

    /// The target delay, in samples.
    #[must_use]
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Extends a 16-bit sequence number near the highest seen (RFC 3550 A.1).
    fn extend_seq(&self, seq: u16) -> u64 {
        extend(self.highest_seq, u64::from(seq), 1 << 16)
    }

    /// Extends a 32-bit timestamp near the highest seen.
    fn extend_ts(&self, ts: u32) -> u64 {
        extend(self.highest_ts, u64::from(ts), 1 << 32)
    }

    /// A packet arrived at `now`: its source (SSRC), RTP sequence number and timestamp, its
    /// duration in samples and its payload.
    pub fn push(
        &mut self,
        now: Instant,
        source: u32,
        seq: u16,
        timestamp: u32,
        duration: u32,
        payload: Vec<u8>,
    ) {
        if self.source.is_some_and(|s| s != source) {
            // A new source (a PBX bridging another leg in, a restarted sender): its numbers
            // have nothing to do with the old ones.
            self.restart();
        }
        self.source = Some(source);
        let seq = self.extend_seq(seq);
        let timestamp = self.extend_ts(timestamp);
        if let Some(next) = self.next_seq {
            if seq + RESYNC_GAP < next && !self.given_up.contains(&seq) {
                // Far behind what is playing: a stray copy, or — when a few come in a row — the
                // sender renumbered its stream backwards.
                self.behind += 1;
                if self.behind < RENUMBERED {
                    self.stats.duplicate += 1;
                    return;
                }
                self.restart();
                return self.push(now, source, seq as u16, timestamp as u32, duration, payload);
            }
            self.behind = 0;
            if seq < next {
                if self.given_up.contains(&seq) {
                    // Too late: its turn was concealed. It still tells how late packets come,
                    // which is what the target and the margins are for.
                    self.stats.late += 1;
                    self.measure(now, timestamp);
                    self.watch_margin(now, timestamp);
                } else {
                    self.stats.duplicate += 1;
                }
                return;
            }
            if seq > next + RESYNC_GAP && self.slots.is_empty() || seq > next + 10 * RESYNC_GAP {
                // The sender restarted its sequence: start over.
                self.restart();
            }
        }
        if self.slots.contains_key(&seq) {
            self.stats.duplicate += 1;
            return;
        }
        self.stats.received += 1;
        self.highest_seq = Some(self.highest_seq.map_or(seq, |h| h.max(seq)));
        self.highest_ts = Some(self.highest_ts.map_or(timestamp, |h| h.max(timestamp)));
        if duration > 0 {
            self.packet_samples = duration;
        }
        self.measure(now, timestamp);
        self.watch_margin(now, timestamp);
        self.slots.insert(
            seq,
            Slot {
                arrival: now,
                timestamp,
                duration: duration.max(1),
                payload,
            },
        );
    }

    /// Forgets the stream's numbering and timing (the target stays): what arrives next is
    /// buffered like the start of a stream.
    fn restart(&mut self) {
        self.slots.clear();
        self.next_seq = None;
        self.highest_seq = None;
        self.highest_ts = None;
        self.playhead = None;
        self.baseline.clear();
        self.lateness.clear();
        self.margins.clear();
        self.given_up.clear();
        self.behind = 0;
    }

    /// Records how late this packet is, and now and then moves the target.
    fn measure(&mut self, now: Instant, timestamp: u64) {
        let epoch = *self.epoch.get_or_insert(now);
        let arrival = (now.duration_since(epoch).as_micros() as u64 * u64::from(self.rate)
            / 1_000_000) as i64;
        // Transit in samples, up to a constant offset (the clocks are unrelated).
        let transit = arrival - (timestamp as i64);
        let index = self.arrivals;
        self.arrivals += 1;
        // Sliding minimum: drop what is too old, and what this packet beats.
        while self
            .baseline
            .front()
            .is_some_and(|(i, _)| index - i >= BASELINE as u64)
        {
            self.baseline.pop_front();
        }
        while self.baseline.back().is_some_and(|(_, t)| *t >= transit) {
            self.baseline.pop_back();
        }
        self.baseline.push_back((index, transit));
        let fastest = self.baseline.front().map_or(transit, |(_, t)| *t);
        if self.lateness.len() == WINDOW {
            self.lateness.pop_front();
        }
        self.lateness.push_back(transit - fastest);
        self.since_retarget += 1;
        // A few packets say little about the jitter: keep the start-up target until there are
        // fifty.
        if self.lateness.len() < 50 {
            return;
        }
        if self.since_retarget >= RETARGET_EVERY {
            self.since_retarget = 0;
            self.retarget();
        }
    }

    /// How early this packet came before the tick that needs it: that tick is the one whose
    /// 20 ms frame holds the packet's first sample, counted from the playhead at the last
    /// tick; the playhead moves on at the sample rate between ticks.
    fn watch_margin(&mut self, now: Instant, timestamp: u64) {
        let Some((tick, playhead)) = self.playhead else {
            return;
        };
        let frame = i64::from(self.rate / 50);
        let elapsed = (now.saturating_duration_since(tick).as_micros() as u64
            * u64::from(self.rate)
            / 1_000_000) as i64;
        let ahead = timestamp as i64 - playhead as i64;
        let needed_at = ahead.div_euclid(frame) * frame;
        let margin = needed_at - elapsed;
        let index = self.arrivals;
        while self
            .margins
            .front()
            .is_some_and(|(i, _)| index - i >= MARGIN_WINDOW as u64)
        {
            self.margins.pop_front();
        }
        while self.margins.back().is_some_and(|(_, m)| *m >= margin) {
            self.margins.pop_back();
        }
        self.margins.push_back((index, margin));
    }

    fn retarget(&mut self) {
        if self.lateness.is_empty() {
            return;
        }
        let late: Vec<i64> = {
            let mut late: Vec<i64> = self.lateness.iter().copied().collect();
            late.sort_unstable();
            late
        };
        // The latest packet of the window: a late packet costs a concealed frame, a few ms of
        // delay cost nothing an agent hears. Plus one packet, plus a 5 ms margin for the
        // sender's own timing once there is any jitter at all.
        let latest = late.last().copied().unwrap_or(0);
        self.spread = latest.max(0);
        let margin = self.rate / 200;
        let target = u32::try_from(latest.max(0))
            .unwrap_or(u32::MAX)
            .saturating_add(self.packet_samples)
            .saturating_add(if latest > 0 { margin } else { 0 });
        self.target = target.clamp(self.min_delay, self.max_delay);
    }

    /// The audio buffered ahead of the playout point, in samples: from where the next packet
    /// begins to the end of the newest one (gaps of lost packets included).
    fn buffered(&self) -> u32 {
        let (Some((&first_seq, first)), Some((_, newest))) =
            (self.slots.first_key_value(), self.slots.last_key_value())
        else {
            return 0;
        };
        // A timestamp jump between the played audio and the next packet is the sender's
        // silence (DTX), not audio waiting: count from that packet, unless packets before it
        // are missing (then their time is part of what lies ahead).
        let start = match self.next_seq {
            Some(next) if first_seq > next => self.next_ts.min(first.timestamp),
            _ => first.timestamp,
        };
        u32::try_from((newest.timestamp + u64::from(newest.duration)).saturating_sub(start))
            .unwrap_or(u32::MAX)
    }

    /// Whether enough has arrived to start playing (or to resume after running dry): the
    /// target's worth, or the oldest packet has waited as long as the target.
    fn filled(&self, now: Instant) -> bool {
        let Some((_, oldest)) = self.slots.first_key_value() else {
            return false;
        };
        let waited = now.saturating_duration_since(oldest.arrival).as_micros() as u64
            * u64::from(self.rate)
            / 1_000_000;
        self.buffered() >= self.target
            || waited + u64::from(self.packet_samples) >= u64::from(self.target)
    }

    /// The next packet if it is here already, else [`Playout::Nothing`]: for decoding ahead
    /// of need (to shorten or lengthen the playout), where a packet that has not come yet is
    /// not lost — its tick has not come either. A reordered network often brings the packet
    /// after it first.
    pub fn next_present(&mut self, now: Instant) -> Playout {
        match self.next_seq {
            Some(next) if !self.slots.contains_key(&next) => Playout::Nothing,
            _ => self.next(now),
        }
    }

    /// No packet has come since the start (or the last reset): nothing to play, none played.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.next_seq.is_none() && self.slots.is_empty()
    }

    /// What to play next, at `now`: the audio is needed now, so a packet missing while later
    /// ones are here is given up as lost.
    pub fn next(&mut self, now: Instant) -> Playout {
        let Some(next) = self.next_seq else {
            if !self.filled(now) {
                return Playout::Nothing;
            }
            let Some((&first, slot)) = self.slots.first_key_value() else {
                return Playout::Nothing;
            };
            self.next_seq = Some(first);
            self.next_ts = slot.timestamp;
            return self.next(now);
        };
        // After running dry (the sender paused), the next talkspurt is buffered like a start.
        if self.dry && !self.filled(now) {
            return Playout::Nothing;
        }
        if let Some(slot) = self.slots.remove(&next) {
            self.dry = false;
            self.next_seq = Some(next + 1);
            self.next_ts = slot.timestamp + u64::from(slot.duration);
            self.stats.played += 1;
            return Playout::Packet {
                payload: slot.payload,
                duration: slot.duration,
            };
        }
        let Some((&later, later_slot)) = self.slots.first_key_value() else {
            return Playout::Nothing;
        };
        // Packets after this one are here, so this one is lost (or too late to wait for).
        self.dry = false;
        let missing = later - next;
        let span = later_slot.timestamp.saturating_sub(self.next_ts);
        // A lost packet lasts what the gap says, within reason: a timestamp that leaps ahead
        // (a sender that renumbered, or a forged packet) is not minutes of concealment to
        // compute — a packet holds at most MAX_PACKETS_IN_ONE ordinary ones' worth.
        let duration = u32::try_from(span / missing.max(1)).unwrap_or(self.packet_samples);
        let duration = if duration == 0 || duration > MAX_PACKETS_IN_ONE * self.packet_samples {
            self.packet_samples
        } else {
            duration
        };
        let next_payload = self.slots.get(&(next + 1)).map(|s| s.payload.clone());
        self.stats.concealed += 1;
        if self.given_up.len() == GIVEN_UP {
            self.given_up.pop_front();
        }
        self.given_up.push_back(next);
        if next_payload.is_some() {
            self.stats.recoverable += 1;
        }
        self.next_seq = Some(next + 1);
        self.next_ts += u64::from(duration);
        Playout::Lost {
            duration,
            next: next_payload,
        }
    }

    /// Whether to speed up or slow down at `now`, given `queued` samples already decoded and
    /// waiting to be played. Called once per 20 ms tick, before the frame is taken.
    ///
    /// The measure is the worst arrival margin of the last couple of seconds: how early the
    /// packet that came closest to missing its tick was. Jitter, a network that changes, a
    /// sender whose clock runs fast or slow all show there, continuously. The aim is that
    /// even that packet comes 5 ms plus a third of the jitter early, give or take a frame;
    /// changes wait for quiet audio unless the worst packet came within half the aim of
    /// missing its tick, or more than four frames past it. Decoded audio left over beyond
    /// whole frames is trimmed once the margins have settled.
    pub fn adjust(&mut self, now: Instant, queued: usize) -> Adjust {
        let Some(next) = self.next_seq else {
            self.playhead = None;
            return Adjust::Hold;
        };
        let _ = next;
        self.playhead = Some((now, self.next_ts.saturating_sub(queued as u64)));
        if self.slots.is_empty() && queued == 0 {
            return Adjust::Hold;
        }
        let Some(&(_, worst)) = self.margins.front() else {
            return Adjust::Hold;
        };
        let frame = i64::from(self.rate / 50);
        // The aim: 5 ms, plus a third of the jitter seen, so a network that jitters more
        // keeps more in hand against the packet later than any of the last window.
        let want = i64::from(self.rate / 200) + self.spread / 3;
        // A margin within three quarters of a frame of the aim is the packets' phase against
        // our ticks, which no adjustment can change; more than that is delay to take out. The
        // band (15 ms) is as wide as the longest pitch period, so one change never overshoots
        // into the next.
        // Until a whole window of margins has been seen, the worst of them is optimistic:
        // taking delay out then is what makes the next packets late.
        // A network that has not jittered by more than 2 ms in the first half second is
        // watched enough: the start-up delay comes out early.
        let calm = self.arrivals >= BASELINE as u64
            && self
                .lateness
                .iter()
                .all(|&l| l <= i64::from(self.rate / 500));
        let watched = calm || self.arrivals >= MARGIN_WINDOW as u64;
        if watched && worst > want + frame {
            Adjust::Accelerate {
                urgent: worst > want + 4 * frame,
            }
        } else if worst < want + frame / 4 {
            Adjust::Decelerate {
                urgent: worst < want / 2,
            }
        } else {
            // Audio decoded and left over after a tick is delay the margins cannot see: a
            // packet is needed at the tick whose frame holds its first sample, wherever in the
            // frame that falls. What is left over beyond whole frames can go for free, once the
            // margins have settled since the last lengthening (which added to it on purpose).
            let spare = queued % frame.max(1) as usize;
            let settled = self
                .slowed_at
                .is_none_or(|at| self.arrivals >= at + MARGIN_WINDOW as u64);
            if watched && settled && spare >= (self.rate / 400) as usize {
                Adjust::Trim { samples: spare }
            } else {
                Adjust::Hold
            }
        }
    }

    /// The player removed `samples` of left-over audio (after [`Adjust::Trim`]); the margins
    /// stay as they are.
    pub fn trimmed(&mut self, samples: usize) {
        if samples > 0 {
            self.stats.accelerated += 1;
        }
    }

    /// The player removed (`true`) or repeated (`false`) `samples` samples: the margins seen
    /// so far move by as much.
    pub fn adjusted(&mut self, accelerated: bool, samples: usize) {
        let shift = if accelerated {
            self.stats.accelerated += 1;
            -(samples as i64)
        } else {
            self.stats.decelerated += 1;
            self.slowed_at = Some(self.arrivals);
            samples as i64
        };
        for (_, margin) in &mut self.margins {
            *margin += shift;
        }
    }

    /// The player needed audio and there was none (counted once per dry spell).
    pub fn ran_dry(&mut self) {
        if !self.dry {
            self.dry = true;
            self.stats.underruns += 1;
        }
    }
}

/// Extends a wrapping counter (`modulus` is 2^16 or 2^32) to 64 bits near `highest`.
fn extend(highest: Option<u64>, value: u64, modulus: u64) -> u64 {
    let Some(highest) = highest else {
        // Start one cycle up, so that a packet from just before the first is not negative.
        return modulus + value;
    };
    let cycle = highest - highest % modulus;
    [cycle.saturating_sub(modulus), cycle, cycle + modulus]
        .into_iter()
        .map(|c| c + value)
        .min_by_key(|c| c.abs_diff(highest))
        .unwrap_or(cycle + value)
}
