//! Packet-loss concealment for G.711, after the method of ITU-T G.711 Appendix I: a lost frame
//! is made of the last pitch period heard, repeated (two, then three periods as the loss goes
//! on, so it does not buzz), faded out from 10 ms to silence at 60 ms; the first good frame
//! after a loss is cross-faded in. Far better than silence or a repeated frame.

use std::collections::VecDeque;

/// Concealment state of one G.711 stream.
#[derive(Debug, Clone)]
pub struct G711Plc {
    rate: usize,
    history: VecDeque<i16>,
    /// Samples concealed in the current loss (0: not concealing).
    erased: usize,
    pitch: usize,
    /// The history as it was when the loss began.
    before: Vec<i16>,
    /// The periods being looped: the tail of `before`.
    cycle: Vec<i16>,
    periods: usize,
    position: usize,
}

impl G711Plc {
    /// Concealment for a stream sampled at `rate` Hz.
    #[must_use]
    pub fn new(rate: u32) -> Self {
        let rate = rate as usize;
        Self {
            rate,
            // Filled with silence when first used (`prime`): a call that never loses a
            // packet, or never receives one, costs no history.
            history: VecDeque::new(),
            erased: 0,
            pitch: rate / 100,
            before: Vec::new(),
            cycle: Vec::new(),
            periods: 1,
            position: 0,
        }
    }

    fn ms(&self, ms: usize) -> usize {
        self.rate * ms / 1000
    }

    /// A good frame arrived: cross-fade it in after a loss, and remember it.
    pub fn received(&mut self, frame: &mut [i16]) {
        if self.erased > 0 {
            // A longer loss gets a longer fade back (App. I: 1/4 period, plus 4 ms per 10 ms lost).
            let fade = (self.pitch / 4 + self.ms(4) * (self.erased / self.ms(10)))
                .min(frame.len())
                .max(1);
            for (k, sample) in frame.iter_mut().take(fade).enumerate() {
                let synthetic = f32::from(self.next_synthetic());
                let w = (k + 1) as f32 / (fade + 1) as f32;
                *sample = (synthetic * (1.0 - w) + f32::from(*sample) * w) as i16;
            }
            self.erased = 0;
        }
        self.remember(frame);
    }

    /// Appends `samples` made-up samples for a lost stretch to `out`.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        let start = out.len();
        for _ in 0..samples {
            if self.erased == 0 {
                self.begin();
            } else if (self.erased == self.ms(10) || self.erased == self.ms(20)) && self.periods < 3
            {
                // Two periods after 10 ms, three after 20 ms.
                self.widen();
            }
            let sample = self.next_synthetic();
            out.push(sample);
            self.erased += 1;
        }
        let made = out[start..].to_vec();
        self.remember(&made);
    }

    /// The loss begins: find the pitch and take the last period to loop.
    fn begin(&mut self) {
        self.prime();
        self.pitch = self.find_pitch();
        self.before = self.history.iter().copied().collect();
        self.periods = 1;
        self.take_cycle();
    }

    /// Loop one more period of the history from before the loss.
    fn widen(&mut self) {
        self.periods += 1;
        let offset = self.position;
        self.take_cycle();
        self.position = offset % self.cycle.len();
    }

    fn take_cycle(&mut self) {
        let len = (self.pitch * self.periods).min(self.before.len());
        self.cycle = self.before[self.before.len() - len..].to_vec();
        self.position = 0;
    }

    /// The next made-up sample, faded by how long the loss has lasted.
    fn next_synthetic(&mut self) -> i16 {
        if self.cycle.is_empty() {
            return 0;
        }
        let sample = self.cycle[self.position % self.cycle.len()];
        self.position = (self.position + 1) % self.cycle.len();
        let (full, silent) = (self.ms(10), self.ms(60));
        let gain = if self.erased < full {
            1.0
        } else if self.erased >= silent {
            0.0
        } else {
            1.0 - (self.erased - full) as f32 / (silent - full) as f32
        };
        (f32::from(sample) * gain) as i16
    }

    /// The history as it starts: silence, as long as it is kept.
    fn prime(&mut self) {
        if self.history.is_empty() {
            self.history.resize(history_len(self.rate), 0);
        }
    }

    fn remember(&mut self, samples: &[i16]) {
        self.prime();
        let keep = history_len(self.rate);
        self.history.extend(samples.iter().copied());
        while self.history.len() > keep {
            self.history.pop_front();
        }
    }

    /// The lag (5–15 ms) at which the last 20 ms best matches itself: normalised
    /// cross-correlation over the history.
    fn find_pitch(&self) -> usize {
        let (min_lag, max_lag, window) = (self.ms(5), self.ms(15), self.ms(20));
        let history: Vec<f32> = self.history.iter().map(|&s| f32::from(s)).collect();
        let end = history.len();
        let target = &history[end - window..];
        let mut best = (self.ms(10), f32::MIN);
        for lag in min_lag..=max_lag {
            let candidate = &history[end - window - lag..end - lag];
            let (mut cross, mut power) = (0.0f32, 0.0f32);
            for (a, b) in target.iter().zip(candidate) {
                cross += a * b;
                power += b * b;
            }
            if power > 1.0 {
                let score = cross / power.sqrt();
                if score > best.1 {
                    best = (lag, score);
                }
            }
        }
        best.0
    }
}

fn history_len(rate: usize) -> usize {
    // Three periods of the longest pitch, plus the 20 ms correlation window and its lag.
    rate * (45 + 20 + 15) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, start: usize, n: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| ((i as f32 * hz * 2.0 * std::f32::consts::PI / 8000.0).sin() * 8000.0) as i16)
            .collect()
    }

    fn rms(samples: &[i16]) -> f32 {
        (samples.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / samples.len() as f32).sqrt()
    }

    #[test]
    fn a_lost_frame_of_a_voiced_sound_continues_it_closely() {
        // 200 Hz: a 5 ms period, inside the pitch search range.
        let mut plc = G711Plc::new(8000);
        for frame in 0..5 {
            let mut good = tone(200.0, frame * 160, 160);
            plc.received(&mut good);
        }
        let mut made = Vec::new();
        plc.conceal(80, &mut made);
        let truth = tone(200.0, 800, 80);
        let error: Vec<i16> = made.iter().zip(&truth).map(|(a, b)| a - b).collect();
        assert!(
            rms(&error) < rms(&truth) / 4.0,
            "the first 10 ms follow the waveform (error {} vs signal {})",
            rms(&error),
            rms(&truth)
        );
    }

    #[test]
    fn a_long_loss_fades_to_silence_by_60_ms() {
        let mut plc = G711Plc::new(8000);
        let mut good = tone(180.0, 0, 640);
        plc.received(&mut good);
        let mut made = Vec::new();
        plc.conceal(640, &mut made);
        assert!(rms(&made[..80]) > 4000.0, "full level at first");
        assert!(rms(&made[240..320]) < rms(&made[..80]), "fading");
        assert_eq!(rms(&made[480..]), 0.0, "silent after 60 ms");
    }

    #[test]
    fn the_frame_after_a_loss_is_faded_in_without_a_click() {
        let mut plc = G711Plc::new(8000);
        let mut good = tone(200.0, 0, 480);
        plc.received(&mut good);
        let mut made = Vec::new();
        plc.conceal(160, &mut made);
        let mut next = tone(200.0, 650, 160);
        let original_first = next[0];
        plc.received(&mut next);
        let last = f32::from(*made.last().expect("made"));
        let jump = (f32::from(next[0]) - last).abs();
        assert!(
            jump < 3000.0,
            "no step at the seam: {last} then {}",
            next[0]
        );
        assert_ne!(next[0], original_first, "the seam was cross-faded");
    }

    #[test]
    fn concealing_from_silence_gives_silence() {
        let mut plc = G711Plc::new(8000);
        let mut made = Vec::new();
        plc.conceal(160, &mut made);
        assert!(made.iter().all(|&s| s == 0));
    }
}
