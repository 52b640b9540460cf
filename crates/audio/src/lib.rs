//! Audio backends for recall that need no sound card: WAV files and silence.
//!
//! A [`WavPlayer`] loops a WAV file's samples as the captured audio of a call, and a
//! [`Recording`] collects what the call played, to be written out as a WAV file when it ends.
//! Both work in memory; files are read and written by the caller (the runtime).

use std::path::Path;
use std::sync::{Arc, Mutex};

use media::{AudioPort, SAMPLE_RATE};
use thiserror::Error;

/// A WAV file could not be used.
#[derive(Debug, Error)]
pub enum WavError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// What happened.
        source: hound::Error,
    },
    /// The file holds no samples.
    #[error("{0}: the file holds no audio")]
    Empty(String),
}

/// Reads a WAV file (any rate, mono or the first channel, 16-bit or float) as 8 kHz mono.
pub fn read_wav(path: &Path) -> Result<Vec<i16>, WavError> {
    let err = |source| WavError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<i16> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = spec.bits_per_sample.saturating_sub(16);
            reader
                .samples::<i32>()
                .step_by(channels)
                .map(|s| s.map(|v| (v >> shift).clamp(-32768, 32767) as i16))
                .collect::<Result<_, _>>()
                .map_err(err)?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .step_by(channels)
            .map(|s| s.map(|v| (v * 32767.0).clamp(-32768.0, 32767.0) as i16))
            .collect::<Result<_, _>>()
            .map_err(err)?,
    };
    if samples.is_empty() {
        return Err(WavError::Empty(path.display().to_string()));
    }
    Ok(resample_linear(&samples, spec.sample_rate, SAMPLE_RATE))
}

/// Writes 8 kHz mono samples as a 16-bit WAV file.
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<(), WavError> {
    let err = |source| WavError::Io {
        path: path.display().to_string(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        writer.write_sample(s).map_err(err)?;
    }
    writer.finalize().map_err(err)
}

/// Linear-interpolation resampling; adequate for test prompts (issue "Media engine" brings
/// rubato for the device path).
fn resample_linear(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || from == 0 {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * f64::from(from) / f64::from(to);
            let index = pos as usize;
            let frac = pos - index as f64;
            let a = f64::from(samples.get(index).copied().unwrap_or(0));
            let b = f64::from(samples.get(index + 1).copied().unwrap_or(0));
            (a + (b - a) * frac) as i16
        })
        .collect()
}

/// Samples a call played, shared between its port and whoever writes them out.
pub type Recording = Arc<Mutex<Vec<i16>>>;

/// Plays a WAV file's samples in a loop as the captured audio; records what is played.
#[derive(Debug)]
pub struct WavPlayer {
    samples: Arc<[i16]>,
    position: usize,
    recording: Option<Recording>,
}

impl WavPlayer {
    /// A port that loops `samples` and, when given, appends playback to `recording`.
    #[must_use]
    pub fn new(samples: Arc<[i16]>, recording: Option<Recording>) -> Self {
        Self {
            samples,
            position: 0,
            recording,
        }
    }
}

impl AudioPort for WavPlayer {
    fn capture(&mut self, frame: &mut [i16]) {
        if self.samples.is_empty() {
            frame.fill(0);
            return;
        }
        for sample in frame.iter_mut() {
            *sample = self.samples[self.position];
            self.position = (self.position + 1) % self.samples.len();
        }
    }

    fn playback(&mut self, frame: &[i16]) {
        if let Some(recording) = &self.recording
            && let Ok(mut buffer) = recording.lock()
        {
            buffer.extend_from_slice(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wav_round_trips_and_loops() {
        let dir = std::env::temp_dir().join(format!("recall-audio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("tone.wav");
        let tone: Vec<i16> = (0..400).map(|i| (i * 10) as i16).collect();
        write_wav(&path, &tone).expect("write");
        let read = read_wav(&path).expect("read");
        assert_eq!(read, tone);
        let recording = Recording::default();
        let mut player = WavPlayer::new(read.into(), Some(recording.clone()));
        let mut frame = [0i16; 160];
        for _ in 0..3 {
            player.capture(&mut frame);
            player.playback(&frame);
        }
        assert_eq!(frame[0], tone[320]);
        assert_eq!(frame[80], tone[0], "wrapped around");
        assert_eq!(recording.lock().expect("lock").len(), 480);
    }

    #[test]
    fn resampling_changes_the_length_by_the_rate_ratio() {
        let input = vec![100i16; 48000];
        assert_eq!(resample_linear(&input, 48000, 8000).len(), 8000);
    }
}
