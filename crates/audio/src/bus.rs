//! The audio bus between sound devices and calls.
//!
//! Two sides meet here. The device side ([`CaptureSide`], [`PlaybackSide`], [`RingSide`]) runs
//! in the device callbacks: it only pushes to and pops from lock-free rings (rtrb) and reads
//! atomics, never locks, allocates or logs. The call side ([`Bus`] and its [`BusPort`]s) runs
//! on the core thread's media clock: every 20 ms each call's port takes the microphone's
//! latest frame (one frame fanned out to every call, resampled to the call's rate) and gives
//! what its call played, which the bus mixes and hands to the headset.
//!
//! The device's clock and the media clock drift apart. The bus keeps the capture ring short
//! (a frame that waited longer than two frames is skipped) and refuses to queue more than
//! three frames for playback, so drift costs an occasional skipped or repeated frame, never a
//! growing delay.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use media::{AudioPort, FrameResampler, Tone, ToneGenerator, VoiceSettings};

use crate::voice::{VoiceError, VoiceProcessor};
use rtrb::{Consumer, Producer, RingBuffer};

/// State shared by the device callbacks and the core: which tones play, the levels, and
/// what went wrong at the device edge.
#[derive(Debug, Default)]
pub struct DeviceShared {
    /// The progress tone mixed into the headset (0: none).
    output_tone: AtomicU8,
    /// The tone on the ring device (0: none).
    ring_tone: AtomicU8,
    /// No separate ring device: the ringtone plays on the headset.
    ring_on_output: AtomicBool,
    /// Peak of the last captured frame (0..=32767).
    input_peak: AtomicU32,
    /// Peak of the last frame sent to the headset.
    output_peak: AtomicU32,
    /// Captured samples lost because the core did not take them in time.
    pub overruns: AtomicU64,
    /// Samples the headset wanted that the core had not delivered.
    pub underruns: AtomicU64,
}

fn tone_code(tone: Option<Tone>) -> u8 {
    match tone {
        None => 0,
        Some(Tone::Ring) => 1,
        Some(Tone::Ringback) => 2,
        Some(Tone::Busy) => 3,
        Some(Tone::Reorder) => 4,
        Some(Tone::Test) => 5,
    }
}

fn tone_of(code: u8) -> Option<Tone> {
    match code {
        1 => Some(Tone::Ring),
        2 => Some(Tone::Ringback),
        3 => Some(Tone::Busy),
        4 => Some(Tone::Reorder),
        5 => Some(Tone::Test),
        _ => None,
    }
}

/// Input and output levels in dBFS (−90 for silence).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// The microphone's last frame.
    pub input_db: f32,
    /// The headset's last frame.
    pub output_db: f32,
}

fn dbfs(peak: u32) -> f32 {
    if peak == 0 {
        return -90.0;
    }
    (20.0 * (peak as f32 / 32767.0).log10()).max(-90.0)
}

fn peak(frame: &[i16]) -> u32 {
    frame
        .iter()
        .map(|&s| u32::from(s.unsigned_abs()))
        .max()
        .unwrap_or(0)
        .min(32767)
}

impl DeviceShared {
    /// Sets the progress tone for the headset (ringback, busy, reorder) and the ring device.
    pub fn set_tones(&self, output: Option<Tone>, ring: Option<Tone>) {
        let output = if self.ring_on_output.load(Ordering::Relaxed) {
            output.or(ring)
        } else {
            output
        };
        self.output_tone.store(tone_code(output), Ordering::Relaxed);
        self.ring_tone.store(tone_code(ring), Ordering::Relaxed);
    }

    /// Plays the ringtone on the headset too (there is no ring device).
    pub fn ring_on_output(&self, yes: bool) {
        self.ring_on_output.store(yes, Ordering::Relaxed);
    }

    /// The current levels.
    #[must_use]
    pub fn levels(&self) -> Levels {
        Levels {
            input_db: dbfs(self.input_peak.load(Ordering::Relaxed)),
            output_db: dbfs(self.output_peak.load(Ordering::Relaxed)),
        }
    }
}

/// The microphone's callback end: samples in, never blocking.
pub struct CaptureSide {
    ring: Producer<i16>,
    shared: Arc<DeviceShared>,
}

impl CaptureSide {
    /// Takes one captured sample (the first channel of each device frame).
    pub fn push(&mut self, sample: i16) {
        if self.ring.push(sample).is_err() {
            self.shared.overruns.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The headset's callback end: what the calls played, with the progress tone on top.
pub struct PlaybackSide {
    ring: Consumer<i16>,
    shared: Arc<DeviceShared>,
    tone: Option<ToneGenerator>,
    rate: u32,
    /// Whether a call has delivered audio since the last underrun (so idle is not counted).
    flowing: bool,
}

impl PlaybackSide {
    /// The next sample to play.
    pub fn next_sample(&mut self) -> i16 {
        let voice = match self.ring.pop() {
            Ok(sample) => {
                self.flowing = true;
                sample
            }
            Err(_) => {
                if self.flowing {
                    self.shared.underruns.fetch_add(1, Ordering::Relaxed);
                    self.flowing = false;
                }
                0
            }
        };
        voice.saturating_add(next_tone(
            &mut self.tone,
            &self.shared.output_tone,
            self.rate,
        ))
    }
}

/// The ring device's callback end: plays the ringtone while a call rings, silence otherwise.
pub struct RingSide {
    shared: Arc<DeviceShared>,
    tone: Option<ToneGenerator>,
    rate: u32,
}

impl RingSide {
    /// The ring device's end, playing at `rate` Hz.
    #[must_use]
    pub fn new(shared: Arc<DeviceShared>, rate: u32) -> Self {
        Self {
            shared,
            tone: None,
            rate,
        }
    }

    /// The next sample to play.
    pub fn next_sample(&mut self) -> i16 {
        next_tone(&mut self.tone, &self.shared.ring_tone, self.rate)
    }
}

/// One sample of whichever tone `code` names, restarting the cadence when it changes.
fn next_tone(generator: &mut Option<ToneGenerator>, code: &AtomicU8, rate: u32) -> i16 {
    let wanted = tone_of(code.load(Ordering::Relaxed));
    if generator.as_ref().map(ToneGenerator::tone) != wanted {
        *generator = wanted.map(|tone| ToneGenerator::new(tone, rate));
    }
    let Some(generator) = generator.as_mut() else {
        return 0;
    };
    let mut sample = [0i16; 1];
    generator.fill(&mut sample);
    sample[0]
}

/// The core's side of the devices: fans the microphone out to calls and mixes their playback.
pub struct Bus {
    capture: Consumer<i16>,
    playback: Producer<i16>,
    shared: Arc<DeviceShared>,
    /// The microphone's current 20 ms frame, at the capture rate.
    frame: Vec<i16>,
    /// Which frame that is; a port that has seen it asks for the next one.
    generation: u64,
    /// Playback of this round, summed, at the playback rate.
    mix: Vec<i32>,
    /// Ports that gave playback this round.
    contributed: usize,
    ports: usize,
    /// Frames skipped to keep the capture delay short, or dropped from a full playback queue.
    pub skipped: u64,
    /// Echo cancellation, noise suppression and gain control of the microphone's frame,
    /// fed the headset's mix as the echo reference.
    voice: VoiceProcessor,
    /// The headset's last mixed frame.
    played: Vec<i16>,
}

/// 20 ms of samples at `rate`.
fn frame_len(rate: u32) -> usize {
    rate as usize / 50
}

/// Builds the rings of a bus: the device callbacks' ends, and the core's bus.
#[must_use]
pub fn bus(capture_rate: u32, playback_rate: u32) -> (Bus, CaptureSide, PlaybackSide) {
    let shared = Arc::new(DeviceShared::default());
    // A quarter of a second each way: room for a late callback, bounded for drift.
    let (capture_in, capture_out) = RingBuffer::new(capture_rate as usize / 4);
    let (playback_in, playback_out) = RingBuffer::new(playback_rate as usize / 4);
    let bus = Bus {
        capture: capture_out,
        playback: playback_in,
        shared: shared.clone(),
        frame: vec![0; frame_len(capture_rate)],
        generation: 0,
        mix: vec![0; frame_len(playback_rate)],
        contributed: 0,
        ports: 0,
        skipped: 0,
        voice: VoiceProcessor::new(capture_rate, playback_rate),
        played: vec![0; frame_len(playback_rate)],
    };
    let capture = CaptureSide {
        ring: capture_in,
        shared: shared.clone(),
    };
    let playback = PlaybackSide {
        ring: playback_out,
        shared: shared.clone(),
        tone: None,
        rate: playback_rate,
        flowing: false,
    };
    (bus, capture, playback)
}

impl Bus {
    /// The state shared with the callbacks (tones, levels, counters).
    #[must_use]
    pub fn shared(&self) -> &Arc<DeviceShared> {
        &self.shared
    }

    /// Takes the microphone's next frame; pads with silence if the device is behind and
    /// skips what waited too long if it is ahead.
    fn advance(&mut self) {
        let want = self.frame.len();
        let waiting = self.capture.slots();
        if waiting > 3 * want {
            let excess = waiting - 2 * want;
            if let Ok(chunk) = self.capture.read_chunk(excess) {
                chunk.commit_all();
            }
            self.skipped += 1;
        }
        let take = self.capture.slots().min(want);
        if let Ok(chunk) = self.capture.read_chunk(take) {
            let (first, second) = chunk.as_slices();
            self.frame[..first.len()].copy_from_slice(first);
            self.frame[first.len()..take].copy_from_slice(second);
            chunk.commit_all();
        }
        self.frame[take..].fill(0);
        self.generation += 1;
        // The meter shows the microphone as it is; the calls get it processed.
        self.shared
            .input_peak
            .store(peak(&self.frame), Ordering::Relaxed);
        self.voice.capture(&mut self.frame);
        if self.contributed > 0 {
            // A port that stopped playing (held call ended mid-round): flush what we have.
            self.flush();
        }
    }

    fn contribute(&mut self, frame: &[i16]) {
        for (sum, &sample) in self.mix.iter_mut().zip(frame) {
            *sum += i32::from(sample);
        }
        self.contributed += 1;
        if self.contributed >= self.ports {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let len = self.mix.len();
        let queued = self.playback.buffer().capacity() - self.playback.slots();
        if queued > 3 * len || self.playback.slots() < len {
            self.skipped += 1;
        } else if let Ok(mut chunk) = self.playback.write_chunk(len) {
            // Saturating mix of the calls.
            for (out, &sum) in self.played.iter_mut().zip(&self.mix) {
                *out = sum.clamp(-32768, 32767) as i16;
            }
            let (first, second) = chunk.as_mut_slices();
            let (a, b) = self.played.split_at(first.len());
            first.copy_from_slice(a);
            second.copy_from_slice(&b[..second.len()]);
            chunk.commit_all();
            self.shared
                .output_peak
                .store(peak(&self.played), Ordering::Relaxed);
            self.voice.render(&self.played);
        }
        self.mix.fill(0);
        self.contributed = 0;
    }
}

/// A shared bus, handing out one port per call.
#[derive(Clone)]
pub struct SharedBus(Arc<Mutex<Bus>>);

impl SharedBus {
    /// Shares `bus` between calls.
    #[must_use]
    pub fn new(bus: Bus) -> Self {
        Self(Arc::new(Mutex::new(bus)))
    }

    /// A port for a call exchanging 20 ms frames at `rate` Hz.
    #[must_use]
    pub fn port(&self, rate: u32) -> BusPort {
        let mut bus = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bus.ports += 1;
        let capture_rate = bus.frame.len() as u32 * 50;
        let playback_rate = bus.mix.len() as u32 * 50;
        BusPort {
            bus: self.clone(),
            seen: bus.generation,
            from_device: FrameResampler::new(capture_rate, rate),
            to_device: FrameResampler::new(rate, playback_rate),
            buffer: vec![0; frame_len(playback_rate)],
        }
    }

    /// The state shared with the callbacks.
    #[must_use]
    pub fn shared(&self) -> Arc<DeviceShared> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .shared
            .clone()
    }

    /// Switches the microphone's processing stages.
    ///
    /// # Errors
    /// When the processing cannot start; the microphone then goes out unprocessed.
    pub fn set_voice(&self, settings: VoiceSettings) -> Result<(), VoiceError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .voice
            .set(settings)
    }

    /// The microphone's processing stages switched on now.
    #[must_use]
    pub fn voice(&self) -> VoiceSettings {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .voice
            .settings()
    }

    /// Frames skipped or dropped to keep the delay bounded.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .skipped
    }
}

/// A call's connection to the devices.
pub struct BusPort {
    bus: SharedBus,
    seen: u64,
    from_device: FrameResampler,
    to_device: FrameResampler,
    buffer: Vec<i16>,
}

impl AudioPort for BusPort {
    fn capture(&mut self, frame: &mut [i16]) {
        let mut bus = self.bus.0.lock().unwrap_or_else(PoisonError::into_inner);
        if self.seen == bus.generation {
            bus.advance();
        }
        self.seen = bus.generation;
        self.from_device.process(&bus.frame, frame);
    }

    fn playback(&mut self, frame: &[i16]) {
        self.to_device.process(frame, &mut self.buffer);
        let mut bus = self.bus.0.lock().unwrap_or_else(PoisonError::into_inner);
        bus.contribute(&self.buffer);
    }
}

impl Drop for BusPort {
    fn drop(&mut self) {
        let mut bus = self.bus.0.lock().unwrap_or_else(PoisonError::into_inner);
        bus.ports = bus.ports.saturating_sub(1);
        if bus.ports > 0 && bus.contributed >= bus.ports {
            bus.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, len: usize, offset: usize) -> Vec<i16> {
        (offset..offset + len)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16)
            .collect()
    }

    /// Correlation of `a` with a `hz` sine at `rate`, phase-free (0..1).
    fn tone_share(samples: &[i16], hz: f32, rate: u32) -> f32 {
        let (mut i, mut q, mut power) = (0.0f64, 0.0f64, 0.0f64);
        for (k, &s) in samples.iter().enumerate() {
            let phase =
                f64::from(k as u32) * f64::from(hz) * std::f64::consts::TAU / f64::from(rate);
            i += f64::from(s) * phase.cos();
            q += f64::from(s) * phase.sin();
            power += f64::from(s).powi(2);
        }
        if power == 0.0 {
            return 0.0;
        }
        (((i * i + q * q) * 2.0 / samples.len() as f64) / power).sqrt() as f32
    }

    #[test]
    fn the_microphone_reaches_every_call_at_its_rate_and_both_calls_are_heard() {
        let (bus, mut mic, mut headset) = bus(48_000, 48_000);
        let bus = SharedBus::new(bus);
        let mut narrow = bus.port(8000);
        let mut wide = bus.port(48_000);
        let mut heard = Vec::new();
        let (mut narrow_got, mut wide_got) = (Vec::new(), Vec::new());
        let spoken = tone(48_000, 440.0, 48_000, 0);
        for round in 0..50 {
            // The device delivers 20 ms, then the media clock ticks both calls.
            for &s in &spoken[round * 960..(round + 1) * 960] {
                mic.push(s);
            }
            let mut n = vec![0i16; 160];
            let mut w = vec![0i16; 960];
            narrow.capture(&mut n);
            narrow.playback(&tone(8000, 300.0, 160, round * 160));
            wide.capture(&mut w);
            wide.playback(&tone(48_000, 1000.0, 960, round * 960));
            narrow_got.extend_from_slice(&n);
            wide_got.extend_from_slice(&w);
            for _ in 0..960 {
                heard.push(headset.next_sample());
            }
        }
        let narrow_share = tone_share(&narrow_got[1600..], 440.0, 8000);
        let wide_share = tone_share(&wide_got[9600..], 440.0, 48_000);
        assert!(
            narrow_share > 0.95,
            "narrow call hears the microphone: {narrow_share}"
        );
        assert!(
            wide_share > 0.99,
            "wide call hears the microphone: {wide_share}"
        );
        assert_eq!(
            &wide_got[960..1920],
            &spoken[960..1920],
            "one frame, same rate: no delay"
        );
        let tail = &heard[9600..];
        let (low, high) = (
            tone_share(tail, 300.0, 48_000),
            tone_share(tail, 1000.0, 48_000),
        );
        assert!(
            low > 0.5 && high > 0.5,
            "the headset hears both calls: {low} {high}"
        );
        let shared = bus.shared();
        assert_eq!(shared.underruns.load(Ordering::Relaxed), 0);
        let levels = shared.levels();
        assert!(
            levels.input_db > -20.0 && levels.input_db < 0.0,
            "{levels:?}"
        );
        assert!(levels.output_db > -20.0, "{levels:?}");
    }

    #[test]
    fn drift_never_grows_the_delay() {
        let (bus, mut mic, mut headset) = bus(48_000, 48_000);
        let bus = SharedBus::new(bus);
        let mut port = bus.port(48_000);
        let mut frame = vec![0i16; 960];
        // The device runs 5% fast for 20 s: without the bound the capture ring would hold a
        // second of audio.
        for round in 0..1000 {
            for _ in 0..1008 {
                mic.push(round as i16);
            }
            port.capture(&mut frame);
            port.playback(&frame);
            for _ in 0..1008 {
                headset.next_sample();
            }
        }
        let bus = bus.0.lock().expect("bus");
        assert!(
            bus.capture.slots() <= 3 * 960,
            "capture queue {}",
            bus.capture.slots()
        );
        assert!(bus.skipped > 0);
        assert_eq!(bus.shared.overruns.load(Ordering::Relaxed), 0);
        // The device is short of audio each round: counted as underruns, not a crash.
        drop(bus);
        assert!(bus_underruns(&headset) > 0);
    }

    /// What a call captures over 8 s while the headset is a speaker 40 ms from the
    /// microphone, and the far end talks (seeded noise bursts, like syllables).
    fn through_a_speaker(voice: VoiceSettings) -> (Vec<i16>, Vec<i16>) {
        let (bus, mut mic, mut headset) = bus(48_000, 48_000);
        let bus = SharedBus::new(bus);
        bus.set_voice(voice).expect("processing");
        assert_eq!(bus.voice(), voice);
        let mut port = bus.port(16_000);
        let mut seed = 9u64;
        let mut room = std::collections::VecDeque::from(vec![0i16; 1920]);
        let (mut captured, mut echo) = (Vec::new(), Vec::new());
        let mut frame = vec![0i16; 320];
        for round in 0..400 {
            port.capture(&mut frame);
            captured.extend_from_slice(&frame);
            let far: Vec<i16> = (0..320)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let on = (round * 320 + i) / 3200 % 3 != 2;
                    if on {
                        ((seed >> 52) as i16 - 2048) * 3
                    } else {
                        0
                    }
                })
                .collect();
            port.playback(&far);
            for _ in 0..960 {
                room.push_back(headset.next_sample() / 3);
                let back = room.pop_front().unwrap_or(0);
                echo.push(back);
                mic.push(back);
            }
        }
        (captured, echo)
    }

    #[test]
    fn the_echo_of_a_speaker_is_cancelled_before_the_calls_get_the_microphone() {
        let energy = |s: &[i16]| s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
        let (plain, echo) = through_a_speaker(VoiceSettings::OFF);
        let last = 16_000 * 5..;
        assert!(energy(&echo) > 0.0);
        let (cancelled, _) = through_a_speaker(VoiceSettings {
            echo_cancellation: true,
            ..VoiceSettings::OFF
        });
        let erle =
            10.0 * (energy(&plain[last.clone()]) / energy(&cancelled[last]).max(1.0)).log10();
        assert!(erle > 15.0, "echo down {erle:.1} dB");
    }

    fn bus_underruns(side: &PlaybackSide) -> u64 {
        side.shared.underruns.load(Ordering::Relaxed)
    }

    #[test]
    fn tones_play_on_their_devices_and_stop() {
        let (bus, _mic, mut headset) = bus(48_000, 48_000);
        let shared = bus.shared().clone();
        let mut ringer = RingSide::new(shared.clone(), 48_000);
        shared.set_tones(Some(Tone::Ringback), Some(Tone::Ring));
        let headset_tone: Vec<i16> = (0..48_000).map(|_| headset.next_sample()).collect();
        let ring: Vec<i16> = (0..48_000).map(|_| ringer.next_sample()).collect();
        let (f1, f2) = Tone::Ringback.frequencies();
        assert!(tone_share(&headset_tone[2400..40_000], f1, 48_000) > 0.3);
        assert!(tone_share(&headset_tone[2400..40_000], f2, 48_000) > 0.3);
        let (r1, _) = Tone::Ring.frequencies();
        assert!(tone_share(&ring[2400..40_000], r1, 48_000) > 0.3);
        shared.set_tones(None, None);
        assert!((0..960).all(|_| headset.next_sample() == 0 && ringer.next_sample() == 0));
        shared.ring_on_output(true);
        shared.set_tones(None, Some(Tone::Ring));
        let on_headset: Vec<i16> = (0..24_000).map(|_| headset.next_sample()).collect();
        assert!(
            tone_share(&on_headset[2400..], r1, 48_000) > 0.3,
            "no ring device: the headset rings"
        );
    }

    #[test]
    fn a_port_dropping_mid_round_does_not_stall_the_others() {
        let (bus, mut mic, mut headset) = bus(48_000, 48_000);
        let bus = SharedBus::new(bus);
        let mut a = bus.port(48_000);
        let b = bus.port(48_000);
        drop(b);
        let mut frame = vec![0i16; 960];
        for _ in 0..960 {
            mic.push(0);
        }
        a.capture(&mut frame);
        a.playback(&[1000; 960]);
        assert_eq!(headset.next_sample(), 1000, "flushed with one port left");
    }
}
