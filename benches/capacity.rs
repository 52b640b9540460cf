//! Inbound call capacity of `recall headless --auto-answer` under SIPp, next to baresip in the
//! same run: the highest call rate with no failures, CPU per call, RSS per concurrent call, and
//! 1000 concurrent calls held with RTP flowing (SIPp echoes our RTP back with -rtp_echo).
//! `recall+srtp` is the same recall answering offers keyed by SDES (`a=crypto`
//! AES_CM_128_HMAC_SHA1_80 in SIPp's INVITE, `encryption = "optional"`) in the rate sweep;
//! `recall+dtx` the same recall with `[media] silence_suppression` (its null audio's silence
//! sent as a keep-alive a second, not 50 packets: what a lab generator answering calls needs).
//!
//! baresip plays a 440 Hz sine (ausine) so that it, too, sends RTP on every call; it caps at 256
//! simultaneous calls, so it holds 250.
//!
//! Run with `cargo bench --bench capacity` (needs sipp and baresip: ./scripts/test.sh installs
//! them). `CAPACITY_RATES=100,200,400` and `CAPACITY_HOLD=1000` change the sweep
//! (`CAPACITY_HOLD=0` leaves the held calls out);
//! `CAPACITY_DB=1` gives every recall a database (`--db`), as an agent's has;
//! `CAPACITY_BEFORE=/path/to/an/older/recall` adds that build as the peer `before`, so a change
//! is measured side by side with what it changed, in one run; `CAPACITY_PEERS=recall,before`
//! runs only the peers named; `CAPACITY_ROUNDS=3` runs each rate three times, peers
//! interleaved, and keeps each peer's round with the least CPU per call.
//!
//! Each rate also prints `rtp floor`: what the kernel alone takes for the RTP a 1 s call
//! sends, measured here with as many sockets as the rate has calls up (each watched for
//! reading by epoll, as recall's are), each sending a 172-byte datagram every 20 ms to one
//! socket nobody reads (as SIPp's media port): CPU ms per call-second. It is the part of
//! `cpu ms/call` no user-space change can take away while a call sends 50 packets a second.

mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let dir = std::env::temp_dir().join(format!("recall-capacity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let rates: Vec<u32> = std::env::var("CAPACITY_RATES")
        .unwrap_or_else(|_| "100,200,400,800,1200,1600,2000".to_owned())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let hold: u32 = std::env::var("CAPACITY_HOLD")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(1000);

    println!("# Call rate sweep: SIPp uac, 1 s calls, 10 s per rate, fresh peer per rate");
    println!(
        "{:<11} {:>6} {:>10} {:>8} {:>9} {:>10} {:>12}",
        "peer", "rate", "completed", "failed", "cpu %", "cpu ms/call", "peak RSS MB"
    );
    // recall+srtp: the same calls with SDES-SRTP offered and answered (issue 13: >= 400
    // calls/s with no failures, like plain calls).
    // Rate by rate, the peers one after another: side by side in time as well, so that the
    // machine's drift over the run does not fall on one peer.
    // CAPACITY_ROUNDS=3: each rate that many times over, peers interleaved; the round with the
    // least CPU per call is shown (the machine's other work only adds), with the most failures
    // any round had.
    let rounds: usize = std::env::var("CAPACITY_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let peers = Peer::all();
    for &rate in &rates {
        let mut kept: Vec<Option<RateResult>> = peers.iter().map(|_| None).collect();
        let mut floor = f64::MAX;
        for _ in 0..rounds {
            floor = floor.min(rtp_floor(rate));
            for (at, &peer) in peers.iter().enumerate() {
                let mut r = rate_run(&dir, peer, rate);
                if let Some(before) = kept[at].take() {
                    let failed = r.failed.max(before.failed);
                    if before.cpu_ms_per_call < r.cpu_ms_per_call {
                        r = before;
                    }
                    r.failed = failed;
                }
                kept[at] = Some(r);
            }
        }
        for (&peer, r) in peers.iter().zip(kept) {
            let Some(r) = r else { continue };
            println!(
                "{:<11} {:>6} {:>10} {:>8} {:>9.1} {:>10.3} {:>12.1}",
                peer.name(),
                rate,
                r.completed,
                r.failed,
                r.cpu_percent,
                r.cpu_ms_per_call,
                r.peak_rss_mb
            );
        }
        println!(
            "{:<11} {:>6} {:>10} {:>8} {:>9} {:>10.3} {:>12}",
            "rtp floor", rate, "-", "-", "-", floor, "-"
        );
    }

    if hold == 0 {
        // CAPACITY_HOLD=0: the rate sweep only (SIPp's -m 0 would never end the hold).
        return;
    }
    println!();
    println!("# Concurrent calls held 30 s with RTP both ways (SIPp -rtp_echo)");
    println!(
        "{:<8} {:>6} {:>10} {:>8} {:>9} {:>12} {:>14} {:>16}",
        "peer",
        "calls",
        "completed",
        "failed",
        "cpu %",
        "peak RSS MB",
        "RSS KB/call",
        "RTP in (recall)"
    );
    for (peer, calls) in peers
        .iter()
        .filter(|&&p| !matches!(p, Peer::RecallSrtp | Peer::RecallDtx))
        .map(|&p| (p, if p == Peer::Baresip { 250 } else { hold }))
    {
        let r = hold_run(&dir, peer, calls);
        println!(
            "{:<8} {:>6} {:>10} {:>8} {:>9.1} {:>12.1} {:>14.0} {:>16}",
            peer.name(),
            calls,
            r.completed,
            r.failed,
            r.cpu_percent,
            r.peak_rss_mb,
            r.rss_kb_per_call,
            r.rtp_in.map_or("-".to_owned(), |n| n.to_string())
        );
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Recall,
    /// recall with `[media] silence_suppression`: its null audio's silence goes out as a frame
    /// a second instead of fifty (RFC 3551 §4.1), as a lab generator would run it.
    RecallDtx,
    /// recall answering SDES-SRTP offers (`a=crypto` AES_CM_128_HMAC_SHA1_80 in SIPp's INVITE).
    RecallSrtp,
    /// The recall binary `CAPACITY_BEFORE` names.
    Before,
    Baresip,
}

impl Peer {
    fn all() -> Vec<Self> {
        let mut peers = vec![Self::Recall, Self::RecallDtx, Self::RecallSrtp];
        if before_binary().is_some() {
            peers.push(Self::Before);
        }
        peers.push(Self::Baresip);
        // CAPACITY_PEERS=recall,before runs only those.
        match std::env::var("CAPACITY_PEERS") {
            Ok(names) => peers
                .into_iter()
                .filter(|p| names.split(',').any(|n| n.trim() == p.name()))
                .collect(),
            Err(_) => peers,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Recall => "recall",
            Self::RecallDtx => "recall+dtx",
            Self::RecallSrtp => "recall+srtp",
            Self::Before => "before",
            Self::Baresip => "baresip",
        }
    }
}

fn before_binary() -> Option<PathBuf> {
    std::env::var_os("CAPACITY_BEFORE").map(PathBuf::from)
}

struct RateResult {
    completed: u64,
    failed: u64,
    cpu_percent: f64,
    cpu_ms_per_call: f64,
    peak_rss_mb: f64,
}

struct HoldResult {
    completed: u64,
    failed: u64,
    cpu_percent: f64,
    peak_rss_mb: f64,
    rss_kb_per_call: f64,
    rtp_in: Option<u64>,
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

struct Running {
    child: Child,
    sip_port: u16,
    control: Option<u16>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, peer: Peer) -> Running {
    let sip_port = free_port();
    let log = std::fs::File::create(dir.join(format!("{}.log", peer.name()))).expect("log");
    match peer {
        Peer::Recall | Peer::RecallDtx | Peer::Before | Peer::RecallSrtp => {
            let control = free_port();
            let config = dir.join(format!("{}.toml", peer.name()));
            let media = match peer {
                // SIPp keys over plain SIP: the lab switch lets SDES keys cross it.
                Peer::RecallSrtp => "encryption = \"optional\"\nsdes_over_plain_sip = true\n",
                Peer::RecallDtx => "silence_suppression = true\n",
                _ => "",
            };
            std::fs::write(&config, format!("[media]\n{media}")).expect("config");
            // CAPACITY_DB=1: each recall keeps its history in a fresh database, as an agent's
            // does (every interaction change synced to disk before it is shown).
            let db = std::env::var_os("CAPACITY_DB").map(|_| {
                let path = dir.join(format!("{}.db", peer.name()));
                let _ = std::fs::remove_file(&path);
                path
            });
            let binary = match peer {
                Peer::Before => before_binary().expect("CAPACITY_BEFORE"),
                _ => PathBuf::from(env!("CARGO_BIN_EXE_recall")),
            };
            let child = Command::new(binary)
                .args(["headless", "--auto-answer", "--audio", "null"])
                .arg("--config")
                .arg(&config)
                .args(["--listen", &format!("udp:127.0.0.1:{sip_port}")])
                .args(["--control", &format!("127.0.0.1:{control}")])
                .args(
                    db.iter()
                        .flat_map(|db| [std::ffi::OsStr::new("--db"), db.as_os_str()]),
                )
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start recall");
            std::thread::sleep(Duration::from_millis(500));
            Running {
                child,
                sip_port,
                control: Some(control),
            }
        }
        Peer::Baresip => {
            let child = support::baresip_uas(dir, sip_port, log);
            Running {
                child,
                sip_port,
                control: None,
            }
        }
    }
}

/// The kernel's CPU for the RTP of one call-second, in ms: `calls` sockets registered with
/// epoll for reading (as a call's are), each sending a 172-byte datagram (G.711's 20 ms with
/// its header) every 20 ms for 10 s to one socket that is never read. Thread CPU time of the
/// sending thread, which on loopback also pays for the delivery, as recall's does.
fn rtp_floor(calls: u32) -> f64 {
    // As recall does at start: as many descriptors as the hard limit allows.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the calls to read and write.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind sink");
    let to = sink.local_addr().expect("sink addr");
    // SAFETY: epoll_create1 takes no pointers; the descriptor is closed below.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1");
    let sockets: Vec<UdpSocket> = (0..calls)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            socket.set_nonblocking(true).expect("nonblocking");
            let mut event = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: 0,
            };
            use std::os::fd::AsRawFd;
            // SAFETY: both descriptors are open; `event` lives across the call.
            let added = unsafe {
                libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, socket.as_raw_fd(), &mut event)
            };
            assert_eq!(added, 0, "epoll_ctl");
            socket
        })
        .collect();
    let packet = [0x80u8; 172];
    let thread_cpu = || {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    };
    let frames = 500u32;
    let start = Instant::now();
    let cpu0 = thread_cpu();
    for frame in 0..frames {
        for socket in &sockets {
            let _ = socket.send_to(&packet, to);
        }
        let next = start + Duration::from_millis(20 * u64::from(frame + 1));
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let cpu = thread_cpu() - cpu0;
    drop(sockets);
    // SAFETY: closes the epoll descriptor opened above, once.
    unsafe { libc::close(epoll) };
    // `frames` frames are frames / 50 seconds of each call.
    1000.0 * cpu / (f64::from(calls) * f64::from(frames) / 50.0)
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    support::cpu_seconds(pid)
}

/// Peak resident set size in MB (VmHWM).
fn peak_rss_mb(pid: u32) -> f64 {
    support::peak_rss_mb(pid).unwrap_or(0.0)
}

fn rss_mb(pid: u32) -> f64 {
    support::rss_mb(pid).unwrap_or(0.0)
}

fn sipp(dir: &Path, scenario: &str, port: u16, args: &[String]) -> (u64, u64) {
    let screen = dir.join("screen.txt");
    let _ = std::fs::remove_file(&screen);
    let scenario: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fixtures", "sipp", scenario]
        .iter()
        .collect();
    let status = Command::new("sipp")
        .arg("-sf")
        .arg(&scenario)
        .arg(format!("127.0.0.1:{port}"))
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-s", "agent", "-nostdin", "-trace_screen", "-screen_file"])
        .arg(&screen)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sipp");
    let _ = status;
    support::sipp_counts(&screen)
}

fn rate_run(dir: &Path, peer: Peer, rate: u32) -> RateResult {
    let running = start(dir, peer);
    let pid = running.child.id();
    let cpu0 = cpu_seconds(pid);
    let started = Instant::now();
    let calls = rate * 10;
    let scenario = if peer == Peer::RecallSrtp {
        "uac_hold_srtp.xml"
    } else {
        "uac_hold.xml"
    };
    let (completed, failed) = sipp(
        dir,
        scenario,
        running.sip_port,
        &[
            "-r".into(),
            rate.to_string(),
            "-m".into(),
            calls.to_string(),
            "-d".into(),
            "1000".into(),
            "-l".into(),
            (rate * 4).to_string(),
            "-timeout".into(),
            "60".into(),
        ],
    );
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    RateResult {
        completed,
        failed,
        cpu_percent: 100.0 * cpu / wall,
        cpu_ms_per_call: 1000.0 * cpu / completed.max(1) as f64,
        peak_rss_mb: peak_rss_mb(pid),
    }
}

fn hold_run(dir: &Path, peer: Peer, calls: u32) -> HoldResult {
    let running = start(dir, peer);
    let pid = running.child.id();
    let idle_rss = rss_mb(pid);
    let (tx, rx) = std::sync::mpsc::channel();
    let sip_port = running.sip_port;
    let sipp_dir = dir.to_owned();
    let handle = std::thread::spawn(move || {
        let result = sipp(
            &sipp_dir,
            "uac_hold.xml",
            sip_port,
            &[
                "-r".into(),
                "200".into(),
                "-m".into(),
                calls.to_string(),
                "-l".into(),
                calls.to_string(),
                "-d".into(),
                "30000".into(),
                "-rtp_echo".into(),
                "-timeout".into(),
                "90".into(),
            ],
        );
        let _ = tx.send(());
        result
    });
    // Measure while all calls are up: ramp-up takes calls/200 s, then they are held 30 s.
    let ramp = Duration::from_secs_f64(f64::from(calls) / 200.0 + 5.0);
    std::thread::sleep(ramp);
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let cpu_percent = 100.0 * (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    let held_rss = rss_mb(pid);
    let _ = rx.recv_timeout(Duration::from_secs(120));
    let (completed, failed) = handle.join().expect("sipp thread");
    let rtp_in = running.control.and_then(rtp_received);
    HoldResult {
        completed,
        failed,
        cpu_percent,
        peak_rss_mb: peak_rss_mb(pid),
        rss_kb_per_call: (held_rss - idle_rss) * 1024.0 / f64::from(calls),
        rtp_in,
    }
}

/// Sum of RTP packets recall received over every call it remembers.
fn rtp_received(control: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", control)).ok()?;
    write!(
        stream,
        "GET /v1/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    let calls: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(
        calls
            .as_array()?
            .iter()
            .filter_map(|c| c["stats"]["packets_received"].as_u64())
            .sum(),
    )
}
