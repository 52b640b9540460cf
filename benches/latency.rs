//! Delay through recall's own media path, and how its jitter buffer follows jitter.
//!
//! 1. Round trip with no jitter: `recall call` plays speech from a file into a call to a SIPp
//!    UAS that sends every RTP packet straight back (`-rtp_echo`), and records what returns;
//!    the lag that best aligns the recording with the speech (cross-correlation) is the time
//!    through capture → encode → RTP → jitter buffer → decode → playout, both ways' network
//!    on loopback included. Printed for G.711 and Opus.
//! 2. recall → impairment relay (jitter J, uniform) → recall: the receiver's jitter-buffer
//!    target and what it concealed, for J from 0 to 120 ms.
//!
//! Run with `cargo bench --bench latency` (needs sipp, espeak-ng and sox; scripts/test.sh
//! installs sipp).

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{
    Proc, convert, free_port, get_json, recall_callee, recall_caller, require, speech, wait_until,
};
use test_support::{Impairment, Relay};

/// Mono 16-bit samples of a WAV file.
fn samples(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("wav");
    reader
        .samples::<i16>()
        .filter_map(Result::ok)
        .map(f32::from)
        .collect()
}

/// The lag (in samples) at which `heard` best matches `sent`, searched up to `max_lag`.
fn best_lag(sent: &[f32], heard: &[f32], max_lag: usize) -> Option<(usize, f32)> {
    // Four seconds of the speech, starting one second in.
    let (start, len) = (8000, 32_000);
    let x = sent.get(start..start + len)?;
    let x_power: f32 = x.iter().map(|v| v * v).sum();
    (0..max_lag)
        .filter_map(|lag| {
            let y = heard.get(start + lag..start + lag + len)?;
            let dot: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
            let y_power: f32 = y.iter().map(|v| v * v).sum();
            (y_power > 0.0).then(|| (lag, dot / (x_power * y_power).sqrt()))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Round trip through recall and SIPp's echo, in ms, with the correlation found.
fn echo_round_trip(root: &Path, speech: &Path, codec: &str) -> Option<(f64, f32)> {
    let dir = root.join(format!("echo-{codec}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (pt, rtpmap) = match codec {
        "opus" => ("111", "opus/48000/2"),
        _ => ("0", "PCMU/8000"),
    };
    let port = free_port();
    let log = std::fs::File::create(dir.join("sipp.log")).expect("log");
    let sipp = Command::new("sipp")
        .arg("-sf")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sipp/uas_echo.xml"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_port().to_string(), "-rtp_echo"])
        .args(["-key", "pt", pt, "-key", "rtpmap", rtpmap])
        .args(["-m", "1", "-nostdin", "-timeout", "40"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start sipp");
    let _sipp = Proc(sipp);
    std::thread::sleep(Duration::from_millis(300));
    let heard = dir.join("heard.wav");
    let mut caller = recall_caller(
        &dir,
        codec,
        &format!("sip:echo@127.0.0.1:{port}"),
        &speech.join("send48k.wav"),
        &heard,
        10,
    );
    let _ = wait_until(Duration::from_secs(20), || {
        matches!(caller.0.try_wait(), Ok(Some(_)))
    });
    if !heard.exists() {
        eprintln!("{codec}: no recording (see {})", dir.display());
        return None;
    }
    let heard8k = dir.join("heard8k.wav");
    convert(&heard, 8000, &heard8k);
    let (lag, correlation) = best_lag(
        &samples(&speech.join("send8k.wav")),
        &samples(&heard8k),
        4000,
    )?;
    Some((lag as f64 / 8.0, correlation))
}

/// recall → relay with `jitter_ms` of uniform jitter → recall: the receiver's jitter-buffer
/// target late in the call, and what it concealed.
fn jitter_buffer(root: &Path, speech: &Path, jitter_ms: u64) -> Option<(u64, u64, u64)> {
    let dir = root.join(format!("jitter-{jitter_ms}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (_callee, sip, control) = recall_callee(
        &dir,
        "pcmu",
        &speech.join("silence8k.wav"),
        &dir.join("rx.wav"),
    );
    let relay = Relay::start(
        IpAddr::from([127, 0, 0, 1]),
        sip,
        Impairment {
            jitter: Duration::from_millis(jitter_ms),
            ..Impairment::clean(Duration::from_millis(10))
        },
        Impairment::clean(Duration::from_millis(10)),
        11,
    )
    .expect("relay");
    let _caller = recall_caller(
        &dir,
        "pcmu",
        &format!("sip:rx@{}", relay.sip),
        &speech.join("send48k.wav"),
        &dir.join("tx.wav"),
        14,
    );
    std::thread::sleep(Duration::from_secs(12));
    let calls = get_json(control, "/v1/calls")?;
    let stats = &calls.as_array()?.last()?["stats"];
    Some((
        stats["jitter_buffer_ms"].as_u64()?,
        stats["concealed"].as_u64()?,
        stats["late"].as_u64()?,
    ))
}

fn main() {
    require("sipp", "run scripts/test.sh, which installs sip-tester");
    let root = std::env::temp_dir().join(format!("recall-latency-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("dir");
    let speech = speech(&root);

    println!("# Round trip file -> recall -> SIPp -rtp_echo -> recall -> file, no jitter");
    println!(
        "# (recall's path twice: capture, encode, RTP out; RTP in, jitter buffer, decode, playout)"
    );
    println!(
        "{:<6} {:>14} {:>12}",
        "codec", "round trip ms", "correlation"
    );
    for codec in ["pcmu", "opus"] {
        match echo_round_trip(&root, &speech, codec) {
            Some((ms, c)) => println!("{codec:<6} {ms:>14.1} {c:>12.3}"),
            None => println!("{codec:<6} {:>14} {:>12}", "-", "-"),
        }
    }
    println!();
    println!("# recall's jitter buffer as jitter grows (G.711, 20 ms packets, 12 s into the call)");
    println!(
        "{:>10} {:>10} {:>10} {:>6}",
        "jitter ms", "target ms", "concealed", "late"
    );
    for jitter in [0, 20, 40, 80, 120] {
        match jitter_buffer(&root, &speech, jitter) {
            Some((target, concealed, late)) => {
                println!("{jitter:>10} {target:>10} {concealed:>10} {late:>6}");
            }
            None => println!("{jitter:>10} {:>10}", "-"),
        }
    }
    println!("(files in {})", root.display());
}
