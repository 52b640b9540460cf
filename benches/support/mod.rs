//! Helpers the media benchmarks share: peers started and killed by PID, the control API, speech
//! made with espeak-ng, rates changed with sox, PESQ through Python's `pesq`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A UDP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Asks it to stop (SIGTERM) and waits up to `limit`.
    pub fn terminate(&mut self, limit: Duration) {
        // SAFETY: kill(2) on a child we own and have not reaped.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < limit {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Fails with a clear message when a tool is missing.
pub fn require(tool: &str, hint: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{tool} is missing: {hint}");
}

/// Runs a command to completion; panics with its output when it fails.
pub fn run(command: &mut Command) -> String {
    let output = command.output().expect("run");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The speech the benchmarks send: six Harvard sentences spoken by espeak-ng (about 16 s),
/// at 8, 16 and 48 kHz (`speech8k.wav`, …, the PESQ references); the same followed by 3 s of
/// silence to send (`send8k.wav`, `send16k.wav`, `send48k.wav`: baresip ends the call when its
/// file ends); and 60 s of silence (`silence8k.wav`, …) for the side that only listens.
pub fn speech(dir: &Path) -> PathBuf {
    require("espeak-ng", "apt-get install espeak-ng");
    require("sox", "apt-get install sox");
    let raw = dir.join("speech-raw.wav");
    // QUALITY_VOICE: espeak-ng's voice (P.862 wants talkers of both sexes: `en-us` is a male
    // voice, `en+f3` a female one).
    let voice = std::env::var("QUALITY_VOICE").unwrap_or_else(|_| "en-us".to_owned());
    run(Command::new("espeak-ng")
        .args(["-v", &voice, "-s", "150", "-w"])
        .arg(&raw)
        .arg(
            "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
             It is easy to tell the depth of a well. These days a chicken leg is a rare dish. \
             Rice is often served in round bowls. The juice of lemons makes fine punch.",
        ));
    for rate in [8000, 16_000, 48_000] {
        run(Command::new("sox")
            .arg(&raw)
            .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
            .arg(dir.join(format!("speech{}k.wav", rate / 1000))));
    }
    for rate in [8000, 16_000, 48_000] {
        let k = rate / 1000;
        run(Command::new("sox")
            .args(["-n", "-r", &rate.to_string(), "-c", "1", "-b", "16"])
            .arg(dir.join(format!("silence{k}k.wav")))
            .args(["trim", "0", "60"]));
        run(Command::new("sox")
            .arg(dir.join(format!("speech{k}k.wav")))
            .arg(dir.join(format!("send{k}k.wav")))
            .args(["pad", "0", "3"]));
    }
    dir.to_owned()
}

/// `input` resampled to `rate` with sox, as `output`.
pub fn convert(input: &Path, rate: u32, output: &Path) {
    run(Command::new("sox")
        .arg(input)
        .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
        .arg(output));
}

/// PESQ MOS-LQO of `degraded` against `reference` (same rate), `nb` or `wb`.
pub fn pesq(reference: &Path, degraded: &Path, mode: &str) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/quality/pesq_score.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(reference)
        .arg(degraded)
        .arg(mode)
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("pesq: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// GET on the control API, as JSON.
pub fn get_json(control: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let mut stream = std::net::TcpStream::connect(control).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// POST on the control API; `true` on a 2xx.
pub fn post(control: SocketAddr, path: &str, body: &str) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(control) else {
        return false;
    };
    let _ = write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.starts_with("HTTP/1.1 2")
}

/// A log without its colour escape sequences.
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escape = false;
    for c in text.chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

/// Waits until `check` holds or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A recall config that offers only `codec` (Opus at 24 kb/s with FEC).
pub fn recall_config(dir: &Path, name: &str, codec: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let encryption = match encryption().as_deref() {
        Some("dtls") => "encryption = \"mandatory\"\nkeying = \"dtls\"\n".to_owned(),
        Some(sdes) => format!(
            "encryption = \"mandatory\"\nsdes_over_plain_sip = true\nsrtp_suites = [\"{}\"]\n",
            sdes.trim_start_matches("sdes:")
        ),
        None => String::new(),
    };
    std::fs::write(
        &path,
        format!(
            "[media]\ncodecs = [\"{codec}\"]\nopus_bitrate = 24000\nopus_fec = true\n{encryption}"
        ),
    )
    .expect("config");
    path
}

/// `QUALITY_ENCRYPTION`: the calls' media encryption, `sdes:SUITE` (SDES-SRTP with that
/// suite) or `dtls` (DTLS-SRTP), mandatory on both sides; plain RTP when unset.
pub fn encryption() -> Option<String> {
    std::env::var("QUALITY_ENCRYPTION")
        .ok()
        .filter(|e| !e.is_empty())
}

/// `recall headless` answering every call, playing `source`, recording what it hears into
/// `record` (written when the call ends).
pub fn recall_callee(
    dir: &Path,
    codec: &str,
    source: &Path,
    record: &Path,
) -> (Proc, SocketAddr, SocketAddr) {
    let config = recall_config(dir, "callee", codec);
    let level = std::env::var("CALLEE_LOG").unwrap_or_else(|_| "info".to_owned());
    let audio = format!("file:{},{}", source.display(), record.display());
    recall_headless(dir, "recall-callee", &config, &audio, true, &level)
}

/// `recall headless` with `config` and `audio` (`null`, `file:IN,OUT`), answering by itself
/// when `auto_answer`, logging at `level` into DIR/NAME.log; it, its SIP address and its
/// control API's, once that answers.
pub fn recall_headless(
    dir: &Path,
    name: &str,
    config: &Path,
    audio: &str,
    auto_answer: bool,
    level: &str,
) -> (Proc, SocketAddr, SocketAddr) {
    let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let control: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_recall"));
    command
        .arg("headless")
        .arg("--config")
        .arg(config)
        .args(["--listen", &format!("udp:{sip}")])
        .args(["--control", &control.to_string()])
        .args(["--audio", audio]);
    if auto_answer {
        command.arg("--auto-answer");
    }
    let child = command
        .env("RUST_LOG", level)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start recall");
    assert!(
        wait_until(Duration::from_secs(5), || std::net::TcpStream::connect(
            control
        )
        .is_ok()),
        "recall headless did not come up"
    );
    (Proc(child), sip, control)
}

/// `recall call` to `uri`, playing `source` for `seconds`, recording into `record`.
pub fn recall_caller(
    dir: &Path,
    codec: &str,
    uri: &str,
    source: &Path,
    record: &Path,
    seconds: u32,
) -> Proc {
    let config = recall_config(dir, "caller", codec);
    let log = std::fs::File::create(dir.join("recall-caller.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_recall"))
        .args(["call", uri])
        .arg("--config")
        .arg(&config)
        .args(["--listen", &format!("udp:127.0.0.1:{}", free_port())])
        .arg("--audio")
        .arg(format!("file:{},{}", source.display(), record.display()))
        .args(["--duration", &seconds.to_string()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start recall call");
    Proc(child)
}

/// A baresip home: G.711, Opus (24 kb/s, FEC), its PLC module, file source, dumps of what it
/// decodes into `home`; its account offers only `codec`.
pub fn baresip_home(home: &Path, codec: &str, port: u16, source: &Path, user: &str, answer: bool) {
    std::fs::create_dir_all(home).expect("baresip home");
    let codec = match codec {
        "opus" => "opus/48000/1",
        "g722" => "G722/16000/1",
        _ => "PCMU/8000/1",
    };
    std::fs::write(
        home.join("config"),
        format!(
            "sip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\n\
             audio_source aufile,{source}\naudio_player aubridge,nil\naudio_alert aubridge,nil\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule g722.so\nmodule opus.so\nmodule plc.so\nmodule aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\nmodule srtp.so\nmodule dtls_srtp.so\n\
             module account.so\nmodule menu.so\n\
             opus_bitrate 24000\nopus_stereo no\nopus_sprop_stereo no\nopus_inbandfec yes\n\
             snd_path {home}\n",
            source = source.display(),
            home = home.display(),
        ),
    )
    .expect("config");
    let answermode = if answer { ";answermode=auto" } else { "" };
    let mediaenc = match encryption().as_deref() {
        Some("dtls") => ";mediaenc=dtls_srtp",
        Some(_) => ";mediaenc=srtp-mand",
        None => "",
    };
    std::fs::write(
        home.join("accounts"),
        format!(
            "<sip:{user}@127.0.0.1:{port}>;regint=0{answermode};audio_codecs={codec}{mediaenc}\n"
        ),
    )
    .expect("accounts");
}

/// The newest file in `dir` whose name ends with `suffix`.
pub fn newest(dir: &Path, suffix: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// baresip answering every call at once on 127.0.0.1:`port` (G.711, a 440 Hz sine as its
/// microphone so that it sends RTP, no sound device), its home under `dir`, its log in
/// `log`. The load benches' UAS next to recall.
pub fn baresip_uas(dir: &Path, port: u16, log: std::fs::File) -> Child {
    let home = dir.join("baresip");
    std::fs::create_dir_all(&home).expect("dir");
    std::fs::write(
        home.join("config"),
        format!(
            "sip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\naudio_source ausine,440\n\
             ausrc_srate 48000\nausrc_channels 2\naudio_player aubridge,nil\n\
             audio_alert aubridge,nil\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
             module aubridge.so\nmodule ausine.so\nmodule account.so\ncall_max_calls 4096\n\
             sip_trans_bsize 1024\n"
        ),
    )
    .expect("config");
    std::fs::write(
        home.join("accounts"),
        format!("<sip:agent@127.0.0.1:{port}>;regint=0;answermode=auto\n"),
    )
    .expect("accounts");
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start baresip");
    std::thread::sleep(Duration::from_millis(800));
    child
}

/// A process's resident set size now (`VmRSS`) in MB; `None` once it is gone.
pub fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// A process's peak resident set size (`VmHWM`) in MB; `None` once it is gone.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmHWM:")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// The (successful, failed) cumulative call counts in a SIPp screen file (`-screen_file`).
pub fn sipp_counts(screen: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(screen).unwrap_or_default();
    let count = |label: &str| {
        text.lines()
            .filter(|l| l.contains(label))
            .filter_map(|l| l.split('|').nth(2)?.trim().parse().ok())
            .next_back()
            .unwrap_or(0)
    };
    (count("Successful call"), count("Failed call"))
}
