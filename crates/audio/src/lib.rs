//! Audio backends for recall: sound devices through cpal (see `device` and `bus`), WAV files
//! and silence, and the resampling between a file's (or a device's) rate and a call's
//! (rubato).
//!
//! A [`WavPlayer`] loops a WAV file's samples as the captured audio of a call, and a
//! [`Recording`] collects what the call played, to be written out as a WAV file when it ends.
//! Both work in memory; files are read and written by the caller (the runtime).

mod bus;
mod device;
mod voice;

pub use bus::{BusPort, CaptureSide, DeviceShared, Levels, PlaybackSide, RingSide, SharedBus, bus};
pub use device::{DeviceChoice, DeviceError, DeviceInfo, Devices, describe, list};
pub use voice::{VoiceError, VoiceProcessor};

use std::path::Path;
use std::sync::{Arc, Mutex};

use media::AudioPort;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
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

/// Mono audio and its sample rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// Samples per second.
    pub rate: u32,
    /// The samples.
    pub samples: Vec<i16>,
}

/// Reads a WAV file (any rate, mono or the first channel, 16-bit or float).
pub fn read_wav(path: &Path) -> Result<Wav, WavError> {
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
    Ok(Wav {
        rate: spec.sample_rate,
        samples,
    })
}

/// Writes mono samples at `rate` as a 16-bit WAV file.
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) -> Result<(), WavError> {
    let err = |source| WavError::Io {
        path: path.display().to_string(),
        source,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        writer.write_sample(s).map_err(err)?;
    }
    writer.finalize().map_err(err)
}

/// Resamples a whole clip from `from` Hz to `to` Hz (rubato's FFT resampler, band-limited,
/// its start-up delay trimmed).
#[must_use]
pub fn resample(samples: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to || from == 0 || to == 0 || samples.is_empty() {
        return samples.to_vec();
    }
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let resampled = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Both)
        .ok()
        .and_then(|mut resampler| {
            let adapter = InterleavedSlice::new(&input, 1, input.len()).ok()?;
            resampler.process_all(&adapter, input.len(), None).ok()
        });
    match resampled {
        Some(out) => out
            .take_data()
            .into_iter()
            .map(|v| (v * 32768.0).clamp(-32768.0, 32767.0) as i16)
            .collect(),
        None => Vec::new(),
    }
}

/// Samples a call played, shared between its port and whoever writes them out.
pub type Recording = Arc<Mutex<Vec<i16>>>;

/// A WAV file's audio at every rate calls ask for, resampled once per rate.
#[derive(Debug)]
pub struct WavSource {
    wav: Wav,
    at: Vec<(u32, Arc<[i16]>)>,
}

impl WavSource {
    /// The file's audio.
    #[must_use]
    pub fn new(wav: Wav) -> Self {
        Self {
            wav,
            at: Vec::new(),
        }
    }

    /// The audio at `rate`.
    pub fn at(&mut self, rate: u32) -> Arc<[i16]> {
        if let Some((_, samples)) = self.at.iter().find(|(r, _)| *r == rate) {
            return samples.clone();
        }
        let samples: Arc<[i16]> = resample(&self.wav.samples, self.wav.rate, rate).into();
        self.at.push((rate, samples.clone()));
        samples
    }
}

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
        write_wav(&path, 8000, &tone).expect("write");
        let read = read_wav(&path).expect("read");
        assert_eq!(
            read,
            Wav {
                rate: 8000,
                samples: tone.clone()
            }
        );
        let recording = Recording::default();
        let mut player = WavPlayer::new(read.samples.into(), Some(recording.clone()));
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
    fn resampling_keeps_a_tone_and_changes_the_length_by_the_rate_ratio() {
        let tone: Vec<i16> = (0..48_000)
            .map(|i| {
                ((i as f32 * 440.0 * 2.0 * std::f32::consts::PI / 48_000.0).sin() * 10_000.0) as i16
            })
            .collect();
        let down = resample(&tone, 48_000, 8000);
        assert_eq!(down.len(), 8000);
        // The same 440 Hz tone, at most half a sample (60 µs) late: correlation near 1.
        let ideal: Vec<f64> = (0..8000)
            .map(|i| (i as f64 * 440.0 * 2.0 * std::f64::consts::PI / 8000.0).sin())
            .collect();
        let window = 500..7500;
        let dot: f64 = window.clone().map(|k| f64::from(down[k]) * ideal[k]).sum();
        let power: f64 = window.clone().map(|k| f64::from(down[k]).powi(2)).sum();
        let ideal_power: f64 = window.map(|k| ideal[k].powi(2)).sum();
        let correlation = dot / (power * ideal_power).sqrt();
        assert!(correlation > 0.98, "correlation {correlation}");
        let mut source = WavSource::new(Wav {
            rate: 48_000,
            samples: tone,
        });
        assert_eq!(source.at(8000).len(), 8000);
        assert_eq!(source.at(48_000).len(), 48_000);
    }
}
