//! The microphone's processing (issue 16), measured offline on real speech:
//! - noise suppression: espeak-ng speech mixed with babble (six other espeak-ng talkers, each three times over) at
//!   5 dB SNR; PESQ (P.862.2 wideband) and segmental SNR of the noisy and the suppressed
//!   speech against the clean speech;
//! - echo cancellation: the far end's speech through an office's impulse response (image
//!   source method, T60 0.3 s, 40 ms of device buffers in front; echo return loss 10 dB) with
//!   a low noise floor; echo return loss enhancement per second in single talk, and the agent's
//!   voice (PESQ) during double talk with and without the canceller;
//! - CPU: each stage alone, and all three, per 20 ms frame at 48 kHz (a headset's rate) next
//!   to the Opus encoder's on the same audio.
//!
//! Run with `cargo bench --bench voice` (needs espeak-ng, sox and `pip install pesq numpy
//! pyroomacoustics`).

#![allow(clippy::print_stdout, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use audio::VoiceProcessor;
use media::VoiceSettings;
use support::{convert, pesq, require, run, speech};

const RATE: u32 = 16_000;
const FRAME: usize = RATE as usize / 50;

/// Sentences the babble's talkers say (Harvard lists 2 and 3), one talker each.
const BABBLE: [(&str, &str); 6] = [
    (
        "en-us",
        "The boy was there when the sun rose. A rod is used to catch pink salmon. The source of the huge river is the clear spring.",
    ),
    (
        "en+f3",
        "Kick the ball straight and follow through. Help the woman get back to her feet. A pot of tea helps to pass the evening.",
    ),
    (
        "en+m3",
        "Smoky fires lack flame and heat. The soft cushion broke the man's fall. The salt breeze came across from the sea.",
    ),
    (
        "en+f2",
        "The girl at the booth sold fifty bonds. The small pup gnawed a hole in the sock. The fish twisted and turned on the bent hook.",
    ),
    (
        "en-gb",
        "Press the pants and sew a button on the vest. The swan dive was far short of perfect. The beauty of the view stunned the young boy.",
    ),
    (
        "en+m7",
        "Two blue fish swam in the tank. Her purse was full of useless trash. The colt reared and threw the tall rider.",
    ),
];

fn read(path: &Path) -> Vec<i16> {
    audio::read_wav(path).expect("a WAV file").samples
}

fn write(path: &Path, samples: &[i16]) {
    audio::write_wav(path, RATE, samples).expect("writes");
}

fn energy(samples: &[f64]) -> f64 {
    samples.iter().map(|s| s * s).sum::<f64>()
}

fn as_f64(samples: &[i16]) -> Vec<f64> {
    samples.iter().map(|&s| f64::from(s)).collect()
}

/// The babble: six talkers, each three times over (eighteen voices at once), all at the same
/// level, starting at different times and looped to `len` samples.
fn babble(dir: &Path, len: usize) -> Vec<f64> {
    let mut sum = vec![0.0; len];
    for (i, (voice, text)) in BABBLE.iter().enumerate() {
        let raw = dir.join(format!("babble{i}-raw.wav"));
        let at = dir.join(format!("babble{i}.wav"));
        run(Command::new("espeak-ng")
            .args(["-v", voice, "-s", "165", "-w"])
            .arg(&raw)
            .arg(text));
        convert(&raw, RATE, &at);
        let talker = as_f64(&read(&at));
        let level = energy(&talker).sqrt().max(1.0) / (talker.len() as f64).sqrt();
        // Each talker three times over, from different places in the text: eighteen voices,
        // as dense as a contact-centre floor.
        for copy in 0..3 {
            let offset = i * RATE as usize * 7 / 10 + copy * RATE as usize * 23 / 10;
            for (k, s) in sum.iter_mut().enumerate() {
                *s += talker[(k + offset) % talker.len()] / level;
            }
        }
    }
    sum
}

/// Runs `mic` (and the far end's `far`, played as the headset's reference) through the
/// processing with `voice`, 20 ms at a time, as the audio bus does: capture, then render.
fn process(voice: VoiceSettings, rate: u32, mic: &[i16], far: Option<&[i16]>) -> Vec<i16> {
    let frame = rate as usize / 50;
    let mut processor = VoiceProcessor::new(rate, rate);
    processor.set(voice).expect("the processing starts");
    let mut out = Vec::with_capacity(mic.len());
    let mut buffer = vec![0i16; frame];
    for (i, chunk) in mic.chunks_exact(frame).enumerate() {
        buffer.copy_from_slice(chunk);
        processor.capture(&mut buffer);
        out.extend_from_slice(&buffer);
        if let Some(far) = far {
            processor.render(&far[i * frame..(i + 1) * frame]);
        }
    }
    assert_eq!(processor.failures(), 0, "every frame processed");
    out
}

/// The lag (0..=800 samples) at which `out` best matches `clean`.
fn lag(clean: &[f64], out: &[i16]) -> usize {
    let n = clean.len().min(out.len()).min(RATE as usize * 8);
    (0..=800)
        .max_by(|&a, &b| {
            let score = |lag: usize| -> f64 {
                (0..n - lag)
                    .map(|k| clean[k] * f64::from(out[k + lag]))
                    .sum()
            };
            score(a).total_cmp(&score(b))
        })
        .unwrap_or(0)
}

/// Segmental SNR (dB) of `out` against `clean` over 20 ms frames where the clean speech is
/// active (within 40 dB of its loudest frame), each frame's SNR held to −10..35 dB.
fn seg_snr(clean: &[f64], out: &[i16]) -> f64 {
    let lag = lag(clean, out);
    let out: Vec<f64> = out[lag..].iter().map(|&s| f64::from(s)).collect();
    let frames: Vec<(f64, f64)> = clean
        .chunks_exact(FRAME)
        .zip(out.chunks_exact(FRAME))
        .map(|(c, o)| {
            let signal = energy(c);
            let error: f64 = c.iter().zip(o).map(|(a, b)| (a - b).powi(2)).sum();
            (signal, error)
        })
        .collect();
    let loudest = frames.iter().map(|f| f.0).fold(0.0, f64::max);
    let active: Vec<f64> = frames
        .iter()
        .filter(|(signal, _)| *signal > loudest * 1e-4)
        .map(|(signal, error)| (10.0 * (signal / error.max(1.0)).log10()).clamp(-10.0, 35.0))
        .collect();
    active.iter().sum::<f64>() / active.len().max(1) as f64
}

fn to_i16(samples: &[f64]) -> Vec<i16> {
    samples
        .iter()
        .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Speech with `noise` mixed in at 5 dB SNR (over the whole passage), before and after noise
/// suppression: PESQ wideband (and narrow-band, whose scale reaches lower) and segmental SNR.
fn suppression(dir: &Path, clean_path: &Path, name: &str, noise: &[f64]) {
    let clean = as_f64(&read(clean_path));
    let gain = (energy(&clean) / energy(noise) / 10f64.powf(0.5)).sqrt();
    let noisy: Vec<f64> = clean
        .iter()
        .zip(noise.iter().cycle())
        .map(|(s, b)| s + b * gain)
        .collect();
    let noisy = to_i16(&noisy);
    let suppressed = process(
        VoiceSettings {
            noise_suppression: true,
            ..VoiceSettings::OFF
        },
        RATE,
        &noisy,
        None,
    );
    let noisy_path = dir.join(format!("noisy-{name}16k.wav"));
    let suppressed_path = dir.join(format!("suppressed-{name}16k.wav"));
    write(&noisy_path, &noisy);
    write(&suppressed_path, &suppressed);
    // P.862 narrow-band wants 8 kHz.
    let narrow = |path: &Path| {
        let at8 = path.with_extension("8k.wav");
        convert(path, 8000, &at8);
        at8
    };
    let clean8 = narrow(clean_path);
    let score = |reference: &Path, path: &Path, mode: &str| {
        pesq(reference, path, mode).map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}"))
    };
    for (label, path, samples) in [
        ("noisy (before)", &noisy_path, &noisy),
        ("suppressed (after)", &suppressed_path, &suppressed),
    ] {
        println!(
            "  {name:<8} {label:<20} {:>9} {:>9} {:>12.1}",
            score(clean_path, path, "wb"),
            score(&clean8, &narrow(path), "nb"),
            seg_snr(&clean, samples)
        );
    }
}

fn noise_suppression(dir: &Path, clean_path: &Path) {
    let len = read(clean_path).len();
    println!(
        "noise suppression at 5 dB SNR, 16 kHz (babble: 18 espeak-ng voices; steady: pink noise):"
    );
    println!(
        "  {:<8} {:<20} {:>9} {:>9} {:>12}",
        "noise", "", "PESQ WB", "PESQ NB", "segSNR dB"
    );
    suppression(dir, clean_path, "babble", &babble(dir, len));
    let pink = dir.join("pink16k.wav");
    run(Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1", "-b", "16"])
        .arg(&pink)
        .args(["synth", "20", "pinknoise", "vol", "0.3"]));
    suppression(dir, clean_path, "steady", &as_f64(&read(&pink)));
}

/// The echo path: 40 ms from the loudspeaker's frame to the air (the devices' buffers), then
/// an office's impulse response simulated by the image-source method
/// (`benches/voice/room_response.py`, pyroomacoustics: 4 × 3.5 × 2.7 m, T60 0.3 s, the
/// speaker 0.5 m from the microphone), brought to an echo return loss of 10 dB.
fn room(dir: &Path) -> Vec<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/voice/room_response.py");
    let path = dir.join("room16k.wav");
    let status = Command::new("python3")
        .arg(script)
        .arg(&path)
        .arg(RATE.to_string())
        .status()
        .expect("python3");
    assert!(
        status.success(),
        "the room's response needs `pip install pyroomacoustics`"
    );
    let taps = as_f64(&read(&path));
    let mut response = vec![0.0; RATE as usize / 25];
    response.extend(taps);
    let scale = (0.1 / energy(&response)).sqrt();
    response.iter().map(|t| t * scale).collect()
}

fn convolve(signal: &[f64], response: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; signal.len()];
    for (k, &tap) in response.iter().enumerate() {
        if tap == 0.0 {
            continue;
        }
        for (o, &s) in out[k..].iter_mut().zip(signal) {
            *o += s * tap;
        }
    }
    out
}

fn echo_cancellation(dir: &Path, far_path: &Path) {
    let far = read(far_path);
    let echo = convolve(&as_f64(&far), &room(dir));
    let mut seed = 77u64;
    let floor: Vec<f64> = (0..far.len())
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * 10.0
        })
        .collect();
    let mic = to_i16(
        &echo
            .iter()
            .zip(&floor)
            .map(|(e, n)| e + n)
            .collect::<Vec<_>>(),
    );
    let aec = VoiceSettings {
        echo_cancellation: true,
        ..VoiceSettings::OFF
    };
    let out = process(aec, RATE, &mic, Some(&far));
    let all = process(VoiceSettings::default(), RATE, &mic, Some(&far));
    println!(
        "echo cancellation, far-end speech through an office (T60 0.3 s, 40 ms of buffers, ERL 10 dB), 16 kHz, single talk:"
    );
    println!(
        "  {:<10} {:>14} {:>22}",
        "second", "ERLE dB (AEC)", "ERLE dB (AEC+NS)"
    );
    let second = RATE as usize;
    let erle = |out: &[i16], range: std::ops::Range<usize>| {
        let mic = energy(&as_f64(&mic[range.clone()]));
        let left = energy(&as_f64(&out[range]));
        10.0 * (mic / left.max(1.0)).log10()
    };
    let seconds = mic.len() / second;
    for s in 0..seconds {
        let range = s * second..(s + 1) * second;
        println!(
            "  {:<10} {:>14.1} {:>22.1}",
            s + 1,
            erle(&out, range.clone()),
            erle(&all, range)
        );
    }
    let settled = 3 * second..seconds * second;
    println!(
        "  after 3 s: {:.1} dB (AEC), {:.1} dB (AEC+NS)",
        erle(&out, settled.clone()),
        erle(&all, settled)
    );
    // Double talk: the agent speaks over the far end; how much of the agent's voice survives.
    let near_path = dir.join("near16k.wav");
    let raw = dir.join("near-raw.wav");
    run(Command::new("espeak-ng")
        .args(["-v", "en+f3", "-s", "150", "-w"])
        .arg(&raw)
        .arg(BABBLE[1].1));
    convert(&raw, RATE, &near_path);
    let mut near = as_f64(&read(&near_path));
    near.resize(mic.len(), 0.0);
    // The agent starts after the canceller has settled.
    let start = 8 * second;
    let mut talk = vec![0.0; mic.len()];
    talk[start..].copy_from_slice(&near[..mic.len() - start]);
    let both: Vec<f64> = mic
        .iter()
        .zip(&talk)
        .map(|(&m, &t)| f64::from(m) + t)
        .collect();
    let both = to_i16(&both);
    let cancelled = process(aec, RATE, &both, Some(&far));
    let reference = dir.join("near-ref16k.wav");
    let unprocessed = dir.join("doubletalk16k.wav");
    let processed = dir.join("doubletalk-aec16k.wav");
    write(&reference, &to_i16(&talk[start..]));
    write(&unprocessed, &both[start..]);
    write(&processed, &cancelled[start..]);
    let score = |path: &PathBuf| {
        pesq(&reference, path, "wb").map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}"))
    };
    println!(
        "  double talk, the agent's voice (PESQ WB): with the echo {}, echo cancelled {}",
        score(&unprocessed),
        score(&processed)
    );
}

fn cpu(dir: &Path) {
    let speech48 = dir.join("speech48k.wav");
    let samples = read(&speech48);
    let frames = samples.len() / 960;
    let per_frame = |voice: VoiceSettings| {
        let mut processor = VoiceProcessor::new(48_000, 48_000);
        processor.set(voice).expect("starts");
        let mut buffer = vec![0i16; 960];
        let started = Instant::now();
        for chunk in samples.chunks_exact(960) {
            buffer.copy_from_slice(chunk);
            processor.capture(&mut buffer);
            processor.render(chunk);
        }
        started.elapsed().as_secs_f64() * 1e6 / frames as f64
    };
    println!("CPU per 20 ms frame at 48 kHz ({frames} frames of speech; % of one core):");
    let row = |name: &str, us: f64| println!("  {name:<34} {us:>8.1} µs {:>7.2} %", us / 200.0);
    for (name, voice) in [
        (
            "echo cancellation (AEC3)",
            VoiceSettings {
                echo_cancellation: true,
                ..VoiceSettings::OFF
            },
        ),
        (
            "noise suppression",
            VoiceSettings {
                noise_suppression: true,
                ..VoiceSettings::OFF
            },
        ),
        (
            "automatic gain control (AGC2)",
            VoiceSettings {
                auto_gain: true,
                ..VoiceSettings::OFF
            },
        ),
        (
            "all three",
            VoiceSettings {
                echo_cancellation: true,
                noise_suppression: true,
                auto_gain: true,
            },
        ),
        ("off (passed through)", VoiceSettings::OFF),
    ] {
        row(name, per_frame(voice));
    }
    let mut encoder =
        media::Encoder::new(media::Codec::Opus, media::OpusSettings::default()).expect("opus");
    let mut out = Vec::with_capacity(400);
    let started = Instant::now();
    for chunk in samples.chunks_exact(960) {
        out.clear();
        encoder.encode(chunk, &mut out);
    }
    row(
        "Opus encoder (24 kbit/s, for scale)",
        started.elapsed().as_secs_f64() * 1e6 / frames as f64,
    );
}

fn main() {
    require("espeak-ng", "apt-get install espeak-ng");
    require("sox", "apt-get install sox");
    let dir = std::env::temp_dir().join(format!("recall-voice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    speech(&dir);
    let clean = dir.join("speech16k.wav");
    noise_suppression(&dir, &clean);
    echo_cancellation(&dir, &clean);
    cpu(&dir);
    // VOICE_KEEP=1 keeps the files (clean, noisy, suppressed, double talk) to listen to.
    if std::env::var_os("VOICE_KEEP").is_some() {
        println!("files in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
