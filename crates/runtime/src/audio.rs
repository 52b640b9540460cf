//! The audio factories the runtime hands the phone: silence, or WAV files.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api::CallId;
use audio::{Recording, Wav, WavPlayer, WavSource};
use engine::AudioFactory;
use media::AudioPort;

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
