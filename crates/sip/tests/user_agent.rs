//! The user agent over sipx-sip's transactions, in virtual time: what goes on the wire, when,
//! and what the layer above is told.

// Tests take one real instant as the epoch of their virtual time (and the scenario measures
// its own wall time); the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{
    AccountConfig, Credentials, Dest, EndReason, Event, Invitation, LegId, LegState, Output,
    RegistrationFailure, Transmit, Transport, UaConfig, UserAgent,
};
use test_support::{ScriptedRegistrar, sip_fixture};

const A: &str = "127.0.0.1:5061";
const B: &str = "127.0.0.1:5062";
const REGISTRAR: &str = "127.0.0.1:5060";

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

fn udp(text: &str) -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: addr(text),
    }
}

/// One user agent and everything it said.
struct Node {
    ua: UserAgent,
    addr: SocketAddr,
    events: Vec<Event>,
    sent: Vec<(Instant, Transmit)>,
}

impl Node {
    fn new(at: &str, seed: u64, now: Instant) -> Self {
        Self::with_config(at, seed, now, UaConfig::default())
    }

    fn with_config(at: &str, seed: u64, now: Instant, config: UaConfig) -> Self {
        let mut ua = UserAgent::new(config, seed, now);
        ua.set_local_addr(Transport::Udp, addr(at));
        Self {
            ua,
            addr: addr(at),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Drains outputs; returns the transmits produced now and the next deadline.
    fn drain(&mut self, now: Instant) -> (Vec<Transmit>, Instant) {
        let mut out = Vec::new();
        loop {
            match self.ua.poll_output() {
                Output::Transmit(t) => {
                    self.sent.push((now, t.clone()));
                    out.push(t);
                }
                Output::Event(e) => {
                    // Re-INVITEs are accepted at once, as the engine does.
                    if let Event::ReInvite { leg, .. } = &e {
                        self.ua
                            .accept_reinvite(now, *leg, Some(Bytes::from_static(b"v=0\r\n")))
                            .expect("accept re-INVITE");
                    }
                    self.events.push(e);
                }
                Output::Timeout(at) => return (out, at),
            }
        }
    }

    fn sent_text(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|(_, t)| String::from_utf8_lossy(&t.bytes).into_owned())
            .collect()
    }

    fn sent_starting(&self, start: &str) -> Vec<(Instant, String)> {
        self.sent
            .iter()
            .map(|(at, t)| (*at, String::from_utf8_lossy(&t.bytes).into_owned()))
            .filter(|(_, text)| text.starts_with(start))
            .collect()
    }

    fn ended(&self) -> Option<EndReason> {
        self.events.iter().find_map(|e| match e {
            Event::Ended { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    fn incoming(&self) -> Option<LegId> {
        self.events.iter().find_map(|e| match e {
            Event::IncomingCall { leg, .. } => Some(*leg),
            _ => None,
        })
    }
}

/// Decides whether a datagram from `a` or `b` with this text arrives.
type Filter = Box<dyn FnMut(char, &str) -> bool>;

/// Two user agents wired back to back; `deliver` decides which datagrams arrive.
struct Pair {
    a: Node,
    b: Node,
    now: Instant,
    t0: Instant,
    deliver: Filter,
}

impl Pair {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            a: Node::new(A, 1, t0),
            b: Node::new(B, 2, t0),
            now: t0,
            t0,
            deliver: Box::new(|_, _| true),
        }
    }

    /// Moves messages between the two until both are quiet; returns the next deadline.
    fn settle(&mut self) -> Instant {
        loop {
            let (from_a, next_a) = self.a.drain(self.now);
            let (from_b, next_b) = self.b.drain(self.now);
            if from_a.is_empty() && from_b.is_empty() {
                return next_a.min(next_b);
            }
            for t in from_a {
                if t.dest.addr == self.b.addr
                    && (self.deliver)('a', &String::from_utf8_lossy(&t.bytes))
                {
                    self.b.ua.handle_datagram(self.now, udp(A), &t.bytes);
                }
            }
            for t in from_b {
                if t.dest.addr == self.a.addr
                    && (self.deliver)('b', &String::from_utf8_lossy(&t.bytes))
                {
                    self.a.ua.handle_datagram(self.now, udp(B), &t.bytes);
                }
            }
        }
    }

    /// Runs virtual time forward by `d`, firing timers as they fall due.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self.settle();
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            self.a.ua.handle_timeout(self.now);
            self.b.ua.handle_timeout(self.now);
        }
    }

    fn call(&mut self) -> LegId {
        let leg = self.a.ua.invite(self.now, to_bob(&[])).expect("invite");
        self.settle();
        leg
    }

    fn since_start(&self, at: Instant) -> Duration {
        at - self.t0
    }
}

/// A's call to B with a session description and these extra headers.
fn to_bob(headers: &[(&str, &str)]) -> Invitation {
    Invitation {
        target: format!("sip:bob@{B}"),
        sdp: Some(Bytes::from_static(b"v=0\r\n")),
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..Invitation::default()
    }
}

#[test]
fn udp_invite_is_retransmitted_on_the_timer_a_schedule_until_timer_b() {
    let mut pair = Pair::new();
    pair.deliver = Box::new(|_, _| false);
    let leg = pair.call();
    pair.advance(Duration::from_secs(40));
    let invites: Vec<u64> = pair
        .a
        .sent_starting("INVITE ")
        .iter()
        .map(|(at, _)| pair.since_start(*at).as_millis() as u64)
        .collect();
    // RFC 3261 §17.1.1.2: Timer A starts at T1 and doubles; Timer B fires at 64*T1.
    assert_eq!(invites, [0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(pair.a.ended(), Some(EndReason::Timeout));
    assert!(EndReason::Timeout.to_string().contains("Timer B"));
    assert_eq!(pair.a.ua.leg_state(leg), None);
    assert_eq!(pair.a.ua.transaction_count(), (0, 0));
}

#[test]
fn a_call_is_set_up_and_torn_down() {
    let mut pair = Pair::new();
    let leg_a = pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.ring(pair.now, leg_b, &[]).expect("ring");
    pair.b
        .ua
        .answer(pair.now, leg_b, Some(Bytes::from_static(b"v=0\r\n")))
        .expect("answer");
    pair.settle();
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
    assert_eq!(pair.b.ua.leg_state(leg_b), Some(LegState::Confirmed));
    assert!(
        pair.a
            .events
            .iter()
            .any(|e| matches!(e, Event::Progress { status: 180, .. }))
    );
    pair.a.ua.hangup(pair.now, leg_a).expect("hangup");
    pair.advance(Duration::from_secs(40));
    assert_eq!(pair.a.ended(), Some(EndReason::Local));
    assert_eq!(pair.b.ended(), Some(EndReason::RemoteBye));
    assert_eq!(pair.a.ua.leg_count() + pair.b.ua.leg_count(), 0);
    assert_eq!(pair.a.ua.transaction_count(), (0, 0));
    assert_eq!(pair.b.ua.transaction_count(), (0, 0));
}

#[test]
fn uas_retransmits_its_2xx_until_the_ack_arrives() {
    let mut pair = Pair::new();
    // The first two ACKs are lost.
    let mut acks_dropped = 0;
    pair.deliver = Box::new(move |_, text| {
        if text.starts_with("ACK ") && acks_dropped < 2 {
            acks_dropped += 1;
            return false;
        }
        true
    });
    pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    let answered_at = pair.now;
    pair.b.ua.answer(pair.now, leg_b, None).expect("answer");
    pair.advance(Duration::from_secs(10));
    let oks: Vec<u64> = pair
        .b
        .sent_starting("SIP/2.0 200")
        .iter()
        .map(|(at, _)| (*at - answered_at).as_millis() as u64)
        .collect();
    // RFC 3261 §13.3.1.4: sent, then again at T1 and 2*T1; the third copy's ACK gets through.
    assert_eq!(oks, [0, 500, 1500]);
    assert_eq!(pair.b.ua.leg_state(leg_b), Some(LegState::Confirmed));
    assert!(
        pair.b
            .events
            .iter()
            .any(|e| matches!(e, Event::Confirmed { .. }))
    );
}

#[test]
fn a_retransmitted_bye_is_answered_again_and_counted_as_a_retransmission() {
    let mut pair = Pair::new();
    let leg_a = pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b
        .ua
        .answer(pair.now, leg_b, Some(Bytes::from_static(b"v=0\r\n")))
        .expect("answer");
    pair.settle();
    let before = pair.b.ua.stats().retransmissions;
    // B's first two answers to the BYE are lost: A sends the BYE again (Timer E) and B answers
    // each copy with its 200 again.
    let mut dropped = 0;
    pair.deliver = Box::new(move |_, text| {
        if text.starts_with("SIP/2.0 200") && text.contains("CSeq: 2 BYE") && dropped < 2 {
            dropped += 1;
            return false;
        }
        true
    });
    pair.a.ua.hangup(pair.now, leg_a).expect("hangup");
    pair.advance(Duration::from_secs(40));
    assert_eq!(pair.a.ended(), Some(EndReason::Local));
    assert_eq!(
        pair.b.sent_starting("SIP/2.0 200").len(),
        1 + 3,
        "the INVITE's 200 and three to the BYE"
    );
    assert_eq!(pair.b.ua.stats().retransmissions - before, 2);
}

#[test]
fn uas_with_no_ack_gives_up_after_64_t1_and_sends_bye() {
    let mut pair = Pair::new();
    pair.deliver = Box::new(|_, text| !text.starts_with("ACK "));
    pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.answer(pair.now, leg_b, None).expect("answer");
    pair.advance(Duration::from_secs(40));
    let oks = pair.b.sent_starting("SIP/2.0 200 OK").len();
    // 0, .5, 1.5, 3.5, 7.5, then every T2 (4 s) until 32 s: 11.5 ... 31.5 -> 11 copies.
    assert_eq!(oks, 11);
    assert_eq!(pair.b.ended(), Some(EndReason::NoAck));
    assert!(!pair.b.sent_starting("BYE ").is_empty());
}

#[test]
fn a_cancel_that_races_the_200_ends_the_call_with_ack_and_bye() {
    let mut pair = Pair::new();
    let leg_a = pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.ring(pair.now, leg_b, &[]).expect("ring");
    pair.settle();
    // Both act at the same instant: A cancels, B answers; the messages cross.
    pair.a.ua.hangup(pair.now, leg_a).expect("hangup");
    pair.b.ua.answer(pair.now, leg_b, None).expect("answer");
    pair.advance(Duration::from_secs(40));
    let b_sent = pair.b.sent_text();
    assert!(
        b_sent
            .iter()
            .any(|t| t.starts_with("SIP/2.0 200") && t.contains("CANCEL")),
        "the CANCEL is answered 200"
    );
    assert!(
        !b_sent.iter().any(|t| t.starts_with("SIP/2.0 487")),
        "no 487: the INVITE had already been answered"
    );
    assert!(
        !pair.a.sent_starting("ACK ").is_empty(),
        "A acknowledges the 200"
    );
    assert!(
        !pair.a.sent_starting("BYE ").is_empty(),
        "then hangs up with BYE"
    );
    assert_eq!(pair.a.ended(), Some(EndReason::Local));
    assert_eq!(pair.b.ended(), Some(EndReason::RemoteBye));
}

#[test]
fn a_cancel_before_the_answer_gets_487() {
    let mut pair = Pair::new();
    let leg_a = pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.ring(pair.now, leg_b, &[]).expect("ring");
    pair.settle();
    pair.a.ua.hangup(pair.now, leg_a).expect("hangup");
    pair.advance(Duration::from_secs(1));
    assert!(
        pair.b
            .sent_text()
            .iter()
            .any(|t| t.starts_with("SIP/2.0 487"))
    );
    assert_eq!(pair.b.ended(), Some(EndReason::RemoteCancel));
    assert_eq!(pair.a.ended(), Some(EndReason::Local));
}

#[test]
fn reinvite_glare_is_answered_491_and_both_retry() {
    let mut pair = Pair::new();
    let leg_a = pair.call();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.answer(pair.now, leg_b, None).expect("answer");
    pair.settle();
    // Both re-INVITE at once; hold the messages so they cross.
    pair.deliver = Box::new(|_, _| false);
    pair.a
        .ua
        .reinvite(
            pair.now,
            leg_a,
            Some(Bytes::from_static(b"v=0\r\na=sendonly\r\n")),
        )
        .expect("a re-INVITEs");
    pair.b
        .ua
        .reinvite(
            pair.now,
            leg_b,
            Some(Bytes::from_static(b"v=0\r\na=sendonly\r\n")),
        )
        .expect("b re-INVITEs");
    pair.settle();
    let a_invite = pair
        .a
        .sent_starting("INVITE ")
        .last()
        .expect("a's")
        .1
        .clone();
    let b_invite = pair
        .b
        .sent_starting("INVITE ")
        .last()
        .expect("b's")
        .1
        .clone();
    pair.deliver = Box::new(|_, _| true);
    pair.b
        .ua
        .handle_datagram(pair.now, udp(A), a_invite.as_bytes());
    pair.a
        .ua
        .handle_datagram(pair.now, udp(B), b_invite.as_bytes());
    let glare_at = pair.now;
    pair.advance(Duration::from_secs(10));
    assert!(
        pair.a
            .sent_text()
            .iter()
            .any(|t| t.starts_with("SIP/2.0 491"))
    );
    assert!(
        pair.b
            .sent_text()
            .iter()
            .any(|t| t.starts_with("SIP/2.0 491"))
    );
    // RFC 3261 §14.1: the Call-ID owner (A) retries after 2.1-4 s, B after 0-2 s.
    let retry = |node: &Node| {
        node.sent_starting("INVITE ")
            .into_iter()
            .map(|(at, _)| at - glare_at)
            .find(|d| !d.is_zero())
            .expect("a retry")
    };
    let (a_retry, b_retry) = (retry(&pair.a), retry(&pair.b));
    assert!(
        (Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&a_retry),
        "{a_retry:?}"
    );
    assert!(b_retry <= Duration::from_secs(2), "{b_retry:?}");
    let done = |node: &Node| {
        node.events
            .iter()
            .filter(|e| matches!(e, Event::ReInviteDone { result: Ok(_), .. }))
            .count()
    };
    assert_eq!(
        (done(&pair.a), done(&pair.b)),
        (1, 1),
        "both re-INVITEs succeed in the end"
    );
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
}

/// A user agent registering at the scripted registrar.
struct Registering {
    node: Node,
    registrar: ScriptedRegistrar,
    now: Instant,
}

impl Registering {
    fn new(registrar: ScriptedRegistrar, password: &str) -> Self {
        let now = Instant::now();
        let mut node = Node::new(A, 3, now);
        node.ua.register(
            now,
            AccountConfig {
                aor: "sip:alice@127.0.0.1".to_owned(),
                display_name: None,
                registrar: "sip:127.0.0.1".to_owned(),
                proxy: udp(REGISTRAR),
                credentials: Some(Credentials {
                    username: "alice".to_owned(),
                    password: password.to_owned(),
                }),
                expires: Duration::from_secs(60),
            },
        );
        Self {
            node,
            registrar,
            now,
        }
    }

    fn run_until(&mut self, end: Instant) {
        loop {
            let (sent, next) = self.node.drain(self.now);
            let mut replied = false;
            for t in sent {
                if let Some((reply, _)) = self.registrar.handle(&t.bytes, self.node.addr) {
                    self.node
                        .ua
                        .handle_datagram(self.now, udp(REGISTRAR), &reply);
                    replied = true;
                }
            }
            if replied {
                continue;
            }
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            self.node.ua.handle_timeout(self.now);
        }
    }
}

#[test]
fn registration_answers_401_and_refreshes_before_expiry_with_the_nonce_count_advancing() {
    let start = Instant::now();
    let mut reg = Registering::new(
        ScriptedRegistrar::new("recall.test", "alice", "s3cret"),
        "s3cret",
    );
    reg.run_until(start + Duration::from_secs(1));
    assert!(
        matches!(reg.node.events.as_slice(), [Event::Registered { expires, .. }] if *expires == Duration::from_secs(60))
    );
    reg.run_until(start + Duration::from_secs(125));
    let registers = reg.node.sent_starting("REGISTER ");
    let times: Vec<u64> = registers
        .iter()
        .map(|(at, _)| (*at - reg.node.sent[0].0).as_secs())
        .collect();
    // Challenge answered at once; refreshed at 54 s and 108 s (60 s minus a 6 s margin).
    assert_eq!(times, [0, 0, 54, 108]);
    // The refreshes reuse the nonce, so the nonce-count climbs: 1, 2, 3 (RFC 7616 §3.4).
    assert_eq!(reg.registrar.nonce_counts, [1, 2, 3]);
    let call_ids: std::collections::HashSet<String> = registers
        .iter()
        .map(|(_, t)| {
            t.lines()
                .find(|l| l.starts_with("Call-ID"))
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        call_ids.len(),
        1,
        "one Call-ID for all REGISTERs of a binding"
    );
    assert!(registers[2].1.contains("nc=00000002"));
}

#[test]
fn a_407_from_a_proxy_is_answered_with_proxy_authorization_using_sha256() {
    let start = Instant::now();
    let mut registrar = ScriptedRegistrar::new("proxy.test", "alice", "pw");
    registrar.as_proxy = true;
    registrar.algorithm = "SHA-256".to_owned();
    let mut reg = Registering::new(registrar, "pw");
    reg.run_until(start + Duration::from_secs(1));
    let registers = reg.node.sent_starting("REGISTER ");
    assert!(registers[1].1.contains("Proxy-Authorization: Digest"));
    assert!(registers[1].1.contains("algorithm=SHA-256"));
    assert!(matches!(
        reg.node.events.as_slice(),
        [Event::Registered { .. }]
    ));
}

#[test]
fn a_wrong_password_ends_in_a_clear_registration_failure_not_a_loop() {
    let start = Instant::now();
    let mut reg = Registering::new(
        ScriptedRegistrar::new("recall.test", "alice", "right"),
        "wrong",
    );
    reg.run_until(start + Duration::from_secs(300));
    assert_eq!(
        reg.registrar.requests, 2,
        "one try without, one with credentials"
    );
    let failure = reg.node.events.iter().find_map(|e| match e {
        Event::RegistrationFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        failure,
        Some(RegistrationFailure::AuthFailed {
            realm: "recall.test".to_owned()
        })
    );
    assert!(
        failure
            .expect("failed")
            .to_string()
            .contains("check the account's username and password")
    );
}

#[test]
fn an_invite_challenged_with_407_is_sent_again_with_credentials() {
    let now = Instant::now();
    let mut node = Node::new(A, 4, now);
    let account = node.ua.add_account(AccountConfig {
        aor: "sip:alice@127.0.0.1".to_owned(),
        display_name: Some("Alice".to_owned()),
        registrar: "sip:127.0.0.1".to_owned(),
        proxy: udp(REGISTRAR),
        credentials: Some(Credentials {
            username: "alice".to_owned(),
            password: "pw".to_owned(),
        }),
        expires: Duration::from_secs(60),
    });
    node.ua
        .invite(
            now,
            Invitation {
                target: "sip:bob@127.0.0.1".to_owned(),
                account: Some(account),
                ..Invitation::default()
            },
        )
        .expect("invite");
    let (sent, _) = node.drain(now);
    let invite = String::from_utf8_lossy(&sent[0].bytes).into_owned();
    let field = |name: &str| {
        invite
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .expect("header")
    };
    let challenge = sip_fixture(
        "sip/407-invite.sip",
        &[
            ("via", &field("Via:")),
            ("from", &field("From:")),
            ("call_id", &field("Call-ID:")),
        ],
    );
    node.ua.handle_datagram(now, udp(REGISTRAR), &challenge);
    let (sent, _) = node.drain(now);
    let texts: Vec<String> = sent
        .iter()
        .map(|t| String::from_utf8_lossy(&t.bytes).into_owned())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("ACK ")),
        "the 407 is acknowledged"
    );
    let retry = texts
        .iter()
        .find(|t| t.starts_with("INVITE "))
        .expect("INVITE again");
    assert!(retry.contains("CSeq: 2 INVITE"));
    assert!(retry.contains("Proxy-Authorization: Digest username=\"alice\", realm=\"pbx.test\""));
    assert!(retry.contains("nc=00000001"));
}

#[test]
fn options_is_answered_with_allow_accept_and_supported() {
    let now = Instant::now();
    let mut node = Node::new(A, 5, now);
    node.ua.handle_datagram(
        now,
        udp("127.0.0.1:40000"),
        &sip_fixture("sip/options.sip", &[]),
    );
    let (sent, _) = node.drain(now);
    let text = String::from_utf8_lossy(&sent[0].bytes).into_owned();
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"));
    for header in [
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO",
        "Accept: application/sdp",
        "Supported: replaces",
    ] {
        assert!(text.contains(header), "{header} in {text}");
    }
    assert_eq!(
        sent[0].dest.addr,
        addr("127.0.0.1:40000"),
        "rport: back to the source port"
    );
}

#[test]
fn requests_we_do_not_do_get_405_or_501() {
    let now = Instant::now();
    let mut node = Node::new(A, 6, now);
    for (method, expected) in [
        ("SUBSCRIBE", "SIP/2.0 405 "),
        ("REGISTER", "SIP/2.0 405 "),
        ("FOOBAR", "SIP/2.0 501 "),
    ] {
        node.ua.handle_datagram(
            now,
            udp(B),
            &sip_fixture("sip/method.sip", &[("method", method)]),
        );
        let (sent, _) = node.drain(now);
        let text = String::from_utf8_lossy(&sent[0].bytes).into_owned();
        assert!(text.starts_with(expected), "{method}: {text}");
        assert!(
            text.contains("Allow: INVITE"),
            "{method} response lists Allow"
        );
    }
}

#[test]
fn a_bye_for_no_dialog_gets_481() {
    let now = Instant::now();
    let mut node = Node::new(A, 7, now);
    node.ua.handle_datagram(
        now,
        udp(B),
        &sip_fixture("sip/method.sip", &[("method", "BYE")]),
    );
    let (sent, _) = node.drain(now);
    assert!(String::from_utf8_lossy(&sent[0].bytes).starts_with("SIP/2.0 481 "));
}

#[test]
fn shutdown_unregisters_with_expires_zero() {
    let start = Instant::now();
    let mut reg = Registering::new(
        ScriptedRegistrar::new("recall.test", "alice", "s3cret"),
        "s3cret",
    );
    reg.run_until(start + Duration::from_secs(1));
    reg.node.ua.unregister_all(reg.now);
    assert!(reg.node.ua.registering());
    reg.run_until(start + Duration::from_secs(2));
    let last = reg
        .node
        .sent_starting("REGISTER ")
        .pop()
        .expect("a REGISTER")
        .1;
    assert!(last.contains("\r\nExpires: 0\r\n"), "{last}");
    assert!(
        last.contains("Authorization: Digest"),
        "credentials are sent pre-emptively"
    );
    assert!(matches!(
        reg.node.events.last(),
        Some(Event::Unregistered { .. })
    ));
    assert!(!reg.node.ua.registering());
}

#[test]
fn a_lost_tls_flow_registers_again_at_once_and_an_unreachable_server_is_retried_with_backoff() {
    let start = Instant::now();
    let mut node = Node::new(A, 9, start);
    node.ua.set_local_addr(Transport::Tls, addr(A));
    let flow = Dest {
        transport: Transport::Tls,
        addr: addr(REGISTRAR),
    };
    let mut registrar = ScriptedRegistrar::new("recall.test", "alice", "s3cret");
    node.ua.register(
        start,
        AccountConfig {
            aor: "sip:alice@127.0.0.1".to_owned(),
            display_name: None,
            registrar: "sip:127.0.0.1;transport=tls".to_owned(),
            proxy: flow,
            credentials: Some(Credentials {
                username: "alice".to_owned(),
                password: "s3cret".to_owned(),
            }),
            expires: Duration::from_secs(600),
        },
    );
    // Runs until `end`; the registrar answers while `up`, else the connection is refused.
    let run = |node: &mut Node,
               registrar: &mut ScriptedRegistrar,
               from: Instant,
               end: Instant,
               up: bool| {
        let mut now = from;
        loop {
            let (sent, next) = node.drain(now);
            let mut acted = false;
            for t in sent {
                assert_eq!(t.dest, flow);
                if up {
                    if let Some((reply, _)) = registrar.handle(&t.bytes, addr(A)) {
                        node.ua.handle_datagram(now, flow, &reply);
                        acted = true;
                    }
                } else {
                    node.ua
                        .handle_transport_error(now, flow, "cannot connect: Connection refused");
                    acted = true;
                }
            }
            if acted {
                continue;
            }
            if next > end {
                return;
            }
            now = next;
            node.ua.handle_timeout(now);
        }
    };
    run(
        &mut node,
        &mut registrar,
        start,
        start + Duration::from_secs(1),
        true,
    );
    assert!(matches!(node.events.last(), Some(Event::Registered { .. })));
    let first = node.sent_starting("REGISTER ").len();
    let via = &node.sent_starting("REGISTER ")[0].1;
    assert!(
        via.contains("Via: SIP/2.0/TLS 127.0.0.1:5061;") && via.contains(";alias"),
        "{via}"
    );
    assert!(via.contains("transport=tls"), "{via}");

    // The flow dies 10 s in, and the server is gone for 20 s.
    let lost = start + Duration::from_secs(10);
    node.ua
        .handle_transport_error(lost, flow, "tls:127.0.0.1:5060 closed the connection");
    run(
        &mut node,
        &mut registrar,
        lost,
        lost + Duration::from_secs(20),
        false,
    );
    let after: Vec<u64> = node.sent_starting("REGISTER ")[first..]
        .iter()
        .map(|(at, _)| (*at - lost).as_secs())
        .collect();
    // At once, then after 4 s and 8 s more; the next (16 s more) would be at 28 s.
    assert_eq!(after, [0, 4, 12], "REGISTER times after the flow was lost");
    let failed = node
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::RegistrationFailed { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
        .expect("failed");
    assert_eq!(
        failed,
        "could not reach the registrar: cannot connect: Connection refused"
    );
    // Back up: the retry due at 28 s registers, and the backoff starts again from 4 s.
    let back = lost + Duration::from_secs(20);
    run(
        &mut node,
        &mut registrar,
        back,
        back + Duration::from_secs(10),
        true,
    );
    assert!(matches!(node.events.last(), Some(Event::Registered { .. })));
    let times: Vec<u64> = node.sent_starting("REGISTER ")[first..]
        .iter()
        .map(|(at, _)| (*at - lost).as_secs())
        .collect();
    assert_eq!(times, [0, 4, 12, 28]);
}

// ---------------------------------------------------------------------------------------------
// RFC 3262 reliable provisional responses, RFC 4028 session timers
// ---------------------------------------------------------------------------------------------

impl Pair {
    /// Two user agents whose session-timer settings are these.
    fn with_session(a_expires: Option<u64>, b_min_se: u64) -> Self {
        let mut pair = Self::new();
        let a = UaConfig {
            session_expires: a_expires.map(Duration::from_secs),
            ..UaConfig::default()
        };
        let b = UaConfig {
            min_se: Duration::from_secs(b_min_se),
            ..UaConfig::default()
        };
        pair.a = Node::with_config(A, 1, pair.t0, a);
        pair.b = Node::with_config(B, 2, pair.t0, b);
        pair
    }

    /// A calls B with these extra headers; B answers at once. Returns both legs.
    fn connect_with(&mut self, headers: &[(&str, &str)]) -> (LegId, LegId) {
        let leg_a = self.a.ua.invite(self.now, to_bob(headers)).expect("invite");
        self.settle();
        let leg_b = self.b.incoming().expect("b is called");
        self.b
            .ua
            .answer(self.now, leg_b, Some(Bytes::from_static(b"v=0\r\n")))
            .expect("answer");
        self.settle();
        (leg_a, leg_b)
    }
}

fn header_value<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn a_required_reliable_180_is_retransmitted_until_its_prack_and_reported_once() {
    let mut pair = Pair::new();
    // A's first PRACK is lost: B retransmits its 180 (T1), A's PRACK transaction retransmits.
    let mut dropped = false;
    pair.deliver = Box::new(move |_, text| {
        if text.starts_with("PRACK ") && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    let leg_a = pair
        .a
        .ua
        .invite(pair.now, to_bob(&[("Require", "100rel")]))
        .expect("invite");
    pair.settle();
    let leg_b = pair.b.incoming().expect("b is called");
    let rang = pair.now;
    pair.b.ua.ring(pair.now, leg_b, &[]).expect("ring");
    pair.advance(Duration::from_secs(10));
    let ringing = pair.b.sent_starting("SIP/2.0 180");
    let rseq = header_value(&ringing[0].1, "RSeq")
        .expect("RSeq")
        .to_owned();
    assert_eq!(header_value(&ringing[0].1, "Require"), Some("100rel"));
    assert!(
        ringing
            .iter()
            .all(|(_, t)| header_value(t, "RSeq") == Some(&rseq)),
        "a retransmission keeps its RSeq"
    );
    let times: Vec<u64> = ringing
        .iter()
        .map(|(at, _)| (*at - rang).as_millis() as u64)
        .collect();
    assert_eq!(times, [0, 500], "sent, once again at T1, then PRACKed");
    let pracks = pair.a.sent_starting("PRACK ");
    assert!(!pracks.is_empty());
    assert_eq!(
        header_value(&pracks[0].1, "RAck"),
        Some(format!("{rseq} 1 INVITE").as_str())
    );
    let oks = pair.b.sent_starting("SIP/2.0 200");
    assert!(oks.iter().any(|(_, t)| t.contains("PRACK")), "{oks:?}");
    let reported = pair
        .a
        .events
        .iter()
        .filter(|e| matches!(e, Event::Progress { status: 180, .. }))
        .count();
    assert_eq!(reported, 1, "the retransmitted 180 is not reported again");
    // The call goes on as usual.
    pair.b.ua.answer(pair.now, leg_b, None).expect("answer");
    pair.settle();
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
}

#[test]
fn a_reliable_180_never_pracked_refuses_the_invite_after_64_t1() {
    let mut pair = Pair::new();
    pair.deliver = Box::new(|_, text| !text.starts_with("PRACK "));
    pair.a
        .ua
        .invite(pair.now, to_bob(&[("Require", "100rel")]))
        .expect("invite");
    pair.settle();
    let leg_b = pair.b.incoming().expect("b is called");
    pair.b.ua.ring(pair.now, leg_b, &[]).expect("ring");
    pair.advance(Duration::from_secs(40));
    assert_eq!(pair.b.ended(), Some(EndReason::NoPrack));
    assert!(matches!(
        pair.a.ended(),
        Some(EndReason::Rejected { status: 500, .. })
    ));
    // 0, .5, 1.5, 3.5, 7.5, then every T2 until 32 s.
    assert_eq!(pair.b.sent_starting("SIP/2.0 180").len(), 11);
}

#[test]
fn the_refresher_updates_the_session_at_half_its_interval_for_as_long_as_the_call_lasts() {
    let mut pair = Pair::with_session(Some(90), 90);
    let (leg_a, leg_b) = pair.connect_with(&[]);
    let answered = pair.now;
    let ok = &pair.b.sent_starting("SIP/2.0 200")[0].1;
    assert_eq!(
        header_value(ok, "Session-Expires"),
        Some("90;refresher=uac")
    );
    assert_eq!(header_value(ok, "Require"), Some("timer"));
    pair.advance(Duration::from_secs(200));
    let updates: Vec<u64> = pair
        .a
        .sent_starting("UPDATE ")
        .iter()
        .map(|(at, _)| (*at - answered).as_secs())
        .collect();
    assert_eq!(
        updates,
        [45, 90, 135, 180],
        "UPDATE (B allows it) every 45 s"
    );
    assert!(
        pair.b.sent_starting("UPDATE ").is_empty(),
        "B does not refresh"
    );
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
    assert_eq!(pair.b.ua.leg_state(leg_b), Some(LegState::Confirmed));
    assert_eq!(pair.a.ended(), None);
}

#[test]
fn a_session_nobody_refreshes_is_ended_with_bye_before_it_expires() {
    let mut pair = Pair::with_session(Some(90), 90);
    pair.deliver = Box::new(|_, text| !text.starts_with("UPDATE "));
    let (_leg_a, leg_b) = pair.connect_with(&[]);
    let answered = pair.now;
    pair.advance(Duration::from_secs(120));
    assert_eq!(pair.b.ended(), Some(EndReason::SessionExpired));
    let byes = pair.b.sent_starting("BYE ");
    // RFC 4028 §10: at the interval less min(32 s, a third of it): 90 - 30 = 60 s.
    assert_eq!((byes[0].0 - answered).as_secs(), 60);
    assert_eq!(pair.a.ended(), Some(EndReason::RemoteBye));
    assert_eq!(pair.b.ua.leg_state(leg_b), None);
}

#[test]
fn a_session_interval_below_the_peers_minimum_is_asked_again_after_422() {
    let mut pair = Pair::with_session(Some(90), 120);
    let (leg_a, _leg_b) = pair.connect_with(&[]);
    let refused = pair.b.sent_starting("SIP/2.0 422");
    assert_eq!(refused.len(), 1);
    assert_eq!(header_value(&refused[0].1, "Min-SE"), Some("120"));
    let invites = pair.a.sent_starting("INVITE ");
    assert_eq!(invites.len(), 2);
    assert_eq!(header_value(&invites[1].1, "Session-Expires"), Some("120"));
    assert_eq!(header_value(&invites[1].1, "Min-SE"), Some("120"));
    assert_eq!(header_value(&invites[1].1, "CSeq"), Some("2 INVITE"));
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
    let ok = pair
        .b
        .sent_starting("SIP/2.0 200")
        .into_iter()
        .find(|(_, t)| t.contains("INVITE"))
        .expect("answered");
    assert_eq!(
        header_value(&ok.1, "Session-Expires"),
        Some("120;refresher=uac")
    );
}

#[test]
fn without_a_session_expires_asked_no_timer_runs() {
    let mut pair = Pair::with_session(None, 90);
    let (leg_a, _) = pair.connect_with(&[]);
    let ok = &pair.b.sent_starting("SIP/2.0 200")[0].1;
    assert_eq!(header_value(ok, "Session-Expires"), None);
    pair.advance(Duration::from_secs(4000));
    assert!(pair.a.sent_starting("UPDATE ").is_empty());
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
}

#[test]
fn absurd_session_intervals_and_racks_are_bounded_not_fatal() {
    let mut pair = Pair::with_session(None, 90);
    let (leg_a, _) =
        pair.connect_with(&[("Session-Expires", "18446744073709551615;refresher=uas")]);
    let ok = pair.b.sent_starting("SIP/2.0 200")[0].1.clone();
    assert_eq!(
        header_value(&ok, "Session-Expires"),
        Some("604800;refresher=uas")
    );
    pair.advance(Duration::from_secs(10));
    assert_eq!(pair.a.ua.leg_state(leg_a), Some(LegState::Confirmed));
    // A PRACK naming nothing we sent, and an UPDATE with a bad interval, in the dialog.
    let call_id = header_value(&ok, "Call-ID").expect("Call-ID").to_owned();
    let from = header_value(&ok, "From").expect("From").to_owned();
    let to = header_value(&ok, "To").expect("To").to_owned();
    for (method, cseq, extra) in [
        ("PRACK", 50, "RAck: 99999999999 x INVITE\r\n"),
        ("UPDATE", 51, "Session-Expires: -5;refresher=nobody\r\n"),
    ] {
        let request = format!(
            "{method} sip:bob@{B} SIP/2.0\r\nVia: SIP/2.0/UDP {A};branch=z9hG4bK{method}1\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        pair.b
            .ua
            .handle_datagram(pair.now, udp(A), request.as_bytes());
        pair.settle();
    }
    let answers: Vec<String> = pair
        .b
        .sent_text()
        .into_iter()
        .filter(|t| t.contains("CSeq: 50 PRACK") || t.contains("CSeq: 51 UPDATE"))
        .map(|t| t.lines().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        answers,
        [
            "SIP/2.0 481 No Such Reliable Provisional Response",
            "SIP/2.0 200 OK"
        ]
    );
}

/// A notifier's answer to `request` (copying its Via, From, To, Call-ID and CSeq), with a
/// to-tag and extra header lines.
fn answer(request: &str, status: &str, to_tag: &str, extra: &[&str]) -> Vec<u8> {
    let mut text = format!("SIP/2.0 {status}\r\n");
    for line in request.lines() {
        let name = line.split(':').next().unwrap_or_default();
        match name {
            "Via" | "From" | "Call-ID" | "CSeq" => text.push_str(&format!("{line}\r\n")),
            "To" => text.push_str(&format!("{line};tag={to_tag}\r\n")),
            _ => {}
        }
    }
    for line in extra {
        text.push_str(&format!("{line}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    text.into_bytes()
}

/// A NOTIFY from the notifier at B in the dialog `subscribe` made.
fn notify(subscribe: &str, to_tag: &str, cseq: u32, state: &str, body: &str) -> Vec<u8> {
    let header = |name: &str| {
        subscribe
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .map(|l| l[name.len() + 1..].trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "NOTIFY sip:alice@{A} SIP/2.0\r\nVia: SIP/2.0/UDP {B};branch=z9hG4bKn{cseq}\r\n\
         From: {};tag={to_tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} NOTIFY\r\n\
         Contact: <sip:notifier@{B}>\r\nMax-Forwards: 70\r\nEvent: message-summary\r\n\
         Subscription-State: {state}\r\nContent-Type: application/simple-message-summary\r\n\
         Content-Length: {}\r\n\r\n{body}",
        header("To"),
        header("From"),
        header("Call-ID"),
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_subscription_is_challenged_notified_refreshed_and_made_again_after_a_timeout() {
    let t0 = Instant::now();
    let mut node = Node::new(A, 21, t0);
    let account = node.ua.add_account(AccountConfig {
        aor: "sip:alice@recall.test".to_owned(),
        display_name: None,
        registrar: "sip:recall.test".to_owned(),
        proxy: udp(B),
        credentials: Some(Credentials {
            username: "alice".to_owned(),
            password: "s3cret".to_owned(),
        }),
        expires: Duration::from_secs(600),
    });
    let id = node
        .ua
        .subscribe(
            t0,
            sip::Subscribe {
                target: "sip:alice@recall.test".to_owned(),
                event: "message-summary".to_owned(),
                accept: "application/simple-message-summary".to_owned(),
                account: Some(account),
                dest: None,
                expires: Duration::from_secs(120),
            },
        )
        .expect("subscribe");
    let (sent, _) = node.drain(t0);
    let first = String::from_utf8_lossy(&sent[0].bytes).into_owned();
    assert!(
        first.starts_with("SUBSCRIBE sip:alice@recall.test SIP/2.0"),
        "{first}"
    );
    assert!(first.contains("Event: message-summary") && first.contains("Expires: 120"));
    assert_eq!(sent[0].dest, udp(B), "through the account's proxy");
    // Challenged: sent again with credentials.
    node.ua.handle_datagram(
        t0,
        udp(B),
        &answer(
            &first,
            "401 Unauthorized",
            "n1",
            &["WWW-Authenticate: Digest realm=\"recall.test\", nonce=\"abc\", qop=\"auth\""],
        ),
    );
    let (sent, _) = node.drain(t0);
    let second = String::from_utf8_lossy(&sent[0].bytes).into_owned();
    assert!(
        second.contains("Authorization: Digest")
            && second.contains("uri=\"sip:alice@recall.test\"")
    );
    node.ua.handle_datagram(
        t0,
        udp(B),
        &answer(
            &second,
            "200 OK",
            "n1",
            &["Expires: 60", "Contact: <sip:notifier@127.0.0.1:5062>"],
        ),
    );
    assert_eq!(
        node.ua.subscription_state(id),
        Some(sip::SubscriptionState::Pending)
    );
    // The first NOTIFY: answered 200, told above.
    let body = "Messages-Waiting: yes\r\nVoice-Message: 3/1\r\n";
    node.ua.handle_datagram(
        t0,
        udp(B),
        &notify(&second, "n1", 1, "active;expires=60", body),
    );
    let (sent, _) = node.drain(t0);
    assert!(String::from_utf8_lossy(&sent[0].bytes).starts_with("SIP/2.0 200 OK"));
    assert!(
        matches!(
            node.events.as_slice(),
            [Event::Notified { subscription: Some(s), event, state: sip::SubscriptionState::Active, body: b, .. }]
                if *s == id && event == "message-summary" && b.as_ref() == body.as_bytes()
        ),
        "{:?}",
        node.events
    );
    // Refreshed in the dialog before 60 s run out (54 s), to the notifier's Contact.
    let mut now = t0;
    let mut refresh = None;
    while now < t0 + Duration::from_secs(70) && refresh.is_none() {
        let (sent, next) = node.drain(now);
        refresh = sent
            .iter()
            .map(|t| String::from_utf8_lossy(&t.bytes).into_owned())
            .find(|t| t.starts_with("SUBSCRIBE "));
        if refresh.is_none() {
            now = next.min(t0 + Duration::from_secs(70));
            node.ua.handle_timeout(now);
        }
    }
    let refresh = refresh.expect("a refresh");
    assert_eq!(now - t0, Duration::from_secs(54));
    assert!(
        refresh.starts_with("SUBSCRIBE sip:notifier@127.0.0.1:5062 SIP/2.0"),
        "{refresh}"
    );
    assert!(refresh.contains(";tag=n1"), "in the dialog: {refresh}");
    let call_id = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("Call-ID"))
            .map(str::to_owned)
    };
    assert_eq!(call_id(&refresh), call_id(&first));
    // Ended by the notifier with reason=timeout: subscribed again at once, in a new dialog.
    node.ua.handle_datagram(
        now,
        udp(B),
        &notify(&second, "n1", 2, "terminated;reason=timeout", ""),
    );
    node.ua.handle_timeout(now);
    let (sent, _) = node.drain(now);
    let again = sent
        .iter()
        .map(|t| String::from_utf8_lossy(&t.bytes).into_owned())
        .find(|t| t.starts_with("SUBSCRIBE "))
        .expect("subscribed again");
    assert_ne!(call_id(&again), call_id(&first));
    assert!(
        again.starts_with("SUBSCRIBE sip:alice@recall.test "),
        "{again}"
    );
}

#[test]
fn an_unsolicited_message_summary_is_taken_and_other_strays_get_481() {
    let now = Instant::now();
    let mut node = Node::new(A, 22, now);
    let stray = |event: &str| {
        format!(
            "NOTIFY sip:alice@{A} SIP/2.0\r\nVia: SIP/2.0/UDP {B};branch=z9hG4bKu1{event}\r\n\
             From: <sip:asterisk@{B}>;tag=x\r\nTo: <sip:alice@{A}>\r\nCall-ID: u1{event}\r\n\
             CSeq: 1 NOTIFY\r\nMax-Forwards: 70\r\nEvent: {event}\r\n\
             Content-Type: application/simple-message-summary\r\nContent-Length: 24\r\n\r\n\
             Messages-Waiting: no\r\n\r\n"
        )
        .into_bytes()
    };
    node.ua
        .handle_datagram(now, udp(B), &stray("message-summary"));
    node.ua.handle_datagram(now, udp(B), &stray("dialog"));
    let (sent, _) = node.drain(now);
    let answers: Vec<String> = sent
        .iter()
        .map(|t| {
            String::from_utf8_lossy(&t.bytes)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        answers,
        [
            "SIP/2.0 200 OK",
            "SIP/2.0 481 Call/Transaction Does Not Exist"
        ]
    );
    assert!(matches!(
        node.events.as_slice(),
        [Event::Notified { subscription: None, event, .. }] if event == "message-summary"
    ));
}
