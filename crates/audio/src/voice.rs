//! Microphone processing: acoustic echo cancellation, noise suppression and automatic gain
//! control, each switched on its own.
//!
//! The stages are WebRTC's audio processing (AEC3, its noise suppressor, AGC2, with the
//! high-pass filter in front) as the `aec3` crate ports them to Rust. They run on the core's
//! media clock, once per 20 ms microphone frame before it is fanned out to the calls — never
//! in a device callback, which only moves samples through rings. The far end's voice, as it
//! is mixed for the headset or speaker, is the canceller's reference.
//!
//! The canceller works on 10 ms frames at 16, 32 or 48 kHz; a device at any other rate is
//! carried to 48 kHz and back. With every stage off nothing runs and the microphone goes out
//! exactly as captured. The stages run on a thread of their own (see [`VoiceProcessor`]).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use aec3::audio_processing::ns::{NsConfig, SuppressionLevel};
use aec3::graph::NodeControlState;
use aec3::nodes::audio::AudioFormat;
use aec3::pipelines::linear::{self, LinearPipeline};
use media::{FrameResampler, VoiceSettings};

/// Rates the processing runs at without resampling.
const NATIVE: [u32; 3] = [16_000, 32_000, 48_000];

/// 20 ms of samples at `rate`.
fn frame_len(rate: u32) -> usize {
    rate as usize / 50
}

/// The microphone's processing, between the device and the calls.
///
/// The stages' graph is not `Send` (it shares packets by `Rc`), so it is built and run on a
/// thread of its own; the caller hands it each frame and waits for it back, which adds no
/// audio delay.
pub struct VoiceProcessor {
    settings: VoiceSettings,
    capture_rate: u32,
    playback_rate: u32,
    /// Started the first time a stage is switched on.
    worker: Option<Worker>,
    /// The frame lent to the worker (kept to reuse its allocation).
    buffer: Vec<i16>,
    /// Frames the processing could not take (sent on as captured).
    failures: u64,
}

impl std::fmt::Debug for VoiceProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceProcessor")
            .field("settings", &self.settings)
            .field("capture_rate", &self.capture_rate)
            .field("playback_rate", &self.playback_rate)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// What the processing thread is asked.
enum Job {
    Set(VoiceSettings),
    Capture(Vec<i16>),
    Render(Vec<i16>),
}

/// What it answers (render frames get no answer).
enum Done {
    Set(Result<(), VoiceError>),
    Capture(Vec<i16>, bool),
}

/// The processing thread and the way to it.
struct Worker {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn start(capture_rate: u32, playback_rate: u32) -> Result<Self, VoiceError> {
        let (jobs, job_rx) = channel::<Job>();
        let (done_tx, done) = channel::<Done>();
        let thread = std::thread::Builder::new()
            .name("voice".to_owned())
            .spawn(move || {
                let mut chain = match Chain::new(capture_rate, playback_rate) {
                    Ok(chain) => chain,
                    Err(e) => {
                        let _ = done_tx.send(Done::Set(Err(e)));
                        return;
                    }
                };
                while let Ok(job) = job_rx.recv() {
                    let answer = match job {
                        Job::Set(settings) => Some(Done::Set(chain.switch(settings))),
                        Job::Capture(mut frame) => {
                            let ok = chain.capture(&mut frame);
                            Some(Done::Capture(frame, ok))
                        }
                        Job::Render(frame) => {
                            chain.render(&frame);
                            None
                        }
                    };
                    if let Some(answer) = answer
                        && done_tx.send(answer).is_err()
                    {
                        return;
                    }
                }
            })
            .map_err(|e| VoiceError(e.to_string()))?;
        Ok(Self {
            jobs,
            done,
            thread: Some(thread),
        })
    }

    fn ask(&self, job: Job) -> Option<Done> {
        self.jobs.send(job).ok()?;
        self.done.recv().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (closed, _) = channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The stages and the buffers around them.
struct Chain {
    pipeline: LinearPipeline,
    /// The microphone's 20 ms at the processing rate.
    frame: Vec<i16>,
    /// The far end's 20 ms at the processing rate.
    reference: Vec<i16>,
    /// Device rate to the processing rate, and back.
    into: FrameResampler,
    back: FrameResampler,
    /// The headset's rate to the processing rate.
    render: FrameResampler,
    /// One 10 ms frame in and out, as the pipeline takes them.
    input: Vec<f32>,
    output: Vec<f32>,
}

/// Why the processing could not start.
#[derive(Debug, thiserror::Error)]
#[error("microphone processing could not start: {0}")]
pub struct VoiceError(String);

impl VoiceProcessor {
    /// Processing for a microphone at `capture_rate` whose far end plays at `playback_rate`;
    /// every stage off until [`VoiceProcessor::set`].
    #[must_use]
    pub fn new(capture_rate: u32, playback_rate: u32) -> Self {
        Self {
            settings: VoiceSettings::OFF,
            capture_rate,
            playback_rate,
            worker: None,
            buffer: Vec::new(),
            failures: 0,
        }
    }

    /// The stages switched on now.
    #[must_use]
    pub fn settings(&self) -> VoiceSettings {
        self.settings
    }

    /// Frames sent on unprocessed because the processing refused them.
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Switches the stages; a stage switched off passes its input on untouched.
    ///
    /// # Errors
    /// When the processing cannot be built; every stage is then off.
    pub fn set(&mut self, settings: VoiceSettings) -> Result<(), VoiceError> {
        if settings.any() && self.worker.is_none() {
            self.worker = Some(Worker::start(self.capture_rate, self.playback_rate)?);
        }
        let Some(worker) = self.worker.as_ref() else {
            self.settings = settings;
            return Ok(());
        };
        let result = match worker.ask(Job::Set(settings)) {
            Some(Done::Set(result)) => result,
            _ => Err(VoiceError("the processing thread stopped".to_owned())),
        };
        match result {
            Ok(()) => {
                self.settings = settings;
                Ok(())
            }
            Err(e) => {
                self.settings = VoiceSettings::OFF;
                self.worker = None;
                Err(e)
            }
        }
    }

    /// Processes one 20 ms microphone frame at the capture rate, in place.
    pub fn capture(&mut self, frame: &mut [i16]) {
        if !self.settings.any() {
            return;
        }
        let Some(worker) = self.worker.as_ref() else {
            return;
        };
        let mut lent = std::mem::take(&mut self.buffer);
        lent.clear();
        lent.extend_from_slice(frame);
        match worker.ask(Job::Capture(lent)) {
            Some(Done::Capture(processed, ok)) => {
                if ok && processed.len() == frame.len() {
                    frame.copy_from_slice(&processed);
                } else {
                    self.failures += 1;
                }
                self.buffer = processed;
            }
            _ => {
                // The thread is gone: the microphone goes out as captured from now on.
                self.failures += 1;
                self.settings = VoiceSettings::OFF;
                self.worker = None;
            }
        }
    }

    /// The far end's 20 ms as the headset plays it, at the playback rate: the echo canceller's
    /// reference.
    pub fn render(&mut self, frame: &[i16]) {
        if !self.settings.echo_cancellation {
            return;
        }
        if let Some(worker) = self.worker.as_ref()
            && worker.jobs.send(Job::Render(frame.to_vec())).is_err()
        {
            self.failures += 1;
        }
    }
}

impl Chain {
    fn new(capture_rate: u32, playback_rate: u32) -> Result<Self, VoiceError> {
        let rate = if NATIVE.contains(&capture_rate) {
            capture_rate
        } else {
            48_000
        };
        let format = AudioFormat::ten_ms(rate, 1);
        // 18 dB of suppression (WebRTC's "high"): a contact centre's floor is loud.
        let ns = NsConfig {
            target_level: SuppressionLevel::K18dB,
            ..NsConfig::default()
        };
        let pipeline = linear::builder(format, format)
            .noise_suppression_config(ns)
            .build()
            .map_err(|e| VoiceError(e.to_string()))?;
        Ok(Self {
            pipeline,
            frame: vec![0; frame_len(rate)],
            reference: vec![0; frame_len(rate)],
            into: FrameResampler::new(capture_rate, rate),
            back: FrameResampler::new(rate, capture_rate),
            render: FrameResampler::new(playback_rate, rate),
            input: vec![0.0; format.sample_count()],
            output: vec![0.0; format.sample_count()],
        })
    }

    fn switch(&mut self, settings: VoiceSettings) -> Result<(), VoiceError> {
        let state = |on: bool| {
            if on {
                NodeControlState::Active
            } else {
                NodeControlState::Bypassed
            }
        };
        let handles = *self.pipeline.handles();
        let mut nodes = vec![(handles.aec3.node_id(), state(settings.echo_cancellation))];
        if let Some(ns) = handles.noise_suppression {
            nodes.push((ns.node_id(), state(settings.noise_suppression)));
        }
        if let Some(agc) = handles.gain_controller2 {
            nodes.push((agc.node_id(), state(settings.auto_gain)));
        }
        for (node, state) in nodes {
            self.pipeline
                .set_node_state(node, state)
                .map_err(|e| VoiceError(e.to_string()))?;
        }
        Ok(())
    }

    /// Processes one 20 ms frame in place; false (and the frame untouched) when the pipeline
    /// refused it.
    fn capture(&mut self, frame: &mut [i16]) -> bool {
        self.into.process(frame, &mut self.frame);
        let half = self.input.len();
        let mut ok = true;
        for part in self.frame.chunks_mut(half) {
            for (f, &s) in self.input.iter_mut().zip(part.iter()) {
                *f = f32::from(s) / 32768.0;
            }
            match self
                .pipeline
                .process_capture_frame(&self.input, &mut self.output)
            {
                Ok(true) => {
                    for (s, &f) in part.iter_mut().zip(&self.output) {
                        *s = (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                    }
                }
                // Nothing came out yet: the frame goes on as captured.
                Ok(false) => {}
                Err(_) => ok = false,
            }
        }
        if ok {
            self.back.process(&self.frame, frame);
        }
        ok
    }

    fn render(&mut self, frame: &[i16]) -> bool {
        self.render.process(frame, &mut self.reference);
        let half = self.input.len();
        for part in self.reference.chunks(half) {
            for (f, &s) in self.input.iter_mut().zip(part) {
                *f = f32::from(s) / 32768.0;
            }
            if self.pipeline.handle_render_frame(&self.input).is_err() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded noise source (xorshift), roughly uniform in ±`amplitude`.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self, amplitude: f32) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        }
    }

    fn energy(samples: &[i16]) -> f64 {
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64
    }

    /// A voiced, speech-like signal: a 140 Hz pulse train through vowel-like resonances,
    /// switching vowels and pausing like syllables.
    fn voice(rate: u32, seconds: f32, level: f32) -> Vec<i16> {
        let n = (rate as f32 * seconds) as usize;
        let formants = [
            [730.0, 1090.0],
            [270.0, 2290.0],
            [570.0, 840.0],
            [440.0, 1020.0],
        ];
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let syllable = (t * 4.0) as usize;
                let [f1, f2] = formants[syllable % formants.len()];
                // On for 180 ms of each 250 ms.
                let on = (t * 4.0).fract() < 0.72;
                if !on {
                    return 0;
                }
                let mut s = 0.0;
                for h in 1..30 {
                    let f = 140.0 * h as f32;
                    let gain = 1.0 / (1.0 + ((f - f1) / 90.0).powi(2))
                        + 0.5 / (1.0 + ((f - f2) / 120.0).powi(2));
                    s += gain * (std::f32::consts::TAU * f * t).sin();
                }
                (s * level) as i16
            })
            .collect()
    }

    fn run(
        processor: &mut VoiceProcessor,
        mic: &[i16],
        far: Option<&[i16]>,
        rate: u32,
    ) -> Vec<i16> {
        let n = frame_len(rate);
        let mut out = Vec::with_capacity(mic.len());
        for (i, chunk) in mic.chunks_exact(n).enumerate() {
            let mut frame = chunk.to_vec();
            processor.capture(&mut frame);
            if let Some(far) = far {
                processor.render(&far[i * n..(i + 1) * n]);
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn with_every_stage_off_the_microphone_goes_out_as_captured() {
        let mut processor = VoiceProcessor::new(48_000, 48_000);
        processor.set(VoiceSettings::OFF).expect("off");
        let mic = voice(48_000, 1.0, 900.0);
        assert_eq!(run(&mut processor, &mic, None, 48_000), mic);
        // On, then off again: untouched again.
        processor.set(VoiceSettings::default()).expect("on");
        run(&mut processor, &mic, None, 48_000);
        processor.set(VoiceSettings::OFF).expect("off");
        assert_eq!(run(&mut processor, &mic, None, 48_000), mic);
        assert_eq!(processor.failures(), 0);
    }

    #[test]
    fn noise_suppression_takes_steady_noise_out_of_the_pauses() {
        for rate in [48_000, 16_000, 44_100] {
            let mut noise = Noise(7);
            // Three seconds of voice, then one of the room alone.
            let mut speech = voice(rate, 3.0, 700.0);
            speech.resize(4 * rate as usize, 0);
            let mic: Vec<i16> = speech
                .iter()
                .map(|&s| (f32::from(s) + noise.next(600.0)) as i16)
                .collect();
            let mut processor = VoiceProcessor::new(rate, rate);
            processor
                .set(VoiceSettings {
                    noise_suppression: true,
                    ..VoiceSettings::OFF
                })
                .expect("on");
            let out = run(&mut processor, &mic, None, rate);
            let second = rate as usize;
            let room = 3 * second + second / 2..4 * second;
            let reduction = 10.0 * (energy(&mic[room.clone()]) / energy(&out[room])).log10();
            assert!(reduction > 10.0, "{rate} Hz: noise down {reduction:.1} dB");
            // The voice stays.
            let voiced = 2 * second..3 * second;
            let kept = 10.0 * (energy(&out[voiced.clone()]) / energy(&speech[voiced])).log10();
            assert!(kept > -6.0, "{rate} Hz: voice {kept:.1} dB");
            assert_eq!(processor.failures(), 0);
        }
    }

    #[test]
    fn the_canceller_takes_the_far_end_out_of_the_microphone() {
        let rate = 16_000;
        let far = voice(rate, 8.0, 900.0);
        // The room: 30 ms late, a few reflections, quieter.
        let taps = [(480usize, 0.5f32), (560, -0.25), (720, 0.12), (900, 0.06)];
        let mut echo = vec![0i16; far.len()];
        for (i, e) in echo.iter_mut().enumerate() {
            let mut s = 0.0;
            for &(delay, gain) in &taps {
                if i >= delay {
                    s += f32::from(far[i - delay]) * gain;
                }
            }
            *e = s as i16;
        }
        let mut processor = VoiceProcessor::new(rate, rate);
        processor
            .set(VoiceSettings {
                echo_cancellation: true,
                ..VoiceSettings::OFF
            })
            .expect("on");
        let out = run(&mut processor, &echo, Some(&far), rate);
        let last = 4 * rate as usize..;
        let erle = 10.0 * (energy(&echo[last.clone()]) / energy(&out[last]).max(1.0)).log10();
        assert!(erle > 15.0, "echo return loss enhancement {erle:.1} dB");
    }

    #[test]
    fn gain_control_brings_a_quiet_voice_up() {
        let rate = 48_000;
        let quiet = voice(rate, 6.0, 40.0);
        let mut processor = VoiceProcessor::new(rate, rate);
        processor
            .set(VoiceSettings {
                auto_gain: true,
                ..VoiceSettings::OFF
            })
            .expect("on");
        let out = run(&mut processor, &quiet, None, rate);
        let last = 4 * rate as usize..;
        let gain = 10.0 * (energy(&out[last.clone()]) / energy(&quiet[last])).log10();
        assert!(gain > 6.0, "gain {gain:.1} dB");
    }
}
