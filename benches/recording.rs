//! Speech quality of call recordings: baresip calls `recall headless` (recording every call,
//! policy `always`); each side speaks its own text (baresip espeak-ng's `en-us`, recall
//! `en+f3`) and each channel of recall's stereo recording is scored with PESQ against what
//! that side sent: the left (the agent, what recall captured) and the right (the customer,
//! what recall decoded from baresip).
//!
//! Run with `cargo bench --bench recording` (needs baresip, espeak-ng, sox and `pip install
//! pesq numpy`). `RECORDING_CODECS=pcmu,g722` picks the codecs (G.711: P.862 narrow-band;
//! G.722: P.862.2 wide-band); `QUALITY_VOICE=en+f3` gives baresip the female voice too (G.722
//! itself scores about 3.0 on the male voice, offline and in baresip alike).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{
    Proc, baresip_home, convert, free_port, pesq, recall_headless, require, run, speech, wait_until,
};

/// recall's own text, in espeak-ng's female voice, at 8, 16 and 48 kHz (`agent{k}k.wav`,
/// the references) and padded with 30 s of silence to play (`agent-send{k}k.wav`).
fn agent_speech(dir: &Path) {
    let raw = dir.join("agent-raw.wav");
    run(Command::new("espeak-ng")
        .args(["-v", "en+f3", "-s", "150", "-w"])
        .arg(&raw)
        .arg(
            "Thank you for calling back. I can see your order from last Tuesday. \
             The parcel left our warehouse this morning and should reach you on Friday. \
             Is there anything else I can help you with today?",
        ));
    for rate in [8000, 16_000, 48_000] {
        let k = rate / 1000;
        run(Command::new("sox")
            .arg(&raw)
            .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
            .arg(dir.join(format!("agent{k}k.wav"))));
        run(Command::new("sox")
            .arg(dir.join(format!("agent{k}k.wav")))
            .arg(dir.join(format!("agent-send{k}k.wav")))
            .args(["pad", "0", "30"]));
    }
}

/// One recorded call with `codec`: the PESQ of the left and the right channel.
fn recorded_call(root: &Path, codec: &str, seconds: u32) -> (Option<f64>, Option<f64>) {
    let dir = root.join(codec);
    std::fs::create_dir_all(&dir).expect("dir");
    let (rate, mode) = match codec {
        "g722" => (16_000, "wb"),
        _ => (8000, "nb"),
    };
    let k = rate / 1000;
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[media]\ncodecs = [\"{codec}\"]\n[recording]\npolicy = \"always\"\ndir = \"{}\"\n",
            dir.join("rec").display()
        ),
    )
    .expect("config");
    let audio = format!(
        "file:{},{}",
        root.join("agent-send48k.wav").display(),
        dir.join("heard.wav").display()
    );
    let (mut recall, sip, _control) =
        recall_headless(&dir, "recall", &config, &audio, true, "info");
    let home = dir.join("baresip");
    baresip_home(
        &home,
        codec,
        free_port(),
        &root.join(format!("send{k}k.wav")),
        "customer",
        false,
    );
    let log = std::fs::File::create(dir.join("baresip.log")).expect("log");
    let mut caller = Proc(
        Command::new("baresip")
            .arg("-f")
            .arg(&home)
            .args([
                "-e",
                &format!("/dial sip:agent@{sip}"),
                "-t",
                &seconds.to_string(),
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start baresip"),
    );
    let _ = wait_until(Duration::from_secs(u64::from(seconds) + 10), || {
        matches!(caller.0.try_wait(), Ok(Some(_)))
    });
    std::thread::sleep(Duration::from_millis(500));
    recall.terminate(Duration::from_secs(5));
    caller.terminate(Duration::from_secs(2));
    let Some(file) = std::fs::read_dir(dir.join("rec"))
        .ok()
        .and_then(|d| d.filter_map(Result::ok).map(|e| e.path()).next())
    else {
        eprintln!("{codec}: no recording in {}", dir.join("rec").display());
        return (None, None);
    };
    let score = |channel: u32, reference: &Path| {
        let mono = dir.join(format!("channel{channel}.wav"));
        run(Command::new("sox")
            .arg(&file)
            .arg(&mono)
            .args(["remix", &channel.to_string()]));
        let scored = dir.join(format!("scored{channel}.wav"));
        convert(&mono, rate, &scored);
        pesq(reference, &scored, mode)
    };
    (
        score(1, &root.join(format!("agent{k}k.wav"))),
        score(2, &root.join(format!("speech{k}k.wav"))),
    )
}

fn main() {
    require(
        "baresip",
        "run scripts/test.sh, which installs baresip-core",
    );
    let root = std::env::temp_dir().join(format!("recall-recording-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("dir");
    speech(&root);
    agent_speech(&root);
    let codecs = std::env::var("RECORDING_CODECS").unwrap_or_else(|_| "pcmu,g722".to_owned());
    println!("# PESQ MOS-LQO of each channel of recall's recording against what that side sent");
    println!("# (G.711: P.862 narrow-band; G.722: P.862.2 wide-band); baresip calls, 22 s");
    println!(
        "{:<6} {:>22} {:>24}",
        "codec", "left (agent, sent)", "right (customer, heard)"
    );
    for codec in codecs.split(',') {
        let (left, right) = recorded_call(&root, codec, 22);
        let show = |s: Option<f64>| s.map_or("-".to_owned(), |v| format!("{v:.2}"));
        println!("{codec:<6} {:>22} {:>24}", show(left), show(right));
    }
    println!("(files in {})", root.display());
}
