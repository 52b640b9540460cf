//! ICE between two phones in virtual time: host candidates in both descriptions, the pair
//! named in both call views, audio over it; and consent (RFC 7675): when the peer stops
//! answering the checks — though its RTP still arrives — the call ends saying so.

#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::harness::{Ask, Host, World, bobs_call};
use api::{CallState, CallView};

/// Both phones run ICE (host candidates only: no STUN or TURN server on this network).
fn use_ice(world: &mut World) {
    let now = world.now;
    for (host, user) in [(&mut world.a, "alice"), (&mut world.b, "bob")] {
        host.phone.reconfigure(
            now,
            vec![crate::harness::account(user, &format!("{user}-secret"))],
            engine::MediaSettings {
                codecs: vec![media::Codec::Pcmu],
                ice: Some(media::IceServers::default()),
                ..engine::MediaSettings::default()
            },
            engine::CallbackSettings::default(),
        );
    }
    world.run_until(now + Duration::from_secs(5));
}

fn pair(view: Option<CallView>) -> String {
    view.and_then(|c| c.ice).unwrap_or_default()
}

/// Alice calls Bob, both running ICE, on a network with 5 ms of jitter (`seed` for it); once
/// both have a pair.
fn ice_call(seed: u64) -> (World, api::CallId) {
    let mut world = World::registered(seed, 0.0, Duration::from_millis(5));
    use_ice(&mut world);
    let call = world.alice_calls_bob();
    world.run_while(Duration::from_secs(5), |w| {
        pair(w.a.phone.call(call)).contains("->") && pair(bobs_call(&w.b)).contains("->")
    });
    (world, call)
}

#[test]
fn two_phones_agree_a_host_pair_and_talk_over_it() {
    let (mut world, call) = ice_call(91);
    let alice = pair(world.a.phone.call(call));
    let bob = pair(bobs_call(&world.b));
    assert!(
        alice.starts_with("host ") && alice.contains("-> host "),
        "{alice}"
    );
    assert!(
        bob.starts_with("host ") && bob.contains("-> host "),
        "{bob}"
    );
    let (alice, bob) = world.heard_over(Duration::from_secs(3));
    for (who, level) in [("alice", alice), ("bob", bob)] {
        assert!(level > 1000.0, "{who} heard: {level}");
    }
}

#[test]
fn a_peer_that_stops_answering_consent_checks_ends_the_call_after_thirty_seconds() {
    let mut world = World::registered(92, 0.0, Duration::ZERO);
    use_ice(&mut world);
    let call = world.alice_calls_bob();
    world.run_while(Duration::from_secs(5), |w| {
        pair(w.a.phone.call(call)).contains("->")
    });
    // From now on every STUN message is lost; RTP and SIP still get through.
    world.net.loss = 1.0;
    world.net.lossy = media::is_stun;
    let cut = world.now;
    world.run_while(Duration::from_secs(40), |w| {
        w.a.phone.call(call).map(|c| c.state) == Some(CallState::Ended)
            || bobs_call(&w.b).map(|c| c.state) == Some(CallState::Ended)
    });
    let took = world.now - cut;
    world.run_until(world.now + Duration::from_secs(1));
    // Both lost consent at once; whichever noticed first hung up saying why, the other heard
    // its BYE (over SIP, which still gets through).
    let reasons: Vec<String> = [world.a.phone.call(call), bobs_call(&world.b)]
        .into_iter()
        .map(|c| {
            let c = c.expect("the call");
            assert_eq!(c.state, CallState::Ended, "{c:?}");
            c.end_reason.unwrap_or_default()
        })
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("consent expired")),
        "{reasons:?}"
    );
    assert!(
        took >= media::CONSENT_TIMEOUT && took <= media::CONSENT_TIMEOUT + Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn hold_and_resume_keep_the_ice_session_and_its_pair() {
    let (mut world, call) = ice_call(93);
    let (alice, bob) = (pair(world.a.phone.call(call)), pair(bobs_call(&world.b)));
    for command in [api::Command::Hold { call }, api::Command::Resume { call }] {
        world
            .a
            .phone
            .command(world.now, command)
            .expect("hold/resume");
        world.run_until(world.now + Duration::from_secs(2));
    }
    // The re-offers carried the same credentials: no restart, the same pair each side.
    assert_eq!(pair(world.a.phone.call(call)), alice);
    assert_eq!(pair(bobs_call(&world.b)), bob);
    assert_eq!(
        world.a.phone.call(call).map(|c| c.state),
        Some(CallState::Connected)
    );
    let (_, bob) = world.heard_over(Duration::from_secs(2));
    assert!(bob > 1000.0, "bob hears alice again: {bob}");
}

/// The `a=ice-ufrag` of each INVITE (and re-INVITE) `host` sent, and of each 200 answering
/// one, in order.
fn ufrags(host: &Host, first_line: &str) -> Vec<String> {
    host.sent
        .iter()
        .filter(|m| m.starts_with(first_line) && m.contains("CSeq: ") && m.contains(" INVITE\r\n"))
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_network_change_restarts_ice_with_new_credentials_and_the_call_goes_on() {
    let (mut world, call) = ice_call(94);
    let now = world.now;
    world.a.phone.handle_input(engine::Input::NetworkChanged {
        now,
        media_ip: None,
    });
    world.run_until(now + Duration::from_secs(3));
    // Alice re-offered with new credentials; Bob's answer restarted his side too.
    let offered = ufrags(&world.a, "INVITE ");
    let answered = ufrags(&world.b, "SIP/2.0 200");
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert_ne!(offered[0], offered[1]);
    assert_eq!(answered.len(), 2, "{answered:?}");
    assert_ne!(answered[0], answered[1]);
    assert!(pair(world.a.phone.call(call)).contains("->"));
    assert!(pair(bobs_call(&world.b)).contains("->"));
    assert_eq!(
        world.a.phone.call(call).map(|c| c.state),
        Some(CallState::Connected)
    );
    let (_, bob) = world.heard_over(Duration::from_secs(2));
    assert!(bob > 1000.0, "bob hears alice: {bob}");
}

/// Alice's host loses the address her media sockets were bound to (a laptop that left one
/// network for another): datagrams to her old sockets go nowhere from now on, and the driver
/// says where the media moves to, then binds the sockets the phone asks for there.
fn alice_loses_her_media_address(world: &mut World, to: std::net::IpAddr) {
    let now = world.now;
    world.a.media = vec![std::net::SocketAddr::new(to, 41000)];
    world.a.phone.handle_input(engine::Input::NetworkChanged {
        now,
        media_ip: Some(to),
    });
    assert!(
        world.a.phone.media_ports_wanted() > 0,
        "the moving call asks for a socket"
    );
    world.a.top_up_media_ports(now);
}

/// The `c=` lines of each INVITE `host` sent, in order.
fn offered_addresses(host: &Host) -> Vec<String> {
    host.sent
        .iter()
        .filter(|m| m.starts_with("INVITE "))
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("c=IN IP4 "))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn a_plain_call_whose_media_address_leaves_the_host_re_offers_the_new_one_and_goes_on() {
    let mut world = World::registered(95, 0.0, Duration::from_millis(5));
    let call = world.alice_calls_bob();
    let (_, bob) = world.heard_over(Duration::from_secs(1));
    assert!(bob > 1000.0, "bob hears alice: {bob}");
    let moved: std::net::IpAddr = "127.0.0.9".parse().expect("ip");
    alice_loses_her_media_address(&mut world, moved);
    world.run_until(world.now + Duration::from_secs(1));
    let offered = offered_addresses(&world.a);
    assert_eq!(offered.len(), 2, "{offered:?}");
    assert_ne!(offered[0], "127.0.0.9");
    assert_eq!(
        offered[1], "127.0.0.9",
        "the re-INVITE offers the new address"
    );
    assert_eq!(
        world.a.phone.call(call).map(|c| c.state),
        Some(CallState::Connected)
    );
    let (alice, bob) = world.heard_over(Duration::from_secs(2));
    assert!(
        alice > 1000.0,
        "alice hears bob at her new address: {alice}"
    );
    assert!(bob > 1000.0, "bob hears alice from her new address: {bob}");
}

#[test]
fn an_ice_call_whose_media_address_leaves_the_host_restarts_ice_on_a_new_socket() {
    let (mut world, call) = ice_call(96);
    let moved: std::net::IpAddr = "127.0.0.9".parse().expect("ip");
    alice_loses_her_media_address(&mut world, moved);
    world.run_until(world.now + Duration::from_secs(3));
    let offered = ufrags(&world.a, "INVITE ");
    assert_eq!(offered.len(), 2, "an ICE restart was offered: {offered:?}");
    assert_ne!(offered[0], offered[1]);
    let alice = pair(world.a.phone.call(call));
    assert!(
        alice.starts_with("host 127.0.0.9:"),
        "alice's pair runs from her new socket: {alice}"
    );
    assert!(pair(bobs_call(&world.b)).contains("-> host 127.0.0.9:"));
    assert_eq!(
        world.a.phone.call(call).map(|c| c.state),
        Some(CallState::Connected)
    );
    let (alice, bob) = world.heard_over(Duration::from_secs(2));
    assert!(alice > 1000.0, "alice hears bob: {alice}");
    assert!(bob > 1000.0, "bob hears alice: {bob}");
}

#[test]
fn a_socket_on_the_address_that_left_is_never_lent_to_a_later_call() {
    let mut world = World::registered(97, 0.0, Duration::from_millis(5));
    // Alice's call is still dialing, on a socket of her old address, when the address goes.
    let first = world.alice_dials_bob();
    let moved: std::net::IpAddr = "127.0.0.9".parse().expect("ip");
    alice_loses_her_media_address(&mut world, moved);
    world.run_while(Duration::from_secs(5), |w| {
        w.a.phone.call(first).map(|c| c.state) == Some(CallState::Connected)
    });
    world
        .a
        .phone
        .command(world.now, api::Command::Hangup { call: first })
        .expect("hang up");
    world.run_until(world.now + Duration::from_secs(1));
    // Its socket is not given back: the next call is offered on the new address.
    world.alice_calls_bob();
    let offered = offered_addresses(&world.a);
    assert_eq!(
        offered.last().map(String::as_str),
        Some("127.0.0.9"),
        "{offered:?}"
    );
}
