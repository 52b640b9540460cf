//! The outcome webhook: done, reschedule and disposition are POSTed to a GMS-like server, in
//! order, retried while it fails, kept in the database's outbox across a kill -9, and never in
//! the agent's way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{
    Headless, get_json, post_json, scratch, sipp_counts, sipp_in_background, wait_until,
};

/// One request the hook server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A GMS-like HTTP server on loopback: answers each POST with the next scripted status (200
/// once the script runs out) and records the ones it answered 2xx.
struct HookServer {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Received>>>,
    attempts: Arc<Mutex<u32>>,
}

impl HookServer {
    fn start(addr: &str, script: Vec<u16>) -> Self {
        let listener = TcpListener::bind(addr).expect("bind hook server");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        let (accepted_in, attempts_in) = (accepted.clone(), attempts.clone());
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                *attempts_in.lock().expect("lock") += 1;
                let status = script.next().unwrap_or(200);
                if (200..300).contains(&status) {
                    accepted_in.lock().expect("lock").push(request);
                }
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            addr,
            accepted,
            attempts,
        }
    }

    fn accepted(&self) -> Vec<Received> {
        self.accepted.lock().expect("lock").clone()
    }

    fn attempts(&self) -> u32 {
        *self.attempts.lock().expect("lock")
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

fn config(dir: &std::path::Path, hook: SocketAddr) -> String {
    let path = dir.join("recall.toml");
    std::fs::write(
        &path,
        format!("[webhook]\nurl = \"http://{hook}/gms/outcome\"\ntoken = \"hook-secret\"\n"),
    )
    .expect("config");
    path.display().to_string()
}

/// Rings in one callback, accepts it and waits until the customer (SIPp) hangs up.
fn one_ended_callback(dir: &std::path::Path, agent: &Headless) -> String {
    let sipp = sipp_in_background(dir, "sipp-hook", "sipp/uac_callback.xml", agent.sip);
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, "/v1/interactions?state=notified")
            .as_array()
            .is_some_and(|a| !a.is_empty())
    }));
    let list = get_json(agent.control, "/v1/interactions?state=notified");
    let id = list[0]["id"].as_str().expect("id").to_owned();
    let (status, _) = post_json(agent.control, &format!("/v1/interactions/{id}/accept"), "");
    assert_eq!(status, 200);
    let (_, screen) = sipp.join().expect("sipp");
    assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    assert!(wait_until(Duration::from_secs(5), || {
        get_json(agent.control, &format!("/v1/interactions/{id}"))["state"] == "ended"
    }));
    id
}

#[test]
fn outcomes_are_posted_in_order_and_retried_while_the_server_fails() {
    let dir = scratch("webhook-retry");
    // The server is down for its first two answers.
    let hook = HookServer::start("127.0.0.1:0", vec![503, 500]);
    let config = config(&dir, hook.addr);
    let agent = Headless::start(&dir, &["--config", &config]);
    let id = one_ended_callback(&dir, &agent);

    let (status, _) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/disposition"),
        r#"{"code": "resolved"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = post_json(
        agent.control,
        &format!("/v1/interactions/{id}/note"),
        r#"{"text": "Paid by card"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
    assert_eq!(status, 200);

    // Retries wait 1 s, then 2 s.
    assert!(
        wait_until(Duration::from_secs(10), || hook.accepted().len() == 2),
        "accepted {:?} after {} attempts; log:\n{}",
        hook.accepted(),
        hook.attempts(),
        agent.proc.log_text()
    );
    let got = hook.accepted();
    assert_eq!(hook.attempts(), 4, "two failures, then two deliveries");
    let events: Vec<&str> = got
        .iter()
        .filter_map(|r| r.header("x-recall-event"))
        .collect();
    assert_eq!(events, ["disposition", "done"]);
    for request in &got {
        assert_eq!(request.path, "/gms/outcome");
        assert_eq!(request.header("authorization"), Some("Bearer hook-secret"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-recall-interaction"), Some(id.as_str()));
        assert_eq!(request.body["id"], id.as_str());
        assert_eq!(request.body["callback"]["customer_number"], "+1 555 0100");
    }
    assert_eq!(got[0].body["disposition"], "resolved");
    assert_eq!(got[0].body["state"], "ended");
    assert_eq!(got[1].body["state"], "done");
    assert_eq!(got[1].body["note"], "Paid by card");
    assert_ne!(
        got[0].header("x-recall-delivery"),
        got[1].header("x-recall-delivery"),
        "each delivery has its own key"
    );
}

#[test]
fn a_dead_server_never_blocks_the_agent_and_the_outbox_survives_kill_9() {
    let dir = scratch("webhook-outbox");
    let db = dir.join("recall.db").display().to_string();
    // Reserve an address for the hook server, and keep it closed for now.
    let hook_addr = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let config = config(&dir, hook_addr);
    let mut agent = Headless::start(&dir, &["--config", &config, "--db", &db]);
    let id = one_ended_callback(&dir, &agent);

    let started = Instant::now();
    let (status, _) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
    assert_eq!(status, 200);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "Done took {took:?} with the webhook down"
    );
    // The agent keeps working: the status answers while the delivery keeps failing.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get_json(agent.control, "/v1/status")["active_calls"], 0);
    assert!(agent.proc.log_text().contains("webhook delivery failed"));

    agent.proc.child.kill().expect("kill -9");
    let _ = agent.proc.child.wait();

    // The server comes up; the restarted agent delivers what the outbox kept.
    let hook = HookServer::start(&hook_addr.to_string(), Vec::new());
    let restarted = Headless::start(&dir, &["--config", &config, "--db", &db]);
    assert!(
        wait_until(Duration::from_secs(5), || hook.accepted().len() == 1),
        "log:\n{}",
        restarted.proc.log_text()
    );
    let got = &hook.accepted()[0];
    assert_eq!(got.header("x-recall-event"), Some("done"));
    assert_eq!(got.body["id"], id.as_str());
    assert_eq!(got.body["state"], "done");
    // Delivered once: it left the outbox, so nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hook.attempts(), 1);
}

/// The HTTPS hook server (fixtures/https/hook_server.py) with the certificate in `pki`; what
/// it received is in the returned file, a JSON line per request.
fn https_hook(
    dir: &std::path::Path,
    pki: &std::path::Path,
    port: u16,
) -> (crate::support::Proc, std::path::PathBuf) {
    crate::support::require("python3");
    let out = dir.join("hook-received.jsonl");
    let mut command = std::process::Command::new("python3");
    command
        .arg(crate::support::fixture("https/hook_server.py"))
        .arg(port.to_string())
        .arg(pki.join("cert.pem"))
        .arg(pki.join("key.pem"))
        .arg(&out);
    let proc = crate::support::Proc::spawn("https hook", command, &dir.join("hook.log"));
    assert!(
        wait_until(Duration::from_secs(5), || proc
            .log_text()
            .contains("listening")),
        "hook server did not start: {}",
        proc.log_text()
    );
    (proc, out)
}

fn lab_cert(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    let status = crate::support::recall()
        .args(["cert", "--out"])
        .arg(&out)
        .status()
        .expect("recall cert");
    assert!(status.success());
    out
}

#[test]
fn outcomes_go_to_an_https_server_checked_against_its_ca_and_wait_in_the_outbox_when_it_fails() {
    let dir = scratch("webhook-https");
    let db = dir.join("recall.db").display().to_string();
    let pki = lab_cert(&dir, "pki");
    let stranger = lab_cert(&dir, "stranger");
    let port = crate::support::free_port();
    let (hook, received) = https_hook(&dir, &pki, port);
    let write_config = |ca: &std::path::Path| {
        let path = dir.join("recall.toml");
        std::fs::write(
            &path,
            format!(
                "[webhook]\nurl = \"https://127.0.0.1:{port}/gms/outcome\"\ntoken = \"hook-secret\"\nca = \"{}\"\n",
                ca.display()
            ),
        )
        .expect("config");
        path.display().to_string()
    };

    // Trusting another CA: the delivery is refused at the handshake, logged, and kept.
    let config = write_config(&stranger.join("ca.pem"));
    let mut agent = Headless::start(&dir, &["--config", &config, "--db", &db]);
    let id = one_ended_callback(&dir, &agent);
    let (status, _) = post_json(agent.control, &format!("/v1/interactions/{id}/done"), "");
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = agent.proc.log_text();
            log.contains("webhook delivery failed") && log.contains("UnknownIssuer")
        }),
        "{}",
        agent.proc.log_text()
    );
    assert!(
        std::fs::read_to_string(&received)
            .unwrap_or_default()
            .is_empty()
    );
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());

    // Trusting the right CA: the outcome the outbox kept is delivered over HTTPS.
    let config = write_config(&pki.join("ca.pem"));
    let restarted = Headless::start(&dir, &["--config", &config, "--db", &db]);
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(
            &received
        )
        .unwrap_or_default()
        .lines()
        .count()
            == 1),
        "{}\n{}",
        restarted.proc.log_text(),
        hook.log_text()
    );
    let line = std::fs::read_to_string(&received).expect("received");
    let got: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
    assert_eq!(got["path"], "/gms/outcome");
    assert_eq!(got["headers"]["x-recall-event"], "done");
    assert_eq!(got["headers"]["authorization"], "Bearer hook-secret");
    assert_eq!(got["body"]["id"], id.as_str());
}

#[test]
fn a_bad_webhook_url_stops_the_start_with_one_line() {
    let dir = scratch("webhook-bad-url");
    let path = dir.join("recall.toml");
    std::fs::write(&path, "[webhook]\nurl = \"ftp://gms.example/outcome\"\n").expect("config");
    let output = crate::support::recall()
        .args(["headless", "--config", &path.display().to_string()])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.trim().starts_with("recall: config: webhook.url: \"ftp://gms.example/outcome\" is not an http:// or https:// URL"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
