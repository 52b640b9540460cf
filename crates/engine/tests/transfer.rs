//! Instant transfer in virtual time: the test plays an Asterisk-style PBX that rang a callback
//! in, takes the agent's blind transfer and then says as little as such PBXs do. The grace
//! timer releases the agent's leg; NOTIFYs after the release are still answered and recorded;
//! a quick failure brings the call back; a BYE from the PBX completes the transfer.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, Host};
use api::{CallId, CallState, InteractionState, TimelineKind, TransferOutcome};
use engine::{Input, Output};
use sip::{Dest, Transport};
use test_support::sip_fixture;

const CALL_ID: &str = "cb-transfer@gms";
const QUEUE: &str = "sip:queue@127.0.0.1:9";

fn pbx() -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: "127.0.0.1:40000".parse().expect("addr"),
    }
}

/// The agent with a callback answered, and the PBX's side of the dialog.
struct Bench {
    host: Host,
    now: Instant,
    call: CallId,
    /// Our tag (the To tag the PBX uses).
    tag: String,
    /// The PBX's next CSeq.
    cseq: u32,
    /// What the phone sent, not yet looked at.
    sent: Vec<String>,
}

impl Bench {
    /// A callback rung in and auto-answered; `grace` is `[callbacks] transfer_grace_ms`.
    fn answered(grace: Duration) -> Self {
        let now = Instant::now();
        let mut host = Host::new("agent", "127.0.0.1:5073", 34000, 11, true, now);
        host.set_callbacks(engine::CallbackSettings {
            transfer_grace: grace,
            ..engine::CallbackSettings::default()
        });
        let mut bench = Self {
            host,
            now,
            call: CallId(0),
            tag: String::new(),
            cseq: 2,
            sent: Vec::new(),
        };
        let invite = sip_fixture(
            "sip/invite-callback.sip",
            &[
                ("type", "immediate"),
                ("call_id", CALL_ID),
                ("branch", "inv"),
            ],
        );
        bench.feed(&invite);
        let ok = bench.take("SIP/2.0 200 OK");
        bench.tag = header(&ok, "To")
            .split("tag=")
            .nth(1)
            .expect("a To tag")
            .to_owned();
        let ack = sip_fixture(
            "sip/ack-in-dialog.sip",
            &[
                ("to_tag", &bench.tag),
                ("call_id", CALL_ID),
                ("cseq", "1"),
                ("branch", "ack1"),
            ],
        );
        bench.feed(&ack);
        bench.call = bench.host.phone.calls()[0].id;
        assert_eq!(bench.state(), CallState::Connected);
        bench
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.host.phone.handle_input(Input::Sip {
            now: self.now,
            source: pbx(),
            bytes,
        });
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.host.phone.poll_output() {
                Output::Sip(t) => self
                    .sent
                    .push(String::from_utf8_lossy(&t.bytes).into_owned()),
                Output::Event(e) => self.host.events.push(*e),
                Output::Timeout(at) => {
                    self.host.deadline = at;
                    return;
                }
                Output::Rtp { .. }
                | Output::Resolve(_)
                | Output::TlsPeer(_)
                | Output::Recording(_) => {}
            }
        }
    }

    /// Lets `by` pass, firing the phone's timers on time.
    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while self.host.deadline <= end {
            self.now = self.host.deadline.max(self.now);
            self.host.phone.handle_input(Input::Timeout(self.now));
            self.drain();
        }
        self.now = end;
    }

    /// The first message sent that starts with `start`, taken out; panics without one.
    fn take(&mut self, start: &str) -> String {
        let at = self
            .sent
            .iter()
            .position(|m| m.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} among {:#?}", self.sent));
        self.sent.remove(at)
    }

    fn sent_any(&self, start: &str) -> bool {
        self.sent.iter().any(|m| m.starts_with(start))
    }

    /// The PBX answers a request of the phone's.
    fn answer(&mut self, request: &str, status: &str, body: &str) {
        let mut response = format!("SIP/2.0 {status}\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            response.push_str(&format!("{name}: {}\r\n", header(request, name)));
        }
        response.push_str("Contact: <sip:gms@127.0.0.1:40000>\r\n");
        if !body.is_empty() {
            response.push_str("Content-Type: application/sdp\r\n");
        }
        response.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.feed(response.as_bytes());
    }

    /// The PBX sends a NOTIFY about the REFER; returns the phone's answer's status line.
    fn notify(&mut self, frag: &str, state: &str) -> String {
        let cseq = self.cseq.to_string();
        self.cseq += 1;
        let notify = sip_fixture(
            "sip/notify-refer.sip",
            &[
                ("to_tag", &self.tag.clone()),
                ("call_id", CALL_ID),
                ("cseq", &cseq),
                ("branch", &cseq),
                ("frag", frag),
                ("state", state),
            ],
        );
        self.feed(&notify);
        let answer = self.take("SIP/2.0 ");
        answer.lines().next().unwrap_or_default().to_owned()
    }

    /// The agent transfers the call to the queue; the PBX takes the hold and accepts the
    /// REFER (202).
    fn transfer_accepted(&mut self) {
        let view = self
            .host
            .phone
            .command(
                self.now,
                api::Command::Transfer {
                    call: self.call,
                    target: Some(QUEUE.to_owned()),
                    replaces: None,
                },
            )
            .expect("transfer");
        assert_eq!(view.transfer.as_deref(), Some("trying"));
        self.drain();
        let hold = self.take("INVITE ");
        assert!(hold.contains("a=sendonly"), "{hold}");
        self.answer(&hold, "200 OK", &sdp("recvonly"));
        self.take("ACK ");
        let refer = self.take("REFER ");
        assert!(header(&refer, "Refer-To").contains("queue@"), "{refer}");
        self.answer(&refer, "202 Accepted", "");
        assert_eq!(self.transfer().as_deref(), Some("accepted"));
    }

    fn state(&self) -> CallState {
        self.host.phone.call(self.call).expect("the call").state
    }

    fn transfer(&self) -> Option<String> {
        self.host.phone.call(self.call).expect("the call").transfer
    }

    /// The interaction's `transferred` entries: (outcome, detail, late).
    fn transferred(&self) -> Vec<(Option<TransferOutcome>, Option<String>, bool)> {
        let interaction = self.host.phone.interactions().pop().expect("interaction");
        interaction
            .timeline
            .into_iter()
            .filter_map(|e| match e.kind {
                TimelineKind::Transferred {
                    outcome,
                    detail,
                    late,
                    ..
                } => Some((outcome, detail, late)),
                _ => None,
            })
            .collect()
    }

    fn interaction_state(&self) -> InteractionState {
        self.host
            .phone
            .interactions()
            .pop()
            .expect("interaction")
            .state
    }
}

fn header(message: &str, name: &str) -> String {
    message
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in {message}"))
}

fn sdp(direction: &str) -> String {
    format!(
        "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
}

#[test]
fn the_grace_releases_a_transfer_that_only_says_trying_and_a_late_200_is_recorded() {
    let grace = Duration::from_secs(3);
    let mut bench = Bench::answered(grace);
    bench.transfer_accepted();
    assert_eq!(
        bench.notify("100 Trying", "active;expires=90"),
        "SIP/2.0 200 OK"
    );
    bench.advance(grace - Duration::from_millis(10));
    assert_eq!(bench.state(), CallState::Held, "still inside the grace");
    assert!(!bench.sent_any("BYE "));
    bench.advance(Duration::from_millis(20));
    let bye = bench.take("BYE ");
    assert_eq!(bench.state(), CallState::Ended, "released at the grace");
    assert_eq!(bench.transfer().as_deref(), Some("unconfirmed"));
    assert_eq!(bench.interaction_state(), InteractionState::Ended);
    assert_eq!(
        bench.transferred(),
        [(Some(TransferOutcome::Unconfirmed), None, false)]
    );
    bench.answer(&bye, "200 OK", "");
    // Half a minute later the PBX has its final word: answered 200, recorded as late.
    bench.advance(Duration::from_secs(30));
    assert_eq!(
        bench.notify("200 OK", "terminated;reason=noresource"),
        "SIP/2.0 200 OK",
        "the refer subscription outlives the BYE (RFC 5057)"
    );
    assert_eq!(bench.transfer().as_deref(), Some("confirmed"));
    assert_eq!(
        bench.transferred(),
        [
            (Some(TransferOutcome::Unconfirmed), None, false),
            (Some(TransferOutcome::Confirmed), None, true)
        ]
    );
    // The subscription is over: another NOTIFY finds nothing.
    assert_eq!(
        bench.notify("200 OK", "terminated"),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
}

#[test]
fn a_late_failure_is_recorded_without_bringing_anything_back() {
    let mut bench = Bench::answered(Duration::from_secs(2));
    bench.transfer_accepted();
    bench.advance(Duration::from_secs(3));
    let bye = bench.take("BYE ");
    bench.answer(&bye, "200 OK", "");
    assert_eq!(
        bench.notify("486 Busy Here", "terminated"),
        "SIP/2.0 200 OK"
    );
    assert_eq!(
        bench.transfer().as_deref(),
        Some("failed: the target answered 486 Busy Here")
    );
    assert_eq!(bench.state(), CallState::Ended);
    assert!(!bench.sent_any("INVITE "), "nothing to resume");
    assert_eq!(
        bench.transferred().last(),
        Some(&(
            Some(TransferOutcome::Failed),
            Some("the target answered 486 Busy Here".to_owned()),
            true
        ))
    );
}

#[test]
fn the_subscription_runs_out_with_its_expires() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench.transfer_accepted();
    bench.notify("100 Trying", "active;expires=20");
    bench.advance(Duration::from_secs(4));
    let bye = bench.take("BYE ");
    bench.answer(&bye, "200 OK", "");
    bench.advance(Duration::from_secs(25));
    assert_eq!(
        bench.notify("200 OK", "terminated"),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    assert_eq!(bench.transfer().as_deref(), Some("unconfirmed"));
}

#[test]
fn a_failure_inside_the_grace_brings_the_call_back_and_nothing_is_released_later() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench.transfer_accepted();
    bench.advance(Duration::from_secs(1));
    assert_eq!(
        bench.notify("486 Busy Here", "terminated"),
        "SIP/2.0 200 OK"
    );
    let resume = bench.take("INVITE ");
    assert!(resume.contains("a=sendrecv"), "{resume}");
    bench.answer(&resume, "200 OK", &sdp("sendrecv"));
    assert_eq!(bench.state(), CallState::Connected);
    bench.advance(Duration::from_secs(10));
    assert!(!bench.sent_any("BYE "), "{:#?}", bench.sent);
    assert_eq!(bench.state(), CallState::Connected);
    assert_eq!(
        bench.transfer().as_deref(),
        Some("failed: the target answered 486 Busy Here")
    );
    assert_eq!(bench.interaction_state(), InteractionState::Connected);
}

#[test]
fn a_200_inside_the_grace_confirms_and_the_grace_does_nothing_more() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench.transfer_accepted();
    bench.notify("100 Trying", "active");
    bench.notify("180 Ringing", "active");
    assert_eq!(bench.transfer().as_deref(), Some("ringing"));
    bench.advance(Duration::from_secs(2));
    bench.notify("200 OK", "terminated");
    bench.take("BYE ");
    assert_eq!(bench.transfer().as_deref(), Some("confirmed"));
    bench.advance(Duration::from_secs(5));
    assert_eq!(
        bench.transferred(),
        [(Some(TransferOutcome::Confirmed), None, false)]
    );
}

#[test]
fn a_bye_from_the_pbx_after_the_202_is_a_completed_transfer() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench.transfer_accepted();
    let bye = sip_fixture(
        "sip/bye-in-dialog.sip",
        &[
            ("to_tag", &bench.tag.clone()),
            ("call_id", CALL_ID),
            ("branch", "pbx"),
        ],
    );
    bench.feed(&bye);
    assert_eq!(
        bench.take("SIP/2.0 ").lines().next(),
        Some("SIP/2.0 200 OK")
    );
    let call = bench.host.phone.call(bench.call).expect("call");
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(call.transfer.as_deref(), Some("confirmed"));
    assert_eq!(
        call.end_reason.as_deref(),
        Some("transferred to sip:queue@127.0.0.1:9 (completed by the PBX)")
    );
    assert_eq!(
        bench.transferred(),
        [(
            Some(TransferOutcome::Confirmed),
            Some("completed by the PBX (it ended our call)".to_owned()),
            false
        )]
    );
}

#[test]
fn a_bye_before_the_refer_is_accepted_is_the_customer_hanging_up() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench
        .host
        .phone
        .command(
            bench.now,
            api::Command::Transfer {
                call: bench.call,
                target: Some(QUEUE.to_owned()),
                replaces: None,
            },
        )
        .expect("transfer");
    bench.drain();
    let bye = sip_fixture(
        "sip/bye-in-dialog.sip",
        &[
            ("to_tag", &bench.tag.clone()),
            ("call_id", CALL_ID),
            ("branch", "early"),
        ],
    );
    bench.feed(&bye);
    let call = bench.host.phone.call(bench.call).expect("call");
    assert_eq!(call.end_reason.as_deref(), Some("remote party hung up"));
    assert_eq!(call.transfer.as_deref(), Some("trying"));
    assert!(bench.transferred().is_empty());
}

#[test]
fn a_resume_answered_481_after_a_failed_transfer_ends_the_call() {
    let mut bench = Bench::answered(Duration::from_secs(3));
    bench.transfer_accepted();
    bench.notify("503 Service Unavailable", "terminated");
    let resume = bench.take("INVITE ");
    bench.answer(&resume, "481 Call/Transaction Does Not Exist", "");
    let call = bench.host.phone.call(bench.call).expect("call");
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(
        call.end_reason.as_deref(),
        Some("the peer no longer has the call (481 Call/Transaction Does Not Exist)")
    );
    assert_eq!(bench.interaction_state(), InteractionState::Ended);
}
