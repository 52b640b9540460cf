//! SIPp against recall: SIPp as caller into `recall headless --auto-answer`, and `recall call`
//! into SIPp as callee.

use std::time::Duration;

use crate::support::{Headless, Proc, fixture, free_port, recall, run_sipp, scratch, sipp_counts};

fn sipp_uac_args(target: std::net::SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-sf".to_owned(),
        fixture("sipp/uac.xml").display().to_string(),
        target.to_string(),
        "-i".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        free_port().to_string(),
        "-s".to_owned(),
        "agent".to_owned(),
        "-timeout".to_owned(),
        "60".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[test]
fn sipp_calls_are_answered_by_headless_auto_answer() {
    let dir = scratch("sipp-uac");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let args = sipp_uac_args(agent.sip, &["-m", "20", "-r", "10", "-l", "20"]);
    let (status, screen) = run_sipp(&dir, "sipp-uac", &args, Duration::from_secs(60));
    assert_eq!(sipp_counts(&screen), (20, 0), "{screen}");
    assert!(status.success(), "SIPp exit {status}");
    let calls = agent.calls();
    assert_eq!(calls.len(), 20);
    for call in &calls {
        assert_eq!(call["state"], "ended", "{call}");
        assert_eq!(call["direction"], "inbound");
        assert_eq!(call["codec"], "PCMU");
        assert_eq!(call["end_reason"], "remote party hung up");
        let remote = call["remote"].as_str().unwrap_or_default();
        assert!(remote.starts_with("sip:sipp@127.0.0.1:"), "{remote}");
    }
}

#[test]
fn sipp_calls_survive_ten_percent_loss() {
    let dir = scratch("sipp-uac-lost");
    let agent = Headless::start(&dir, &["--auto-answer"]);
    let args = sipp_uac_args(
        agent.sip,
        &["-m", "20", "-r", "10", "-l", "20", "-lost", "10"],
    );
    let (status, screen) = run_sipp(&dir, "sipp-uac-lost", &args, Duration::from_secs(90));
    assert_eq!(sipp_counts(&screen), (20, 0), "{screen}");
    assert!(status.success(), "SIPp exit {status}");
    let status = agent.status();
    assert!(
        status["sip"]["retransmissions"].as_u64().unwrap_or(0) > 0,
        "losses were repaired by retransmission: {status}"
    );
}

fn sipp_uas(dir: &std::path::Path, scenario: &str) -> (Proc, u16) {
    crate::support::require("sipp");
    let port = free_port();
    let mut command = std::process::Command::new("sipp");
    command
        .args(["-sf", &fixture(scenario).display().to_string()])
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args(["-nostdin", "-timeout", "30", "-trace_screen"])
        .current_dir(dir);
    let proc = Proc::spawn("sipp uas", command, &dir.join("sipp-uas.log"));
    std::thread::sleep(Duration::from_millis(300));
    (proc, port)
}

#[test]
fn recall_call_to_a_sipp_callee_completes_and_exits_zero() {
    let dir = scratch("call-uas");
    let (mut uas, port) = sipp_uas(&dir, "sipp/uas_answer.xml");
    let mut command = recall();
    command.args([
        "call",
        &format!("sip:service@127.0.0.1:{port}"),
        "--duration",
        "1",
        "--dtmf",
        "12#",
    ]);
    let mut call = Proc::spawn("recall call", command, &dir.join("recall-call.log"));
    let status = call.wait(Duration::from_secs(20));
    assert!(
        status.success(),
        "recall call exit {status}: {}",
        call.log_text()
    );
    let uas_status = uas.wait(Duration::from_secs(20));
    assert!(
        uas_status.success(),
        "SIPp uas exit {uas_status}: {}",
        uas.log_text()
    );
}

#[test]
fn recall_call_to_a_busy_callee_exits_nonzero_with_one_line() {
    let dir = scratch("call-busy");
    let (_uas, port) = sipp_uas(&dir, "sipp/uas_busy.xml");
    let output = recall()
        .args([
            "call",
            &format!("sip:service@127.0.0.1:{port}"),
            "--duration",
            "1",
        ])
        .output()
        .expect("run recall call");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "recall: call failed: busy (486 Busy Here)",
        "stderr: {stderr}"
    );
}

#[test]
fn recall_call_to_nobody_times_out_with_a_clear_reason() {
    let dir = scratch("call-timeout");
    let config = dir.join("fast.toml");
    // T1 of 50 ms makes Timer B fire after 3.2 s.
    std::fs::write(&config, "[sip]\nt1_ms = 50\n").expect("config");
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let target = silent.local_addr().expect("addr");
    let output = recall()
        .args(["call", &format!("sip:nobody@{target}")])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run recall call");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .trim()
            .ends_with("timeout: no response to INVITE (Timer B)"),
        "stderr: {stderr}"
    );
    let mut buf = [0u8; 2048];
    silent.set_nonblocking(true).expect("nonblocking");
    let mut invites = 0;
    while silent.recv(&mut buf).is_ok() {
        invites += 1;
    }
    assert_eq!(invites, 7, "the INVITE and its six retransmissions");
}

#[test]
fn sipp_calls_over_tcp_are_answered() {
    let dir = scratch("sipp-tcp");
    let tcp_port = free_port();
    let agent = crate::support::Headless::start(
        &dir,
        &[
            "--auto-answer",
            "--listen",
            &format!("tcp:127.0.0.1:{tcp_port}"),
        ],
    );
    let target: std::net::SocketAddr = format!("127.0.0.1:{tcp_port}").parse().expect("addr");
    let args = sipp_uac_args(target, &["-t", "t1", "-m", "5", "-r", "5"]);
    let (status, screen) = run_sipp(&dir, "sipp-tcp", &args, Duration::from_secs(30));
    assert_eq!(sipp_counts(&screen), (5, 0), "{screen}");
    assert!(status.success(), "SIPp exit {status}");
    let listen = agent.status()["listen"].clone();
    assert!(
        listen
            .to_string()
            .contains(&format!("tcp:127.0.0.1:{tcp_port}")),
        "{listen}"
    );
}
