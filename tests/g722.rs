//! G.722 against baresip's g722 module (spandsp's codec), both directions: the codec agreed
//! is G.722 (`G722/8000`, payload type 9), and a 5 kHz tone — which 8 kHz audio cannot hold —
//! crosses both ways, so the audio really is 16 kHz end to end. Speech quality (wide-band
//! PESQ) is measured in `cargo bench --bench quality` (`QUALITY_CODECS=g722`).

use std::path::Path;
use std::time::Duration;

use crate::ipv6::baresip_command;
use crate::srtp::{ended, first_call, flowing};
use crate::support::{
    Headless, Proc, post_json, require, scratch, start_baresip, wait_until, wav_level,
    write_tone_at,
};

/// The wide-band tone both sides send: above the 4 kHz that narrow-band audio stops at.
const TONE_HZ: f32 = 5000.0;

/// baresip `bob` on loopback answering by itself with G.722 first, playing the 16 kHz tone
/// and dumping what it decodes into DIR/baresip-bob. Returns it and its SIP and ctrl_tcp ports.
fn baresip_g722(dir: &Path) -> (Proc, u16, u16) {
    require("baresip");
    let home = dir.join("baresip-bob");
    std::fs::create_dir_all(&home).expect("dir");
    let tone = dir.join("tone16k.wav");
    write_tone_at(&tone, TONE_HZ, 10.0, 16_000);
    start_baresip("baresip bob", &dir.join("baresip.log"), |sip, ctrl| {
        std::fs::write(
            home.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\naudio_source aufile,{}\n\
                 ausrc_srate 16000\nauplay_srate 16000\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\n\
                 module_path /usr/lib/baresip/modules\nmodule g722.so\nmodule g711.so\n\
                 module aufile.so\nmodule aubridge.so\nmodule sndfile.so\nmodule account.so\n\
                 module ctrl_tcp.so\nmodule menu.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n\
                 snd_path {}\n",
                tone.display(),
                home.display()
            ),
        )
        .expect("config");
        std::fs::write(
            home.join("accounts"),
            format!(
                "<sip:bob@127.0.0.1:{sip}>;regint=0;answermode=auto;audio_codecs=G722/16000/1,PCMU\n"
            ),
        )
        .expect("accounts");
        let mut command = std::process::Command::new("baresip");
        command.arg("-f").arg(&home);
        command
    })
}

/// recall headless offering its default codecs (Opus, G.722, G.711; baresip here has no
/// Opus), playing the same tone and recording what it hears into DIR/heard.wav.
fn recall_g722(dir: &Path, auto_answer: bool) -> Headless {
    let config = dir.join("recall.toml");
    std::fs::write(&config, "[media]\n").expect("config");
    let audio = format!(
        "file:{},{}",
        dir.join("tone16k.wav").display(),
        dir.join("heard.wav").display()
    );
    let mut args = vec![
        "--config",
        config.to_str().expect("utf8"),
        "--audio",
        &audio,
        "--log-sip",
    ];
    if auto_answer {
        args.push("--auto-answer");
    }
    Headless::start(dir, &args)
}

/// Hangs up after 2 s more; both recordings are 16 kHz and hold the 5 kHz tone.
fn hang_up_and_check_wideband(dir: &Path, mut agent: Headless, bob: &Proc) {
    std::thread::sleep(Duration::from_secs(2));
    let id = first_call(&agent)["id"].as_str().expect("id").to_owned();
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    ended(&agent);
    assert!(wait_until(Duration::from_secs(5), || bob
        .log_text()
        .contains("terminated")));
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    let heard = dir.join("heard.wav");
    let rate = hound::WavReader::open(&heard)
        .expect("heard")
        .spec()
        .sample_rate;
    assert_eq!(rate, 16_000, "recall heard the call at 16 kHz");
    let (rms, seconds) = wav_level(&heard);
    assert!(seconds > 2.5, "recall recorded {seconds:.1} s");
    assert!(
        rms > 1500.0,
        "recall heard baresip's 5 kHz tone: rms {rms:.0}"
    );
    let dump = std::fs::read_dir(dir.join("baresip-bob"))
        .expect("baresip dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip dumped what it decoded");
    let rate = hound::WavReader::open(&dump)
        .expect("dump")
        .spec()
        .sample_rate;
    assert_eq!(rate, 16_000, "baresip decoded 16 kHz audio");
    let (rms, seconds) = wav_level(&dump);
    assert!(seconds > 2.5, "baresip recorded {seconds:.1} s");
    assert!(
        rms > 1500.0,
        "baresip heard recall's 5 kHz tone: rms {rms:.0}"
    );
}

fn assert_g722(agent: &Headless, bob: &Proc) {
    let view = flowing(agent, bob);
    assert_eq!(view["codec"], "G722", "{view}");
    let log = agent.proc.log_text();
    assert!(log.contains("a=rtpmap:9 G722/8000"), "{log}");
    assert!(
        bob.log_text().contains("G722"),
        "baresip says which codec it uses: {}",
        bob.log_text()
    );
}

#[test]
fn recall_calls_baresip_with_g722_and_16_khz_audio_crosses_both_ways() {
    let dir = scratch("g722-out");
    let (bob, sip, _) = baresip_g722(&dir);
    let agent = recall_g722(&dir, false);
    let (status, call) = post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:bob@127.0.0.1:{sip}"}}"#),
    );
    assert_eq!(status, 201, "{call}");
    assert_g722(&agent, &bob);
    hang_up_and_check_wideband(&dir, agent, &bob);
}

#[test]
fn baresip_calls_recall_with_g722_and_16_khz_audio_crosses_both_ways() {
    let dir = scratch("g722-in");
    let (bob, _, ctrl) = baresip_g722(&dir);
    let agent = recall_g722(&dir, true);
    baresip_command(ctrl, "dial", &format!("sip:alice@{}", agent.sip));
    assert_g722(&agent, &bob);
    hang_up_and_check_wideband(&dir, agent, &bob);
}
