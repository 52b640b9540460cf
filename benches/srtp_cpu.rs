//! CPU per encrypted call against a plain one, whole process, in one run: a recall caller
//! places calls (200 G.711, 20 Opus; `SRTP_CPU_CALLS` sets both) to a recall callee
//! answering by itself, both
//! with the null audio device (so each call sends a G.711 or Opus packet every 20 ms each
//! way), and the callee's and caller's CPU are read from /proc over 20 s while every call is
//! up; five rounds (`SRTP_CPU_ROUNDS`) with the modes interleaved, each round starting one
//! mode later. Two comparisons with plain: each mode's least round against plain's (the
//! machine's other work only adds), and the median of each round against plain's in that
//! round (drift over the run cancels); a target is met when both are within it. `rx pkt/s` is what the callee received per call and
//! second while measured: 50 when every call's media flows (a call whose keying has not
//! finished sends nothing, and would look cheap). Plain RTP, SDES AES_CM_128_HMAC_SHA1_80, SDES AEAD_AES_128_GCM and DTLS-SRTP, for
//! PCMU and Opus. Targets (issue 13): SRTP ≤ +10% CPU for G.711, ≤ +5% for Opus. The callee
//! runs on CPU 0 and the caller on CPU 1 (`taskset`), so runs compare.
//!
//! Run with `cargo bench --bench srtp_cpu`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use support::{Proc, cpu_seconds, get_json, post, recall_headless, wait_until};

fn start(dir: &Path, name: &str, media: &str, auto_answer: bool) -> (Proc, SocketAddr, SocketAddr) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, format!("[media]\n{media}\n")).expect("config");
    recall_headless(dir, name, &config, "null", auto_answer, "warn")
}

/// Keeps a process on one CPU (`taskset`; each recall runs one thread). Where the scheduler
/// puts the two recalls from one run to the next (the same core, or each its own, moving)
/// changed the CPU they used by ±15 % on a 2-core VM — more than what is measured here;
/// pinned, the caller on one core and the callee on the other, three runs of one mode spread
/// ±3–6 %.
fn pin(pid: u32, cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus < 2 {
        return;
    }
    let pinned = std::process::Command::new("taskset")
        .args(["-cp", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !pinned {
        eprintln!("taskset could not pin {pid} to CPU {cpu}: the figures will vary more");
    }
}

fn connected(control: SocketAddr) -> (usize, Option<String>) {
    let calls = get_json(control, "/v1/calls").unwrap_or_default();
    let calls = calls.as_array().cloned().unwrap_or_default();
    let up: Vec<&serde_json::Value> = calls.iter().filter(|c| c["state"] == "connected").collect();
    let encryption = up
        .first()
        .and_then(|c| c["encryption"].as_str())
        .map(str::to_owned);
    (up.len(), encryption)
}

/// RTP packets the calls of a recall have received so far, all together.
fn received(control: SocketAddr) -> u64 {
    get_json(control, "/v1/calls")
        .and_then(|calls| calls.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["stats"]["packets_received"].as_u64())
        .sum()
}

/// (callee CPU %, caller CPU %, what the calls' view says of their encryption, packets the
/// callee received per call and second while measured — 50 when every call's media flows).
fn run(dir: &Path, codec: &str, media: &str, calls: usize) -> (f64, f64, String, f64) {
    let media = format!("codecs = [\"{codec}\"]\n{media}");
    let (callee, callee_sip, callee_control) = start(dir, "callee", &media, true);
    let (caller, _, caller_control) = start(dir, "caller", &media, false);
    pin(callee.0.id(), 0);
    pin(caller.0.id(), 1);
    for _ in 0..calls {
        assert!(
            post(
                caller_control,
                "/v1/calls",
                &format!(r#"{{"to": "sip:agent@{callee_sip}"}}"#)
            ),
            "placing a call"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let all_up = wait_until(Duration::from_secs(30), || {
        connected(callee_control).0 == calls && connected(caller_control).0 == calls
    });
    let (up, encryption) = connected(callee_control);
    assert!(all_up, "{up} of {calls} calls up ({})", dir.display());
    // Let the handshakes and the jitter buffers settle, then measure.
    std::thread::sleep(Duration::from_secs(2));
    let (a, b) = (callee.0.id(), caller.0.id());
    let rx0 = received(callee_control);
    let (a0, b0, t0) = (cpu_seconds(a), cpu_seconds(b), Instant::now());
    std::thread::sleep(Duration::from_secs(20));
    let wall = t0.elapsed().as_secs_f64();
    let (a1, b1) = (cpu_seconds(a), cpu_seconds(b));
    let rx = received(callee_control).saturating_sub(rx0) as f64 / wall / calls as f64;
    (
        100.0 * (a1 - a0) / wall,
        100.0 * (b1 - b0) / wall,
        encryption.unwrap_or_else(|| "?".to_owned()),
        rx,
    )
}

fn main() {
    let calls_override: Option<usize> = std::env::var("SRTP_CPU_CALLS")
        .ok()
        .and_then(|c| c.parse().ok());
    // Rounds of every mode, interleaved. Five, because the spread of one mode across rounds
    // on the 2-core VM (plain: 524–679 µs/call/s in one run) is wider than the margin
    // measured, and a median wants more than three.
    let rounds: usize = std::env::var("SRTP_CPU_ROUNDS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(5)
        .max(1);
    let root = std::env::temp_dir().join(format!("recall-srtp-cpu-{}", std::process::id()));
    let modes = [
        ("plain", "encryption = \"off\""),
        (
            "sdes _80",
            "encryption = \"mandatory\"\nsdes_over_plain_sip = true\nsrtp_suites = [\"AES_CM_128_HMAC_SHA1_80\"]",
        ),
        (
            "sdes gcm",
            "encryption = \"mandatory\"\nsdes_over_plain_sip = true\nsrtp_suites = [\"AEAD_AES_128_GCM\"]",
        ),
        ("dtls", "encryption = \"mandatory\"\nkeying = \"dtls\""),
    ];
    println!(
        "# CPU of the whole process, calls up between two recalls (null audio: a packet every 20 ms each way per call), 20 s, {rounds} rounds (SRTP_CPU_ROUNDS), modes interleaved, each round starting one mode later; `vs plain` compares each mode's least round with plain's, `paired` is the median of each round against plain's in that round; the target is met when both are within it; `rounds` lists each round's µs/call/s"
    );
    println!(
        "{:<6} {:>5} {:<10} {:>11} {:>11} {:>14} {:>9} {:>9} {:>9} {:>9}  encryption / rounds",
        "codec",
        "calls",
        "media",
        "callee cpu%",
        "caller cpu%",
        "µs/call/s",
        "vs plain",
        "paired",
        "target",
        "rx pkt/s"
    );
    for (codec, target, default_calls) in [("pcmu", 10.0, 200), ("opus", 5.0, 20)] {
        let calls = calls_override.unwrap_or(default_calls);
        let mut best: Vec<Option<(f64, f64, String, f64)>> = vec![None; modes.len()];
        let mut each: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        let per_call = |m: &(f64, f64, String, f64)| (m.0 + m.1) / 2.0 / calls as f64 * 10_000.0;
        for round in 0..rounds {
            // Each round starts one mode later: a drift within a round (the VM's neighbours)
            // then falls on every mode in turn, not always on the last.
            for k in 0..modes.len() {
                let i = (round + k) % modes.len();
                let (name, media) = modes[i];
                let dir = root.join(format!("{codec}-{}-{round}", name.replace(' ', "-")));
                std::fs::create_dir_all(&dir).expect("dir");
                let measured = run(&dir, codec, media, calls);
                each[i].push(per_call(&measured));
                let sum = |m: &(f64, f64, String, f64)| m.0 + m.1;
                if best[i].as_ref().is_none_or(|b| sum(&measured) < sum(b)) {
                    best[i] = Some(measured);
                }
            }
        }
        let base = best[0].as_ref().map_or(1.0, per_call);
        for (((name, _), measured), rounds) in modes.iter().zip(&best).zip(&each) {
            let Some(m) = measured else { continue };
            let ratio = (per_call(m) / base - 1.0) * 100.0;
            // Each round's figure against plain's in the same round, the median of those.
            let mut paired: Vec<f64> = rounds
                .iter()
                .zip(&each[0])
                .map(|(r, plain)| (r / plain - 1.0) * 100.0)
                .collect();
            paired.sort_by(f64::total_cmp);
            let paired = paired.get(paired.len() / 2).copied().unwrap_or(0.0);
            let verdict = if *name == "plain" {
                String::new()
            } else if ratio <= target && paired <= target {
                format!("{target:.0}% ok")
            } else {
                format!("{target:.0}% OVER")
            };
            println!(
                "{:<6} {:>5} {:<10} {:>11.1} {:>11.1} {:>14.1} {:>8.1}% {:>8.1}% {:>9} {:>9.1}  {} / {}",
                codec,
                calls,
                name,
                m.0,
                m.1,
                per_call(m),
                ratio,
                paired,
                verdict,
                m.3,
                m.2,
                rounds
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
    println!("(files in {})", root.display());
}
