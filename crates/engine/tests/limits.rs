//! Limits (issue 14): calls ringing and in progress at once are bounded — one more is refused
//! 486 and leaves no call or interaction behind — and a call that rings unanswered and
//! uncancelled ends 480 at Timer C, its interaction missed. Virtual time.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, Host};
use api::CallState;
use engine::{Input, Output};
use sip::{Dest, Transport};
use test_support::sip_fixture;

fn source(port: u16) -> Dest {
    Dest {
        transport: Transport::Udp,
        addr: format!("127.0.0.1:{port}").parse().expect("addr"),
    }
}

/// A PCMU INVITE of its own (Call-ID, tag, branch).
fn invite(n: u16) -> Vec<u8> {
    let text = String::from_utf8(sip_fixture("sip/invite-g729.sip", &[])).expect("utf8");
    let text = text
        .replace("Call-ID: ", &format!("Call-ID: limit{n}-"))
        .replace("branch=z9hG4bK", &format!("branch=z9hG4bKlimit{n}"))
        .replace("tag=", &format!("tag=l{n}"))
        .replace("RTP/AVP 18", "RTP/AVP 0")
        .replace("rtpmap:18 G729/8000", "rtpmap:0 PCMU/8000");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let head: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.starts_with("Content-Length:") {
                format!("Content-Length: {}", body.len())
            } else {
                line.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// Feeds the INVITEs; the first line of each response sent, in order.
fn ring(host: &mut Host, now: Instant, count: u16) -> Vec<String> {
    for n in 0..count {
        host.phone.handle_input(Input::Sip {
            now,
            source: source(40_000 + n),
            bytes: &invite(n),
        });
    }
    sent(host)
}

fn sent(host: &mut Host) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match host.phone.poll_output() {
            Output::Sip(t) => lines.push(
                String::from_utf8_lossy(&t.bytes)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            Output::Timeout(at) => {
                host.deadline = at;
                return lines;
            }
            _ => {}
        }
    }
}

fn limited(max_calls: usize, max_ringing: usize, now: Instant) -> Host {
    Host::with_limits(
        "carol",
        "127.0.0.1:5073",
        (32000, 7),
        false,
        now,
        engine::Limits {
            max_calls,
            max_ringing,
            ring_timeout: Duration::from_secs(180),
            max_invites_per_source: 0,
        },
    )
}

/// Feeds INVITEs numbered `numbers` from `from`; every message sent, whole.
fn ring_from(
    host: &mut Host,
    now: Instant,
    from: &str,
    numbers: std::ops::Range<u16>,
) -> Vec<String> {
    for n in numbers {
        host.phone.handle_input(Input::Sip {
            now,
            source: Dest {
                transport: Transport::Udp,
                addr: from.parse().expect("addr"),
            },
            bytes: &invite(n),
        });
    }
    let mut messages = Vec::new();
    loop {
        match host.phone.poll_output() {
            Output::Sip(t) => messages.push(String::from_utf8_lossy(&t.bytes).into_owned()),
            Output::Timeout(at) => {
                host.deadline = at;
                return messages;
            }
            _ => {}
        }
    }
}

fn count(messages: &[String], status: &str) -> usize {
    messages
        .iter()
        .filter(|m| m.starts_with(&format!("SIP/2.0 {status} ")))
        .count()
}

#[test]
fn an_address_that_floods_is_refused_503_for_30_s_its_ringing_calls_end_and_others_still_ring() {
    let now = Instant::now();
    let mut host = Host::with_limits(
        "carol",
        "127.0.0.1:5073",
        (32000, 7),
        false,
        now,
        engine::Limits::DESKTOP,
    );
    assert_eq!(engine::Limits::DESKTOP.max_invites_per_source, 20);
    // Twenty new calls in a second from one address is the most it may send: four ring
    // (max_ringing), sixteen are busy.
    let sent = ring_from(&mut host, now, "198.51.100.7:5060", 0..20);
    assert_eq!((count(&sent, "180"), count(&sent, "486")), (4, 16));
    assert_eq!(count(&sent, "503"), 0);
    // The twenty-first makes it a flood: refused 503 with Retry-After, and the four it had
    // ringing end 503, their interactions missed — the slots are free again.
    let later = now + Duration::from_millis(900);
    let sent = ring_from(&mut host, later, "198.51.100.7:5060", 20..21);
    assert_eq!(count(&sent, "503"), 5, "{sent:#?}");
    assert!(
        sent.iter()
            .any(|m| m.starts_with("SIP/2.0 503 ") && m.contains("Retry-After: 30")),
        "{sent:#?}"
    );
    assert_eq!(host.phone.active_calls(), 0);
    assert!(
        host.phone
            .interactions()
            .iter()
            .all(|i| i.state == interaction::InteractionState::Missed)
    );
    // Another address (the PBX) still rings the agent.
    let sent = ring_from(&mut host, later, "192.0.2.10:5060", 100..101);
    assert_eq!(count(&sent, "180"), 1, "{sent:#?}");
    // The flooding address stays refused for 30 s, however slowly it sends, then may call.
    let sent = ring_from(
        &mut host,
        now + Duration::from_secs(20),
        "198.51.100.7:5071",
        200..201,
    );
    assert_eq!(count(&sent, "503"), 1, "{sent:#?}");
    assert!(sent[0].contains("Retry-After: 11"), "{}", sent[0]);
    let sent = ring_from(
        &mut host,
        now + Duration::from_secs(31),
        "198.51.100.7:5060",
        300..301,
    );
    assert_eq!(count(&sent, "180"), 1, "{sent:#?}");
}

#[test]
fn ringing_calls_beyond_max_ringing_are_refused_busy_and_leave_nothing() {
    let now = Instant::now();
    let mut host = limited(8, 2, now);
    let lines = ring(&mut host, now, 4);
    let ringing = lines.iter().filter(|l| l.contains(" 180 ")).count();
    let busy = lines.iter().filter(|l| l.contains(" 486 ")).count();
    assert_eq!((ringing, busy), (2, 2), "{lines:?}");
    assert_eq!(host.phone.calls().len(), 2);
    assert_eq!(host.phone.interactions().len(), 2);
}

#[test]
fn a_ringing_call_answered_or_ended_frees_its_place_among_the_ringing() {
    let now = Instant::now();
    let mut host = limited(8, 2, now);
    let lines = ring(&mut host, now, 2);
    assert_eq!(count_lines(&lines, " 180 "), 2, "{lines:?}");
    let ringing: Vec<_> = host.phone.calls().iter().map(|c| c.id).collect();
    host.phone
        .command(now, api::Command::Answer { call: ringing[0] })
        .expect("answer");
    host.phone
        .command(now, api::Command::Hangup { call: ringing[1] })
        .expect("reject");
    let _ = sent(&mut host);
    // Two places free again: the next two ring, the one after is busy.
    let lines = ring_numbered(&mut host, now, 2..5);
    assert_eq!(
        (count_lines(&lines, " 180 "), count_lines(&lines, " 486 ")),
        (2, 1),
        "{lines:?}"
    );
}

fn count_lines(lines: &[String], status: &str) -> usize {
    lines.iter().filter(|l| l.contains(status)).count()
}

/// As [`ring`], with the INVITEs numbered `numbers`.
fn ring_numbered(host: &mut Host, now: Instant, numbers: std::ops::Range<u16>) -> Vec<String> {
    for n in numbers {
        host.phone.handle_input(Input::Sip {
            now,
            source: source(40_000 + n),
            bytes: &invite(n),
        });
    }
    sent(host)
}

#[test]
fn calls_beyond_max_calls_are_refused_busy() {
    let now = Instant::now();
    let mut host = limited(3, 10, now);
    let lines = ring(&mut host, now, 5);
    let busy = lines.iter().filter(|l| l.contains(" 486 ")).count();
    assert_eq!(busy, 2, "{lines:?}");
    assert_eq!(host.phone.active_calls(), 3);
}

#[test]
fn a_call_ringing_unanswered_for_timer_c_ends_480_and_is_missed() {
    let now = Instant::now();
    let mut host = limited(8, 4, now);
    let lines = ring(&mut host, now, 1);
    assert!(lines.iter().any(|l| l.contains(" 180 ")), "{lines:?}");
    // Time passes; nobody answers and the caller never cancels.
    let mut at = now;
    let mut refused = Vec::new();
    while at < now + Duration::from_secs(181) {
        at = host.deadline.max(at + Duration::from_millis(1));
        host.phone.handle_input(Input::Timeout(at));
        refused.extend(sent(&mut host).into_iter().filter(|l| l.contains(" 480 ")));
        if !refused.is_empty() {
            break;
        }
    }
    assert_eq!(refused, ["SIP/2.0 480 Temporarily Unavailable"]);
    assert!(
        at >= now + Duration::from_secs(180) && at < now + Duration::from_secs(181),
        "{:?}",
        at - now
    );
    let call = host.phone.calls().pop().expect("call");
    assert_eq!(call.state, CallState::Ended);
    assert_eq!(
        call.end_reason.as_deref(),
        Some("not answered within 180 s (480)")
    );
    let interaction = host.phone.interactions().pop().expect("interaction");
    assert_eq!(interaction.state, interaction::InteractionState::Missed);
}
