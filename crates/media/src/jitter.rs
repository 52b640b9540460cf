//! A fixed-delay jitter buffer with simple concealment (first cut: 20 ms frames, ordered by
//! extended RTP sequence number).
//!
//! Packets are held until playout has fallen `delay` frames behind the newest arrival, then
//! released one per 20 ms tick. A frame that has not arrived by its turn is concealed: the last
//! good frame is repeated at half level once, then silence follows.

use std::collections::BTreeMap;

use crate::audio_port::FRAME_SAMPLES;

/// What the buffer has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Packets that arrived after their turn had passed.
    pub late: u64,
    /// Packets that arrived twice.
    pub duplicate: u64,
    /// Frames played from packets.
    pub played: u64,
    /// Frames concealed because their packet was missing.
    pub concealed: u64,
}

/// The jitter buffer of one stream.
#[derive(Debug)]
pub struct JitterBuffer {
    delay: u64,
    frames: BTreeMap<u64, Vec<i16>>,
    highest: Option<u64>,
    next_play: Option<u64>,
    last_good: Vec<i16>,
    concealed_run: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer that plays `delay_frames` 20 ms frames behind the newest packet.
    #[must_use]
    pub fn new(delay_frames: u16) -> Self {
        Self {
            delay: u64::from(delay_frames.max(1)),
            frames: BTreeMap::new(),
            highest: None,
            next_play: None,
            last_good: vec![0; FRAME_SAMPLES],
            concealed_run: 0,
            stats: JitterStats::default(),
        }
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// How many frames are waiting.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// Extends a 16-bit sequence number to 64 bits near the highest one seen (RFC 3550 A.1).
    fn extend(&self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            return (1 << 32) + u64::from(seq);
        };
        let cycle = highest & !0xffff;
        let candidates = [cycle.wrapping_sub(1 << 16), cycle, cycle + (1 << 16)];
        candidates
            .iter()
            .map(|c| c + u64::from(seq))
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(cycle + u64::from(seq))
    }

    /// Adds a decoded frame carried by the packet with sequence number `seq`.
    pub fn push(&mut self, seq: u16, samples: Vec<i16>) {
        let ext = self.extend(seq);
        if self.next_play.is_some_and(|next| ext < next) {
            self.stats.late += 1;
            return;
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicate += 1;
            return;
        }
        self.stats.received += 1;
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        self.frames.insert(ext, samples);
        // A burst far ahead (the sender jumped): re-anchor rather than conceal for seconds.
        if let (Some(next), Some(high)) = (self.next_play, self.highest)
            && high > next + 50 * self.delay
        {
            self.next_play = Some(high + 1 - self.delay);
            self.frames = self.frames.split_off(&(high + 1 - self.delay));
        }
    }

    /// The frame for this 20 ms tick, written into `out` (length [`FRAME_SAMPLES`]).
    /// Before playout has started it writes silence.
    pub fn pop(&mut self, out: &mut [i16]) {
        let next = match (self.next_play, self.highest) {
            (Some(next), _) => next,
            (None, Some(high)) => {
                let first = *self.frames.keys().next().unwrap_or(&high);
                if high + 1 - first < self.delay {
                    out.fill(0);
                    return;
                }
                first
            }
            (None, None) => {
                out.fill(0);
                return;
            }
        };
        self.next_play = Some(next + 1);
        if let Some(frame) = self.frames.remove(&next) {
            copy_frame(&frame, out);
            self.last_good = frame;
            self.concealed_run = 0;
            self.stats.played += 1;
            return;
        }
        // Nothing arrived for this turn: if the buffer is empty altogether, the sender is
        // silent (or gone), and that is not loss.
        if self.frames.is_empty() && self.highest.is_some_and(|h| h < next) {
            self.next_play = Some(next);
            out.fill(0);
            return;
        }
        self.stats.concealed += 1;
        self.concealed_run += 1;
        if self.concealed_run == 1 {
            for (o, s) in out.iter_mut().zip(self.last_good.iter()) {
                *o = s / 2;
            }
        } else {
            out.fill(0);
        }
    }
}

fn copy_frame(frame: &[i16], out: &mut [i16]) {
    let n = frame.len().min(out.len());
    out[..n].copy_from_slice(&frame[..n]);
    out[n..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: i16) -> Vec<i16> {
        vec![value; FRAME_SAMPLES]
    }

    fn play(buffer: &mut JitterBuffer) -> i16 {
        let mut out = vec![0; FRAME_SAMPLES];
        buffer.pop(&mut out);
        out[0]
    }

    #[test]
    fn playout_waits_for_the_delay_then_reorders() {
        let mut jb = JitterBuffer::new(3);
        jb.push(10, frame(10));
        assert_eq!(play(&mut jb), 0, "still filling");
        jb.push(12, frame(12));
        jb.push(11, frame(11));
        assert_eq!(play(&mut jb), 10);
        assert_eq!(play(&mut jb), 11);
        assert_eq!(play(&mut jb), 12);
        assert_eq!(jb.stats().played, 3);
    }

    #[test]
    fn a_missing_frame_is_concealed_and_a_late_one_dropped() {
        let mut jb = JitterBuffer::new(2);
        jb.push(1, frame(100));
        jb.push(2, frame(200));
        jb.push(4, frame(400));
        assert_eq!(play(&mut jb), 100);
        assert_eq!(play(&mut jb), 200);
        assert_eq!(
            play(&mut jb),
            100,
            "repeat of the last good frame at half level"
        );
        jb.push(3, frame(300));
        assert_eq!(play(&mut jb), 400);
        let stats = jb.stats();
        assert_eq!((stats.concealed, stats.late), (1, 1));
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut jb = JitterBuffer::new(1);
        for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
            jb.push(seq, frame(i as i16 + 1));
            assert_eq!(play(&mut jb), i as i16 + 1);
        }
        assert_eq!(jb.stats().concealed, 0);
    }

    #[test]
    fn duplicates_are_counted_once() {
        let mut jb = JitterBuffer::new(1);
        jb.push(5, frame(5));
        jb.push(5, frame(5));
        assert_eq!(jb.stats().duplicate, 1);
    }
}
