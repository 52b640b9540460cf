//! Helpers for end-to-end tests: processes killed by PID on drop, free ports, a tiny HTTP
//! client for the control API, WAV helpers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn recall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_recall"))
}

/// The repository's fixtures.
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// A fresh directory for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("recall-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Fails the test with a clear message when a peer program is missing.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is not installed: run the README's test command (bash scripts/test.sh), which installs it"
    );
}

/// A UDP port free on 127.0.0.1 right now (and its TCP twin).
///
/// It is drawn from below the kernel's ephemeral range, which every socket bound to port 0
/// draws from (recall's RTP, SIPp's, each outgoing TCP connection of every test running in
/// parallel): a port taken from that range could be handed to one of them before the peer
/// the test starts binds it. Where the ephemeral range leaves too little room below it, the
/// kernel chooses as before.
pub fn free_port() -> u16 {
    let below = ephemeral_start();
    if below < 12_000 {
        return loop {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
            let port = udp.local_addr().expect("addr").port();
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
    }
    // Spread the parallel test processes over the range: a start drawn from the clock and
    // the process id, then every fourth port after it, so the three after a port handed out
    // stay for [`free_sip_port`] (baresip's TLS) and [`free_media_ports`] (SIPp's RTP).
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, slots) = (10_000u32, (u32::from(below) - 10_000) / 4 - 1);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let _ = NEXT.compare_exchange(0, seed % slots + 1, Ordering::Relaxed, Ordering::Relaxed);
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % slots * 4;
        let port = u16::try_from(low + offset).expect("below the ephemeral range");
        let held = UdpSocket::bind(("127.0.0.1", port))
            .ok()
            .zip(TcpListener::bind(("127.0.0.1", port)).ok());
        if held.is_some() {
            return port;
        }
    }
}

/// The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A free port for baresip's `sip_listen`: baresip binds UDP and TCP on the port and, with
/// its TLS transport built in, TLS on the port after it, so all three must be free (a
/// plain [`free_port`] left the TLS bind to chance, and a busy CI once lost it).
pub fn free_sip_port() -> u16 {
    loop {
        let port = free_port();
        if port < 65_000 && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Starts baresip and waits until it is ready. Its ports are chosen before it runs, so another
/// process (an ephemeral port, a peer's random RTP port) can take one in between, and baresip
/// then stops with "Address already in use" (CI lost a SIP bind so twice). So `start` is
/// given a SIP port (see [`free_sip_port`]) and a ctrl_tcp port, writes the config with them
/// and returns the command; when a bind was lost it runs again on ports chosen afresh, up to
/// five times. Returns baresip, its SIP port and its ctrl_tcp port.
pub fn start_baresip(
    name: &str,
    log: &Path,
    mut start: impl FnMut(u16, u16) -> Command,
) -> (Proc, u16, u16) {
    for _ in 0..5 {
        let (sip, ctrl) = (free_sip_port(), free_port());
        let mut proc = Proc::spawn(name, start(sip, ctrl), log);
        let lost = |text: &str| text.contains("Address already in use");
        wait_until(Duration::from_secs(5), || {
            let text = proc.log_text();
            text.contains("baresip is ready") || lost(&text)
        });
        let text = proc.log_text();
        if !lost(&text) {
            assert!(text.contains("baresip is ready"), "{name}:\n{text}");
            return (proc, sip, ctrl);
        }
        proc.kill_hard();
    }
    panic!(
        "{name} lost its ports to other processes five times:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A free even UDP port with the three after it free too: SIPp's media port (`-mp`) takes
/// the port and the next for audio RTP/RTCP and the two after for video.
pub fn free_media_ports() -> u16 {
    loop {
        let port = free_port();
        if !port.is_multiple_of(2) || port > 65_000 {
            continue;
        }
        let held: Vec<UdpSocket> = (port..port + 4)
            .filter_map(|p| UdpSocket::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == 4 {
            return port;
        }
    }
}

/// A child process that is killed (by PID) when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `command` with stdout and stderr to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let file = std::fs::File::create(log).expect("log file");
        // Its own process group, so helpers it forks (Kamailio's timers) go with it.
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// Waits for the process to exit, up to `limit`; kills it and fails the test if it does not.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "{} did not finish within {limit:?}; log:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the process wrote.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait(limit)
    }

    /// Kills the process outright (SIGKILL: no chance to finish anything) and reaps it.
    pub fn kill_hard(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the process group of a child we own and have not reaped.
        unsafe {
            libc::kill(-(self.child.id() as i32), signal);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(3) {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Polls `check` until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// Addresses that live in a network namespace a test made (`127.0.0.2:PORT` inside it), by
/// the namespace's name.
static IN_NETNS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

/// Says that `addr` is reached inside the network namespace `netns`.
pub fn reach_in_netns(addr: SocketAddr, netns: &str) {
    IN_NETNS
        .lock()
        .expect("netns table")
        .push((addr, netns.to_owned()));
}

/// A TCP connection to `addr`, made inside its network namespace when it lives in one (a
/// thread enters the namespace to connect; the socket stays in it).
pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let netns = IN_NETNS
        .lock()
        .expect("netns table")
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, n)| n.clone());
    let Some(netns) = netns else {
        return TcpStream::connect(addr);
    };
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(format!("/run/netns/{netns}"))?;
        // SAFETY: setns on a valid namespace descriptor changes only this thread's namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        TcpStream::connect(addr)
    })
    .join()
    .expect("netns thread")
}

/// One HTTP/1.1 request; returns status and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = connect(addr).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// GET returning parsed JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, None, None);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// POST returning status and parsed JSON.
pub fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = http(addr, "POST", path, Some(body), None);
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// `recall headless` with a control API, ready to use.
pub struct Headless {
    pub proc: Proc,
    pub sip: SocketAddr,
    pub control: SocketAddr,
}

impl Headless {
    /// Starts it with extra arguments; waits until the control API answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Self {
        let sip: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let control: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let mut command = recall();
        command
            .arg("headless")
            .arg("--listen")
            .arg(format!("udp:{sip}"))
            .arg("--control")
            .arg(control.to_string())
            .args(extra)
            .env("RUST_LOG", "info");
        let proc = Proc::spawn("recall headless", command, &dir.join("recall.log"));
        let mut headless = Self { proc, sip, control };
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect(control).is_ok()
        });
        if !up {
            let log = headless.proc.log_text();
            let _ = headless.proc.child.kill();
            panic!("recall headless did not come up; log:\n{log}");
        }
        headless
    }

    pub fn status(&self) -> serde_json::Value {
        get_json(self.control, "/v1/status")
    }

    pub fn calls(&self) -> Vec<serde_json::Value> {
        get_json(self.control, "/v1/calls")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Writes `seconds` of a sine tone at 8 kHz.
pub fn write_tone(path: &Path, hz: f32, seconds: f32) {
    write_tone_at(path, hz, seconds, 8000);
}

/// A sine of `hz` for `seconds` into a mono 16-bit WAV at `rate` Hz.
pub fn write_tone_at(path: &Path, hz: f32, seconds: f32, rate: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..(rate as f32 * seconds) as usize {
        let t = i as f32 / rate as f32;
        writer
            .write_sample(((2.0 * std::f32::consts::PI * hz * t).sin() * 8000.0) as i16)
            .expect("sample");
    }
    writer.finalize().expect("finalize");
}

/// Root-mean-square level of a WAV file (first channel), and its length in seconds.
pub fn wav_level(path: &Path) -> (f64, f64) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .step_by(usize::from(spec.channels))
        .filter_map(Result::ok)
        .collect();
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    let rms = (sum / samples.len().max(1) as f64).sqrt();
    (rms, samples.len() as f64 / f64::from(spec.sample_rate))
}

/// Runs SIPp to completion; returns its exit status and what it printed on its screen file.
pub fn run_sipp(dir: &Path, name: &str, args: &[String], limit: Duration) -> (ExitStatus, String) {
    require("sipp");
    let screen = dir.join(format!("{name}-screen.txt"));
    let mut command = Command::new("sipp");
    command
        .args(args)
        .arg("-nostdin")
        .arg("-trace_screen")
        .arg("-screen_file")
        .arg(&screen)
        .current_dir(dir);
    let mut proc = Proc::spawn(name, command, &dir.join(format!("{name}.log")));
    let status = proc.wait(limit);
    (status, std::fs::read_to_string(&screen).unwrap_or_default())
}

/// The (successful, failed) cumulative call counts from a SIPp screen dump.
pub fn sipp_counts(screen: &str) -> (u64, u64) {
    let count = |label: &str| {
        screen
            .lines()
            .filter(|l| l.contains(label))
            .filter_map(|l| l.split('|').nth(2)?.trim().parse().ok())
            .next_back()
            .unwrap_or(0)
    };
    (count("Successful call"), count("Failed call"))
}

/// SIPp arguments for one call of the `scenario` fixture to `target`.
pub fn sipp_call_args(scenario: &str, target: SocketAddr) -> Vec<String> {
    vec![
        "-sf".to_owned(),
        fixture(scenario).display().to_string(),
        target.to_string(),
        "-i".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        free_port().to_string(),
        "-m".to_owned(),
        "1".to_owned(),
        "-timeout".to_owned(),
        "30".to_owned(),
    ]
}

/// SIPp places one call of `scenario` to `target` in the background; join for its result.
pub fn sipp_in_background(
    dir: &Path,
    name: &str,
    scenario: &str,
    target: SocketAddr,
) -> std::thread::JoinHandle<(ExitStatus, String)> {
    let args = sipp_call_args(scenario, target);
    let (dir, name) = (dir.to_owned(), name.to_owned());
    std::thread::spawn(move || run_sipp(&dir, &name, &args, Duration::from_secs(40)))
}

/// SIPp waiting for one call with `scenario` on a free port (its media on another), with
/// extra arguments (a later `-timeout` overrides the 40 s one).
pub fn sipp_uas(dir: &Path, name: &str, scenario: &str, extra: &[&str]) -> (Proc, u16) {
    require("sipp");
    let port = free_port();
    let mut command = Command::new("sipp");
    command
        .args(["-sf", &fixture(scenario).display().to_string()])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &free_media_ports().to_string()])
        .args([
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "40",
            "-trace_screen",
            "-screen_file",
        ])
        .arg(dir.join(format!("{name}-screen.txt")))
        .args(extra)
        .current_dir(dir);
    let proc = Proc::spawn(name, command, &dir.join(format!("{name}.log")));
    // Ready once its UDP port is bound (a loaded machine may take longer than a fixed wait).
    let bound = wait_until(Duration::from_secs(10), || udp_bound(port));
    assert!(bound, "SIPp did not bind {port}: {}", proc.log_text());
    (proc, port)
}

/// Whether a UDP socket is bound to `port` on this host (read from /proc/net/udp).
pub fn udp_bound(port: u16) -> bool {
    let wanted = format!(":{port:04X} ");
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            line.split_whitespace()
                .nth(1)
                .is_some_and(|local| format!("{local} ").ends_with(&wanted))
        })
    })
}

/// Waits (up to `limit`) for a SIPp started by `sipp_uas`; returns its (successful, failed)
/// counts.
pub fn sipp_finished(dir: &Path, name: &str, proc: &mut Proc, limit: Duration) -> (u64, u64) {
    proc.wait(limit);
    let screen =
        std::fs::read_to_string(dir.join(format!("{name}-screen.txt"))).unwrap_or_default();
    sipp_counts(&screen)
}
