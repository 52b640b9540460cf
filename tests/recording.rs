//! Call recording end to end: baresip calls recall, which records every call (policy
//! `always`) into a stereo WAV — recall's own audio (a 1 kHz tone) on the left, baresip's
//! (440 Hz) on the right; a 5 s pause is 5 s of silence on both channels, and the
//! interaction's timeline says start (with the file), pause, resume, stop. A recall killed
//! with SIGKILL mid-call leaves a file that plays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ipv6::baresip_command;
use crate::srtp::{baresip, first_call, flowing};
use crate::support::{Headless, get_json, post_json, recall, scratch, wait_until, write_tone};

/// recall answering by itself, recording every call into DIR/rec, sending a 1 kHz tone.
fn recording_recall(dir: &Path) -> Headless {
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[media]\ncodecs = [\"pcmu\"]\n[recording]\npolicy = \"always\"\ndir = \"{}\"\n",
            dir.join("rec").display()
        ),
    )
    .expect("config");
    write_tone(&dir.join("agent.wav"), 1000.0, 10.0);
    let audio = format!(
        "file:{},{}",
        dir.join("agent.wav").display(),
        dir.join("heard.wav").display()
    );
    let db = dir.join("history.db");
    Headless::start(
        dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--audio",
            &audio,
            "--auto-answer",
            "--db",
            db.to_str().expect("utf8"),
        ],
    )
}

/// The recording's two channels.
fn channels(path: &Path) -> (u32, Vec<i16>, Vec<i16>) {
    let reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.bits_per_sample),
        (2, 16),
        "stereo, 16-bit"
    );
    let samples: Vec<i16> = reader.into_samples().map(|s| s.expect("sample")).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (spec.sample_rate, left, right)
}

/// The tone's frequency from its zero crossings, and its level.
fn tone(samples: &[i16], rate: u32) -> (f64, f64) {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let hz = crossings as f64 * f64::from(rate) / 2.0 / samples.len().max(1) as f64;
    let rms = (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt();
    (hz, rms)
}

/// The longest run of frames (20 ms) silent on both channels, in seconds, and where it starts.
fn longest_silence(left: &[i16], right: &[i16], rate: u32) -> (f64, usize) {
    let frame = rate as usize / 50;
    let (mut best, mut best_at, mut run, mut run_at) = (0, 0, 0, 0);
    for (i, (l, r)) in left.chunks(frame).zip(right.chunks(frame)).enumerate() {
        if l.iter().chain(r).all(|&s| s == 0) {
            if run == 0 {
                run_at = i * frame;
            }
            run += 1;
            if run > best {
                (best, best_at) = (run, run_at);
            }
        } else {
            run = 0;
        }
    }
    (f64::from(best) * 0.02, best_at)
}

fn recording_file(agent: &Headless) -> PathBuf {
    let mut file = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            file = first_call(agent)["recording_file"]
                .as_str()
                .map(PathBuf::from);
            file.is_some()
        }),
        "{}",
        first_call(agent)
    );
    file.expect("file")
}

#[test]
fn a_call_is_recorded_in_stereo_and_a_pause_is_silence_in_the_file_and_the_timeline() {
    let dir = scratch("recording");
    let (bob, _, ctrl) = baresip(&dir, "");
    // baresip ends the call when its file ends: a longer tone than the call (it reads the
    // file when the call starts).
    write_tone(&dir.join("tone.wav"), 440.0, 30.0);
    let mut agent = recording_recall(&dir);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    let view = flowing(&agent, &bob);
    assert_eq!(view["recording"], "recording", "{view}");
    let id = view["id"].as_str().expect("id").to_owned();
    let file = recording_file(&agent);
    assert!(file.starts_with(dir.join("rec")), "{}", file.display());
    let (status, stop) = post_json(agent.control, &format!("/v1/calls/{id}/stop_recording"), "");
    assert_eq!(status, 422, "policy always refuses a stop: {stop}");
    std::thread::sleep(Duration::from_secs(2));
    let (status, paused) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/pause_recording"),
        "",
    );
    assert_eq!(
        (status, &paused["recording"]),
        (200, &serde_json::json!("paused")),
        "{paused}"
    );
    std::thread::sleep(Duration::from_secs(5));
    let (status, _) = post_json(
        agent.control,
        &format!("/v1/calls/{id}/resume_recording"),
        "",
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(2));
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    // The timeline: start with the file, pause, resume, stop.
    let interaction = view["interaction_id"]
        .as_str()
        .expect("interaction")
        .to_owned();
    let mut entries = Vec::new();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let found = get_json(agent.control, &format!("/v1/interactions/{interaction}"));
            entries = found["timeline"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter(|e| e["kind"] == "recording")
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            entries.len() == 4
        }),
        "{entries:?}"
    );
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["start", "pause", "resume", "stop"]);
    assert_eq!(entries[0]["file"], file.to_string_lossy().as_ref());
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    // The export names the file too.
    let export = recall()
        .args(["export", "--format", "csv", "--db"])
        .arg(dir.join("history.db"))
        .output()
        .expect("export");
    let csv = String::from_utf8_lossy(&export.stdout);
    assert!(
        csv.lines()
            .next()
            .is_some_and(|h| h.ends_with(",recordings"))
            && csv.contains(file.to_string_lossy().as_ref()),
        "{csv}"
    );

    let (rate, left, right) = channels(&file);
    assert_eq!(rate, 8000);
    let seconds = left.len() as f64 / 8000.0;
    assert!(
        (10.0..13.0).contains(&seconds),
        "about 11 s recorded: {seconds:.1}"
    );
    let (pause, at) = longest_silence(&left, &right, rate);
    assert!(
        (4.7..5.4).contains(&pause),
        "the pause is 5 s of silence on both: {pause:.2} s"
    );
    // Before and after the pause: recall's 1 kHz on the left, baresip's 440 Hz on the right.
    let before = at.saturating_sub(8000)..at.saturating_sub(800);
    let after = at + (pause * 8000.0) as usize + 800..at + (pause * 8000.0) as usize + 8000;
    for span in [before, after] {
        let (hz, rms) = tone(&left[span.clone()], rate);
        assert!(
            (hz - 1000.0).abs() < 50.0 && rms > 2000.0,
            "left: {hz:.0} Hz rms {rms:.0}"
        );
        let (hz, rms) = tone(&right[span], rate);
        assert!(
            (hz - 440.0).abs() < 30.0 && rms > 2000.0,
            "right: {hz:.0} Hz rms {rms:.0}"
        );
    }
}

#[test]
fn a_recall_killed_mid_call_leaves_a_recording_that_plays() {
    let dir = scratch("recording-kill");
    let (bob, _, ctrl) = baresip(&dir, "");
    let mut agent = recording_recall(&dir);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    flowing(&agent, &bob);
    let file = recording_file(&agent);
    std::thread::sleep(Duration::from_secs(3));
    agent.proc.kill_hard();
    let (rate, left, right) = channels(&file);
    let seconds = left.len() as f64 / f64::from(rate);
    assert!(
        seconds >= 3.0,
        "it plays up to the last second before the kill: {seconds:.1} s"
    );
    let (_, rms_left) = tone(&left, rate);
    let (_, rms_right) = tone(&right[right.len() / 2..], rate);
    assert!(
        rms_left > 2000.0 && rms_right > 2000.0,
        "{rms_left:.0} {rms_right:.0}"
    );
}
