//! The audio factories the runtime hands the phone: WAV files, or sound devices.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api::AudioStatus;
use api::CallId;
use audio::{Devices, Recording, Wav, WavPlayer, WavSource};
use engine::AudioFactory;
use media::{AudioPort, Tone, VoiceSettings};
use tracing::{info, warn};

/// Recordings of calls that ended, waiting for the run loop to write them:
/// (file, sample rate, samples).
pub(crate) type Finished = Arc<Mutex<Vec<(PathBuf, u32, Vec<i16>)>>>;

/// Loops one WAV file into every call (at the call's rate) and records each call's received
/// audio.
pub(crate) struct FileAudio {
    source: WavSource,
    output: PathBuf,
    open: Vec<(CallId, u32, Recording)>,
    /// Recordings of calls that ended, waiting for the run loop to write them.
    pub(crate) finished: Finished,
}

impl FileAudio {
    pub(crate) fn new(input: Wav, output: PathBuf) -> Self {
        Self {
            source: WavSource::new(input),
            output,
            open: Vec::new(),
            finished: Arc::default(),
        }
    }
}

impl AudioFactory for FileAudio {
    fn open(&mut self, call: CallId, rate: u32) -> Box<dyn AudioPort> {
        let recording = Recording::default();
        self.open.push((call, rate, recording.clone()));
        Box::new(WavPlayer::new(self.source.at(rate), Some(recording)))
    }

    fn status(&self) -> AudioStatus {
        AudioStatus {
            backend: "file".to_owned(),
            ..AudioStatus::default()
        }
    }

    fn close(&mut self, call: CallId, _port: Box<dyn AudioPort>) {
        let Some(index) = self.open.iter().position(|(c, _, _)| *c == call) else {
            return;
        };
        let (_, rate, recording) = self.open.swap_remove(index);
        let samples = recording
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        if let Ok(mut finished) = self.finished.lock() {
            finished.push((self.output.clone(), rate, samples));
        }
    }
}

/// Connects every call to the sound devices through one bus.
pub(crate) struct DeviceAudio {
    devices: Devices,
}

impl DeviceAudio {
    pub(crate) fn new(devices: Devices) -> Self {
        Self { devices }
    }
}

impl AudioFactory for DeviceAudio {
    fn open(&mut self, _call: CallId, rate: u32) -> Box<dyn AudioPort> {
        Box::new(self.devices.bus().port(rate))
    }

    fn close(&mut self, _call: CallId, port: Box<dyn AudioPort>) {
        drop(port);
    }

    fn tones(&mut self, headset: Option<Tone>, ring: Option<Tone>) {
        self.devices.bus().shared().set_tones(headset, ring);
    }

    fn processing(&mut self, voice: VoiceSettings) {
        match self.devices.bus().set_voice(voice) {
            Ok(()) => info!(
                echo_cancellation = voice.echo_cancellation,
                noise_suppression = voice.noise_suppression,
                auto_gain = voice.auto_gain,
                "microphone processing"
            ),
            Err(e) => warn!(error = %e, "the microphone goes out unprocessed"),
        }
    }

    fn status(&self) -> AudioStatus {
        let shared = self.devices.bus().shared();
        let levels = shared.levels();
        let load = |counter: &std::sync::atomic::AtomicU64| {
            counter.load(std::sync::atomic::Ordering::Relaxed)
        };
        AudioStatus {
            backend: "device".to_owned(),
            devices: Some(self.devices.description.clone()),
            input_db: levels.input_db.round() as i16,
            output_db: levels.output_db.round() as i16,
            underruns: load(&shared.underruns),
            overruns: load(&shared.overruns),
            processing: {
                let voice = self.devices.bus().voice();
                [
                    (voice.echo_cancellation, "echo_cancellation"),
                    (voice.noise_suppression, "noise_suppression"),
                    (voice.auto_gain, "auto_gain"),
                ]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| name.to_owned())
                .collect()
            },
            ..AudioStatus::default()
        }
    }
}
