//! Two phones register at a scripted registrar that challenges, call each other and talk for
//! five seconds over a simulated network with 10% loss and 30 ms jitter, then hang up — all in
//! virtual time.

// Tests take one real instant as the epoch of their virtual time (and the scenario measures
// its own wall time); the code under test never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::harness::{Ask, World, rms};
use api::{CallState, Command};

#[test]
fn two_phones_register_call_and_talk_over_a_lossy_jittery_network() {
    let wall = Instant::now();
    let mut world = World::registered(2026, 0.10, Duration::from_millis(30));

    // Alice calls Bob's address-of-record; the registrar routes to the contact Bob registered.
    let target = "sip:bob@127.0.0.1".to_owned();
    let call = world
        .a
        .phone
        .command(
            world.now,
            Command::Dial {
                to: target,
                account: Some("alice".to_owned()),
            },
        )
        .expect("dial");
    let give_up = world.now + Duration::from_secs(10);
    while world.a.phone.call(call.id).map(|c| c.state) != Some(CallState::Connected) {
        assert!(
            world.now < give_up,
            "not connected: {:?}",
            world.a.phone.call(call.id)
        );
        world.run_until(world.now + Duration::from_millis(10));
    }

    let talk_from = world.now;
    world.run_until(talk_from + Duration::from_secs(5));
    world
        .a
        .phone
        .command(world.now, Command::Hangup { call: call.id })
        .expect("hang up");
    world.run_until(world.now + Duration::from_secs(40));

    let a_view = world.a.phone.call(call.id).expect("a's call");
    let b_view = world.b.phone.calls().pop().expect("b's call");
    assert_eq!(a_view.state, CallState::Ended);
    assert_eq!(b_view.state, CallState::Ended);
    assert_eq!(b_view.end_reason.as_deref(), Some("remote party hung up"));
    // 5 s of 20 ms frames is 250 packets each way, about 10% lost. Bob's side starts when he
    // answers and stops when the BYE reaches him, so lost signalling can stretch it.
    for view in [&a_view, &b_view] {
        let s = view.stats;
        assert!((245..=500).contains(&s.packets_sent), "{s:?}");
        assert!(s.packets_received >= 200, "{s:?}");
        assert!(s.concealed >= 5, "losses were concealed: {s:?}");
        println!("scenario: {:?} {s:?}", view.direction);
    }
    for host in [&world.a, &world.b] {
        let heard = host.heard.lock().expect("lock");
        assert!(
            rms(&heard) > 2000.0,
            "the tone got through: rms {}",
            rms(&heard)
        );
    }
    assert_eq!(
        world.a.phone.active_calls() + world.b.phone.active_calls(),
        0
    );
    assert!(
        wall.elapsed() < Duration::from_secs(1),
        "took {:?} of wall time",
        wall.elapsed()
    );
    println!(
        "scenario: {} datagrams, {} lost, wall time {:?}",
        world.net.sent,
        world.net.lost,
        wall.elapsed()
    );
}
