//! The Team Communicator's BLF (RFC 4235): recall subscribes to a colleague's dialog events
//! and shows idle, ringing, on a call and idle again as the presence server NOTIFYs them
//! (a SIPp notifier here, in order and on time).

use std::time::{Duration, Instant};

use crate::ipv6::baresip_command;
use crate::kamailio_baresip::{await_baresip, kamailio_on};
use crate::support::{
    Headless, Proc, free_port, require, run_sipp, scratch, sipp_call_args, sipp_finished, sipp_uas,
    start_baresip, wait_until, write_tone,
};

fn colleague_state(agent: &Headless) -> String {
    agent.status()["presence"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The states `agent` shows for its first colleague, in order, until `until` is seen (or
/// `limit` passes), each with when it was first seen.
fn follow(agent: &Headless, until: &[&str], limit: Duration) -> Vec<(String, Duration)> {
    let start = Instant::now();
    let mut seen: Vec<(String, Duration)> = Vec::new();
    while start.elapsed() < limit {
        let state = colleague_state(agent);
        if seen.last().is_none_or(|(last, _)| *last != state) {
            seen.push((state, start.elapsed()));
        }
        let states: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
        if states.ends_with(until) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[test]
fn a_colleagues_dialogs_show_as_idle_ringing_on_a_call_and_idle() {
    let dir = scratch("blf");
    let (mut notifier, port) = sipp_uas(&dir, "blf", "sipp/uas_blf_notifier.xml", &[]);
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[presence]\nwatch = \"dialog\"\n\
             [[desktop.targets]]\nname = \"Bob\"\nuri = \"sip:bob@127.0.0.1:{port}\"\n\
             [[desktop.targets]]\nname = \"Sales queue\"\nkind = \"queue\"\n\
             uri = \"sip:sales@127.0.0.1:{port}\"\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let presence = agent.status()["presence"].clone();
    assert_eq!(
        presence.as_array().map(Vec::len),
        Some(1),
        "only agents are watched: {presence}"
    );
    assert_eq!(presence[0]["name"], "Bob");
    let seen = follow(
        &agent,
        &["idle", "ringing", "on_call", "idle"],
        Duration::from_secs(15),
    );
    let states: Vec<&str> = seen.iter().map(|(s, _)| s.as_str()).collect();
    assert!(
        states.ends_with(&["idle", "ringing", "on_call", "idle"]),
        "{seen:?}\n{}",
        notifier.log_text()
    );
    // The NOTIFYs are 1.5 s apart: each state shows within a poll of its NOTIFY.
    let at = |i: usize| seen[seen.len() - 4 + i].1;
    for i in 1..4 {
        let gap = at(i) - at(i - 1);
        assert!(
            gap > Duration::from_millis(1200) && gap < Duration::from_millis(2000),
            "{seen:?}"
        );
    }
    let (completed, failed) = sipp_finished(&dir, "blf", &mut notifier, Duration::from_secs(10));
    assert_eq!((completed, failed), (1, 0));
}

/// A copy of Kamailio's db_text table files (pua needs a database module bound).
fn dbtext(dir: &std::path::Path) -> std::path::PathBuf {
    let source = std::path::Path::new("/usr/share/kamailio/dbtext/kamailio");
    let target = dir.join("dbtext");
    std::fs::create_dir_all(&target).expect("dbtext dir");
    for entry in std::fs::read_dir(source)
        .expect("kamailio's dbtext tables")
        .flatten()
    {
        std::fs::copy(entry.path(), target.join(entry.file_name())).expect("copy table");
    }
    target
}

/// baresip registered at `registrar` as bob, ringing until told to answer; its ctrl_tcp port.
fn ringing_bob(dir: &std::path::Path, registrar: std::net::SocketAddr) -> (Proc, u16) {
    require("baresip");
    let home = dir.join("baresip-bob");
    std::fs::create_dir_all(&home).expect("dir");
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 30.0);
    let (bob, _, ctrl) = start_baresip("baresip bob", &dir.join("baresip-bob.log"), |sip, ctrl| {
        std::fs::write(
            home.join("config"),
            format!(
                "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\naudio_source aufile,{}\n\
                 audio_player aubridge,nil\naudio_alert aubridge,nil\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
                 module aubridge.so\nmodule account.so\nmodule ctrl_tcp.so\nmodule menu.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl}\n",
                tone.display()
            ),
        )
        .expect("config");
        std::fs::write(
            home.join("accounts"),
            format!(
                "<sip:bob@127.0.0.1>;auth_pass=bob-secret;outbound=\"sip:{registrar}\";regint=60;\
                 answermode=manual\n"
            ),
        )
        .expect("accounts");
        let mut command = std::process::Command::new("baresip");
        command.arg("-f").arg(&home);
        command
    });
    await_baresip(&bob, String::new);
    (bob, ctrl)
}

/// The time until `agent` shows its first colleague in `state` (up to `limit`).
fn shows_within(agent: &Headless, state: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if colleague_state(agent) == state {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn blf_through_kamailio_follows_a_baresip_colleagues_call_within_2_s() {
    let dir = scratch("blf-kamailio");
    let db = dbtext(&dir);
    let registrar: std::net::SocketAddr =
        format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let _kamailio = kamailio_on(
        &dir,
        &[
            "WITH_PRESENCE".to_owned(),
            format!("PRESENCE_SERVER=\"sip:{registrar}\""),
            format!("DBURL=\"text://{}\"", db.display()),
        ],
        &[format!("udp:{registrar}")],
    );
    let (bob, ctrl) = ringing_bob(&dir, registrar);
    let config = dir.join("alice.toml");
    std::fs::write(
        &config,
        format!(
            "[[accounts]]\nname = \"alice\"\naor = \"sip:alice@127.0.0.1\"\n\
             registrar = \"sip:{registrar}\"\npassword = \"alice-secret\"\nexpires = 60\n\
             [presence]\nwatch = \"dialog\"\n\
             [[desktop.targets]]\nname = \"Bob\"\nuri = \"sip:bob@127.0.0.1\"\n"
        ),
    )
    .expect("config");
    let agent = Headless::start(&dir, &["--config", config.to_str().expect("utf8")]);
    let kamailio_log = || std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default();
    assert!(
        shows_within(&agent, "idle", Duration::from_secs(10)).is_some(),
        "{}\n{}",
        agent.status(),
        kamailio_log()
    );
    // A customer calls Bob through Kamailio; his phone rings until he answers.
    let mut args = sipp_call_args("sipp/uac_via_proxy.xml", registrar);
    args.extend(["-s", "bob", "-d", "3000"].map(str::to_owned));
    let caller_dir = dir.clone();
    let caller =
        std::thread::spawn(move || run_sipp(&caller_dir, "caller", &args, Duration::from_secs(40)));
    let ringing = shows_within(&agent, "ringing", Duration::from_secs(10));
    assert!(ringing.is_some(), "{}\n{}", agent.status(), kamailio_log());
    assert!(
        wait_until(Duration::from_secs(5), || bob
            .log_text()
            .contains("Incoming call")),
        "{}",
        bob.log_text()
    );
    baresip_command(ctrl, "accept", "");
    let on_call = shows_within(&agent, "on_call", Duration::from_secs(5));
    assert!(
        on_call.is_some_and(|t| t <= Duration::from_secs(2)),
        "on a call {on_call:?} after the answer\n{}",
        kamailio_log()
    );
    // SIPp hangs up after its pause; Bob is idle again within 2 s of the BYE.
    let (status, screen) = caller.join().expect("caller");
    assert!(status.success(), "{screen}");
    let idle = shows_within(&agent, "idle", Duration::from_secs(5));
    eprintln!("BLF: on a call {on_call:?} after the answer, idle {idle:?} after SIPp's BYE");
    assert!(
        idle.is_some_and(|t| t <= Duration::from_secs(2)),
        "idle {idle:?} after the hang-up\n{}",
        kamailio_log()
    );
}
