//! Dialog features real servers use, against SIPp: early media from a reliable 183
//! (RFC 3262 PRACK, RFC 3960), UPDATE (RFC 3311), session timers (RFC 4028: a 90 s session
//! refreshed before it runs out, by UPDATE or re-INVITE, and 422 Min-SE retries both ways).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    Headless, get_json, post_json, run_sipp, scratch, sipp_call_args, sipp_counts, sipp_finished,
    sipp_uas, wait_until, write_tone,
};

/// recall dials SIPp's port through the API; returns the call id.
fn dial(agent: &Headless, port: u16) -> String {
    let (status, call) = post_json(
        agent.control,
        "/v1/calls",
        &format!(r#"{{"to": "sip:service@127.0.0.1:{port}"}}"#),
    );
    assert_eq!(status, 201, "{call}");
    call["id"].as_str().expect("id").to_owned()
}

fn call(agent: &Headless, id: &str) -> serde_json::Value {
    get_json(agent.control, &format!("/v1/calls/{id}"))
}

/// RMS of a WAV's first channel between `from` and `to` seconds.
fn rms_between(path: &Path, from: f64, to: f64) -> f64 {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = reader.spec();
    let rate = f64::from(spec.sample_rate);
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .step_by(usize::from(spec.channels))
        .filter_map(Result::ok)
        .skip((from * rate) as usize)
        .take(((to - from) * rate) as usize)
        .map(f64::from)
        .collect();
    assert!(
        !samples.is_empty(),
        "{} is shorter than {from} s",
        path.display()
    );
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt()
}

#[test]
fn early_media_of_a_reliable_183_plays_before_the_answer_and_is_recorded() {
    let dir = scratch("early-media");
    let (mut sipp, port) = sipp_uas(&dir, "carrier", "sipp/uas_early_media_100rel.xml", &[]);
    let tone = dir.join("tone.wav");
    write_tone(&tone, 440.0, 10.0);
    let heard = dir.join("heard.wav");
    let audio = format!("file:{},{}", tone.display(), heard.display());
    let mut agent = Headless::start(&dir, &["--audio", &audio]);
    let id = dial(&agent, port);
    // The announcement plays while the call is still being placed.
    let mut seen = serde_json::Value::Null;
    let early = wait_until(Duration::from_secs(5), || {
        seen = call(&agent, &id);
        seen["state"] == "dialing"
            && seen["early_media"] == true
            && seen["codec"] == "PCMA"
            && seen["stats"]["packets_received"].as_u64().unwrap_or(0) > 50
    });
    assert!(early, "no early media: {seen}\n{}", agent.proc.log_text());
    let connected = wait_until(Duration::from_secs(15), || {
        seen = call(&agent, &id);
        seen["state"] == "connected"
    });
    assert!(connected, "{seen}");
    assert_eq!(seen["early_media"], false);
    std::thread::sleep(Duration::from_millis(1000));
    let (status, view) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        sipp_finished(&dir, "carrier", &mut sipp, Duration::from_secs(20)),
        (1, 0),
        "SIPp (PRACK with the right RAck, then the call): {}",
        agent.proc.log_text()
    );
    assert!(agent.proc.terminate(Duration::from_secs(10)).success());
    // SIPp's announcement ends before its 200 (at 7.5 s): whatever of it the recording holds
    // was heard as early media, and the answered call after it is silent.
    let (_, seconds) = crate::support::wav_level(&heard);
    assert!(
        seconds > 7.5,
        "the recording covers the early media: {seconds:.1} s"
    );
    let early_level = rms_between(&heard, 0.5, 6.5);
    assert!(
        early_level > 300.0,
        "early audio in the recording: rms {early_level:.0}"
    );
    let answered_level = rms_between(&heard, seconds - 0.8, seconds - 0.1);
    assert!(
        answered_level < early_level / 10.0,
        "after the answer: rms {answered_level:.0}"
    );
}

#[test]
fn a_422_with_min_se_makes_recall_ask_again_for_the_larger_interval() {
    let dir = scratch("session-422");
    let (mut sipp, port) = sipp_uas(&dir, "floor", "sipp/uas_session_timer_422.xml", &[]);
    let agent = Headless::start(&dir, &[]);
    let id = dial(&agent, port);
    assert!(
        wait_until(Duration::from_secs(10), || call(&agent, &id)["state"]
            == "connected"),
        "{}\n{}",
        call(&agent, &id),
        agent.proc.log_text()
    );
    let (status, _) = post_json(agent.control, &format!("/v1/calls/{id}/hangup"), "");
    assert_eq!(status, 200);
    assert_eq!(
        sipp_finished(&dir, "floor", &mut sipp, Duration::from_secs(20)),
        (1, 0),
        "{}",
        agent.proc.log_text()
    );
}

#[test]
fn recall_refreshes_a_90_s_session_by_update_before_it_runs_out() {
    let dir = scratch("session-refresh-update");
    let (mut sipp, port) = sipp_uas(
        &dir,
        "timer",
        "sipp/uas_session_refresh.xml",
        &["-timeout", "90"],
    );
    let agent = Headless::start(&dir, &[]);
    let id = dial(&agent, port);
    // A loaded machine (the whole suite on two cores) may take a while to connect.
    assert!(
        wait_until(Duration::from_secs(20), || call(&agent, &id)["state"]
            == "connected"),
        "{}\n{}\n{}",
        call(&agent, &id),
        agent.proc.log_text(),
        sipp.log_text()
    );
    let answered = Instant::now();
    // SIPp waits up to 60 s for the UPDATE, answers it, then hangs up.
    let counts = sipp_finished(&dir, "timer", &mut sipp, Duration::from_secs(90));
    let took = answered.elapsed();
    assert_eq!(counts, (1, 0), "{}", agent.proc.log_text());
    assert!(
        took >= Duration::from_secs(40),
        "the refresh came at half the interval (45 s), not {took:?}"
    );
    let ended = wait_until(Duration::from_secs(5), || {
        call(&agent, &id)["end_reason"] == "remote party hung up"
    });
    assert!(ended, "{}", call(&agent, &id));
}

/// SIPp calls recall (headless with `extra`) with `scenario` and must succeed; then recall's
/// one call ended with SIPp's BYE.
fn sipp_calls(name: &str, scenario: &str, extra: &[&str], timeout: u64) {
    let dir = scratch(name);
    let agent = Headless::start(&dir, extra);
    let mut args = sipp_call_args(scenario, agent.sip);
    args.extend(["-timeout".to_owned(), timeout.to_string()]);
    let (status, screen) = run_sipp(&dir, name, &args, Duration::from_secs(timeout));
    assert_eq!(
        sipp_counts(&screen),
        (1, 0),
        "{screen}\n{}",
        agent.proc.log_text()
    );
    assert!(status.success());
    let calls = agent.calls();
    assert_eq!(calls.len(), 1, "one call (a 422 makes none)");
    assert_eq!(
        calls[0]["end_reason"], "remote party hung up",
        "{}",
        calls[0]
    );
}

#[test]
fn a_caller_requiring_100rel_gets_a_reliable_180_and_can_hold_by_update() {
    sipp_calls(
        "uac-100rel-update",
        "sipp/uac_100rel_update.xml",
        &["--auto-answer", "1"],
        40,
    );
}

#[test]
fn a_callers_session_below_min_se_gets_422_and_recall_refreshes_the_next_by_reinvite() {
    let started = Instant::now();
    sipp_calls(
        "uac-session-timer",
        "sipp/uac_session_timer.xml",
        &["--auto-answer"],
        90,
    );
    assert!(
        started.elapsed() >= Duration::from_secs(40),
        "the refresh came at half the interval (45 s), not after {:?}",
        started.elapsed()
    );
}
