//! A flood (issue 14): 30 s of about 1 000 datagrams a second from 127.0.0.2 — random bytes,
//! mutated SIP, well-formed INVITEs whose Contact nobody answers, REGISTER and OPTIONS — at an
//! agent with the desktop's limits. Meanwhile, from 127.0.0.1 as a PBX would: OPTIONS every
//! 100 ms must be answered within 100 ms, the calls ringing never exceed `max_ringing`, and a
//! SIPp call placed during the flood rings, is answered over the API and completes. Seeded.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    Headless, fixture, free_port, post_json, run_sipp, scratch, sipp_counts, wait_until,
};

const SECONDS: u64 = 30;
const PER_SECOND: u64 = 1000;
const MAX_RINGING: usize = 4;

fn invite(target: SocketAddr, from: SocketAddr, n: u64) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:agent@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKflood{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:flood{n}@127.0.0.2>;tag=f{n}\r\n\
         To: <sip:agent@{target}>\r\n\
         Call-ID: flood-{n}@127.0.0.2\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@127.0.0.3:9>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

fn request(method: &str, target: SocketAddr, from: SocketAddr, n: u64) -> String {
    format!(
        "{method} sip:agent@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{method}{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:flood@127.0.0.2>;tag=r{n}\r\n\
         To: <sip:agent@{target}>\r\n\
         Call-ID: {method}-{n}@127.0.0.2\r\n\
         CSeq: {n} {method}\r\n\
         Contact: <sip:flood@127.0.0.3:9>\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// One flood datagram: the kind by the seeded draw.
fn datagram(rng: &mut fastrand::Rng, target: SocketAddr, from: SocketAddr, n: u64) -> Vec<u8> {
    match rng.u8(0..100) {
        0..40 => (0..rng.usize(1..1400)).map(|_| rng.u8(..)).collect(),
        40..60 => {
            let mut bytes = invite(target, from, n).into_bytes();
            for _ in 0..rng.usize(1..8) {
                let at = rng.usize(..bytes.len());
                bytes[at] = rng.u8(..);
            }
            bytes.truncate(rng.usize(bytes.len() / 2..=bytes.len()));
            bytes
        }
        60..75 => invite(target, from, n).into_bytes(),
        75..90 => request("REGISTER", target, from, n).into_bytes(),
        _ => request("OPTIONS", target, from, n).into_bytes(),
    }
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
fn a_flood_of_garbage_and_invites_leaves_the_agent_answering_and_a_real_call_completes() {
    let dir = scratch("flood");
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_calls = 8\nmax_ringing = {MAX_RINGING}\nmax_invites_per_source = 20\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let pid = agent.proc.child.id();
    let target = agent.sip;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));

    // The flood, from 127.0.0.2: ten datagrams every 10 ms.
    let flood = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.2:0").expect("flood socket");
            let from = socket.local_addr().expect("addr");
            let mut rng = fastrand::Rng::with_seed(14);
            let started = Instant::now();
            let mut n = 0;
            let mut sink = [0u8; 2048];
            socket.set_nonblocking(true).expect("nonblocking");
            while started.elapsed() < Duration::from_secs(SECONDS) && !stop.load(Ordering::Relaxed)
            {
                for _ in 0..PER_SECOND / 100 {
                    n += 1;
                    let _ = socket.send_to(&datagram(&mut rng, target, from, n), target);
                }
                while socket.recv_from(&mut sink).is_ok() {}
                sent.store(n, Ordering::Relaxed);
                let next = started + Duration::from_millis(n * 1000 / PER_SECOND);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
    };

    // The PBX's OPTIONS every 100 ms, from 127.0.0.1.
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
            let from = socket.local_addr().expect("addr");
            socket
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let mut slowest = Duration::ZERO;
            let (mut asked, mut answered) = (0u64, 0u64);
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                asked += 1;
                let t = Instant::now();
                socket
                    .send_to(request("OPTIONS", target, from, asked).as_bytes(), target)
                    .expect("send");
                let wanted = format!("CSeq: {asked} OPTIONS");
                while let Ok((len, _)) = socket.recv_from(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..len]);
                    if text.starts_with("SIP/2.0 200") && text.contains(&wanted) {
                        answered += 1;
                        slowest = slowest.max(t.elapsed());
                        break;
                    }
                }
                if t.elapsed() < Duration::from_millis(100) {
                    std::thread::sleep(Duration::from_millis(100) - t.elapsed());
                }
            }
            (asked, answered, slowest)
        })
    };

    // Ringing calls, watched every 200 ms over the control API.
    let watcher = {
        let (stop, control) = (stop.clone(), agent.control);
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                let calls = crate::support::get_json(control, "/v1/calls");
                let ringing = calls
                    .as_array()
                    .map_or(0, |c| c.iter().filter(|c| c["state"] == "ringing").count());
                most = most.max(ringing);
                std::thread::sleep(Duration::from_millis(200));
            }
            most
        })
    };

    // Ten seconds in, the PBX's real call: SIPp rings the agent, who answers over the API.
    std::thread::sleep(Duration::from_secs(10));
    let sipp = {
        let dir = dir.clone();
        let args: Vec<String> = [
            "-sf",
            &fixture("sipp/uac.xml").display().to_string(),
            &target.to_string(),
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-s",
            "agent",
            "-m",
            "1",
            "-timeout",
            "30",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        std::thread::spawn(move || run_sipp(&dir, "pbx-call", &args, Duration::from_secs(40)))
    };
    let mut answered = None;
    wait_until(Duration::from_secs(10), || {
        let calls = crate::support::get_json(agent.control, "/v1/calls");
        answered = calls.as_array().and_then(|calls| {
            calls
                .iter()
                .find(|c| {
                    c["state"] == "ringing"
                        && c["remote"].as_str().is_some_and(|r| r.contains("sipp"))
                })
                .and_then(|c| c["id"].as_str().map(str::to_owned))
        });
        answered.is_some()
    });
    let id = answered.expect("the PBX's call rang during the flood");
    let (status, body) = post_json(agent.control, &format!("/v1/calls/{id}/answer"), "");
    assert_eq!(status, 200, "{body}");
    let (_, screen) = sipp.join().expect("sipp thread");
    assert_eq!(sipp_counts(&screen), (1, 0), "the PBX's call: {screen}");

    flood.join().expect("flood thread");
    stop.store(true, Ordering::Relaxed);
    let (asked, options_answered, slowest) = prober.join().expect("prober");
    let most_ringing = watcher.join().expect("watcher");
    let rss = rss_mb(pid);
    let datagrams = sent.load(Ordering::Relaxed);
    println!(
        "flood: {datagrams} datagrams in {SECONDS} s; OPTIONS {options_answered}/{asked} answered, \
         slowest {slowest:?}; most ringing {most_ringing}; RSS {rss:.1} MB"
    );
    assert!(
        datagrams >= SECONDS * PER_SECOND * 9 / 10,
        "{datagrams} sent"
    );
    assert_eq!(options_answered, asked, "every OPTIONS answered");
    assert!(
        slowest <= Duration::from_millis(100),
        "slowest OPTIONS {slowest:?}"
    );
    assert!(
        most_ringing <= MAX_RINGING,
        "{most_ringing} ringing at once"
    );
    assert!(rss < 100.0, "RSS {rss:.1} MB after the flood");
    // The agent still works: its status answers and the flood left no call up.
    assert!(wait_until(Duration::from_secs(5), || {
        agent.calls().iter().all(|c| c["state"] == "ended")
    }));
}
