//! ICE connectivity time on loopback with all three candidate types: coturn (started here with
//! its own config) is the STUN and TURN server on 127.0.0.1, two recall processes run ICE with
//! host, server-reflexive and relayed candidates; recall A calls recall B
//! (auto-answer) `ICE_CALLS` times (default 20). Per call: the time from the call being
//! answered (state `connected`, the 200 OK read) to the call view naming the selected pair,
//! polled every millisecond. Target (issue 13): ≤ 200 ms.
//!
//! Run with `cargo bench --bench ice_connect`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Proc, free_port, get_json, plain, post, recall_headless, require, wait_until};

fn coturn(dir: &Path, port: u16) -> Proc {
    let config = dir.join("turnserver.conf");
    std::fs::write(
        &config,
        format!(
            "listening-ip=127.0.0.1\nlistening-port={port}\nrelay-ip=127.0.0.1\n\
             min-port=52000\nmax-port=52400\nrealm=recall.bench\nlt-cred-mech\nuser=agent:secret\n\
             fingerprint\nno-tls\nno-dtls\nno-cli\nno-tcp-relay\nallow-loopback-peers\n\
             pidfile={}\nlog-file=stdout\nsimple-log\n",
            dir.join("turnserver.pid").display()
        ),
    )
    .expect("coturn config");
    let log = std::fs::File::create(dir.join("coturn.log")).expect("log");
    let child = Command::new("turnserver")
        .arg("-c")
        .arg(&config)
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("start coturn");
    std::thread::sleep(Duration::from_millis(500));
    Proc(child)
}

fn start(dir: &Path, name: &str, turn: u16, auto_answer: bool) -> (Proc, SocketAddr, SocketAddr) {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[media]\ncodecs = [\"pcmu\"]\nice = true\nstun_server = \"127.0.0.1:{turn}\"\n\
             turn_server = \"127.0.0.1:{turn}\"\nturn_user = \"agent\"\nturn_password = \"secret\"\n"
        ),
    )
    .expect("config");
    recall_headless(dir, name, &config, "null", auto_answer, "info")
}

fn gathered(dir: &Path, name: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .matches("ICE candidates gathered")
        .count()
        >= 2
}

fn main() {
    require("turnserver", "apt-get install coturn");
    let calls: usize = std::env::var("ICE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("recall-ice-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let turn = free_port();
    let _coturn = coturn(&dir, turn);
    let (_b, b_sip, _) = start(&dir, "callee", turn, true);
    let (_a, _, a_control) = start(&dir, "caller", turn, false);
    let mut times = Vec::new();
    let mut kinds = Vec::new();
    for n in 0..calls {
        assert!(
            wait_until(Duration::from_secs(10), || gathered(&dir, "caller")
                && gathered(&dir, "callee")),
            "candidates not gathered; see {}",
            dir.display()
        );
        assert!(post(
            a_control,
            "/v1/calls",
            &format!(r#"{{"to": "sip:bob@{b_sip}"}}"#)
        ));
        let id = format!("c-{}", n + 1);
        let path = format!("/v1/calls/{id}");
        let start = Instant::now();
        let mut answered = None;
        let mut pair = None;
        while start.elapsed() < Duration::from_secs(10) {
            let view = get_json(a_control, &path).unwrap_or_default();
            if answered.is_none() && view["state"] == "connected" {
                answered = Some(Instant::now());
            }
            if let Some(p) = view["ice"].as_str().filter(|p| p.contains("->")) {
                pair = Some((Instant::now(), p.to_owned(), view["stats"].clone()));
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let (at, pair, _) = pair.expect("a pair was selected");
        let answered = answered.unwrap_or(at);
        times.push(at.duration_since(answered));
        kinds.push(pair);
        assert!(post(a_control, &format!("{path}/hangup"), ""));
        std::thread::sleep(Duration::from_millis(200));
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    let log = std::fs::read_to_string(dir.join("caller.log")).unwrap_or_default();
    let gathered = log
        .lines()
        .find(|l| l.contains("ICE candidates gathered"))
        .map(plain)
        .and_then(|l| l.split_once("port=").map(|(_, rest)| rest.to_owned()))
        .unwrap_or_default();
    println!(
        "ice_connect: {calls} calls; gathered: {gathered} (on loopback the server-reflexive address is the host's, so it is dropped as redundant, RFC 8445 §5.1.3: host and relay candidates each side, four pairs); answered -> pair selected: median {:.1} ms, min {:.1} ms, max {:.1} ms (target <= 200 ms); pair: {}",
        ms(median),
        ms(times[0]),
        ms(worst),
        kinds.first().cloned().unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
