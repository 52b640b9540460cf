//! Three real phones on loopback through Kamailio: an attended transfer (recall consults,
//! then hands its first caller over), with recall as transferor and as transfer target; and
//! the local conference, where each baresip hears the other through recall's mix.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::kamailio_baresip::{
    account_config, await_baresip, baresip, kamailio, registration_state,
};
use crate::support::{Headless, Proc, get_json, post_json, scratch, wait_until, write_tone};

/// Kamailio, and baresip bob (440 Hz) and carol (1000 Hz) registered there, answering by
/// themselves; each plays its tone for a minute and dumps what it hears.
fn setup(dir: &Path) -> (Proc, SocketAddr, Proc, Proc) {
    let (kam, registrar) = kamailio(dir);
    let mut phones = Vec::new();
    for (user, hz) in [("bob", 440.0), ("carol", 1000.0)] {
        let tone = dir.join(format!("{user}.wav"));
        write_tone(&tone, hz, 60.0);
        let phone = baresip(dir, user, registrar, &tone);
        await_baresip(&phone, String::new);
        phones.push(phone);
    }
    let carol = phones.pop().expect("carol");
    let bob = phones.pop().expect("bob");
    (kam, registrar, bob, carol)
}

/// recall registered at `registrar` as `user`, with these extra arguments.
fn recall_as(dir: &Path, registrar: SocketAddr, user: &str, extra: &[&str]) -> Headless {
    let config = if user == "alice" {
        account_config(dir, registrar, "alice-secret")
    } else {
        let path = dir.join(format!("{user}.toml"));
        std::fs::write(
            &path,
            format!(
                "[[accounts]]\nname = \"{user}\"\naor = \"sip:{user}@127.0.0.1\"\nregistrar = \"sip:{registrar}\"\npassword = \"{user}-secret\"\nexpires = 60\n"
            ),
        )
        .expect("config");
        path
    };
    let home = dir.join(format!("recall-{user}"));
    std::fs::create_dir_all(&home).expect("dir");
    let mut args = vec!["--config", config.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let agent = Headless::start(&home, &args);
    assert!(
        wait_until(Duration::from_secs(10), || registration_state(&agent)
            == "registered"),
        "recall {user} did not register: {}",
        agent.status()
    );
    agent
}

fn dial(agent: &Headless, to: &str) -> String {
    let (status, view) = post_json(agent.control, "/v1/calls", &format!(r#"{{"to": "{to}"}}"#));
    assert_eq!(status, 201, "{view}");
    let id = view["id"].as_str().expect("id").to_owned();
    assert!(
        wait_until(Duration::from_secs(10), || get_json(
            agent.control,
            &format!("/v1/calls/{id}")
        )["state"]
            == "connected"),
        "{to} did not answer: {}",
        get_json(agent.control, &format!("/v1/calls/{id}"))
    );
    id
}

/// Whether a baresip log shows a call with `peer` established.
fn talking_with(phone: &Proc, peer: &str) -> bool {
    phone
        .log_text()
        .lines()
        .any(|l| l.contains("Call established") && l.contains(&format!("sip:{peer}@")))
}

#[test]
fn an_attended_transfer_leaves_bob_and_carol_talking_and_recall_free() {
    let dir = scratch("three-attended");
    let (_kam, registrar, bob, carol) = setup(&dir);
    let alice = recall_as(&dir, registrar, "alice", &[]);
    let to_bob = dial(&alice, "sip:bob@127.0.0.1");
    // Consult carol: bob goes on hold.
    let (status, consult) = post_json(
        alice.control,
        &format!("/v1/calls/{to_bob}/consult"),
        r#"{"target": "sip:carol@127.0.0.1"}"#,
    );
    assert_eq!(status, 200, "{consult}");
    let to_carol = consult["id"].as_str().expect("id").to_owned();
    assert!(wait_until(Duration::from_secs(10), || {
        get_json(alice.control, &format!("/v1/calls/{to_carol}"))["state"] == "connected"
            && get_json(alice.control, &format!("/v1/calls/{to_bob}"))["state"] == "held"
    }));
    // Complete: bob is REFERred to carol, replacing recall's call with her.
    let (status, view) = post_json(
        alice.control,
        &format!("/v1/calls/{to_bob}/transfer"),
        &format!(r#"{{"replaces": "{to_carol}"}}"#),
    );
    assert_eq!(status, 200, "{view}");
    assert!(
        wait_until(Duration::from_secs(15), || talking_with(&bob, "carol")
            || talking_with(&carol, "bob")),
        "bob and carol never talked.\nbob:\n{}\ncarol:\n{}\nrecall:\n{}",
        bob.log_text(),
        carol.log_text(),
        alice.proc.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(10), || alice.status()["active_calls"]
            == 0),
        "recall still has calls: {}",
        get_json(alice.control, "/v1/calls")
    );
    let first = get_json(alice.control, &format!("/v1/calls/{to_bob}"));
    assert_eq!(first["transfer"], "confirmed", "{first}");
    println!(
        "bob:\n{}",
        bob.log_text()
            .lines()
            .filter(|l| l.contains("Call") || l.contains("REFER"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn recall_as_the_transfer_target_ends_up_talking_with_the_transferred_party() {
    let dir = scratch("three-target");
    let (_kam, registrar, bob, _carol) = setup(&dir);
    let alice = recall_as(&dir, registrar, "alice", &[]);
    // A second recall, registered as dave, answering by itself.
    let dave = recall_as(&dir, registrar, "dave", &["--auto-answer"]);
    let to_bob = dial(&alice, "sip:bob@127.0.0.1");
    let (status, consult) = post_json(
        alice.control,
        &format!("/v1/calls/{to_bob}/consult"),
        r#"{"target": "sip:dave@127.0.0.1"}"#,
    );
    assert_eq!(status, 200, "{consult}");
    let to_dave = consult["id"].as_str().expect("id").to_owned();
    assert!(wait_until(Duration::from_secs(10), || {
        get_json(alice.control, &format!("/v1/calls/{to_dave}"))["state"] == "connected"
    }));
    let (status, view) = post_json(
        alice.control,
        &format!("/v1/calls/{to_bob}/transfer"),
        &format!(r#"{{"replaces": "{to_dave}"}}"#),
    );
    assert_eq!(status, 200, "{view}");
    // dave (recall) now talks with bob, and its call with alice is over.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let calls = get_json(dave.control, "/v1/calls");
            let calls = calls.as_array().cloned().unwrap_or_default();
            let with_bob = calls.iter().any(|c| {
                c["state"] == "connected" && c["remote"].as_str().is_some_and(|r| r.contains("bob"))
            });
            let with_alice_over = calls
                .iter()
                .filter(|c| c["remote"].as_str().is_some_and(|r| r.contains("alice")))
                .all(|c| c["state"] == "ended");
            with_bob && with_alice_over
        }),
        "dave: {}\nbob:\n{}",
        get_json(dave.control, "/v1/calls"),
        bob.log_text()
    );
    assert!(wait_until(
        Duration::from_secs(10),
        || alice.status()["active_calls"] == 0
    ));
}

/// How much of `samples` (mono, 8 kHz) is a tone at `hz`: the Goertzel amplitude over the
/// RMS, √2 for a pure tone and near 0 when the tone is absent.
fn tone_share(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len() as f64;
    let (mut i, mut q) = (0.0, 0.0);
    for (k, &s) in samples.iter().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * hz * k as f64 / 8000.0;
        i += f64::from(s) * phase.cos();
        q += f64::from(s) * phase.sin();
    }
    let amplitude = 2.0 * (i * i + q * q).sqrt() / n;
    let rms = (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / n).sqrt();
    if rms < 1.0 { 0.0 } else { amplitude / rms }
}

fn decoded_dump(dir: &Path, user: &str) -> Vec<i16> {
    let path = std::fs::read_dir(dir.join(format!("baresip-{user}")))
        .expect("baresip dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("{user} dumped what it heard"));
    let mut reader = hound::WavReader::open(&path).expect("wav");
    reader.samples::<i16>().filter_map(Result::ok).collect()
}

#[test]
fn in_a_conference_each_peer_hears_the_other_through_recall() {
    let dir = scratch("three-conference");
    let (_kam, registrar, bob, carol) = setup(&dir);
    // recall itself sends silence, so what each peer hears of a tone came from the other.
    let silence = dir.join("silence.wav");
    write_tone(&silence, 0.0, 1.0);
    let audio = format!(
        "file:{},{}",
        silence.display(),
        dir.join("recall-heard.wav").display()
    );
    let alice = recall_as(&dir, registrar, "alice", &["--audio", &audio]);
    let to_bob = dial(&alice, "sip:bob@127.0.0.1");
    let (status, view) = post_json(
        alice.control,
        &format!("/v1/calls/{to_bob}/conference"),
        r#"{"target": "sip:carol@127.0.0.1"}"#,
    );
    assert_eq!(status, 200, "{view}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let calls = get_json(alice.control, "/v1/calls");
            let calls = calls.as_array().cloned().unwrap_or_default();
            calls.len() == 2
                && calls
                    .iter()
                    .all(|c| c["state"] == "connected" && c["conference"].is_u64())
        }),
        "{}",
        get_json(alice.control, "/v1/calls")
    );
    std::thread::sleep(Duration::from_secs(4));
    for call in get_json(alice.control, "/v1/calls")
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = call["id"].as_str().expect("id");
        let (status, _) = post_json(alice.control, &format!("/v1/calls/{id}/hangup"), "");
        assert_eq!(status, 200);
    }
    assert!(wait_until(Duration::from_secs(5), || {
        bob.log_text().contains("terminated") && carol.log_text().contains("terminated")
    }));
    std::thread::sleep(Duration::from_millis(500));
    let heard_by_bob = decoded_dump(&dir, "bob");
    let heard_by_carol = decoded_dump(&dir, "carol");
    // The last 3 s of each: the conference, not the first seconds bob had alone.
    let tail = |s: &[i16]| s[s.len().saturating_sub(24_000)..].to_vec();
    let (bob_hears_carol, bob_hears_himself) = (
        tone_share(&tail(&heard_by_bob), 1000.0),
        tone_share(&tail(&heard_by_bob), 440.0),
    );
    let (carol_hears_bob, carol_hears_herself) = (
        tone_share(&tail(&heard_by_carol), 440.0),
        tone_share(&tail(&heard_by_carol), 1000.0),
    );
    println!(
        "conference: bob hears carol's 1000 Hz at {bob_hears_carol:.2} (himself {bob_hears_himself:.2}); carol hears bob's 440 Hz at {carol_hears_bob:.2} (herself {carol_hears_herself:.2}); 1.41 is a pure tone"
    );
    assert!(
        bob_hears_carol > 0.8,
        "bob heard carol: {bob_hears_carol:.2}"
    );
    assert!(
        carol_hears_bob > 0.8,
        "carol heard bob: {carol_hears_bob:.2}"
    );
    assert!(
        bob_hears_himself < 0.2 && carol_hears_herself < 0.2,
        "N-1: nobody hears themselves"
    );
}
