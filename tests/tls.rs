//! SIP over TLS with real peers: Kamailio's tls module and baresip, with certificates made by
//! `recall cert` at test time. recall registers over TLS (no TLS listener of its own: the
//! server's requests come back on the connection recall opened, RFC 5923), calls baresip and
//! both hear each other; a certificate from another CA, or for another name, fails the
//! registration naming the problem; garbage and a silent peer on recall's own `tls:` listener
//! cost only their connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::kamailio_baresip::{
    assert_tone_both_ways, await_baresip, baresip_with, connected_call, kamailio_on,
    registration_state,
};
use crate::support::{
    Headless, Proc, free_port, post_json, recall, require, scratch, wait_until, write_tone,
};

/// `recall cert --out DIR [--name NAME…]`; returns DIR.
pub(crate) fn make_cert(dir: &Path, out: &str, names: &[&str]) -> PathBuf {
    let out = dir.join(out);
    let mut command = recall();
    command.arg("cert").arg("--out").arg(&out);
    for name in names {
        command.args(["--name", name]);
    }
    let output = command.output().expect("run recall cert");
    assert!(
        output.status.success(),
        "recall cert: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(out.join(file).exists(), "{file} written");
        assert!(printed.contains(file), "{printed}");
    }
    out
}

/// Kamailio serving UDP and TLS (the certificate in `pki`) on loopback.
fn kamailio_tls(dir: &Path, pki: &Path) -> (Proc, SocketAddr, SocketAddr) {
    let udp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    (kamailio_tls_on(dir, pki, udp, tls), udp, tls)
}

/// Kamailio serving UDP and TLS on the addresses given.
fn kamailio_tls_on(dir: &Path, pki: &Path, udp: SocketAddr, tls: SocketAddr) -> Proc {
    let tls_cfg = dir.join("kamailio-tls.cfg");
    std::fs::write(
        &tls_cfg,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             certificate = {pki}/cert.pem\nprivate_key = {pki}/key.pem\nca_list = {pki}/ca.pem\n\n\
             [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
            pki = pki.display()
        ),
    )
    .expect("tls.cfg");
    kamailio_on(
        dir,
        &[
            "WITH_TCP".to_owned(),
            "WITH_TLS".to_owned(),
            format!("TLS_CFG=\"{}\"", tls_cfg.display()),
        ],
        &[format!("udp:{udp}"), format!("tls:{tls}")],
    )
}

fn account(dir: &Path, registrar: &str, ca: &Path) -> PathBuf {
    account_with(dir, registrar, ca, "")
}

/// The account, after `head` (e.g. a `[sip]` section).
fn account_with(dir: &Path, registrar: &str, ca: &Path, head: &str) -> PathBuf {
    let path = dir.join("alice.toml");
    std::fs::write(
        &path,
        format!(
            "{head}[[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n\
             tls_ca = \"{}\"\n",
            ca.display()
        ),
    )
    .expect("config");
    path
}

/// recall registering over TLS at `tls` trusting `ca`, once its registration has failed
/// (within 5 s; the test fails otherwise).
fn failed_over_tls(dir: &Path, tls: SocketAddr, ca: &Path) -> Headless {
    let config = account(dir, &format!("sip:{tls};transport=tls"), ca);
    let agent = Headless::start(dir, &["--config", config.to_str().expect("utf8")]);
    assert!(
        wait_until(Duration::from_secs(5), || registration_state(&agent)
            == "failed"),
        "not failed: {}\n{}",
        agent.status(),
        agent.proc.log_text()
    );
    agent
}

fn reason(agent: &Headless) -> String {
    agent.status()["registrations"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn recall_registers_over_tls_and_talks_to_baresip_over_tls_both_ways() {
    let dir = scratch("tls-call");
    let pki = make_cert(&dir, "pki", &[]);
    let (kam, _udp, tls) = kamailio_tls(&dir, &pki);

    // baresip registers over TLS too; it listens for TLS with the same lab certificate.
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 10.0);
    let bob_cert = dir.join("bob-cert-and-key.pem");
    std::fs::write(
        &bob_cert,
        std::fs::read_to_string(pki.join("cert.pem")).expect("cert")
            + &std::fs::read_to_string(pki.join("key.pem")).expect("key"),
    )
    .expect("bob cert");
    let bob = baresip_with(
        &dir,
        "bob",
        &format!("sip:{tls};transport=tls"),
        &format!(
            "sip_cafile {}\nsip_certificate {}\n",
            pki.join("ca.pem").display(),
            bob_cert.display()
        ),
        &tone,
    );
    await_baresip(&bob, || kam.log_text());
    assert!(
        bob.log_text().contains("TLS"),
        "baresip registered over TLS:\n{}",
        bob.log_text()
    );

    let recording = dir.join("recall-heard.wav");
    let audio = format!("file:{},{}", tone.display(), recording.display());
    let config = account(
        &dir,
        &format!("sip:{tls};transport=tls"),
        &pki.join("ca.pem"),
    );
    let mut agent = Headless::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--audio",
            &audio,
            "--log-sip",
        ],
    );
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "registered"),
        "recall did not register over TLS: {}\n{}\n{}",
        agent.status(),
        agent.proc.log_text(),
        kam.log_text()
    );
    let status = agent.status();
    assert_eq!(
        status["registrations"][0]["server"].as_str(),
        Some(format!("tls:{tls}").as_str()),
        "{status}"
    );
    let log = agent.proc.log_text();
    assert!(
        log.contains("Via: SIP/2.0/TLS") && log.contains(";alias"),
        "REGISTER went over TLS with an alias:\n{log}"
    );

    let id = connected_call(&agent, "sip:bob@127.0.0.1", || {
        format!("{}\n{}", kam.log_text(), bob.log_text())
    });
    std::thread::sleep(Duration::from_secs(3));
    // baresip hangs up: its BYE reaches recall through Kamailio on recall's own connection.
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200, "{view}");
    assert!(
        wait_until(Duration::from_secs(5), || bob
            .log_text()
            .contains("session closed")),
        "bob's call did not end:\n{}",
        bob.log_text()
    );

    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    assert_tone_both_ways(&dir, &recording);
}

#[test]
fn a_certificate_from_another_ca_or_for_another_name_fails_the_registration_naming_it() {
    let dir = scratch("tls-bad-cert");
    let pki = make_cert(&dir, "pki", &[]);
    let stranger = make_cert(&dir, "stranger", &[]);
    let (_kam, _udp, tls) = kamailio_tls(&dir, &pki);

    // Trusting another CA: the server's certificate is not trusted.
    let started = Instant::now();
    let agent = failed_over_tls(&dir, tls, &stranger.join("ca.pem"));
    let why = reason(&agent);
    assert!(
        why.contains("certificate") && why.contains("UnknownIssuer"),
        "{why}"
    );
    assert_eq!(why.lines().count(), 1, "{why}");
    println!("another CA: {why} (after {:?})", started.elapsed());
    // No retry storm: one handshake, then the retry waits.
    std::thread::sleep(Duration::from_secs(3));
    let attempts = agent
        .proc
        .log_text()
        .matches("tls handshake failed")
        .count();
    assert_eq!(attempts, 1, "{}", agent.proc.log_text());
    drop(agent);

    // Trusting the right CA, but the certificate names another host.
    let dir = scratch("tls-wrong-name");
    let other = make_cert(&dir, "other", &["pbx.other.test"]);
    let (_kam, _udp, tls) = kamailio_tls(&dir, &other);
    let agent = failed_over_tls(&dir, tls, &other.join("ca.pem"));
    let why = reason(&agent);
    assert!(
        why.contains("not valid for name") && why.contains("127.0.0.1"),
        "{why}"
    );
    println!("another name: {why}");
}

/// Speaks to `addr` with `openssl s_client`, sending `input`; what came back once it holds
/// `expect` (or after 10 s).
fn openssl_client(dir: &Path, addr: SocketAddr, ca: &Path, input: &str, expect: &str) -> String {
    require("openssl");
    let out = dir.join("openssl.out");
    let file = std::fs::File::create(&out).expect("out file");
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(addr.to_string())
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(file.try_clone().expect("dup"))
        .stderr(file)
        .spawn()
        .expect("openssl");
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    wait_until(Duration::from_secs(10), || read().contains(expect));
    let _ = child.kill();
    let _ = child.wait();
    read()
}

#[test]
fn garbage_and_a_silent_peer_on_the_tls_listener_cost_only_their_connection() {
    let dir = scratch("tls-listener");
    let pki = make_cert(&dir, "pki", &[]);
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{pki}/cert.pem\"\nkey = \"{pki}/key.pem\"\n",
            pki = pki.display()
        ),
    )
    .expect("config");
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let agent = Headless::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--listen",
            &format!("tls:{tls}"),
        ],
    );
    assert!(
        agent.status()["listen"]
            .to_string()
            .contains(&format!("tls:{tls}")),
        "{}",
        agent.status()
    );

    // A peer that connects and never says a word.
    let mut silent = TcpStream::connect(tls).expect("connect");
    // Garbage instead of a ClientHello: that connection is closed at once.
    let mut garbage = TcpStream::connect(tls).expect("connect");
    garbage
        .write_all(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
        .expect("write");
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let closed = matches!(garbage.read(&mut buf), Ok(0) | Err(_))
        || matches!(garbage.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "garbage connection still open");

    // Meanwhile a real TLS client is served: an OPTIONS is answered over TLS.
    let options = format!(
        "OPTIONS sip:alice@{tls};transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls-options\r\n\
         From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:alice@{tls}>\r\n\
         Call-ID: tls-options@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let answer = openssl_client(&dir, tls, &pki.join("ca.pem"), &options, "SIP/2.0 200");
    assert!(
        answer.contains("SIP/2.0 200"),
        "openssl got: {answer}\nrecall:\n{}",
        agent.proc.log_text()
    );
    assert!(agent.status()["version"].is_string());

    // The silent peer is let go once the handshake deadline passes.
    silent
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let started = Instant::now();
    let dropped = matches!(silent.read(&mut buf), Ok(0) | Err(_));
    assert!(dropped, "silent connection still open");
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "{:?}",
        started.elapsed()
    );
    // The log line may land a moment after the connection closes.
    assert!(
        wait_until(Duration::from_secs(2), || {
            let log = agent.proc.log_text();
            log.contains("TLS handshake failed") && log.contains("no TLS handshake within")
        }),
        "{}",
        agent.proc.log_text()
    );
}

/// How many times recall's log says the account registered.
fn registered_count(agent: &Headless) -> usize {
    // The log is coloured: drop the escape sequences first.
    let mut plain = String::new();
    let mut escape = false;
    for c in agent.proc.log_text().chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, c) => plain.push(c),
        }
    }
    plain
        .lines()
        .filter(|l| l.contains("engine::registrations: registered"))
        .count()
}

#[test]
fn after_the_server_restarts_recall_registers_again_on_a_new_tls_flow() {
    let dir = scratch("tls-restart");
    let pki = make_cert(&dir, "pki", &[]);
    let (mut kam, udp, tls) = kamailio_tls(&dir, &pki);
    let config = account_with(
        &dir,
        &format!("sip:{tls};transport=tls"),
        &pki.join("ca.pem"),
        "[sip]\nkeepalive_s = 5\n\n",
    );
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "registered"),
        "not registered: {}\n{}",
        agent.status(),
        agent.proc.log_text()
    );
    let before = registered_count(&agent);

    // Kamailio goes away (its TLS flow with it) and comes back on the same addresses.
    let _ = kam.terminate(Duration::from_secs(10));
    drop(kam);
    let restarted = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let _kam = kamailio_tls_on(&dir, &pki, udp, tls);
    let again = wait_until(Duration::from_secs(5 + 8), || {
        registered_count(&agent) > before && registration_state(&agent) == "registered"
    });
    let log = agent.proc.log_text();
    assert!(again, "not registered again: {}\n{log}", agent.status());
    assert!(
        log.contains("flow to the registrar lost; registering again"),
        "{log}"
    );
    println!(
        "registered again {:.1} s after the restart began",
        restarted.elapsed().as_secs_f64()
    );
}

/// A registrar over plain TCP, written here so the test can stop it answering: it accepts
/// connections, answers each REGISTER 200 with the Contact for 60 s, answers a CRLF ping with
/// a CRLF pong while `pong` is true, and records what it saw.
struct Registrar {
    addr: SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pong: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Registrar {
    fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let pong = Arc::new(AtomicBool::new(true));
        let (seen2, pong2) = (seen.clone(), pong.clone());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let (seen, pong) = (seen2.clone(), pong2.clone());
                std::thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let Ok(k) = stream.read(&mut buf) else { return };
                        if k == 0 {
                            return;
                        }
                        pending.extend_from_slice(&buf[..k]);
                        loop {
                            if pending.starts_with(b"\r\n\r\n") {
                                pending.drain(..4);
                                seen.lock().expect("lock").push(format!("ping on {n}"));
                                if pong.load(Ordering::SeqCst) {
                                    let _ = stream.write_all(b"\r\n");
                                }
                                continue;
                            }
                            let text = String::from_utf8_lossy(&pending).into_owned();
                            let Some(end) = text.find("\r\n\r\n") else {
                                break;
                            };
                            let head = text[..end].to_owned();
                            pending.drain(..end + 4);
                            seen.lock()
                                .expect("lock")
                                .push(format!("{} on {n}", head.lines().next().unwrap_or("")));
                            let header = |name: &str| {
                                head.lines()
                                    .find(|l| {
                                        l.to_ascii_lowercase()
                                            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
                                    })
                                    .map(str::to_owned)
                                    .unwrap_or_default()
                            };
                            let answer = format!(
                                "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{};tag=reg\r\n{}\r\n{}\r\n{};expires=60\r\nContent-Length: 0\r\n\r\n",
                                header("Via"),
                                header("From"),
                                header("To"),
                                header("Call-ID"),
                                header("CSeq"),
                                header("Contact"),
                            );
                            let _ = stream.write_all(answer.as_bytes());
                        }
                    }
                });
            }
        });
        Self { addr, seen, pong }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

#[test]
fn a_flow_that_stops_answering_keep_alives_is_closed_and_the_registration_made_on_a_new_one() {
    use std::sync::atomic::Ordering;
    let dir = scratch("tcp-keepalive");
    let registrar = Registrar::start();
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[sip]\nkeepalive_s = 2\n\n[[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"sip:{};transport=tcp\"\nexpires = 60\n",
            registrar.addr
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    assert!(
        wait_until(Duration::from_secs(5), || registration_state(&agent)
            == "registered"),
        "not registered: {}\n{:?}\n{}",
        agent.status(),
        registrar.seen(),
        agent.proc.log_text()
    );
    // Quiet for 2 s: recall pings, the registrar pongs, the flow stays.
    assert!(
        wait_until(Duration::from_secs(6), || registrar
            .seen()
            .iter()
            .filter(|s| s.starts_with("ping on 0"))
            .count()
            >= 2),
        "{:?}",
        registrar.seen()
    );
    assert!(registrar.seen().iter().all(|s| !s.ends_with("on 1")));

    // The registrar goes silent (a NAT that dropped the mapping looks the same): the ping
    // goes unanswered, the flow is closed within 2 + 10 s and REGISTER goes out on a new one.
    registrar.pong.store(false, Ordering::SeqCst);
    let silent = Instant::now();
    assert!(
        wait_until(Duration::from_secs(16), || registrar
            .seen()
            .iter()
            .any(|s| s.starts_with("REGISTER") && s.ends_with("on 1"))),
        "{:?}\n{}",
        registrar.seen(),
        agent.proc.log_text()
    );
    let took = silent.elapsed();
    assert!(took >= Duration::from_secs(10), "{took:?}");
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
            .contains("no answer to the keep-alive; closing the flow")
    );
    println!(
        "new flow {:.1} s after the registrar went silent",
        took.as_secs_f64()
    );
}
