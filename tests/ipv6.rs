//! IPv6: SIP and RTP over `[::1]` with SIPp and baresip. recall listens on an IPv6 address,
//! writes IPv6 literals in brackets in its headers and `c=IN IP6` in its SDP, and the audio
//! flows.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{
    Headless, Proc, fixture, free_port, get_json, recall, require, scratch, start_baresip,
    wait_until, write_tone,
};

fn v6_config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("v6.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = [\"udp:[::1]:0\"]\n\n[media]\nrtp_ip = \"::1\"\n",
    )
    .expect("config");
    path
}

#[test]
fn recall_calls_sipp_over_ipv6_with_bracketed_headers_and_an_ip6_sdp() {
    require("sipp");
    let dir = scratch("ipv6-sipp");
    let port = free_port();
    let mut command = std::process::Command::new("sipp");
    command
        .args(["-sf", &fixture("sipp/uas_answer.xml").display().to_string()])
        .args(["-i", "::1", "-p", &port.to_string(), "-m", "1"])
        .args(["-nostdin", "-timeout", "30", "-trace_screen"])
        .current_dir(&dir);
    let mut uas = Proc::spawn("sipp uas", command, &dir.join("sipp-uas.log"));
    std::thread::sleep(Duration::from_millis(300));
    let config = v6_config(&dir);
    let mut command = recall();
    command
        .args(["call", &format!("sip:service@[::1]:{port}"), "--config"])
        .arg(&config)
        .args(["--duration", "1", "--log-sip"]);
    let mut call = Proc::spawn("recall call", command, &dir.join("recall-call.log"));
    let status = call.wait(Duration::from_secs(20));
    let log = call.log_text();
    assert!(status.success(), "recall call exit {status}: {log}");
    assert!(
        uas.wait(Duration::from_secs(20)).success(),
        "{}",
        uas.log_text()
    );
    assert!(
        log.contains(&format!("INVITE sip:service@[::1]:{port} SIP/2.0")),
        "{log}"
    );
    assert!(log.contains("Via: SIP/2.0/UDP [::1]:"), "{log}");
    assert!(log.contains("Contact: <sip:recall@[::1]:"), "{log}");
    assert!(log.contains("c=IN IP6 ::1"), "{log}");
}

/// Sends one command to baresip's ctrl_tcp (netstring-framed JSON).
pub(crate) fn baresip_command(port: u16, command: &str, params: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("ctrl_tcp");
    let body = serde_json::json!({"command": command, "params": params, "token": "t"}).to_string();
    write!(stream, "{}:{},", body.len(), body).expect("write");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    let _ = stream.read(&mut buf);
}

#[test]
fn baresip_calls_recall_over_ipv6_and_the_audio_flows_both_ways() {
    require("baresip");
    let dir = scratch("ipv6-baresip");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 10.0);
    let home = dir.join("baresip-bob");
    std::fs::create_dir_all(&home).expect("dir");
    let (bob, _, ctrl) = start_baresip("baresip bob", &dir.join("baresip.log"), |sip, ctrl| {
        std::fs::write(
            home.join("config"),
            format!(
                "sip_listen [::1]:{}\naudio_source aufile,{}\naudio_player aubridge,nil\n\
                 audio_alert aubridge,nil\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n\
                 module aufile.so\nmodule aubridge.so\nmodule account.so\nmodule ctrl_tcp.so\n\
                 module menu.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\nnet_interface ::1\nnet_prefer_ipv6 yes\n",
                sip,
                tone.display()
            ),
        )
        .expect("config");
        std::fs::write(
            home.join("accounts"),
            "<sip:bob@[::1]>;regint=0;mediaaf=ipv6\n",
        )
        .expect("accounts");
        let mut command = std::process::Command::new("baresip");
        command.arg("-f").arg(&home);
        command
    });

    let config = dir.join("v6.toml");
    std::fs::write(&config, "[media]\nrtp_ip = \"::1\"\n").expect("config");
    let sip_port = free_port();
    let agent = Headless::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--listen",
            &format!("udp:[::1]:{sip_port}"),
            "--auto-answer",
            "--log-sip",
        ],
    );
    baresip_command(ctrl, "dial", &format!("sip:alice@[::1]:{sip_port}"));
    let flowing = wait_until(Duration::from_secs(10), || {
        agent.calls().first().is_some_and(|c| {
            c["state"] == "connected"
                && c["stats"]["packets_received"].as_u64().unwrap_or(0) > 50
                && c["stats"]["packets_sent"].as_u64().unwrap_or(0) > 50
        })
    });
    assert!(
        flowing,
        "{:?}\n{}\n{}",
        agent.calls(),
        agent.proc.log_text(),
        bob.log_text()
    );
    let call = &agent.calls()[0];
    assert_eq!(call["remote"], "sip:bob@[::1]");
    let log = agent.proc.log_text();
    assert!(log.contains("c=IN IP6 ::1"), "{log}");
    assert!(
        bob.log_text().contains("receiving from [::1]:"),
        "baresip got recall's RTP over IPv6:\n{}",
        bob.log_text()
    );
    let id = call["id"].as_str().expect("id").to_owned();
    assert_eq!(
        get_json(agent.control, &format!("/v1/calls/{id}"))["state"],
        "connected"
    );

    // Dual stack: the same agent still answers over IPv4, from its IPv4 socket.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let from = probe.local_addr().expect("addr");
    let options = format!(
        "OPTIONS sip:alice@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-v4probe;rport\r\n\
         From: <sip:probe@{from}>;tag=p\r\nTo: <sip:alice@{sip}>\r\nCall-ID: v4probe@{from}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sip = agent.sip
    );
    probe.send_to(options.as_bytes(), agent.sip).expect("send");
    let mut buf = [0u8; 2048];
    let (n, answered_from) = probe.recv_from(&mut buf).expect("an answer over IPv4");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200"));
    assert_eq!(answered_from, agent.sip);
}
