//! The audio factories the runtime hands the phone: silence, or WAV files.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api::CallId;
use audio::{Recording, WavPlayer};
use engine::AudioFactory;
use media::AudioPort;

/// Recordings of calls that ended, waiting for the run loop to write them: (file, samples).
pub(crate) type Finished = Arc<Mutex<Vec<(PathBuf, Vec<i16>)>>>;

/// Loops one WAV file into every call and records each call's received audio.
pub(crate) struct FileAudio {
    samples: Arc<[i16]>,
    output: PathBuf,
    open: Vec<(CallId, Recording)>,
    /// Recordings of calls that ended, waiting for the run loop to write them.
    pub(crate) finished: Finished,
}

impl FileAudio {
    pub(crate) fn new(samples: Vec<i16>, output: PathBuf) -> Self {
        Self {
            samples: samples.into(),
            output,
            open: Vec::new(),
            finished: Arc::default(),
        }
    }
}

impl AudioFactory for FileAudio {
    fn open(&mut self, call: CallId) -> Box<dyn AudioPort> {
        let recording = Recording::default();
        self.open.push((call, recording.clone()));
        Box::new(WavPlayer::new(self.samples.clone(), Some(recording)))
    }

    fn close(&mut self, call: CallId, _port: Box<dyn AudioPort>) {
        let Some(index) = self.open.iter().position(|(c, _)| *c == call) else {
            return;
        };
        let (_, recording) = self.open.swap_remove(index);
        let samples = recording
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default();
        if let Ok(mut finished) = self.finished.lock() {
            finished.push((self.output.clone(), samples));
        }
    }
}
