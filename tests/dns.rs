//! Reaching a server by its name: a real DNS server (dnsmasq) publishes NAPTR, SRV and A
//! records for `recall.test`; recall, told only `sip:recall.test`, locates Kamailio by RFC 3263,
//! skips a dead first target at once, registers and calls baresip through it. A name nobody
//! publishes fails in one line naming it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::kamailio_baresip::{kamailio_on, registered_baresip, registration_state};
use crate::support::{
    Headless, Proc, free_port, get_json, post_json, require, scratch, wait_until,
};

/// dnsmasq answering only for `recall.test` from the records given, on a free loopback port
/// (UDP and TCP).
fn dnsmasq(dir: &Path, records: &[String]) -> (Proc, SocketAddr) {
    require("dnsmasq");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut command = Command::new("dnsmasq");
    command
        .args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--log-queries",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--local=/recall.test/",
            "--pid-file=",
            "--user=root",
        ])
        .arg(format!("--port={}", addr.port()))
        .args(records);
    let proc = Proc::spawn("dnsmasq", command, &dir.join("dnsmasq.log"));
    let started = wait_until(Duration::from_secs(5), || {
        proc.log_text().contains("started")
    });
    assert!(started, "dnsmasq did not start:\n{}", proc.log_text());
    (proc, addr)
}

/// Kamailio listening on UDP and TCP on one free loopback port.
fn kamailio_udp_tcp(dir: &Path) -> (Proc, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let proc = kamailio_on(
        dir,
        &["WITH_TCP".to_owned()],
        &[format!("udp:{addr}"), format!("tcp:{addr}")],
    );
    (proc, addr)
}

fn config(dir: &Path, dns: SocketAddr, registrar: &str) -> std::path::PathBuf {
    let path = dir.join("alice.toml");
    std::fs::write(
        &path,
        format!(
            "[dns]\nservers = [\"{dns}\"]\n\n\
             [[accounts]]\nname = \"alice\"\naor = \"sip:alice@recall.test\"\n\
             registrar = \"{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n"
        ),
    )
    .expect("config");
    path
}

#[test]
fn recall_locates_its_registrar_by_naptr_and_srv_skips_a_dead_server_and_calls_through_it() {
    let dir = scratch("dns-srv");
    let (kam, pbx) = kamailio_udp_tcp(&dir);
    // A port where nothing listens: the first SRV target refuses the connection.
    let dead = free_port();
    let (dns_proc, dns) = dnsmasq(
        &dir,
        &[
            "--naptr-record=recall.test,10,50,s,SIP+D2T,,_sip._tcp.recall.test".to_owned(),
            format!("--srv-host=_sip._tcp.recall.test,dead.recall.test,{dead},10,0"),
            format!(
                "--srv-host=_sip._tcp.recall.test,pbx.recall.test,{},20,0",
                pbx.port()
            ),
            "--host-record=dead.recall.test,127.0.0.1".to_owned(),
            "--host-record=pbx.recall.test,127.0.0.1".to_owned(),
        ],
    );

    let bob = registered_baresip(&dir, "bob", pbx, String::new);

    let config = config(&dir, dns, "sip:recall.test");
    let tcp = format!("tcp:127.0.0.1:{}", free_port());
    let started = Instant::now();
    let agent = Headless::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--listen",
            &tcp,
            "--log-sip",
        ],
    );
    let registered = wait_until(Duration::from_secs(10), || {
        registration_state(&agent) == "registered"
    });
    assert!(
        registered,
        "recall did not register: {}\nrecall:\n{}\ndnsmasq:\n{}\nkamailio:\n{}",
        agent.status(),
        agent.proc.log_text(),
        dns_proc.log_text(),
        kam.log_text()
    );
    // The dead server was given up on its refused connection, not after Timer F (32 s).
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "registered after {took:?}");
    let status = agent.status();
    let server = status["registrations"][0]["server"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        server,
        format!("tcp:{pbx} (pbx.recall.test from _sip._tcp.recall.test)"),
        "{status}"
    );
    let log = agent.proc.log_text();
    assert!(
        log.contains(&format!("tcp:127.0.0.1:{dead}")) && log.contains("trying the next server"),
        "recall did not say it moved past the dead server:\n{log}"
    );
    let asked = dns_proc.log_text();
    for question in [
        "query[NAPTR] recall.test",
        "query[SRV] _sip._tcp.recall.test",
        "query[A] pbx.recall.test",
    ] {
        assert!(
            asked.contains(question),
            "dnsmasq was not asked {question}:\n{asked}"
        );
    }

    // A call to a user at the domain goes out through the located server and connects.
    let (status, call) = post_json(
        agent.control,
        "/v1/calls",
        r#"{"to": "sip:bob@recall.test"}"#,
    );
    assert_eq!(status, 201, "{call}");
    let id = call["id"].as_str().expect("id").to_owned();
    let connected = wait_until(Duration::from_secs(10), || {
        get_json(agent.control, &format!("/v1/calls/{id}"))["state"] == "connected"
    });
    assert!(
        connected,
        "not connected: {}\n{}\n{}",
        agent.proc.log_text(),
        kam.log_text(),
        bob.log_text()
    );
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200, "{view}");
    assert!(
        wait_until(Duration::from_secs(5), || bob
            .log_text()
            .contains("session closed")),
        "bob's call did not end: {}\n{}\n{}",
        agent.proc.log_text(),
        kam.log_text(),
        bob.log_text()
    );
}

#[test]
fn a_registrar_name_nobody_publishes_fails_in_one_line_naming_it() {
    let dir = scratch("dns-nxdomain");
    let (_dns_proc, dns) = dnsmasq(
        &dir,
        &["--host-record=pbx.recall.test,127.0.0.1".to_owned()],
    );
    let config = config(&dir, dns, "sip:nowhere.recall.test");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "failed"),
        "not failed: {}\n{}",
        agent.status(),
        agent.proc.log_text()
    );
    let status = agent.status();
    let reason = status["registrations"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("nowhere.recall.test"), "{reason}");
    assert_eq!(reason.lines().count(), 1, "{reason}");
    println!("reason: {reason}");
}

#[test]
fn recall_call_to_a_domain_with_no_account_is_routed_by_srv_and_an_unknown_domain_fails_in_one_line()
 {
    let dir = scratch("dns-dial");
    let (kam, pbx) = kamailio_udp_tcp(&dir);
    // The first server refuses the connection: the INVITE moves on to the second at once.
    let dead = free_port();
    let (_dns_proc, dns) = dnsmasq(
        &dir,
        &[
            format!("--srv-host=_sip._tcp.recall.test,dead.recall.test,{dead},5,0"),
            format!(
                "--srv-host=_sip._tcp.recall.test,pbx.recall.test,{},10,0",
                pbx.port()
            ),
            "--host-record=dead.recall.test,127.0.0.1".to_owned(),
            "--host-record=pbx.recall.test,127.0.0.1".to_owned(),
        ],
    );
    let bob = registered_baresip(&dir, "bob", pbx, String::new);
    let config = dir.join("dns-only.toml");
    std::fs::write(&config, format!("[dns]\nservers = [\"{dns}\"]\n")).expect("config");

    // No account: the domain is located (no NAPTR: SRV for each transport; TCP answers).
    let mut command = crate::support::recall();
    command.args([
        "call",
        "sip:bob@recall.test",
        "--config",
        config.to_str().expect("utf8"),
        "--duration",
        "1",
        "--log-sip",
    ]);
    let mut call = Proc::spawn("recall call", command, &dir.join("recall-call.log"));
    let status = call.wait(Duration::from_secs(20));
    assert!(
        status.success(),
        "recall call exit {status}: {}\n{}\n{}",
        call.log_text(),
        kam.log_text(),
        bob.log_text()
    );
    let log = call.log_text();
    assert!(
        log.contains(&format!("send to tcp:{pbx}")) && log.contains("INVITE sip:bob@recall.test"),
        "{log}"
    );
    assert!(
        log.contains(&format!("send to tcp:127.0.0.1:{dead}")),
        "the dead server was tried first: {log}"
    );

    // A domain nobody publishes: exit 1, one line naming it.
    let output = crate::support::recall()
        .args([
            "call",
            "sip:bob@nowhere.recall.test",
            "--config",
            config.to_str().expect("utf8"),
            "--duration",
            "1",
        ])
        .output()
        .expect("run recall call");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "recall: call failed: nowhere.recall.test does not resolve: no NAPTR, SRV or address records",
        "{stderr}"
    );
}
