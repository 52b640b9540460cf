//! Encrypted calls between two phones in virtual time: DTLS-SRTP keyed over a lossy, jittery
//! network (the handshake retransmits through the loss), and a handshake that cannot happen
//! ending the call with its reason rather than leaving it silent.

#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use crate::harness::{Ask, World, bobs_call};
use api::CallState;

/// Both phones demand encrypted media keyed by DTLS, each with its own certificate: in
/// their `[media]` settings, or (`by_account`) in their accounts, with `[media]` off.
fn demand_dtls(world: &mut World, by_account: bool) {
    let now = world.now;
    for (host, user) in [(&mut world.a, "alice"), (&mut world.b, "bob")] {
        let mut media = engine::MediaSettings {
            codecs: vec![media::Codec::Pcmu],
            dtls_identity: Some(media::DtlsIdentity::generate().expect("certificate")),
            ..engine::MediaSettings::default()
        };
        let mut account = crate::harness::account(user, &format!("{user}-secret"));
        if by_account {
            "mandatory".clone_into(&mut account.media_encryption);
            "dtls".clone_into(&mut account.media_keying);
        } else {
            media.encryption = media::Encryption::Mandatory;
            media.keying = media::Keying::Dtls;
        }
        host.phone.reconfigure(
            now,
            vec![account],
            media,
            engine::CallbackSettings::default(),
        );
    }
    world.run_until(now + Duration::from_secs(5));
}

/// Runs until Alice's `call` and Bob's are both keyed by DTLS (fails after 10 s).
fn until_both_keyed_by_dtls(world: &mut World, call: api::CallId) {
    world.run_while(Duration::from_secs(10), |w| {
        let a = w.a.phone.call(call).and_then(|c| c.encryption);
        let b = bobs_call(&w.b).and_then(|c| c.encryption);
        [a, b]
            .iter()
            .all(|e| e.as_deref().is_some_and(|e| e.starts_with("dtls-srtp AES")))
    });
}

#[test]
fn a_dtls_keyed_call_carries_audio_both_ways_through_loss() {
    let mut world = World::registered(77, 0.05, Duration::from_millis(20));
    demand_dtls(&mut world, false);
    let call = world.alice_calls_bob();
    until_both_keyed_by_dtls(&mut world, call);
    let a = world.a.phone.call(call).expect("alice's call");
    assert_eq!(
        a.encryption.as_deref(),
        Some("dtls-srtp AES_CM_128_HMAC_SHA1_80"),
        "the first profile both offer"
    );
    let (alice, bob) = world.heard_over(Duration::from_secs(3));
    for (who, level) in [("alice", alice), ("bob", bob)] {
        assert!(level > 1000.0, "{who} heard the other's tone: {level}");
    }
    let a = world.a.phone.call(call).expect("alice's call");
    assert_eq!(a.state, CallState::Connected);
    assert_eq!(a.stats.srtp_auth_failures, 0);
}

#[test]
fn an_accounts_own_policy_encrypts_its_calls_where_the_phones_would_not() {
    let mut world = World::registered(79, 0.0, Duration::ZERO);
    demand_dtls(&mut world, true);
    let call = world.alice_dials_bob();
    until_both_keyed_by_dtls(&mut world, call);
    // Alice's account without a policy of its own: the phone's (off) holds, and Bob's
    // account, which demands SRTP, refuses her plain offer.
    let now = world.now;
    world.a.phone.reconfigure(
        now,
        vec![crate::harness::account("alice", "alice-secret")],
        engine::MediaSettings {
            codecs: vec![media::Codec::Pcmu],
            ..engine::MediaSettings::default()
        },
        engine::CallbackSettings::default(),
    );
    world.run_until(now + Duration::from_secs(5));
    let direct = world.alice_dials_bob();
    world.run_while(Duration::from_secs(10), |w| {
        w.a.phone.call(direct).map(|c| c.state) == Some(CallState::Ended)
    });
    let ended = world.a.phone.call(direct).expect("the direct call");
    let reason = ended.end_reason.unwrap_or_default();
    assert!(
        reason.contains("488"),
        "bob's account demands SRTP: {reason}"
    );
}

#[test]
fn a_dtls_handshake_that_cannot_happen_ends_the_call_with_the_reason() {
    let mut world = World::registered(78, 0.0, Duration::ZERO);
    demand_dtls(&mut world, false);
    // Every DTLS record is lost; SIP and everything else get through.
    world.net.loss = 1.0;
    world.net.lossy = media::is_dtls;
    let call = world.alice_calls_bob();
    let connected_at = world.now;
    world.run_while(Duration::from_secs(15), |w| {
        w.a.phone.call(call).map(|c| c.state) == Some(CallState::Ended)
    });
    let took = world.now - connected_at;
    assert!(
        took <= media::HANDSHAKE_DEADLINE + Duration::from_secs(1),
        "{took:?}"
    );
    // Bob's deadline runs from his answer, so he gives up first: he ends the call saying why,
    // and Alice hears his BYE. Neither sent anything in the clear.
    world.run_while(Duration::from_secs(5), |w| {
        bobs_call(&w.b).map(|c| c.state) == Some(CallState::Ended)
    });
    let a = world.a.phone.call(call).expect("alice's call");
    let b = bobs_call(&world.b).expect("bob's call");
    let reasons = [a.end_reason.clone(), b.end_reason.clone()];
    assert!(
        reasons
            .iter()
            .flatten()
            .any(|r| r.starts_with("media encryption failed: no DTLS handshake")),
        "{reasons:?}"
    );
    assert_eq!(
        a.stats.packets_sent + b.stats.packets_sent,
        0,
        "nothing in the clear"
    );
}
