//! Mixing for the local conference: each participant hears everyone but itself (N-1), at its
//! own codec's rate. Frames of a call at another rate are carried over by a streaming
//! resampler (rubato, fixed 20 ms chunks).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// Adds `src` into `dst`, sample by sample, saturating at full scale.
pub fn mix_into(dst: &mut [i16], src: &[i16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = d.saturating_add(*s);
    }
}

/// Carries 20 ms frames from one rate to another, continuously (the filter's state runs on
/// from frame to frame, so there are no seams).
pub struct FrameResampler {
    from: u32,
    to: u32,
    inner: Option<Fft<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl std::fmt::Debug for FrameResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameResampler({} Hz -> {} Hz)", self.from, self.to)
    }
}

impl FrameResampler {
    /// A resampler from `from` Hz to `to` Hz, 20 ms at a time.
    #[must_use]
    pub fn new(from: u32, to: u32) -> Self {
        let inner = (from != to)
            .then(|| {
                Fft::<f32>::new(
                    from as usize,
                    to as usize,
                    from as usize / 50,
                    1,
                    FixedSync::Both,
                )
                .ok()
            })
            .flatten();
        Self {
            from,
            to,
            inner,
            input: Vec::new(),
            output: vec![0.0; to as usize / 50 * 2],
        }
    }

    /// One 20 ms frame at `from` in, one 20 ms frame at `to` out (the resampler's short delay
    /// included). Same rates copy.
    pub fn process(&mut self, frame: &[i16], out: &mut [i16]) {
        let Some(inner) = self.inner.as_mut() else {
            let n = frame.len().min(out.len());
            out[..n].copy_from_slice(&frame[..n]);
            out[n..].fill(0);
            return;
        };
        self.input.clear();
        self.input
            .extend(frame.iter().map(|&s| f32::from(s) / 32768.0));
        self.input.resize(inner.input_frames_next(), 0.0);
        let wanted = inner.output_frames_next();
        if self.output.len() < wanted {
            self.output.resize(wanted, 0.0);
        }
        let produced = match (
            InterleavedSlice::new(&self.input, 1, self.input.len()),
            InterleavedSlice::new_mut(&mut self.output, 1, wanted),
        ) {
            (Ok(input), Ok(mut output)) => inner
                .process_into_buffer(&input, &mut output, None)
                .map_or(0, |(_, produced)| produced),
            _ => 0,
        };
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i < produced {
                (self.output[i] * 32768.0).clamp(-32768.0, 32767.0) as i16
            } else {
                0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixing_adds_and_saturates() {
        let mut a = [1000, -1000, 30_000, -30_000];
        mix_into(&mut a, &[500, -500, 10_000, -10_000]);
        assert_eq!(a, [1500, -1500, i16::MAX, i16::MIN]);
    }

    #[test]
    fn a_tone_crosses_between_rates_frame_by_frame() {
        for (from, to) in [(8000u32, 48_000u32), (48_000, 8000), (8000, 8000)] {
            let mut resampler = FrameResampler::new(from, to);
            let (n_in, n_out) = (from as usize / 50, to as usize / 50);
            let mut out = Vec::new();
            let mut frame_out = vec![0i16; n_out];
            for f in 0..50 {
                let frame: Vec<i16> = (0..n_in)
                    .map(|i| {
                        let t = (f * n_in + i) as f32 / from as f32;
                        ((t * 440.0 * 2.0 * std::f32::consts::PI).sin() * 10_000.0) as i16
                    })
                    .collect();
                resampler.process(&frame, &mut frame_out);
                out.extend_from_slice(&frame_out);
            }
            assert_eq!(out.len(), 50 * n_out);
            // After the filter's delay, the tone is there at full level.
            let tail = &out[out.len() / 2..];
            let rms = (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64)
                .sqrt();
            assert!((rms - 7071.0).abs() < 500.0, "{from}->{to}: rms {rms}");
        }
    }
}
