//! Soak: `recall headless --auto-answer --db` under SIPp's uac at a steady call rate for a long
//! time, its resident memory sampled every 10 s. After the warm-up (the transaction layer keeps
//! each finished INVITE and BYE for 32 s, RFC 3261 Timers H/J, and SQLite's page cache fills)
//! memory must stay flat: the bench prints every sample, the highest after warm-up next to
//! the first after warm-up, and whether it stayed within +10 %. Then the same calls with
//! baresip as the UAS, for comparison, as long as `SOAK_BARESIP_SECONDS` (or until it fails).
//! The samples go to `soak.csv` and a plot to `soak.png` in the output directory it names.
//!
//! `cargo bench --bench soak` (needs sipp and baresip: ./scripts/test.sh installs them).
//! `SOAK_SECONDS` (default 1800), `SOAK_RATE` (calls/s, default 400), `SOAK_WARMUP` (s, default
//! 120), `SOAK_BARESIP_SECONDS` (default 300, 0 skips it), `SOAK_OUT` (default target/soak).

#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long each call lasts: 200 calls up at 400 calls/s, under baresip's 256-call ceiling.
const CALL_MS: u32 = 500;
const SAMPLE: Duration = Duration::from_secs(10);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Sample {
    at_s: u64,
    rss_mb: f64,
    cpu_percent: f64,
}

struct Outcome {
    samples: Vec<Sample>,
    completed: u64,
    failed: u64,
    cpu_ms_per_call: f64,
}

struct Peer {
    child: Child,
    port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn recall(dir: &Path) -> Peer {
    let port = support::free_port();
    let control = support::free_port();
    let log = std::fs::File::create(dir.join("recall.log")).expect("log");
    let _ = std::fs::remove_file(dir.join("soak.db"));
    let child = Command::new(env!("CARGO_BIN_EXE_recall"))
        .args(["headless", "--auto-answer", "--audio", "null"])
        .arg("--db")
        .arg(dir.join("soak.db"))
        .args(["--listen", &format!("udp:127.0.0.1:{port}")])
        .args(["--control", &format!("127.0.0.1:{control}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start recall");
    std::thread::sleep(Duration::from_millis(500));
    Peer { child, port }
}

fn baresip(dir: &Path) -> Peer {
    let port = support::free_port();
    let log = std::fs::File::create(dir.join("baresip.log")).expect("log");
    let child = support::baresip_uas(dir, port, log);
    Peer { child, port }
}

/// Runs SIPp's uac against the peer for `seconds` at `rate`, sampling the peer every 10 s.
fn soak(dir: &Path, peer: &Peer, rate: u64, seconds: u64) -> Outcome {
    let pid = peer.child.id();
    let screen = dir.join("screen.txt");
    let _ = std::fs::remove_file(&screen);
    let scenario: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "fixtures",
        "sipp",
        "uac_hold.xml",
    ]
    .iter()
    .collect();
    let mut sipp = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg(format!("127.0.0.1:{}", peer.port))
        .args(["-i", "127.0.0.1", "-p", &support::free_port().to_string()])
        .args(["-s", "agent", "-nostdin", "-trace_screen", "-screen_file"])
        .arg(&screen)
        .args(["-r", &rate.to_string(), "-m", &(rate * seconds).to_string()])
        .args(["-d", &CALL_MS.to_string(), "-l", &(rate * 4).to_string()])
        .args(["-timeout", &(seconds + 120).to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sipp");
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let status = sipp.wait();
        let _ = done_tx.send(());
        status
    });
    let started = Instant::now();
    let cpu_start = support::cpu_seconds(pid);
    let mut cpu_before = cpu_start;
    let mut sampled = started;
    let mut samples = Vec::new();
    loop {
        let finished = done_rx.recv_timeout(SAMPLE).is_ok();
        let span = sampled.elapsed().as_secs_f64();
        sampled = Instant::now();
        let cpu = support::cpu_seconds(pid);
        let Some(rss) = support::rss_mb(pid) else {
            println!("  the peer is gone after {} s", started.elapsed().as_secs());
            break;
        };
        let sample = Sample {
            at_s: started.elapsed().as_secs(),
            rss_mb: rss,
            cpu_percent: 100.0 * (cpu - cpu_before) / span.max(0.001),
        };
        println!(
            "  {:>6} s  RSS {:>8.1} MB  CPU {:>5.1} %",
            sample.at_s, sample.rss_mb, sample.cpu_percent
        );
        cpu_before = cpu;
        samples.push(sample);
        if finished {
            break;
        }
    }
    let _ = waiter.join();
    let cpu = support::cpu_seconds(pid) - cpu_start;
    let (completed, failed) = support::sipp_counts(&screen);
    Outcome {
        samples,
        completed,
        failed,
        cpu_ms_per_call: 1000.0 * cpu / completed.max(1) as f64,
    }
}

/// The first sample at or after warm-up and the highest after it.
fn flatness(samples: &[Sample], warmup: u64) -> Option<(f64, f64)> {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= warmup).collect();
    let first = after.first()?.rss_mb;
    let highest = after.iter().map(|s| s.rss_mb).fold(first, f64::max);
    Some((first, highest))
}

fn summary(name: &str, outcome: &Outcome, warmup: u64) {
    print!(
        "{name}: {} calls completed, {} failed, {:.3} ms CPU per call",
        outcome.completed, outcome.failed, outcome.cpu_ms_per_call
    );
    match flatness(&outcome.samples, warmup) {
        Some((first, highest)) => println!(
            "; RSS after warm-up {first:.1} MB, highest {highest:.1} MB ({:+.1} %: {})",
            100.0 * (highest / first - 1.0),
            if highest <= first * 1.10 {
                "within +10 %"
            } else {
                "NOT within +10 %"
            }
        ),
        None => println!("; no sample after warm-up"),
    }
}

fn write_csv(path: &Path, runs: &[(&str, &Outcome)]) {
    let mut text = String::from("peer,seconds,rss_mb,cpu_percent\n");
    for (name, outcome) in runs {
        for s in &outcome.samples {
            text.push_str(&format!(
                "{name},{},{:.1},{:.1}\n",
                s.at_s, s.rss_mb, s.cpu_percent
            ));
        }
    }
    std::fs::write(path, text).expect("csv");
}

fn plot(path: &Path, rate: u64, runs: &[(&str, &Outcome)]) -> Result<(), String> {
    use plotters::prelude::*;
    const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let font =
        std::fs::read(FONT).map_err(|e| format!("{FONT}: {e} (apt install fonts-dejavu-core)"))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| "the font does not load".to_owned())?;
    let end = runs
        .iter()
        .flat_map(|(_, o)| o.samples.iter().map(|s| s.at_s))
        .max()
        .unwrap_or(10)
        .max(10);
    let top = runs
        .iter()
        .flat_map(|(_, o)| o.samples.iter().map(|s| s.rss_mb))
        .fold(10.0, f64::max)
        * 1.15;
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Resident memory under SIPp at {rate} calls/s ({CALL_MS} ms calls)"),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0u64..end, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("RSS (MB)")
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, outcome)) in runs.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                outcome.samples.iter().map(|s| (s.at_s, s.rss_mb)),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!(
                "{name}: {} calls, {} failed",
                outcome.completed, outcome.failed
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn main() {
    support::require("sipp", "apt install sip-tester");
    let seconds = env_u64("SOAK_SECONDS", 1800);
    let rate = env_u64("SOAK_RATE", 400);
    let warmup = env_u64("SOAK_WARMUP", 120);
    let baresip_seconds = env_u64("SOAK_BARESIP_SECONDS", 300);
    let out = std::env::var_os("SOAK_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/soak"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&out).expect("output dir");
    let dir = std::env::temp_dir().join(format!("recall-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");

    println!(
        "# Soak: SIPp uac at {rate} calls/s, {CALL_MS} ms calls, {seconds} s ({} calls), RSS every {} s",
        rate * seconds,
        SAMPLE.as_secs()
    );
    println!("recall headless --auto-answer --db:");
    let peer = recall(&dir);
    let recall_outcome = soak(&dir, &peer, rate, seconds);
    drop(peer);
    let db_mb = std::fs::metadata(dir.join("soak.db")).map_or(0.0, |m| m.len() as f64 / 1e6);
    let mut runs = vec![("recall", &recall_outcome)];
    let baresip_outcome = (baresip_seconds > 0).then(|| {
        println!("baresip (same calls, {baresip_seconds} s):");
        let peer = baresip(&dir);
        soak(&dir, &peer, rate, baresip_seconds)
    });
    if let Some(outcome) = &baresip_outcome {
        runs.push(("baresip", outcome));
    }
    println!();
    summary("recall", &recall_outcome, warmup);
    println!("recall's database after the run: {db_mb:.0} MB");
    if let Some(outcome) = &baresip_outcome {
        summary("baresip", outcome, warmup.min(baresip_seconds / 2));
    }
    write_csv(&out.join("soak.csv"), &runs);
    match plot(&out.join("soak.png"), rate, &runs) {
        Ok(()) => println!(
            "samples: {}, plot: {}",
            out.join("soak.csv").display(),
            out.join("soak.png").display()
        ),
        Err(e) => println!("samples: {}; no plot: {e}", out.join("soak.csv").display()),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
