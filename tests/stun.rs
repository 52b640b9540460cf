//! STUN behind a NAT: a STUN server that answers from a translated address (a NAT the test
//! stands in for: it says the SIP socket is seen as 203.0.113.7) makes recall put that
//! address in its Via and Contact, ask again every keep-alive interval, and register again
//! when the mapping changes. Nothing is ever sent to the translated address.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::Duration;

use crate::kamailio_baresip::{kamailio, registration_state};
use crate::support::{Headless, scratch, wait_until};

/// A STUN server on loopback that says every client is at 203.0.113.7:`port`.
struct Nat {
    addr: SocketAddr,
    port: Arc<AtomicU16>,
    asked: Arc<AtomicUsize>,
}

impl Nat {
    fn start(port: u16) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let addr = socket.local_addr().expect("addr");
        let mapped_port = Arc::new(AtomicU16::new(port));
        let asked = Arc::new(AtomicUsize::new(0));
        let (mapped, count) = (mapped_port.clone(), asked.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let public: SocketAddr = format!("203.0.113.7:{}", mapped.load(Ordering::SeqCst))
                    .parse()
                    .expect("addr");
                if let Some(answer) = sip::stun::binding_response(&buf[..n], public) {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        Self {
            addr,
            port: mapped_port,
            asked,
        }
    }
}

#[test]
fn the_stun_address_goes_into_contact_and_a_new_mapping_registers_again() {
    let dir = scratch("stun");
    let (kam, registrar) = kamailio(&dir);
    let nat = Nat::start(40000);
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nstun_server = \"{}\"\nkeepalive_s = 2\n\n\
             [[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"sip:{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n",
            nat.addr
        ),
    )
    .expect("config");
    let agent = Headless::start(
        &dir,
        &["--config", config.to_str().expect("utf8"), "--log-sip"],
    );
    let contact = |port: u16| format!("Contact: <sip:alice@203.0.113.7:{port}>");
    assert!(
        wait_until(Duration::from_secs(10), || {
            registration_state(&agent) == "registered"
                && agent.proc.log_text().contains(&contact(40000))
        }),
        "{}\n{}\n{}",
        agent.status(),
        agent.proc.log_text(),
        kam.log_text()
    );
    let log = agent.proc.log_text();
    assert!(log.contains("Via: SIP/2.0/UDP 203.0.113.7:40000;"), "{log}");
    // Asked again every 2 s: the binding keeps the NAT's mapping alive.
    let asked = nat.asked.load(Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(5), || nat.asked.load(Ordering::SeqCst)
            >= asked + 2),
        "STUN asked {} times",
        nat.asked.load(Ordering::SeqCst)
    );

    // The NAT gives the socket a new port: recall registers again with it.
    nat.port.store(40001, Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(6), || agent
            .proc
            .log_text()
            .contains(&contact(40001))),
        "{}",
        agent.proc.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(3), || registration_state(&agent)
            == "registered"),
        "{}",
        agent.status()
    );
    assert!(
        agent
            .proc
            .log_text()
            .contains("public address changed; registering again")
    );
}

#[test]
fn a_real_stun_server_coturn_is_understood() {
    crate::support::require("turnserver");
    let dir = scratch("stun-coturn");
    let (_kam, registrar) = kamailio(&dir);
    let port = crate::support::free_port();
    let mut command = std::process::Command::new("turnserver");
    command
        .args([
            "--stun-only",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--no-tcp",
            "-n",
        ])
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args(["-p", &port.to_string(), "--log-file", "stdout"])
        .arg("--db")
        .arg(dir.join("turndb"))
        .arg("--pidfile")
        .arg(dir.join("turn.pid"));
    let _coturn = crate::support::Proc::spawn("coturn", command, &dir.join("coturn.log"));
    std::thread::sleep(Duration::from_millis(500));
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nstun_server = \"127.0.0.1:{port}\"\n\n\
             [[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"sip:{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    // On loopback there is no NAT: coturn reports the socket's own address.
    let own = format!("public={}", agent.sip);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = agent
                .proc
                .log_text()
                .replace("\u{1b}[0m", "")
                .replace("\u{1b}[2m", "")
                .replace("\u{1b}[3m", "");
            log.contains(&own)
        }),
        "{}",
        agent.proc.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(5), || registration_state(&agent)
            == "registered"),
        "{}",
        agent.status()
    );
}

#[test]
fn a_udp_flow_to_the_registrar_is_kept_alive_with_stun_bindings_it_answers() {
    let dir = scratch("stun-flow");
    let (kam, registrar) = kamailio(&dir);
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nkeepalive_s = 1\n\n\
             [[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"sip:{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "registered"),
        "{}\n{}",
        agent.status(),
        kam.log_text()
    );
    // RFC 5626 §4.4.2: a Binding request to the registrar every keep-alive interval on the
    // flow the registration uses, answered by Kamailio's stun module on its SIP port.
    let answered = || {
        agent.status()["sip"]["keepalives_answered"]
            .as_u64()
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(6), || answered() >= 3),
        "{}",
        agent.status()
    );
    let sip = agent.status()["sip"].clone();
    let sent = sip["keepalives_sent"].as_u64().unwrap_or(0);
    assert!(sent >= answered() && sent <= answered() + 1, "{sip}");
    // Loopback has no NAT: the address the registrar sees is ours, so nothing re-registers.
    assert!(
        !agent
            .proc
            .log_text()
            .contains("public address changed; registering again"),
        "{}",
        agent.proc.log_text()
    );
}
