//! The tones a phone plays to its user: the ringtone of an incoming call, and the
//! call-progress tones of an outgoing one (ringback while the far end rings, busy, reorder when
//! the network refuses). Frequencies and cadences are the North American ones (ITU-T E.180
//! lists them per country); generation is pure: a tone and a sample position in, samples out.

/// What to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// An incoming call: 440 + 480 Hz, 2 s on, 4 s off.
    Ring,
    /// The far end is ringing: 440 + 480 Hz, 2 s on, 4 s off, quieter.
    Ringback,
    /// The far end is busy: 480 + 620 Hz, 0.5 s on, 0.5 s off.
    Busy,
    /// The call could not be placed: 480 + 620 Hz, 0.25 s on, 0.25 s off.
    Reorder,
    /// The Settings window's check of the headset: 523 + 659 Hz (C and E), 0.4 s on, 0.2 s
    /// off.
    Test,
}

impl Tone {
    /// The two frequencies, Hz.
    #[must_use]
    pub fn frequencies(self) -> (f32, f32) {
        match self {
            Self::Ring | Self::Ringback => (440.0, 480.0),
            Self::Busy | Self::Reorder => (480.0, 620.0),
            Self::Test => (523.25, 659.25),
        }
    }

    /// On and off durations, ms.
    #[must_use]
    pub fn cadence(self) -> (u32, u32) {
        match self {
            Self::Ring | Self::Ringback => (2000, 4000),
            Self::Busy => (500, 500),
            Self::Reorder => (250, 250),
            Self::Test => (400, 200),
        }
    }

    /// Peak amplitude (a ringtone is louder than progress tones in the ear).
    fn level(self) -> f32 {
        match self {
            Self::Ring => 8000.0,
            _ => 3000.0,
        }
    }
}

/// Plays a tone continuously, frame after frame.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    tone: Tone,
    rate: u32,
    position: u64,
}

impl ToneGenerator {
    /// A generator of `tone` at `rate` Hz, from its start.
    #[must_use]
    pub fn new(tone: Tone, rate: u32) -> Self {
        Self {
            tone,
            rate,
            position: 0,
        }
    }

    /// The tone playing.
    #[must_use]
    pub fn tone(&self) -> Tone {
        self.tone
    }

    /// Fills `out` with the next samples. Each burst fades in and out over 5 ms, so the
    /// cadence does not click.
    pub fn fill(&mut self, out: &mut [i16]) {
        let rate = u64::from(self.rate.max(1));
        let (on_ms, off_ms) = self.tone.cadence();
        let on = rate * u64::from(on_ms) / 1000;
        let period = on + rate * u64::from(off_ms) / 1000;
        let fade = (rate / 200).max(1);
        let (f1, f2) = self.tone.frequencies();
        let level = self.tone.level() / 2.0;
        for sample in out.iter_mut() {
            let in_period = self.position % period;
            *sample = if in_period < on {
                let ramp = (in_period.min(on - in_period).min(fade) as f32) / fade as f32;
                let t = self.position as f32 / rate as f32;
                let wave =
                    (t * f1 * std::f32::consts::TAU).sin() + (t * f2 * std::f32::consts::TAU).sin();
                (wave * level * ramp) as i16
            } else {
                0
            };
            self.position += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power_at(samples: &[i16], hz: f32, rate: f32) -> f32 {
        let (mut i, mut q) = (0.0f32, 0.0f32);
        for (k, &s) in samples.iter().enumerate() {
            let phase = k as f32 * hz * std::f32::consts::TAU / rate;
            i += f32::from(s) * phase.cos();
            q += f32::from(s) * phase.sin();
        }
        (i * i + q * q).sqrt() / samples.len() as f32
    }

    #[test]
    fn each_tone_has_its_frequencies_and_cadence() {
        for (tone, on, off) in [
            (Tone::Ring, 2000, 4000),
            (Tone::Busy, 500, 500),
            (Tone::Reorder, 250, 250),
        ] {
            let mut generator = ToneGenerator::new(tone, 8000);
            let mut samples = vec![0i16; 8 * (on + off) as usize];
            generator.fill(&mut samples);
            let burst = &samples[80..8 * on as usize - 80];
            let gap = &samples[8 * on as usize + 8..8 * (on + off) as usize - 8];
            assert!(
                gap.iter().all(|&s| s == 0),
                "{tone:?}: silent between bursts"
            );
            let (f1, f2) = tone.frequencies();
            assert!(power_at(burst, f1, 8000.0) > 500.0, "{tone:?} has {f1} Hz");
            assert!(power_at(burst, f2, 8000.0) > 500.0, "{tone:?} has {f2} Hz");
            assert!(
                power_at(burst, 1000.0, 8000.0) < 50.0,
                "{tone:?}: nothing else"
            );
        }
    }

    #[test]
    fn bursts_fade_in_without_a_click() {
        let mut generator = ToneGenerator::new(Tone::Busy, 48_000);
        let mut samples = vec![0i16; 480];
        generator.fill(&mut samples);
        assert!(
            samples[0].abs() < 50 && samples[10].abs() < 500,
            "{:?}",
            &samples[..12]
        );
    }
}
