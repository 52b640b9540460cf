//! Reaching real servers, measured: registrations per second over TLS at Kamailio (recall vs
//! baresip, in the same run), the cost of TLS on a first registration (UDP vs TCP vs TLS:
//! the added time is the connection and handshake), and the call-setup delay a DNS lookup adds
//! (an IP literal vs a name located by SRV and A: the first call asks, the next ones hit the
//! cache), measured from the API request to the INVITE on the wire in recall's SIP log.
//!
//! Run with `cargo bench --bench reach` (needs kamailio with kamailio-tls-modules, baresip,
//! dnsmasq and sipp: ./scripts/test.sh installs them). `REACH_ACCOUNTS=200` changes how many
//! accounts register; `REACH_ROUNDS=20` how many repetitions the latency figures take.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{Proc, free_port, get_json, plain, require, wait_until};

const RECALL: &str = env!("CARGO_BIN_EXE_recall");

fn main() {
    for (tool, hint) in [
        ("kamailio", "apt-get install kamailio kamailio-tls-modules"),
        ("baresip", "apt-get install baresip-core"),
        ("dnsmasq", "apt-get install dnsmasq-base"),
        ("sipp", "apt-get install sip-tester"),
    ] {
        require(tool, hint);
    }
    let dir = std::env::temp_dir().join(format!("recall-reach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let accounts: usize = env_or("REACH_ACCOUNTS", 100);
    let rounds: usize = env_or("REACH_ROUNDS", 20);
    let pki = dir.join("pki");
    let status = Command::new(RECALL)
        .args(["cert", "--out"])
        .arg(&pki)
        .stdout(Stdio::null())
        .status()
        .expect("recall cert");
    assert!(status.success());

    println!("# {accounts} accounts registering over TLS at Kamailio (one process each run)");
    println!(
        "{:<8} {:>9} {:>10} {:>12} {:>16}",
        "peer", "accounts", "seconds", "regs/s", "cpu ms/reg"
    );
    for peer in ["recall", "baresip"] {
        let r = registrations(&dir, &pki, peer, accounts);
        println!(
            "{:<8} {:>9} {:>10.2} {:>12.1} {:>16.3}",
            peer,
            r.registered,
            r.seconds,
            r.registered as f64 / r.seconds,
            r.cpu_ms / r.registered.max(1) as f64
        );
    }

    println!();
    println!("# First registration of one account, by transport (median of {rounds} starts)");
    println!("{:<6} {:>12} {:>12}", "over", "median ms", "p90 ms");
    for transport in ["udp", "tcp", "tls"] {
        let mut times = first_registrations(&dir, &pki, transport, rounds);
        let (median, p90) = median_p90(&mut times);
        println!("{transport:<6} {median:>12.2} {p90:>12.2}");
    }

    println!();
    println!("# Call setup: API request to INVITE on the wire (median of {rounds} calls)");
    println!("{:<26} {:>12} {:>12}", "target", "median ms", "p90 ms");
    for (label, mut times) in dns_delay(&dir, rounds) {
        let (median, p90) = median_p90(&mut times);
        println!("{label:<26} {median:>12.2} {p90:>12.2}");
    }
}

/// Like `wait_until`, checking every 5 ms (the figures are in milliseconds).
fn poll(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median_p90(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    if times.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

/// CPU time (user + system) of a process so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    support::cpu_seconds(pid) * 1000.0
}

/// Kamailio with TLS, accepting any user with the password `bench-secret`.
fn kamailio(dir: &Path, pki: &Path) -> (Proc, SocketAddr, SocketAddr) {
    let udp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let tls: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let tls_cfg = dir.join("kamailio-tls.cfg");
    std::fs::write(
        &tls_cfg,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             certificate = {pki}/cert.pem\nprivate_key = {pki}/key.pem\n",
            pki = pki.display()
        ),
    )
    .expect("tls.cfg");
    let run = dir.join("kamailio-run");
    std::fs::create_dir_all(&run).expect("run dir");
    let log = std::fs::File::create(dir.join("kamailio.log")).expect("log");
    let child = Command::new("kamailio")
        .arg("-f")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kamailio/kamailio.cfg"))
        .args([
            "-E", "-DD", "-A", "WITH_TCP", "-A", "WITH_TLS", "-A", "BENCH",
        ])
        .arg("-A")
        .arg(format!("TLS_CFG=\"{}\"", tls_cfg.display()))
        .args([
            "-l",
            &format!("udp:{udp}"),
            "-l",
            &format!("tcp:{udp}"),
            "-l",
            &format!("tls:{tls}"),
        ])
        .arg("-Y")
        .arg(&run)
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("kamailio");
    let proc = Proc(child);
    let up = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(dir.join("kamailio.log"))
            .unwrap_or_default()
            .contains("SO_RCVBUF is finally")
    });
    assert!(up, "kamailio did not start");
    (proc, udp, tls)
}

/// `recall headless` with `config` on free loopback ports, logging at info (without colour)
/// to `log`, or at warn to nowhere; the process and its control API address.
fn headless(config: &Path, log: Option<&Path>, extra: &[&str]) -> (Proc, SocketAddr) {
    let control: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut command = Command::new(RECALL);
    command
        .args([
            "headless",
            "--listen",
            &format!("udp:127.0.0.1:{}", free_port()),
        ])
        .arg("--control")
        .arg(control.to_string())
        .arg("--config")
        .arg(config)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null());
    match log {
        Some(log) => {
            let file = std::fs::File::create(log).expect("log");
            command.env("RUST_LOG", "info").stderr(file);
        }
        None => {
            command.env("RUST_LOG", "warn").stderr(Stdio::null());
        }
    }
    (Proc(command.spawn().expect("recall")), control)
}

struct Registered {
    registered: usize,
    seconds: f64,
    cpu_ms: f64,
}

fn registrations(dir: &Path, pki: &Path, peer: &str, accounts: usize) -> Registered {
    let dir = dir.join(format!("regs-{peer}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (mut kam, _udp, tls) = kamailio(&dir, pki);
    let ca = pki.join("ca.pem");
    let started = Instant::now();
    let result = match peer {
        "recall" => {
            let mut config = String::new();
            for i in 0..accounts {
                config.push_str(&format!(
                    "[[accounts]]\nname = \"u{i}\"\naor = \"sip:u{i}@127.0.0.1\"\n\
                     registrar = \"sip:{tls};transport=tls\"\npassword = \"bench-secret\"\n\
                     expires = 600\ntls_ca = \"{}\"\n\n",
                    ca.display()
                ));
            }
            let path = dir.join("recall.toml");
            std::fs::write(&path, config).expect("config");
            let (proc, control) = headless(&path, None, &[]);
            let mut registered = 0;
            poll(Duration::from_secs(60), || {
                registered = get_json(control, "/v1/status")
                    .and_then(|s| s["registrations"].as_array().cloned())
                    .map_or(0, |r| {
                        r.iter().filter(|r| r["state"] == "registered").count()
                    });
                registered == accounts
            });
            let seconds = started.elapsed().as_secs_f64();
            Registered {
                registered,
                seconds,
                cpu_ms: cpu_ms(proc.0.id()),
            }
        }
        _ => {
            let home = dir.join("baresip");
            std::fs::create_dir_all(&home).expect("dir");
            std::fs::write(
                home.join("config"),
                format!(
                    "sip_listen 127.0.0.1:{}\nsip_cafile {}\nmodule_path /usr/lib/baresip/modules\n\
                     module g711.so\nmodule account.so\nmodule menu.so\nnet_interface 127.0.0.1\n",
                    free_port(),
                    ca.display()
                ),
            )
            .expect("config");
            let mut lines = String::new();
            for i in 0..accounts {
                lines.push_str(&format!(
                    "<sip:u{i}@127.0.0.1;transport=tls>;auth_pass=bench-secret;outbound=\"sip:{tls};transport=tls\";regint=600\n"
                ));
            }
            std::fs::write(home.join("accounts"), lines).expect("accounts");
            let log = dir.join("baresip.log");
            let file = std::fs::File::create(&log).expect("log");
            let child = Command::new("baresip")
                .arg("-f")
                .arg(&home)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("dup"))
                .stderr(file)
                .spawn()
                .expect("baresip");
            let proc = Proc(child);
            let mut registered = 0;
            poll(Duration::from_secs(60), || {
                registered = std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .matches("200 OK")
                    .count();
                registered >= accounts
            });
            let seconds = started.elapsed().as_secs_f64();
            Registered {
                registered,
                seconds,
                cpu_ms: cpu_ms(proc.0.id()),
            }
        }
    };
    kam.terminate(Duration::from_secs(5));
    result
}

/// Starts recall `rounds` times with one account registering over `transport`; the time from
/// start to registered, less the time to the control API answering (the process start).
fn first_registrations(dir: &Path, pki: &Path, transport: &str, rounds: usize) -> Vec<f64> {
    let dir = dir.join(format!("first-{transport}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let (mut kam, udp, tls) = kamailio(&dir, pki);
    let registrar = match transport {
        "udp" => format!("sip:{udp}"),
        "tcp" => format!("sip:{udp};transport=tcp"),
        _ => format!("sip:{tls};transport=tls"),
    };
    let path = dir.join("recall.toml");
    std::fs::write(
        &path,
        format!(
            "[[accounts]]\nname = \"u1\"\naor = \"sip:u1@127.0.0.1\"\nregistrar = \"{registrar}\"\n\
             password = \"bench-secret\"\nexpires = 600\ntls_ca = \"{}\"\n",
            pki.join("ca.pem").display()
        ),
    )
    .expect("config");
    let mut times = Vec::new();
    for _ in 0..rounds {
        let log = dir.join("recall.log");
        let (mut proc, _) = headless(&path, Some(&log), &[]);
        let ok = wait_until(Duration::from_secs(10), || {
            plain(&std::fs::read_to_string(&log).unwrap_or_default())
                .contains("registered account=u1")
        });
        if ok {
            let text = plain(&std::fs::read_to_string(&log).unwrap_or_default());
            let at = |needle: &str| {
                text.lines()
                    .find(|l| l.contains(needle))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(stamp)
            };
            if let (Some(listening), Some(registered)) =
                (at("SIP listening"), at("registered account=u1"))
            {
                times.push((registered - listening) * 1000.0);
            }
        }
        proc.terminate(Duration::from_secs(5));
    }
    kam.terminate(Duration::from_secs(5));
    times
}

/// Seconds since the epoch of a log line's RFC 3339 timestamp.
fn stamp(text: &str) -> Option<f64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos() as f64 / 1e9)
}

fn post(control: SocketAddr, path: &str, body: &str) -> Option<serde_json::Value> {
    let mut stream = TcpStream::connect(control).ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// Calls a SIPp callee by address and by name; for each call, the time from the API request
/// to recall's INVITE leaving (from recall's SIP log).
fn dns_delay(dir: &Path, rounds: usize) -> Vec<(String, Vec<f64>)> {
    let dir = dir.join("dns");
    std::fs::create_dir_all(&dir).expect("dir");
    let sipp_port = free_port();
    let sipp_log = std::fs::File::create(dir.join("sipp.log")).expect("log");
    let _sipp = Proc(
        Command::new("sipp")
            .args(["-sf"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sipp/uas_answer.xml"))
            .args(["-i", "127.0.0.1", "-p", &sipp_port.to_string(), "-nostdin"])
            .current_dir(&dir)
            .stdout(sipp_log)
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp"),
    );
    let dns_port = free_port();
    let _dns = Proc(
        Command::new("dnsmasq")
            .args([
                "--no-daemon",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--local=/bench.test/",
                "--pid-file=",
                "--user=root",
            ])
            .arg(format!("--port={dns_port}"))
            .arg(format!(
                "--srv-host=_sip._udp.uas.bench.test,host.bench.test,{sipp_port},10,0"
            ))
            .arg("--host-record=host.bench.test,127.0.0.1")
            // dnsmasq gives its own records a TTL of 0 unless told: a real zone's are minutes.
            .arg("--local-ttl=300")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let config = dir.join("recall.toml");
    std::fs::write(
        &config,
        format!("[dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n"),
    )
    .expect("config");
    let log = dir.join("recall.log");
    let (_recall, control) = headless(&config, Some(&log), &["--log-sip"]);
    wait_until(Duration::from_secs(5), || {
        get_json(control, "/v1/status").is_some()
    });

    let place = |to: &str| -> Option<f64> {
        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        let call = post(control, "/v1/calls", &format!("{{\"to\": \"{to}\"}}"))?;
        let id = call["id"].as_str()?.to_owned();
        let connected = wait_until(Duration::from_secs(5), || {
            get_json(control, &format!("/v1/calls/{id}")).is_some_and(|c| c["state"] == "connected")
        });
        let _ = post(control, &format!("/v1/calls/{id}/hangup"), "");
        if !connected {
            return None;
        }
        // The last INVITE sent is this call's.
        let text = plain(&std::fs::read_to_string(&log).ok()?);
        let lines: Vec<&str> = text.lines().collect();
        let sent = lines.windows(2).rev().find_map(|w| {
            (w[0].contains("send to") && w[1].starts_with("INVITE ")).then_some(w[0])
        })?;
        let at = stamp(sent.split_whitespace().next()?)?;
        Some((at - before) * 1000.0)
    };
    let literal = format!("sip:service@127.0.0.1:{sipp_port}");
    let mut by_address = Vec::new();
    let mut first = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..rounds {
        by_address.extend(place(&literal));
    }
    first.extend(place("sip:service@uas.bench.test"));
    for _ in 0..rounds {
        cached.extend(place("sip:service@uas.bench.test"));
    }
    vec![
        ("IP literal".to_owned(), by_address),
        ("name, first (DNS asked)".to_owned(), first),
        ("name, cached".to_owned(), cached),
    ]
}
