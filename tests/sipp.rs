//! SIPp against recall: SIPp as caller into `recall headless --auto-answer`, and `recall call`
//! into SIPp as callee.

use std::time::Duration;

use crate::support::{
    Headless, Proc, fixture, free_port, recall, run_sipp, scratch, sipp_counts, sipp_uas,
};

fn sipp_uac_args(target: std::net::SocketAddr, extra: &[&str]) -> Vec<String> {
    scenario_args("sipp/uac.xml", target, extra)
}

/// SIPp running `scenario` as caller into `target`, with `extra` arguments.
fn scenario_args(scenario: &str, target: std::net::SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-sf".to_owned(),
        fixture(scenario).display().to_string(),
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
    // SIPp's Lost column: what it dropped of its own sends (INVITE, ACK, BYE) and of what recall
    // sent it. A dropped answer or ACK can only be repaired by recall retransmitting its 2xx.
    let (lost_sent, lost_received) = sipp_lost(&screen);
    assert!(lost_sent + lost_received > 0, "SIPp lost nothing: {screen}");
    let status = agent.status();
    let retransmissions = status["sip"]["retransmissions"].as_u64().unwrap_or(0);
    let ack_lost = sipp_lost_of(&screen, "ACK");
    if lost_received + ack_lost > 0 {
        assert!(
            retransmissions > 0,
            "{lost_received} answers and {ack_lost} ACKs lost but recall never retransmitted: \
             {status}\n{screen}"
        );
    }
}

#[test]
fn recall_call_to_a_sipp_callee_completes_and_exits_zero() {
    let dir = scratch("call-uas");
    let (mut uas, port) = sipp_uas(&dir, "sipp-uas", "sipp/uas_answer.xml", &[]);
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
    let (_uas, port) = sipp_uas(&dir, "sipp-uas", "sipp/uas_busy.xml", &[]);
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

/// Sums SIPp's Lost column over the message rows of its scenario screen: (sent, received).
fn sipp_lost(screen: &str) -> (u64, u64) {
    let mut sent = 0;
    let mut received = 0;
    for (line, lost) in lost_by_row(screen) {
        if line.contains("---->") {
            sent += lost;
        } else if line.contains("<----") {
            received += lost;
        }
    }
    (sent, received)
}

/// SIPp's Lost count on the sent row of `message` (e.g. "ACK").
fn sipp_lost_of(screen: &str, message: &str) -> u64 {
    lost_by_row(screen)
        .filter(|(l, _)| l.split_whitespace().next() == Some(message) && l.contains("---->"))
        .map(|(_, lost)| lost)
        .sum()
}

/// The message rows of the last scenario screen SIPp printed, each with the number in its Lost
/// column (found by the column's place under the header; empty cells are 0).
fn lost_by_row(screen: &str) -> impl Iterator<Item = (&str, u64)> {
    let last = screen.rfind("Scenario Screen").unwrap_or(0);
    let mut lines = screen[last..]
        .lines()
        .skip_while(|l| !l.contains("Messages"));
    let column = lines.next().and_then(|header| header.find("Lost"));
    lines
        .take_while(|l| l.contains("---->") || l.contains("<----") || l.contains("Pause"))
        .map(move |line| {
            let lost = column
                .and_then(|c| line.get(c.saturating_sub(4)..))
                .and_then(|cell| cell.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            (line, lost)
        })
}

#[test]
fn sipp_lost_columns_are_read_under_their_header() {
    let screen = "\
------------------------------ Scenario Screen -------- [1-9]: Change Screen --
                                 Messages  Retrans   Timeout   Unexp.    Lost
      INVITE ---------->         20        3         0                   3     
         100 <----------         0         0         0         0               
         200 <----------  E-RTD1 20        4         0         0         2     
         ACK ---------->         20        4                             6     
       Pause [   1000ms]         20                            0        
         BYE ---------->         20        5         0                   2     
         200 <----------         20        0         0         0         3     

------- Waiting for active calls to end. Press [q] again to force exit. -------
";
    assert_eq!(sipp_lost(screen), (11, 5));
    assert_eq!(sipp_lost_of(screen, "ACK"), 6);
    assert_eq!(sipp_lost_of(screen, "INVITE"), 3);
}

#[test]
fn sipp_gets_rfc_3261_refusals_420_416_415_and_488_before_ringing() {
    let dir = scratch("sipp-refusals");
    // Not auto-answering: a call that could ring would show a 180 (SIPp fails on it).
    let agent = Headless::start(&dir, &[]);
    let args = scenario_args("sipp/uac_conformance.xml", agent.sip, &["-m", "1"]);
    let (status, screen) = run_sipp(&dir, "sipp-refusals", &args, Duration::from_secs(40));
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    assert!(status.success(), "SIPp exit {status}\n{screen}");
    // The refused call never rang: it ended at once, saying why.
    let calls = agent.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let reason = calls[0]["end_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("488"), "{reason}");
}

#[test]
fn sipp_calls_beyond_max_calls_are_refused_486_busy_here() {
    let dir = scratch("sipp-max-calls");
    let config = dir.join("recall.toml");
    std::fs::write(&config, "[limits]\nmax_calls = 2\n").expect("config");
    let agent = Headless::start(
        &dir,
        &["--auto-answer", "--config", config.to_str().expect("utf8")],
    );
    // Three calls at once, each up for a second: the third finds two in progress.
    let args = sipp_uac_args(agent.sip, &["-m", "3", "-r", "50", "-l", "3", "-trace_err"]);
    let (_, screen) = run_sipp(&dir, "sipp-max-calls", &args, Duration::from_secs(60));
    assert_eq!(sipp_counts(&screen), (2, 1), "{screen}");
    // SIPp's error log holds the message that failed the third call: our 486.
    let errors: String = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with("_errors.log"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert!(
        errors.contains("SIP/2.0 486 Busy Here"),
        "{errors}\n{screen}"
    );
    // The refused call left no call record behind.
    assert_eq!(agent.calls().len(), 2);
}
