//! Real peers through a real registrar: recall registers with digest auth at Kamailio and calls
//! a baresip registered there; audio flows both ways. A wrong password fails clearly.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{
    Headless, Proc, fixture, free_port, get_json, post_json, require, scratch, start_baresip,
    wait_until, wav_level, write_tone,
};

/// Kamailio on a free loopback port with the fixture config (UDP only, one process).
pub(crate) fn kamailio(dir: &Path) -> (Proc, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let proc = kamailio_on(dir, &[], &[format!("udp:{addr}")]);
    (proc, addr)
}

/// Kamailio with the fixture config, preprocessor defines (`-A`) and listen sockets (`-l`);
/// with any define it forks workers (`-DD`: still in the foreground), which TCP and TLS need.
pub(crate) fn kamailio_on(dir: &Path, defines: &[String], listen: &[String]) -> Proc {
    require("kamailio");
    let mut command = Command::new("kamailio");
    command
        .arg("-f")
        .arg(fixture("kamailio/kamailio.cfg"))
        .arg("-E")
        .args(["-Y", &dir.join("kamailio-run").display().to_string()]);
    if !defines.is_empty() {
        command.arg("-DD");
    }
    for define in defines {
        command.args(["-A", define]);
    }
    for socket in listen {
        command.args(["-l", socket]);
    }
    std::fs::create_dir_all(dir.join("kamailio-run")).expect("runtime dir");
    let proc = Proc::spawn("kamailio", command, &dir.join("kamailio.log"));
    let started = wait_until(Duration::from_secs(5), || {
        proc.log_text().contains("SO_RCVBUF is finally")
    });
    assert!(started, "kamailio did not start:\n{}", proc.log_text());
    proc
}

/// baresip registered at `registrar`, answering automatically, playing `tone` and
/// dumping what it hears into `dir`.
pub(crate) fn baresip(dir: &Path, user: &str, registrar: SocketAddr, tone: &Path) -> Proc {
    baresip_with(dir, user, &format!("sip:{registrar}"), "", tone)
}

/// baresip registered as `user` through `outbound` (a SIP URI, `;transport=tls` for TLS),
/// with `extra` config lines (`sip_cafile`, `sip_certificate`) and SIP listening on loopback.
pub(crate) fn baresip_with(
    dir: &Path,
    user: &str,
    outbound: &str,
    extra: &str,
    tone: &Path,
) -> Proc {
    require("baresip");
    let home = dir.join(format!("baresip-{user}"));
    std::fs::create_dir_all(&home).expect("baresip dir");
    let transport = outbound
        .split(";transport=")
        .nth(1)
        .map(|t| format!(";transport={t}"))
        .unwrap_or_default();
    let log = dir.join(format!("baresip-{user}.log"));
    let (phone, _, _) = start_baresip(&format!("baresip {user}"), &log, |sip, ctrl_port| {
        let config = format!(
            "sip_listen 127.0.0.1:{sip}\n\
             net_interface 127.0.0.1\n\
             audio_source aufile,{tone}\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module account.so\nmodule ctrl_tcp.so\nmodule menu.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {dump}\n{extra}",
            tone = tone.display(),
            dump = home.display(),
        );
        std::fs::write(home.join("config"), config).expect("config");
        std::fs::write(
            home.join("accounts"),
            format!(
                "<sip:{user}@127.0.0.1{transport}>;auth_pass={user}-secret;outbound=\"{outbound}\";regint=60;answermode=auto\n"
            ),
        )
        .expect("accounts");
        let mut command = Command::new("baresip");
        command.arg("-f").arg(&home);
        command
    });
    phone
}

/// baresip registered at `registrar` as `user` playing a 10 s 440 Hz tone, once its
/// registration is answered 200 (the test fails with its log, and `also`, otherwise).
pub(crate) fn registered_baresip(
    dir: &Path,
    user: &str,
    registrar: SocketAddr,
    also: impl Fn() -> String,
) -> Proc {
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 10.0);
    let phone = baresip(dir, user, registrar, &tone);
    await_baresip(&phone, &also);
    phone
}

/// Waits up to 10 s for baresip's registration to be answered 200.
pub(crate) fn await_baresip(phone: &Proc, also: impl Fn() -> String) {
    assert!(
        wait_until(Duration::from_secs(10), || phone
            .log_text()
            .contains("200 OK")),
        "{} did not register:\n{}\n{}",
        phone.name,
        phone.log_text(),
        also()
    );
}

/// Calls `to` over the control API and waits up to 10 s for it to connect; its id.
pub(crate) fn connected_call(agent: &Headless, to: &str, also: impl Fn() -> String) -> String {
    let (status, call) = post_json(agent.control, "/v1/calls", &format!(r#"{{"to": "{to}"}}"#));
    assert_eq!(status, 201, "{call}");
    let id = call["id"].as_str().expect("id").to_owned();
    let connected = wait_until(Duration::from_secs(10), || {
        get_json(agent.control, &format!("/v1/calls/{id}"))["state"] == "connected"
    });
    assert!(
        connected,
        "not connected: {}\n{}",
        agent.proc.log_text(),
        also()
    );
    id
}

/// Both sides carried the tone: recall's `recording` and what baresip (in `dir`/baresip-bob)
/// decoded each hold more than 2.5 s at an RMS over 1000.
pub(crate) fn assert_tone_both_ways(dir: &Path, recording: &Path) {
    let (rms, seconds) = wav_level(recording);
    assert!(seconds > 2.5, "recall recorded {seconds:.1} s");
    assert!(rms > 1000.0, "recall heard baresip's tone: rms {rms:.0}");
    let dump = std::fs::read_dir(dir.join("baresip-bob"))
        .expect("baresip dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip dumped what it decoded");
    let (rms, seconds) = wav_level(&dump);
    assert!(seconds > 2.5, "baresip recorded {seconds:.1} s");
    assert!(rms > 1000.0, "baresip heard recall's tone: rms {rms:.0}");
}

pub(crate) fn registration_state(agent: &Headless) -> String {
    agent.status()["registrations"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits up to 5 s for the first account's registration to reach `state`; fails with the
/// status (and `also`, e.g. the registrar's log) when it does not.
pub(crate) fn await_registration(agent: &Headless, state: &str, also: impl Fn() -> String) {
    assert!(
        wait_until(Duration::from_secs(5), || registration_state(agent)
            == state),
        "not {state}: {}\n{}",
        agent.status(),
        also()
    );
}

pub(crate) fn account_config(
    dir: &Path,
    registrar: SocketAddr,
    password: &str,
) -> std::path::PathBuf {
    let path = dir.join("alice.toml");
    std::fs::write(
        &path,
        format!(
            "[[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\nregistrar = \"sip:{registrar}\"\npassword = \"{password}\"\nexpires = 60\n"
        ),
    )
    .expect("config");
    path
}

#[test]
fn recall_registers_at_kamailio_and_talks_to_baresip_both_ways() {
    let dir = scratch("kamailio-baresip");
    let (kam, registrar) = kamailio(&dir);
    let bob = registered_baresip(&dir, "bob", registrar, String::new);
    let tone = dir.join("tone.wav");

    let recording = dir.join("recall-heard.wav");
    let audio = format!("file:{},{}", tone.display(), recording.display());
    let config = account_config(&dir, registrar, "alice-secret");
    let mut agent = Headless::start(
        &dir,
        &[
            "--config",
            config.to_str().expect("utf8"),
            "--audio",
            &audio,
        ],
    );
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "registered"),
        "recall did not register: {}\n{}",
        agent.status(),
        kam.log_text()
    );

    let id = connected_call(&agent, "sip:bob@127.0.0.1", || bob.log_text());
    std::thread::sleep(Duration::from_secs(3));
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200, "{view}");
    assert!(wait_until(Duration::from_secs(5), || bob
        .log_text()
        .contains("terminated")));

    // Stop recall so the recording is written, and check both directions carried the tone.
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    assert_tone_both_ways(&dir, &recording);
}

#[test]
fn a_wrong_password_ends_in_a_clear_registration_failure() {
    let dir = scratch("kamailio-wrong-password");
    let (_kam, registrar) = kamailio(&dir);
    let config = account_config(&dir, registrar, "not-the-password");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    await_registration(&agent, "failed", String::new);
    let reason = agent.status()["registrations"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        reason,
        "authentication failed in realm \"127.0.0.1\": check the account's username and password"
    );
}
