//! Call control between two phones in virtual time: hold and resume, DTMF both ways, mute, and
//! an offer with no codec in common.

#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, World, rms};
use api::{CallDirection, CallId, CallState, Command};
use engine::{Input, Output};
use sip::{Dest, Transport};
use test_support::sip_fixture;

/// Alice calls Bob (who answers by himself) on a clean network; returns both calls' ids.
fn connected() -> (World, CallId, CallId) {
    let mut world = World::registered(7, 0.0, Duration::ZERO);
    let call = world.alice_calls_bob();
    let bob = world
        .b
        .phone
        .calls()
        .into_iter()
        .find(|c| c.direction == CallDirection::Inbound)
        .expect("bob's call")
        .id;
    (world, call, bob)
}

#[test]
fn hold_and_resume_renegotiate_the_direction() {
    let (mut world, call, _bob) = connected();
    world.run_until(world.now + Duration::from_secs(1));
    world
        .a
        .phone
        .command(world.now, Command::Hold { call })
        .expect("hold");
    world.run_while(Duration::from_secs(5), |w| {
        w.a.phone.call(call).map(|c| c.state) == Some(CallState::Held)
    });
    // While held, Alice still sends (sendonly) but Bob sends nothing back (recvonly).
    let before = world.a.phone.call(call).expect("call").stats;
    world.run_until(world.now + Duration::from_secs(1));
    let after = world.a.phone.call(call).expect("call").stats;
    assert!(after.packets_sent - before.packets_sent >= 45, "{after:?}");
    assert!(
        after.packets_received - before.packets_received <= 2,
        "{after:?}"
    );
    let twice = world.a.phone.command(world.now, Command::Hold { call });
    assert!(twice.is_err(), "holding twice is refused");
    world
        .a
        .phone
        .command(world.now, Command::Resume { call })
        .expect("resume");
    world.run_while(Duration::from_secs(5), |w| {
        w.a.phone.call(call).map(|c| c.state) == Some(CallState::Connected)
    });
    let before = world.a.phone.call(call).expect("call").stats;
    world.run_until(world.now + Duration::from_secs(1));
    let after = world.a.phone.call(call).expect("call").stats;
    assert!(
        after.packets_received - before.packets_received >= 45,
        "{after:?}"
    );
}

#[test]
fn dtmf_digits_arrive_as_rfc_4733_events() {
    let (mut world, call, bob) = connected();
    world
        .a
        .phone
        .command(
            world.now,
            Command::Dtmf {
                call,
                digits: "12#".to_owned(),
            },
        )
        .expect("dtmf");
    world.run_until(world.now + Duration::from_secs(2));
    let view = world.b.phone.call(bob).expect("bob's call");
    assert_eq!(view.dtmf_received, "12#");
    assert_eq!(world.a.phone.call(call).expect("call").stats.dtmf_sent, 3);
    let digits: Vec<String> = world
        .b
        .events
        .iter()
        .filter_map(|e| match e {
            api::Event::Dtmf { digit, .. } => Some(digit.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(digits, ["1", "2", "#"]);
    let refused = world.a.phone.command(
        world.now,
        Command::Dtmf {
            call,
            digits: "1x".to_owned(),
        },
    );
    assert!(refused.is_err());
}

#[test]
fn a_muted_microphone_sends_silence() {
    let (mut world, call, _bob) = connected();
    world.run_until(world.now + Duration::from_secs(1));
    let heard_before = world.b.heard.lock().expect("lock").len();
    world
        .a
        .phone
        .command(world.now, Command::Mute { call, muted: true })
        .expect("mute");
    world.run_until(world.now + Duration::from_secs(1));
    let heard = world.b.heard.lock().expect("lock");
    // Skip the jitter buffer's worth of frames still in flight when muting.
    let muted = &heard[heard_before + 800..];
    assert!(rms(muted) < 50.0, "rms {}", rms(muted));
    assert!(world.a.phone.call(call).expect("call").muted);
}

/// What a phone (answering by itself, or ringing the agent) sends for an INVITE: each
/// message's text.
fn answers_to(invite: &[u8], auto_answer: bool) -> (Vec<String>, crate::harness::Host) {
    let now = Instant::now();
    let mut host = crate::harness::Host::new("carol", "127.0.0.1:5073", 32000, 5, auto_answer, now);
    host.phone.handle_input(Input::Sip {
        now,
        source: Dest {
            transport: Transport::Udp,
            addr: "127.0.0.1:40000".parse().expect("addr"),
        },
        bytes: invite,
    });
    let mut sent = Vec::new();
    loop {
        match host.phone.poll_output() {
            Output::Sip(t) => sent.push(String::from_utf8_lossy(&t.bytes).into_owned()),
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    (sent, host)
}

#[test]
fn an_offer_with_no_codec_in_common_is_refused_488_before_it_rings() {
    let g729 = sip_fixture("sip/invite-g729.sip", &[]);
    let video = String::from_utf8_lossy(&g729)
        .replace("m=audio 4000 RTP/AVP 18", "m=video 4000 RTP/AVP 31")
        .replace("a=rtpmap:18 G729/8000", "a=rtpmap:31 H261/90000");
    for (invite, warning) in [
        (g729.clone(), "Warning: 305 recall "),
        (video.into_bytes(), "Warning: 304 recall "),
    ] {
        for auto_answer in [true, false] {
            let (sent, host) = answers_to(&invite, auto_answer);
            // No 180: the agent is not rung for a call that cannot carry audio.
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert!(
                sent[0].starts_with("SIP/2.0 488 Not Acceptable Here\r\n"),
                "{}",
                sent[0]
            );
            assert!(sent[0].contains(warning), "{}", sent[0]);
            let call = host.phone.calls().pop().expect("a call record");
            assert_eq!(call.state, CallState::Ended);
        }
    }
}

/// Packets each side received over one second of the call as it now stands.
fn received_in_a_second(world: &mut World, call: CallId, bob: CallId) -> (u64, u64) {
    let a0 = world.a.phone.call(call).expect("a").stats.packets_received;
    let b0 = world.b.phone.call(bob).expect("b").stats.packets_received;
    world.run_until(world.now + Duration::from_secs(1));
    let a1 = world.a.phone.call(call).expect("a").stats.packets_received;
    let b1 = world.b.phone.call(bob).expect("b").stats.packets_received;
    (a1 - a0, b1 - b0)
}

#[test]
fn holding_a_peer_that_holds_us_makes_the_stream_inactive() {
    let (mut world, call, bob) = connected();
    let settle = |world: &mut World, who: char, id: CallId, state: CallState| {
        world.run_while(Duration::from_secs(5), |w| {
            let phone = if who == 'a' { &w.a.phone } else { &w.b.phone };
            phone.call(id).map(|c| c.state) == Some(state)
        });
    };
    world
        .a
        .phone
        .command(world.now, Command::Hold { call })
        .expect("alice holds");
    settle(&mut world, 'a', call, CallState::Held);
    world
        .b
        .phone
        .command(world.now, Command::Hold { call: bob })
        .expect("bob holds too");
    settle(&mut world, 'b', bob, CallState::Held);
    let (to_alice, to_bob) = received_in_a_second(&mut world, call, bob);
    assert!(
        to_alice <= 2 && to_bob <= 2,
        "inactive both ways: {to_alice} {to_bob}"
    );
    // Alice takes Bob back, but Bob still holds her: he sends (sendonly), she only listens.
    world
        .a
        .phone
        .command(world.now, Command::Resume { call })
        .expect("alice resumes");
    settle(&mut world, 'a', call, CallState::Connected);
    let (to_alice, to_bob) = received_in_a_second(&mut world, call, bob);
    assert!(
        to_alice >= 45 && to_bob <= 2,
        "bob sends, alice does not: {to_alice} {to_bob}"
    );
    world
        .b
        .phone
        .command(world.now, Command::Resume { call: bob })
        .expect("bob resumes");
    settle(&mut world, 'b', bob, CallState::Connected);
    let (to_alice, to_bob) = received_in_a_second(&mut world, call, bob);
    assert!(
        to_alice >= 45 && to_bob >= 45,
        "both ways again: {to_alice} {to_bob}"
    );
}

/// With more calls up than the tones are worked out for after every input (a lab's load),
/// they are worked out once a frame: the ringtone still starts and stops within a few frames.
#[test]
fn with_twenty_calls_up_the_ringtone_still_follows_the_call() {
    use media::Tone;
    let mut world = World::registered_headless(13);
    for _ in 0..20 {
        world.alice_calls_bob();
        let now = world.now;
        world.a.top_up_media_ports(now);
        world.b.top_up_media_ports(now);
    }
    let live = |w: &World| {
        w.a.phone
            .calls()
            .iter()
            .filter(|c| c.state != CallState::Ended)
            .count()
    };
    assert_eq!(live(&world), 20);
    assert_eq!(world.a.phone.tones(), (None, None), "talking: quiet");
    world
        .b
        .phone
        .command(
            world.now,
            Command::Dial {
                to: "sip:alice@127.0.0.1".to_owned(),
                account: None,
            },
        )
        .expect("dial");
    world.run_while(Duration::from_secs(5), |w| {
        w.a.phone
            .calls()
            .iter()
            .any(|c| c.state == CallState::Ringing)
    });
    world.run_while(Duration::from_millis(60), |w| {
        w.a.phone.tones() == (None, Some(Tone::Ring))
    });
    let ringing = world
        .a
        .phone
        .calls()
        .into_iter()
        .find(|c| c.state == CallState::Ringing)
        .expect("ringing")
        .id;
    world
        .a
        .phone
        .command(
            world.now,
            Command::Reject {
                call: ringing,
                status: None,
            },
        )
        .expect("reject");
    world.run_while(Duration::from_millis(60), |w| {
        w.a.phone.tones() == (None, None)
    });
    assert_eq!(live(&world), 20);
}

#[test]
fn tones_follow_the_calls_ringtone_ringback_busy_then_quiet() {
    use media::Tone;
    let mut world = World::registered(11, 0.0, Duration::ZERO);
    assert_eq!(world.a.phone.tones(), (None, None));
    // Bob calls Alice, who does not answer by herself: she rings, he hears ringback.
    let dial = |world: &mut World| {
        world
            .b
            .phone
            .command(
                world.now,
                Command::Dial {
                    to: "sip:alice@127.0.0.1".to_owned(),
                    account: None,
                },
            )
            .expect("dial")
            .id
    };
    let bobs = dial(&mut world);
    world.run_while(Duration::from_secs(5), |w| {
        w.b.phone.tones() == (Some(Tone::Ringback), None)
    });
    assert_eq!(world.a.phone.tones(), (None, Some(Tone::Ring)));
    let alices = world.a.phone.calls()[0].id;
    world
        .a
        .phone
        .command(
            world.now,
            Command::Reject {
                call: alices,
                status: None,
            },
        )
        .expect("reject");
    assert_eq!(world.a.phone.tones(), (None, None), "no ring once refused");
    world.run_while(Duration::from_secs(5), |w| {
        w.b.phone.call(bobs).map(|c| c.state) == Some(CallState::Ended)
    });
    assert_eq!(world.b.phone.tones(), (Some(Tone::Busy), None), "486: busy");
    let status = world.b.phone.status(Vec::new());
    assert_eq!(status.audio.tone.as_deref(), Some("busy"));
    world.run_until(world.now + Duration::from_millis(3100));
    assert_eq!(world.b.phone.tones(), (None, None), "busy stops after 3 s");
    // Answered: ringback stops, nothing plays over the conversation.
    let bobs = dial(&mut world);
    world.run_while(Duration::from_secs(5), |w| w.a.phone.tones().1.is_some());
    let alices = world
        .a
        .phone
        .calls()
        .into_iter()
        .find(|c| c.state == CallState::Ringing)
        .expect("ringing")
        .id;
    world
        .a
        .phone
        .command(world.now, Command::Answer { call: alices })
        .expect("answer");
    world.run_while(Duration::from_secs(5), |w| {
        w.b.phone.call(bobs).map(|c| c.state) == Some(CallState::Connected)
    });
    assert_eq!(world.a.phone.tones(), (None, None));
    assert_eq!(world.b.phone.tones(), (None, None));
}
