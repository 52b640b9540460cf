//! Instant transfer at Asterisk-style PBXs: SIPp plays the PBX that rings a callback in and
//! then takes the agent's blind transfer in each of the ways real PBXs do (only "100 Trying"
//! for a queue or IVR, a BYE of its own, a quick busy, a 200 after two seconds, no NOTIFY at
//! all, a 200 after the agent was released, a dialog already gone). Each test says when the
//! agent's leg ended or came back and what the call and the interaction's timeline say.

use std::time::{Duration, Instant};

use crate::support::{
    Headless, get_json, post_json, run_sipp, scratch, sipp_call_args, sipp_counts, wait_until,
};

/// The default grace (`[callbacks] transfer_grace_ms`).
const GRACE: Duration = Duration::from_secs(3);

/// The agent, answering by itself, and the PBX ringing one callback in with `scenario`.
struct Desk {
    agent: Headless,
    pbx: std::thread::JoinHandle<(std::process::ExitStatus, String)>,
    call: String,
    interaction: String,
}

impl Desk {
    fn start(name: &str, scenario: &str) -> Self {
        let dir = scratch(name);
        let agent = Headless::start(&dir, &["--auto-answer"]);
        let args = sipp_call_args(scenario, agent.sip);
        let pbx = std::thread::spawn(move || run_sipp(&dir, "pbx", &args, Duration::from_secs(40)));
        let mut call = serde_json::Value::Null;
        assert!(
            wait_until(Duration::from_secs(10), || {
                call = agent.calls().first().cloned().unwrap_or_default();
                call["state"] == "connected"
            }),
            "the callback was answered: {call}"
        );
        Self {
            call: call["id"].as_str().expect("call id").to_owned(),
            interaction: call["interaction_id"]
                .as_str()
                .expect("interaction id")
                .to_owned(),
            agent,
            pbx,
        }
    }

    fn call(&self) -> serde_json::Value {
        get_json(self.agent.control, &format!("/v1/calls/{}", self.call))
    }

    fn interaction(&self) -> serde_json::Value {
        get_json(
            self.agent.control,
            &format!("/v1/interactions/{}", self.interaction),
        )
    }

    /// Transfers the call to the queue; returns when the request was made.
    fn transfer_to_queue(&self) -> Instant {
        let asked = Instant::now();
        let (status, view) = post_json(
            self.agent.control,
            &format!("/v1/calls/{}/transfer", self.call),
            r#"{"target": "sip:transfer-target-queue@127.0.0.1:9"}"#,
        );
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["transfer"], "trying", "{view}");
        asked
    }

    /// Waits until the call is in `state`; returns how long after `since` that was.
    fn wait_state(&self, state: &str, since: Instant, limit: Duration) -> Duration {
        assert!(
            wait_until(limit, || self.call()["state"] == state),
            "the call never became {state}: {}",
            self.call()
        );
        since.elapsed()
    }

    /// The `transferred` entries of the timeline.
    fn transferred(&self) -> Vec<serde_json::Value> {
        self.interaction()["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .filter(|e| e["kind"] == "transferred")
            .cloned()
            .collect()
    }

    /// SIPp's verdict: every message of its scenario went as written.
    fn pbx_succeeded(self) {
        let (_, screen) = self.pbx.join().expect("sipp");
        assert_eq!(sipp_counts(&screen), (1, 0), "{screen}");
    }
}

#[test]
fn a_queue_that_only_says_trying_releases_the_agent_after_the_grace_unconfirmed() {
    let desk = Desk::start("it-trying-only", "sipp/uac_pbx_refer_trying_only.xml");
    let asked = desk.transfer_to_queue();
    let released = desk.wait_state("ended", asked, GRACE + Duration::from_secs(3));
    assert!(
        released <= GRACE + Duration::from_secs(1)
            && released >= GRACE - Duration::from_millis(500),
        "released {released:?} after the transfer was asked, with a grace of {GRACE:?}"
    );
    let call = desk.call();
    assert_eq!(call["transfer"], "unconfirmed", "{call}");
    assert_eq!(
        call["end_reason"],
        "transferred to sip:transfer-target-queue@127.0.0.1:9 (unconfirmed)"
    );
    let entries = desk.transferred();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "unconfirmed");
    assert_eq!(
        entries[0]["target"],
        "sip:transfer-target-queue@127.0.0.1:9"
    );
    let interaction = desk.interaction();
    assert_eq!(interaction["state"], "ended", "ready for the disposition");
    desk.pbx_succeeded();
}

#[test]
fn a_bye_from_the_pbx_after_it_accepted_completes_the_transfer() {
    let desk = Desk::start("it-bye", "sipp/uac_pbx_refer_bye.xml");
    let asked = desk.transfer_to_queue();
    let released = desk.wait_state("ended", asked, Duration::from_secs(5));
    assert!(released < GRACE, "ended by the PBX's BYE: {released:?}");
    let call = desk.call();
    assert_eq!(call["transfer"], "confirmed", "{call}");
    assert_eq!(
        call["end_reason"],
        "transferred to sip:transfer-target-queue@127.0.0.1:9 (completed by the PBX)",
        "not the customer hanging up"
    );
    let entries = desk.transferred();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "confirmed");
    assert_eq!(
        entries[0]["detail"],
        "completed by the PBX (it ended our call)"
    );
    desk.pbx_succeeded();
}

#[test]
fn a_busy_target_inside_the_grace_brings_the_call_back_off_hold() {
    let desk = Desk::start("it-busy", "sipp/uac_pbx_refer_busy_late.xml");
    let asked = desk.transfer_to_queue();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let call = desk.call();
            call["state"] == "connected"
                && call["transfer"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("failed"))
        }),
        "{}",
        desk.call()
    );
    let back = asked.elapsed();
    assert!(back < GRACE + Duration::from_secs(1), "back after {back:?}");
    assert_eq!(
        desk.call()["transfer"],
        "failed: the target answered 486 Busy Here"
    );
    let entries = desk.transferred();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "failed");
    assert_eq!(entries[0]["detail"], "the target answered 486 Busy Here");
    assert_eq!(desk.interaction()["state"], "connected");
    // Still within the grace's time: nothing releases the call that came back.
    std::thread::sleep(GRACE);
    assert_eq!(desk.call()["state"], "connected");
    let (status, _) = post_json(
        desk.agent.control,
        &format!("/v1/calls/{}/hangup", desk.call),
        "",
    );
    assert_eq!(status, 200);
    desk.pbx_succeeded();
}

#[test]
fn a_200_two_seconds_after_the_202_confirms_the_transfer() {
    let desk = Desk::start("it-ok", "sipp/uac_pbx_refer_ok_after_2s.xml");
    let asked = desk.transfer_to_queue();
    let released = desk.wait_state("ended", asked, Duration::from_secs(6));
    assert!(
        released >= Duration::from_secs(2) && released < GRACE,
        "released by the 200 after {released:?}"
    );
    let call = desk.call();
    assert_eq!(call["transfer"], "confirmed", "{call}");
    let entries = desk.transferred();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "confirmed");
    assert!(entries[0].get("late").is_none(), "{entries:?}");
    desk.pbx_succeeded();
}

#[test]
fn a_pbx_that_sends_no_notify_releases_the_agent_after_the_grace() {
    let desk = Desk::start("it-no-notify", "sipp/uac_pbx_refer_no_notify.xml");
    let asked = desk.transfer_to_queue();
    let released = desk.wait_state("ended", asked, GRACE + Duration::from_secs(3));
    assert!(
        released <= GRACE + Duration::from_secs(1)
            && released >= GRACE - Duration::from_millis(500),
        "released {released:?} after the transfer was asked"
    );
    assert_eq!(desk.call()["transfer"], "unconfirmed");
    assert_eq!(desk.transferred()[0]["outcome"], "unconfirmed");
    desk.pbx_succeeded();
}

#[test]
fn a_notify_after_the_release_is_answered_and_recorded_as_a_late_outcome() {
    let desk = Desk::start("it-late", "sipp/uac_pbx_refer_late_ok.xml");
    let asked = desk.transfer_to_queue();
    desk.wait_state("ended", asked, GRACE + Duration::from_secs(3));
    assert!(
        wait_until(Duration::from_secs(5), || desk.call()["transfer"]
            == "confirmed"),
        "{}",
        desk.call()
    );
    let entries = desk.transferred();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["outcome"], "unconfirmed");
    assert_eq!(entries[1]["outcome"], "confirmed");
    assert_eq!(entries[1]["late"], true);
    // SIPp's scenario expects a 200 to that NOTIFY: the subscription outlived the BYE.
    desk.pbx_succeeded();
}

#[test]
fn a_failed_transfer_whose_dialog_is_gone_at_the_pbx_ends_the_call() {
    let desk = Desk::start("it-481", "sipp/uac_pbx_refer_busy_then_481.xml");
    let asked = desk.transfer_to_queue();
    desk.wait_state("ended", asked, Duration::from_secs(5));
    let call = desk.call();
    assert_eq!(
        call["end_reason"], "the peer no longer has the call (481 Call/Transaction Does Not Exist)",
        "{call}"
    );
    assert_eq!(
        call["transfer"],
        "failed: the target answered 486 Busy Here"
    );
    assert_eq!(desk.interaction()["state"], "ended", "no zombie");
    desk.pbx_succeeded();
}
