//! End-to-end speech quality: espeak-ng speech is sent through a call, across the seeded
//! impairment relay (`test_support::Relay`), and what the receiver recorded is scored with
//! PESQ (ITU-T P.862, Python's `pesq`): narrow-band for G.711, wide-band (P.862.2) for G.722
//! and Opus 24 kb/s.
//! Every receiver and sender pairing of recall and baresip runs on the same impairments, in
//! the same run: clean, then 0%, 3% and 10% loss with 40 ms jitter.
//!
//! Run with `cargo bench --bench quality` (needs baresip, espeak-ng, sox and `pip install
//! pesq numpy`; scripts/test.sh installs the Debian packages). `QUALITY_SECONDS` sets the call
//! length (default 22: the 16 s of speech and the time the buffers take to settle);
//! `QUALITY_CODECS=pcmu`, `QUALITY_CONDITION=2` and `QUALITY_PAIRS=0,1` (columns) run a part
//! of the table. `QUALITY_ENCRYPTION=sdes:AES_CM_128_HMAC_SHA1_80` (or another suite) or
//! `=dtls` makes every call's media encrypted, mandatory on both sides. `QUALITY_VOICE=en+f3`
//! speaks with espeak-ng's female voice instead of the male `en-us` (ADPCM — G.722 — scores far
//! lower on the male voice's buzz, in any implementation: spandsp's in baresip too).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    Proc, baresip_home, convert, free_port, get_json, newest, pesq, recall_callee, recall_caller,
    require, speech, wait_until,
};
use test_support::{Impairment, Relay};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Recall,
    Baresip,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Recall => "recall",
            Self::Baresip => "baresip",
        }
    }
}

struct Condition {
    label: &'static str,
    loss: f64,
    jitter_ms: u64,
}

const CONDITIONS: [Condition; 4] = [
    Condition {
        label: "clean",
        loss: 0.0,
        jitter_ms: 0,
    },
    Condition {
        label: "0% + 40ms",
        loss: 0.0,
        jitter_ms: 40,
    },
    Condition {
        label: "3% + 40ms",
        loss: 0.03,
        jitter_ms: 40,
    },
    Condition {
        label: "10% + 40ms",
        loss: 0.10,
        jitter_ms: 40,
    },
];

/// One call from `sender` to `receiver` through the relay; the receiver's PESQ score, and
/// recall's jitter-buffer target when recall receives.
/// What every call of the run shares.
struct Setup {
    /// Where the speech files are.
    speech: PathBuf,
    /// How long each call lasts.
    seconds: u32,
    /// The relay's seed.
    seed: u64,
}

fn call(
    setup: &Setup,
    dir: &Path,
    codec: &str,
    condition: &Condition,
    sender: Side,
    receiver: Side,
) -> (Option<f64>, Option<u64>) {
    let (speech, seconds, seed) = (setup.speech.as_path(), setup.seconds, setup.seed);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("dir");
    let (rate, speech_file, silence) = match codec {
        "opus" => (
            48_000,
            speech.join("send48k.wav"),
            speech.join("silence48k.wav"),
        ),
        "g722" => (
            16_000,
            speech.join("send16k.wav"),
            speech.join("silence16k.wav"),
        ),
        _ => (
            8000,
            speech.join("send8k.wav"),
            speech.join("silence8k.wav"),
        ),
    };
    let _ = rate;
    let record = dir.join("received.wav");
    // The receiver.
    let (mut callee, callee_sip, control): (Proc, SocketAddr, Option<SocketAddr>) = match receiver {
        Side::Recall => {
            let (proc, sip, control) = recall_callee(dir, codec, &silence, &record);
            (proc, sip, Some(control))
        }
        Side::Baresip => {
            let port = free_port();
            let home = dir.join("baresip-rx");
            baresip_home(&home, codec, port, &silence, "rx", true);
            let log = std::fs::File::create(dir.join("baresip-rx.log")).expect("log");
            let child = Command::new("baresip")
                .arg("-f")
                .arg(&home)
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start baresip");
            std::thread::sleep(Duration::from_millis(800));
            (
                Proc(child),
                format!("127.0.0.1:{port}").parse().expect("addr"),
                None,
            )
        }
    };
    let impairment = Impairment {
        loss: condition.loss,
        burst: 1.0,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(condition.jitter_ms),
        duplicate: 0.0,
    };
    let relay = Relay::start(
        IpAddr::from([127, 0, 0, 1]),
        callee_sip,
        impairment,
        Impairment::clean(Duration::from_millis(20)),
        seed,
    )
    .expect("relay");
    let uri = format!("sip:rx@{}", relay.sip);
    // The sender plays the speech.
    let mut caller = match sender {
        Side::Recall => recall_caller(
            dir,
            codec,
            &uri,
            &speech.join("send48k.wav"),
            &dir.join("sender-heard.wav"),
            seconds,
        ),
        Side::Baresip => {
            let home = dir.join("baresip-tx");
            baresip_home(&home, codec, free_port(), &speech_file, "tx", false);
            let log = std::fs::File::create(dir.join("baresip-tx.log")).expect("log");
            let child = Command::new("baresip")
                .arg("-f")
                .arg(&home)
                .args(["-e", &format!("/dial {uri}"), "-t", &seconds.to_string()])
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start baresip");
            Proc(child)
        }
    };
    // recall's jitter buffer, late in the call.
    let mut target = None;
    if let Some(control) = control {
        std::thread::sleep(Duration::from_secs(u64::from(seconds) - 3));
        target = get_json(control, "/v1/calls")
            .and_then(|calls| calls.as_array()?.last()?["stats"]["jitter_buffer_ms"].as_u64());
    }
    let _ = wait_until(Duration::from_secs(u64::from(seconds) + 10), || {
        matches!(caller.0.try_wait(), Ok(Some(_)))
    });
    std::thread::sleep(Duration::from_millis(500));
    if let Some(control) = control
        && let Some(calls) = get_json(control, "/v1/calls")
        && let Some(stats) = calls
            .as_array()
            .and_then(|c| c.last())
            .map(|c| c["stats"].clone())
    {
        eprintln!(
            "  {} <- {}: {codec} {}: concealed {} late {} fec {} underruns {} adjustments {} target {} ms",
            receiver.name(),
            sender.name(),
            condition.label,
            stats["concealed"],
            stats["late"],
            stats["recovered_fec"],
            stats["underruns"],
            stats["playout_adjustments"],
            stats["jitter_buffer_ms"]
        );
    }
    callee.terminate(Duration::from_secs(5));
    caller.terminate(Duration::from_secs(2));
    drop(relay);
    let degraded = match receiver {
        Side::Recall => record.exists().then_some(record),
        Side::Baresip => newest(&dir.join("baresip-rx"), "-dec.wav"),
    };
    let Some(degraded) = degraded else {
        eprintln!("{}: no recording from {}", dir.display(), receiver.name());
        return (None, target);
    };
    let (mode, ref_rate) = if codec == "opus" || codec == "g722" {
        ("wb", 16_000)
    } else {
        ("nb", 8000)
    };
    let reference = speech.join(format!("speech{}k.wav", ref_rate / 1000));
    let scored = dir.join("scored.wav");
    convert(&degraded, ref_rate, &scored);
    (pesq(&reference, &scored, mode), target)
}

fn main() {
    require(
        "baresip",
        "run scripts/test.sh, which installs baresip-core",
    );
    require("python3", "install Python 3");
    let has_pesq = Command::new("python3")
        .args(["-c", "import pesq, numpy"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(has_pesq, "Python's pesq is missing: pip install pesq numpy");
    let seconds: u32 = std::env::var("QUALITY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let root = std::env::temp_dir().join(format!("recall-quality-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("dir");
    let setup = Setup {
        speech: speech(&root),
        seconds,
        seed: 7,
    };

    println!(
        "# PESQ MOS-LQO of the receiver's recording (G.711: P.862 narrow-band; G.722 and Opus 24 kb/s: P.862.2 wide-band)"
    );
    println!(
        "# relay: 20 ms delay each way; impairments on the speech's direction; {seconds} s calls; seed 7"
    );
    println!(
        "# voice: espeak-ng {}",
        std::env::var("QUALITY_VOICE").unwrap_or_else(|_| "en-us".to_owned())
    );
    println!(
        "# media: {}",
        support::encryption().unwrap_or_else(|| "plain RTP".to_owned())
    );
    println!(
        "{:<6} {:<11} {:>15} {:>15} {:>16} {:>16} {:>12}",
        "codec",
        "condition",
        "recall<-recall",
        "recall<-baresip",
        "baresip<-recall",
        "baresip<-baresip",
        "recall JB ms"
    );
    let pairs = [
        (Side::Recall, Side::Recall),
        (Side::Baresip, Side::Recall),
        (Side::Recall, Side::Baresip),
        (Side::Baresip, Side::Baresip),
    ];
    let mut verdicts = Vec::new();
    let codecs = std::env::var("QUALITY_CODECS").unwrap_or_else(|_| "pcmu,g722,opus".to_owned());
    let only: Option<usize> = std::env::var("QUALITY_CONDITION")
        .ok()
        .and_then(|c| c.parse().ok());
    for codec in codecs.split(',') {
        for (index, condition) in CONDITIONS.iter().enumerate() {
            if only.is_some_and(|o| o != index) {
                continue;
            }
            let mut scores = Vec::new();
            let mut target = None;
            let wanted = std::env::var("QUALITY_PAIRS").unwrap_or_else(|_| "0,1,2,3".to_owned());
            for (i, (sender, receiver)) in pairs.iter().enumerate() {
                if !wanted.split(',').any(|w| w == i.to_string()) {
                    scores.push(None);
                    continue;
                }
                let dir: PathBuf = root.join(format!("{codec}-{}-{i}", condition.loss * 100.0));
                let (score, t) = call(&setup, &dir, codec, condition, *sender, *receiver);
                if t.is_some() && target.is_none() {
                    target = t;
                }
                scores.push(score);
            }
            let show = |s: Option<f64>| s.map_or("-".to_owned(), |v| format!("{v:.2}"));
            println!(
                "{:<6} {:<11} {:>15} {:>15} {:>16} {:>16} {:>12}",
                codec,
                condition.label,
                show(scores[0]),
                show(scores[1]),
                show(scores[2]),
                show(scores[3]),
                target.map_or("-".to_owned(), |t| t.to_string())
            );
            // recall receiving vs baresip receiving, the same senders.
            if let (Some(a), Some(b), Some(c), Some(d)) =
                (scores[0], scores[1], scores[2], scores[3])
            {
                verdicts.push((codec, condition.label, (a + b) / 2.0, (c + d) / 2.0));
            }
        }
    }
    println!();
    println!("# recall receiving vs baresip receiving (mean over both senders)");
    for (codec, label, recall, baresip) in verdicts {
        let mark = if recall >= baresip { ">=" } else { "<" };
        println!("{codec:<6} {label:<11} recall {recall:.2} {mark} baresip {baresip:.2}");
    }
    println!("(files in {})", root.display());
}
